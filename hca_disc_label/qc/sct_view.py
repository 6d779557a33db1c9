"""The pictures of our entry in SCT's QC report: a sagittal view of the labelled image with the
discs marked and named (:class:`SagittalView`), rendered as SCT's two same-size PNGs (the grey
anatomy and a transparent overlay the page toggles).

:mod:`hca_disc_label.qc.sct_qc` writes the entry's record and keeps SCT's page up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from hca_disc_label.atomic import atomic_write
from hca_disc_label.contract import DEFAULT_SLAB_THICKNESS_MM
from hca_disc_label.conventions import disc_name
from hca_disc_label.image import load_image
from hca_disc_label.labelfile import read_disc_labels
from hca_disc_label.preprocessing import SlabGeometry, flip_sagittal
from hca_disc_label.qc.draw import BLACK, CYAN, font, grey, mark_disc, opaque

WIDTH_PX = 500
"""Picture width: what SCT's sagittal entries use, so ours look alike in its viewer."""
MAX_HEIGHT_PX = 3000
"""A long field of view (whole spine) is made narrower rather than taller than this."""


@dataclass(frozen=True)
class SagittalView:
    """A sagittal picture and the discs on it.

    Attributes:
        image: ``(H, W)`` intensities, row -> inferior (head at the top), col -> posterior
            (face on the left), as SCT's sagittal entries and our model frame show it.
        pixel_mm: ``(row, col)`` pixel size in mm (may differ: the picture keeps proportions).
        discs: ``(value, name, row, col, confidence)`` in picture pixels (floats).
        doubt: a line written across the top of the overlay (a doubtful count), or None.
    """

    image: np.ndarray
    pixel_mm: tuple[float, float]
    discs: tuple[tuple[int, str, float, float, float], ...]
    doubt: str | None = None


def numbering_doubt(numbering: Mapping | None) -> str | None:
    """The overlay line of a ``check`` count (``NUMBERING CHECK 0.69: -initz 72,2``), else None."""
    if not numbering or numbering.get("status") != "check":
        return None
    conf = numbering.get("confidence")
    text = "NUMBERING CHECK" + (f" {conf:.2f}" if isinstance(conf, (int, float)) else "")
    return text + (f": {numbering['hint']}" if numbering.get("hint") else "")


def view_from_slab(raw: np.ndarray, spacing_mm: float, records: Iterable) -> SagittalView:
    """The view of our own QC picture: the averaged mid-sagittal slab in the model frame.

    Args:
        raw: ``(H, W)`` slab (``PreparedSlab.centre_raw``), row -> inferior, col -> posterior.
        spacing_mm: its isotropic pixel size.
        records: disc records with ``value``, ``name``, ``model_rc`` and ``confidence``.
    """
    discs = tuple((int(r.value), str(r.name), float(r.model_rc[0]), float(r.model_rc[1]), float(r.confidence))
                  for r in records)
    return SagittalView(np.asarray(raw, dtype=np.float32), (float(spacing_mm), float(spacing_mm)), discs)


def view_from_files(input_path: Path, label_path: Path, slab_mm: float = DEFAULT_SLAB_THICKNESS_MM) -> SagittalView:
    """The view rebuilt from the files alone: the input image and a written disc-label file.

    The sagittal plane is the labels' median left-right position; ``slab_mm`` of slices around
    it are averaged (as the labelling did). Confidences are unknown and shown as 1.
    """
    image = load_image(input_path)
    points = read_disc_labels(label_path)
    canonical = np.array([image.world_to_canonical(p.mm) for p in points]).reshape(-1, 3)
    nx, ny, nz = image.data.shape
    zx, zy, zz = image.zooms
    x = int(np.clip(np.rint(np.median(canonical[:, 0])) if len(canonical) else nx // 2, 0, nx - 1))
    half = max(0, int(round(slab_mm / zx / 2 - 0.5)))
    slab = image.data[max(0, x - half): x + half + 1].mean(axis=0)  # (y, z)
    picture = flip_sagittal(slab)  # row = nz-1-z (head up), col = ny-1-y (posterior to the right)
    rows_cols = SlabGeometry.unit(ny, nz).canonical_to_model(canonical[:, 1:])
    discs = tuple((p.value, disc_name(p.value), float(r), float(c), 1.0) for p, (r, c) in zip(points, rows_cols))
    return SagittalView(picture.astype(np.float32), (zz, zy), discs)


def render_pictures(view: SagittalView, background: Path, overlay: Path) -> tuple[int, int]:
    """Write the background (grey anatomy) and overlay (discs, transparent; a doubtful count's line
    at the top) PNGs; same size.

    The picture keeps physical proportions, :data:`WIDTH_PX` wide (narrower for a long field
    of view, at most :data:`MAX_HEIGHT_PX` tall). Confident discs are red, the others (below
    :data:`~hca_disc_label.qc.page.LOW_CONFIDENCE`) yellow. Returns ``(width, height)``.
    """
    from PIL import Image, ImageDraw

    img = np.nan_to_num(np.asarray(view.image, dtype=np.float64))
    h_mm, w_mm = img.shape[0] * view.pixel_mm[0], img.shape[1] * view.pixel_mm[1]
    px_per_mm = min(WIDTH_PX / max(w_mm, 1e-6), MAX_HEIGHT_PX / max(h_mm, 1e-6))
    width, height = max(1, round(w_mm * px_per_mm)), max(1, round(h_mm * px_per_mm))
    back = Image.fromarray(grey(img)).resize((width, height), Image.BILINEAR)
    atomic_write(background, lambda tmp: back.save(tmp, format="PNG"))

    over = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(over)
    text_font = font(max(12, round(width / 28)))
    sy, sx = height / img.shape[0], width / img.shape[1]
    radius = max(4, round(width / 80))
    for _value, name, row, col, confidence in view.discs:
        mark_disc(draw, (col + 0.5) * sx, (row + 0.5) * sy, name, confidence, text_font, (width, height),
                  radius=radius, ring=2, gap=radius + 4, stroke=2, alpha=True)
    if view.doubt:
        draw.text((4, 2), view.doubt, fill=opaque(CYAN, True), font=font(max(11, round(width / 32))), stroke_width=2,
                  stroke_fill=opaque(BLACK, True))
    atomic_write(overlay, lambda tmp: over.save(tmp, format="PNG"))
    return width, height
