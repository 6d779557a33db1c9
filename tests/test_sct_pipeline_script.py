"""scripts/sct_pipeline.sh with stand-ins for SCT's commands and hca_label (no SCT needed): the
doubt reaches the CSA table, -vert comes from the discs found, and manual discs are never files
hca_disc_label wrote (tests/integration/test_sct_pipeline.py runs the script with SCT itself)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "sct_pipeline.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

_LABEL_UTILS = f"""#!{sys.executable}
import sys, numpy as np, nibabel as nib
data = np.asarray(nib.load(sys.argv[sys.argv.index("-i") + 1]).dataobj)
for x, y, z in zip(*np.nonzero(data)):
    print(f"Position=({{x}},{{y}},{{z}}) -- Value= {{int(data[x, y, z])}}")
print("All labels (useful syntax):")
"""
_PROCESS_SEG = f"""#!{sys.executable}
import sys
args = sys.argv[1:]
open("calls.log", "a").write("sct_process_segmentation " + " ".join(args) + "\\n")
lo, hi = (int(v) for v in args[args.index("-vert") + 1].split(":"))
with open(args[args.index("-o") + 1], "w", newline="") as f:
    f.write("Timestamp,SCT Version,Filename,Slice (I->S),VertLevel,DistancePMJ,MEAN(area)\\r\\n")
    for level in range(lo, hi + 1):
        f.write(f'"2026-01-01 00:00:00","7.0","{{args[args.index("-i") + 1]}}","0:9",{{level}},"",70.5\\r\\n')
"""
_LOGGER = """#!/bin/sh
echo "$(basename "$0") $*" >> calls.log
"""
_HCA_LABEL = """#!/bin/sh
# hca_label stand-in: copies $STUB_DISCS to -o and writes our sidecar with $STUB_STATUS
echo "hca_label $*" >> calls.log
while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out=$2; shift; done
cp "$STUB_DISCS" "$out"
printf '{\\n  "GeneratedBy": [\\n    {\\n      "Name": "hca_disc_label"\\n    }\\n  ],\\n  "Numbering": {\\n    "confidence": 0.7,\\n    "status": "%s"\\n  }\\n}\\n' "$STUB_STATUS" > "${out%.nii.gz}.json"
"""


def _discs(path: Path, values) -> Path:
    data = np.zeros((4, 20, 30), np.int16)
    for k, v in enumerate(values):
        data[2, 10, 25 - 3 * k] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    return path


def _ours(path: Path, values) -> Path:
    """A label file hca_disc_label wrote (our sidecar beside it)."""
    _discs(path, values)
    path.with_name(path.name.replace(".nii.gz", ".json")).write_text(
        json.dumps({"GeneratedBy": [{"Name": "hca_disc_label"}], "Numbering": {"status": "ok"}}, indent=2))
    return path


@pytest.fixture
def setup(tmp_path):
    data = tmp_path / "bids"
    for stem in ("sub-01_T1w", "sub-01_T2w"):
        _discs(data / "sub-01" / "anat" / f"{stem}.nii.gz", [])
        _discs(data / "derivatives" / "labels" / "sub-01" / "anat" / f"{stem}_label-SC_seg.nii.gz", [])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sct_label_utils", _LABEL_UTILS), ("sct_process_segmentation", _PROCESS_SEG),
                       ("sct_label_vertebrae", _LOGGER), ("sct_deepseg", _LOGGER), ("hca_label", _HCA_LABEL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    out = tmp_path / "out"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PATH_DATA": str(data),
           "PATH_DATA_PROCESSED": str(out / "data_processed"), "PATH_RESULTS": str(out / "results"),
           "PATH_QC": str(out / "qc"), "PATH_LOG": str(out / "log"),
           "STUB_DISCS": str(_discs(tmp_path / "stub_discs.nii.gz", [3, 4, 5, 6, 7])), "STUB_STATUS": "check"}
    return data, out, env


def _run(env, **extra):
    return subprocess.run(["bash", str(SCRIPT), "sub-01"], env={**env, **extra}, capture_output=True, text=True,
                          timeout=120)


def _rows(out: Path, contrast: str) -> list[dict]:
    with open(out / "results" / f"csa-SC_{contrast}.csv", newline="") as f:
        return list(csv.DictReader(f))


def _calls(out: Path) -> list[str]:
    return (out / "data_processed" / "sub-01" / "anat" / "calls.log").read_text().splitlines()


def test_check_is_a_csa_column_and_vert_comes_from_the_discs(setup):
    data, out, env = setup
    proc = _run(env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for contrast in ("T1w", "T2w"):
        rows = _rows(out, contrast)
        assert [r["VertLevel"] for r in rows] == ["3", "4", "5", "6", "7"]  # levels of discs 3..7, no more
        assert {r["NumberingStatus"] for r in rows} == {"check"}
    calls = _calls(out)
    assert sum("-vert 3:7" in c for c in calls if c.startswith("sct_process_segmentation")) == 2
    assert not any("1:25" in c for c in calls)
    assert proc.stderr.count("numbering 'check'") == 2
    # a second subject's rows append under the same header, CRLF kept as SCT writes it
    proc = _run(env, STUB_STATUS="ok")
    assert proc.returncode == 0
    rows = _rows(out, "T2w")
    assert [r["NumberingStatus"] for r in rows] == ["check"] * 5 + ["ok"] * 5
    raw = (out / "results" / "csa-SC_T2w.csv").read_bytes()
    assert raw.count(b"NumberingStatus") == 1 and raw.count(b"\r\n") == raw.count(b"\n") == 11


def test_manual_discs_are_never_files_hca_disc_label_wrote(setup):
    data, out, env = setup
    labels = data / "derivatives" / "labels" / "sub-01" / "anat"
    _discs(labels / "sub-01_T1w_label-discs_dlabel.nii.gz", [2, 3, 4])  # corrected by hand
    _ours(labels / "sub-01_T2w_label-discs_dlabel.nii.gz", [3, 4])  # an older version's folder run
    proc = _run(env, USE_MANUAL_DISCS="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("disc labels: manual") == 1 and "sub-01_T1w_label-discs_dlabel" in proc.stdout
    assert "was written by hca_disc_label (its sidecar says so), not corrected by hand" in proc.stderr
    hca = [c for c in _calls(out) if c.startswith("hca_label ")]
    assert len(hca) == 1 and "sub-01_T2w.nii.gz" in hca[0]  # the refused one is labelled afresh
    assert {r["NumberingStatus"] for r in _rows(out, "T1w")} == {"manual"}
    assert [r["VertLevel"] for r in _rows(out, "T1w")] == ["2", "3", "4"]
    assert {r["NumberingStatus"] for r in _rows(out, "T2w")} == {"check"}


def test_folder_run_labels_are_used_when_asked(setup):
    data, out, env = setup
    ours = data / "derivatives" / "hca_disc_label" / "sub-01" / "anat"
    for stem in ("sub-01_T1w", "sub-01_T2w"):
        _ours(ours / f"{stem}_label-discs_dlabel.nii.gz", [4, 5, 6])
    proc = _run(env, USE_FOLDER_RUN="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("disc labels: hca_label folder run") == 2
    assert not [c for c in _calls(out) if c.startswith("hca_label ")]
    assert {r["NumberingStatus"] for r in _rows(out, "T1w")} == {"ok"}
    assert [r["VertLevel"] for r in _rows(out, "T2w")] == ["4", "5", "6"]
