"""hca_label CLI: success path, sidecar, QC, exit codes for every bad input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.cli.main import main
from tests.conftest import REPO

ERRSM_T2 = "bids/sub-errsm30/anat/sub-errsm30_T2w.nii.gz"


def _copy_input(shared_data, tmp_path, rel=ERRSM_T2):
    dst = tmp_path / "in" / os.path.basename(rel)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_data / rel, dst)
    return dst


def test_success_writes_labels_sidecar_and_qc(shared_data, tmp_path, tiny_model, capsys):
    img = _copy_input(shared_data, tmp_path)
    before = img.read_bytes()
    rc = main(["-i", str(img), "-c", "t2", "-model", str(tiny_model), "-thr", "0.0001", "-qc", str(tmp_path / "qc")])
    out = capsys.readouterr().out
    assert rc == 0
    label = img.parent / "sub-errsm30_T2w_label-discs_dlabel.nii.gz"
    sidecar = img.parent / "sub-errsm30_T2w_label-discs_dlabel.json"
    assert label.exists() and sidecar.exists()
    assert img.read_bytes() == before  # input untouched
    lab, src = nib.load(str(label)), nib.load(str(img))
    assert lab.shape == src.shape and np.allclose(lab.affine, src.affine)
    data = np.asanyarray(lab.dataobj)
    meta = json.loads(sidecar.read_text())
    gen = meta["GeneratedBy"][0]
    assert gen["Name"] == "hca_disc_label" and gen["Model"]["Name"] == "tiny-test"
    assert len(gen["Model"]["SHA256"]) == 64 and gen["Backend"] in ("torch", "onnx") and gen["Device"] == "cpu"
    assert "-thr 0.0001" in gen["CommandLine"]
    assert len(meta["Discs"]) == np.count_nonzero(data) >= 1
    for d in meta["Discs"]:
        assert data[tuple(d["voxel"])] == d["value"]
        mm = lab.affine[:3, :3] @ d["voxel"] + lab.affine[:3, 3]
        assert np.allclose(mm, d["mm"], atol=1e-3)
        assert {"name", "confidence", "value_evidence"} <= set(d)
    assert f"fsleyes {img} {label} -cm red -dr 0 25" in out
    index = (tmp_path / "qc" / "index.html").read_text()
    assert "sub-errsm30" in index
    assert list((tmp_path / "qc" / "entries").glob("*.png"))


def test_output_options(shared_data, tmp_path, tiny_model):
    img = shared_data / ERRSM_T2
    rc = main(["-i", str(img), "-model", str(tiny_model), "-thr", "0.0001", "-ofolder", str(tmp_path / "o"), "-v", "0"])
    assert rc == 0  # contrast from the _T2w name
    assert (tmp_path / "o" / "sub-errsm30_T2w_label-discs_dlabel.nii.gz").exists()
    out = tmp_path / "x" / "custom.nii.gz"
    assert main(["-i", str(img), "-c", "t2", "-model", str(tiny_model), "-thr", "0.0001", "-o", str(out), "-v", "0"]) == 0
    assert out.exists() and (tmp_path / "x" / "custom.json").exists()


def _bad_file(tmp_path, kind):
    if kind == "missing":
        return tmp_path / "nope.nii.gz"
    path = tmp_path / f"{kind}.nii.gz"
    rng = np.random.default_rng(0)
    if kind == "not_nifti":
        path.write_bytes(gzip.compress(b"not an image at all" * 100))
        return path
    if kind == "truncated":
        nib.save(nib.Nifti1Image(rng.normal(size=(30, 30, 30)).astype(np.float32), np.eye(4)), str(path))
        path.write_bytes(path.read_bytes()[:2000])
        return path
    data = {
        "2d": rng.normal(size=(40, 40)).astype(np.float32),
        "zeros": np.zeros((10, 30, 30), np.float32),
        "nan": np.full((10, 30, 30), np.nan, np.float32),
        "axial": rng.normal(size=(64, 64, 20)).astype(np.float32),
    }[kind]
    aff = np.diag([0.5, 0.5, 5.0, 1.0]) if kind == "axial" else np.eye(4)
    nib.save(nib.Nifti1Image(data, aff), str(path))
    return path


@pytest.mark.parametrize("kind", ["missing", "not_nifti", "truncated", "2d", "zeros", "nan", "axial"])
def test_bad_input_exit_1_one_line_nothing_written(tmp_path, tiny_model, capsys, kind):
    path = _bad_file(tmp_path, kind)
    before = sorted(p.name for p in tmp_path.iterdir())
    rc = main(["-i", str(path), "-c", "t2", "-model", str(tiny_model)])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert len(err.splitlines()) == 1 and str(path) in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_output_equal_to_input_and_unwritable(shared_data, tmp_path, tiny_model, capsys):
    img = _copy_input(shared_data, tmp_path)
    before = img.read_bytes()
    assert main(["-i", str(img), "-c", "t2", "-model", str(tiny_model), "-o", str(img)]) == 2  # a bad -o
    assert "is the input" in capsys.readouterr().err
    assert img.read_bytes() == before
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["-i", str(img), "-c", "t2", "-model", str(tiny_model), "-o", str(blocker / "out.nii.gz")]) == 1
    assert "not writable" in capsys.readouterr().err


def test_no_disc_found_writes_nothing(shared_data, tmp_path):
    from hca_disc_label.errors import NoDiscFoundError
    from hca_disc_label.run.pipeline import label_discs
    from tests.helpers import PrecomputedBackend, StandInModel

    img = _copy_input(shared_data, tmp_path)
    with pytest.raises(NoDiscFoundError, match="no intervertebral disc found"):
        label_discs(img, "t2", model=StandInModel(), backend=PrecomputedBackend(np.zeros((24, 1, 1), np.float32)),
                    qc=tmp_path / "qc")
    assert sorted(p.name for p in img.parent.iterdir()) == [img.name]
    assert not (tmp_path / "qc").exists()


@pytest.mark.parametrize("argv", [["-i", "x.nii.gz", "-c", "t3"], ["-i"], ["-c", "t2"], ["-i", "x.nii.gz", "-bogus"],
                                  ["-i", "x.nii", "-c", "t2", "-thr", "2"], ["-i", "noext.nii"],
                                  ["-i", "x.nii", "-c", "t2", "-initz", "68"], ["-i", "x.nii", "-c", "t2", "-initz", "a,4"],
                                  ["-i", "x.nii", "-c", "t2", "-initz", "68,30"], ["-i", "x.nii", "-c", "t2", "-initz", "-1,4"]])
def test_bad_arguments_exit_2_with_usage(argv, capsys):
    assert main(argv) == 2
    assert "Usage:" in capsys.readouterr().err


def test_help_is_instant_and_light():
    code = ("import sys, time; t=time.time(); from hca_disc_label.cli.main import main; rc=main(['-h']);"
            "assert rc == 0; assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules, sorted(sys.modules);"
            "print(time.time()-t)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert "MANDATORY ARGUMENTS" in res.stdout and "MISC ARGUMENTS" in res.stdout


def test_installed_console_script(shared_data, tmp_path, tiny_model):
    exe = shutil.which("hca_label")
    assert exe, "the hca_label console script is not installed (pip install -e .)"
    res = subprocess.run([exe, "-i", str(shared_data / ERRSM_T2), "-c", "t2", "-model", str(tiny_model),
                          "-thr", "0.0001", "-ofolder", str(tmp_path), "-v", "0"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "sub-errsm30_T2w_label-discs_dlabel.nii.gz").exists()
    res = subprocess.run([exe, "-i", str(tmp_path / "missing.nii.gz"), "-c", "t2"], capture_output=True, text=True)
    assert res.returncode == 1 and "file not found" in res.stderr
    res = subprocess.run([exe, "-c", "t2"], capture_output=True, text=True)
    assert res.returncode == 2


def test_hints_exit_codes(shared_data, tmp_path, tiny_model, capsys):
    img = _copy_input(shared_data, tmp_path)
    before = sorted(p.name for p in img.parent.iterdir())
    assert main(["-i", str(img), "-c", "t2", "-model", str(tiny_model), "-initz", "500,4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Usage: hca_label") and "Invalid value for '-initz'" in err and "is outside" in err
    assert main(["-i", str(img), "-c", "t2", "-model", str(tiny_model), "-initlabel", str(tmp_path / "no.nii.gz")]) == 1
    assert "-initlabel" in capsys.readouterr().err
    assert sorted(p.name for p in img.parent.iterdir()) == before
    # hints are per image: a folder with a hint is a usage error
    assert main(["-i", str(img.parent), "-initz", "10,4"]) == 2
    assert "-initz applies to a single image" in capsys.readouterr().err
