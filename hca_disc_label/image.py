"""The loaded image: validation and canonical reorientation, every file / world / canonical
conversion (+ the output-path check).

File checks live in :mod:`hca_disc_label.nifti`, disc-label files in
:mod:`hca_disc_label.labelfile` (which imports this module, never the reverse). Every image is
turned into the canonical ("L", "A", "S") frame (SCT "RPI") for processing; the exact voxel
mapping back to the file's own grid is kept so labels are written on the input's grid (shape,
affine, qform/sform codes).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import nibabel as nib
import numpy as np
from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

from hca_disc_label.conventions import CANONICAL_AXCODES
from hca_disc_label.errors import ArgumentValueError, OutputError
from hca_disc_label.naming import is_nifti
from hca_disc_label.nifti import MAX_INPLANE_MM, check_image_object, open_image
from hca_disc_label.nifti import fail as _fail
from hca_disc_label.nifti import integer_storage as _integer_storage
from hca_disc_label.nifti import read_array as _read_array

log = logging.getLogger(__name__)


def voxel_to_world(affine: np.ndarray, ijk: Sequence[float]) -> np.ndarray:
    """One voxel point ``(3,)`` (indices or fractional) -> world mm ``(3,)`` through a 4x4
    voxel->world affine; the one place this product is written."""
    return affine[:3, :3] @ np.asarray(ijk) + affine[:3, 3]


def world_to_voxel(affine: np.ndarray, mm: Sequence[float]) -> np.ndarray:
    """One world point (scanner mm, ``(3,)``) -> voxel coordinates ``(3,)`` (floats) of the grid
    whose 4x4 voxel->world affine is ``affine``."""
    inv = np.linalg.inv(affine)
    return inv[:3, :3] @ np.asarray(mm) + inv[:3, 3]


@dataclass
class LoadedImage:
    """A validated 3D image in the canonical frame, with its file's geometry.

    Attributes:
        path: file the image was read from.
        nifti: the nibabel image as loaded (header untouched; 4D images keep their header).
        data: float32 array ``(X, Y, Z)`` in the canonical frame (x -> left, y -> anterior,
            z -> superior).
        affine: 4x4 voxel->world (mm) affine of ``data`` (canonical voxel indices).
        file_affine: 4x4 voxel->world affine of the file's own 3D grid.
        file_shape: the file's 3D shape (first three axes).
    """

    path: Path
    nifti: nib.spatialimages.SpatialImage
    data: np.ndarray
    affine: np.ndarray
    file_affine: np.ndarray
    file_shape: tuple[int, int, int]

    @property
    def zooms(self) -> tuple[float, float, float]:
        """Voxel size (mm) along the canonical axes (L-R, A-P, S-I)."""
        return tuple(float(z) for z in np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0)))

    def canonical_to_file(self, ijk: np.ndarray) -> np.ndarray:
        """Map canonical voxel coordinates ``(..., 3)`` to file voxel coordinates (floats)."""
        ijk = np.asarray(ijk, dtype=float)
        m = np.linalg.inv(self.file_affine) @ self.affine
        return ijk @ m[:3, :3].T + m[:3, 3]

    def file_to_canonical(self, ijk: np.ndarray) -> np.ndarray:
        """Map file voxel coordinates ``(..., 3)`` to canonical voxel coordinates (floats)."""
        ijk = np.asarray(ijk, dtype=float)
        m = np.linalg.inv(self.affine) @ self.file_affine
        return ijk @ m[:3, :3].T + m[:3, 3]

    def world_to_canonical(self, mm: Sequence[float]) -> np.ndarray:
        """Map one world point (scanner mm, ``(3,)``) to canonical voxel coordinates (floats)."""
        return world_to_voxel(self.affine, mm)

    def file_to_world(self, ijk: Sequence[float]) -> np.ndarray:
        """Map one file voxel point ``(3,)`` to world mm ``(3,)``."""
        return voxel_to_world(self.file_affine, ijk)

    def world_to_file(self, mm: Sequence[float]) -> np.ndarray:
        """Map one world point (scanner mm, ``(3,)``) to file voxel coordinates (floats)."""
        return world_to_voxel(self.file_affine, mm)

    def file_slice_to_canonical_x(self, index: int) -> int:
        """Convert a slice index along the file's own left-right axis to the canonical x index.

        Raises:
            ArgumentValueError: (``-x``) the index is outside the file's L-R axis.
        """
        m = np.linalg.inv(self.file_affine) @ self.affine
        lr_axis = int(np.argmax(np.abs(m[:3, 0])))
        n = self.file_shape[lr_axis]
        if not 0 <= index < n:
            raise ArgumentValueError(f"{self.path}: -x {index} is outside the left-right axis (0..{n - 1})", "-x")
        ijk = np.zeros(3)
        ijk[lr_axis] = index
        return int(round(self.file_to_canonical(ijk)[0]))


def _reduce_to_3d(data: np.ndarray, path: Path) -> np.ndarray:
    data = data.reshape(data.shape[:4]) if data.ndim > 4 else data
    if data.ndim == 4:
        if data.shape[3] == 1:
            return data[..., 0]
        log.warning("%s is 4D (%d volumes): using the mean over time", path, data.shape[3])
        with np.errstate(invalid="ignore"):
            return np.nanmean(np.where(np.isfinite(data), data, np.nan), axis=3)
    return data


def _check_values(data: np.ndarray, path: Path, surely_finite: bool = False) -> np.ndarray:
    """NaN/Inf voxels set to 0 (none-finite and constant images refused). ``surely_finite``:
    the file stores integers with a finite scaling, so the NaN/Inf pass is skipped."""
    if surely_finite:
        lo, hi = float(data.min()), float(data.max())
        if lo == hi:
            raise _fail(path, f"is constant (every voxel = {lo:g}); nothing to label")
        return data
    finite = np.isfinite(data)
    if not finite.any():
        raise _fail(path, "contains only NaN/Inf values")
    if not finite.all():
        log.warning("%s: %d NaN/Inf voxels set to 0", path, int((~finite).sum()))
        data = np.where(finite, data, 0.0).astype(np.float32)
    lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        raise _fail(path, f"is constant (every voxel = {lo:g}); nothing to label")
    return data


def _to_canonical(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorient ``data`` to the canonical frame; return (data, canonical affine)."""
    xform = ornt_transform(io_orientation(affine), axcodes2ornt(CANONICAL_AXCODES))
    data_c = nib.orientations.apply_orientation(data, xform)
    affine_c = affine @ nib.orientations.inv_ornt_aff(xform, data.shape)
    return np.ascontiguousarray(data_c, dtype=np.float32), affine_c


def _check_inplane(zooms: Sequence[float], path: Path) -> None:
    ap, si = zooms[1], zooms[2]
    if max(ap, si) > MAX_INPLANE_MM:
        raise _fail(
            path,
            f"A-P x S-I voxel size is {ap:.2g} x {si:.2g} mm: too coarse to place a disc "
            f"(needs <= {MAX_INPLANE_MM:g} mm; is this an axial stack? a sagittal image is needed)",
        )


IN_MEMORY = "<in-memory image>"
"""The name of an image given as an array or an unsaved nibabel image (messages, sidecar)."""

ImageSource = Union[str, os.PathLike, nib.spatialimages.SpatialImage, np.ndarray]
"""What :func:`load_image` takes: a NIfTI path, a nibabel image, or an array (with its affine)."""


def load_image(source: ImageSource, timings: dict[str, float] | None = None,
               affine: np.ndarray | None = None) -> LoadedImage:
    """Load and validate a 3D image and reorient it to the canonical frame.

    4D images are averaged over time (with a warning). Partial NaN/Inf values are set to 0
    (with a warning). A file's header is checked (and the declared size compared with the
    file) before any voxel is read.

    Args:
        source: a ``.nii`` / ``.nii.gz`` path; a nibabel image (NIfTI, or any spatial image,
            which is labelled as a NIfTI-1 image with its affine); or an array ``(I, J, K)``
            (or ``(I, J, K, T)``) of grey levels indexed like the file's voxels, with ``affine``.
        timings: when given, receives ``read`` and ``reorient`` seconds.
        affine: with an array only: 4x4 voxel -> world (mm, RAS+) matrix, as in a NIfTI file.

    Returns:
        The validated image (see :class:`LoadedImage`; ``path`` is the image's file name, or
        :data:`IN_MEMORY`).

    Raises:
        InputImageError: one clear line naming the file and the problem (missing, not NIfTI,
            bad header, truncated, RGB/complex data, 2D, absurd size, non-invertible or NaN
            affine, NaN/Inf only, constant, voxel too coarse in the sagittal plane; an array
            without its affine).
    """
    start = time.perf_counter()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        img, file_affine = open_image(path)
        data = _read_array(img, path)
        surely_finite = _integer_storage(img)
    else:
        img, path = _image_object(source, affine)
        file_affine = check_image_object(img, str(path))
        data, surely_finite = np.asarray(img.dataobj, dtype=np.float32), False
    data = _check_values(_reduce_to_3d(data, path), path, surely_finite)
    read_done = time.perf_counter()
    data_c, affine_c = _to_canonical(data, file_affine)
    loaded = LoadedImage(path, img, data_c, affine_c, file_affine, tuple(int(s) for s in img.shape[:3]))
    _check_inplane(loaded.zooms, path)
    if timings is not None:
        timings["read"] = read_done - start
        timings["reorient"] = time.perf_counter() - read_done
    return loaded


def _image_object(source, affine) -> tuple[nib.Nifti1Image | nib.Nifti2Image, Path]:
    """A nibabel NIfTI image (and its name) for an image or array given in memory."""
    if isinstance(source, np.ndarray):
        if affine is None:
            raise _fail(IN_MEMORY, "an array needs its affine (4x4 voxel -> world mm), e.g. label(data, affine=aff)")
        if source.dtype.kind not in "biuf":
            raise _fail(IN_MEMORY, f"data type {source.dtype} is not a grey-level image")
        affine = np.asarray(affine, dtype=float)
        if affine.shape != (4, 4):
            raise _fail(IN_MEMORY, f"affine must be 4x4, got shape {affine.shape}")
        return nib.Nifti1Image(np.asarray(source, dtype=np.float32), affine), Path(IN_MEMORY)
    if affine is not None:
        raise _fail(IN_MEMORY, "affine is for an array only (an image carries its own)")
    if not isinstance(source, nib.spatialimages.SpatialImage):
        raise _fail(IN_MEMORY, f"expected a NIfTI path, a nibabel image or an array, got {type(source).__name__}")
    path = Path(source.get_filename() or IN_MEMORY)
    if not isinstance(source, (nib.Nifti1Image, nib.Nifti2Image)):
        file_affine = check_image_object(source, str(path))
        source = nib.Nifti1Image(np.asarray(source.dataobj, dtype=np.float32), file_affine)
    return source, path


def check_output_path(out_path: Path, input_path: Path) -> None:
    """Fail early (before any computation) when ``out_path`` cannot be written.

    Raises:
        ArgumentValueError: (``-o``) output equals the input, has no NIfTI extension or is a
            folder.
        OutputError: its folder is not writable.
    """
    out_path = Path(out_path)
    if out_path.resolve() == Path(input_path).resolve():
        raise ArgumentValueError(f"{out_path}: output path is the input image; refusing to overwrite it", "-o")
    if not is_nifti(out_path):
        raise ArgumentValueError(f"{out_path}: output must end with .nii or .nii.gz", "-o")
    if out_path.is_dir():
        raise ArgumentValueError(f"{out_path}: output path is a folder (give a .nii.gz file, or -ofolder)", "-o")
    folder = out_path.parent
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{out_path}: output folder {folder} is not writable")
