"""Builders of tiny disc-label NIfTIs and BIDS trees with known world geometry."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest


def make_affine(zooms, perm=(0, 1, 2), flips=(1, 1, 1), origin=(0.0, 0.0, 0.0), angle_deg=0.0):
    """Affine with permuted/flipped axes, voxel sizes ``zooms`` (mm), an optional rotation about
    the world z axis, and a world origin (mm): world = A @ [i, j, k, 1]."""
    cols = np.zeros((3, 3))
    for k, (axis, flip) in enumerate(zip(perm, flips)):
        cols[axis, k] = flip * zooms[k]
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ cols
    affine[:3, 3] = origin
    return affine


AFFINES = {
    # permuted + flipped axes, 0.8 mm isotropic
    "perm-0.8": make_affine((0.8, 0.8, 0.8), perm=(2, 0, 1), flips=(-1, 1, -1), origin=(12.5, -40.0, 7.0)),
    # anisotropic, flipped, oblique (rotated 20 degrees)
    "aniso-oblique": make_affine((0.5, 1.2, 3.0), perm=(1, 2, 0), flips=(1, -1, 1), origin=(-3.0, 5.0, 90.0),
                                 angle_deg=20.0),
    # plain 1 mm RAS
    "ras-1": make_affine((1.0, 1.0, 1.0)),
}
"""Named test geometries (voxel size per *voxel* axis = zooms in order)."""

SHAPE = (96, 80, 72)


def voxel_size(affine, axis):
    """mm length of one voxel step along voxel ``axis``."""
    return float(np.linalg.norm(affine[:3, axis]))


def write_labels(path: Path, points: dict[int, tuple[int, int, int]] | list[tuple[int, tuple]],
                 affine, shape=SHAPE) -> Path:
    """Write a label NIfTI with ``value`` at each voxel (several voxels per value allowed)."""
    data = np.zeros(shape, dtype=np.int16)
    items = points.items() if isinstance(points, dict) else points
    for value, ijk in items:
        data[tuple(ijk)] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def world(affine, ijk):
    """World mm of a voxel index."""
    return nib.affines.apply_affine(affine, np.asarray(ijk, dtype=float))


def discs_along(affine, axis: int, values=(3, 4, 5, 6), spacing_mm=15.0, start=4, other=(20, 24)):
    """Voxel positions of discs about ``spacing_mm`` apart along voxel ``axis`` (slightly curved),
    so every inter-disc distance exceeds the default 7 / 10 mm thresholds."""
    step = int(np.ceil(spacing_mm / voxel_size(affine, axis)))
    assert start + step * (len(values) - 1) < SHAPE[axis] - 4, "discs do not fit the test volume"
    pts = {}
    for n, value in enumerate(values):
        ijk = [0, 0, 0]
        ijk[axis] = start + n * step
        rest = [a for a in range(3) if a != axis]
        ijk[rest[0]], ijk[rest[1]] = other[0], other[1] + n
        pts[value] = tuple(ijk)
    return pts


class BidsBuilder:
    """Writes GT label files in a BIDS ``derivatives/labels`` tree under ``root``."""

    def __init__(self, root: Path):
        self.root = root
        (root / "derivatives" / "labels").mkdir(parents=True, exist_ok=True)

    def label_path(self, stem: str, suffix: str = "_label-discs_dlabel") -> Path:
        parts = stem.split("_")
        folder = self.root / "derivatives" / "labels" / parts[0]
        if parts[1].startswith("ses-"):
            folder = folder / parts[1]
        return folder / "anat" / f"{stem}{suffix}.nii.gz"

    def add(self, stem, points, affine, suffix="_label-discs_dlabel", shape=SHAPE) -> Path:
        return write_labels(self.label_path(stem, suffix), points, affine, shape)


@pytest.fixture
def bids(tmp_path) -> BidsBuilder:
    return BidsBuilder(tmp_path / "gt")


@pytest.fixture
def real_bids(shared_data) -> Path:
    return shared_data / "bids"


@pytest.fixture
def lab():
    """The builders above, for test modules (conftest modules are not imported directly)."""
    return SimpleNamespace(AFFINES=AFFINES, SHAPE=SHAPE, make_affine=make_affine, voxel_size=voxel_size,
                           write_labels=write_labels, world=world, discs_along=discs_along)
