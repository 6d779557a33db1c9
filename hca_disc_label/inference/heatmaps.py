"""Heatmap geometry shared by training, decoding and tests (numpy only).

A heatmap pixel ``(i, j)`` of a network with output stride ``s`` has its centre at
model-frame pixel ``(i*s + (s-1)/2, j*s + (s-1)/2)``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np


def model_to_heatmap(points: np.ndarray, stride: int) -> np.ndarray:
    """Convert model-frame ``(..., 2)`` (row, col) pixels to heatmap pixels."""
    return (np.asarray(points, dtype=float) - (stride - 1) / 2.0) / stride


def heatmap_to_model(points: np.ndarray, stride: int) -> np.ndarray:
    """Convert heatmap ``(..., 2)`` (row, col) pixels to model-frame pixels."""
    return np.asarray(points, dtype=float) * stride + (stride - 1) / 2.0


def render_heatmaps(
    points: Mapping[int, tuple[float, float]],
    channel_values: list[int],
    shape: tuple[int, int],
    sigma: float,
) -> np.ndarray:
    """Render one Gaussian (peak 1) per disc in its anatomical channel.

    Args:
        points: SCT value -> (row, col) in heatmap pixels.
        channel_values: channel k holds SCT value ``channel_values[k]``.
        shape: heatmap ``(h, w)``.
        sigma: Gaussian standard deviation in heatmap pixels.

    Returns:
        ``(V, h, w)`` float32 heatmaps; channels of absent discs are zero.
    """
    h, w = shape
    out = np.zeros((len(channel_values), h, w), dtype=np.float32)
    rows = np.arange(h, dtype=np.float32)[:, None]
    cols = np.arange(w, dtype=np.float32)[None, :]
    for k, value in enumerate(channel_values):
        if value not in points:
            continue
        r, c = points[value]
        out[k] = np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2.0 * sigma**2))
    return out


def _parabola_offset(lm: float, l0: float, lp: float) -> float:
    """Vertex offset (in [-0.5, 0.5]) of the parabola through three equally spaced samples."""
    denom = lm - 2.0 * l0 + lp
    if denom >= 0:
        return 0.0
    return float(np.clip(0.5 * (lm - lp) / denom, -0.5, 0.5))


def refine_peak(channel: np.ndarray, i: int, j: int) -> tuple[float, float]:
    """Sub-pixel peak position around the integer maximum ``(i, j)`` of a heatmap.

    A parabola is fitted through the log of the three samples along each axis; for a
    Gaussian this recovers the centre exactly.
    """
    h, w = channel.shape
    logv = lambda a, b: float(np.log(max(channel[a, b], 1e-6)))  # noqa: E731
    di = dj = 0.0
    if 0 < i < h - 1:
        di = _parabola_offset(logv(i - 1, j), logv(i, j), logv(i + 1, j))
    if 0 < j < w - 1:
        dj = _parabola_offset(logv(i, j - 1), logv(i, j), logv(i, j + 1))
    return i + di, j + dj


def local_maxima(channel: np.ndarray, min_value: float, radius: int, max_peaks: int) -> list[tuple[int, int, float]]:
    """Strongest local maxima of one heatmap channel.

    Args:
        channel: ``(h, w)`` heatmap.
        min_value: ignore maxima below this value.
        radius: non-maximum suppression radius (heatmap pixels).
        max_peaks: keep at most this many, strongest first.

    Returns:
        ``[(i, j, value), ...]`` integer heatmap positions, strongest first.
    """
    peaks = (channel == _window_max(channel, radius)) & (channel >= min_value)
    idx = np.argwhere(peaks)
    if idx.size == 0:
        return []
    values = channel[idx[:, 0], idx[:, 1]]
    order = np.argsort(-values)[:max_peaks]
    return [(int(idx[k, 0]), int(idx[k, 1]), float(values[k])) for k in order]


def _window_max(channel: np.ndarray, radius: int) -> np.ndarray:
    """Maximum over the ``(2 radius + 1)``-square window around every pixel of ``(h, w)``
    (outside the array counts as -inf). In numpy: ``scipy.ndimage`` costs a third of a second
    of start-up on every run."""
    size = 2 * radius + 1
    padded = np.pad(np.asarray(channel, dtype=np.float64), radius, mode="constant", constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(padded, (size, size)).max(axis=(-2, -1))
