"""I/O: loading any orientation/dtype/format, validation errors, exact output grid."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.errors import ArgumentValueError, InputImageError, OutputError
from hca_disc_label.image import check_output_path, load_image, voxel_to_world, world_to_voxel
from hca_disc_label.labelfile import label_image_like, read_disc_labels, save_image_atomic
from tests.helpers import ORIENTATIONS, reorient


def _volume(rng, shape=(20, 30, 40), dtype=np.float32):
    data = rng.normal(100, 20, size=shape)
    return data.astype(dtype) if np.issubdtype(dtype, np.floating) else np.clip(data, 0, 255).astype(dtype)


def _save(tmp_path, data, affine=None, name="img.nii.gz", qcode=1, scode=1):
    img = nib.Nifti1Image(data, np.eye(4) if affine is None else affine)
    img.set_qform(img.affine, qcode)
    img.set_sform(img.affine, scode)
    path = tmp_path / name
    nib.save(img, str(path))
    return path


@pytest.mark.parametrize("seed", range(6))
def test_canonical_frame_and_roundtrip(tmp_path, seed):
    rng = np.random.default_rng(seed)
    dtype = [np.float32, np.int16, np.uint8, np.float64][seed % 4]
    base = nib.Nifti1Image(_volume(rng, dtype=dtype), np.diag([0.8, 1.0, 1.3, 1.0]))
    perm, flips = ORIENTATIONS[rng.integers(len(ORIENTATIONS))]
    img = reorient(base, perm, flips)
    path = tmp_path / ("img.nii" if seed % 2 else "img.nii.gz")
    nib.save(img, str(path))
    loaded = load_image(str(path) if seed % 3 else path)
    assert nib.aff2axcodes(loaded.affine) == ("L", "A", "S")
    # same world point for a voxel through both grids
    vox = np.array([[1, 2, 3], [5, 7, 11]], float)
    can = loaded.file_to_canonical(vox)
    np.testing.assert_allclose(loaded.affine[:3, :3] @ can.T + loaded.affine[:3, 3:4],
                               loaded.file_affine[:3, :3] @ vox.T + loaded.file_affine[:3, 3:4], atol=1e-6)
    np.testing.assert_allclose(loaded.canonical_to_file(can), vox, atol=1e-9)
    # voxel values follow
    f = np.asanyarray(img.dataobj).astype(np.float32)
    c = np.rint(can).astype(int)
    assert loaded.data[tuple(c[0])] == pytest.approx(f[1, 2, 3])


def test_label_image_keeps_grid_and_codes(tmp_path):
    rng = np.random.default_rng(1)
    aff = np.array([[0, 0, -0.9, 10], [1.1, 0, 0, -20], [0, 1.0, 0, 5], [0, 0, 0, 1]])
    path = _save(tmp_path, _volume(rng), aff, qcode=2, scode=1)
    ref = load_image(path)
    out = tmp_path / "lab.nii.gz"
    save_image_atomic(label_image_like(ref, [(3, (1, 2, 3)), (4, (4, 5, 6))]), out)
    lab = nib.load(str(out))
    src = nib.load(str(path))
    assert lab.shape == src.shape
    np.testing.assert_allclose(lab.get_qform(), src.get_qform())
    np.testing.assert_allclose(lab.get_sform(), src.get_sform())
    assert int(lab.header["qform_code"]) == 2 and int(lab.header["sform_code"]) == 1
    pts = read_disc_labels(out)
    assert [(p.value, p.voxel) for p in pts] == [(3, (1, 2, 3)), (4, (4, 5, 6))]
    assert not list(tmp_path.glob(".*tmp*"))


def _bad(tmp_path, kind):
    rng = np.random.default_rng(0)
    if kind == "missing":
        return tmp_path / "nope.nii.gz"
    if kind == "not_nifti":
        p = tmp_path / "x.nii.gz"
        p.write_bytes(gzip.compress(b"hello, not an image" * 50))
        return p
    if kind == "text":
        p = tmp_path / "notes.txt"
        p.write_text("hi")
        return p
    if kind == "truncated":
        p = _save(tmp_path, _volume(rng, (40, 40, 40)))
        raw = p.read_bytes()
        p.write_bytes(raw[: len(raw) // 2])
        return p
    if kind == "2d":
        return _save(tmp_path, rng.normal(size=(30, 30)).astype(np.float32))
    if kind == "zeros":
        return _save(tmp_path, np.zeros((10, 20, 20), np.float32))
    if kind == "constant":
        return _save(tmp_path, np.full((10, 20, 20), 7, np.int16))
    if kind == "nan":
        return _save(tmp_path, np.full((10, 20, 20), np.nan, np.float32))
    if kind == "singular":
        aff = np.eye(4)
        aff[2, 2] = 0
        img = nib.Nifti1Image(_volume(rng), None)
        img.set_qform(None, code=0)
        img.set_sform(aff, code=1)
        p = tmp_path / "singular.nii.gz"
        nib.save(img, str(p))
        return p
    if kind == "axial":
        return _save(tmp_path, _volume(rng), np.diag([0.5, 0.5, 5.0, 1]))
    raise AssertionError(kind)


BAD = {
    "missing": "not found",
    "not_nifti": "cannot be read",
    "text": "not a NIfTI",
    "truncated": "corrupt or truncated",
    "2d": "2D",
    "zeros": "constant",
    "constant": "constant",
    "nan": "NaN",
    "singular": "not invertible",
    "axial": "too coarse",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_inputs_raise_one_line(tmp_path, kind):
    path = _bad(tmp_path, kind)
    with pytest.raises(InputImageError) as err:
        load_image(path)
    msg = str(err.value)
    assert BAD[kind] in msg and str(path) in msg and "\n" not in msg


def test_4d_uses_mean_over_time(tmp_path, caplog):
    rng = np.random.default_rng(3)
    data = np.stack([_volume(rng), _volume(rng)], axis=-1)
    img = load_image(_save(tmp_path, data, np.diag([-1.0, 1, 1, 1])))  # already L-A-S
    assert img.data.shape == (20, 30, 40)
    np.testing.assert_allclose(img.data, data.mean(axis=-1), rtol=1e-5)
    assert "mean over time" in caplog.text


def test_partial_nan_is_zero_filled(tmp_path):
    data = _volume(np.random.default_rng(4))
    data[0, 0, :5] = np.nan
    assert np.isfinite(load_image(_save(tmp_path, data)).data).all()


def test_output_checks(tmp_path):
    img = _save(tmp_path, _volume(np.random.default_rng(0)))
    with pytest.raises(ArgumentValueError, match="is the input") as err:
        check_output_path(img, img)
    assert err.value.option == "-o"
    with pytest.raises(ArgumentValueError, match=r"\.nii"):
        check_output_path(tmp_path / "out.png", img)
    (tmp_path / "dir.nii.gz").mkdir()
    with pytest.raises(ArgumentValueError, match="is a folder"):
        check_output_path(tmp_path / "dir.nii.gz", img)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if os.geteuid() != 0:  # root can write anywhere
            with pytest.raises(OutputError, match="not writable"):
                check_output_path(ro / "x.nii.gz", img)
    finally:
        ro.chmod(0o700)


def test_voxel_and_world_conversions_are_inverse(tmp_path):
    affine = np.array([[0.0, 0.0, -1.2, 30.0], [0.9, 0.0, 0.0, -12.0], [0.0, 1.1, 0.0, 5.0], [0, 0, 0, 1]])
    ijk = np.array([3.0, 7.5, 11.0])
    mm = voxel_to_world(affine, ijk)
    np.testing.assert_allclose(mm, (affine @ [*ijk, 1.0])[:3])
    np.testing.assert_allclose(world_to_voxel(affine, mm), ijk, atol=1e-12)
    path = tmp_path / "img.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(0).random((12, 14, 16)).astype(np.float32), affine), str(path))
    image = load_image(path)
    np.testing.assert_allclose(image.file_to_world(ijk), mm)
    np.testing.assert_allclose(image.world_to_file(mm), ijk, atol=1e-9)
    np.testing.assert_allclose(image.canonical_to_file(image.world_to_canonical(mm)), ijk, atol=1e-9)
