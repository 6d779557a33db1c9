"""3D volumes: reproducibility, canonical affine, labels on the mid-sagittal plane, files on disk."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.synth.samples import write_samples
from hca_disc_label.synth.tissues import Tissue
from hca_disc_label.synth.volume import generate_volume

DISC = {int(Tissue.ANNULUS), int(Tissue.NUCLEUS)}
CANAL = {int(Tissue.CSF), int(Tissue.CORD), int(Tissue.NERVE), int(Tissue.FAT), int(Tissue.LIGAMENT)}
BONE = {int(Tissue.CORTEX), int(Tissue.MARROW)}


@pytest.fixture(scope="module")
def volumes():
    return [generate_volume(np.random.default_rng(seed), fov_mode="crop") for seed in range(4)]


def test_reproducible():
    a = generate_volume(np.random.default_rng(11), fov_mode="crop", look="t1")
    b = generate_volume(np.random.default_rng(11), fov_mode="crop", look="t1")
    assert np.array_equal(a.data, b.data) and np.array_equal(a.affine, b.affine) and a.discs == b.discs
    c = generate_volume(np.random.default_rng(12), fov_mode="crop", look="t1")
    assert a.data.shape != c.data.shape or not np.array_equal(a.data, c.data)


def test_canonical_affine_and_voxel_sizes(volumes):
    for v in volumes:
        assert nib.aff2axcodes(v.affine) == ("L", "A", "S")
        dx, dy, dz = v.zooms
        assert 1.0 <= dx <= 4.0 and 0.5 <= dy <= 1.5 and 0.5 <= dz <= 1.5
        assert v.data.dtype == np.float32 and v.data.ndim == 3 and v.data.min() >= 0
        nx = v.data.shape[0]
        offset_mm = (v.meta["midsagittal_x"] - 0.5 * (nx - 1)) * dx
        assert abs(offset_mm) <= 15.0 + 1e-6
        assert 2 <= len(v.discs) <= 5


def test_labels_on_the_midsagittal_plane_at_the_disc_border(volumes):
    for v in volumes:
        x_mid = v.meta["midsagittal_x"]
        for value, (x, y, z) in v.discs.items():
            assert x == pytest.approx(x_mid)
            # World position lies on the mid-sagittal plane of the affine.
            world = v.affine @ np.array([x, y, z, 1.0])
            plane = v.affine @ np.array([x_mid, 0.0, 0.0, 1.0])
            assert world[0] == pytest.approx(plane[0])
            i, j, k = (int(round(c)) for c in (x, y, z))
            near = set(np.unique(v.classes[i, max(j - 2, 0):j + 3, max(k - 2, 0):k + 3]).tolist())
            assert near & CANAL, (value, near)
            assert near & (DISC if value > 2 else BONE), (value, near)


def test_midsagittal_finder_finds_the_plane():
    from hca_disc_label.midsagittal import find_midsagittal_slice

    for seed in (1, 2):
        v = generate_volume(np.random.default_rng(seed), fov_mode="crop")
        found = find_midsagittal_slice(v.data, v.zooms[0])
        assert abs(found - v.meta["midsagittal_x"]) * v.zooms[0] <= 4.0


@pytest.mark.parametrize("volumes_flag", [True, False])
def test_write_samples_roundtrip(tmp_path, volumes_flag):
    paths = write_samples(2, tmp_path, seed=5, volumes=volumes_flag, fov_mode="crop")
    assert len(paths) == 2
    for img_path in paths:
        img = nib.load(img_path)
        stem = img_path.name[: -len(".nii.gz")]
        sub = img_path.parent.parent.name
        lab = nib.load(tmp_path / "derivatives" / "labels" / sub / "anat" / f"{stem}_label-discs_dlabel.nii.gz")
        assert lab.shape == img.shape and np.allclose(lab.affine, img.affine)
        assert np.asarray(lab.dataobj).dtype == np.int16
        values = np.asarray(lab.dataobj)
        nz = values[values > 0]
        sidecar = json.loads((img_path.parent / f"{stem}.json").read_text())
        assert sorted(nz.tolist()) == [d["value"] for d in sidecar["discs"]]
        for d in sidecar["discs"]:
            ijk = np.rint(d["voxel"]).astype(int)
            assert values[tuple(ijk)] == d["value"]
            assert np.allclose(img.affine @ np.array([*d["voxel"], 1.0]), [*d["mm"], 1.0], atol=1e-4)  # header affine is float32
        assert (tmp_path / "previews" / f"{stem}.png").stat().st_size > 1000
    again = write_samples(1, tmp_path / "again", seed=5, volumes=volumes_flag, fov_mode="crop")
    assert np.array_equal(nib.load(again[0]).get_fdata(), nib.load(paths[0]).get_fdata())
