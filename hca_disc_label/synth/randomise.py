"""Domain randomisation: tissue intensities per contrast look, textures, and acquisition effects.

SynthSeg-style: every image gets its own intensity per tissue class, drawn from ranges that
cover real T1w (dark CSF, bright marrow and fat), T2w (bright CSF and nuclei, dark cortex) and
gradient-echo (bright discs and CSF, mid-grey marrow) scans, sometimes with fat suppression,
and sometimes fully random ("wild") so the network cannot rely on any one contrast. On top:
per-tissue texture, blur / partial volume at a random acquired resolution, a smooth bias field
with a posterior surface-coil fall-off, multi-station intensity steps, gamma, Rician noise and
occasional artefacts (Gibbs ringing, motion ghosts, CSF flow voids, clipping).

All functions work on a 2D image in the model frame (row -> inferior, col -> posterior) and
its tissue-class map; the 3D generator applies them slice by slice with shared parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from hca_disc_label.synth.choices import LOOKS
from hca_disc_label.synth.tissues import N_TISSUES, Tissue

LOOK_WEIGHTS: dict[str, float] = {"t1": 0.38, "t2": 0.42, "gre": 0.20}

T = Tissue
# (low, high) intensity per tissue for each look (arbitrary units, ~[0, 1]).
_RANGES: dict[str, dict[Tissue, tuple[float, float]]] = {
    "t2": {
        T.AIR: (0.0, 0.03), T.FAT: (0.45, 0.95), T.MUSCLE: (0.1, 0.28), T.CORTEX: (0.0, 0.08),
        T.MARROW: (0.22, 0.55), T.ANNULUS: (0.08, 0.28), T.NUCLEUS: (0.5, 0.95), T.CSF: (0.82, 1.0),
        T.CORD: (0.25, 0.5), T.LIGAMENT: (0.0, 0.1), T.BRAIN: (0.35, 0.6), T.CEREBELLUM: (0.35, 0.6),
        T.VESSEL: (0.0, 0.6), T.LUNG: (0.0, 0.08), T.VISCERA: (0.15, 0.55), T.NERVE: (0.25, 0.5),
        T.FLUID: (0.7, 1.0), T.SOFT: (0.25, 0.5), T.WHITE: (0.25, 0.45),
    },
    "t1": {
        T.AIR: (0.0, 0.03), T.FAT: (0.7, 1.0), T.MUSCLE: (0.22, 0.45), T.CORTEX: (0.0, 0.1),
        T.MARROW: (0.25, 0.9), T.ANNULUS: (0.18, 0.4), T.NUCLEUS: (0.28, 0.75), T.CSF: (0.02, 0.2),
        T.CORD: (0.45, 0.78), T.LIGAMENT: (0.02, 0.12), T.BRAIN: (0.4, 0.6), T.CEREBELLUM: (0.4, 0.65),
        T.VESSEL: (0.0, 0.4), T.LUNG: (0.0, 0.06), T.VISCERA: (0.3, 0.6), T.NERVE: (0.4, 0.65),
        T.FLUID: (0.05, 0.25), T.SOFT: (0.35, 0.6), T.WHITE: (0.6, 0.85),
    },
    "gre": {
        T.AIR: (0.0, 0.03), T.FAT: (0.2, 0.8), T.MUSCLE: (0.2, 0.45), T.CORTEX: (0.0, 0.1),
        T.MARROW: (0.3, 0.6), T.ANNULUS: (0.3, 0.65), T.NUCLEUS: (0.7, 1.0), T.CSF: (0.65, 1.0),
        T.CORD: (0.35, 0.6), T.LIGAMENT: (0.02, 0.15), T.BRAIN: (0.4, 0.6), T.CEREBELLUM: (0.4, 0.6),
        T.VESSEL: (0.4, 1.0), T.LUNG: (0.0, 0.08), T.VISCERA: (0.3, 0.6), T.NERVE: (0.35, 0.55),
        T.FLUID: (0.6, 1.0), T.SOFT: (0.3, 0.55), T.WHITE: (0.35, 0.5),
    },
}

# Texture amplitudes per tissue: (fine grain, coarse patches, streaks along the spine).
_TEXTURE = np.zeros((N_TISSUES, 3))
_TEXTURE[T.FAT] = (0.03, 0.05, 0.03)
_TEXTURE[T.MUSCLE] = (0.05, 0.06, 0.12)
_TEXTURE[T.MARROW] = (0.07, 0.07, 0.0)
_TEXTURE[T.NUCLEUS] = (0.03, 0.05, 0.0)
_TEXTURE[T.ANNULUS] = (0.04, 0.03, 0.0)
_TEXTURE[T.CSF] = (0.01, 0.02, 0.0)
_TEXTURE[T.CORD] = (0.02, 0.02, 0.0)
_TEXTURE[T.BRAIN] = (0.04, 0.06, 0.0)
_TEXTURE[T.CEREBELLUM] = (0.05, 0.03, 0.0)
_TEXTURE[T.WHITE] = (0.03, 0.03, 0.0)
_TEXTURE[T.VISCERA] = (0.06, 0.15, 0.0)
_TEXTURE[T.LUNG] = (0.15, 0.15, 0.0)
_TEXTURE[T.VESSEL] = (0.03, 0.15, 0.0)
_TEXTURE[T.SOFT] = (0.04, 0.06, 0.03)
_TEXTURE[T.NERVE] = (0.03, 0.0, 0.0)
_TEXTURE[T.FLUID] = (0.01, 0.03, 0.0)


@dataclass
class Contrast:
    """One image's appearance.

    Attributes:
        look: "t1", "t2" or "gre".
        variant: "", "fatsat" (fat suppressed) or "wild" (fully random intensities).
        values: ``(N_TISSUES,)`` intensity per tissue class.
        texture: ``(N_TISSUES, 3)`` texture amplitudes (fine, coarse, streak).
        acq: acquisition / artefact parameters drawn once (shared by all slices of a volume).
    """

    look: str
    variant: str
    values: np.ndarray
    texture: np.ndarray
    acq: dict = field(default_factory=dict)


def choose_weighted(rng: np.random.Generator, requested: str | None, weights: dict[str, float],
                    allowed: tuple[str, ...], what: str) -> str:
    """``requested`` (validated against ``allowed``), or a random key drawn with ``weights``."""
    if requested is not None:
        if requested not in allowed:
            raise ValueError(f"unknown {what} {requested!r}; expected one of {', '.join(allowed)}")
        return requested
    names = list(weights)
    w = np.array([weights[k] for k in names])
    return str(rng.choice(names, p=w / w.sum()))


def choose_look(rng: np.random.Generator, look: str | None) -> str:
    """The requested look, or a random one with :data:`LOOK_WEIGHTS`."""
    return choose_weighted(rng, look, LOOK_WEIGHTS, LOOKS, "look")


def _draw_values(rng: np.random.Generator, look: str) -> np.ndarray:
    ranges = _RANGES[look]
    lo = np.array([ranges[Tissue(i)][0] for i in range(N_TISSUES)])
    hi = np.array([ranges[Tissue(i)][1] for i in range(N_TISSUES)])
    return rng.uniform(lo, hi)


def sample_contrast(rng: np.random.Generator, look: str, wild_p: float = 0.15) -> Contrast:
    """Draw tissue intensities, textures and acquisition parameters for one image."""
    values = _draw_values(rng, look)
    variant = ""
    r = rng.random()
    if r < wild_p:
        variant = "wild"
        values = rng.uniform(0.0, 1.0, N_TISSUES)
        values[T.AIR] = rng.uniform(0.0, 0.05)
        # Keep the few contrasts the labeler needs: disc vs bone, canal vs cord.
        for a, b, gap in ((T.NUCLEUS, T.MARROW, 0.15), (T.CSF, T.CORD, 0.2), (T.NUCLEUS, T.ANNULUS, 0.08)):
            if abs(values[a] - values[b]) < gap:
                values[a] = np.clip(values[b] + gap * (1 if rng.random() < 0.5 else -1) * rng.uniform(1.0, 2.5), 0, 1)
    elif look == "t2" and r < wild_p + 0.15:
        variant = "fatsat"  # STIR / fat-suppressed T2: fat and fatty marrow go dark
        values[T.FAT] *= rng.uniform(0.08, 0.3)
        values[T.MARROW] *= rng.uniform(0.3, 0.7)
        values[T.NUCLEUS] = max(values[T.NUCLEUS], rng.uniform(0.6, 0.95))
    elif look == "gre" and r < wild_p + 0.4:
        variant = "fatsat"  # water-only Dixon / fat-saturated gradient echo
        values[T.FAT] *= rng.uniform(0.1, 0.4)
    # Young, fatty or oedematous marrow varies a lot; couple marrow to age-free randomness.
    # Cortical rims are sometimes crisp and black, sometimes barely darker than marrow.
    values[T.CORTEX] = min(values[T.CORTEX], values[T.MARROW] * rng.uniform(0.05, 0.75))
    texture = _TEXTURE * rng.uniform(0.3, 1.4) * rng.uniform(0.7, 1.3, (N_TISSUES, 3))
    return Contrast(look, variant, values.astype(np.float32), texture, sample_acquisition(rng, look))


def sample_acquisition(rng: np.random.Generator, look: str) -> dict:
    """Acquisition and artefact parameters (resolution, bias, noise, ghosts...)."""
    return {
        "res_row_mm": rng.uniform(0.3, 1.9),  # extra blur (FWHM mm) along S-I
        "res_col_mm": rng.uniform(0.3, 1.9),  # and along A-P
        "bias": rng.uniform(0.0, 0.45),
        "bias_cells": int(rng.integers(2, 6)),
        "coil": rng.uniform(0.0, 2.0) if rng.random() < 0.6 else 0.0,
        "stations": int(rng.integers(2, 4)) if rng.random() < 0.25 else 1,
        "gamma": float(np.exp(rng.normal(0.0, 0.22))),
        "noise": float(rng.uniform(0.005, 0.06)),
        "gibbs": rng.uniform(0.55, 0.85) if rng.random() < 0.15 else 0.0,
        "gibbs_axis": int(rng.integers(0, 2)),
        "ghosts": rng.uniform(0.03, 0.15) if rng.random() < 0.1 else 0.0,
        "ghost_axis": int(rng.integers(0, 2)),
        "flow_voids": rng.uniform(0.3, 0.85) if (look == "t2" and rng.random() < 0.35) else 0.0,
        "clip": rng.uniform(0.9, 0.99) if rng.random() < 0.08 else 0.0,
        "gain": float(10 ** rng.uniform(1.0, 3.5)),
        "zero_border": rng.random() < 0.08,
        "texture_scale_mm": rng.uniform(0.5, 1.1),
    }


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell_px: tuple[float, float]) -> np.ndarray:
    """Unit-variance smooth noise: a coarse random grid (one value per ``cell_px``) upsampled."""
    h, w = shape
    gh = max(2, int(np.ceil(h / max(cell_px[0], 1.0))) + 1)
    gw = max(2, int(np.ceil(w / max(cell_px[1], 1.0))) + 1)
    grid = rng.standard_normal((gh, gw))
    rows = np.linspace(0.0, gh - 1.0, h)
    cols = np.linspace(0.0, gw - 1.0, w)
    r0 = np.minimum(rows.astype(int), gh - 2)
    c0 = np.minimum(cols.astype(int), gw - 2)
    fr = (rows - r0)[:, None]
    fc = (cols - c0)[None, :]
    # Smoothstep weights avoid the visible creases of plain bilinear interpolation.
    fr = fr * fr * (3 - 2 * fr)
    fc = fc * fc * (3 - 2 * fc)
    g00 = grid[r0][:, c0]
    g01 = grid[r0][:, c0 + 1]
    g10 = grid[r0 + 1][:, c0]
    g11 = grid[r0 + 1][:, c0 + 1]
    out = (g00 * (1 - fr) + g10 * fr) * (1 - fc) + (g01 * (1 - fr) + g11 * fr) * fc
    return out / 0.72


def apply_texture(rng: np.random.Generator, image: np.ndarray, classes: np.ndarray, contrast: Contrast,
                  spacing: tuple[float, float]) -> np.ndarray:
    """Multiply each tissue by its own texture (fine grain, coarse patches, streaks)."""
    h, w = image.shape
    scale = contrast.acq["texture_scale_mm"]
    fine = rng.standard_normal((h, w), dtype=np.float32)
    sig = (max(0.35, scale / spacing[0]), max(0.35, scale / spacing[1]))
    fine = ndimage.gaussian_filter(fine, sig, mode="nearest", truncate=2.5)
    fine *= 2.0 * np.sqrt(np.pi * sig[0] * sig[1])
    coarse = _smooth_noise(rng, (h, w), (6.0 / spacing[0], 6.0 / spacing[1]))
    streak = _smooth_noise(rng, (h, w), (14.0 / spacing[0], 1.6 / spacing[1]))
    tex = contrast.texture.astype(np.float32)
    factor = 1.0 + tex[:, 0][classes] * fine
    factor += tex[:, 1][classes] * coarse.astype(np.float32)
    factor += tex[:, 2][classes] * streak.astype(np.float32)
    return image * np.maximum(factor, 0.05)


def apply_flow_voids(rng: np.random.Generator, image: np.ndarray, classes: np.ndarray, depth: float,
                     spacing: tuple[float, float]) -> np.ndarray:
    """Dark pulsation flow voids in the CSF (common on T2 of the cervical and thoracic canal)."""
    if depth <= 0:
        return image
    csf = classes == T.CSF
    if not csf.any():
        return image
    blobs = _smooth_noise(rng, image.shape, (9.0 / spacing[0], 3.0 / spacing[1]))
    mask = np.clip((blobs - 0.8) / 0.8, 0.0, 1.0)
    out = image.copy()
    out[csf] *= (1.0 - depth * mask[csf])
    return out


def blur(image: np.ndarray, acq: dict, spacing: tuple[float, float]) -> np.ndarray:
    """Partial volume of a coarser acquisition: Gaussian blur with the drawn extra FWHM."""
    sig = (acq["res_row_mm"] / 2.355 / spacing[0], acq["res_col_mm"] / 2.355 / spacing[1])
    if max(sig) < 0.15:
        return image
    return ndimage.gaussian_filter(image, sig, mode="nearest", truncate=3.0)


def bias_field(rng: np.random.Generator, shape: tuple[int, int], acq: dict, spacing: tuple[float, float]) -> np.ndarray:
    """Multiplicative smooth field: random bias, posterior coil fall-off, station steps."""
    h, w = shape
    field = np.zeros(shape, dtype=np.float32)
    if acq["bias"] > 0:
        cells = acq["bias_cells"]
        field += acq["bias"] * _smooth_noise(rng, shape, (h / cells + 1.0, w / cells + 1.0))
    if acq["coil"] > 0:
        # Spine array under the back: signal falls off toward anterior (column 0).
        depth_mm = (w - 1 - np.arange(w)) * spacing[1]
        field += (-acq["coil"] * depth_mm / 200.0)[None, :]
    if acq["stations"] > 1 and h * spacing[0] > 250.0:
        edges = np.sort(rng.uniform(0.2, 0.8, acq["stations"] - 1)) * h
        gains = rng.normal(0.0, 0.18, acq["stations"])
        rows = np.arange(h)
        prof = np.full(h, gains[0])
        for e, g in zip(edges, gains[1:]):
            prof = np.where(rows > e, g, prof)
        field += ndimage.gaussian_filter1d(prof, 8.0 / spacing[0])[:, None]
    return np.exp(field)


def gibbs(image: np.ndarray, keep: float, axis: int) -> np.ndarray:
    """Truncate k-space along ``axis`` to a fraction ``keep``: ringing at sharp edges."""
    spec = np.fft.fft(image, axis=axis)
    n = image.shape[axis]
    freqs = np.abs(np.fft.fftfreq(n))
    mask = (freqs <= 0.5 * keep).astype(np.float32)
    shape = [1, 1]
    shape[axis] = n
    return np.abs(np.fft.ifft(spec * mask.reshape(shape), axis=axis)).astype(np.float32)


def ghosts(image: np.ndarray, amount: float, axis: int, rng: np.random.Generator) -> np.ndarray:
    """Motion ghosts: faint shifted copies along the phase-encoding axis."""
    out = image.copy()
    n = image.shape[axis]
    for _ in range(int(rng.integers(1, 3))):
        shift = int(rng.integers(n // 8, n // 2))
        out += amount * rng.uniform(0.5, 1.0) * np.roll(image, shift, axis=axis)
    return out


def rician(rng: np.random.Generator, image: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of the image plus complex Gaussian noise (Rician)."""
    n1 = rng.standard_normal(image.shape, dtype=np.float32)
    n2 = rng.standard_normal(image.shape, dtype=np.float32)
    n1 *= sigma
    n1 += image
    n2 *= sigma
    return np.sqrt(n1 * n1 + n2 * n2)


def finish_slice(rng: np.random.Generator, image: np.ndarray, classes: np.ndarray, contrast: Contrast,
                 spacing: tuple[float, float]) -> np.ndarray:
    """Per-slice effects: texture, CSF flow voids, blur, Gibbs ringing, motion ghosts."""
    acq = contrast.acq
    img = apply_texture(rng, image, classes, contrast, spacing)
    img = apply_flow_voids(rng, img, classes, acq["flow_voids"], spacing)
    img = blur(img, acq, spacing)
    if acq["gibbs"] > 0:
        img = gibbs(img, acq["gibbs"], acq["gibbs_axis"])
    if acq["ghosts"] > 0:
        img = ghosts(img, acq["ghosts"], acq["ghost_axis"], rng)
    return img


def finish_global(rng: np.random.Generator, image: np.ndarray, contrast: Contrast, bias: np.ndarray) -> np.ndarray:
    """Whole-image effects on a 2D slab or a 3D stack of slices (last two axes = the slice).

    Applies the multiplicative ``bias`` (broadcast), normalises by the 99.5th percentile,
    gamma, Rician noise, optional clipping, and the random gain.
    """
    acq = contrast.acq
    img = image * bias
    sub = img[..., ::3, ::3]
    peak = float(np.percentile(sub, 99.5)) + 1e-6
    img = np.clip(img / peak, 0.0, None) ** acq["gamma"]
    img = rician(rng, img, acq["noise"])
    if acq["clip"] > 0:
        img = np.minimum(img, np.quantile(img[..., ::3, ::3], acq["clip"]))
    return (img * acq["gain"]).astype(np.float32)


def zero_border(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Blank a strip along one edge of the slice (padding seen in cropped / resampled data)."""
    h, w = image.shape[-2:]
    side = int(rng.integers(0, 4))
    width = int(rng.integers(1, max(2, min(h, w) // 12)))
    out = image.copy()
    if side == 0:
        out[..., :width, :] = 0
    elif side == 1:
        out[..., -width:, :] = 0
    elif side == 2:
        out[..., :, :width] = 0
    else:
        out[..., :, -width:] = 0
    return out


def finish(rng: np.random.Generator, image: np.ndarray, classes: np.ndarray, contrast: Contrast,
           spacing: tuple[float, float]) -> np.ndarray:
    """Turn a clean painted 2D image into an MR-looking one.

    Args:
        rng: generator.
        image: ``(H, W)`` painted intensities (model frame).
        classes: ``(H, W)`` tissue classes.
        contrast: the image's contrast and acquisition parameters.
        spacing: pixel size (mm) along rows and columns.

    Returns:
        ``(H, W)`` float32, non-negative, arbitrary scale.
    """
    img = finish_slice(rng, image, classes, contrast, spacing)
    img = finish_global(rng, img, contrast, bias_field(rng, img.shape, contrast.acq, spacing))
    if contrast.acq["zero_border"]:
        img = zero_border(rng, img)
    return img


def finish_sections(rng: np.random.Generator, images: list[np.ndarray], classes: list[np.ndarray],
                    contrast: Contrast, spacing: tuple[float, float]) -> np.ndarray:
    """:func:`finish` for sections of one acquisition at several lateral positions (the input
    channels of a multi-channel slab): per-section effects on each, then one bias field,
    normalisation, noise level and gain for all, so their relative intensities are kept.

    Args:
        images, classes: ``C`` painted sections ``(H, W)`` and their tissue classes.
        contrast, spacing: as :func:`finish`.

    Returns:
        ``(C, H, W)`` float32, non-negative, arbitrary scale.
    """
    stack = np.stack([finish_slice(rng, im, cl, contrast, spacing) for im, cl in zip(images, classes)])
    img = finish_global(rng, stack, contrast, bias_field(rng, stack.shape[-2:], contrast.acq, spacing)[None])
    if contrast.acq["zero_border"]:
        img = zero_border(rng, img)
    return img
