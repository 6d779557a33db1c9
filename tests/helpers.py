"""Test helpers: real cases, reoriented/resampled copies, stand-in models."""

from __future__ import annotations

import importlib.util
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from hca_disc_label.conventions import DISC_VALUES


def real_cases(bids: Path) -> list[tuple[Path, Path]]:
    """(image, disc labels) pairs of a BIDS folder."""
    pairs = []
    for img in sorted(bids.glob("sub-*/anat/*.nii.gz")):
        stem = img.name[: -len(".nii.gz")]
        lab = bids / "derivatives" / "labels" / img.parent.parent.name / "anat" / f"{stem}_label-discs_dlabel.nii.gz"
        if lab.exists():
            pairs.append((img, lab))
    return pairs


def load_script(path: Path):
    """A script of ``scripts/`` imported as a module (its functions and ``main``)."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def link_bids_subjects(shared_data: Path, tmp_path: Path, subjects: list[str] | None = None, n: int = 4) -> Path:
    """A BIDS tree of real training subjects (symlinks to ../shared/data/bids-train, images and
    labels): ``subjects``, or the first ``n`` by name."""
    src = Path(shared_data).resolve() / "bids-train"
    root = tmp_path / "bids"
    subjects = subjects if subjects is not None else sorted(p.name for p in src.glob("sub-*"))[:n]
    for sub in subjects:
        for rel in (Path(sub) / "anat", Path("derivatives/labels") / sub / "anat"):
            (root / rel).mkdir(parents=True, exist_ok=True)
            for f in (src / rel).iterdir():
                os.symlink(f, root / rel / f.name)
    return root


ORIENTATIONS = [(perm, flips) for perm in itertools.permutations(range(3)) for flips in itertools.product((1, -1), repeat=3)]
"""All 48 axis permutations x flips."""


def reorient(img: nib.Nifti1Image, perm, flips) -> nib.Nifti1Image:
    """Same image on a permuted/flipped voxel grid (identical world geometry)."""
    data = np.asanyarray(img.dataobj)
    shape = np.array(img.shape[:3])
    # new voxel n maps to old voxel o with o[perm[k]] = n[k] or (shape-1-n[k]).
    m = np.zeros((4, 4))
    m[3, 3] = 1
    for k, (axis, flip) in enumerate(zip(perm, flips)):
        m[axis, k] = flip
        if flip < 0:
            m[axis, 3] = shape[axis] - 1
    new = np.transpose(data, perm)
    for k, flip in enumerate(flips):
        if flip < 0:
            new = np.flip(new, axis=k)
    out = nib.Nifti1Image(np.ascontiguousarray(new), img.affine @ m, header=img.header.copy())
    out.set_qform(img.affine @ m, int(img.header["qform_code"]) or 1)
    out.set_sform(img.affine @ m, int(img.header["sform_code"]) or 1)
    return out


def resample_like(img: nib.Nifti1Image, zooms, order: int) -> nib.Nifti1Image:
    """Resample onto a grid covering the same field of view with new voxel sizes (mm)."""
    from scipy import ndimage

    old = np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0))
    zooms = np.asarray(zooms, dtype=float)
    shape = np.maximum(1, np.floor((np.array(img.shape[:3]) - 1) * old / zooms).astype(int) + 1)
    scale = np.diag(list(zooms / old) + [1.0])
    affine = img.affine @ scale
    data = np.asanyarray(img.dataobj).astype(np.float32)
    if order == 0:
        out = np.zeros(shape, dtype=np.int16)
        vox = np.argwhere(data != 0)
        for v in vox:
            new = np.rint(v * old / zooms).astype(int)
            out[tuple(np.clip(new, 0, shape - 1))] = int(data[tuple(v)])
    else:
        out = ndimage.affine_transform(data, zooms / old, output_shape=tuple(shape), order=1)
    res = nib.Nifti1Image(out, affine)
    res.set_qform(affine, 1)
    res.set_sform(affine, 1)
    return res


@dataclass
class StandInModel:
    """A model folder stand-in: the contract without weights (for geometry tests)."""

    input_contract: dict = field(default_factory=lambda: {
        "pixel_spacing_mm": 1.0, "slab_thickness_mm": 6.0, "size_multiple": 64,
        "output_stride": 4, "heatmap_sigma_px": 1.0,
    })
    channel_values: list = field(default_factory=lambda: list(DISC_VALUES))
    name: str = "oracle"
    version: str = "0.0.0"
    card: dict = field(default_factory=dict)


class PrecomputedBackend:
    """Backend returning fixed heatmaps (the oracle: ground truth rendered as heatmaps)."""

    name = "oracle"
    device = "cpu"

    def __init__(self, heatmaps: np.ndarray):
        self.heatmaps = heatmaps
        self.calls = 0

    def predict(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.heatmaps


def temp_files(*folders: Path) -> list[Path]:
    """Temporary files (``*.tmp*``, ``*.part``) anywhere under the folders: an interrupted or
    failed write must leave none."""
    return [p for f in folders if f.exists() for p in f.rglob("*") if ".tmp" in p.name or p.name.endswith(".part")]
