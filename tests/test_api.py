"""The Python API (issue 18 item 6): ``Labeller.label`` takes a path, a nibabel image or an
array with its affine; ``Labelling.to_nifti()`` is the label file in memory; ``label_discs``
infers the contrast from the BIDS suffix (and says so) or refuses; the package exports its
public names without importing them."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

import hca_disc_label
from hca_disc_label import HCAError, Labeller, label_discs
from hca_disc_label.errors import InputImageError
from tests.conftest import REPO

SMALL = "bids/sub-errsm30/anat/sub-errsm30_T2w.nii.gz"


@pytest.fixture(scope="module")
def labeller() -> Labeller:
    return Labeller(None, "t2", "onnx", "cpu")


def _voxels(labelling) -> list[tuple[int, tuple[int, int, int]]]:
    return labelling.label_points()


def test_label_takes_a_path_a_nibabel_image_or_an_array(shared_data, labeller):
    path = shared_data / SMALL
    by_path = labeller.label(path)
    img = nib.load(str(path))
    by_image = labeller.label(img)
    by_array = labeller.label(np.asanyarray(img.dataobj), affine=img.affine)
    assert _voxels(by_path) and _voxels(by_image) == _voxels(by_path) == _voxels(by_array)
    assert by_image.input_path == path and by_array.input_path == Path("<in-memory image>")
    moved = nib.Nifti1Image(np.asanyarray(img.dataobj)[::-1], img.affine @ np.array(  # same anatomy, flipped grid
        [[-1, 0, 0, img.shape[0] - 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]))
    assert [v for v, _ in _voxels(labeller.label(moved))] == [v for v, _ in _voxels(by_path)]


def test_to_nifti_is_the_label_file_in_memory(shared_data, tmp_path, labeller):
    image = tmp_path / Path(SMALL).name
    shutil.copyfile(shared_data / SMALL, image)
    result = label_discs(image, labeller=labeller, command_line="test")
    memory = result.labelling.to_nifti()
    on_disk = nib.load(str(result.output_path))
    assert isinstance(memory, nib.Nifti1Image) and memory.get_data_dtype() == np.int16
    assert memory.shape == on_disk.shape and np.allclose(memory.affine, on_disk.affine)
    assert np.array_equal(np.asanyarray(memory.dataobj), np.asanyarray(on_disk.dataobj))
    assert memory.header.get_qform(coded=True)[1] == on_disk.header.get_qform(coded=True)[1]
    values = sorted(int(v) for v in np.unique(np.asanyarray(memory.dataobj)) if v)
    assert values == sorted(d.value for d in result.discs)


@pytest.mark.parametrize("bad, affine, message", [
    ("array", None, "needs its affine"),
    ("array", np.eye(3), "must be 4x4"),
    ("int", None, "expected a NIfTI path, a nibabel image or an array"),
    ("image", np.eye(4), "affine is for an array only"),
    ("flat", np.eye(4), "is not a 3D image"),
])
def test_bad_in_memory_images_are_one_line_errors(labeller, bad, affine, message):
    data = {"array": np.ones((8, 8, 8)), "int": 3, "flat": np.ones((8, 1, 1)),
            "image": nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4))}[bad]
    with pytest.raises(InputImageError, match=message) as err:
        labeller.label(data, affine=affine)
    assert "\n" not in str(err.value)


def test_label_discs_infers_the_contrast_and_says_which(shared_data, tmp_path, caplog):
    image = tmp_path / Path(SMALL).name
    shutil.copyfile(shared_data / SMALL, image)
    with caplog.at_level(logging.INFO, logger="hca_disc_label"):
        result = label_discs(image, backend="onnx", device="cpu", command_line="test")
    assert result.labelling.contrast == "t2"
    assert "contrast t2 (from the file name's BIDS suffix)" in caplog.text
    unnamed = tmp_path / "scan.nii.gz"
    shutil.copyfile(shared_data / SMALL, unnamed)
    with pytest.raises(HCAError, match="contrast unknown"):
        label_discs(unnamed, backend="onnx", device="cpu")
    assert not list(tmp_path.glob("scan_*"))
    assert label_discs(unnamed, contrast="t1", command_line="test").labelling.contrast == "t1"


def test_the_package_exports_its_public_names():
    names = dir(hca_disc_label)
    for name in hca_disc_label.__all__:
        assert name in names and getattr(hca_disc_label, name) is not None
    assert {"Labeller", "Labelling", "label_discs", "LabelResult", "DiscRecord", "HCAError"} <= set(hca_disc_label.__all__)
    with pytest.raises(AttributeError):
        hca_disc_label.nothing_here  # noqa: B018
    code = ("import sys, hca_disc_label; hca_disc_label.__all__; dir(hca_disc_label); "
            "print(sorted(m for m in ('numpy', 'torch', 'nibabel', 'onnxruntime') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stderr
