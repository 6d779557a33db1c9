"""Anti-aliased rasteriser: exact areas, partial volume, bands, class map."""

from __future__ import annotations

import numpy as np

from hca_disc_label.synth import shapes
from hca_disc_label.synth.raster import Band, Canvas, Poly, batch_coverage


def test_polygon_coverage_is_exact_for_axis_aligned_square():
    c = Canvas((20, 20), 0.0, 0.0, 1.0, 1.0, np.ones(19, dtype=np.float32))
    c.paint_all([Poly(np.array([[1.5, 1.5], [1.5, 5.5], [5.5, 5.5], [5.5, 1.5]]), 1)])
    assert c.image.sum() == 16.0
    assert c.image[2:6, 2:6].min() == 1.0
    c = Canvas((20, 20), 0.0, 0.0, 1.0, 1.0, np.ones(19, dtype=np.float32))
    c.paint_all([Poly(np.array([[2.0, 2.0], [2.0, 6.25], [6.0, 6.25], [6.0, 2.0]]), 1)])
    assert abs(c.image.sum() - 4.0 * 4.25) < 1e-6
    assert abs(c.image[3, 6] - 0.75) < 1e-6  # partial volume on the right edge


def test_ellipse_area_and_class_map():
    c = Canvas((60, 60), 0.0, 0.0, 0.5, 0.5, np.ones(19, dtype=np.float32))
    c.paint_all([Poly(shapes.ellipse(np.array([15.2, 14.7]), 8.0, 5.0, 0.4, 200), 4)])
    area_mm2 = c.image.sum() * 0.25
    assert abs(area_mm2 - np.pi * 40.0) < 1.0
    assert abs((c.classes == 4).sum() * 0.25 - np.pi * 40.0) < 4.0


def test_band_and_later_items_paint_over():
    vals = np.arange(19, dtype=np.float32)
    c = Canvas((30, 30), 0.0, 0.0, 1.0, 1.0, vals)
    u = np.linspace(-5.0, 35.0, 41)
    c.paint_all([Band(u, np.full_like(u, 10.0 - 0.5), np.full_like(u, 14.5), 3),
                 Poly(np.array([[9.5, 11.5], [9.5, 12.5], [12.5, 12.5], [12.5, 11.5]]), 7)])
    assert np.all(c.classes[:, 10:15][c.classes[:, 10:15] != 7] == 3)
    assert c.image[11, 12] == 7.0 and c.image[20, 12] == 3.0
    assert c.image[:, :10].max() == 0.0 and c.image[:, 15:].max() == 0.0


def test_batch_coverage_skips_outside():
    out = batch_coverage([np.array([[-10.0, -10.0], [-10.0, -5.0], [-5.0, -5.0]]),
                          np.array([[1.0, 1.0], [1.0, 3.0], [3.0, 3.0], [3.0, 1.0]])], [4, 4], (8, 8))
    assert out[0] is None and out[1] is not None


def test_batch_coverage_sliver_left_of_every_pixel_column():
    # a polygon that reaches the image but whose sampled edges all lie left of column 0:
    # numpy's bincount then returns integers (this once crashed a training run at step 5163)
    poly = np.array([[4.58, -1.31], [-0.61, -1.48], [4.81, -0.77], [5.11, -0.50]])
    (out,) = batch_coverage([poly], [1], (8, 8))
    assert out is None or (out[2].dtype.kind == "f" and np.all((0 <= out[2]) & (out[2] <= 1)))
