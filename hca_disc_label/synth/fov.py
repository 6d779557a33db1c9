"""Fields of view: which part of the synthetic body an image shows (mm windows).

Modes follow how spines are actually scanned: cervical (brainstem to the upper thoracic
spine, as in spine-generic), thoracic, lumbar (lower thoracic to sacrum), whole spine (stitched
stations), cervicothoracic, thoracolumbar, and small crops (50-100 mm tall, 2-5 discs) like
the validation crops. Discs at the window edges are simply cut: a disc is labelled only when
its posterior tip is inside the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hca_disc_label.synth.anatomy import Spine
from hca_disc_label.synth.choices import FOV_MODES
from hca_disc_label.synth.head import HeadParams, foramen_magnum
from hca_disc_label.synth.randomise import choose_weighted

FOV_WEIGHTS: dict[str, float] = {
    "whole": 0.10, "cervical": 0.26, "thoracic": 0.08, "lumbar": 0.20, "crop": 0.20,
    "cervicothoracic": 0.11, "thoracolumbar": 0.05,
}
"""Sampling weights of the modes when none is requested."""


@dataclass
class Window:
    """A rectangular field of view in the (u, v) mm frame (pixel edges).

    Attributes:
        u_top, u_bot: superior and inferior edges (mm, u increases inferiorly).
        v_left, v_right: anterior and posterior edges (mm, v increases posteriorly).
        region: anatomical region the subject was oriented for.
    """

    u_top: float
    u_bot: float
    v_left: float
    v_right: float
    region: str

    @property
    def height(self) -> float:
        return self.u_bot - self.u_top

    @property
    def width(self) -> float:
        return self.v_right - self.v_left


def choose_mode(rng: np.random.Generator, fov_mode: str | None) -> str:
    """The requested mode (validated) or a random one with :data:`FOV_WEIGHTS`."""
    return choose_weighted(rng, fov_mode, FOV_WEIGHTS, FOV_MODES, "field of view")


def crop_target(rng: np.random.Generator) -> int:
    """Disc value a crop is centred on: mostly cervical (like the validation crops)."""
    r = rng.random()
    if r < 0.55:
        return int(rng.integers(2, 9))
    if r < 0.75:
        return int(rng.integers(9, 21))
    return int(rng.integers(21, 26))


def region_for(mode: str, crop_value: int | None = None) -> str:
    """Region used to orient the subject (see :data:`~.scene.REGION_CHORDS`)."""
    if mode == "crop":
        v = crop_value if crop_value is not None else 5
        return "cervical" if v <= 8 else ("thoracic" if v <= 20 else "lumbar")
    return mode


def choose_window(rng: np.random.Generator, mode: str, spine: Spine, hp: HeadParams,
                  crop_value: int | None = None) -> Window:
    """Draw the field of view for ``mode`` on a built subject."""
    tips = spine.tips
    tu = {v: float(p[0]) for v, p in tips.items()}
    basion, _ = foramen_magnum(spine, hp)
    fm_u = float(basion[0])
    U = rng.uniform
    pick = lambda lo, hi: tu[int(rng.integers(lo, hi + 1))]  # noqa: E731 - tiny local helper
    region = region_for(mode, crop_value)
    if mode == "crop":
        return _crop_window(rng, spine, crop_value if crop_value is not None else crop_target(rng), region)
    if mode == "whole":
        top, bot = fm_u - U(20.0, 130.0), tu[25] + U(30.0, 150.0)
    elif mode == "cervical":
        top, bot = fm_u - U(10.0, 90.0), pick(8, 12) + U(-5.0, 25.0)
    elif mode == "cervicothoracic":
        top, bot = fm_u - U(10.0, 90.0), pick(14, 21) + U(0.0, 30.0)
    elif mode == "thoracic":
        top, bot = pick(3, 8) - U(0.0, 30.0), pick(18, 22) + U(0.0, 30.0)
    elif mode == "thoracolumbar":
        top, bot = pick(8, 15) - U(0.0, 30.0), tu[25] + U(30.0, 140.0)
    elif mode == "lumbar":
        top, bot = pick(19, 21) - U(0.0, 25.0), tu[25] + U(30.0, 90.0)
    else:  # pragma: no cover - choose_mode validates
        raise ValueError(mode)
    width = U(150.0, 230.0) if mode == "whole" else (U(120.0, 220.0) if mode in ("cervicothoracic", "thoracolumbar")
                                                       else U(100.0, 220.0))
    left, right = horizontal_span(rng, spine, top, bot, width, (0.35, 0.72))
    return Window(top, bot, left, right, region)


def horizontal_span(rng: np.random.Generator, spine: Spine, top: float, bot: float, width: float,
                    frac: tuple[float, float]) -> tuple[float, float]:
    """Place a window of ``width`` so the canal sits at a random fraction from the front."""
    pts = np.array([p for p in spine.tips.values() if top <= p[0] <= bot])
    if len(pts) == 0:
        u = spine.wall_a[:, 0]
        sel = (u >= top) & (u <= bot)
        pts = spine.wall_a[sel] if sel.any() else spine.wall_a
    v_ref = float(np.median(pts[:, 1]))
    left = v_ref - rng.uniform(*frac) * width
    # Keep every disc of these rows inside when the spine's sway allows it.
    lo, hi = float(pts[:, 1].min()), float(pts[:, 1].max())
    margin = 4.0
    if hi - lo < width - 2 * margin:
        left = min(max(left, hi + margin - width), lo - margin)
    return left, left + width


def _crop_window(rng: np.random.Generator, spine: Spine, centre_value: int, region: str) -> Window:
    """50-100 mm tall crop around a disc, holding 2 to 5 disc tips."""
    tu = np.array([spine.tips[v][0] for v in sorted(spine.tips)])
    centre_u = float(spine.tips[centre_value][0])
    best: tuple[float, float, int] | None = None
    for _ in range(40):
        height = rng.uniform(50.0, 100.0)
        top = centre_u - rng.uniform(0.15, 0.85) * height
        # Counted generously (1 mm beyond the edges): a tip within a voxel of the edge is still labelled.
        inside = int(np.sum((tu >= top - 1.0) & (tu <= top + height + 1.0)))
        if best is None or abs(inside - 3.5) < abs(best[2] - 3.5):
            best = (top, height, inside)
        if 2 <= inside <= 5:
            break
    top, height = best[0], best[1]
    width = rng.uniform(50.0, 100.0)
    left, right = horizontal_span(rng, spine, top, top + height, width, (0.35, 0.7))
    return Window(top, top + height, left, right, region)
