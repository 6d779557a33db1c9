"""scripts/sct_pipeline.sh through SCT's own sct_run_batch on the shared cases, one QC folder."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.integration.conftest import REPO
from tests.integration.test_sct_qc import _chromium, open_report, select_row

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "sct_pipeline.sh"
IMAGES = {"sub-errsm30": ("sub-errsm30_T1w", "sub-errsm30_T2w"), "sub-pam50": ("sub-pam50_T2w",)}


@pytest.fixture(scope="module")
def batch(sct, shared_data, tmp_path_factory, isolated_env):
    out = tmp_path_factory.mktemp("sct_batch")
    proc = subprocess.run(
        ["sct_run_batch", "-script", str(SCRIPT), "-path-data", str(shared_data / "bids"),
         "-path-output", str(out), "-include", "^sub-(pam50|errsm30)$", "-jobs", "2"],
        env=sct.path_env(), cwd=out, capture_output=True, text=True, timeout=900)
    logs = {p.name: p.read_text(errors="replace") for p in (out / "log").glob("*.log")}
    return proc, out, logs


def test_batch_succeeds_for_every_subject(batch):
    proc, out, logs = batch
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not [name for name in logs if name.startswith("err.")], logs
    for subject, stems in IMAGES.items():
        log = logs[f"sct_pipeline_{subject}.log"]
        assert f"sct_pipeline: subject {subject} done, status 0" in log
        assert "Two labels were projected on the same coordinate" not in log or subject == "sub-pam50"
        for stem in stems:
            assert f"+ hca_label -i {stem}.nii.gz" in log and "cord segmentation: manual" in log
        assert "-vert 1:25" not in log  # -vert from the discs found


def test_each_image_gets_discs_levels_and_csa_per_level(batch, shared_data):
    _, out, _ = batch
    rows = {}
    for contrast in ("T1w", "T2w"):
        with open(out / "results" / f"csa-SC_{contrast}.csv", newline="") as f:
            for row in csv.DictReader(f):
                rows.setdefault(Path(row["Filename"]).name, []).append(row)
    for subject, stems in IMAGES.items():
        work = out / "data_processed" / subject / "anat"
        for stem in stems:
            discs = nib.load(str(work / f"{stem}_label-discs_dlabel.nii.gz"))
            src = nib.load(str(shared_data / "bids" / subject / "anat" / f"{stem}.nii.gz"))
            assert discs.shape == src.shape and np.allclose(discs.affine, src.affine)
            levels = np.asanyarray(nib.load(str(work / f"{stem}_label-SC_seg_labeled.nii.gz")).dataobj)
            assert len(np.unique(levels[levels > 0])) >= 4  # the cord cut into vertebral levels
            per_level = rows[f"{stem}_label-SC_seg.nii.gz"]
            assert len(per_level) >= 4 and all(r["VertLevel"] for r in per_level)
            assert {r["NumberingStatus"] for r in per_level} <= {"ok", "check"}  # the doubt, in the table
            assert all(10 < float(r["MEAN(area)"]) < 200 for r in per_level)
    # the source dataset is untouched: outputs only under -path-output
    assert not list((shared_data / "bids").rglob("*_label-SC_seg_labeled*"))


def test_sidecar_generated_by_carries_what_sct_derivatives_carry(batch):
    """GeneratedBy: Name, Version, Link, Date (as SCT's derivatives), then our own fields."""
    import datetime as dt

    from hca_disc_label import __version__

    _, out, _ = batch
    for subject, stems in IMAGES.items():
        for stem in stems:
            side = json.loads((out / "data_processed" / subject / "anat" / f"{stem}_label-discs_dlabel.json")
                              .read_text())
            ours = side["GeneratedBy"][0]
            assert list(ours)[:4] == ["Name", "Version", "Link", "Date"]
            assert ours["Name"] == "hca_disc_label" and ours["Version"] == __version__
            assert ours["Link"].startswith("https://")
            when = dt.datetime.fromisoformat(ours["Date"].replace("Z", "+00:00"))
            assert abs((dt.datetime.now(dt.timezone.utc) - when.astimezone(dt.timezone.utc)).days) < 1
            assert ours["CommandLine"].split()[1:3] == ["-i", f"{stem}.nii.gz"]
    # labels keep the spine-generic BIDS name (checked above: <image>_label-discs_dlabel.nii.gz)


def test_one_qc_folder_lists_our_labelling_beside_sct_steps(batch):
    _, out, _ = batch
    qc = out / "qc"
    records = [json.loads(p.read_text()) for p in sorted((qc / "_json").glob("*.json"))]
    by_command = {}
    for rec in records:
        by_command.setdefault(rec["command"], []).append(rec)
    assert len(by_command.get("hca_label", [])) == 3 and len(by_command.get("sct_label_vertebrae", [])) == 3
    key = lambda r: (r["dataset"], r["subject"], r["contrast"], r["inputFile"])  # noqa: E731
    # our entry of each image groups with SCT's entry of the same image
    assert {key(r) for r in by_command["hca_label"]} == {key(r) for r in by_command["sct_label_vertebrae"]}
    for rec in by_command["hca_label"]:
        assert rec["dataset"] == "data_processed" and rec["contrast"] == "anat"
        assert (qc / rec["backgroundImage"]).is_file() and (qc / rec["overlayImage"]).is_file()
    # SCT's page keeps index.html and lists every record; our own page is hca_label.html
    assert "SCT QC Report" in (qc / "index.html").read_text()
    datasets = (qc / "js" / "datasets.js").read_text()
    assert all(json.dumps(r["backgroundImage"]) in datasets for r in records)
    own = (qc / "hca_label.html").read_text()
    assert "hca_disc_label QC" in own and all(stem in own for stems in IMAGES.values() for stem in stems)


def test_pipeline_report_in_the_browser(batch, tmp_path):
    from tests.integration.browser import Browser

    _, out, _ = batch
    with Browser(_chromium()) as browser:
        rows = open_report(browser, out / "qc" / "index.html", 6)
        assert sum("hca_label" in r for r in rows) == 3 and sum("sct_label_vertebrae" in r for r in rows) == 3
        pictures = select_row(browser, "hca_label")
        assert len(pictures) == 2 and all(p["w"] > 0 and p["h"] > 0 for p in pictures)


def test_script_usage_and_missing_environment(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "sct_run_batch" in proc.stdout + proc.stderr
    proc = subprocess.run(["bash", str(SCRIPT), "sub-01"], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and "PATH_DATA is not set" in proc.stderr
    assert shutil.which("bash")


def test_direct_run_with_corrected_discs(sct, shared_data, tmp_path, isolated_env):
    """Outside sct_run_batch, one subject; USE_MANUAL_DISCS=1 takes the corrected disc files."""
    out = tmp_path / "out"
    env = sct.path_env(PATH_DATA=str(shared_data / "bids"), PATH_DATA_PROCESSED=str(out / "data_processed"),
                       PATH_RESULTS=str(out / "results"), PATH_QC=str(out / "qc"), PATH_LOG=str(out / "log"),
                       USE_MANUAL_DISCS="1", HCA_LABEL="false")  # hca_label must not even run
    proc = subprocess.run(["bash", str(SCRIPT), "sub-errsm30"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("disc labels: manual") == 2
    for stem in IMAGES["sub-errsm30"]:
        used = out / "data_processed" / "sub-errsm30" / "anat" / f"{stem}_label-discs_dlabel.nii.gz"
        gt = shared_data / "bids" / "derivatives" / "labels" / "sub-errsm30" / "anat" / used.name
        assert used.read_bytes() == gt.read_bytes()
    # and a failing step makes the subject fail (exit 1), naming the image
    env.update(USE_MANUAL_DISCS="0")
    proc = subprocess.run(["bash", str(SCRIPT), "sub-errsm30"], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 1 and "FAILED on" in proc.stderr
