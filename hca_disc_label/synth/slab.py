"""2D synthetic slabs: the fast path for training (one mid-sagittal image per call, or one
section per lateral channel offset of a multi-channel model, stacked ``(C, H, W)``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hca_disc_label.synth.anatomy import landmark_points
from hca_disc_label.synth.coronal import plane_shift, sample_curve, tip_shifts
from hca_disc_label.synth.fov import Window, choose_mode, choose_window, crop_target, region_for
from hca_disc_label.synth.parts import render
from hca_disc_label.synth.randomise import choose_look, finish, finish_sections, sample_contrast
from hca_disc_label.synth.raster import Canvas
from hca_disc_label.synth.scene import Subject, build_parts, s_range_for_rows, sample_subject

log = logging.getLogger(__name__)

MAX_LATERAL_MM = 2.5
"""A slab is an average of ~6 mm around the mid-sagittal plane; its section is drawn at a
random lateral offset up to this far from the exact midline."""

SLAB_AVERAGE_P = 0.3
"""Probability that a slab averages two sections 1.5-3.5 mm either side of that offset."""


@dataclass
class SynthSlab:
    """One synthetic mid-sagittal image in the model 2D frame.

    Attributes:
        image: ``(H, W)`` float32 raw intensities (row -> inferior, col -> posterior),
            arbitrary positive scale (the trainer normalises); ``(C, H, W)`` when drawn for
            several channel offsets (channel k = the section at the k-th offset).
        discs: SCT value -> ``(row, col)`` float pixel coordinates of the posterior tip, only
            for discs whose tip lies inside the image (pixel centres are integers).
        spacing_mm: isotropic pixel spacing (mm).
        meta: look, variant, fov mode, region, window (mm), lateral offset, subject traits
            (and ``channel_offsets_mm`` when drawn for several; ``tip_lateral_mm``, each disc's
            distance from the drawn plane, for a curved spine).
        classes: ``(H, W)`` uint8 tissue class map (:class:`~.tissues.Tissue`) of the same
            pixels (of the mid-sagittal channel), before blur and noise.
        landmarks: landmark code (:data:`~hca_disc_label.conventions.LANDMARKS`) ->
            ``(row, col)`` pixels, for those inside the image.
    """

    image: np.ndarray
    discs: dict[int, tuple[float, float]]
    spacing_mm: float
    meta: dict
    classes: np.ndarray | None = field(default=None, repr=False)
    landmarks: dict[int, tuple[float, float]] = field(default_factory=dict)


def draw_subject(rng: np.random.Generator, fov_mode: str | None) -> tuple[str, Subject, Window]:
    """Choose the field of view mode, draw a subject oriented for it, and place the window."""
    mode = choose_mode(rng, fov_mode)
    crop_value = crop_target(rng) if mode == "crop" else None
    subject = sample_subject(rng, region_for(mode, crop_value))
    window = choose_window(rng, mode, subject.spine, subject.head, crop_value)
    return mode, subject, window


def grid_for(window: Window, spacing_row: float, spacing_col: float) -> tuple[int, int, float, float]:
    """Pixel grid covering a window: ``(H, W, u0, v0)`` with pixel (0, 0) centred at (u0, v0)."""
    h = max(8, int(round(window.height / spacing_row)))
    w = max(8, int(round(window.width / spacing_col)))
    return h, w, window.u_top + 0.5 * spacing_row, window.v_left + 0.5 * spacing_col


def tips_in_grid(subject: Subject, shape: tuple[int, int], u0: float, v0: float, su: float,
                 sv: float) -> dict[int, tuple[float, float]]:
    """Disc tips in pixel coordinates, keeping those whose tip lies within the pixel centres."""
    return points_in_grid(subject.spine.tips, shape, u0, v0, su, sv)


def points_in_grid(points: dict[int, np.ndarray], shape: tuple[int, int], u0: float, v0: float, su: float,
                   sv: float) -> dict[int, tuple[float, float]]:
    """``code -> (u, v)`` mm points in pixel coordinates, keeping those within the pixel centres."""
    h, w = shape
    out = {}
    for value, (u, v) in sorted(points.items()):
        r, c = (u - u0) / su, (v - v0) / sv
        if 0.0 <= r <= h - 1 and 0.0 <= c <= w - 1:
            out[int(value)] = (float(r), float(c))
    return out


WindowHook = Callable[[np.random.Generator, Subject, Window], Window]
"""``(rng, subject, drawn window) -> window``: replaces the field of view the engine drew."""


def paint_section(parts: list, x: float, spread: float, grid: tuple[int, int, float, float], spacing_mm: float,
                  values) -> tuple[np.ndarray, np.ndarray]:
    """The clean section of ``parts`` at lateral position ``x`` (mm, + = the subject's left) on a
    ``grid`` (:func:`grid_for`): ``(image (H, W), classes (H, W))``. With ``spread`` > 0 (mm) the
    average of the sections at ``x ± spread`` (an averaged slab: narrow structures blur); the
    class map is kept from the section nearer the midline."""
    h, w, u0, v0 = grid
    canvas = Canvas((h, w), u0, v0, spacing_mm, spacing_mm, values)
    if spread <= 0:
        render(parts, x, canvas)
        return canvas.image, canvas.classes
    near, far = sorted((x - spread, x + spread), key=abs)
    render(parts, near, canvas)
    other = Canvas((h, w), u0, v0, spacing_mm, spacing_mm, values)
    render(parts, far, other)
    return 0.5 * (canvas.image + other.image), canvas.classes


def generate_slab(rng: np.random.Generator, spacing_mm: float = 1.0, fov_mode: str | None = None,
                  look: str | None = None, *, place_window: WindowHook | None = None,
                  persistent_s1s2: float | None = None,
                  channel_offsets_mm: tuple[float, ...] = (0.0,),
                  coronal_curve: float | None = None) -> SynthSlab:
    """Generate one synthetic mid-sagittal slab with exact disc labels.

    Args:
        rng: the only source of randomness (same generator state -> identical output).
        spacing_mm: isotropic pixel spacing of the output (mm).
        fov_mode: one of :data:`~.choices.FOV_MODES`, or None for a random mode.
        look: "t1", "t2", "gre", or None for a random look; domain randomisation is always on.
        place_window: called right after the subject and window are drawn (with the same
            generator) to place another window: benchmark sets with a chosen field of view
            (:mod:`hca_disc_label.evaluation.synthetic_sets`).
        persistent_s1s2: probability that the S1/S2 remnant keeps a visible nucleus (default
            :data:`~.scene.PERSISTENT_S1S2`).
        channel_offsets_mm: lateral offsets (mm, + = left) of the sections drawn, one channel
            each, around the slab's random position; the default ``(0.0,)`` draws one
            ``(H, W)`` image as always. More offsets draw the same subject, window and look at
            each (off-midline structures built too), finished as one acquisition
            (:func:`~.randomise.finish_sections`): ``(C, H, W)``.
        coronal_curve: probability that the spine curves in the coronal plane (default
            :data:`~.coronal.CURVE_P`; redrawn from the curve's own generator).

    Returns:
        The slab, its labels (posterior tips, SCT values), spacing and metadata.
    """
    if spacing_mm <= 0:
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    look = choose_look(rng, look)
    mode, subject, window = draw_subject(rng, fov_mode)
    if place_window is not None:
        window = place_window(rng, subject, window)
    if persistent_s1s2 is not None:
        subject.persistent_s1s2 = persistent_s1s2
    if coronal_curve is not None:
        subject.coronal = sample_curve(subject.spine, subject.detail_seed, p=coronal_curve)
    grid = grid_for(window, spacing_mm, spacing_mm)
    h, w, u0, v0 = grid
    lateral = float(rng.uniform(-MAX_LATERAL_MM, MAX_LATERAL_MM))
    lateral += plane_shift(subject.spine, subject.coronal, window.u_top, window.u_bot)
    contrast = sample_contrast(rng, look)
    offsets = tuple(float(v) for v in channel_offsets_mm)
    parts = build_parts(subject, s_range_for_rows(subject.spine, window.u_top, window.u_bot, margin=60.0),
                        lateral=offsets != (0.0,))
    # an averaged slab (several thin or two thick slices): narrow midline structures blur
    spread = float(rng.uniform(1.5, 3.5)) if rng.random() < SLAB_AVERAGE_P else 0.0
    sections = [paint_section(parts, lateral + off, spread, grid, spacing_mm, contrast.values) for off in offsets]
    classes = sections[offsets.index(0.0) if 0.0 in offsets else 0][1]
    if len(sections) == 1:
        image = finish(rng, sections[0][0], classes, contrast, (spacing_mm, spacing_mm))
    else:
        image = finish_sections(rng, [s[0] for s in sections], [s[1] for s in sections], contrast,
                                (spacing_mm, spacing_mm))
    discs = tips_in_grid(subject, (h, w), u0, v0, spacing_mm, spacing_mm)
    landmarks = points_in_grid(landmark_points(subject.spine), (h, w), u0, v0, spacing_mm, spacing_mm)
    meta = {
        "look": look,
        "variant": contrast.variant,
        "fov_mode": mode,
        "region": window.region,
        "window_mm": [window.u_top, window.u_bot, window.v_left, window.v_right],
        "lateral_mm": lateral,
        "coronal_curve_mm": 0.0 if subject.coronal is None else subject.coronal.amplitude,
        "slab_spread_mm": spread,
        "age": float(subject.spine.params.age),
        "scale": float(subject.spine.params.scale),
        "degeneration": {int(v): float(d) for v, d in zip(range(3, 26), subject.spine.params.degeneration) if d > 0},
    }
    if subject.coronal is not None:  # each disc's lateral distance from the drawn plane
        shifts = tip_shifts(subject.spine, subject.coronal)
        meta["tip_lateral_mm"] = {int(v): shifts[v] - lateral for v in discs}
    if len(offsets) > 1:
        meta["channel_offsets_mm"] = list(offsets)
    return SynthSlab(image, discs, float(spacing_mm), meta, classes, landmarks)
