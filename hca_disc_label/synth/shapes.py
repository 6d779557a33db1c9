"""Small 2D geometry helpers for the synthetic anatomy (pure numpy).

All points are ``(u, v)`` in mm of the sagittal plane: ``u`` increases toward inferior and
``v`` toward posterior, i.e. the model 2D frame's (row, col) axes before division by the pixel
spacing. Angles are in radians; an orientation ``phi`` is the angle of a curve's downward
tangent away from straight-down, positive when it turns posterior.
"""

from __future__ import annotations

import numpy as np


def tangent(phi: float | np.ndarray) -> np.ndarray:
    """Unit vector pointing inferior along a curve of orientation ``phi`` (``(..., 2)``)."""
    phi = np.asarray(phi, dtype=float)
    return np.stack([np.cos(phi), np.sin(phi)], axis=-1)


def posterior(phi: float | np.ndarray) -> np.ndarray:
    """Unit normal pointing posterior for a curve of orientation ``phi`` (``(..., 2)``)."""
    phi = np.asarray(phi, dtype=float)
    return np.stack([-np.sin(phi), np.cos(phi)], axis=-1)


def rotate(points: np.ndarray, angle: float, center: np.ndarray) -> np.ndarray:
    """Rotate ``(N, 2)`` (u, v) points by ``angle`` about ``center``.

    A positive angle turns the downward direction toward posterior (same sense as ``phi``).
    """
    c, s = np.cos(angle), np.sin(angle)
    d = np.asarray(points, dtype=float) - center
    return np.stack([c * d[..., 0] - s * d[..., 1], s * d[..., 0] + c * d[..., 1]], axis=-1) + center


def ellipse(center: np.ndarray, r_u: float, r_v: float, phi: float = 0.0, n: int = 28) -> np.ndarray:
    """Polygon ``(n, 2)`` approximating an ellipse with radii along the rotated u / v axes."""
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    local = np.stack([r_u * np.cos(t), r_v * np.sin(t)], axis=-1)
    return rotate(local, phi, np.zeros(2)) + np.asarray(center, dtype=float)


def chaikin(poly: np.ndarray, iterations: int = 2, closed: bool = True) -> np.ndarray:
    """Round a polygon's corners by Chaikin corner cutting (``iterations`` passes)."""
    pts = np.asarray(poly, dtype=float)
    for _ in range(iterations):
        nxt = np.roll(pts, -1, axis=0) if closed else pts[1:]
        cur = pts if closed else pts[:-1]
        q = 0.75 * cur + 0.25 * nxt
        r = 0.25 * cur + 0.75 * nxt
        inner = np.empty((2 * len(cur), 2))
        inner[0::2], inner[1::2] = q, r
        pts = inner if closed else np.vstack([pts[:1], inner, pts[-1:]])
    return pts


def resample_polyline(points: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample an open polyline at constant arc-length ``step`` (mm).

    Returns:
        ``(s, pts)``: arc lengths ``(K,)`` from the first point and points ``(K, 2)``.
    """
    pts = np.asarray(points, dtype=float)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    keep = np.concatenate([[True], seg > 1e-9])
    pts = pts[keep]
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    new_s = np.arange(0.0, s[-1] + 1e-9, step)
    return new_s, np.stack([np.interp(new_s, s, pts[:, 0]), np.interp(new_s, s, pts[:, 1])], axis=-1)


def smooth_1d(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of a 1D (or ``(K, 2)`` along axis 0) array, edges reflected."""
    if sigma <= 0:
        return np.asarray(values, dtype=float)
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.asarray(values, dtype=float), sigma, axis=0, mode="nearest")


def monotone_u(u: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Drop samples whose ``u`` does not strictly increase (so ``np.interp`` over u is valid)."""
    u = np.asarray(u, dtype=float)
    if len(u) == 0:
        return (u, *(np.asarray(o) for o in others))
    run_max = np.maximum.accumulate(u)
    keep = np.concatenate([[True], u[1:] > run_max[:-1] + 1e-6])
    return (u[keep], *(np.asarray(o)[keep] for o in others))


def bow_at(p0: np.ndarray, p1: np.ndarray, direction: np.ndarray, amount: float, t: np.ndarray) -> np.ndarray:
    """Points at fractions ``t`` along ``p0 -> p1`` bowed by ``amount`` mm along ``direction``.

    The bow is parabolic: ``amount`` at ``t = 0.5``, zero at the ends. Returns ``(len(t), 2)``.
    """
    t = np.asarray(t, dtype=float)
    base = p0[None, :] + t[:, None] * (p1 - p0)[None, :]
    return base + (amount * 4.0 * t * (1.0 - t))[:, None] * np.asarray(direction)[None, :]


def signed_area(poly: np.ndarray) -> float:
    """Shoelace signed area of a closed polygon (sign gives the orientation)."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def shrink(poly: np.ndarray, distance: float) -> np.ndarray:
    """Move each vertex of a (near-convex) polygon inward by ``distance`` mm.

    Vertices move along the bisector of their two edges' inward normals, scaled so edges move
    by ``distance`` (capped at sharp corners). Good enough for the rounded, near-convex shapes
    of bones and discs; not a general polygon offset.
    """
    pts = np.asarray(poly, dtype=float)
    sign = 1.0 if signed_area(pts) > 0 else -1.0
    nxt = np.roll(pts, -1, axis=0) - pts
    prv = pts - np.roll(pts, 1, axis=0)

    def inward(edge: np.ndarray) -> np.ndarray:
        length = np.linalg.norm(edge, axis=1, keepdims=True) + 1e-12
        e = edge / length
        # (u, v) plane: for positive signed area the interior is on the left of each edge.
        return sign * np.stack([-e[:, 1], e[:, 0]], axis=1)

    n1, n2 = inward(prv), inward(nxt)
    bis = n1 + n2
    norm = np.linalg.norm(bis, axis=1, keepdims=True)
    bis = np.where(norm > 1e-9, bis / np.maximum(norm, 1e-9), n1)
    cos_half = np.clip(np.sum(bis * n1, axis=1, keepdims=True), 0.5, 1.0)
    return pts + bis * (distance / cos_half)


def bow_many(p0: np.ndarray, p1: np.ndarray, direction: np.ndarray, amount: np.ndarray,
             t: np.ndarray) -> np.ndarray:
    """Vectorised :func:`bow_at` for B curves.

    Args:
        p0, p1, direction: ``(B, 2)``.
        amount: ``(B,)`` bow heights (mm).
        t: ``(n,)`` fractions shared by all curves, or ``(B, n)`` per curve.

    Returns:
        ``(B, n, 2)`` points.
    """
    t = np.asarray(t, dtype=float)
    if t.ndim == 1:
        t = np.broadcast_to(t, (len(p0), len(t)))
    bow = np.asarray(amount, dtype=float)[:, None] * 4.0 * t * (1.0 - t)
    return p0[:, None, :] + t[..., None] * (p1 - p0)[:, None, :] + bow[..., None] * direction[:, None, :]


def chaikin_many(polys: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Vectorised closed :func:`chaikin` for ``(B, M, 2)`` polygons."""
    pts = np.asarray(polys, dtype=float)
    for _ in range(iterations):
        nxt = np.roll(pts, -1, axis=1)
        out = np.empty((pts.shape[0], 2 * pts.shape[1], 2))
        out[:, 0::2] = 0.75 * pts + 0.25 * nxt
        out[:, 1::2] = 0.25 * pts + 0.75 * nxt
        pts = out
    return pts


def shrink_many(polys: np.ndarray, distance: float | np.ndarray) -> np.ndarray:
    """Vectorised :func:`shrink` for ``(B, M, 2)`` polygons (distance scalar or ``(B,)``)."""
    pts = np.asarray(polys, dtype=float)
    x, y = pts[..., 0], pts[..., 1]
    area = 0.5 * np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1)
    sign = np.where(area > 0, 1.0, -1.0)[:, None, None]
    nxt = np.roll(pts, -1, axis=1) - pts
    prv = pts - np.roll(pts, 1, axis=1)

    def inward(edge: np.ndarray) -> np.ndarray:
        e = edge / (np.linalg.norm(edge, axis=-1, keepdims=True) + 1e-12)
        return sign * np.stack([-e[..., 1], e[..., 0]], axis=-1)

    n1, n2 = inward(prv), inward(nxt)
    bis = n1 + n2
    norm = np.linalg.norm(bis, axis=-1, keepdims=True)
    bis = np.where(norm > 1e-9, bis / np.maximum(norm, 1e-9), n1)
    cos_half = np.clip(np.sum(bis * n1, axis=-1, keepdims=True), 0.5, 1.0)
    dist = np.asarray(distance, dtype=float)
    if dist.ndim == 1:
        dist = dist[:, None, None]
    return pts + bis * (dist / cos_half)
