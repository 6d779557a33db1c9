"""From a canonical 3D volume to the network's 2D input, invertibly (pure numpy/scipy).

Steps: find the mid-sagittal plane, average the slab of slices around it, resample the
slab in-plane to the model's pixel spacing (no aspect distortion), normalise intensities,
pad to the network's size multiple. :class:`SlabGeometry` maps any model-frame point back
to canonical voxel coordinates exactly.

Frames (see conventions.py): canonical ``vol[x, y, z]`` (x -> left, y -> anterior,
z -> superior); model ``image[row, col]`` (row -> inferior, col -> posterior).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from hca_disc_label.contract import (
    DEFAULT_HIGH_PERCENTILE,
    DEFAULT_LOW_PERCENTILE,
    DEFAULT_SLAB_THICKNESS_MM,
    InputContract,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlabGeometry:
    """Invertible mapping between the model 2D frame and canonical voxels.

    Row ``r`` of the model image samples canonical ``z = (nz - 1) - r * ratio_z`` and column
    ``c`` samples ``y = (ny - 1) - c * ratio_y`` on the slab's centre slice ``x_center``, where
    ``ratio = model spacing / voxel size`` (both in mm).

    Attributes:
        x_center: canonical x index of the slab's centre slice (labels are written there).
        x_indices: canonical x indices averaged into the slab.
        ny, nz: canonical volume size along y (A-P) and z (S-I), in voxels.
        ratio_y, ratio_z: model pixel spacing divided by the voxel size along y and z.
        height, width: size of the resampled slab before padding (model pixels).
        spacing_mm: model pixel spacing (mm).
    """

    x_center: int
    x_indices: tuple[int, ...]
    ny: int
    nz: int
    ratio_y: float
    ratio_z: float
    height: int
    width: int
    spacing_mm: float

    def model_to_canonical(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Map model-frame points to canonical voxel coordinates.

        Args:
            rows, cols: arrays of model-frame pixel coordinates (floats).

        Returns:
            ``(N, 3)`` float array of canonical ``(x, y, z)`` voxel coordinates.
        """
        rows = np.atleast_1d(np.asarray(rows, dtype=float))
        cols = np.atleast_1d(np.asarray(cols, dtype=float))
        z = (self.nz - 1) - rows * self.ratio_z
        y = (self.ny - 1) - cols * self.ratio_y
        x = np.full_like(z, float(self.x_center))
        return np.stack([x, y, z], axis=-1)

    def canonical_to_model(self, yz: np.ndarray) -> np.ndarray:
        """Map canonical ``(..., 2)`` ``(y, z)`` voxel coordinates to model ``(row, col)``."""
        yz = np.asarray(yz, dtype=float)
        rows = ((self.nz - 1) - yz[..., 1]) / self.ratio_z
        cols = ((self.ny - 1) - yz[..., 0]) / self.ratio_y
        return np.stack([rows, cols], axis=-1)


@dataclass
class PreparedSlab:
    """The network input and how to map it back.

    Attributes:
        image: ``(H_pad, W_pad)`` float32 in [0, 1], model frame, zero-padded bottom/right.
        geometry: the invertible mapping for the unpadded ``(height, width)`` region.
        raw: ``(height, width)`` float32 slab before normalisation (for QC).
    """

    image: np.ndarray
    geometry: SlabGeometry
    raw: np.ndarray


PAIR_BLOCK = 2048
"""Voxels per slice processed at a time by :func:`_mirror_products` (keeps the float64 copy in cache)."""


def _mirror_products(flat: np.ndarray, max_d: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Dot products of the mean-centred rows of ``flat (n, m)``, in float64.

    Returns ``(squares, pairs)``: ``squares[i]`` = centred row ``i`` with itself, ``pairs[d][i]``
    = rows ``i`` and ``i + 2d`` (``pairs[0]`` unused). The same numbers as centring a float64
    copy of the whole volume and taking dot products (within float rounding, ~1e-13 on real
    volumes), computed by column blocks that stay in cache and without a full-size float64
    copy: 2-3x faster, single-threaded (no BLAS), speed only.
    """
    n = flat.shape[0]
    mean = flat.mean(axis=1, dtype=np.float64)
    squares = np.zeros(n)
    pairs = [np.zeros(max(0, n - 2 * d)) for d in range(max_d + 1)]
    for start in range(0, flat.shape[1], PAIR_BLOCK):
        block = flat[:, start:start + PAIR_BLOCK].astype(np.float64)
        block -= mean[:, None]
        squares += np.einsum("ij,ij->i", block, block)
        for d in range(1, max_d + 1):
            pairs[d] += np.einsum("ij,ij->i", block[: n - 2 * d], block[2 * d:])
    return squares, pairs


def symmetry_profile(vol: np.ndarray, zoom_x: float, max_offset_mm: float = 12.0) -> np.ndarray:
    """Left-right mirror similarity of the volume around each sagittal slice.

    For each offset ``d`` the correlation of slices ``x - d`` and ``x + d`` is measured
    relative to its median over all ``x``: neighbouring slices of any volume correlate, the
    more so the closer they are, so a raw mean would favour candidates near the edge of a
    narrow stack, where only the shortest offsets fit (a stack of 13 slices of 4 mm put the
    plane 28 mm off). What is left is how much more mirror-like ``x`` is than the volume's
    other slices at the same distance, averaged over the offsets that fit, the longer ones
    weighted more (they are the ones that see the anatomy's symmetry).

    Args:
        vol: canonical volume ``(X, Y, Z)``.
        zoom_x: voxel size along x (mm).
        max_offset_mm: how far to each side the slice pairs are compared.

    Returns:
        ``(X,)`` array of relative similarity (NaN where no pair fits inside the volume).
    """
    nx = vol.shape[0]
    max_d = max(1, int(round(max_offset_mm / zoom_x)))
    top = min(max_d, (nx - 1) // 2)
    squares, pairs = _mirror_products(vol.reshape(nx, -1), top)
    norms = np.sqrt(squares) + 1e-9
    total = np.zeros(nx)
    weight = np.zeros(nx)
    for d in range(1, top + 1):
        x = np.arange(d, nx - d)
        corr = pairs[d] / (norms[: nx - 2 * d] * norms[2 * d:])
        total[x] += d * (corr - np.median(corr))
        weight[x] += d
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / np.maximum(weight, 1e-12), np.nan)


def find_midsagittal_slice(vol: np.ndarray, zoom_x: float) -> int:
    """Estimate the canonical x index of the mid-sagittal plane (through the spinal canal).

    The spine lies on the body's plane of left-right symmetry, which is rarely the exact
    centre of the field of view; the slice whose mirror similarity (relative to the volume's
    other slices, :func:`symmetry_profile`) stands out most sharply from its neighbours
    (:data:`PLANE_PEAK_MM`) is taken, searched in the central 70 % of the L-R field of view
    and lightly biased toward the centre so that featureless volumes fall back to the
    geometric middle. On narrow stacks cut from real lumbar volumes (38 slices of 1 mm, the
    spine 8 mm off centre) this finds the spine within 4 mm in 24 of 25 (the mean of raw
    correlations: 19 of 25).

    Args:
        vol: canonical volume ``(X, Y, Z)``.
        zoom_x: voxel size along x (mm).

    Returns:
        The x index of the centre slice.
    """
    nx = vol.shape[0]
    middle = (nx - 1) // 2
    if nx < 5:
        return middle
    lo, hi = int(np.floor(0.15 * nx)), int(np.ceil(0.85 * nx))
    score = peak_prominence(symmetry_profile(vol, zoom_x), max(1, int(round(PLANE_PEAK_MM / zoom_x))))
    return _most_symmetric_slice(score, middle, lo, hi, max(1.0, nx / 2))


PLANE_PEAK_MM = 10.0
"""The mid-sagittal plane is a sharp peak of mirror similarity: it must stand out from the
slices within this distance on both sides. A broad plateau (featureless lateral tissue, where
every slice resembles its neighbours) does not, however high it is: on seeded synthetic
volumes (crop, lumbar, cervical, whole fields, 1.8-4 mm slices) this takes the planes found
more than 4 mm off from 2 of 40 to none."""


def peak_prominence(score: np.ndarray, window: int) -> np.ndarray:
    """How far each value rises above the higher of its two sides' minima within ``window``
    samples (NaN stays NaN; a side with no finite value does not count)."""
    n = len(score)
    finite = np.where(np.isfinite(score), score, np.inf)
    out = np.full(n, np.nan)
    for x in np.flatnonzero(np.isfinite(score)):
        left, right = finite[max(0, x - window):x], finite[x + 1:x + 1 + window]
        sides = [side.min() for side in (left, right) if np.isfinite(side).any()]
        out[x] = score[x] - (max(sides) if sides else score[x])
    return out


def _most_symmetric_slice(score: np.ndarray, centre: int, lo: int, hi: int, scale: float) -> int:
    """Index in ``[lo, hi)`` with the best symmetry ``score``, lightly pulled toward ``centre``.

    The pull (0.05 per ``scale`` slices) breaks ties and makes featureless data fall back to
    ``centre``, which is also returned when no score in the window is finite.
    """
    idx = np.arange(len(score))
    total = score - 0.05 * np.abs(idx - centre) / scale
    total = np.where((idx >= lo) & (idx < hi) & np.isfinite(score), total, -np.inf)
    return int(np.argmax(total)) if np.isfinite(total).any() else int(centre)


def local_midsagittal_x(
    vol: np.ndarray,
    zooms: tuple[float, float, float],
    x_center: int,
    y: float,
    z: float,
    search_mm: float = 8.0,
    half_depth_mm: float = 30.0,
    half_height_mm: float = 15.0,
) -> int:
    """Canonical x of the left-right symmetry plane of the anatomy around one point.

    The slab's centre slice is the plane of symmetry of the whole field of view; a rotated or
    scoliotic spine leaves it by a few mm at some levels. Around a disc tip the symmetry of a
    small block (the disc, the canal and the posterior elements) finds that level's own
    mid-plane: on the 50 real lumbar training subjects it halves the 90th percentile of the
    left-right distance to the manual labels (6 -> 3 mm).

    Args:
        vol: canonical volume ``(X, Y, Z)`` (L-A-S axes).
        zooms: canonical voxel sizes (mm).
        x_center: global mid-sagittal slice (voxel index); the search is centred there.
        y, z: the point's canonical voxel coordinates (A-P, S-I).
        search_mm: how far from ``x_center`` the local plane may lie (mm).
        half_depth_mm, half_height_mm: half size of the compared block along A-P and S-I (mm).

    Returns:
        The x voxel index of the local plane (``x_center`` when the block says nothing).
    """
    nx, ny, nz = vol.shape
    zx, zy, zz = (float(v) for v in zooms)
    if nx < 5:
        return int(x_center)
    offset_mm = 10.0
    reach = max(1, int(round(search_mm / zx)))
    # only slices a candidate plane is compared with: the cost stays small on wide volumes
    x0 = max(0, x_center - reach - int(round(offset_mm / zx)))
    x1 = min(nx, x_center + reach + int(round(offset_mm / zx)) + 1)
    hy, hz = max(1, int(round(half_depth_mm / zy))), max(1, int(round(half_height_mm / zz)))
    yi, zi = int(round(y)), int(round(z))
    block = vol[x0:x1, max(0, yi - hy): min(ny, yi + hy + 1), max(0, zi - hz): min(nz, zi + hz + 1)]
    if block.size == 0 or float(np.ptp(block)) == 0.0:
        return int(x_center)
    score = symmetry_profile(block, zx, max_offset_mm=offset_mm)
    c = x_center - x0
    return x0 + _most_symmetric_slice(score, c, c - reach, c + reach + 1, reach)


def slab_indices(x_center: int, nx: int, zoom_x: float, thickness_mm: float) -> tuple[int, ...]:
    """Canonical x indices of the slices averaged around ``x_center``.

    Slices within ``thickness_mm / 2`` of the centre slice (centre to centre) are used,
    clipped to the volume: 7 slices at 1 mm, 3 at 2–3 mm, only the centre slice at 4 mm.
    """
    half = int(np.floor(thickness_mm / (2.0 * zoom_x) + 1e-6))
    return tuple(range(max(0, x_center - half), min(nx, x_center + half + 1)))


def resample_plane(
    plane: np.ndarray, zoom_y: float, zoom_z: float, spacing_mm: float
) -> tuple[np.ndarray, float, float]:
    """Resample a canonical sagittal plane ``(Y, Z)`` into the model frame.

    Args:
        plane: ``(Y, Z)`` array (canonical y -> anterior, z -> superior).
        zoom_y, zoom_z: voxel sizes (mm) along y and z.
        spacing_mm: target isotropic pixel spacing (mm).

    Returns:
        ``(image (H, W), ratio_y, ratio_z)``, image in the model frame (row -> inferior,
        col -> posterior) with the sampling described in :class:`SlabGeometry`.
    """
    from scipy import ndimage  # imported here: it costs ~0.15 s of start-up on the ONNX path

    ny, nz = plane.shape
    ratio_y, ratio_z = spacing_mm / zoom_y, spacing_mm / zoom_z
    height = int(np.floor((nz - 1) / ratio_z + 1e-6)) + 1
    width = int(np.floor((ny - 1) / ratio_y + 1e-6)) + 1
    # Anti-alias before sampling more coarsely than the data.
    sigma = [max(0.0, (r - 1.0) / 2.0) for r in (ratio_y, ratio_z)]
    src = ndimage.gaussian_filter(plane, sigma) if max(sigma) > 0 else plane
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    z = (nz - 1) - rows * ratio_z
    y = (ny - 1) - cols * ratio_y
    image = ndimage.map_coordinates(src, [y, z], order=1, mode="nearest")
    return image.astype(np.float32), ratio_y, ratio_z


def normalise(image: np.ndarray, low_percentile: float = 1.0, high_percentile: float = 99.5) -> np.ndarray:
    """Map intensities linearly to [0, 1] using percentiles of the non-zero pixels.

    Args:
        image: 2D array (any scale).
        low_percentile, high_percentile: percentiles (0-100) of the non-zero pixels mapped to
            0 and 1; values outside are clipped.

    Returns:
        float32 array of the same shape in [0, 1].
    """
    values = image[image != 0]
    if values.size < 2:
        values = image.ravel()
    lo, hi = np.percentile(values, [low_percentile, high_percentile])
    if hi <= lo:
        lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        return np.zeros_like(image, dtype=np.float32)
    return np.clip((image - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Zero-pad a 2D image at the bottom/right so both sides are multiples of ``multiple``."""
    h, w = image.shape
    ph = max(multiple, int(np.ceil(h / multiple)) * multiple)
    pw = max(multiple, int(np.ceil(w / multiple)) * multiple)
    out = np.zeros((ph, pw), dtype=np.float32)
    out[:h, :w] = image
    return out


def prepare_slab(
    vol: np.ndarray,
    zooms: tuple[float, float, float],
    spacing_mm: float,
    size_multiple: int,
    slab_thickness_mm: float = DEFAULT_SLAB_THICKNESS_MM,
    x_center: int | None = None,
    low_percentile: float = DEFAULT_LOW_PERCENTILE,
    high_percentile: float = DEFAULT_HIGH_PERCENTILE,
) -> PreparedSlab:
    """Build the network input from a canonical volume.

    Args:
        vol: canonical volume ``(X, Y, Z)``.
        zooms: canonical voxel sizes (mm) along x, y, z.
        spacing_mm: model pixel spacing (mm).
        size_multiple: H and W of the output are padded to a multiple of this.
        slab_thickness_mm: thickness of the averaged slab around the centre slice.
        x_center: force the centre slice (canonical x index); None = automatic.
        low_percentile, high_percentile: normalisation percentiles.

    Returns:
        The padded, normalised image and its geometry.

    Raises:
        ValueError: ``x_center`` outside the volume.
    """
    nx, ny, nz = vol.shape
    if x_center is None:
        x_center = find_midsagittal_slice(vol, zooms[0])
    elif not 0 <= x_center < nx:
        raise ValueError(f"slice {x_center} is outside the volume (0..{nx - 1} along L-R)")
    xs = slab_indices(x_center, nx, zooms[0], slab_thickness_mm)
    plane = vol[list(xs)].mean(axis=0)
    raw, ratio_y, ratio_z = resample_plane(plane, zooms[1], zooms[2], spacing_mm)
    geometry = SlabGeometry(
        x_center=int(x_center),
        x_indices=xs,
        ny=ny,
        nz=nz,
        ratio_y=ratio_y,
        ratio_z=ratio_z,
        height=raw.shape[0],
        width=raw.shape[1],
        spacing_mm=spacing_mm,
    )
    image = pad_to_multiple(normalise(raw, low_percentile, high_percentile), size_multiple)
    log.debug("slab: x=%d (%d slices), %dx%d px at %.2f mm", x_center, len(xs), *raw.shape, spacing_mm)
    return PreparedSlab(image=image, geometry=geometry, raw=raw)


def prepare_input(contract: InputContract, vol: np.ndarray, zooms: tuple[float, float, float],
                  x_center: int | None = None, size_multiple: int | None = None) -> PreparedSlab:
    """The network input of a canonical volume ``(X, Y, Z)`` (L-A-S) as a model's input contract
    says: :func:`prepare_slab` with the contract's spacing, padding (``size_multiple`` overrides
    it: 1 = none, for training crops), slab and percentiles; ``x_center`` None = by symmetry."""
    multiple = contract.size_multiple if size_multiple is None else int(size_multiple)
    return prepare_slab(vol, zooms, contract.pixel_spacing_mm, multiple, contract.slab_thickness_mm, x_center,
                        contract.low_percentile, contract.high_percentile)
