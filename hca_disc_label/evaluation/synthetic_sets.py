"""The synthetic internal sets: the engine's own subjects, seen through a chosen field of view.

Each set drives :func:`hca_disc_label.synth.slab.generate_slab` and only replaces the window it
draws (``place_window``), so every change of the engine's anatomy or looks shows up here.
Case ``k`` of a set is drawn from ``np.random.default_rng([seed, SET_CODE, k, attempt])`` and
redrawn (next attempt) only when its defining property does not hold (:func:`_check`). Pixel
coordinates are model px (row -> inferior, col -> posterior); mm are the engine's (u, v).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from hca_disc_label.evaluation.internal_case import MAX_ATTEMPTS, SET_CODES, SYNTHETIC_SETS, InternalCase
from hca_disc_label.contract import DEFAULT_CHANNEL_OFFSETS_MM, centre_channel
from hca_disc_label.preprocessing import flip_sagittal, normalise, normalise_channels, resample_plane
from hca_disc_label.synth.fov import Window, horizontal_span
from hca_disc_label.synth.head import foramen_magnum
from hca_disc_label.synth.slab import generate_slab
from hca_disc_label.synth.spine_params import N_MOBILE
from hca_disc_label.synth.tissues import Tissue

DEFAULT_SYNTHETIC_N = 32
"""Images per synthetic set by default."""

SACRUM_EDGE_MM = (1.0, 30.0)
"""Lower edge of ``syn:lumbar-sacrum-edge`` below the L5/S1 tip, along the rows (mm). At least
1 mm so the L5/S1 tip pixel itself stays inside the image."""
ABOVE_SACRUM_MM = (5.0, 3.0)
"""Lower edge of ``syn:lumbar-above-sacrum``: from this far below the L3/L4 tip to this far above
the L5/S1 tip (the L4 or L5 body is cut, the sacrum is out of view)."""
CERVICAL_SPACING_MM = (0.8, 1.0)
"""Acquisition pixel spacing of ``syn:cervical-full`` (then resampled to the model spacing)."""
CERVICAL_TOP_ABOVE_FM_MM = (30.0, 100.0)
"""Top edge of ``syn:cervical-full`` above the foramen magnum (basion): skull base, posterior
fossa and the jaw in view."""
CERVICAL_WIDTH_MM = (180.0, 260.0)
C2_CROP_HEIGHT_MM = (50.0, 120.0)
C2_CROP_WIDTH_MM = (60.0, 140.0)
C2_CROP_MARGIN_MM = 4.0
"""The top edge of ``syn:crop-from-c2`` stays this far above the C2/C3 tip (so C2/C3 is in)."""
BELOW_C2_TOP_MM = 3.0
"""The top edge of ``syn:crop-below-c2`` lies from this far below the C2/C3 tip down to the C4/C5
tip (C2 and C2/C3 out of view)."""
CURVE_OFF_PLANE_MM = 8.0
"""``syn:coronal-curve``: at least one disc in view lies this far beside the drawn plane."""
REMNANT_MIN_PX = 8
"""Nucleus pixels (class map) inside the S1/S2 remnant needed to call it visible ..."""
REMNANT_MIN_CONTRAST = 0.1
"""... and their contrast against the sacral marrow around it (normalised intensity, either
sign: a bright or a dark remnant both read as a disc)."""


@dataclass
class _Draw:
    """What the engine drew for a case: the subject and the window placed for the set."""

    subject: object = None
    window: object = None


def _window(top: float, bot: float, left: float, right: float, region: str):
    return Window(float(top), float(bot), float(left), float(right), region)


def _horizontal(rng, spine, top: float, bot: float, width: float, frac: tuple[float, float]):
    return horizontal_span(rng, spine, top, bot, width, frac)


def _tips_u(spine) -> dict[int, float]:
    return {int(v): float(p[0]) for v, p in spine.tips.items()}


def _s1s2_remnant(spine):
    """The S1/S2 remnant disc (first fused disc below L5/S1), or None."""
    if len(spine.discs) > N_MOBILE and spine.discs[N_MOBILE].value == 0:
        return spine.discs[N_MOBILE]
    return None


def _to_px(pts_mm: np.ndarray, window, spacing: float) -> np.ndarray:
    """(u, v) mm -> (row, col) px of the grid :func:`~hca_disc_label.synth.slab.grid_for` builds."""
    u0, v0 = window.u_top + 0.5 * spacing, window.v_left + 0.5 * spacing
    return (np.asarray(pts_mm, dtype=float) - [u0, v0]) / spacing


def remnant_visibility(image: np.ndarray, classes: np.ndarray, outline_px: np.ndarray) -> tuple[int, float]:
    """How much an S1/S2 remnant nucleus shows: ``(pixels, contrast)``.

    Args:
        image: the slab's intensities (normalised to [0, 1] here).
        classes: its tissue class map.
        outline_px: the remnant's outline in (row, col) px.

    Returns:
        Nucleus-class pixels inside the outline, and their mean normalised intensity minus the
        median of the marrow within 1.5-6 px around the outline (0 when either is empty).
    """
    from matplotlib.path import Path as MplPath
    from scipy import ndimage

    h, w = classes.shape
    if len(outline_px) < 3:
        return 0, 0.0
    rr, cc = np.mgrid[:h, :w]
    inside = MplPath(outline_px).contains_points(np.stack([rr.ravel(), cc.ravel()], axis=1).astype(float),
                                                 radius=0.5).reshape(h, w)
    nucleus = inside & (classes == Tissue.NUCLEUS)
    dist = ndimage.distance_transform_edt(~inside)
    marrow = (dist > 1.5) & (dist <= 6.0) & (classes == Tissue.MARROW)
    if not nucleus.any() or not marrow.any():
        return int(nucleus.sum()), 0.0
    norm = normalise(image)
    return int(nucleus.sum()), float(norm[nucleus].mean() - np.median(norm[marrow]))


def _w_remnant(rng, subject, window):
    """Lumbar (3 in 4) or thoracolumbar field reaching at least 5-40 mm below the S1/S2 remnant."""
    spine = subject.spine
    rem = _s1s2_remnant(spine)
    bot = window.u_bot
    if rem is not None:
        bot = max(bot, float(rem.outline[:, 0].max()) + rng.uniform(5.0, 40.0))
    return _window(window.u_top, bot, window.v_left, window.v_right, window.region)


def _w_sacrum_edge(rng, subject, window):
    tu = _tips_u(subject.spine)
    bot = tu[25] + rng.uniform(*SACRUM_EDGE_MM)
    return _window(window.u_top, bot, window.v_left, window.v_right, window.region)


def _basion(subject) -> np.ndarray:
    return foramen_magnum(subject.spine, subject.head)[0]


def _w_above_sacrum(rng, subject, window):
    tu = _tips_u(subject.spine)
    bot = rng.uniform(tu[23] + ABOVE_SACRUM_MM[0], tu[25] - ABOVE_SACRUM_MM[1])
    return _window(window.u_top, bot, window.v_left, window.v_right, window.region)


def _w_cervical_full(rng, subject, window):
    spine = subject.spine
    tu = _tips_u(spine)
    top = float(_basion(subject)[0]) - rng.uniform(*CERVICAL_TOP_ABOVE_FM_MM)
    # Lower edge inside one of the T2..T6 bodies: below the T1/T2 tip, above the T6/T7 tip.
    bot = rng.uniform(tu[9] + 4.0, tu[14] - 1.0)
    width = rng.uniform(*CERVICAL_WIDTH_MM)
    left, right = _horizontal(rng, spine, top, bot, width, (0.4, 0.65))
    return _window(top, bot, left, right, "cervical")


def _w_crop_c2(rng, subject, window):
    spine = subject.spine
    tu = _tips_u(spine)
    dens_u = float(spine.dens_tip[0])
    top = rng.uniform(dens_u + 0.5, tu[3] - C2_CROP_MARGIN_MM)
    bot = top + rng.uniform(*C2_CROP_HEIGHT_MM)
    left, right = _horizontal(rng, spine, top, bot, rng.uniform(*C2_CROP_WIDTH_MM), (0.35, 0.7))
    return _window(top, bot, left, right, "cervical")


def _w_crop_below_c2(rng, subject, window):
    spine = subject.spine
    tu = _tips_u(spine)
    top = rng.uniform(tu[3] + BELOW_C2_TOP_MM, tu[5])
    bot = top + rng.uniform(*C2_CROP_HEIGHT_MM)
    left, right = _horizontal(rng, spine, top, bot, rng.uniform(*C2_CROP_WIDTH_MM), (0.35, 0.7))
    return _window(top, bot, left, right, "cervical")


def _resample(image: np.ndarray, discs: dict, src: float, dst: float) -> tuple[np.ndarray, dict, float]:
    """Resample a model-frame image ``(H, W)`` or stack ``(C, H, W)`` from ``src`` to ``dst`` mm
    pixels the way the pipeline does (:func:`~hca_disc_label.preprocessing.resample_plane` on
    the canonical plane, channel by channel).

    Returns ``(image, discs, factor)`` with model px = source px * factor.
    """
    if image.ndim == 3:
        outs = [_resample(ch, discs, src, dst) for ch in image]
        return np.stack([o[0] for o in outs]), outs[0][1], outs[0][2]
    plane = np.ascontiguousarray(flip_sagittal(image))  # model (H, W) -> canonical (Y, Z)
    out, _, _ = resample_plane(plane, src, src, dst)
    f = src / dst
    h, w = out.shape
    kept = {v: (r * f, c * f) for v, (r, c) in discs.items()}
    kept = {v: rc for v, rc in kept.items() if 0.0 <= rc[0] <= h - 1 and 0.0 <= rc[1] <= w - 1}
    return out, kept, f


def _check(name: str, discs: dict, meta: dict, shape: tuple[int, int]) -> bool:
    """Does the case have its set's defining property?"""
    if len(discs) < 2:
        return False
    h, w = shape
    if name == "syn:s1s2-remnant":
        return (25 in discs and meta["remnant_inside"] and meta["remnant_px"] >= REMNANT_MIN_PX
                and abs(meta["remnant_contrast"]) >= REMNANT_MIN_CONTRAST)
    if name == "syn:lumbar-sacrum-edge":
        return max(discs) == 25 and SACRUM_EDGE_MM[0] - 1.0 <= meta["l5s1_to_edge_mm"] <= SACRUM_EDGE_MM[1] + 1.0
    if name == "syn:lumbar-above-sacrum":
        return 23 in discs and max(discs) <= 24
    if name == "syn:cervical-full":
        return 3 in discs and max(discs) >= 9
    if name == "syn:crop-from-c2":
        return 3 in discs and meta["dens_tip_row"] < -0.5 < discs[3][0]
    if name == "syn:crop-below-c2":
        return min(discs) >= 4
    if name == "syn:coronal-curve":
        off = meta.get("tip_lateral_mm", {})
        return len(discs) >= 4 and max((abs(off[v]) for v in discs if v in off), default=0.0) >= CURVE_OFF_PLANE_MM
    raise ValueError(name)


_WINDOWS = {
    "syn:s1s2-remnant": _w_remnant,
    "syn:lumbar-sacrum-edge": _w_sacrum_edge,
    "syn:lumbar-above-sacrum": _w_above_sacrum,
    "syn:cervical-full": _w_cervical_full,
    "syn:crop-from-c2": _w_crop_c2,
    "syn:crop-below-c2": _w_crop_below_c2,
    "syn:coronal-curve": lambda rng, subject, window: window,
}


def synthetic_case(name: str, k: int, seed: int = 0, spacing_mm: float = 1.0,
                   channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM) -> InternalCase:
    """Case ``k`` of a synthetic set (deterministic; redrawn until its property holds).

    ``channel_offsets_mm``: a model's lateral input channels (mm); more than one gives a
    ``(C, H, W)`` image of the same subject, window and labels (the set's property is checked on
    the mid-sagittal channel)."""
    if name not in _WINDOWS:
        raise ValueError(f"unknown synthetic set {name!r}; expected one of {', '.join(SYNTHETIC_SETS)}")
    offsets = tuple(float(v) for v in channel_offsets_mm)
    centre = centre_channel(offsets)
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([int(seed), SET_CODES[name], int(k), attempt])
        if name in ("syn:s1s2-remnant", "syn:coronal-curve"):
            base = "lumbar" if rng.random() < 0.75 else "thoracolumbar"
        elif name in ("syn:lumbar-sacrum-edge", "syn:lumbar-above-sacrum"):
            base = "lumbar"
        else:
            base = "cervical"
        acq = float(rng.uniform(*CERVICAL_SPACING_MM)) if name == "syn:cervical-full" else spacing_mm
        record = _Draw()

        def place(rng: np.random.Generator, subject, window, make=_WINDOWS[name]):
            record.subject, record.window = subject, make(rng, subject, window)
            return record.window

        slab = generate_slab(rng, spacing_mm=acq, fov_mode=base, place_window=place,
                             persistent_s1s2=1.0 if name == "syn:s1s2-remnant" else None,
                             channel_offsets_mm=offsets, coronal_curve=1.0 if name == "syn:coronal-curve" else None)
        window, spine = record.window, record.subject.spine
        image, discs, factor = slab.image, dict(slab.discs), 1.0
        meta = {"look": slab.meta.get("look"), "variant": slab.meta.get("variant"), "base_mode": slab.meta["fov_mode"],
                "window_mm": list(slab.meta["window_mm"]), "acq_spacing_mm": acq, "attempt": attempt}
        if "tip_lateral_mm" in slab.meta:
            meta["tip_lateral_mm"] = dict(slab.meta["tip_lateral_mm"])
        rem = _s1s2_remnant(spine)
        if name == "syn:s1s2-remnant":
            outline = _to_px(rem.outline, window, acq) if rem is not None else np.zeros((0, 2))
            meta["remnant_px"], meta["remnant_contrast"] = remnant_visibility(image[centre] if image.ndim == 3 else image,
                                                                              slab.classes, outline)
            meta["remnant_inside"] = bool(len(outline)) and bool(outline[:, 0].max() <= image.shape[-2] - 1)
            meta["remnant_outline_px"] = outline.tolist()
        if acq != spacing_mm:
            image, discs, factor = _resample(image, discs, acq, spacing_mm)
        rc = lambda p: tuple(float(x) for x in _to_px(np.asarray(p)[None], window, acq)[0] * factor)  # noqa: E731
        meta["dens_tip_row"], meta["dens_tip_col"] = rc(spine.dens_tip)
        meta["basion_row"], meta["basion_col"] = rc(_basion(record.subject))
        meta["tips_px"] = {int(v): rc(p) for v, p in spine.tips.items()}  # every tip, also outside
        if 25 in discs:
            meta["l5s1_to_edge_mm"] = float((image.shape[-2] - 0.5 - discs[25][0]) * spacing_mm)
        if _check(name, discs, meta, image.shape[-2:]):
            meta["remnant_outline_px"] = [[r * factor, c * factor] for r, c in meta.get("remnant_outline_px", [])]
            return InternalCase(name, f"{name.split(':')[1]}-{k:03d}", normalise_channels(image, centre), discs, meta)
    raise RuntimeError(f"{name} case {k}: no draw with the set's property in {MAX_ATTEMPTS} attempts")


def synthetic_set(name: str, n: int = DEFAULT_SYNTHETIC_N, seed: int = 0, spacing_mm: float = 1.0,
                  channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM) -> Iterator[InternalCase]:
    """Cases ``0 .. n-1`` of a synthetic set."""
    for k in range(int(n)):
        yield synthetic_case(name, k, seed, spacing_mm, channel_offsets_mm)
