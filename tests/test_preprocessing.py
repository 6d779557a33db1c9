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
