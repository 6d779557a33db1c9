"""Lateral placement: how far each labelled disc lies from its true position, per search width
and block height of its own level's left-right plane (:func:`hca_disc_label.midsagittal.local_midsagittal_x`).

    python benchmarks/lateral_placement.py [MODEL] [--search 8,12,16] [--height 15] [--synthetic 60] [--seed 7]

Real: every ``bids-train`` image with disc labels, labelled by MODEL; each disc of a labelled
value is put on the plane found with each search width and its 3D distance (world mm) to the
manual label is reported (``--height``: half height of the compared block along S-I, mm).
Synthetic: ``--synthetic`` seeded volumes of the engine
(:func:`hca_disc_label.synth.volume.generate_volume`; a quarter have a coronal curve), the
left-right distance (mm) of each disc found within 7 mm of its tip in the sagittal plane to
that tip, split into straight and curved (curve of 3 mm or more) spines. The network and the
decoder run once per image: only the lateral search changes between the rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "data" / "bids-train"
CURVED_MM = 3.0
"""A synthetic spine counts as curved from this lateral shift of its curve's apex (mm)."""
SAGITTAL_MATCH_MM = 7.0


Search = tuple[float, float]
"""``(search width, block half height)`` of the local plane, mm."""


def _plane_xs(labelling, searches: list[Search]) -> dict[Search, np.ndarray]:
    """Canonical x of each disc of ``labelling`` on its own plane, per ``(search, half height)`` (mm)."""
    from hca_disc_label.midsagittal import local_midsagittal_x

    im = labelling.image
    can = np.array([d.canonical for d in labelling.discs], float)
    return {(s, h): np.array([local_midsagittal_x(im.data, im.zooms, labelling.slice_index, c[1], c[2],
                                                  search_mm=s, half_height_mm=h) for c in can], float)
            for s, h in searches}


def real_errors(labeller, data: Path, searches: list[Search], limit: int = 0) -> dict[Search, list[float]]:
    """3D distance (mm) of each labelled disc to its manual label, per search width."""
    from hca_disc_label.labelfile import read_disc_labels
    from hca_disc_label.training.data import find_bids_pairs

    errors: dict[Search, list[float]] = {s: [] for s in searches}
    for _, img, lab in find_bids_pairs(data)[: limit or None]:
        gt = {p.value: np.asarray(p.mm, float) for p in read_disc_labels(lab)}
        labelling = labeller.label(img)
        im = labelling.image
        for s, xs in _plane_xs(labelling, searches).items():
            for disc, x in zip(labelling.discs, xs):
                if disc.value in gt:
                    point = np.array([x, disc.canonical[1], disc.canonical[2]])
                    world = im.file_to_world(im.canonical_to_file(point[None])[0])
                    errors[s].append(float(np.linalg.norm(np.asarray(world) - gt[disc.value])))
    return errors


def synthetic_errors(labeller, n: int, seed: int, searches: list[Search]) -> dict[str, dict[Search, list[float]]]:
    """Left-right distance (mm) of each disc to its tip, per spine kind and search width."""
    from hca_disc_label.errors import HCAError
    from hca_disc_label.synth.volume import generate_volume

    errors: dict[str, dict[Search, list[float]]] = {k: {s: [] for s in searches} for k in ("straight", "curved")}
    rng = np.random.default_rng(seed)
    for _ in range(n):
        vol = generate_volume(rng)
        try:
            labelling = labeller.label(vol.data, affine=vol.affine)
        except HCAError:
            continue
        kind = "curved" if float(vol.meta.get("coronal_curve_mm") or 0.0) >= CURVED_MM else "straight"
        zx, zy, zz = vol.zooms
        for s, xs in _plane_xs(labelling, searches).items():
            for disc, x in zip(labelling.discs, xs):
                tip = vol.discs.get(disc.value)
                if tip is None or np.hypot((tip[1] - disc.canonical[1]) * zy,
                                           (tip[2] - disc.canonical[2]) * zz) > SAGITTAL_MATCH_MM:
                    continue
                errors[kind][s].append(abs(x - tip[0]) * zx)
    return errors


def _row(name: str, search: Search, values: list[float]) -> str:
    v = np.asarray(values, float)
    if not len(v):
        return f"| {name} | {search[0]:g} | {search[1]:g} | 0 | - | - | - | - | - |"
    return (f"| {name} | {search[0]:g} | {search[1]:g} | {len(v)} | {np.median(v):.2f} | {v.mean():.2f} | "
            f"{np.percentile(v, 90):.2f} | {int((v > 4).sum())} | {int((v > 7).sum())} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="hca-compact")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--search", default="8,12,16", help="search widths (mm), comma-separated")
    ap.add_argument("--height", default="15", help="block half heights (mm), comma-separated")
    ap.add_argument("--synthetic", type=int, default=60, help="synthetic volumes (0: none)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--limit", type=int, default=0, help="at most N real images (0 = all)")
    args = ap.parse_args(argv)
    from hca_disc_label import Labeller

    searches = [(float(s), float(h)) for s in args.search.split(",") for h in args.height.split(",")]
    labeller = Labeller(args.model, "t2", "onnx", "cpu")
    start = time.perf_counter()
    groups = {f"real 3D ({args.data.name})": real_errors(labeller, args.data, searches, args.limit)}
    if args.synthetic:
        for kind, errs in synthetic_errors(labeller, args.synthetic, args.seed, searches).items():
            groups[f"synthetic {kind}, left-right"] = errs
    print(f"lateral placement ({labeller.folder.name} {labeller.folder.version}), "
          f"{time.perf_counter() - start:.0f} s; distances in mm")
    print("| discs | search mm | half height mm | n | median | mean | p90 | > 4 mm | > 7 mm |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, errs in groups.items():
        for s in searches:
            print(_row(name, s, errs[s]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
