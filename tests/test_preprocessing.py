"""preprocessing: the model frame's one flip (canonical plane <-> model image) and its points;
the numpy resampling against scipy.ndimage, its reference."""

from __future__ import annotations

import numpy as np
import pytest

from hca_disc_label.preprocessing import SlabGeometry, flip_sagittal, gaussian_blur_axis, linear_sample_axis, resample_plane


def test_flip_sagittal_is_its_own_inverse_and_matches_the_unit_geometry():
    plane = np.arange(4 * 6, dtype=float).reshape(4, 6)  # (Y, Z): ny = 4, nz = 6
    image = flip_sagittal(plane)
    assert image.shape == (6, 4) and np.array_equal(flip_sagittal(image), plane)
    assert image[0, 0] == plane[3, 5]  # top-left: the most superior, most anterior voxel
    geometry = SlabGeometry.unit(ny=4, nz=6, x_center=2)
    for y, z in [(0, 0), (1, 4), (3, 5)]:
        r, c = geometry.canonical_to_model((y, z))
        assert image[int(r), int(c)] == plane[y, z]
        assert tuple(geometry.model_to_canonical(r, c)[0]) == (2.0, y, z)
    volume = np.stack([plane, plane + 100])  # (X, Y, Z): the flip acts on the last two axes
    assert np.array_equal(flip_sagittal(volume)[1], image + 100)


def test_prepare_input_stacks_one_slab_per_lateral_offset_clipped_to_the_volume():
    from hca_disc_label.contract import InputContract
    from hca_disc_label.preprocessing import normalise, prepare_input, prepare_slab

    rng = np.random.default_rng(0)
    vol = rng.random((15, 30, 40), dtype=np.float32) + np.arange(15, dtype=np.float32)[:, None, None]
    zooms = (2.0, 1.0, 1.5)  # 2 mm slices: the 6 mm slab averages 3 of them
    one = InputContract(1.0, 16, 4)
    three = InputContract(1.0, 16, 4, channel_offsets_mm=(-4.0, 0.0, 30.0))
    centre = prepare_input(one, vol, zooms, x_center=7)
    prepared = prepare_input(three, vol, zooms, x_center=7)
    assert centre.image.ndim == 2 and prepared.image.shape == (3, *centre.image.shape)
    assert prepared.geometry == centre.geometry and prepared.centre == 1
    np.testing.assert_array_equal(prepared.centre_raw, centre.raw)
    np.testing.assert_array_equal(prepared.image[1], centre.image)
    # channel k = the slab at x_center + offset / 2 mm (-4 mm: slice 5; +30 mm: past the edge -> slice 14)
    for k, x in ((0, 5), (2, 14)):
        np.testing.assert_array_equal(prepared.raw[k], prepare_slab(vol, zooms, 1.0, 1, x_center=x).raw)
    edge = vol[[13, 14]].mean(axis=0)  # the edge slab: clipped to the volume
    assert np.isclose(prepared.raw[2].mean(), edge.mean(), rtol=1e-3)
    # every channel with the centre slab's percentiles: brighter lateral slabs saturate
    h, w = centre.raw.shape
    np.testing.assert_array_equal(prepared.image[:, :h, :w], normalise(prepared.raw, reference=centre.raw))
    assert prepared.image[2, :h, :w].min() == 1.0 and prepared.image[0, :h, :w].max() < 1.0


@pytest.mark.parametrize("seed", range(6))
def test_resample_plane_matches_scipy_gaussian_filter_and_linear_map_coordinates(seed):
    """The numpy anti-aliasing and bilinear sampling give scipy.ndimage's result (float32
    rounding), on random planes, dtypes and spacings, including planes narrower than the
    Gaussian kernel (mirrored more than once)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    ny, nz = (int(v) for v in rng.integers(2, 50, 2))
    plane = rng.normal(size=(ny, nz)).astype(rng.choice([np.float32, np.float64]))
    zoom_y, zoom_z = rng.uniform(0.2, 4.0, 2)
    spacing = float(rng.uniform(0.3, 3.0))
    image, ratio_y, ratio_z = resample_plane(plane, zoom_y, zoom_z, spacing)

    sigma = [max(0.0, (r - 1.0) / 2.0) for r in (ratio_y, ratio_z)]
    src = ndimage.gaussian_filter(plane.astype(np.float64), sigma)
    rows, cols = np.meshgrid(np.arange(image.shape[0]), np.arange(image.shape[1]), indexing="ij")
    coords = [(ny - 1) - cols * ratio_y, (nz - 1) - rows * ratio_z]
    expected = ndimage.map_coordinates(src, coords, order=1, mode="nearest")
    assert image.dtype == np.float32
    assert image.shape == (int(np.floor((nz - 1) / ratio_z + 1e-6)) + 1, int(np.floor((ny - 1) / ratio_y + 1e-6)) + 1)
    np.testing.assert_allclose(image, expected, atol=1e-5)


def test_gaussian_blur_axis_keeps_a_constant_and_the_sum_and_smooths_one_axis_only():
    image = np.zeros((5, 41))
    image[2, 20] = 1.0
    blurred = gaussian_blur_axis(image, 2.0, axis=1)
    assert blurred[2].sum() == pytest.approx(1.0) and blurred[[0, 1, 3, 4]].sum() == 0.0
    assert blurred[2, 20] == blurred[2].max() and blurred[2, 18] == pytest.approx(blurred[2, 22])
    np.testing.assert_allclose(gaussian_blur_axis(np.full((3, 4), 7.0), 3.0, axis=0), 7.0)
    assert np.array_equal(gaussian_blur_axis(image, 0.0, axis=0), image)


def test_linear_sample_axis_interpolates_and_holds_the_edge_values():
    image = np.array([[0.0, 10.0, 20.0], [1.0, 11.0, 21.0]])
    out = linear_sample_axis(image, np.array([-1.0, 0.0, 0.25, 1.5, 2.0, 9.0]), axis=1)
    np.testing.assert_allclose(out[0], [0.0, 0.0, 2.5, 15.0, 20.0, 20.0])
    np.testing.assert_allclose(linear_sample_axis(image, np.array([0.5]), axis=0), [[0.5, 10.5, 20.5]])
