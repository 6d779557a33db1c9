"""hca_label and the numbering status: the warning line with its hint, the sidecar block, the
threshold option, batch summary and numbering.tsv (heatmaps given, no network)."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.cli.main import main
from hca_disc_label.conventions import TYPICAL_LEVEL_SPACING_MM
from hca_disc_label.inference.heatmaps import model_to_heatmap, render_heatmaps
from tests.helpers import PrecomputedBackend

def _default_channels() -> list[int]:
    from hca_disc_label.weights.resolve import resolve_model

    return list(resolve_model("hca-compact").channel_values)


VALUES = _default_channels()  # the default model's output channels (discs, then any landmarks: silent here)
SHAPE = (21, 128, 256)  # canonical-ish x, y (A-P), z (S-I), 1 mm: model frame 256 x 128
STRIDE = 4  # the default model's contract


def _heatmaps(values, split: bool):
    """Heatmaps of the default model's output shape: discs at the typical spacing; with
    ``split`` each also fires the channel one level below almost as strongly."""
    shape = (SHAPE[2] // STRIDE, SHAPE[1] // STRIDE)
    maps = np.zeros((len(VALUES),) + shape, dtype=np.float32)
    row = 40.0
    for v in values:
        for value, amp in ([(v, 0.62), (v + 1, 0.6)] if split else [(v, 0.95)]):
            one = render_heatmaps({value: tuple(model_to_heatmap((row, 60.0), STRIDE))}, VALUES, shape, 1.5)
            maps = np.maximum(maps, amp * one)
        row += TYPICAL_LEVEL_SPACING_MM.get(v, 30.0)
    return maps


def _image(path):
    rng = np.random.default_rng(0)
    data = rng.random(SHAPE).astype(np.float32)
    data[8:13] += 1.0  # a brighter mid-plane so the slab search has something to find
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 1.0, 1.0])), str(path))
    return path


@pytest.fixture
def engine(monkeypatch):
    """The default model's card and calibration, with heatmaps set per test."""
    holder = {}

    def create_backend(folder, backend="auto", device="auto", threads=None):
        return PrecomputedBackend(holder["maps"])

    monkeypatch.setattr("hca_disc_label.inference.backends.create_backend", create_backend)
    return holder


def _default_cut():
    from hca_disc_label.inference.labeller import model_calibration
    from hca_disc_label.weights.resolve import resolve_model

    return model_calibration(resolve_model("hca-compact")).threshold


def _sidecar(img):
    return json.loads(img.with_name(img.name.replace(".nii.gz", "_label-discs_dlabel.json")).read_text())


def test_doubtful_count_warns_once_with_the_hint_that_settles_it(tmp_path, engine, capsys):
    img = _image(tmp_path / "sub-01_T2w.nii.gz")
    engine["maps"] = _heatmaps(range(18, 24), split=True)
    assert main(["-i", str(img), "-c", "t2"]) == 0
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if "numbering" in ln]
    assert len(lines) == 1, captured.err
    line = lines[0]
    assert f"{img}: numbering uncertain (" in line
    assert "is the lowest disc L3/L4 or L4/L5?" in line
    hint, shift = line.split("confirm with: ")[1].split("; if L4/L5: ")
    assert shift == hint[:-3] + ",24"  # the other answer: the same disc named L4/L5
    assert hint.startswith(f"hca_label -i {img} -c t2 -initz ") and hint.endswith(",23")
    assert "Numbering: check" in captured.out
    block = _sidecar(img)["Numbering"]
    assert set(block) >= {"confidence", "status", "alternative", "anchors", "threshold", "source"}
    assert block["status"] == "check" and 0 <= block["confidence"] < block["threshold"] == _default_cut()
    assert block["alternative"]["offset"] == 1 and 0 < block["alternative"]["confidence"] <= 1
    assert block["source"] == "network" and isinstance(block["anchors"], list)
    assert "-initz " + hint.split("-initz ")[1] == block["hint"]
    # the hint, as printed, names the lowest disc: the count comes from it, status ok, no warning
    z = int(hint.split("-initz ")[1].split(",")[0])
    assert main(["-i", str(img), "-c", "t2", "-initz", f"{z},23"]) == 0
    captured = capsys.readouterr()
    assert "numbering uncertain" not in captured.err
    side = _sidecar(img)
    assert side["Discs"][-1]["value"] == 23
    assert side["Numbering"]["status"] == "ok" and side["Numbering"]["source"] == "hint"
    assert side["Numbering"]["confidence"] == 1.0
    assert {"kind": "hint", "source": "-initz", "slice": z, "value": 23} in side["Numbering"]["anchors"]


def test_clear_count_gives_no_warning(tmp_path, engine, capsys):
    img = _image(tmp_path / "sub-02_T2w.nii.gz")
    engine["maps"] = _heatmaps(range(19, 26), split=False)
    assert main(["-i", str(img), "-c", "t2"]) == 0
    captured = capsys.readouterr()
    assert "numbering" not in captured.err
    block = _sidecar(img)["Numbering"]
    assert block["status"] == "ok" and block["confidence"] >= block["threshold"] == _default_cut() and "hint" in block


def test_numbering_threshold_option(tmp_path, engine, capsys):
    img = _image(tmp_path / "sub-03_T2w.nii.gz")
    engine["maps"] = _heatmaps(range(18, 24), split=True)
    assert main(["-i", str(img), "-c", "t2", "-numbering-thr", "0.1"]) == 0
    assert "numbering uncertain" not in capsys.readouterr().err
    assert _sidecar(img)["Numbering"]["status"] == "ok" and _sidecar(img)["Numbering"]["threshold"] == 0.1
    for bad in ("1.5", "nan", "-0.1"):
        assert main(["-i", str(img), "-c", "t2", "-numbering-thr", bad]) == 2


def test_batch_counts_and_lists_check_images_and_writes_the_table(tmp_path, engine, capsys):
    bids = tmp_path / "bids"
    (bids / "dataset_description.json").parent.mkdir(parents=True)
    (bids / "dataset_description.json").write_text(json.dumps({"Name": "t", "BIDSVersion": "1.8.0"}))
    for sub in ("sub-01", "sub-02"):
        _image(bids / sub / "anat" / f"{sub}_T2w.nii.gz")
    engine["maps"] = _heatmaps(range(18, 24), split=True)
    assert main(["-i", str(bids)]) == 0
    out = capsys.readouterr().out
    table = bids / "derivatives" / "hca_disc_label" / "numbering.tsv"
    assert "Numbering check: 2 image(s)" in out and str(table) in out
    assert "sub-01/anat/sub-01_T2w.nii.gz: confidence" in out and "confirm with -initz" in out
    rows = list(csv.DictReader(table.open(), delimiter="\t"))
    assert [r["status"] for r in rows] == ["check", "check"]
    assert {r["image"].split("/")[-1] for r in rows} == {"sub-01_T2w.nii.gz", "sub-02_T2w.nii.gz"}
    # up to date: nothing relabelled, the table and the count still cover every image (with a new cut)
    assert main(["-i", str(bids), "-numbering-thr", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "skipped (up to date): 2" in out and "Numbering check: 0 image(s)" in out
    assert [r["status"] for r in csv.DictReader(table.open(), delimiter="\t")] == ["ok", "ok"]
