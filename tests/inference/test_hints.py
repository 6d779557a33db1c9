"""Numbering hints (SCT's -initlabel / -initz) through the real pipeline.

The network is replaced by an oracle that numbers a real spine confidently one level high
(ground truth value v rendered in channel v - 1), on a randomly reoriented copy of a real
image. Without a hint the written labels are one level off; one hint (a label file on another
grid, or an axial slice) must give every disc its ground-truth value and voxel.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.contract import InputContract
from hca_disc_label.errors import ArgumentValueError, HintError
from hca_disc_label.image import load_image
from hca_disc_label.inference.heatmaps import model_to_heatmap, render_heatmaps
from hca_disc_label.labelfile import read_disc_labels
from hca_disc_label.preprocessing import prepare_input
from hca_disc_label.run.pipeline import label_discs
from tests.helpers import ORIENTATIONS, PrecomputedBackend, StandInModel, real_cases, reorient

IVD25 = 4  # index of sub-ivd25 in real_cases(bids): the lumbar case 0.3.0 numbers one level high


@pytest.fixture
def shifted_case(shared_data, tmp_path):
    """(image path, GT points, original label path, oracle backend, file x) on a random grid."""
    img_path, lab_path = real_cases(shared_data / "bids")[IVD25]
    assert "ivd25" in img_path.name
    perm, flips = ORIENTATIONS[np.random.default_rng(7).integers(len(ORIENTATIONS))]
    ip = tmp_path / "img.nii.gz"
    nib.save(reorient(nib.load(str(img_path)), perm, flips), str(ip))
    model = StandInModel()
    c = model.input_contract
    image = load_image(ip)
    gt = read_disc_labels(lab_path)
    # GT voxels are on the original grid: go through world mm to the reoriented image
    inv = np.linalg.inv(image.affine)
    gt_can = np.array([inv[:3, :3] @ np.array(p.mm) + inv[:3, 3] for p in gt])
    x_can = int(np.round(np.median(gt_can[:, 0])))
    prepared = prepare_input(InputContract.from_mapping(c), image.data, image.zooms, x_center=x_can)
    rc = prepared.geometry.canonical_to_model(gt_can[:, 1:])
    one_high = {p.value - 1: tuple(model_to_heatmap(pt, c["output_stride"])) for p, pt in zip(gt, rc)}
    shape = tuple(s // c["output_stride"] for s in prepared.image.shape)
    heatmaps = render_heatmaps(one_high, model.channel_values, shape, c["heatmap_sigma_px"])
    lr_axis = int(np.argmax(np.abs((np.linalg.inv(image.file_affine) @ image.affine)[:3, 0])))
    x_file = int(round(image.canonical_to_file(np.array([x_can, 0.0, 0.0]))[lr_axis]))
    return ip, gt, gt_can, lab_path, PrecomputedBackend(heatmaps), x_file


def _run(case, out, **hints):
    ip, _, _, _, backend, x_file = case
    return label_discs(ip, "t2", output=out, x=x_file, model=StandInModel(), backend=backend,
                       command_line="test", **hints)


def _written_mm(path):
    return {p.value: np.array(p.mm) for p in read_disc_labels(path)}


def test_without_hint_the_oracle_is_one_level_high(shifted_case, tmp_path):
    _, gt, *_ = shifted_case
    _run(shifted_case, tmp_path / "out.nii.gz")
    assert sorted(_written_mm(tmp_path / "out.nii.gz")) == [p.value - 1 for p in gt]


def _assert_ground_truth(gt, path):
    written = _written_mm(path)
    assert sorted(written) == [p.value for p in gt]
    for p in gt:
        assert np.linalg.norm(written[p.value] - np.array(p.mm)) <= 6.0  # slab centre vs the GT's own slice


def test_initlabel_on_another_grid_renumbers_every_disc(shifted_case, tmp_path):
    _, gt, _, lab_path, _, _ = shifted_case
    lab = nib.load(str(lab_path))
    data = np.asanyarray(lab.dataobj).copy()
    data[data != 25] = 0  # the user marks L5/S1 only, on the original (not reoriented) grid
    hint = tmp_path / "hint.nii.gz"
    nib.save(nib.Nifti1Image(data.astype(np.int16), lab.affine), str(hint))
    before = hint.read_bytes()
    result = _run(shifted_case, tmp_path / "out.nii.gz", init_label=hint)
    _assert_ground_truth(gt, tmp_path / "out.nii.gz")
    assert hint.read_bytes() == before
    sidecar = json.loads(result.sidecar_path.read_text())
    assert sidecar["NumberingHints"] == [{"source": "-initlabel", "file": str(hint)}]


def test_initz_renumbers_every_disc(shifted_case, tmp_path):
    _, gt, gt_can, *_ = shifted_case
    k = [p.value for p in gt].index(23)  # L3/L4, in the middle
    z = int(round(gt_can[k, 2]))  # RPI / canonical axial index, inferior = 0
    result = _run(shifted_case, tmp_path / "out.nii.gz", init_z=(z, 23))
    _assert_ground_truth(gt, tmp_path / "out.nii.gz")
    assert json.loads(result.sidecar_path.read_text())["NumberingHints"][0] == {
        "source": "-initz", "slice": z, "value": 23}


def test_unusable_hints_fail_cleanly_and_write_nothing(shifted_case, tmp_path):
    ip, gt, gt_can, lab_path, _, _ = shifted_case
    out = tmp_path / "out.nii.gz"
    nz = load_image(ip).data.shape[2]
    empty = tmp_path / "empty.nii.gz"
    lab = nib.load(str(lab_path))
    nib.save(nib.Nifti1Image(np.zeros(lab.shape, np.int16), lab.affine), str(empty))
    far = int(round(gt_can[:, 2].max())) + 20  # 20 mm above the highest disc: T12/L1 is ~30 mm up
    far = min(far, nz - 1)
    with pytest.raises(ArgumentValueError, match="is outside") as err:  # the CLI: a usage error
        _run(shifted_case, out, init_z=(nz + 5, 23))
    assert err.value.option == "-initz" and not out.exists()
    cases = [
        ({"init_label": empty}, "no disc label"),
        ({"init_label": tmp_path / "missing.nii.gz"}, "-initlabel"),
    ]
    if far - gt_can[:, 2].max() > 12:
        cases.append(({"init_z": (far, 20)}, "no disc detected within"))
    for hints, message in cases:
        with pytest.raises(HintError, match=message):
            _run(shifted_case, out, **hints)
        assert not out.exists() and not out.with_name("out.json").exists()
