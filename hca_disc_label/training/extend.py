"""Extend partial disc labels of a BIDS dataset by one level above and below.

A dataset labelled L1/L2..L4/L5 (the real lumbar training set) shows the L5/S1 and T12/L1
discs but does not label them, so the network never sees a real L5/S1 labelled above a real
sacrum. For each labelled image, the next level's place is extrapolated from the labelled
discs (their last step, scaled by the typical per-level spacing ratio) and the disc a detector
finds there is labelled with the value anatomy gives it (last labelled value + 1, first - 1).

The detector supplies only *positions*; the value never comes from it, so a model that numbers
a level wrongly cannot teach its own mistake. A detection is accepted only when it is the one
nearest to the extrapolated point, within :data:`TOLERANCE` spacings of it, and clearly apart
from the labelled end disc; otherwise the level stays unlabelled (training then keeps treating
it as an unknown region, see :func:`~hca_disc_label.training.real_targets.known_values_real`).

Where the dataset also holds manual vertebral-body masks (``_label-vertebrae_dseg``) with L4 and
L5, the L5/S1 tip comes from the L5 mask instead (:mod:`.vertebrae`): anatomy, not a detector,
and the only source for the real T2 scans with the sacrum in view, whose detector-found L5/S1 sits
on L5's corner (5-8 mm high) or is missing.

The result is a new BIDS dataset: images are symbolic links to the source, labels are new
files, and ``extended_labels.csv`` lists every added label. The source is never modified.
"""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hca_disc_label.conventions import DISC_NAMES, L5_S1, TYPICAL_LEVEL_SPACING_MM
from hca_disc_label.errors import DataError
from hca_disc_label.image import LoadedImage, load_image
from hca_disc_label.labelfile import label_image_like, read_disc_labels, save_image_atomic
from hca_disc_label.naming import output_name, strip_nifti_ext, vertebrae_mask_candidates
from hca_disc_label.training.data import find_bids_pairs
from hca_disc_label.training.vertebrae import tips_world_mm

log = logging.getLogger(__name__)

TOLERANCE = 0.35
"""Largest distance of an accepted detection from the extrapolated point, in spacings."""
MIN_APART = 0.6
"""Smallest distance of an accepted detection from the labelled end disc, in spacings."""

Detection = tuple[np.ndarray, tuple[int, int, int]]
"""A detected disc: world position (mm, ``(3,)``) and voxel indices in the image file's grid."""


@dataclass(frozen=True)
class AddedLabel:
    """One label added by :func:`extend_labels` (distances in mm)."""

    value: int
    voxel: tuple[int, int, int]
    dist_to_extrapolated_mm: float
    spacing_mm: float
    apart_from_end_mm: float
    source: str = "detector"


def extrapolate_next(mm: dict[int, np.ndarray], below: bool) -> tuple[int, np.ndarray, float] | None:
    """Where the next unlabelled level should be.

    Args:
        mm: labelled value -> world position (mm).
        below: the level below the lowest label (True) or above the highest (False).

    Returns:
        ``(value, expected world position (mm), expected spacing to it (mm))``, or None when
        fewer than two consecutive end labels exist or the level is not a disc value.
    """
    values = sorted(mm)
    if len(values) < 2:
        return None
    if below:
        end, prev, new = values[-1], values[-2], values[-1] + 1
        ratio = TYPICAL_LEVEL_SPACING_MM.get(end, 0.0) / TYPICAL_LEVEL_SPACING_MM[prev]
    else:
        end, prev, new = values[0], values[1], values[0] - 1
        ratio = TYPICAL_LEVEL_SPACING_MM.get(new, 0.0) / TYPICAL_LEVEL_SPACING_MM[end]
    if new not in DISC_NAMES or ratio <= 0 or abs(prev - end) != 1:
        return None
    step = mm[end] - mm[prev]
    return new, mm[end] + step * ratio, float(np.linalg.norm(step) * ratio)


def added_labels(mm: dict[int, np.ndarray], detections: Sequence[Detection]) -> list[AddedLabel]:
    """Labels to add to one image (at most one below and one above its labelled range).

    Args:
        mm: labelled value -> world position (mm).
        detections: detected discs, any values (only positions are used).
    """
    out: list[AddedLabel] = []
    if not detections:
        return out
    for below in (True, False):
        target = extrapolate_next(mm, below)
        if target is None:
            continue
        value, point, spacing = target
        end = max(mm) if below else min(mm)
        dist = [float(np.linalg.norm(p - point)) for p, _ in detections]
        best = int(np.argmin(dist))
        apart = float(np.linalg.norm(detections[best][0] - mm[end]))
        if dist[best] <= TOLERANCE * spacing and apart >= MIN_APART * spacing:
            voxel = tuple(int(v) for v in detections[best][1])
            out.append(AddedLabel(value, voxel, round(dist[best], 2), round(spacing, 2), round(apart, 2)))
    return out


def _l5s1_from_masks(source: Path, image_path: Path, image: LoadedImage, mm: dict[int, np.ndarray],
                     added: list[AddedLabel]) -> list[AddedLabel]:
    """``added`` with L5/S1 replaced by (or set to) the tip derived from the image's L5 mask,
    when the dataset has one and the disc is not labelled already (``image``: that file, loaded)."""
    rel = image_path.parent.relative_to(source)
    masks = [m for m in vertebrae_mask_candidates(source / "derivatives" / "labels", rel,
                                                   strip_nifti_ext(image_path.name)) if m.exists()]
    if not masks or L5_S1 in mm:
        return added
    tip = tips_world_mm(masks[0]).get(L5_S1)
    if tip is None:
        return added
    voxel = tuple(int(v) for v in np.rint(image.world_to_file(tip)))
    end = mm[max(mm)]
    kept = [a for a in added if a.value != L5_S1]
    return kept + [AddedLabel(L5_S1, voxel, 0.0, 0.0, round(float(np.linalg.norm(tip - end)), 2), "L5 mask")]


def extend_labels(source: Path, dest: Path, detect: Callable[[Path], list[Detection]]) -> list[dict]:
    """Write ``dest``: the BIDS dataset ``source`` with labels extended by one level each way.

    Args:
        source: BIDS dataset with disc labels (see :func:`~.data.find_bids_pairs`).
        dest: new folder (must not exist).
        detect: image path -> detected discs (e.g. a model run through ``label_discs``).

    Returns:
        One row per added label (``subject`` plus the :class:`AddedLabel` fields).

    Raises:
        DataError: ``dest`` exists or ``source`` has no labelled image.
    """
    source, dest = Path(source), Path(dest)
    if dest.exists():
        raise DataError(f"{dest}: already exists; choose a new folder")
    pairs = find_bids_pairs(source)
    if not pairs:
        raise DataError(f"{source}: no labelled T1w/T2w image")
    rows: list[dict] = []
    for subject, image_path, label_path in pairs:
        gt = read_disc_labels(label_path)
        mm = {p.value: np.asarray(p.mm, dtype=float) for p in gt}
        image = load_image(image_path)
        # The labels are rewritten on the image's grid (through world mm), as detections are.
        added = _l5s1_from_masks(source, image_path, image, mm, added_labels(mm, detect(image_path)))
        link = dest / image_path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(image_path.resolve())
        out = dest / label_path.relative_to(source).parent / output_name(image_path.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        gt_vox = [tuple(int(v) for v in np.rint(image.world_to_file(mm[p.value]))) for p in gt]
        points = [(p.value, vox) for p, vox in zip(gt, gt_vox)] + [(a.value, a.voxel) for a in added]
        save_image_atomic(label_image_like(image, points), out)
        rows += [{"subject": subject, **asdict(a)} for a in added]
        log.info("%s: added %s", subject, [a.value for a in added])
    desc = source / "dataset_description.json"
    if desc.exists():
        shutil.copy(desc, dest / desc.name)
    with open(dest / "extended_labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["subject", *AddedLabel.__dataclass_fields__])
        writer.writeheader()
        writer.writerows(rows)
    return rows
