"""Disc-label files: build one on an image's exact grid, write it fast, read one back.

A label image is a zero copy of the input grid (shape, affine, qform/sform codes) with one
voxel per disc (value = SCT disc value). :func:`write_label_file` writes the same bytes as
``nibabel.save`` but compresses the zero runs without scanning them; :func:`read_disc_labels`
holds label files to the same header and geometry checks as input images.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nibabel as nib
import numpy as np

from hca_disc_label.atomic import atomic_write
from hca_disc_label.conventions import DISC_NAMES, LANDMARKS
from hca_disc_label.image import LoadedImage, voxel_to_world
from hca_disc_label.naming import NIFTI_GZ
from hca_disc_label.nifti import open_image, read_array

log = logging.getLogger(__name__)


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
    if not str(path).endswith(NIFTI_GZ):
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
    return _read_points(Path(path), DISC_NAMES, "disc")


def read_landmark_labels(path: str | os.PathLike) -> list[LabelPoint]:
    """Read a landmark-label image (values = :data:`~hca_disc_label.conventions.LANDMARKS`
    codes, one voxel each; other values ignored with a warning), as :func:`read_disc_labels`."""
    return _read_points(Path(path), LANDMARKS, "landmark")


def _read_points(path: Path, names: dict[int, str], kind: str) -> list[LabelPoint]:
    """The labelled points of ``path`` whose value is a key of ``names`` (see above)."""
    img, affine = open_image(path)
    data = read_array(img, path, dtype=np.float64)
    if data.ndim > 3:
        data = data.reshape(data.shape[:3] + (-1,))[..., 0]
    # Only the few labelled voxels are rounded and grouped: a whole-volume pass per value took
    # seconds on a 381x381x76 label file. |x| > 0.5 is exactly "rounds to a non-zero value";
    # NaN and infinities count as unlabelled.
    flat = np.flatnonzero(np.isfinite(data) & (np.abs(data) > 0.5))
    values = np.rint(data.reshape(-1)[flat]).astype(np.int64)
    coords = np.stack(np.unravel_index(flat, data.shape), axis=1)
    points: list[LabelPoint] = []
    for value in sorted(int(v) for v in np.unique(values)):
        if value not in names:
            log.warning("%s: ignoring non-%s label value %d", path, kind, value)
            continue
        vox = coords[values == value]
        if len(vox) > 1:
            log.warning("%s: %d voxels carry value %d; using their centroid", path, len(vox), value)
        centre = vox.mean(axis=0)
        mm = voxel_to_world(affine, centre)
        ijk = tuple(int(round(c)) for c in centre)
        points.append(LabelPoint(value, ijk, tuple(float(m) for m in mm)))
    return points
