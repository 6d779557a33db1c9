"""3D synthetic volumes in the canonical frame, so the real preprocessing runs on them.

Each sagittal slice is the scene's section at that slice's lateral position (thick slices
average several sections: partial volume across L-R), with random voxel sizes, a random
number of slices, and the spine's mid-sagittal plane placed off the volume centre. Structures
have realistic left-right extents (cord and canal narrow, vertebral bodies wider, pedicles and
facet pillars beside the canal, paraspinal muscles, psoas and kidneys laterally) so a
mid-sagittal-plane finder has something to find.

Canonical frame (see conventions.py): ``data[x, y, z]``, x -> left, y -> anterior,
z -> superior; nibabel axis codes ("L", "A", "S").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from hca_disc_label.preprocessing import SlabGeometry, flip_sagittal
from hca_disc_label.synth.coronal import tip_shifts
from hca_disc_label.synth.parts import render
from hca_disc_label.synth.randomise import (
    bias_field,
    choose_look,
    finish_global,
    finish_slice,
    sample_contrast,
    zero_border,
)
from hca_disc_label.synth.raster import Canvas
from hca_disc_label.synth.scene import build_parts, s_range_for_rows
from hca_disc_label.synth.slab import draw_subject, grid_for, tips_in_grid

log = logging.getLogger(__name__)

MAX_MIDPLANE_OFFSET_MM = 15.0
"""How far the spine's mid-sagittal plane may sit from the volume's L-R centre."""


@dataclass
class SynthVolume:
    """One synthetic 3D volume with exact disc labels.

    Attributes:
        data: ``(X, Y, Z)`` float32 in the canonical frame (x -> left, y -> anterior,
            z -> superior), arbitrary positive scale.
        affine: ``(4, 4)`` voxel -> world (RAS+, mm) matrix; axis codes ("L", "A", "S").
        discs: SCT value -> ``(x, y, z)`` float voxel coordinates of the posterior tip, on the
            mid-sagittal plane shifted by the spine's coronal curve at that level (only discs
            inside the volume).
        meta: look, variant, fov mode, voxel sizes, mid-sagittal x (voxels), seed traits.
        classes: ``(X, Y, Z)`` uint8 tissue classes (centre section of each slice).
    """

    data: np.ndarray
    affine: np.ndarray
    discs: dict[int, tuple[float, float, float]]
    meta: dict
    classes: np.ndarray | None = field(default=None, repr=False)

    @property
    def zooms(self) -> tuple[float, float, float]:
        """Voxel sizes (mm) along x, y, z."""
        return tuple(float(v) for v in np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0)))


def _voxel_sizes(rng: np.random.Generator, mode: str) -> tuple[float, float, float, int]:
    """(dx, dy, dz, n_slices): 0.5-1.5 mm in the sagittal plane, 1-4 mm slices."""
    dy = rng.uniform(0.5, 1.5)
    dz = float(np.clip(dy * rng.uniform(0.8, 1.25), 0.5, 1.5))
    dx = rng.uniform(1.0, 4.0) if rng.random() < 0.8 else rng.uniform(1.0, 1.6)
    cover = rng.uniform(30.0, 60.0) if mode == "crop" else rng.uniform(40.0, 90.0)
    nx = int(max(5, round(cover / dx)))
    return dx, dy, dz, nx


def generate_volume(rng: np.random.Generator, fov_mode: str | None = None, look: str | None = None) -> SynthVolume:
    """Generate one synthetic sagittal 3D volume with exact disc labels.

    Args:
        rng: the only source of randomness (same generator state -> identical output).
        fov_mode: one of :data:`~.choices.FOV_MODES`, or None for a random mode.
        look: "t1", "t2", "gre", or None for a random look.

    Returns:
        The volume (canonical frame), its affine, the posterior tips in voxel coordinates.
    """
    look = choose_look(rng, look)
    mode, subject, window = draw_subject(rng, fov_mode)
    dx, dy, dz, nx = _voxel_sizes(rng, mode)
    half_cover = 0.5 * (nx - 1) * dx
    offset = float(np.clip(rng.uniform(-MAX_MIDPLANE_OFFSET_MM, MAX_MIDPLANE_OFFSET_MM),
                           -max(0.0, half_cover - 6.0), max(0.0, half_cover - 6.0)))
    i_mid = 0.5 * (nx - 1) + offset / dx
    h, w, u0, v0 = grid_for(window, dz, dy)
    contrast = sample_contrast(rng, look)
    parts = build_parts(subject, s_range_for_rows(subject.spine, window.u_top, window.u_bot, margin=60.0),
                        lateral=True)
    bias2d = bias_field(rng, (h, w), contrast.acq, (dz, dy))
    lr_slope = rng.normal(0.0, 0.15)
    n_sub = 1 if dx <= 1.6 else (2 if dx <= 2.8 else 3)
    subs = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    slices = np.empty((nx, h, w), dtype=np.float32)
    classes = np.empty((nx, h, w), dtype=np.uint8)
    for i in range(nx):
        x_c = (i - i_mid) * dx
        acc = np.zeros((h, w), dtype=np.float32)
        for k, off in enumerate(subs):
            canvas = Canvas((h, w), u0, v0, dz, dy, contrast.values)
            render(parts, x_c + off * dx, canvas)
            acc += canvas.image
            if k == n_sub // 2:
                classes[i] = canvas.classes
        slices[i] = finish_slice(rng, acc / n_sub, classes[i], contrast, (dz, dy))
    lateral = np.exp(lr_slope * (np.arange(nx) - i_mid) * dx / 50.0).astype(np.float32)
    bias = bias2d[None, :, :] * lateral[:, None, None]
    slices = finish_global(rng, slices, contrast, bias)
    if contrast.acq["zero_border"]:
        slices = zero_border(rng, slices)
    # Model frame (row -> inferior, col -> posterior) to canonical (x, y -> anterior, z -> superior).
    data = np.ascontiguousarray(flip_sagittal(slices))
    cls = np.ascontiguousarray(flip_sagittal(classes))
    origin = rng.uniform(-60.0, 60.0, 3)
    affine = np.array([[-dx, 0.0, 0.0, origin[0]], [0.0, dy, 0.0, origin[1]], [0.0, 0.0, dz, origin[2]],
                       [0.0, 0.0, 0.0, 1.0]])
    geometry = SlabGeometry.unit(ny=w, nz=h)
    discs = {}
    shifts = tip_shifts(subject.spine, subject.coronal)
    for value, (r, c) in tips_in_grid(subject, (h, w), u0, v0, dz, dy).items():
        _, y, z = geometry.model_to_canonical(r, c)[0]
        discs[value] = (float(i_mid + shifts[value] / dx), float(y), float(z))
    meta = {
        "look": look,
        "variant": contrast.variant,
        "fov_mode": mode,
        "region": window.region,
        "voxel_mm": [float(dx), float(dy), float(dz)],
        "midsagittal_x": float(i_mid),
        "midplane_offset_mm": offset,
        "coronal_curve_mm": 0.0 if subject.coronal is None else subject.coronal.amplitude,
        "age": float(subject.spine.params.age),
        "scale": float(subject.spine.params.scale),
    }
    return SynthVolume(data, affine, discs, meta, cls)
