#!/usr/bin/env python
"""Identity and distance of a model + the decoder on held-out images (model frame).

    python benchmarks/decoder_identity.py [MODEL] [--shared ../shared] [--synthetic 80] [--hints]

Sets (none trained on): ``internal`` = the held-out bids-train subjects of split seed 1 (or of
``--train-data``) plus the 16 synthetic validation images of a training run with
``-split-seed 1`` (also reported apart, as ``internal:real`` / ``internal:synthetic``);
``synthetic`` = further seeded synthetic images; ``bids`` = the validation set (reported, never used to choose).
A disc is right when the decoded disc of its value lies within 10 mm (model-frame pixels of
1 mm). This is how the decoder's weights and the 0.1.0 -> 0.2.0 choice were measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hca_disc_label.inference.backends import create_backend  # noqa: E402
from hca_disc_label.inference.decode import Anchor, AnchorError, decode_heatmaps  # noqa: E402
from hca_disc_label.image import load_image
from hca_disc_label.labelfile import read_disc_labels
from hca_disc_label.preprocessing import normalise, pad_to_multiple, prepare_slab  # noqa: E402
from hca_disc_label.training.data import find_bids_pairs, synthetic_sample  # noqa: E402
from hca_disc_label.evaluation.internal_sets import held_out_cases  # noqa: E402
from hca_disc_label.weights.resolve import resolve_model  # noqa: E402


def _images(shared: Path, n_synthetic: int, train_data: Path | None = None):
    """Yield (set name, image (H, W) in [0, 1] or prepared slab, GT discs in model px)."""
    train_data = train_data or shared / "data" / "bids-train"
    for case in held_out_cases(train_data):
        yield "internal:real", normalise(case.raw), case.discs
    for k in range(16):
        s = synthetic_sample(np.random.default_rng([1, 999_999, k]), 1.0)
        yield "internal:synthetic", s.image, s.discs
    for k in range(n_synthetic):
        s = synthetic_sample(np.random.default_rng([77, k]), 1.0)
        yield "synthetic", s.image, s.discs
    for _, img, lab in find_bids_pairs(shared / "data" / "bids"):
        image = load_image(img)
        slab = prepare_slab(image.data, image.zooms, spacing_mm=1.0, size_multiple=1)
        points = read_disc_labels(lab)
        can = image.file_to_canonical(np.array([p.voxel for p in points], dtype=float))
        rc = slab.geometry.canonical_to_model(can[:, 1:])
        yield "bids", slab.image[: slab.geometry.height, : slab.geometry.width], {
            p.value: (float(r), float(c)) for p, (r, c) in zip(points, rc)}


def _score(s: dict, discs: dict, pred: dict) -> None:
    for v, p in discs.items():
        s["discs"] += 1
        if v in pred and np.hypot(*np.subtract(pred[v], p)) <= 10.0:
            s["right"] += 1
            s["dist"].append(float(np.hypot(*np.subtract(pred[v], p))))
    for v, q in pred.items():
        near = min(discs, key=lambda u: np.hypot(*np.subtract(discs[u], q)), default=None)
        if near is not None and near != v and np.hypot(*np.subtract(discs[near], q)) <= 10.0:
            s["wrong"] += 1


def _score_hinted(stats: dict, name: str, heatmaps, discs: dict, folder, stride: int, shape) -> None:
    """One decoding per ground-truth disc given as the hint; unusable hints are counted apart."""
    key = name.split(":")[0] + "+1 hint"
    s = stats.setdefault(key, {"discs": 0, "right": 0, "wrong": 0, "dist": [], "unusable": 0})
    for v, (row, col) in discs.items():
        try:
            decoded = decode_heatmaps(heatmaps, list(folder.channel_values), stride, 1.0, valid_shape=shape,
                                      anchors=[Anchor(v, row, col)])
        except AnchorError:
            s["unusable"] += 1
            continue
        _score(s, discs, {d.value: (d.row, d.col) for d in decoded})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="hca-compact")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--synthetic", type=int, default=80)
    ap.add_argument("--train-data", type=Path, default=None,
                    help="labelled training dataset whose split-seed-1 held-out subjects form the internal set "
                         "(default SHARED/data/bids-train; e.g. its extension by scripts/extend_labels.py)")
    ap.add_argument("--hints", action="store_true",
                    help="also decode every image once per ground-truth disc given as a numbering hint "
                         "(as -initlabel does) and report the identity of all discs under one hint")
    args = ap.parse_args()
    folder = resolve_model(args.model)
    engine = create_backend(folder, "auto", "cpu")
    contract = folder.input_contract
    stride, multiple = int(contract["output_stride"]), int(contract["size_multiple"])
    stats: dict[str, dict] = {}
    for name, image, discs in _images(args.shared, args.synthetic, args.train_data):
        heatmaps = engine.predict(pad_to_multiple(image.astype(np.float32), multiple))
        pred = {d.value: (d.row, d.col) for d in decode_heatmaps(
            heatmaps, list(folder.channel_values), stride, 1.0, valid_shape=image.shape)}
        for key in dict.fromkeys([name.split(":")[0], name]):
            _score(stats.setdefault(key, {"discs": 0, "right": 0, "wrong": 0, "dist": []}), discs, pred)
        if args.hints:
            _score_hinted(stats, name, heatmaps, discs, folder, stride, image.shape)
    print(f"model {folder.name} {folder.version}")
    for name, s in stats.items():
        print(f"{name:18s} discs {s['discs']:4d}  identity {100 * s['right'] / max(1, s['discs']):5.1f} %  "
              f"median {np.median(s['dist']) if s['dist'] else float('nan'):.2f} mm  wrong values {s['wrong']}"
              + (f"  unusable hints {s['unusable']}" if "unusable" in s else ""))


if __name__ == "__main__":
    main()
