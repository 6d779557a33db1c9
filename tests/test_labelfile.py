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
