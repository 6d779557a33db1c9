"""labelfile: the fast label writer writes the bytes nibabel writes."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.image import LoadedImage
from hca_disc_label.labelfile import label_image_like, write_label_file


@pytest.mark.parametrize("shape", [(7, 9, 11), (256, 256, 40), (3, 700, 700)])
def test_label_file_has_the_bytes_nibabel_writes(shape, tmp_path):
    affine = np.diag([0.8, 1.1, 1.3, 1.0])
    src = nib.Nifti1Image(np.zeros(shape, np.int16), affine)
    reference = LoadedImage(tmp_path / "in.nii.gz", src, np.zeros(shape, np.float32), affine, affine, shape)
    last = tuple(s - 1 for s in shape)
    points = [(3, (0, 0, 0)), (25, last), (4, (shape[0] // 2, 1, shape[2] // 3)), (5, (0, 0, 0))]  # a repeat
    nib.save(label_image_like(reference, points), str(tmp_path / "ref.nii.gz"))
    write_label_file(reference, points, tmp_path / "new.nii.gz")
    assert gzip.decompress((tmp_path / "new.nii.gz").read_bytes()) == gzip.decompress(
        (tmp_path / "ref.nii.gz").read_bytes())
    data = np.asanyarray(nib.load(str(tmp_path / "new.nii.gz")).dataobj)
    assert data[0, 0, 0] == 5 and data[last] == 25 and np.count_nonzero(data) == 3


@pytest.mark.parametrize("fmt", [".nii.gz", ".nii"])
def test_reading_rounds_values_merges_repeats_and_ignores_the_rest(fmt, tmp_path, caplog):
    """Float label files as some tools write them: a value rounds to its disc, |x| <= 0.5, NaN and
    infinities are unlabelled, repeated values merge into their centroid, non-disc values warn."""
    from hca_disc_label.labelfile import read_disc_labels

    data = np.zeros((6, 8, 9, 1), np.float32)  # a 4D file with one volume
    data[1, 2, 3, 0] = 3.4
    data[2, 2, 2, 0], data[2, 4, 6, 0] = 5.0, 4.6  # two voxels of 5: centroid (2, 3, 4)
    data[0, 0, 0, 0], data[5, 7, 8, 0] = 0.5, -0.5
    data[3, 3, 3, 0], data[4, 4, 4, 0], data[0, 7, 0, 0] = np.nan, np.inf, -np.inf
    data[5, 0, 0, 0] = 49.2
    affine = np.diag([0.5, 2.0, 1.0, 1.0])
    affine[:3, 3] = (10.0, -4.0, 7.0)
    path = tmp_path / f"lab{fmt}"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    with caplog.at_level("WARNING"):
        points = read_disc_labels(path)
    assert [(p.value, p.voxel) for p in points] == [(3, (1, 2, 3)), (5, (2, 3, 4))]
    assert np.allclose(points[1].mm, (11.0, 2.0, 11.0))
    assert "2 voxels carry value 5" in caplog.text and "non-disc label value 49" in caplog.text
