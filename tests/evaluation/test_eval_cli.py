"""``hca_label evaluate``: in-process command, output files, stdout table, exit codes."""

from __future__ import annotations

import json

import click
import pytest

from hca_disc_label.cli.evaluate import command
from hca_disc_label.cli.main import main

PRED = "_label-discs_dlabel.nii.gz"


@pytest.fixture
def dataset(tmp_path, bids, lab):
    affine = lab.AFFINES["perm-0.8"]
    gt = lab.discs_along(affine, 0)
    bids.add("sub-01_T2w", gt, affine)
    bids.add("sub-01_T1w", gt, affine)
    lab.write_labels(tmp_path / "pred" / f"sub-01_T2w{PRED}", {v: (i, j, k + 5) for v, (i, j, k) in gt.items()},
                     affine)  # 5 voxels * 0.8 mm = 4 mm
    lab.write_labels(tmp_path / "pred" / f"sub-01_T1w{PRED}", gt, affine)
    return tmp_path / "pred", bids.root


def test_command_writes_all_outputs_and_prints_table(tmp_path, dataset, capsys):
    pred, gt = dataset
    out = tmp_path / "eval"
    rc = command.main(["-pred", str(pred), "-gt", str(gt), "-o", str(out), "-method", "HCA-Net (ours)",
                       "-v", "0"], standalone_mode=False)
    assert rc == 0
    for name in ("per_disc.csv", "per_case.csv", "summary.md", "summary.json", "error_per_level.png"):
        assert (out / name).stat().st_size > 0, name
    stdout = capsys.readouterr().out
    # the 5-voxel shift is along world y (perm-0.8): all of it lies in the sagittal plane
    assert ("| HCA-Net (ours) | 0.00 (±0.00) | 0.00 (±0.00) | 0.00 | 0.00 | 4.00 (±0.00) "
            "| 4.00 (±0.00) | 0.00 | 0.00 |") in stdout
    assert "median sag. mm" in stdout and "sagittal-plane distance" in stdout
    assert "identity acc %" in stdout
    assert f"Wrote {out / 'summary.md'}" in stdout
    data = json.loads((out / "summary.json").read_text())
    assert data["method"] == "HCA-Net (ours)" and data["by_contrast"]["T2"]["paper_dtt_mean_mm"] == 4.0


def test_thresholds_options(tmp_path, dataset, capsys):
    pred, gt = dataset
    out = tmp_path / "eval"
    rc = command.main(["-pred", str(pred), "-gt", str(gt), "-o", str(out), "-fn-mm", "3", "-fp-mm", "3.5",
                       "-no-plot", "-v", "0"], standalone_mode=False)
    assert rc == 0
    data = json.loads((out / "summary.json").read_text())
    assert data["thresholds_mm"] == {"fn": 3.0, "fp": 3.5}
    assert data["by_contrast"]["T2"]["paper_fnr_pct"] == 100.0  # 4 mm > 3 mm
    assert data["by_contrast"]["T2"]["paper_fpr_pct"] == 100.0  # 4 mm > 3.5 mm
    assert not (out / "error_per_level.png").exists()


def test_usage_errors(tmp_path, dataset):
    pred, gt = dataset
    with pytest.raises(click.UsageError):
        command.main(["-gt", str(gt), "-o", str(tmp_path / "x")], standalone_mode=False)
    with pytest.raises(click.UsageError):
        command.main(["-pred", str(pred), "-model", "m", "-gt", str(gt)], standalone_mode=False)
    with pytest.raises(click.UsageError):
        command.main(["-pred", str(pred), "-gt", str(gt), "-fn-mm", "0"], standalone_mode=False)


def test_exit_codes_through_dispatcher(tmp_path, dataset, capsys):
    pred, gt = dataset
    assert main(["evaluate", "-pred", str(pred), "-gt", str(gt), "-o", str(tmp_path / "ok"), "-v", "0"]) == 0
    assert main(["evaluate", "-gt", str(gt)]) == 2
    assert main(["evaluate", "-pred", str(pred), "-gt", str(tmp_path / "missing"), "-o", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err
    assert "ground-truth folder not found" in err and "Traceback" not in err
    assert main(["evaluate", "-h"]) == 0
    assert "MANDATORY ARGUMENTS" in capsys.readouterr().out
