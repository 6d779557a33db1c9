"""Internal benchmark sets of the cases where the disc count is decided (never ``bids/``).

Seven named, seeded sets of model-frame images (row -> inferior, col -> posterior, values in
[0, 1], isotropic ``spacing_mm`` pixels) with exact ground-truth discs
``{SCT value: (row, col)}`` in model pixels:

* ``syn:s1s2-remnant``: lumbar / thoracolumbar fields showing the sacrum with a visible S1/S2
  remnant nucleus (a disc look-alike one level below L5/S1);
* ``syn:lumbar-sacrum-edge``: lumbar fields whose lower edge cuts the S1 body 1-30 mm below
  the L5/S1 tip (measured along the image rows);
* ``syn:lumbar-above-sacrum``: lumbar fields whose lower edge cuts the L4 or L5 body (from 5 mm
  below the L3/L4 tip to 3 mm above L5/S1): no sacrum to count from, as in a real image cut
  from below;
* ``syn:cervical-full``: full-field cervicothoracic images like spine-generic's: skull base,
  posterior fossa and jaw at the top, lower edge in the T2..T6 bodies, acquired at 0.8-1.0 mm
  and resampled to the model spacing as the pipeline does;
* ``syn:crop-from-c2``: crops whose top edge lies between the dens tip and the C2/C3 tip,
  50-120 mm tall;
* ``syn:crop-below-c2``: the same crops starting 3 mm below C2/C3 down to C4/C5 (no C2 to count
  from);
* ``real:bids-train-crops``: the held-out subjects of the trainer's split (split seed 1, the
  trainer's own ``split_subjects``, real-sacrum subjects left out) of ``bids-train`` (or of its label extension), each cut to
  several random heights (top, bottom, both edges cut); only discs still inside are kept.

The synthetic sets drive the engine itself (:func:`hca_disc_label.synth.generate_slab`) and only
replace the field-of-view window it draws, so every change of the engine's anatomy or looks
shows up here. Case ``k`` of a set is drawn from ``np.random.default_rng([seed, SET_CODE, k,
attempt])``: the same seed gives the same images whatever the set size, and a case is redrawn
(next attempt) only when its defining property does not hold.

Use::

    from hca_disc_label.evaluation.internal_sets import internal_sets
    for case in internal_sets(seed=0):           # or names=[...], n=..., train_data=...
        name, case_id, image, discs = case       # case.meta holds the set-defining geometry
"""

from __future__ import annotations

import contextlib
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

SYNTHETIC_SETS: tuple[str, ...] = ("syn:s1s2-remnant", "syn:lumbar-sacrum-edge", "syn:lumbar-above-sacrum",
                                   "syn:cervical-full", "syn:crop-from-c2", "syn:crop-below-c2")
REAL_SETS: tuple[str, ...] = ("real:bids-train-crops",)
SET_NAMES: tuple[str, ...] = SYNTHETIC_SETS + REAL_SETS
"""All internal set names, in report order."""

SET_CODES: dict[str, int] = {"syn:s1s2-remnant": 11_001, "syn:lumbar-sacrum-edge": 11_002,
                             "syn:cervical-full": 11_003, "syn:crop-from-c2": 11_004,
                             "real:bids-train-crops": 11_005, "syn:lumbar-above-sacrum": 11_006,
                             "syn:crop-below-c2": 11_007}
"""Fixed stream number of each set in the seed sequence (never reuse one)."""

DEFAULT_SYNTHETIC_N = 32
"""Images per synthetic set by default."""
CROPS_PER_IMAGE = 3
"""Crops per held-out real image (top cut, bottom cut, both cut)."""
SPLIT_SEED = 1
"""Split seed of the trainer runs whose held-out real subjects form the real set."""

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
REMNANT_MIN_PX = 8
"""Nucleus pixels (class map) inside the S1/S2 remnant needed to call it visible ..."""
REMNANT_MIN_CONTRAST = 0.1
"""... and their contrast against the sacral marrow around it (normalised intensity, either
sign: a bright or a dark remnant both read as a disc)."""
REAL_KEEP_FRACTION = (0.45, 0.9)
"""Kept share of a real image's height per crop (as ``-real-fov-crop`` in training)."""
REAL_EDGE_MARGIN_PX = 3.0
"""A real disc is kept as ground truth only this far inside a cut edge (a disc on the edge is
half visible; the training crop treats it the same way)."""
MAX_ATTEMPTS = 50


@dataclass
class InternalCase:
    """One benchmark image; unpacks as ``(set_name, case_id, image, discs)``.

    Attributes:
        set_name: one of :data:`SET_NAMES`.
        case_id: unique within the set (stable for a seed).
        image: ``(H, W)`` float32 in [0, 1], model frame, model pixel spacing.
        discs: SCT value -> (row, col) model px of the discs inside the image.
        meta: set-defining geometry in model px / mm (see each generator).
    """

    set_name: str
    case_id: str
    image: np.ndarray
    discs: dict[int, tuple[float, float]]
    meta: dict = field(default_factory=dict)

    def __iter__(self):
        return iter((self.set_name, self.case_id, self.image, self.discs))


def default_train_data() -> Path:
    """The real training dataset: ``bids-train`` in ``$HCA_SHARED_DATA`` (default
    ``../shared/data`` next to the repository)."""
    data = os.environ.get("HCA_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
    return Path(data) / "bids-train"


def internal_sets(names: list[str] | tuple[str, ...] | None = None, n: int | None = None, seed: int = 0,
                  spacing_mm: float = 1.0, train_data: Path | None = None,
                  crops_per_image: int = CROPS_PER_IMAGE) -> Iterator[InternalCase]:
    """Yield the cases of the named sets (all of :data:`SET_NAMES` by default), set by set.

    Args:
        names: set names to yield, in this order.
        n: images per synthetic set (default :data:`DEFAULT_SYNTHETIC_N`).
        seed: base seed of every set.
        spacing_mm: model pixel spacing (mm).
        train_data: labelled BIDS dataset of the real set (default :func:`default_train_data`).
        crops_per_image: crops per held-out real image.
    """
    for name in names or SET_NAMES:
        if name in SYNTHETIC_SETS:
            yield from synthetic_set(name, DEFAULT_SYNTHETIC_N if n is None else n, seed, spacing_mm)
        elif name in REAL_SETS:
            yield from real_crop_set(train_data, seed, crops_per_image, spacing_mm)
        else:
            raise ValueError(f"unknown internal set {name!r}; expected one of {', '.join(SET_NAMES)}")


# ----------------------------------------------------------------------------- synthetic


@dataclass
class _Draw:
    """What the patched ``draw_subject`` saw: the subject and the window used."""

    subject: object = None
    window: object = None
    base_mode: str = ""


@contextlib.contextmanager
def _engine_window(make_window: Callable, base_mode: str, record: _Draw, force_remnant: bool):
    """Make :func:`~hca_disc_label.synth.generate_slab` use ``make_window(rng, subject, window)``.

    The engine draws its subject and window for ``base_mode`` as usual; the window is then
    replaced. With ``force_remnant`` the S1/S2 remnant keeps its nucleus in every subject
    (``scene.PERSISTENT_S1S2`` set to 1 for the call, if the engine still has it; whether the
    remnant shows is checked on the class map either way). Nothing on disk changes; the
    original functions are restored on exit.
    """
    from hca_disc_label.synth import scene, slab

    original = slab.draw_subject

    def draw(rng, fov_mode):
        mode, subject, window = original(rng, base_mode)
        window = make_window(rng, subject, window)
        record.subject, record.window, record.base_mode = subject, window, mode
        return mode, subject, window

    saved_p = getattr(scene, "PERSISTENT_S1S2", None)
    slab.draw_subject = draw
    if force_remnant and saved_p is not None:
        scene.PERSISTENT_S1S2 = 1.0
    try:
        yield
    finally:
        slab.draw_subject = original
        if force_remnant and saved_p is not None:
            scene.PERSISTENT_S1S2 = saved_p


def _window(top: float, bot: float, left: float, right: float, region: str):
    from hca_disc_label.synth.fov import Window

    return Window(float(top), float(bot), float(left), float(right), region)


def _horizontal(rng, spine, top: float, bot: float, width: float, frac: tuple[float, float]):
    from hca_disc_label.synth import fov

    return fov._horizontal(rng, spine, top, bot, width, frac)


def _tips_u(spine) -> dict[int, float]:
    return {int(v): float(p[0]) for v, p in spine.tips.items()}


def _s1s2_remnant(spine):
    """The S1/S2 remnant disc (first fused disc below L5/S1), or None."""
    from hca_disc_label.synth.spine_params import N_MOBILE

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

    from hca_disc_label.preprocessing import normalise
    from hca_disc_label.synth.tissues import Tissue

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
    from hca_disc_label.synth.head import foramen_magnum

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
    """Resample a model-frame image from ``src`` to ``dst`` mm pixels the way the pipeline does
    (:func:`~hca_disc_label.preprocessing.resample_plane` on the canonical plane).

    Returns ``(image, discs, factor)`` with model px = source px * factor.
    """
    from hca_disc_label.preprocessing import resample_plane

    plane = np.ascontiguousarray(image[::-1, ::-1].T)  # model (H, W) -> canonical (Y, Z)
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
    raise ValueError(name)


_WINDOWS = {
    "syn:s1s2-remnant": _w_remnant,
    "syn:lumbar-sacrum-edge": _w_sacrum_edge,
    "syn:lumbar-above-sacrum": _w_above_sacrum,
    "syn:cervical-full": _w_cervical_full,
    "syn:crop-from-c2": _w_crop_c2,
    "syn:crop-below-c2": _w_crop_below_c2,
}


def synthetic_case(name: str, k: int, seed: int = 0, spacing_mm: float = 1.0) -> InternalCase:
    """Case ``k`` of a synthetic set (deterministic; redrawn until its property holds)."""
    from hca_disc_label.preprocessing import normalise
    from hca_disc_label.synth import generate_slab

    if name not in _WINDOWS:
        raise ValueError(f"unknown synthetic set {name!r}; expected one of {', '.join(SYNTHETIC_SETS)}")
    for attempt in range(MAX_ATTEMPTS):
        rng = np.random.default_rng([int(seed), SET_CODES[name], int(k), attempt])
        if name == "syn:s1s2-remnant":
            base = "lumbar" if rng.random() < 0.75 else "thoracolumbar"
        elif name in ("syn:lumbar-sacrum-edge", "syn:lumbar-above-sacrum"):
            base = "lumbar"
        else:
            base = "cervical"
        acq = float(rng.uniform(*CERVICAL_SPACING_MM)) if name == "syn:cervical-full" else spacing_mm
        record = _Draw()
        with _engine_window(_WINDOWS[name], base, record, force_remnant=name == "syn:s1s2-remnant"):
            slab = generate_slab(rng, spacing_mm=acq)
        window, spine = record.window, record.subject.spine
        if slab.meta.get("window_mm") != [window.u_top, window.u_bot, window.v_left, window.v_right]:
            raise RuntimeError("the synthetic engine no longer takes its window from slab.draw_subject; "
                               "internal_sets needs a window hook in hca_disc_label.synth")
        image, discs, factor = slab.image, dict(slab.discs), 1.0
        meta = {"look": slab.meta.get("look"), "variant": slab.meta.get("variant"), "base_mode": record.base_mode,
                "window_mm": list(slab.meta["window_mm"]), "acq_spacing_mm": acq, "attempt": attempt}
        rem = _s1s2_remnant(spine)
        if name == "syn:s1s2-remnant":
            outline = _to_px(rem.outline, window, acq) if rem is not None else np.zeros((0, 2))
            meta["remnant_px"], meta["remnant_contrast"] = remnant_visibility(slab.image, slab.classes, outline)
            meta["remnant_inside"] = bool(len(outline)) and bool(outline[:, 0].max() <= image.shape[0] - 1)
            meta["remnant_outline_px"] = outline.tolist()
        if acq != spacing_mm:
            image, discs, factor = _resample(image, discs, acq, spacing_mm)
        rc = lambda p: tuple(float(x) for x in _to_px(np.asarray(p)[None], window, acq)[0] * factor)  # noqa: E731
        meta["dens_tip_row"], meta["dens_tip_col"] = rc(spine.dens_tip)
        meta["basion_row"], meta["basion_col"] = rc(_basion(record.subject))
        meta["tips_px"] = {int(v): rc(p) for v, p in spine.tips.items()}  # every tip, also outside
        if 25 in discs:
            meta["l5s1_to_edge_mm"] = float((image.shape[0] - 0.5 - discs[25][0]) * spacing_mm)
        if _check(name, discs, meta, image.shape):
            meta["remnant_outline_px"] = [[r * factor, c * factor] for r, c in meta.get("remnant_outline_px", [])]
            return InternalCase(name, f"{name.split(':')[1]}-{k:03d}", normalise(image), discs, meta)
    raise RuntimeError(f"{name} case {k}: no draw with the set's property in {MAX_ATTEMPTS} attempts")


def synthetic_set(name: str, n: int = DEFAULT_SYNTHETIC_N, seed: int = 0,
                  spacing_mm: float = 1.0) -> Iterator[InternalCase]:
    """Cases ``0 .. n-1`` of a synthetic set."""
    for k in range(int(n)):
        yield synthetic_case(name, k, seed, spacing_mm)


# ----------------------------------------------------------------------------- real


SACRUM_SUBJECTS = "sub-zuk*"
"""Subjects of the real-sacrum benchmark (``benchmarks/real_sacrum.py``, scored by subject-wise
folds): left out of the internal real set, so that set stays the lumbar gradient-echo subjects
no released model trained on."""


def held_out_cases(train_data: Path | None = None, spacing_mm: float = 1.0, split_seed: int = SPLIT_SEED) -> list:
    """The held-out real cases (:class:`~hca_disc_label.training.data.BidsCase`) of the
    trainer's split (:func:`~hca_disc_label.training.split.split_subjects` with its default
    validation fraction and ``split_seed``) over the subjects of ``train_data`` that are not
    :data:`SACRUM_SUBJECTS`. Only the held-out images are loaded."""
    from fnmatch import fnmatch

    from hca_disc_label.training.data import find_bids_pairs, load_bids_case
    from hca_disc_label.training.config import TrainConfig
    from hca_disc_label.training.split import split_subjects

    root = Path(train_data) if train_data is not None else default_train_data()
    pairs = [p for p in find_bids_pairs(root) if not fnmatch(p[0], SACRUM_SUBJECTS)]
    defaults = TrainConfig(out_dir=Path("unused"))
    _, held = split_subjects({s for s, _, _ in pairs}, defaults.val_fraction, split_seed)
    return [load_bids_case(s, img, lab, spacing_mm, defaults.slab_mm) for s, img, lab in pairs if s in held]


CROP_KINDS: tuple[str, ...] = ("top", "bottom", "both")
"""Which edges a real crop cuts (cycled over a case's crops)."""


def crop_rows(discs: dict, height: int, top: int, bottom: int) -> dict[int, tuple[float, float]]:
    """Discs of rows ``[top, bottom)`` (shifted), only those inside by the edge margin at a cut edge."""
    out = {}
    for v, (r, c) in discs.items():
        lo = REAL_EDGE_MARGIN_PX if top > 0 else 0.0
        hi = REAL_EDGE_MARGIN_PX if bottom < height else 0.0
        rr = r - top
        if lo <= rr <= (bottom - top) - 1 - hi:
            out[int(v)] = (float(rr), float(c))
    return out


def real_crop_set(train_data: Path | None = None, seed: int = 0, crops_per_image: int = CROPS_PER_IMAGE,
                  spacing_mm: float = 1.0, cases: list | None = None) -> Iterator[InternalCase]:
    """Random-height crops of the held-out real images (normalised after cropping, as a
    smaller acquisition would be).

    Crop ``j`` of an image cuts the edges of ``CROP_KINDS[j % 3]``, keeps a random
    :data:`REAL_KEEP_FRACTION` of the height, and is redrawn until at least two labelled discs
    stay inside. Seeded per image by its file name, so a case does not depend on the others.

    Args:
        cases: prepared held-out cases (default :func:`held_out_cases` of ``train_data``).
    """
    from hca_disc_label.preprocessing import normalise

    cases = held_out_cases(train_data, spacing_mm) if cases is None else cases
    for case in sorted(cases, key=lambda c: str(c.image_path)):
        stem = Path(case.image_path).name.split(".")[0]
        key = zlib.crc32(stem.encode())
        h = case.raw.shape[0]
        for j in range(int(crops_per_image)):
            kind = CROP_KINDS[j % len(CROP_KINDS)]
            for attempt in range(MAX_ATTEMPTS):
                rng = np.random.default_rng([int(seed), SET_CODES["real:bids-train-crops"], key, j, attempt])
                keep = int(round(h * rng.uniform(*REAL_KEEP_FRACTION)))
                top = {"top": h - keep, "bottom": 0}.get(kind, int(rng.integers(1, max(2, h - keep))))
                bottom = min(h, top + keep)
                discs = crop_rows(case.discs, h, top, bottom)
                if len(discs) >= 2:
                    break
            else:
                continue
            meta = {"subject": case.subject, "image": str(case.image_path), "kind": kind, "rows": [top, bottom],
                    "source_height": h, "source_discs": sorted(case.discs), "attempt": attempt}
            yield InternalCase("real:bids-train-crops", f"{stem}-{kind}{j // len(CROP_KINDS) or ''}",
                               normalise(case.raw[top:bottom]), discs, meta)
