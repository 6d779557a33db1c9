#!/usr/bin/env python
"""Write the S1/S2 points read by eye on the real T2 sacra as training landmark labels.

    python scripts/landmark_labels.py DATASET

For every subject of :data:`hca_disc_label.training.vertebrae.S1S2_BY_EYE` that DATASET holds
(a BIDS training dataset such as the one ``scripts/extend_labels.py`` writes), writes
``derivatives/labels/<sub>/anat/<image>_label-landmarks_dlabel.nii.gz``: one voxel of value 126
(landmark S1/S2) on the image's grid. ``hca_label train`` then trains the S1/S2 channel on that
point instead of leaving it unknown below L5/S1. Existing files are never overwritten (exit 1),
and nothing is written inside ``../shared``: give a copy (the image links may point there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hca_disc_label.atomic import atomic_write  # noqa: E402
from hca_disc_label.errors import HCAError  # noqa: E402
from hca_disc_label.image import load_image, world_to_voxel  # noqa: E402
from hca_disc_label.labelfile import write_label_file  # noqa: E402
from hca_disc_label.naming import bids_images, landmark_label_candidates, manual_labels_root, strip_nifti_ext  # noqa: E402
from hca_disc_label.training.vertebrae import S1S2_BY_EYE  # noqa: E402

S1S2_CODE = 126


def write_landmarks(dataset: Path) -> list[Path]:
    """Write the landmark files (see the module text); returns the files written."""
    shared = (REPO.parent / "shared").resolve()
    labels = manual_labels_root(dataset)
    if labels.resolve().is_relative_to(shared):
        raise HCAError(f"{labels}: inside {shared}; write into a copy of the dataset")
    written = []
    for img_path in bids_images(dataset, suffixes=("T2w",)):
        subject = img_path.relative_to(dataset).parts[0]
        if subject not in S1S2_BY_EYE:
            continue
        rel = img_path.parent.relative_to(dataset)
        out = landmark_label_candidates(labels, rel, strip_nifti_ext(img_path.name))[0]
        if out.exists():
            raise HCAError(f"{out}: exists; not overwritten")
        image = load_image(img_path)
        ijk = np.rint(world_to_voxel(image.file_affine, S1S2_BY_EYE[subject])).astype(int)
        if np.any(ijk < 0) or np.any(ijk >= np.array(image.file_shape)):
            raise HCAError(f"{img_path}: the S1/S2 point of {subject} lies outside the image")
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, lambda tmp: write_label_file(image, [(S1S2_CODE, tuple(ijk))], tmp))
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    args = ap.parse_args(argv)
    try:
        written = write_landmarks(args.dataset)
    except HCAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} landmark files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
