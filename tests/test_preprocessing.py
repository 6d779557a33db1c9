"""preprocessing: the model frame's one flip (canonical plane <-> model image) and its points."""

from __future__ import annotations

import numpy as np

from hca_disc_label.preprocessing import SlabGeometry, flip_sagittal


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
