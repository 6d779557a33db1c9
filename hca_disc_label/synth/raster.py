"""Anti-aliased rasterisation of the synthetic anatomy (vectorised numpy, no C extension).

Two primitives cover everything the scene needs:

* :class:`Poly`: a closed polygon (vertebral body, disc, process, organ...). Scan-line fill
  with exact horizontal coverage and ``SUPERSAMPLE`` sub-rows per pixel row, evaluated only in
  the polygon's bounding box, so cost follows the object's size.
* :class:`Band`: a region between two walls ``va(u) <= v <= vb(u)`` over a range of ``u``
  (spinal canal, cord, body layers): the long tubular structures that follow the spine. One
  interval per sub-row, walls interpolated in u, so a 700 mm canal costs a few rows of work.

Painting composites the primitives in order ("over" with the coverage as alpha): partial
volume at every edge for free, and a tissue-class map records which class covers at least
half of each pixel.

Geometry is in mm, ``(u, v)`` = (inferior, posterior); the :class:`Canvas` maps mm to pixels:
pixel ``(r, c)`` has its centre at ``u = u0 + r * su``, ``v = v0 + c * sv``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

SUPERSAMPLE = 4
"""Sub-rows per pixel row for polygons (horizontal coverage is exact)."""

BAND_SUPERSAMPLE = 2
"""Sub-rows per pixel row for bands (their walls are near-vertical)."""

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
        if isinstance(item, Band):
            hit = _band_coverage(item, self)
        else:
            hit = _poly_coverage(self.to_px(item.pts), self.shape, item.supersample or SUPERSAMPLE)
        if hit is None:
            return
        r0, c0, cov = hit
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

    def paint_all(self, items: list[Item]) -> None:
        """Composite items in order (later items over earlier ones)."""
        for item in items:
            self.paint(item)


def _span_coverage(a: np.ndarray, b: np.ndarray, c0: int, c1: int) -> np.ndarray:
    """Coverage of pixel columns ``c0..c1-1`` by spans ``[a, b]`` (pixel units).

    Args:
        a, b: ``(S, K)`` span starts / ends per sub-row (empty spans have ``b <= a``).

    Returns:
        ``(S, c1 - c0)`` coverage in [0, 1] (sum over the K spans).
    """
    left = np.arange(c0, c1, dtype=float) - 0.5
    lo = np.maximum(a[:, :, None], left[None, None, :])
    hi = np.minimum(b[:, :, None], left[None, None, :] + 1.0)
    return np.clip(hi - lo, 0.0, 1.0).sum(axis=1)


def _poly_coverage(px: np.ndarray, shape: tuple[int, int], ss: int = SUPERSAMPLE) -> tuple[int, int, np.ndarray] | None:
    """Coverage of a polygon given in pixel coordinates (row, col), in its bounding box.

    Returns:
        ``(r0, c0, coverage (h, w))`` clipped to the image, or None when outside it.
    """
    height, width = shape
    ys, xs = px[:, 0], px[:, 1]
    r0 = max(0, int(np.floor(ys.min() + 0.5)))
    r1 = min(height, int(np.floor(ys.max() + 0.5)) + 1)
    c0 = max(0, int(np.floor(xs.min() + 0.5)))
    c1 = min(width, int(np.floor(xs.max() + 0.5)) + 1)
    if r1 <= r0 or c1 <= c0:
        return None
    sub = r0 - 0.5 + (np.arange((r1 - r0) * ss) + 0.5) / ss
    y0, x0 = ys, xs
    y1, x1 = np.roll(ys, -1), np.roll(xs, -1)
    yy = sub[:, None]
    crosses = (y0[None, :] <= yy) != (y1[None, :] <= yy)
    dy = np.where(y1 == y0, 1.0, y1 - y0)
    xcross = x0[None, :] + (yy - y0[None, :]) / dy[None, :] * (x1 - x0)[None, :]
    big = 1e9
    xcross = np.where(crosses, xcross, big)
    xcross.sort(axis=1)
    k = int(crosses.sum(axis=1).max())
    if k < 2:
        return None
    k -= k % 2
    a, b = xcross[:, 0:k:2], xcross[:, 1:k:2]
    cov = _span_coverage(a, b, c0, c1)
    cov = cov.reshape(r1 - r0, ss, c1 - c0).mean(axis=1)
    return r0, c0, cov


def _band_coverage(band: Band, canvas: Canvas) -> tuple[int, int, np.ndarray] | None:
    """Coverage of a :class:`Band` on the canvas, in its bounding box."""
    u_top = band.u[0] if band.u_top is None else max(band.u_top, band.u[0])
    u_bot = band.u[-1] if band.u_bot is None else min(band.u_bot, band.u[-1])
    if u_bot <= u_top:
        return None
    height, width = canvas.shape
    r_top = (u_top - canvas.u0) / canvas.su
    r_bot = (u_bot - canvas.u0) / canvas.su
    r0 = max(0, int(np.floor(r_top + 0.5)))
    r1 = min(height, int(np.floor(r_bot + 0.5)) + 1)
    if r1 <= r0:
        return None
    ss = BAND_SUPERSAMPLE
    sub = r0 - 0.5 + (np.arange((r1 - r0) * ss) + 0.5) / ss
    sub_u = canvas.u0 + sub * canvas.su
    inside = (sub >= r_top) & (sub <= r_bot)
    a = (np.interp(sub_u, band.u, band.va) - canvas.v0) / canvas.sv
    b = (np.interp(sub_u, band.u, band.vb) - canvas.v0) / canvas.sv
    b = np.where(inside, b, a)
    valid = b > a
    if not valid.any():
        return None
    c0 = max(0, int(np.floor(a[valid].min() + 0.5)))
    c1 = min(width, int(np.floor(b[valid].max() + 0.5)) + 1)
    if c1 <= c0:
        return None
    cov = _span_coverage(a[:, None], b[:, None], c0, c1)
    cov = cov.reshape(r1 - r0, ss, c1 - c0).mean(axis=1)
    return r0, c0, cov
