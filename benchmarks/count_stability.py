"""Count stability (strip test): how many `ok` counts it turns to `check`, right and wrong.

    python benchmarks/count_stability.py [MODEL] [--sets ...] [--n 32] [--crops 3] [--calibration SPEC]

For every image of the internal sets (:mod:`hca_disc_label.evaluation.internal_sets`: synthetic
junction sets and crops of the held-out real gradient-echo scans) the model decodes the image,
its numbering is assessed with the model's calibration (or ``--calibration``'s), and every `ok`
count goes through the strip test of :mod:`hca_disc_label.inference.stability` (20 mm cut off
the end away from its anchor; a value that changes makes it `check`). Printed per set: images,
`ok` before and after the test, wrong `ok` images before and after, and right `ok` images the
test flags (its false alarms). An image is wrong when one of its discs carries another value
(:func:`junction_identity.score_case`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from junction_identity import _default_train_data, score_case  # noqa: E402

from hca_disc_label.evaluation.internal_sets import SET_NAMES, internal_sets  # noqa: E402
from hca_disc_label.preprocessing import pad_to_multiple  # noqa: E402


def run_case(labeller, image: np.ndarray, discs: dict) -> dict | None:
    """``{wrong, ok, flagged}`` of one internal image (None when nothing is decoded)."""
    from hca_disc_label.inference.numbering import assess_numbering

    c = labeller.contract
    padded = pad_to_multiple(image.astype(np.float32), c.size_multiple)
    shape = tuple(int(v) for v in image.shape[-2:])
    decoding = labeller._decode_details(labeller.engine.predict(padded), shape, [])
    if not decoding.discs:
        return None
    numbering = assess_numbering(decoding, labeller.calibration)
    pred = {d.value: (d.row, d.col) for d in decoding.discs}
    wrong = bool(score_case(discs, pred, c.pixel_spacing_mm)["offsets"])
    flagged = False
    if numbering.status == "ok":
        flagged = any(t.changed for t in labeller.strip_tests(padded, shape, decoding.discs))
    return {"wrong": wrong, "ok": numbering.status == "ok", "flagged": flagged}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="hca-compact")
    ap.add_argument("--sets", nargs="+", default=list(SET_NAMES), choices=list(SET_NAMES))
    ap.add_argument("--n", type=int, default=None, help="images per synthetic set (default 32)")
    ap.add_argument("--crops", type=int, default=3, help="crops per held-out real image")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--train-data", type=Path, default=None)
    ap.add_argument("--calibration", default=None, metavar="SPEC")
    args = ap.parse_args(argv)
    from hca_disc_label import Labeller

    labeller = Labeller(args.model, "t2", "auto", "cpu")  # ONNX when the folder has it, else torch
    if args.calibration:
        labeller.use_calibration_of(args.calibration)
    c = labeller.contract
    start = time.perf_counter()
    rows: dict[str, list[dict]] = {}
    for case in internal_sets(args.sets, n=args.n, seed=args.seed, spacing_mm=c.pixel_spacing_mm,
                              train_data=args.train_data or _default_train_data(args.shared),
                              crops_per_image=args.crops, channel_offsets_mm=c.channel_offsets_mm):
        name, _, image, discs = case
        row = run_case(labeller, image, discs)
        if row is not None:
            rows.setdefault(name, []).append(row)
    print(f"count stability ({labeller.model.name} {labeller.model.version}), {time.perf_counter() - start:.0f} s")
    print("| set | images | ok | ok after the strip test | wrong ok | wrong ok after | right ok flagged |")
    print("|---|---|---|---|---|---|---|")
    for name, rs in list(rows.items()) + [("all", [r for v in rows.values() for r in v])]:
        ok = [r for r in rs if r["ok"]]
        print(f"| {name} | {len(rs)} | {len(ok)} | {sum(not r['flagged'] for r in ok)} | "
              f"{sum(r['wrong'] for r in ok)} | {sum(r['wrong'] and not r['flagged'] for r in ok)} | "
              f"{sum(r['flagged'] and not r['wrong'] for r in ok)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
