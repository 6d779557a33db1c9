"""Drawing for the QC pictures, in one place: the grey scale, the font, the disc colours and the
marked, named discs. Our report's picture (:func:`hca_disc_label.qc.report.render_png`) and the
overlay of SCT's report (:func:`hca_disc_label.qc.sct_view.render_pictures`) differ only in
size and line widths.
"""

from __future__ import annotations

import numpy as np

from hca_disc_label.qc.page import LOW_CONFIDENCE

CONFIDENT = (255, 50, 50)
"""Colour of a disc at or above :data:`~hca_disc_label.qc.page.LOW_CONFIDENCE`."""
DOUBTFUL = (255, 210, 0)
"""Colour of a disc below it."""
CYAN = (0, 230, 255)
"""Colour of the other numbering of a doubtful count (its names, or the doubt line)."""
BLACK = (0, 0, 0)


def font(size: int):
    """Pillow's default font at ``size`` px (one fixed-size bitmap font before Pillow 10.1)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one fixed-size bitmap font
        return ImageFont.load_default()


def grey(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` intensities -> uint8 grey levels: the 1st and 99.5th percentiles map to 0 and
    255, clipped (the arithmetic runs in the image's own dtype)."""
    lo, hi = np.percentile(image, [1, 99.5]) if image.size else (0, 1)
    return (np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)


def opaque(colour: tuple[int, ...], alpha: bool) -> tuple[int, ...]:
    """``colour`` as RGB, or as opaque RGBA for a transparent overlay (``alpha``)."""
    return (*colour, 255) if alpha else tuple(colour)


def mark_disc(draw, x: float, y: float, name: str, confidence: float, text_font, size: tuple[int, int],
              radius: float, ring: int, gap: float, stroke: int, alpha: bool = False) -> tuple[float, float]:
    """Draw one disc: a ring at ``(x, y)`` (picture pixels; black under the colour) and its name.

    The name goes ``gap`` px right of the centre (posterior), or left of it near the picture's
    edge, and stays inside the ``size = (width, height)`` picture so none is cut off.

    Returns:
        ``(tx, ty)``: where the name was put (before clipping ``tx`` at 0).
    """
    colour = opaque(CONFIDENT if confidence >= LOW_CONFIDENCE else DOUBTFUL, alpha)
    black = opaque(BLACK, alpha)
    box = [x - radius, y - radius, x + radius, y + radius]
    draw.ellipse(box, outline=black, width=ring + 2)
    draw.ellipse(box, outline=colour, width=ring)
    left, top, right, bottom = draw.textbbox((0, 0), name, font=text_font)
    width, height = size
    tx = x + gap if x + gap + right - left <= width else x - gap - (right - left)
    ty = min(max(y - (bottom - top) / 2 - top, 0), max(height - bottom, 0))
    draw.text((max(tx, 0), ty), name, fill=colour, font=text_font, stroke_width=stroke, stroke_fill=black)
    return tx, ty
