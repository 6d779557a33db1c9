"""The mid-sagittal plane by left-right mirror symmetry (pure numpy): the slab's centre slice
for the whole image, and each disc's own level's plane.

Frame: canonical ``vol[x, y, z]`` (x -> left, y -> anterior, z -> superior; see
conventions.py); every x returned is a canonical x index. :mod:`hca_disc_label.preprocessing`
centres its slab on :func:`find_midsagittal_slice`; the labelling core places each disc on
:func:`local_midsagittal_x`.
"""

from __future__ import annotations

import numpy as np


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


LOCAL_SEARCH_MM = 12.0
"""How far from the global plane a disc's own level's plane may lie. A scoliotic spine puts a
level's tip up to 18 mm beside the sacral midline (the engine's coronal curves, 3-18 mm):
on 59 seeded synthetic volumes (14 curved) the discs placed more than 7 mm beside their tip
go from 8 to 4 when the search widens from 8 to 12 mm (16 mm: also 4), straight spines and
the 58 real ``bids-train`` scans unchanged (3D error median 1.38 -> 1.37 mm, >7 mm: 5 -> 5;
``python benchmarks/lateral_placement.py --synthetic 60 --seed 7``)."""

LOCAL_HALF_HEIGHT_MM = 20.0
"""Half height (S-I) of the block whose symmetry finds a disc's own plane: the disc with half of
each neighbouring vertebral body. Against 15 mm, on the same images (search 12 mm,
``--height 15,20,25,30``): real ``bids-train`` discs over 4 mm from their labels 14 -> 13 and
over 7 mm 5 -> 4 (the one left out, `sub-zuk04` T11/T12, was 9 mm beside its label on the
thoracolumbar curve; every 3D error over 7 mm left is a miscounted disc), synthetic straight
and curved spines unchanged; 25 and 30 mm do no better on the real scans and worse on curved
synthetic ones (discs over 4 mm: 5 -> 6, 8)."""


def local_midsagittal_x(
    vol: np.ndarray,
    zooms: tuple[float, float, float],
    x_center: int,
    y: float,
    z: float,
    search_mm: float = LOCAL_SEARCH_MM,
    half_depth_mm: float = 30.0,
    half_height_mm: float = LOCAL_HALF_HEIGHT_MM,
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
