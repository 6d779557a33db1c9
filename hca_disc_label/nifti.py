"""Opening NIfTI files safely: every check that needs no voxel, then one reader.

:func:`open_image` (shared by input images and label / hint files) refuses, with one line
naming the file: a missing or non-NIfTI file, a header nibabel cannot parse, dim[0] outside
1..7, zero or negative sizes, RGB / complex / unknown data types, a non-finite scaling, a
vox_offset inside the header, a header declaring more bytes than the file (or its gzip
trailer) holds, absurd sizes, 2D or 5D shapes, NaN / singular / implausible affines.
:func:`read_array` maps every reader error to the same kind of line. nibabel's own warnings
and log lines are silenced while a file is read (the user gets one line: ours).
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import nibabel as nib
import numpy as np

from hca_disc_label.errors import InputImageError
from hca_disc_label.naming import is_nifti

MAX_DIM = 4096
"""Largest accepted size of one image axis, in voxels."""
MAX_VOXELS = 600_000_000
"""Largest accepted number of voxels (about 2.4 GB as float32)."""
MAX_INPLANE_MM = 3.0
"""Coarsest A-P / S-I voxel size (mm) at which a disc (4-12 mm tall) can still be placed."""
MAX_VOXEL_MM = 20.0
"""Voxel sizes above this (any axis) are treated as a broken header."""


def fail(path: Path | str, problem: str) -> InputImageError:
    return InputImageError(f"{path}: {problem}")


@contextlib.contextmanager
def quiet_nibabel() -> Iterator[None]:
    """nibabel reports header oddities on its own stderr handler and as warnings; a bad file
    must cost one line (ours), so both are silenced while it is read."""
    logger = logging.getLogger("nibabel.global")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _load_nifti(path: Path) -> nib.spatialimages.SpatialImage:
    """Open a NIfTI file (header only) and check the header before any voxel is read.

    Raises:
        InputImageError: naming the file: missing, not NIfTI, unreadable header, or a header
            that cannot describe a usable image (see :func:`_check_header`).
    """
    if not path.exists():
        raise fail(path, "file not found")
    if path.is_dir():
        raise fail(path, "is a directory, not a NIfTI file")
    if not is_nifti(path):
        raise fail(path, "not a NIfTI file (expected .nii or .nii.gz)")
    try:
        with quiet_nibabel():
            img = nib.load(str(path))
    except MemoryError:
        raise fail(path, "header too large to read") from None
    except Exception as exc:  # nibabel raises many types (HeaderDataError, ImageFileError, zlib...)
        raise fail(path, f"cannot be read as NIfTI ({_short(exc)})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise fail(path, f"not a NIfTI image ({type(img).__name__})")
    _check_header(img, path)
    return img


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _stored_bytes(path: Path) -> int | None:
    """Bytes the file holds once uncompressed (gzip: its ISIZE trailer, modulo 2**32)."""
    size = path.stat().st_size
    if not str(path).endswith(".gz"):
        return size
    if size < 18:
        return 0
    with open(path, "rb") as fh:
        fh.seek(-4, os.SEEK_END)
        return int.from_bytes(fh.read(4), "little")


def _check_header(img: nib.spatialimages.SpatialImage, path: Path) -> None:
    """Header checks that must pass before the voxel data are read.

    Rejects: dim[0] outside 1..7, zero or negative sizes, an absurd declared size, a data type
    that is not a grey level (RGB, complex, unknown code), a vox_offset inside the header, a
    non-finite scaling, and a file holding fewer bytes than its header declares (checked
    against the file size, or the gzip trailer, before a single voxel is allocated).
    """
    header = img.header
    dim = [int(v) for v in header["dim"]]
    if not 1 <= dim[0] <= 7:
        raise fail(path, f"invalid NIfTI header: dim[0] = {dim[0]} (must be 1..7)")
    sizes = dim[1: dim[0] + 1]
    if any(s < 1 for s in sizes):
        raise fail(path, f"invalid NIfTI header: image sizes {tuple(sizes)} (each must be >= 1)")
    dtype = header.get_data_dtype()
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise fail(path, f"data type {dtype} (code {int(header['datatype'])}) is not a grey-level image "
                    "(RGB, complex or unknown types are not supported)")
    n_voxels = int(np.prod(np.asarray(sizes, dtype=np.int64)))
    if any(s > MAX_DIM for s in sizes[:3]) or n_voxels > MAX_VOXELS:
        raise fail(path, f"has an absurd size (shape {tuple(sizes)})")
    slope, inter = (float(v) for v in (header["scl_slope"], header["scl_inter"]))
    if np.isfinite(slope) and slope != 0 and not np.isfinite(inter):
        raise fail(path, f"invalid intensity scaling (scl_slope = {slope:g}, scl_inter = {inter})")
    # the loaded header's vox_offset is reset by nibabel; the data proxy keeps the file's one
    offset = float(getattr(img.dataobj, "offset", header["vox_offset"]))
    if offset < int(header["sizeof_hdr"]):
        raise fail(path, f"invalid NIfTI header: vox_offset {offset:g} lies inside the {int(header['sizeof_hdr'])}-byte header")
    needed = int(offset) + n_voxels * dtype.itemsize
    stored = _stored_bytes(path)
    if stored is not None and needed < 2 ** 32 and stored < needed:
        raise fail(path, f"truncated: the header declares {needed} bytes, the file holds {stored}")


def read_array(img: nib.spatialimages.SpatialImage, path: Path, dtype=np.float32) -> np.ndarray:
    """The voxels as ``dtype`` (scaling applied). A ``.nii.gz`` is inflated in one call
    (``gzip.decompress``: several times fewer Python-level steps than nibabel's streamed read,
    same bytes); its size was checked against the header before (:func:`_check_header`)."""
    try:
        with quiet_nibabel():
            if str(path).endswith(".gz"):
                img = type(img).from_bytes(gzip.decompress(Path(path).read_bytes()))
            return np.asarray(img.dataobj, dtype=dtype)
    except MemoryError:
        raise fail(path, "too large to load (out of memory)") from None
    except Exception as exc:  # EOFError, zlib.error, OSError, ValueError, nibabel's own
        raise fail(path, f"corrupt or truncated image data ({_short(exc)})") from None


def _check_shape(shape: Sequence[int], path: Path) -> None:
    if len(shape) < 3:
        raise fail(path, f"is {len(shape)}D (shape {tuple(shape)}); a 3D sagittal volume is needed")
    if len(shape) > 4 and any(s > 1 for s in shape[4:]):
        raise fail(path, f"has {len(shape)} dimensions (shape {tuple(shape)}); a 3D volume is needed")
    if sum(1 for s in shape[:3] if s > 1) < 2:
        raise fail(path, f"is not a 3D image (shape {tuple(shape)})")
    if any(s > MAX_DIM for s in shape[:3]) or int(np.prod(shape[:4], dtype=np.int64)) > MAX_VOXELS:
        raise fail(path, f"has an absurd size (shape {tuple(shape)})")


def _check_affine(affine: np.ndarray, path: Path) -> None:
    if not np.all(np.isfinite(affine)):
        raise fail(path, "affine contains NaN/Inf")
    det = np.linalg.det(affine[:3, :3])
    if abs(det) < 1e-6:
        raise fail(path, "affine is not invertible (degenerate voxel-to-world matrix)")
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    if np.any(zooms > MAX_VOXEL_MM) or np.any(zooms < 0.01):
        sizes = "x".join(f"{z:.3g}" for z in zooms)
        raise fail(path, f"implausible voxel size {sizes} mm")


def integer_storage(img: nib.spatialimages.SpatialImage) -> bool:
    """True when every value read as float32 is finite: integer voxels, and no scaling (slope
    0 or NaN) or a finite one that cannot overflow float32."""
    header = img.header
    dtype = header.get_data_dtype()
    if dtype.kind not in "iu":
        return False
    slope, inter = float(header["scl_slope"]), float(header["scl_inter"])
    if slope == 0 or np.isnan(slope):
        return True
    info = np.iinfo(dtype)
    bound = abs(slope) * max(abs(int(info.min)), int(info.max)) + abs(inter)
    return bool(np.isfinite(slope) and np.isfinite(inter) and bound < float(np.finfo(np.float32).max))


def open_image(path: Path) -> tuple[nib.spatialimages.SpatialImage, np.ndarray]:
    """Open a NIfTI file and run every check that needs no voxel: header, shape, affine.

    Shared by input images and label / hint files, so both are held to the same rules.

    Returns:
        ``(nibabel image, file affine 4x4)``.

    Raises:
        InputImageError: naming the file.
    """
    path = Path(path)
    img = _load_nifti(path)
    _check_shape(tuple(int(s) for s in img.shape), path)
    try:
        with quiet_nibabel():
            file_affine = np.asarray(img.affine, dtype=float)
    except Exception as exc:
        raise fail(path, f"invalid orientation in the header ({_short(exc)})") from None
    _check_affine(file_affine, path)
    return img, file_affine


def check_image_object(img: nib.spatialimages.SpatialImage, name: str) -> np.ndarray:
    """The checks of :func:`open_image` for an image already in memory (given to the API):
    a grey-level data type, a 3D (or 4D) shape of sane size and a usable affine.

    Returns:
        The image's affine (4x4, voxel -> world mm).

    Raises:
        InputImageError: naming ``name``.
    """
    dtype = np.dtype(img.get_data_dtype())
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise fail(name, f"data type {dtype} is not a grey-level image (RGB or complex data are not supported)")
    _check_shape(tuple(int(s) for s in img.shape), Path(name))
    if img.affine is None:
        raise fail(name, "has no affine (voxel -> world mm)")
    affine = np.asarray(img.affine, dtype=float)
    if affine.shape != (4, 4):
        raise fail(name, f"affine must be 4x4, got shape {affine.shape}")
    _check_affine(affine, Path(name))
    return affine
