"""Anti-aliased rasterisation of the synthetic anatomy (vectorised numpy, no C extension).

Two primitives cover everything the scene needs:

* :class:`Poly`: a closed polygon (vertebral body, disc, process, organ...);
* :class:`Band`: the region between two walls ``va(u) <= v <= vb(u)`` over a range of ``u``
  (spinal canal, cord, body layers): the long structures that follow the spine.

All items of an image are rasterised together by :func:`batch_coverage`: every edge emits a
signed crossing event on each sub-row it spans (``SUPERSAMPLE`` sub-rows per pixel row for
polygons, one for near-vertical bands), events are accumulated per cell with ``bincount`` and a
row-wise cumulative sum gives exact horizontal coverage in each item's bounding box, so the
Python overhead is paid once per image rather than once per item. Items are then composited in
order ("over", coverage as alpha): partial volume at every edge for free, and a tissue-class
map records which class covers at least half of each pixel. Large soft-tissue background
layers can be painted at half resolution (:meth:`Canvas.paint_background`).

Geometry is in mm, ``(u, v)`` = (inferior, posterior); the :class:`Canvas` maps mm to pixels:
pixel ``(r, c)`` has its centre at ``u = u0 + r * su``, ``v = v0 + c * sv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

SUPERSAMPLE = 4
"""Sub-rows per pixel row for polygons (horizontal coverage is exact)."""

BAND_SUPERSAMPLE = 1
"""Sub-rows per pixel row for bands: their walls are near-vertical and coverage along a row is
exact, so one sample per row suffices (ends taper or are capped by other items)."""

Pattern = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``f(u_mm, v_mm) -> multiplier`` evaluated at pixel centres of an item's bounding box."""


@dataclass
class Poly:
    """A filled polygon.

    Attributes:
        pts: ``(M, 2)`` vertices (u, v) in mm, either orientation, closed implicitly.
        tissue: class code (see :class:`~.tissues.Tissue`).
        shade: multiplier of the tissue's intensity for this object (per-object variation).
        pattern: optional ``f(u, v)`` multiplier map (texture, gradient).
        alpha: opacity (1 = replaces what is below).
        supersample: sub-rows per pixel row (None = ``SUPERSAMPLE``; 1 for big soft shapes).
    """

    pts: np.ndarray
    tissue: int
    shade: float = 1.0
    pattern: Pattern | None = None
    alpha: float = 1.0
    supersample: int | None = None


@dataclass
class Band:
    """The region ``va(u) <= v <= vb(u)`` for ``u_top <= u <= u_bot``.

    Attributes:
        u: ``(N,)`` strictly increasing sample positions (mm) of the walls.
        va, vb: ``(N,)`` anterior and posterior wall positions (mm); where ``vb <= va`` the
            band is empty.
        tissue, shade, pattern, alpha: as for :class:`Poly`.
        u_top, u_bot: vertical extent (mm); defaults to the sampled range.
    """

    u: np.ndarray
    va: np.ndarray
    vb: np.ndarray
    tissue: int
    shade: float = 1.0
    pattern: Pattern | None = None
    alpha: float = 1.0
    u_top: float | None = None
    u_bot: float | None = None


Item = Union[Poly, Band]


@dataclass
class Canvas:
    """A raster in the model 2D frame being painted.

    Attributes:
        shape: ``(H, W)`` pixels.
        u0, v0: mm position of pixel ``(0, 0)``'s centre.
        su, sv: pixel size (mm) along rows (u) and columns (v).
        values: ``(N_TISSUES,)`` intensity of each tissue class for this image.
        image: ``(H, W)`` float32 painted intensities.
        classes: ``(H, W)`` uint8 tissue classes.
    """

    shape: tuple[int, int]
    u0: float
    v0: float
    su: float
    sv: float
    values: np.ndarray
    image: np.ndarray = field(init=False)
    classes: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.image = np.zeros(self.shape, dtype=np.float32)
        self.classes = np.zeros(self.shape, dtype=np.uint8)

    # -- coordinates ---------------------------------------------------------------------
    def to_px(self, uv: np.ndarray) -> np.ndarray:
        """mm ``(..., 2)`` (u, v) -> pixel ``(..., 2)`` (row, col)."""
        uv = np.asarray(uv, dtype=float)
        return np.stack([(uv[..., 0] - self.u0) / self.su, (uv[..., 1] - self.v0) / self.sv], axis=-1)

    def bounds_mm(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """``(u_min, u_max, v_min, v_max)`` of the canvas in mm (pixel edges, plus margin)."""
        h, w = self.shape
        return (self.u0 - 0.5 * self.su - margin, self.u0 + (h - 0.5) * self.su + margin,
                self.v0 - 0.5 * self.sv - margin, self.v0 + (w - 0.5) * self.sv + margin)

    # -- painting ------------------------------------------------------------------------
    def paint(self, item: Item) -> None:
        """Composite one item over the canvas."""
        self.paint_all([item])

    def paint_all(self, items: list[Item]) -> None:
        """Composite items in order (later items over earlier ones).

        Coverage of all items is computed in one vectorised pass (:func:`batch_coverage`),
        then composited one by one.
        """
        polys, sss = [], []
        for item in items:
            if isinstance(item, Band):
                polys.append(_band_polygon(item))
                sss.append(BAND_SUPERSAMPLE)
            else:
                polys.append(item.pts)
                sss.append(item.supersample or SUPERSAMPLE)
        origin = np.array([self.u0, self.v0])
        inv = np.array([1.0 / self.su, 1.0 / self.sv])
        for item, hit in zip(items, batch_coverage(polys, sss, self.shape, origin, inv)):
            if hit is not None:
                self._composite(item, *hit)

    def paint_background(self, items: list[Item]) -> None:
        """Paint soft-tissue background layers at half resolution, then upsample into the canvas.

        Big smooth layers (body wall, cavities, organs, muscles) cost most of the painting
        and are mostly covered later; at half resolution they cost a quarter, and their
        blurred edges are invisible after the acquisition blur. Replaces the canvas content.
        """
        h, w = self.shape
        if h * w < 12000 or h < 16 or w < 16:
            self.paint_all(items)
            return
        half = Canvas(((h + 1) // 2, (w + 1) // 2), self.u0 + 0.5 * self.su, self.v0 + 0.5 * self.sv,
                      2.0 * self.su, 2.0 * self.sv, self.values)
        half.paint_all(items)
        self.image = _upsample2(half.image)[:h, :w].astype(np.float32)
        self.classes = np.repeat(np.repeat(half.classes, 2, axis=0), 2, axis=1)[:h, :w].copy()

    def _composite(self, item: Item, r0: int, c0: int, cov: np.ndarray) -> None:
        h, w = cov.shape
        value = float(self.values[item.tissue]) * item.shade
        if item.pattern is not None:
            uu = self.u0 + (r0 + np.arange(h))[:, None] * self.su
            vv = self.v0 + (c0 + np.arange(w))[None, :] * self.sv
            value = value * item.pattern(np.broadcast_to(uu, (h, w)), np.broadcast_to(vv, (h, w)))
        if item.alpha != 1.0:
            cov = cov * item.alpha
        region = self.image[r0:r0 + h, c0:c0 + w]
        region += (value - region) * cov
        cls = self.classes[r0:r0 + h, c0:c0 + w]
        cls[cov >= 0.5] = item.tissue


def _upsample2(img: np.ndarray) -> np.ndarray:
    """Bilinear 2x upsampling where each coarse pixel covers a 2 x 2 block of fine pixels."""
    def along(a: np.ndarray, axis: int) -> np.ndarray:
        n = a.shape[axis]
        prev = np.take(a, np.concatenate([[0], np.arange(n - 1)]), axis=axis)
        nxt = np.take(a, np.concatenate([np.arange(1, n), [n - 1]]), axis=axis)
        even = 0.75 * a + 0.25 * prev
        odd = 0.75 * a + 0.25 * nxt
        out_shape = list(a.shape)
        out_shape[axis] *= 2
        out = np.empty(out_shape, dtype=a.dtype)
        idx = [slice(None)] * a.ndim
        idx[axis] = slice(0, None, 2)
        out[tuple(idx)] = even
        idx[axis] = slice(1, None, 2)
        out[tuple(idx)] = odd
        return out
    return along(along(img, 0), 1)


def _band_polygon(band: Band) -> np.ndarray:
    """A band as a closed polygon (u, v) mm; empty stretches (vb <= va) get zero width."""
    u, va, vb = band.u, band.va, band.vb
    if band.u_top is not None or band.u_bot is not None:
        lo = band.u[0] if band.u_top is None else max(band.u_top, band.u[0])
        hi = band.u[-1] if band.u_bot is None else min(band.u_bot, band.u[-1])
        keep = (u > lo) & (u < hi)
        u = np.concatenate([[lo], u[keep], [hi]])
        va = np.interp(u, band.u, band.va)
        vb = np.interp(u, band.u, band.vb)
    vb = np.maximum(vb, va)
    return np.concatenate([np.stack([u, va], axis=-1), np.stack([u[::-1], vb[::-1]], axis=-1)])


@dataclass
class _Boxes:
    """Where each polygon's coverage lives in one flat buffer.

    Polygon ``i`` covers rows ``r0[i]:r1[i]`` and columns ``c0[i]:c1[i]`` (pixels); its block
    of the buffer is ``n_row[i]`` rows of ``stride[i]`` cells (one spare column) from
    ``base[i]``, sampled on ``n_sub[i]`` sub-rows. Vertices are in pixels (row, col).
    """

    ys: np.ndarray
    xs: np.ndarray
    sizes: np.ndarray
    starts: np.ndarray
    r0: np.ndarray
    r1: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    ss: np.ndarray
    visible: np.ndarray
    n_sub: np.ndarray
    n_row: np.ndarray
    stride: np.ndarray
    block: np.ndarray
    base: np.ndarray
    total_size: int


def _boxes(polys: list[np.ndarray], supersample: list[int], shape: tuple[int, int], origin: np.ndarray | None,
           inv_spacing: np.ndarray | None) -> _Boxes:
    """Bounding boxes clipped to the image and their places in the buffer."""
    height, width = shape
    sizes = np.array([len(p) for p in polys])
    verts = np.concatenate(polys, axis=0)
    if origin is not None:
        verts = (verts - origin) * inv_spacing
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ys, xs = verts[:, 0], verts[:, 1]
    r0 = np.maximum(0, np.floor(np.minimum.reduceat(ys, starts) + 0.5)).astype(np.int64)
    r1 = np.minimum(height, np.floor(np.maximum.reduceat(ys, starts) + 0.5) + 1).astype(np.int64)
    c0 = np.maximum(0, np.floor(np.minimum.reduceat(xs, starts) + 0.5)).astype(np.int64)
    c1 = np.minimum(width, np.floor(np.maximum.reduceat(xs, starts) + 0.5) + 1).astype(np.int64)
    ss = np.asarray(supersample, dtype=np.int64)
    visible = (r1 > r0) & (c1 > c0) & (sizes >= 3)
    n_row = np.where(visible, r1 - r0, 0)
    stride = np.where(visible, c1 - c0 + 1, 0)
    block = n_row * stride
    return _Boxes(ys, xs, sizes, starts, r0, r1, c0, c1, ss, visible, np.where(visible, (r1 - r0) * ss, 0), n_row,
                  stride, block, np.concatenate([[0], np.cumsum(block)[:-1]]), int(block.sum()))


def _accumulate(bx: _Boxes) -> np.ndarray | None:
    """Flat coverage buffer (``bx.total_size``, in [0, 1]), or None when no edge crosses a sub-row."""
    n_verts = len(bx.ys)
    poly_of = np.repeat(np.arange(len(bx.sizes)), bx.sizes)
    nxt = np.arange(n_verts) + 1
    nxt[bx.starts + bx.sizes - 1] = bx.starts
    vis_v = bx.visible[poly_of]
    pid = poly_of[vis_v]
    yy = (bx.ys - (bx.r0[poly_of] - 0.5)) * bx.ss[poly_of] - 0.5
    xx = bx.xs - (bx.c0[poly_of] - 0.5)
    y0, y1 = yy[vis_v], yy[nxt][vis_v]
    x0, x1 = xx[vis_v], xx[nxt][vis_v]
    lo = np.maximum(np.ceil(np.minimum(y0, y1)), 0).astype(np.int64)
    hi = np.minimum(np.ceil(np.maximum(y0, y1)) - 1, bx.n_sub[pid] - 1).astype(np.int64)
    count = np.maximum(hi - lo + 1, 0)
    total = int(count.sum())
    if total == 0:
        return None
    edge = np.repeat(np.arange(len(y0)), count)
    k = lo[edge] + (np.arange(total) - np.repeat(np.cumsum(count) - count, count))
    dy = (y1 - y0)[edge]
    x = x0[edge] + (k - y0[edge]) * (x1 - x0)[edge] / dy
    e_pid = pid[edge]
    # Sub-rows are averaged into their pixel row directly (weight 1 / ss): the winding of a
    # simple polygon has one sign, so the mean of |winding| is |mean winding|.
    w = np.sign(dy) / bx.ss[e_pid]
    n_col = bx.stride[e_pid] - 1
    cell = np.floor(x).astype(np.int64)
    frac = cell + 1.0 - x
    row_base = bx.base[e_pid] + (k // bx.ss[e_pid]) * bx.stride[e_pid]
    inside = (cell >= 0) & (cell < n_col)
    left = cell < 0
    # bincount returns int64 when no weight is selected (an edge run left of every cell)
    a = np.bincount((row_base + cell)[inside], weights=(w * frac)[inside], minlength=bx.total_size).astype(float)
    keep = inside | left
    b = np.bincount((row_base + np.where(left, 0, cell + 1))[keep], weights=w[keep],
                    minlength=bx.total_size).astype(float)
    # Row-wise cumulative sum of b: global cumsum minus its value just before each row.
    cb = np.cumsum(b)
    row_len = np.repeat(bx.stride, bx.n_row)
    row_end = np.cumsum(row_len)
    before = np.concatenate([[0.0], cb[row_end[:-1] - 1]])
    a += cb
    a -= np.repeat(before, row_len)
    cov_flat = np.abs(a, out=a)
    np.minimum(cov_flat, 1.0, out=cov_flat)
    return cov_flat


def batch_coverage(polys: list[np.ndarray], supersample: list[int], shape: tuple[int, int],
                   origin: np.ndarray | None = None,
                   inv_spacing: np.ndarray | None = None) -> list[tuple[int, int, np.ndarray] | None]:
    """Anti-aliased coverage of many polygons at once.

    Args:
        polys: polygons, each ``(M_i, 2)``, closed implicitly: in pixel coordinates (row, col),
            or in mm when ``origin`` / ``inv_spacing`` are given (pixel = (mm - origin) * inv).
        supersample: sub-rows per pixel row for each polygon.
        shape: ``(H, W)`` of the image.
        origin, inv_spacing: optional mm -> pixel mapping applied to all vertices at once.

    Returns:
        Per polygon ``(r0, c0, coverage (h, w))`` in its bounding box clipped to the image,
        or None when it does not touch the image. Coverage is exact horizontally and sampled
        on ``supersample`` sub-rows vertically (non-zero winding, so nested loops add up).
    """
    out: list[tuple[int, int, np.ndarray] | None] = [None] * len(polys)
    if len(polys) == 0:
        return out
    bx = _boxes(polys, supersample, shape, origin, inv_spacing)
    if not bx.visible.any():
        return out
    cov_flat = _accumulate(bx)
    if cov_flat is None:
        return out
    for i in np.flatnonzero(bx.visible):
        rows, cols = int(bx.r1[i] - bx.r0[i]), int(bx.c1[i] - bx.c0[i])
        cov = cov_flat[bx.base[i]:bx.base[i] + bx.block[i]].reshape(rows, cols + 1)[:, :cols]
        out[i] = (int(bx.r0[i]), int(bx.c0[i]), cov)
    return out
