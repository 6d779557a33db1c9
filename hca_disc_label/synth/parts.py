"""Scene parts: a raster item plus how its sagittal section changes away from the midline.

A 3D volume is rendered slice by slice; a slice at lateral position ``x`` (mm from the
mid-sagittal plane, + = left) sees each structure's section there. Structures are described
by their mid-sagittal shape, a lateral centre ``xc`` and half width ``hw``, and a mode:

* ``"slab"``: unchanged while ``|x - xc| < hw`` (brain, body wall, big organs);
* ``"round"``: the section shrinks like an ellipsoid's, scaled by
  ``f = sqrt(1 - ((x - xc) / hw)^2)`` about the polygon's centroid (heart, bladder, arches);
* ``"ap"``: only the AP size shrinks by ``f``, from the front, along ``axis`` (posterior
  direction): vertebral bodies and discs keep their height and their posterior wall;
* ``"tube"``: a band whose two walls close toward its mid-line by ``f`` (cord, sac,
  airway, aorta).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from hca_disc_label.synth.raster import Band, Item, Poly

_MIN_SECTION = 0.08


@dataclass
class Part:
    """An item with a lateral profile (see the module docstring)."""

    item: Item
    xc: float = 0.0
    hw: float = np.inf
    mode: str = "slab"
    axis: np.ndarray | None = None
    hw_profile: np.ndarray | None = None
    """Optional ``(N,)`` half width per wall sample of a ``"tube"`` band (overrides ``hw``)."""
    xc_profile: np.ndarray | None = None
    """Optional ``(N,)`` lateral centre per wall sample of a band (overrides ``xc``): a band
    that follows a spine curving in the coronal plane (:mod:`~hca_disc_label.synth.coronal`)."""
    background: bool = False
    """Soft-tissue layer that may be painted at half resolution (see ``Canvas.paint_background``)."""


def lateral_factor(x: float, xc: float, hw: float) -> float:
    """Ellipsoidal section factor ``sqrt(1 - ((x - xc) / hw)^2)`` (0 outside)."""
    if not np.isfinite(hw):
        return 1.0
    r = (x - xc) / hw
    return float(np.sqrt(max(0.0, 1.0 - r * r)))


def section(part: Part, x: float) -> Item | None:
    """The item as seen in the sagittal slice at lateral position ``x`` (None if absent)."""
    if (part.hw_profile is not None or part.xc_profile is not None) and isinstance(part.item, Band):
        xc = part.xc if part.xc_profile is None else part.xc_profile
        if part.hw_profile is None and (part.mode == "slab" or not np.isfinite(part.hw)):
            f = np.where(np.abs(x - xc) < part.hw, 1.0, 0.0)
        else:
            hw = part.hw if part.hw_profile is None else part.hw_profile
            r = (x - xc) / np.maximum(hw, 1e-6)
            f = np.sqrt(np.clip(1.0 - r * r, 0.0, 1.0))
        if f.max() < _MIN_SECTION:
            return None
        if f.min() > 0.999:
            return part.item
        band = part.item
        mid = 0.5 * (band.va + band.vb)
        half = 0.5 * (band.vb - band.va) * np.where(f < _MIN_SECTION, -1.0, f)
        return replace(band, va=mid - half, vb=mid + half)
    if part.mode == "slab" or not np.isfinite(part.hw):
        return part.item if abs(x - part.xc) < part.hw else None
    f = lateral_factor(x, part.xc, part.hw)
    if f < _MIN_SECTION:
        return None
    if f > 0.999:
        return part.item
    item = part.item
    if isinstance(item, Band):
        mid = 0.5 * (item.va + item.vb)
        half = 0.5 * (item.vb - item.va) * f
        return replace(item, va=mid - half, vb=mid + half)
    pts = item.pts
    c = pts.mean(axis=0)
    d = pts - c
    if part.mode == "ap":
        # Vertebral bodies and discs narrow from the front off the midline (kidney-shaped
        # sections): the posterior wall, next to the canal, stays put.
        axis = np.array([0.0, 1.0]) if part.axis is None else part.axis
        along = d @ axis
        back = along.max()
        d = d + ((f - 1.0) * (along - back))[:, None] * axis[None, :]
        return replace(item, pts=c + d)
    return replace(item, pts=c + d * f)


def sections(parts: list[Part], x: float) -> list[Item]:
    """Sections of all parts at ``x``, in order, absent ones dropped."""
    out = []
    for part in parts:
        item = section(part, x)
        if item is not None:
            out.append(item)
    return out


def split_sections(parts: list[Part], x: float) -> tuple[list[Item], list[Item]]:
    """Sections at ``x`` split into the leading background layers and the rest (both in order)."""
    n_bg = 0
    while n_bg < len(parts) and parts[n_bg].background:
        n_bg += 1
    return sections(parts[:n_bg], x), sections(parts[n_bg:], x)


def render(parts: list[Part], x: float, canvas) -> None:
    """Paint the section of ``parts`` at lateral position ``x`` on ``canvas`` (background first)."""
    background, foreground = split_sections(parts, x)
    canvas.paint_background(background)
    canvas.paint_all(foreground)


def poly(pts: np.ndarray, tissue: int, shade: float = 1.0, pattern=None, alpha: float = 1.0,
         xc: float = 0.0, hw: float = np.inf, mode: str = "slab", axis: np.ndarray | None = None) -> Part:
    """Shorthand for a polygon :class:`Part`."""
    item = Poly(np.asarray(pts, dtype=float), int(tissue), float(shade), pattern, float(alpha))
    return Part(item, xc, hw, mode, axis)


def band_from_curves(front: np.ndarray, back: np.ndarray, tissue: int, shade: float = 1.0, pattern=None,
                     alpha: float = 1.0, xc: float = 0.0, hw: float = np.inf, mode: str = "slab",
                     u_top: float | None = None, u_bot: float | None = None, step: float = 1.0,
                     hw_along: np.ndarray | None = None) -> Part | None:
    """A :class:`Band` between two wall polylines given as ``(K, 2)`` (u, v) points.

    Each wall is made single-valued in u (samples that fold back are dropped), then both are
    interpolated on a common u grid (``step`` mm). ``hw_along`` (one half width per ``front``
    sample) gives a tube a lateral half width that varies along its length. Returns None when
    the walls do not overlap.
    """
    from hca_disc_label.synth.shapes import monotone_u

    ua, va = monotone_u(front[:, 0], front[:, 1])
    ub, vb = monotone_u(back[:, 0], back[:, 1])
    if len(ua) < 2 or len(ub) < 2:
        return None
    lo, hi = max(ua[0], ub[0]), min(ua[-1], ub[-1])
    if u_top is not None:
        lo = max(lo, u_top)
    if u_bot is not None:
        hi = min(hi, u_bot)
    if hi - lo < 0.5:
        return None
    grid = np.arange(lo, hi + step, step)
    grid[-1] = min(grid[-1], hi)
    grid = np.unique(np.clip(grid, lo, hi))
    if len(grid) < 2:
        return None
    band = Band(grid, np.interp(grid, ua, va), np.interp(grid, ub, vb), int(tissue), float(shade), pattern,
                float(alpha), lo, hi)
    hw_prof = None
    if hw_along is not None:
        hw_prof = np.interp(grid, ua, np.asarray(hw_along, dtype=float)[_monotone_keep(front[:, 0])])
    return Part(band, xc, hw, mode, None, hw_prof)


def _monotone_keep(u: np.ndarray) -> np.ndarray:
    run_max = np.maximum.accumulate(u)
    return np.concatenate([[True], u[1:] > run_max[:-1] + 1e-6])
