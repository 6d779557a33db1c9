"""Disc tips from manual vertebral-body masks, and the L5/S1 tip of a dataset whose sacrum is not masked.

The real T2 lumbar scans with the sacrum in view (``bids-train/sub-zuk*``) carry manual masks of
the bodies T11..L5 and disc labels between masked bodies only: their L5/S1, the disc that decides
the lumbar count, is unlabelled because S1 is not masked. Its tip is derived here from anatomy
(the L5 mask), never from a model, so the network learns the real L5/S1 above a real sacrum,
S1/S2 remnant or not.

The tip convention is the dataset's own (SPEC §8): on the bodies' median sagittal slice, the
midpoint of the upper body's posterior-inferior corner and the lower body's posterior-superior
corner (each found as the body's extreme along the posterior-inferior or posterior-superior
diagonal of the local spine axis, see :func:`_corner`).
For L5/S1 the lower corner is S1's, which is not masked: it is placed one L4/L5 disc gap below
L5's posterior-inferior corner, along the L4->L5 axis (the gap of the disc above, the best
anatomical guess; about 1-2 mm from the annotators' point, well inside the 7 mm used to score
identity). :func:`check_derivation` measures the corner rule against the labelled discs.

All positions are world mm (the image affine's frame); masks are read through nibabel's RAS
canonical orientation so any file orientation works.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from hca_disc_label.conventions import L5_S1
from hca_disc_label.errors import DataError
from hca_disc_label.image import voxel_to_world

log = logging.getLogger(__name__)

S1S2_BY_EYE: dict[str, tuple[float, float, float]] = {
    "sub-zuk02": (-1.5, -50.5, -104.0), "sub-zuk04": (7.5, -30.0, -105.0), "sub-zuk07": (0.0, -66.9, -95.4),
    "sub-zuk08": (0.5, -46.6, -85.1), "sub-zuk09": (3.0, -48.6, -107.4), "sub-zuk12": (1.0, -45.4, -69.6),
    "sub-zuk20": (4.0, -33.6, -99.7), "sub-zuk23": (1.0, -55.1, -95.9),
}
"""World mm (file affine) of the posterior end of the S1/S2 junction (landmark 126) of the 8
real T2 sacra of ``bids-train``, read by eye on their mid-sagittal slice (about 2-3 mm
uncertainty): nothing in the dataset labels S1/S2. Used by ``benchmarks/lumbosacral_geometry.py``
and written as training landmark labels by ``scripts/landmark_labels.py``."""

L5 = 24
"""SCT number of the L5 body (its mask value)."""


def _body_points(mask: np.ndarray, zooms: np.ndarray, value: int, x: int) -> np.ndarray:
    """``(n, 2)`` mm positions (anterior, superior) of a body's voxels on sagittal slice ``x``
    of a RAS-canonical mask."""
    ij = np.argwhere(mask[x] == value)
    return ij * zooms[1:]


def _axis(upper: np.ndarray, lower: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit spine axis ``u`` (upper -> lower centroid, pointing inferior) and the unit
    posterior normal ``n``, both in the (anterior, superior) mm plane."""
    u = lower.mean(axis=0) - upper.mean(axis=0)
    norm = np.linalg.norm(u)
    if norm == 0:
        raise DataError("two vertebral bodies share a centroid")
    u = u / norm
    n = np.array([u[1], -u[0]])
    if n[0] > 0:  # posterior = towards -anterior
        n = -n
    return u, n


def _corner(points: np.ndarray, u: np.ndarray, n: np.ndarray, inferior: bool) -> np.ndarray:
    """A body's posterior-inferior (``inferior``) or posterior-superior corner (mm): its extreme
    voxel along the diagonal between the posterior normal and the spine axis. A diagonal, not
    "lowest voxel of the posterior wall", because bodies tilt against the centroid axis by up to
    ~20 deg and their posterior walls are concave: a band at the wall then holds one lip only."""
    direction = n + (u if inferior else -u)
    return points[int(np.argmax(points @ direction))]


def _voxels_per_slice(mask: np.ndarray) -> dict[int, np.ndarray]:
    """Body value -> ``(nx,)`` count of its voxels in each sagittal slice (first axis)."""
    flat = mask.reshape(mask.shape[0], -1)
    top = int(flat.max(initial=0))
    if top <= 0:
        return {}
    counts = np.stack([np.bincount(np.clip(row, 0, None), minlength=top + 1) for row in flat])
    return {v: counts[:, v] for v in range(1, top + 1) if counts[:, v].any()}


def _median_index(counts: np.ndarray) -> int:
    """Rounded median slice index of the voxels counted per slice in ``counts`` (as
    ``np.round(np.median(x))`` over every voxel's index, without listing the voxels)."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    lo = int(np.searchsorted(cum, (n - 1) // 2, side="right"))
    hi = int(np.searchsorted(cum, n // 2, side="right"))
    return int(np.round((lo + hi) / 2))


def disc_tips_from_masks(dseg_path: Path) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Disc tips between consecutive masked bodies, plus the derived L5/S1 tip.

    Args:
        dseg_path: vertebral-body mask, values = SCT body numbers (18 = T11 ... 24 = L5).

    Returns:
        ``(tips, affine)``: SCT disc value -> ``(3,)`` position in the RAS-canonical mask's
        voxel grid (float), with the L5/S1 tip (25) when L4 and L5 are both masked; and the
        canonical affine (voxel -> world mm).

    Raises:
        DataError: unreadable mask or fewer than two consecutive bodies.
    """
    import nibabel as nib

    try:
        img = nib.as_closest_canonical(nib.load(str(dseg_path)))
        mask = np.asanyarray(img.dataobj)
        # integer masks as stored (a float copy of a 381x381x76 mask costs a second per file)
        mask = mask.astype(np.int32) if np.issubdtype(mask.dtype, np.integer) else np.rint(mask).astype(np.int32)
    except Exception as exc:  # nibabel raises many types for broken files
        raise DataError(f"{dseg_path}: cannot read the vertebral-body mask ({exc})") from exc
    zooms = np.asarray(img.header.get_zooms()[:3], dtype=float)
    per_slice = _voxels_per_slice(mask)
    bodies = sorted(per_slice)
    tips: dict[int, np.ndarray] = {}
    for upper, lower in zip(bodies, bodies[1:]):
        if lower != upper + 1:
            continue
        x = _median_index(per_slice[upper] + per_slice[lower])
        up, low = _body_points(mask, zooms, upper, x), _body_points(mask, zooms, lower, x)
        if len(up) == 0 or len(low) == 0:
            continue
        u, n = _axis(up, low)
        a, b = _corner(up, u, n, inferior=True), _corner(low, u, n, inferior=False)
        tips[lower] = np.array([x, *((a + b) / 2 / zooms[1:])])
        if lower == L5:
            gap = b - a
            l5_inferior = _corner(low, u, n, inferior=True)
            tips[L5_S1] = np.array([x, *((l5_inferior + gap / 2) / zooms[1:])])
    if not tips:
        raise DataError(f"{dseg_path}: no two consecutive vertebral bodies")
    return tips, img.affine


def tips_world_mm(dseg_path: Path) -> dict[int, np.ndarray]:
    """:func:`disc_tips_from_masks` in world mm."""
    tips, affine = disc_tips_from_masks(dseg_path)
    return {v: voxel_to_world(affine, p) for v, p in tips.items()}


def check_derivation(dseg_path: Path, labels_mm: dict[int, np.ndarray]) -> dict[int, float]:
    """Distance (mm) between the corner rule's tip and each labelled disc it can derive:
    how well the rule reproduces the annotators' points (L5/S1 excluded, it has none)."""
    derived = tips_world_mm(dseg_path)
    return {v: float(np.linalg.norm(derived[v] - p)) for v, p in labels_mm.items() if v in derived and v != L5_S1}
