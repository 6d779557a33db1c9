"""From a canonical 3D volume to the network's 2D input, invertibly (pure numpy).

Steps: find the mid-sagittal plane (:mod:`hca_disc_label.midsagittal`), average the slab of slices around it, resample the
slab in-plane to the model's pixel spacing (no aspect distortion), normalise intensities,
pad to the network's size multiple. :class:`SlabGeometry` maps any model-frame point back
to canonical voxel coordinates exactly. A model with several input channels
(``InputContract.channel_offsets_mm``) gets one such slab per lateral offset, stacked
``(C, H, W)``; geometry and normalisation come from the mid-sagittal (centre) slab.

Frames (see conventions.py): canonical ``vol[x, y, z]`` (x -> left, y -> anterior,
z -> superior); model ``image[row, col]`` (row -> inferior, col -> posterior).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from hca_disc_label.contract import (
    DEFAULT_CHANNEL_OFFSETS_MM,
    DEFAULT_HIGH_PERCENTILE,
    DEFAULT_LOW_PERCENTILE,
    DEFAULT_SLAB_THICKNESS_MM,
    InputContract,
    centre_channel,
    check_channel_offsets,
)
from hca_disc_label.midsagittal import find_midsagittal_slice

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

    @classmethod
    def unit(cls, ny: int, nz: int, x_center: int = 0) -> "SlabGeometry":
        """The geometry of a canonical plane ``(ny, nz)`` shown in the model frame on its own
        voxel grid (ratios 1, no resampling; the image is :func:`flip_sagittal` of the plane)."""
        return cls(int(x_center), (int(x_center),), int(ny), int(nz), 1.0, 1.0, int(nz), int(ny), 1.0)

    def canonical_to_model(self, yz: np.ndarray) -> np.ndarray:
        """Map canonical ``(..., 2)`` ``(y, z)`` voxel coordinates to model ``(row, col)``."""
        yz = np.asarray(yz, dtype=float)
        rows = ((self.nz - 1) - yz[..., 1]) / self.ratio_z
        cols = ((self.ny - 1) - yz[..., 0]) / self.ratio_y
        return np.stack([rows, cols], axis=-1)


def flip_sagittal(array: np.ndarray) -> np.ndarray:
    """A canonical sagittal plane ``(..., Y, Z)`` as a model-frame image ``(..., H = Z, W = Y)``
    on the same grid (row = nz - 1 - z: head up; col = ny - 1 - y: face on the left), and back:
    the flip is its own inverse. A view (copy it for contiguous memory); points map with
    :meth:`SlabGeometry.unit`."""
    return np.swapaxes(array[..., ::-1, ::-1], -1, -2)


@dataclass
class PreparedSlab:
    """The network input and how to map it back.

    Attributes:
        image: ``(H_pad, W_pad)`` float32 in [0, 1], model frame, zero-padded bottom/right;
            ``(C, H_pad, W_pad)`` for a model with C > 1 input channels (channel k = the slab
            at the k-th lateral offset).
        geometry: the invertible mapping for the unpadded ``(height, width)`` region (that of
            the centre slab).
        raw: the slab(s) before normalisation, ``(height, width)`` or ``(C, height, width)``.
        centre: index of the mid-sagittal channel (0 for one channel).
    """

    image: np.ndarray
    geometry: SlabGeometry
    raw: np.ndarray
    centre: int = 0

    @property
    def centre_raw(self) -> np.ndarray:
        """The mid-sagittal slab ``(height, width)`` before normalisation (what QC shows)."""
        return self.raw if self.raw.ndim == 2 else self.raw[self.centre]


def channel_centres(x_center: int, nx: int, zoom_x: float, offsets_mm: tuple[float, ...]) -> tuple[int, ...]:
    """Canonical x index of each channel's slab centre: ``x_center + offset / zoom_x`` (offset in
    mm, +x = towards the left) rounded to the nearest slice and clipped to ``[0, nx - 1]`` (a slab
    beyond the volume is the edge slab)."""
    return tuple(int(np.clip(x_center + np.round(off / zoom_x), 0, nx - 1)) for off in offsets_mm)


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
    ny, nz = plane.shape
    ratio_y, ratio_z = spacing_mm / zoom_y, spacing_mm / zoom_z
    height = int(np.floor((nz - 1) / ratio_z + 1e-6)) + 1
    width = int(np.floor((ny - 1) / ratio_y + 1e-6)) + 1
    # Anti-alias before sampling more coarsely than the data.
    src = np.asarray(plane, dtype=np.float64)
    for axis, ratio in enumerate((ratio_y, ratio_z)):
        src = gaussian_blur_axis(src, max(0.0, (ratio - 1.0) / 2.0), axis)
    z = (nz - 1) - np.arange(height) * ratio_z
    y = (ny - 1) - np.arange(width) * ratio_y
    # Bilinear sampling is separable: along z for every row, then along y for every column.
    image = linear_sample_axis(linear_sample_axis(src, z, axis=1), y, axis=0).T
    return image.astype(np.float32), ratio_y, ratio_z


def gaussian_blur_axis(image: np.ndarray, sigma: float, axis: int, truncate: float = 4.0) -> np.ndarray:
    """Gaussian smoothing of ``image`` along one axis (``sigma`` in pixels; 0 returns it as is).

    The kernel reaches ``round(truncate * sigma)`` pixels each side; the image is extended by
    half-sample mirroring (``d c b a | a b c d``), as ``scipy.ndimage.gaussian_filter`` does.
    Written in numpy because importing ``scipy.ndimage`` costs a third of a second of every
    ``hca_label`` run.

    Args:
        image: array of any shape (float).
        sigma: standard deviation in pixels (>= 0).
        axis: the axis to smooth.
        truncate: kernel radius in standard deviations.

    Returns:
        float64 array of the same shape.
    """
    image = np.asarray(image, dtype=np.float64)
    if sigma <= 1e-15:
        return image
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    n = image.shape[axis]
    # "symmetric" is scipy's "reflect"; numpy repeats it for kernels wider than the image.
    padded = np.pad(image, [(radius, radius) if a == axis else (0, 0) for a in range(image.ndim)], mode="symmetric")
    out = np.zeros_like(image)
    for k, weight in enumerate(kernel):
        out += weight * np.take(padded, np.arange(k, k + n), axis=axis)
    return out


def linear_sample_axis(image: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of ``image`` at fractional positions along one axis.

    Args:
        image: array of any shape.
        coords: 1D positions (pixels) along ``axis``; positions outside ``[0, n - 1]`` take
            the edge value.
        axis: the axis sampled.

    Returns:
        float64 array, ``image``'s shape with ``len(coords)`` along ``axis``.
    """
    image = np.asarray(image, dtype=np.float64)
    n = image.shape[axis]
    c = np.clip(np.asarray(coords, dtype=np.float64), 0.0, n - 1)
    low = np.minimum(np.floor(c).astype(np.intp), n - 1)
    high = np.minimum(low + 1, n - 1)
    shape = [1] * image.ndim
    shape[axis] = len(c)
    frac = (c - low).reshape(shape)
    return np.take(image, low, axis=axis) * (1.0 - frac) + np.take(image, high, axis=axis) * frac


def normalise(image: np.ndarray, low_percentile: float = 1.0, high_percentile: float = 99.5,
              reference: np.ndarray | None = None) -> np.ndarray:
    """Map intensities linearly to [0, 1] using percentiles of the non-zero pixels.

    Args:
        image: array of any shape (any scale).
        low_percentile, high_percentile: percentiles (0-100) of the non-zero pixels mapped to
            0 and 1; values outside are clipped.
        reference: take the percentiles from this array instead (None = ``image``).

    Returns:
        float32 array of the same shape in [0, 1].
    """
    ref = image if reference is None else reference
    values = ref[ref != 0]
    if values.size < 2:
        values = ref.ravel()
    lo, hi = np.percentile(values, [low_percentile, high_percentile])
    if hi <= lo:
        lo, hi = float(ref.min()), float(ref.max())
    if hi <= lo:
        return np.zeros_like(image, dtype=np.float32)
    return np.clip((image - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def normalise_channels(raw: np.ndarray, centre: int = 0, low_percentile: float = DEFAULT_LOW_PERCENTILE,
                       high_percentile: float = DEFAULT_HIGH_PERCENTILE) -> np.ndarray:
    """:func:`normalise` a slab ``(H, W)``, or a stack ``(C, H, W)`` with the percentiles of its
    centre channel ``raw[centre]`` for every channel (relative intensities kept)."""
    if raw.ndim == 2:
        return normalise(raw, low_percentile, high_percentile)
    return normalise(raw, low_percentile, high_percentile, reference=raw[centre])


def pad_to_multiple(image: np.ndarray, multiple: int) -> np.ndarray:
    """Zero-pad an image ``(H, W)`` (or ``(C, H, W)``) at the bottom/right so H and W are
    multiples of ``multiple``."""
    h, w = image.shape[-2:]
    ph = max(multiple, int(np.ceil(h / multiple)) * multiple)
    pw = max(multiple, int(np.ceil(w / multiple)) * multiple)
    out = np.zeros((*image.shape[:-2], ph, pw), dtype=np.float32)
    out[..., :h, :w] = image
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
    channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM,
) -> PreparedSlab:
    """Build the network input from a canonical volume.

    Args:
        vol: canonical volume ``(X, Y, Z)``.
        zooms: canonical voxel sizes (mm) along x, y, z.
        spacing_mm: model pixel spacing (mm).
        size_multiple: H and W of the output are padded to a multiple of this.
        slab_thickness_mm: thickness of the averaged slab around the centre slice.
        x_center: force the centre slice (canonical x index); None = automatic.
        low_percentile, high_percentile: normalisation percentiles (of the centre slab, for
            every channel).
        channel_offsets_mm: lateral offset (mm, +x = left) of each channel's slab from
            ``x_center`` (:func:`channel_centres`); ``(0.0,)`` = one channel, image ``(H, W)``.

    Returns:
        The padded, normalised image (``(H, W)`` or ``(C, H, W)``) and its geometry.

    Raises:
        ValueError: ``x_center`` outside the volume, bad ``channel_offsets_mm``.
    """
    nx, ny, nz = vol.shape
    if x_center is None:
        x_center = find_midsagittal_slice(vol, zooms[0])
    elif not 0 <= x_center < nx:
        raise ValueError(f"slice {x_center} is outside the volume (0..{nx - 1} along L-R)")
    offsets = check_channel_offsets(channel_offsets_mm, "channel_offsets_mm")
    xs = slab_indices(x_center, nx, zooms[0], slab_thickness_mm)
    planes = [vol[list(slab_indices(xc, nx, zooms[0], slab_thickness_mm))].mean(axis=0)
              for xc in channel_centres(x_center, nx, zooms[0], offsets)]
    slabs = [resample_plane(plane, zooms[1], zooms[2], spacing_mm) for plane in planes]
    ratio_y, ratio_z = slabs[0][1:]
    centre = centre_channel(offsets)
    raw = slabs[0][0] if len(slabs) == 1 else np.stack([slab[0] for slab in slabs])
    geometry = SlabGeometry(
        x_center=int(x_center),
        x_indices=xs,
        ny=ny,
        nz=nz,
        ratio_y=ratio_y,
        ratio_z=ratio_z,
        height=raw.shape[-2],
        width=raw.shape[-1],
        spacing_mm=spacing_mm,
    )
    image = pad_to_multiple(normalise_channels(raw, centre, low_percentile, high_percentile), size_multiple)
    log.debug("slab: x=%d (%d slices), %s px at %.2f mm, offsets %s mm", x_center, len(xs),
              "x".join(map(str, raw.shape)), spacing_mm, list(offsets))
    return PreparedSlab(image=image, geometry=geometry, raw=raw, centre=centre)


def prepare_input(contract: InputContract, vol: np.ndarray, zooms: tuple[float, float, float],
                  x_center: int | None = None, size_multiple: int | None = None) -> PreparedSlab:
    """The network input of a canonical volume ``(X, Y, Z)`` (L-A-S) as a model's input contract
    says: :func:`prepare_slab` with the contract's spacing, padding (``size_multiple`` overrides
    it: 1 = none, for training crops), slab, percentiles and channel offsets; ``x_center`` None
    = by symmetry. The image is ``(H, W)`` for a one-channel contract, ``(C, H, W)`` otherwise."""
    multiple = contract.size_multiple if size_multiple is None else int(size_multiple)
    return prepare_slab(vol, zooms, contract.pixel_spacing_mm, multiple, contract.slab_thickness_mm, x_center,
                        contract.low_percentile, contract.high_percentile, contract.channel_offsets_mm)
