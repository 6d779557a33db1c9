"""Real images cut along the spine: the real-sacrum benchmark and the crop-consistency benchmark.

Both judge the *count* on real scans, where the internal synthetic sets cannot see the failure
(a first sacral body with a disc-like S1/S2 remnant read as L5):

* :func:`sacrum_cuts` / :func:`score_image`: the real T2 scans with the sacrum in view
  (``bids-train/sub-zuk*``), whole and with their field of view cut at several heights above
  and below the sacrum, scored against their disc labels plus the L5/S1 tip derived from the
  L5 mask (:mod:`hca_disc_label.training.vertebrae`).
* :func:`random_cuts` / :func:`compare_counts`: any real image, labelled whole and cut at random
  heights; a disc found in both must keep its value (no labels needed).

Cuts keep the file's grid and world coordinates (the affine is shifted by the dropped voxels),
so a disc keeps its world position in every cut. Positions are world mm unless said otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import nibabel as nib
import numpy as np

from hca_disc_label.conventions import L5_S1
from hca_disc_label.inference.stability import compare
from hca_disc_label.labelfile import read_disc_labels
from hca_disc_label.naming import NIFTI
from hca_disc_label.training.vertebrae import tips_world_mm

RIGHT_MM = 7.0
"""A ground-truth disc is right when a label of its value lies within this distance (3D)."""
EDGE_MM = 3.0
"""Ground-truth discs closer than this to a cut are not scored (half of the disc is gone)."""
SAME_DISC_MM = 5.0
"""Two labellings name the same disc when their labels lie within this distance (3D)."""
SACRUM_BOTTOM_CUTS_MM: tuple[float | None, ...] = (-12.0, 8.0, 25.0, 45.0, None)
"""Lower edge of a real-sacrum cut, mm below the L5/S1 tip along the superior axis (negative =
above it: through L5, no sacrum; 8 = through S1's top; 25 = S1 whole, the S1/S2 remnant at the
edge; 45 = into S2; None = the whole field of view)."""
SACRUM_TOP_CUTS: tuple[int | None, ...] = (None, 20)
"""Upper edge of a real-sacrum cut: None = whole, or 15 mm above the disc of this value (T12/L1)."""
TOP_MARGIN_MM = 15.0


def sacrum_ground_truth(data: Path, subject: str) -> tuple[Path, dict[int, np.ndarray]]:
    """``(T2w image, value -> world mm)`` of a real-sacrum subject of a BIDS dataset: its disc
    labels plus the L5/S1 tip derived from its L5 mask (:mod:`hca_disc_label.training.vertebrae`)."""
    image = next((data / subject / "anat").glob(f"{subject}_*T2w.nii*"))
    labels = data / "derivatives" / "labels" / subject / "anat"
    gt = {p.value: np.asarray(p.mm, float) for p in read_disc_labels(next(labels.glob("*_label-discs_dlabel.nii*")))}
    gt[L5_S1] = tips_world_mm(next(labels.glob("*_label-vertebrae_dseg.nii*")))[L5_S1]
    return image, gt


def superior_axis(affine: np.ndarray) -> tuple[int, float]:
    """``(file axis closest to superior, +1 or -1)``: the sign says whether the index grows
    towards superior."""
    axis = int(np.argmax(np.abs(affine[2, :3])))
    return axis, float(np.sign(affine[2, axis]))


def cut_image(img: nib.Nifti1Image, top_mm: float | None, bottom_mm: float | None) -> nib.Nifti1Image:
    """The part of ``img`` between two heights (world superior coordinate, mm), on its own grid.

    Returns:
        A new image whose voxels are a slab of ``img``'s along its superior-most axis, with the
        affine shifted so every kept voxel keeps its world position.
    """
    axis, sign = superior_axis(img.affine)
    n = img.shape[axis]
    idx = np.arange(n)
    height = img.affine[2, axis] * idx + img.affine[2, 3]  # S of each index (other axes at 0)
    height = height + img.affine[2, :3] @ np.array([0 if a == axis else (img.shape[a] - 1) / 2 for a in range(3)])
    keep = np.ones(n, bool)
    if top_mm is not None:
        keep &= height <= top_mm
    if bottom_mm is not None:
        keep &= height >= bottom_mm
    if keep.sum() < 8:
        raise ValueError(f"cut {bottom_mm}..{top_mm} mm keeps fewer than 8 slices")
    lo, hi = int(idx[keep].min()), int(idx[keep].max()) + 1
    sl = [slice(None)] * len(img.shape)
    sl[axis] = slice(lo, hi)
    data = np.asanyarray(img.dataobj)[tuple(sl)]
    affine = img.affine.copy()
    shift = np.zeros(3)
    shift[axis] = lo
    affine[:3, 3] = img.affine[:3, :3] @ shift + img.affine[:3, 3]
    out = nib.Nifti1Image(data, affine, img.header)
    out.set_qform(affine, int(img.header["qform_code"]) or 1)
    out.set_sform(affine, int(img.header["sform_code"]) or 1)
    return out


def heights_in_view(img: nib.Nifti1Image) -> tuple[float, float]:
    """``(lowest, highest)`` superior coordinate (mm) of the image's slices (at its centre)."""
    axis, _ = superior_axis(img.affine)
    centre = np.array([(s - 1) / 2 for s in img.shape[:3]], dtype=float)
    ends = []
    for i in (0, img.shape[axis] - 1):
        centre[axis] = i
        ends.append(float(img.affine[2, :3] @ centre + img.affine[2, 3]))
    return min(ends), max(ends)


@dataclass
class Cut:
    """One field of view of a real image: its name and superior-coordinate limits (mm)."""

    name: str
    top_mm: float | None
    bottom_mm: float | None


def sacrum_cuts(gt_mm: dict[int, np.ndarray]) -> list[Cut]:
    """The real-sacrum benchmark's fields of view of one image (see the module constants)."""
    cuts = []
    tip = gt_mm[25][2]
    for top_value in SACRUM_TOP_CUTS:
        if top_value is not None and top_value not in gt_mm:
            continue
        top = None if top_value is None else float(gt_mm[top_value][2] + TOP_MARGIN_MM)
        for below in SACRUM_BOTTOM_CUTS_MM:
            bottom = None if below is None else float(tip - below)
            name = f"top={'whole' if top is None else f'{top_value}+15mm'},bottom={'whole' if below is None else f'{below:+.0f}mm'}"
            cuts.append(Cut(name, top, bottom))
    return cuts


def random_cuts(img: nib.Nifti1Image, n: int, rng: np.random.Generator,
                keep: tuple[float, float] = (0.4, 0.8)) -> list[Cut]:
    """``n`` random windows along the superior axis keeping ``keep`` of the image's height."""
    low, high = heights_in_view(img)
    span = high - low
    cuts = []
    for k in range(n):
        size = span * rng.uniform(*keep)
        bottom = low + rng.uniform(0.0, span - size)
        cuts.append(Cut(f"random{k}", float(bottom + size), float(bottom)))
    return cuts


@dataclass
class ImageScore:
    """One labelled image against its ground truth (counts of ground-truth discs in view)."""

    n_gt: int
    right: int
    wrong_value: int
    missed: int
    status: str
    confidence: float

    @property
    def wrong(self) -> bool:
        """True when a ground-truth disc carries another value (the count is off)."""
        return self.wrong_value > 0


def _in_view(point: np.ndarray, cut: Cut, view: tuple[float, float]) -> bool:
    low = view[0] if cut.bottom_mm is None else max(view[0], cut.bottom_mm)
    high = view[1] if cut.top_mm is None else min(view[1], cut.top_mm)
    return low + EDGE_MM <= point[2] <= high - EDGE_MM


def score_image(gt_mm: dict[int, np.ndarray], pred: Sequence[tuple[int, np.ndarray]], cut: Cut,
                view: tuple[float, float], status: str, confidence: float) -> ImageScore:
    """Score one labelling of a cut.

    Args:
        gt_mm: ground-truth value -> world position (mm).
        pred: ``(value, world mm)`` of every written label.
        cut, view: the field of view, and the whole image's ``(lowest, highest)`` height.
        status, confidence: the labelling's numbering status and confidence.
    """
    right = wrong = missed = n = 0
    for value, point in gt_mm.items():
        if not _in_view(point, cut, view):
            continue
        n += 1
        near = [(float(np.linalg.norm(np.asarray(p) - point)), v) for v, p in pred]
        near = [(d, v) for d, v in near if d <= RIGHT_MM]
        if any(v == value for _, v in near):
            right += 1
        elif near:
            wrong += 1
        else:
            missed += 1
    return ImageScore(n, right, wrong, missed, status, confidence)


def compare_counts(whole: Iterable[tuple[int, np.ndarray]], cut: Iterable[tuple[int, np.ndarray]]
                   ) -> tuple[int, int]:
    """``(discs found in both, of which with another value in the cut)``; pairs are mutual
    nearest labels (world mm) within :data:`SAME_DISC_MM`
    (:func:`~hca_disc_label.inference.stability.compare`, as the strip test pairs them)."""
    return compare([(v, np.asarray(p, float)) for v, p in whole], [(v, np.asarray(p, float)) for v, p in cut],
                   SAME_DISC_MM)


def save_cut(img: nib.Nifti1Image, cut: Cut, folder: Path) -> Path:
    """Write the cut of ``img`` as ``folder/<name>.nii`` (a scratch file for the labeller;
    uncompressed: gzip would cost about as long as labelling it)."""
    path = Path(folder) / f"{cut.name.replace('=', '-').replace(',', '_')}{NIFTI}"
    nib.save(cut_image(img, cut.top_mm, cut.bottom_mm), path)
    return path
