#!/usr/bin/env python
"""Crop consistency on real images: a disc found whole and in a random cut must keep its value.

    python benchmarks/crop_consistency.py [MODEL] [--data DIR ...] [--crops 5] [--seed 0]
        [--subjects GLOB[,GLOB...]] [--limit N] [--json OUT] [--calibration SPEC]

No labels needed. Each T1w/T2w image of each ``--data`` BIDS dataset (default
``../shared/data/bids-train``; add ``../shared/data/bids`` to REPORT it, never to choose) is
labelled whole, then ``--crops`` random windows along its superior axis keeping 40-80 % of its
height (:func:`hca_disc_label.evaluation.real_crops.random_cuts`, seeded by ``--seed`` and the
image's index). Discs found in both labellings (mutual nearest within 5 mm) are compared; a crop
*changes* when one of them has another value. Reported by group (subject-name prefix and
dataset): the share of crops that change, the images with at least one, and how many changed
crops are ``check`` (the bar: all of them). A cut in which no disc is found counts as a crop
that changes nothing (status ``none``).

A cut is *anchored* when it keeps an end of the count as the whole image's labelling places it:
its L5/S1 at least ``ANCHOR_ROOM_MM`` above the cut's lower edge (the top of S1 in view), or its
C2/C3 at least that far below the upper edge (the C2 body in view). The last column gives the
crops that change among the anchored ones: a cut that keeps the sacrum or C2 has no reason to
change its count, while a cut with neither end in view is counted from its field of view.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hca_disc_label.conventions import LANDMARK_DISC  # noqa: E402
from hca_disc_label.errors import NoDiscFoundError  # noqa: E402
from hca_disc_label.evaluation.real_crops import compare_counts, random_cuts, save_cut  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bids-train"
ANCHOR_ROOM_MM = 15.0
"""An end disc this far inside the cut keeps the body beyond it in view (about half of S1 or C2)."""
ENDS = dict(LANDMARK_DISC.values())
"""End discs of the count (C2/C3, L5/S1) and the side of their landmark (C2 above: +1, the sacrum
below: -1), on which the cut must keep room."""


def group_of(dataset: Path, subject: str) -> str:
    """``bids-train:zuk`` style group name: dataset folder + subject prefix without digits."""
    return f"{dataset.name}:{re.sub(r'[0-9]+$', '', subject.removeprefix('sub-'))}"


def anchored(whole: list[tuple[int, np.ndarray]], top_mm: float | None, bottom_mm: float | None) -> bool:
    """Whether a cut keeps L5/S1 with room below it or C2/C3 with room above it (world
    superior coordinates in mm; ``None`` = the image's own edge, always room)."""
    top = np.inf if top_mm is None else top_mm
    bottom = -np.inf if bottom_mm is None else bottom_mm
    for value, mm in whole:
        height = float(mm[2])
        if value in ENDS and bottom <= height <= top:
            room = height - bottom if ENDS[value] == -1 else top - height
            if room >= ANCHOR_ROOM_MM:
                return True
    return False


def run_image(labeller, path: Path, n: int, seed: int, index: int, scratch: Path) -> list[dict]:
    """The whole image and its ``n`` random cuts compared (one record per cut)."""
    import nibabel as nib

    img = nib.load(str(path))
    whole = [(d.value, np.asarray(d.mm, float)) for d in labeller.label(path).discs]
    rows = []
    for cut in random_cuts(img, n, np.random.default_rng([seed, index])):
        anchor = anchored(whole, cut.top_mm, cut.bottom_mm)
        try:
            labelling = labeller.label(save_cut(img, cut, scratch))
        except NoDiscFoundError:  # a cut with no disc clear enough: nothing to compare
            rows.append({"image": path.name, "cut": cut.name, "matched": 0, "changed": 0, "status": "none",
                         "anchored": anchor})
            continue
        found = [(d.value, np.asarray(d.mm, float)) for d in labelling.discs]
        matched, changed = compare_counts(whole, found)
        status = labelling.numbering.status if labelling.numbering is not None else "ok"
        rows.append({"image": path.name, "cut": cut.name, "matched": matched, "changed": changed, "status": status,
                     "anchored": anchor})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default="hca-compact")
    ap.add_argument("--data", type=Path, action="append", default=None)
    ap.add_argument("--crops", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--subjects", default="sub-*", help="subject glob(s), comma-separated")
    ap.add_argument("--limit", type=int, default=0, help="at most N images per dataset (0 = all)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--calibration", default=None, metavar="SPEC",
                    help="judge the count with this model's numbering calibration (a fold model has none of "
                         "its own: use the shipped model's, fitted with its out-of-fold images)")
    args = ap.parse_args(argv)
    from hca_disc_label import Labeller
    from hca_disc_label.naming import bids_images

    labeller = Labeller(args.model, "t2", "auto", "cpu")  # ONNX when the folder has it, else torch
    if args.calibration:
        labeller.use_calibration_of(args.calibration)
    records: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for dataset in args.data or [DEFAULT_DATA]:
            globs = args.subjects.split(",")
            images = [p for p in sorted(bids_images(dataset), key=lambda p: p.as_posix())
                      if any(Path(p.relative_to(dataset).parts[0]).match(g) for g in globs)]
            for index, path in enumerate(images[: args.limit or None]):
                subject = path.relative_to(dataset).parts[0]
                for row in run_image(labeller, path, args.crops, args.seed, index, Path(scratch)):
                    records.append({**row, "group": group_of(dataset, subject), "subject": subject})
    print(f"crop consistency ({labeller.folder.name} {labeller.folder.version}): {len(records)} crops in "
          f"{time.perf_counter() - start:.0f} s")
    print("| group | images | crops | crops that change a value | images with one | changed & check "
          "| anchored crops: changed |")
    print("|---|---|---|---|---|---|---|")
    for group in sorted({r["group"] for r in records}) + ["all"]:
        rows = [r for r in records if group in ("all", r["group"])]
        changed = [r for r in rows if r["changed"]]
        images = {r["subject"] + r["image"] for r in rows}
        bad = {r["subject"] + r["image"] for r in changed}
        held = [r for r in rows if r["anchored"]]
        print(f"| {group} | {len(images)} | {len(rows)} | {len(changed)} ({100.0 * len(changed) / max(len(rows), 1):.1f} %) | "
              f"{len(bad)} | {sum(r['status'] == 'check' for r in changed)}/{len(changed)} | "
              f"{sum(1 for r in held if r['changed'])}/{len(held)} |")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
