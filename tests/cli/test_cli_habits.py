"""SCT's command-line habits and verbosity (issue 18 items 2 and 4): ``-v 0`` prints nothing on
stdout, ``-v 2`` adds debug lines and tracebacks, ``-version``, help on stderr without
arguments, every value wrong for the given image is a usage error (exit 2), ``-qc-dataset`` /
``-qc-subject`` in the SCT QC entry.

The embedded default model labels the smallest real image (ONNX, a fraction of a second).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hca_disc_label._version import __version__
from hca_disc_label.cli.main import main

SMALL = "bids/sub-errsm30/anat/sub-errsm30_T2w.nii.gz"


@pytest.fixture
def image(shared_data, tmp_path) -> Path:
    """The smallest real T2w image, alone in a fresh folder (``tmp/in/sub-errsm30_T2w.nii.gz``)."""
    dst = tmp_path / "in" / Path(SMALL).name
    dst.parent.mkdir()
    shutil.copyfile(shared_data / SMALL, dst)
    return dst


def _tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_v0_single_image_prints_nothing_on_stdout(image, tmp_path, capsys):
    assert main(["-i", str(image), "-ofolder", str(tmp_path / "out"), "-v", "0"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert all(line.startswith("WARNING") for line in err.splitlines())  # e.g. a 'check' count
    assert (tmp_path / "out" / "sub-errsm30_T2w_label-discs_dlabel.nii.gz").is_file()


def test_v0_folder_run_prints_nothing_on_stdout_and_failures_on_stderr(image, tmp_path, capsys):
    dataset = tmp_path / "ds"
    good = dataset / "sub-01" / "anat" / "sub-01_T2w.nii.gz"
    good.parent.mkdir(parents=True)
    shutil.copyfile(image, good)
    out_root = tmp_path / "labels"
    assert main(["-i", str(dataset), "-ofolder", str(out_root), "-v", "0"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert all(line.startswith("WARNING") for line in err.splitlines())
    bad = dataset / "sub-02" / "anat" / "sub-02_T2w.nii.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a nifti")
    assert main(["-i", str(dataset), "-ofolder", str(out_root), "-v", "0"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert any(line.startswith("ERROR:") and "sub-02_T2w" in line for line in err.splitlines())


def test_v1_prints_the_result_and_v2_adds_debug_lines(image, tmp_path, capsys):
    assert main(["-i", str(image), "-ofolder", str(tmp_path / "a"), "-v", "1"]) == 0
    out, err = capsys.readouterr()
    assert "Wrote " in out and "fsleyes" in out and "DEBUG" not in err
    assert "contrast t2 (from the file name's BIDS suffix)" in err  # says which contrast
    assert main(["-i", str(image), "-ofolder", str(tmp_path / "b"), "-v", "2"]) == 0
    assert "DEBUG: " in capsys.readouterr().err


def test_unexpected_error_traceback_only_with_v2(image, tmp_path, capsys, monkeypatch):
    import hca_disc_label.run.pipeline as pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("a bug\nsecond line")

    monkeypatch.setattr(pipeline, "label_discs", broken)
    assert main(["-i", str(image), "-ofolder", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "unexpected error: RuntimeError: a bug (rerun with -v 2" in err
    assert main(["-i", str(image), "-ofolder", str(tmp_path), "-v", "2"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
    assert main(["-i", str(image), "-ofolder", str(tmp_path), "-v2"]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["-version", "--version"])
def test_version(flag, capsys):
    assert main([flag]) == 0
    assert capsys.readouterr().out == f"hca_label {__version__}\n"


def test_version_is_listed_under_misc(capsys):
    assert main(["-h"]) == 0
    out = capsys.readouterr().out
    assert out.index("MISC ARGUMENTS") < out.index("-version, --version")
    assert "-qc-dataset" in out and "0.3.0" not in out


def test_no_arguments_prints_the_help_on_stderr_and_exits_2(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("Usage: hca_label") and "MANDATORY ARGUMENTS" in err and "-h, --help" in err
    assert err.rstrip().endswith("hca_label: error: missing -i")
    assert main(["evaluate"]) == 2
    assert "MANDATORY ARGUMENTS" in capsys.readouterr().err


@pytest.mark.parametrize("args, option", [
    (["-initz", "999,25"], "-initz"),
    (["-x", "500"], "-x"),
    (["-o", "{folder}"], "-o"),
    (["-o", "{tmp}/labels.txt"], "-o"),
])
def test_values_wrong_for_the_image_exit_2_with_usage(image, tmp_path, capsys, args, option):
    folder = tmp_path / "a_folder.nii.gz"
    folder.mkdir()
    args = [a.format(folder=folder, tmp=tmp_path) for a in args]
    before = _tree(tmp_path)
    assert main(["-i", str(image), *args]) == 2
    err = capsys.readouterr().err
    assert "Usage: hca_label" in err and f"Invalid value for '{option}'" in err and "Traceback" not in err
    assert _tree(tmp_path) == before  # nothing written


def test_qc_dataset_and_subject_are_recorded_as_sct_does(image, tmp_path, capsys):
    qc = tmp_path / "qc"
    assert main(["-i", str(image), "-ofolder", str(tmp_path / "out"), "-qc", str(qc),
                 "-qc-dataset", "my-study", "-qc-subject", "patient-7", "-v", "0"]) == 0
    records = [json.loads(p.read_text()) for p in (qc / "_json").glob("qc_*.json")]
    assert len(records) == 1
    assert (records[0]["dataset"], records[0]["subject"]) == ("my-study", "patient-7")
    assert records[0]["backgroundImage"].startswith("my-study/patient-7/")
    # a folder run takes dataset and subject from the folders, as SCT does
    assert main(["-i", str(image.parent), "-qc", str(qc), "-qc-dataset", "x"]) == 2
    assert "-qc-dataset applies to a single image" in capsys.readouterr().err
