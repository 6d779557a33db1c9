"""NIfTI input/output: loading with validation, canonical reorientation, disc-label files.

Every image is turned into the canonical ("L", "A", "S") frame (SCT "RPI") for
processing; the exact voxel mapping back to the file's own grid is kept so labels
are written on the input's grid (shape, affine, qform/sform codes).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import logging
import os
import struct
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import nibabel as nib
import numpy as np
from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

from hca_disc_label.atomic import atomic_write, write_text_atomic  # noqa: F401  (re-exported: one writer)
from hca_disc_label.conventions import CANONICAL_AXCODES, DISC_NAMES
from hca_disc_label.errors import InputImageError, OutputError

log = logging.getLogger(__name__)

MAX_DIM = 4096
"""Largest accepted size of one image axis, in voxels."""
MAX_VOXELS = 600_000_000
"""Largest accepted number of voxels (about 2.4 GB as float32)."""
MAX_INPLANE_MM = 3.0
"""Coarsest A-P / S-I voxel size (mm) at which a disc (4-12 mm tall) can still be placed."""
MAX_VOXEL_MM = 20.0
"""Voxel sizes above this (any axis) are treated as a broken header."""


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


@dataclass(frozen=True)
class LabelPoint:
    """One disc label read from a label image.

    Attributes:
        value: SCT disc value.
        voxel: integer voxel indices in the label file's own grid.
        mm: world (scanner) coordinates in mm through the file's affine.
    """

    value: int
    voxel: tuple[int, int, int]
    mm: tuple[float, float, float]


def _fail(path: Path | str, problem: str) -> InputImageError:
    return InputImageError(f"{path}: {problem}")


@contextlib.contextmanager
def _quiet_nibabel() -> Iterator[None]:
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
        raise _fail(path, "file not found")
    if path.is_dir():
        raise _fail(path, "is a directory, not a NIfTI file")
    if not str(path).endswith((".nii", ".nii.gz")):
        raise _fail(path, "not a NIfTI file (expected .nii or .nii.gz)")
    try:
        with _quiet_nibabel():
            img = nib.load(str(path))
    except MemoryError:
        raise _fail(path, "header too large to read") from None
    except Exception as exc:  # nibabel raises many types (HeaderDataError, ImageFileError, zlib...)
        raise _fail(path, f"cannot be read as NIfTI ({_short(exc)})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise _fail(path, f"not a NIfTI image ({type(img).__name__})")
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
        raise _fail(path, f"invalid NIfTI header: dim[0] = {dim[0]} (must be 1..7)")
    sizes = dim[1: dim[0] + 1]
    if any(s < 1 for s in sizes):
        raise _fail(path, f"invalid NIfTI header: image sizes {tuple(sizes)} (each must be >= 1)")
    dtype = header.get_data_dtype()
    if dtype.fields is not None or dtype.kind not in "biuf":
        raise _fail(path, f"data type {dtype} (code {int(header['datatype'])}) is not a grey-level image "
                    "(RGB, complex or unknown types are not supported)")
    n_voxels = int(np.prod(np.asarray(sizes, dtype=np.int64)))
    if any(s > MAX_DIM for s in sizes[:3]) or n_voxels > MAX_VOXELS:
        raise _fail(path, f"has an absurd size (shape {tuple(sizes)})")
    slope, inter = (float(v) for v in (header["scl_slope"], header["scl_inter"]))
    if np.isfinite(slope) and slope != 0 and not np.isfinite(inter):
        raise _fail(path, f"invalid intensity scaling (scl_slope = {slope:g}, scl_inter = {inter})")
    # the loaded header's vox_offset is reset by nibabel; the data proxy keeps the file's one
    offset = float(getattr(img.dataobj, "offset", header["vox_offset"]))
    if offset < int(header["sizeof_hdr"]):
        raise _fail(path, f"invalid NIfTI header: vox_offset {offset:g} lies inside the {int(header['sizeof_hdr'])}-byte header")
    needed = int(offset) + n_voxels * dtype.itemsize
    stored = _stored_bytes(path)
    if stored is not None and needed < 2 ** 32 and stored < needed:
        raise _fail(path, f"truncated: the header declares {needed} bytes, the file holds {stored}")


def _read_array(img: nib.spatialimages.SpatialImage, path: Path, dtype=np.float32) -> np.ndarray:
    """The voxels as ``dtype`` (scaling applied). A ``.nii.gz`` is inflated in one call
    (``gzip.decompress``: several times fewer Python-level steps than nibabel's streamed read,
    same bytes); its size was checked against the header before (:func:`_check_header`)."""
    try:
        with _quiet_nibabel():
            if str(path).endswith(".gz"):
                img = type(img).from_bytes(gzip.decompress(Path(path).read_bytes()))
            return np.asarray(img.dataobj, dtype=dtype)
    except MemoryError:
        raise _fail(path, "too large to load (out of memory)") from None
    except Exception as exc:  # EOFError, zlib.error, OSError, ValueError, nibabel's own
        raise _fail(path, f"corrupt or truncated image data ({_short(exc)})") from None


def _check_shape(shape: Sequence[int], path: Path) -> None:
    if len(shape) < 3:
        raise _fail(path, f"is {len(shape)}D (shape {tuple(shape)}); a 3D sagittal volume is needed")
    if len(shape) > 4 and any(s > 1 for s in shape[4:]):
        raise _fail(path, f"has {len(shape)} dimensions (shape {tuple(shape)}); a 3D volume is needed")
    if sum(1 for s in shape[:3] if s > 1) < 2:
        raise _fail(path, f"is not a 3D image (shape {tuple(shape)})")
    if any(s > MAX_DIM for s in shape[:3]) or int(np.prod(shape[:4], dtype=np.int64)) > MAX_VOXELS:
        raise _fail(path, f"has an absurd size (shape {tuple(shape)})")


def _check_affine(affine: np.ndarray, path: Path) -> None:
    if not np.all(np.isfinite(affine)):
        raise _fail(path, "affine contains NaN/Inf")
    det = np.linalg.det(affine[:3, :3])
    if abs(det) < 1e-6:
        raise _fail(path, "affine is not invertible (degenerate voxel-to-world matrix)")
    zooms = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    if np.any(zooms > MAX_VOXEL_MM) or np.any(zooms < 0.01):
        sizes = "x".join(f"{z:.3g}" for z in zooms)
        raise _fail(path, f"implausible voxel size {sizes} mm")


def _reduce_to_3d(data: np.ndarray, path: Path) -> np.ndarray:
    data = data.reshape(data.shape[:4]) if data.ndim > 4 else data
    if data.ndim == 4:
        if data.shape[3] == 1:
            return data[..., 0]
        log.warning("%s is 4D (%d volumes): using the mean over time", path, data.shape[3])
        with np.errstate(invalid="ignore"):
            return np.nanmean(np.where(np.isfinite(data), data, np.nan), axis=3)
    return data


def _integer_storage(img: nib.spatialimages.SpatialImage) -> bool:
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


def load_image(path: str | os.PathLike, timings: dict[str, float] | None = None) -> LoadedImage:
    """Load and validate a 3D NIfTI image and reorient it to the canonical frame.

    4D images are averaged over time (with a warning). Partial NaN/Inf values are set to 0
    (with a warning). The header is checked (and the declared size compared with the file)
    before any voxel is read.

    Args:
        path: a ``.nii`` or ``.nii.gz`` file.
        timings: when given, receives ``read`` and ``reorient`` seconds.

    Returns:
        The validated image (see :class:`LoadedImage`).

    Raises:
        InputImageError: one clear line naming the file and the problem (missing, not NIfTI,
            bad header, truncated, RGB/complex data, 2D, absurd size, non-invertible or NaN
            affine, NaN/Inf only, constant, voxel too coarse in the sagittal plane).
    """
    path = Path(path)
    start = time.perf_counter()
    img, file_affine = open_image(path)
    data = _check_values(_reduce_to_3d(_read_array(img, path), path), path, _integer_storage(img))
    read_done = time.perf_counter()
    data_c, affine_c = _to_canonical(data, file_affine)
    loaded = LoadedImage(path, img, data_c, affine_c, file_affine, tuple(int(s) for s in img.shape[:3]))
    _check_inplane(loaded.zooms, path)
    if timings is not None:
        timings["read"] = read_done - start
        timings["reorient"] = time.perf_counter() - read_done
    return loaded


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
        with _quiet_nibabel():
            file_affine = np.asarray(img.affine, dtype=float)
    except Exception as exc:
        raise _fail(path, f"invalid orientation in the header ({_short(exc)})") from None
    _check_affine(file_affine, path)
    return img, file_affine


def check_output_path(out_path: Path, input_path: Path) -> None:
    """Fail early (before any computation) when ``out_path`` cannot be written.

    Raises:
        OutputError: output equals the input, has no NIfTI extension, or its folder is not
            writable.
    """
    out_path = Path(out_path)
    if out_path.resolve() == Path(input_path).resolve():
        raise OutputError(f"{out_path}: output path is the input image; refusing to overwrite it")
    if not str(out_path).endswith((".nii", ".nii.gz")):
        raise OutputError(f"{out_path}: output must end with .nii or .nii.gz")
    if out_path.is_dir():
        raise OutputError(f"{out_path}: output path is a directory")
    folder = out_path.parent
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{out_path}: output folder {folder} is not writable")


def label_image_like(
    reference: LoadedImage, points: Iterable[tuple[int, tuple[int, int, int]]]
) -> nib.spatialimages.SpatialImage:
    """Build a disc-label image on the reference file's exact grid.

    Args:
        reference: the input image (its file grid, affine and qform/sform codes are kept).
        points: ``(value, (i, j, k))`` with integer voxel indices in the file's own grid.

    Returns:
        A NIfTI image (same class as the input) of dtype int16 with one voxel per disc.
    """
    data = np.zeros(reference.file_shape, dtype=np.int16)
    for value, ijk in points:
        data[tuple(int(v) for v in ijk)] = int(value)
    header = reference.nifti.header.copy()
    header.set_data_dtype(np.int16)
    header.set_slope_inter(1.0, 0.0)
    klass = type(reference.nifti)
    out = klass(data, None, header=header)
    # Constructing from the header re-derives both matrices; set them explicitly so the
    # output carries the input's exact qform and sform and their codes.
    q_aff, q_code = reference.nifti.header.get_qform(coded=True)
    s_aff, s_code = reference.nifti.header.get_sform(coded=True)
    out.set_qform(q_aff if q_aff is not None else reference.file_affine, int(q_code or 0))
    out.set_sform(s_aff if s_aff is not None else reference.file_affine, int(s_code or 0))
    out.header["cal_min"], out.header["cal_max"] = 0, max([0] + [int(v) for v, _ in points])
    return out


def write_label_file(reference: LoadedImage, points: Iterable[tuple[int, tuple[int, int, int]]], path: Path) -> None:
    """Save the disc-label image of :func:`label_image_like` to ``path`` (not atomic: the
    caller gives a temporary path).

    A ``.nii.gz`` label file is almost all zeros: it is compressed by :func:`gzip_sparse`
    (zero runs are not scanned byte by byte) to the same decompressed bytes ``nibabel.save``
    writes (header, extensions, padding, int16 voxels in F order), about 5x faster. Other
    names go through ``nibabel.save``.
    """
    path = Path(path)
    points = [(int(v), tuple(int(c) for c in ijk)) for v, ijk in points]
    img = label_image_like(reference, points)
    if not str(path).endswith(".nii.gz"):
        nib.save(img, str(path))
        return
    header = img.header
    img.update_header()
    header.set_slope_inter(1.0, 0.0)  # what nibabel's writer records for int16 data stored as int16
    prefix = io.BytesIO()
    header.write_to(prefix)
    offset = int(header.get_data_offset())
    head = prefix.getvalue().ljust(offset, b"\0")
    nx, ny, nz = reference.file_shape
    literals = {offset + 2 * (i + nx * (j + ny * k)): struct.pack("<h", v) for v, (i, j, k) in points}
    path.write_bytes(gzip_sparse(head, offset + 2 * nx * ny * nz, literals))


_ZERO_CHUNK = 1 << 20
_zero_deflate: bytes | None = None


def _deflated_zero_chunk() -> bytes:
    """Raw deflate of :data:`_ZERO_CHUNK` zero bytes, ending on a full flush (computed once)."""
    global _zero_deflate
    if _zero_deflate is None:
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        _zero_deflate = comp.compress(bytes(_ZERO_CHUNK)) + comp.flush(zlib.Z_FULL_FLUSH)
    return _zero_deflate


def gzip_sparse(head: bytes, total: int, literals: dict[int, bytes]) -> bytes:
    """A gzip member whose content is ``head``, then zeros up to ``total`` bytes, with
    ``literals`` (offset -> bytes, at offsets >= ``len(head)``) written over the zeros.

    Every segment is a raw-deflate run ending on a full flush (byte aligned, no reference
    before it), so runs of :data:`_ZERO_CHUNK` zeros reuse one precomputed compressed chunk.
    """
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    zero_chunk, deflated_zero = bytes(_ZERO_CHUNK), _deflated_zero_chunk()
    out = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"]
    crc = 0

    def literal(chunk: bytes) -> None:
        nonlocal crc
        if chunk:
            out.append(comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH))
            crc = zlib.crc32(chunk, crc)

    def zeros(n: int) -> None:
        nonlocal crc
        full, rest = divmod(n, _ZERO_CHUNK)
        for _ in range(full):
            out.append(deflated_zero)
            crc = zlib.crc32(zero_chunk, crc)
        literal(bytes(rest))

    literal(head)
    position = len(head)
    for at in sorted(literals):
        zeros(at - position)
        literal(literals[at])
        position = at + len(literals[at])
    zeros(total - position)
    out.append(comp.flush(zlib.Z_FINISH))
    out.append(struct.pack("<II", crc & 0xFFFFFFFF, total & 0xFFFFFFFF))
    return b"".join(out)


def save_image_atomic(img: nib.spatialimages.SpatialImage, out_path: Path) -> None:
    """Save a NIfTI image atomically (temp file in the same folder + rename)."""
    atomic_write(Path(out_path), lambda tmp: nib.save(img, str(tmp)))


def read_disc_labels(path: str | os.PathLike) -> list[LabelPoint]:
    """Read an SCT disc-label image.

    Several voxels carrying the same value are merged into their centroid (rounded) with a
    warning; non-disc values (e.g. 49/50/60) are ignored with a warning.

    Args:
        path: label NIfTI (one non-zero voxel per disc, value = SCT disc value).

    Returns:
        Label points sorted by value, with voxel indices in the file's grid and world mm.

    Raises:
        InputImageError: the file fails the checks input images pass (header, declared size,
            data type, shape, affine): one line naming it.
    """
    path = Path(path)
    img, affine = open_image(path)
    data = _read_array(img, path, dtype=np.float64)
    if data.ndim > 3:
        data = data.reshape(data.shape[:3] + (-1,))[..., 0]
    data = np.rint(np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)).astype(np.int64)
    points: list[LabelPoint] = []
    for value in sorted(int(v) for v in np.unique(data) if v != 0):
        if value not in DISC_NAMES:
            log.warning("%s: ignoring non-disc label value %d", path, value)
            continue
        vox = np.argwhere(data == value)
        if len(vox) > 1:
            log.warning("%s: %d voxels carry value %d; using their centroid", path, len(vox), value)
        centre = vox.mean(axis=0)
        mm = affine[:3, :3] @ centre + affine[:3, 3]
        ijk = tuple(int(round(c)) for c in centre)
        points.append(LabelPoint(value, ijk, tuple(float(m) for m in mm)))
    return points
