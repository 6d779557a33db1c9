"""Extend the partial disc labels of a BIDS dataset by one level each way, with a model.

See hca_disc_label/training/extend.py for the rules. The model gives positions only; values
come from anatomy (next level below / above the labelled range).

    python scripts/extend_labels.py ../shared/data/bids-train EXT -model MODEL

(hca-compact 0.3.0 was trained on EXT made with MODEL = the 0.2.0 folder, see its model card.)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from hca_disc_label import Labeller
from hca_disc_label.errors import HCAError
from hca_disc_label.training.extend import Detection, extend_labels


def model_detector(model: str):
    """``image path -> detections`` from one in-memory :class:`Labeller` (values ignored,
    positions kept; no file written)."""
    labeller = Labeller(model, "t2", "onnx", "cpu")  # the model and its engine, once

    def detect(image_path: Path) -> list[Detection]:
        return [(np.asarray(d.mm, dtype=float), d.voxel) for d in labeller.label(image_path).discs]

    return detect


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("dest", type=Path)
    ap.add_argument("-model", default="hca-compact")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        rows = extend_labels(args.source, args.dest, model_detector(args.model))
    except HCAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    n = len({r["subject"] for r in rows})
    for v in sorted({r["value"] for r in rows}):
        print(f"value {v}: added in {sum(r['value'] == v for r in rows)} images")
    print(f"{len(rows)} labels added in {n} subjects; see {args.dest / 'extended_labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
