"""One training image in the model frame, and the fields of view cut from it.

A :class:`TrainSample` carries its image, its points (discs, landmarks) and which targets are
known; every cut here moves the points into the new window and updates that knowledge
(a point that leaves the window is known absent, one within :data:`EDGE_MARGIN_PX` of an edge
is unknown). Used by :mod:`hca_disc_label.training.data` to draw samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hca_disc_label.conventions import DISC_VALUES

EDGE_MARGIN_PX = 3.0
"""Discs closer than this to a crop edge (model px) have an unknown target (half visible)."""


@dataclass
class TrainSample:
    """One training image.

    Attributes:
        image: ``(H, W)`` float32 in [0, 1], model frame; ``(C, H, W)`` with C input channels.
        discs: SCT value -> (row, col) in model pixels, discs present in the image.
        known: values whose target is known: present ones, and absent ones known to be absent
            (synthetic data: all values; real data: labelled ones, those far outside the FOV,
            and visible unlabelled ones outside their ``unsure`` region).
        unsure: value -> ``(row, col, radius)`` model px: where an unlabelled but probably
            visible disc of a real image should be; its channel's target is unknown inside
            that disc-shaped region and zero elsewhere.
        landmarks: landmark code (:data:`~hca_disc_label.conventions.LANDMARKS`) ->
            ``(row, col)`` model px, landmarks present in the image; ``known`` also holds the
            codes whose target is known (synthetic: all; real: those known to be out of view).
    """

    image: np.ndarray
    discs: dict[int, tuple[float, float]]
    known: set[int] = field(default_factory=lambda: set(DISC_VALUES))
    unsure: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    landmarks: dict[int, tuple[float, float]] = field(default_factory=dict)


# ----------------------------------------------------------------------------- fields of view


def crop_to(sample: TrainSample, rng: np.random.Generator, height: int, width: int) -> TrainSample:
    """Random crop/pad to ``(height, width)``; discs leaving the window become known-absent,
    discs within a few pixels of an edge become unknown."""
    h, w = sample.image.shape[-2:]
    top = int(rng.integers(min(0, h - height), max(0, h - height) + 1))
    left = int(rng.integers(min(0, w - width), max(0, w - width) + 1))
    return window(sample, top, left, height, width)


def window(sample: TrainSample, top: int, left: int, height: int, width: int) -> TrainSample:
    """The ``(height, width)`` window of ``sample`` from ``(top, left)`` (model px; zero outside
    the image; every channel alike), with the points and target knowledge of :func:`crop_to`."""
    h, w = sample.image.shape[-2:]
    out = np.zeros((*sample.image.shape[:-2], height, width), dtype=np.float32)
    src_r0, src_c0 = max(top, 0), max(left, 0)
    src_r1, src_c1 = min(top + height, h), min(left + width, w)
    out[..., src_r0 - top:src_r1 - top, src_c0 - left:src_c1 - left] = \
        sample.image[..., src_r0:src_r1, src_c0:src_c1]
    known = set(sample.known)
    discs = _points_in_crop(sample.discs, known, top, left, height, width, (h, w))
    landmarks = _points_in_crop(sample.landmarks, known, top, left, height, width, (h, w))
    unsure = {v: (r - top, c - left, rad) for v, (r, c, rad) in sample.unsure.items()}
    return TrainSample(out, discs, known, unsure, landmarks)


def _points_in_crop(points: dict[int, tuple[float, float]], known: set[int], top: int, left: int, height: int,
                    width: int, shape: tuple[int, int]) -> dict[int, tuple[float, float]]:
    """Points kept by a crop (moved into its frame); those near an edge leave ``known``."""
    h, w = shape
    kept = {}
    for v, (r, c) in points.items():
        r, c = r - top, c - left
        # a point is visible only where image data exists (padding hides it too)
        inside = (max(0, -top) - 0.5 <= r <= min(height, h - top) - 0.5) and (
            max(0, -left) - 0.5 <= c <= min(width, w - left) - 0.5)
        edge = min(r - max(0, -top), min(height, h - top) - 1 - r, c - max(0, -left), min(width, w - left) - 1 - c)
        if inside and edge >= EDGE_MARGIN_PX:
            kept[v] = (r, c)
        elif inside or edge > -EDGE_MARGIN_PX:
            known.discard(v)
    return kept


FOV_CROP_FRACTION = (0.45, 0.9)
"""Range of the kept share of a real image's height under ``real_fov_crop``."""


L5_CUT_RANGE = (0.25, 0.75)
"""Where :func:`l5_cut` puts a real image's lower edge: this share of the way from the L4/L5
tip down to the L5/S1 tip (through the L5 body, the sacrum out of view)."""


def l5_cut(sample: TrainSample, rng: np.random.Generator) -> TrainSample:
    """The sample's field of view ending inside L5 (needs L4/L5 and L5/S1 labelled; else the
    sample as is): the lowest disc in view is then L4/L5, the case where a model that learned
    "the lowest disc above a sacrum is L5/S1" numbers one level too caudal."""
    if 24 not in sample.discs or 25 not in sample.discs:
        return sample
    r24, r25 = sample.discs[24][0], sample.discs[25][0]
    bottom = int(round(r24 + rng.uniform(*L5_CUT_RANGE) * (r25 - r24)))
    if bottom <= 8:
        return sample
    return window(sample, 0, 0, bottom, sample.image.shape[-1])


S1_CUT_RANGE = (0.15, 0.7)
"""Where :func:`s1_cut` puts a real image's lower edge: this share of the L4/L5 -> L5/S1 tip
distance below the L5/S1 tip (inside the S1 body, above the S1/S2 remnant)."""


def s1_cut(sample: TrainSample, rng: np.random.Generator) -> TrainSample:
    """The sample's field of view ending inside S1 (needs L4/L5 and L5/S1 labelled; else the
    sample as is): L5/S1 is the lowest disc in view, a few mm above the lower edge and still a
    known target. Real fields cut there are numbered one level low when the edge disc is
    dropped and L4/L5 takes its value; crops of :func:`crop_to` rarely end there."""
    if 24 not in sample.discs or 25 not in sample.discs:
        return sample
    r24, r25 = sample.discs[24][0], sample.discs[25][0]
    bottom = int(round(r25 + rng.uniform(*S1_CUT_RANGE) * (r25 - r24)))
    if bottom <= 8 or bottom >= sample.image.shape[-2]:
        return sample
    return window(sample, 0, 0, bottom, sample.image.shape[-1])


def fov_crop(sample: TrainSample, rng: np.random.Generator, keep_bottom: bool = False) -> TrainSample:
    """A random window of the sample's full width and part of its height (see ``DataSpec``);
    ``keep_bottom`` moves only the upper edge."""
    h, w = sample.image.shape[-2:]
    keep = max(8, int(round(h * rng.uniform(*FOV_CROP_FRACTION))))
    if keep_bottom:
        return window(sample, h - keep, 0, keep, w)
    return crop_to(sample, rng, keep, w)
