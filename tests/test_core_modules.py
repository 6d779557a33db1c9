"""The homes issue 12 created: atomic writer, naming, sidecar, input contract, label writer,
the in-memory Labeller, the faster symmetry products."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label import atomic
from hca_disc_label.contract import InputContract
from hca_disc_label.errors import HCAError
from hca_disc_label.naming import (
    bids_images,
    contrast_from_name,
    folder_images,
    is_derived_name,
    output_name,
    sidecar_path_for,
    split_label_name,
    strip_nifti_ext,
)
from hca_disc_label.preprocessing import prepare_input
from hca_disc_label.sidecar import build_sidecar, is_up_to_date, our_generation, read_sidecar, written_by_us

SMALL = "sub-errsm30/anat/sub-errsm30_T2w.nii.gz"


# --------------------------------------------------------------------------- atomic
def test_atomic_write_replaces_whole_files_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic.write_text_atomic(target, "one")
    assert target.read_text() == "one" and oct(target.stat().st_mode & 0o777) != "0o600"

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.atomic_write(target, broken)
    assert target.read_text() == "one"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temporary left


def test_pending_temporaries_are_removed_by_the_signal_cleanup(tmp_path):
    tmp = atomic.temp_path_for(tmp_path / "labels.nii.gz")
    assert tmp.exists() and atomic.TEMP_MARK in tmp.name and tmp.name.endswith(".nii.gz")
    assert str(tmp) in atomic.remove_pending()
    assert not tmp.exists() and atomic.remove_pending() == []


# --------------------------------------------------------------------------- naming
def test_naming_rules():
    assert contrast_from_name("sub-01_ses-1_T1w.nii.gz") == "t1"
    assert contrast_from_name("sub-01_acq-T1w_T2w.nii") == "t2"  # the suffix wins
    assert contrast_from_name("sub-01_T2star.nii.gz") is None
    assert strip_nifti_ext("a.nii.gz") == "a" and strip_nifti_ext("a.nii") == "a" and strip_nifti_ext("a.gz") == "a.gz"
    assert output_name("sub-01_T2w.nii") == "sub-01_T2w_label-discs_dlabel.nii.gz"
    assert sidecar_path_for(Path("x/y_dlabel.nii.gz")) == Path("x/y_dlabel.json")
    assert split_label_name("sub-01_T2w_labels-disc-manual.nii") == ("sub-01_T2w", "_labels-disc-manual")
    assert split_label_name("sub-01_T2w.nii.gz") is None
    assert is_derived_name("sub-01_T2w_seg.nii.gz") and not is_derived_name("sub-01_T2w.nii.gz")


def test_discovery_in_bids_and_plain_folders(tmp_path, shared_data):
    bids = shared_data / "bids"
    images = bids_images(bids)
    assert len(images) == 8 and all("derivatives" not in p.parts for p in images)
    plain = tmp_path / "plain"
    (plain / "a" / ".hidden").mkdir(parents=True)
    (plain / "derivatives").mkdir()
    for rel in ("a/x.nii.gz", "a/x_seg.nii.gz", "a/.hidden/y.nii", "derivatives/z.nii", "b.nii"):
        (plain / rel).write_bytes(b"")
    assert [p.relative_to(plain).as_posix() for p in folder_images(plain)] == ["a/x.nii.gz", "b.nii"]


# --------------------------------------------------------------------------- sidecar
def test_sidecar_blocks_generated_by_and_up_to_date(tmp_path):
    model = {"Name": "m", "Version": "1.0.0", "SHA256": "abc"}
    side = build_sidecar(discs=[{"value": 3}], input_path="in.nii.gz", contrast="t2", threshold=0.3, model=model,
                         backend="onnx", device="cpu", command_line="hca_label", slice_info={"canonical_x": 4},
                         hints=[{"source": "-initz"}], extra={"Numbering": {"status": "ok"}})
    entry = our_generation(side)
    assert {"Name", "Version", "Link", "Date", "CommandLine", "Model", "Backend", "Device"} <= set(entry)
    assert side["Numbering"] == {"status": "ok"} and side["NumberingHints"] == [{"source": "-initz"}]
    image, out = tmp_path / "in.nii.gz", tmp_path / "in_label-discs_dlabel.nii.gz"
    image.write_bytes(b"x")
    assert written_by_us(out)  # absent
    out.write_bytes(b"y")
    assert not written_by_us(out)  # no sidecar: someone else's
    sidecar_path_for(out).write_text(json.dumps(side))
    assert written_by_us(out) and read_sidecar(sidecar_path_for(out))["Contrast"] == "t2"
    assert is_up_to_date(out, image, model, 0.3)
    assert not is_up_to_date(out, image, {**model, "Version": "2.0.0"}, 0.3)
    assert not is_up_to_date(out, image, model, 0.5)


# --------------------------------------------------------------------------- contract
def test_input_contract_defaults_once():
    c = InputContract.from_mapping({"pixel_spacing_mm": 1, "size_multiple": 64, "output_stride": 4})
    assert (c.slab_thickness_mm, c.low_percentile, c.high_percentile) == (6.0, 1.0, 99.5)
    assert c.with_slab(3.0).slab_thickness_mm == 3.0 and c.with_slab(None) is c
    prepared = prepare_input(c, np.random.default_rng(0).random((20, 40, 50), dtype=np.float32), (1.0, 1.0, 1.0))
    assert prepared.image.shape[0] % 64 == 0 and prepared.image.shape[1] % 64 == 0


# --------------------------------------------------------------------------- label writer
@pytest.mark.parametrize("shape", [(7, 9, 11), (256, 256, 40), (3, 700, 700)])
def test_label_file_has_the_bytes_nibabel_writes(shape, tmp_path):
    from hca_disc_label.image import LoadedImage
    from hca_disc_label.labelfile import label_image_like, write_label_file

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


# --------------------------------------------------------------------------- labeller
def test_labeller_labels_in_memory_and_writes_nothing(shared_data, tmp_path, monkeypatch):
    from hca_disc_label import Labeller
    from hca_disc_label.image import load_image

    monkeypatch.chdir(tmp_path)
    image = shared_data / "bids" / SMALL
    before = sorted(os.listdir(image.parent))
    labeller = Labeller(None, "t2", "onnx", "cpu")
    first = labeller.label(image)
    again = labeller.label(load_image(image))  # an already loaded image
    assert [d.value for d in first.discs] == [d.value for d in again.discs] and first.discs
    d = first.discs[0]
    assert d.name and len(d.model_rc) == 2 and all(np.isfinite(d.canonical)) and 0 < d.confidence <= 1
    np.testing.assert_allclose(first.image.file_affine[:3, :3] @ d.voxel + first.image.file_affine[:3, 3], d.mm)
    assert {"read", "reorient", "mid_plane", "resample", "forward", "decode", "map"} <= set(first.timings)
    side = first.sidecar("cmd", extra={"Extra": 1})
    assert side["Extra"] == 1 and side["Discs"][0]["value"] == d.value
    assert sorted(os.listdir(image.parent)) == before and os.listdir(tmp_path) == []
    for bad in (float("nan"), 0.0, 1.0):
        with pytest.raises(HCAError, match="threshold"):
            Labeller(None, "t2", "onnx", "cpu", threshold=bad)


def test_mirror_products_match_a_full_float64_copy():
    from hca_disc_label.preprocessing import _mirror_products

    vol = np.random.default_rng(3).normal(100, 30, size=(23, 37, 41)).astype(np.float32)
    vol[5] = 7.0  # a constant slice
    flat = vol.reshape(23, -1).astype(np.float64)
    flat -= flat.mean(axis=1, keepdims=True)
    squares, pairs = _mirror_products(vol.reshape(23, -1), 6)
    np.testing.assert_allclose(squares, (flat * flat).sum(axis=1), rtol=1e-12, atol=1e-9)
    for d in range(1, 7):
        np.testing.assert_allclose(pairs[d], (flat[: 23 - 2 * d] * flat[2 * d:]).sum(axis=1), rtol=1e-12, atol=1e-6)
