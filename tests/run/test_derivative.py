"""Folder runs beside manual labels (issue 18, items 1 and 8): the pipeline-named derivative,
readers of ground truth that never take our own labels, migration from the old place, and the
leftovers of killed runs (temporary files, locks).

The model is the random-weight ``tiny_model``: files, counts and messages are checked, never
positions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hca_disc_label import atomic
from hca_disc_label.cli.main import main
from hca_disc_label.naming import bids_uri, dataset_root_of
from hca_disc_label.run.batch import label_dataset
from hca_disc_label.sidecar import generated_by_us

THR = 0.0001
GT = "derivatives/labels"
OURS = "derivatives/hca_disc_label"
DELETED = "sub-ivd11/anat/sub-ivd11_T2w_label-discs_dlabel"


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def data(shared_data, tmp_path) -> Path:
    """A writable copy of ``../shared/data/bids`` (8 images, manual labels in derivatives/labels)."""
    dst = tmp_path / "bids"
    shutil.copytree(shared_data / "bids", dst)
    for dirpath, _, names in os.walk(dst):
        os.chmod(dirpath, 0o755)
        for name in names:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return dst


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _gt_discs(out: Path) -> int:
    return json.loads((out / "summary.json").read_text())["overall"]["n_gt"]


# --------------------------------------------------------------------------- the bar
def test_folder_run_writes_its_own_derivative_and_never_touches_manual_labels(data, tiny_model, tmp_path, capsys):
    manual = _digests(data / GT)
    args = ["-i", str(data), "-model", str(tiny_model), "-thr", str(THR)]
    assert main(args) == 0
    labels = sorted((data / OURS).rglob("*_label-discs_dlabel.nii.gz"))
    assert len(labels) == 8 and all(generated_by_us(p) for p in labels)
    assert _digests(data / GT) == manual  # byte-identical
    desc = json.loads((data / OURS / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["SourceDatasets"] == [{"URL": "../.."}]
    ours = desc["GeneratedBy"][0]
    assert ours["Name"] == "hca_disc_label" and ours["Model"]["Name"] == "tiny-test" and ours["Model"]["SHA256"]
    assert (data / OURS / "numbering.tsv").is_file() and not (data / OURS / "numbering.csv").exists()
    assert not list((data / OURS).rglob(".*"))  # no temporary or lock file left
    # one manual label deleted, the run repeated: the gap is not filled under the manual name
    for ext in (".nii.gz", ".json"):
        (data / GT / f"{DELETED}{ext}").unlink()
    manual = _digests(data / GT)
    assert main(args) == 0
    assert _digests(data / GT) == manual and not (data / GT / f"{DELETED}.nii.gz").exists()
    capsys.readouterr()
    assert main(["evaluate", "-pred", str(data), "-gt", str(data), "-o", str(tmp_path / "ev"), "-no-plot"]) == 0
    assert _gt_discs(tmp_path / "ev") == 48  # only the manual discs
    assert "sub-ivd11_T2w" in capsys.readouterr().out  # found in derivatives/hca_disc_label, no ground truth


# --------------------------------------------------------------------------- migration, readers
def _plant_ours_in_the_old_place(data: Path, tiny_model: Path) -> Path:
    """What an older version left: our label (with our sidecar) under the manual labels' name."""
    label_dataset(data, model=str(tiny_model), threshold=THR, progress=False)
    for ext in (".nii.gz", ".json"):
        shutil.copyfile(data / OURS / f"{DELETED}{ext}", data / GT / f"{DELETED}{ext}")
    return data / GT / f"{DELETED}.nii.gz"


def test_our_labels_in_the_old_place_are_reported_and_never_taken_as_manual(data, tiny_model, tmp_path,
                                                                            caplog, capsys):
    planted = _plant_ours_in_the_old_place(data, tiny_model)
    with caplog.at_level(logging.WARNING, logger="hca_disc_label"):
        label_dataset(data, model=str(tiny_model), threshold=THR, progress=False)
    lines = [r.getMessage() for r in caplog.records if "written by hca_disc_label" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("1 label file(s) under") and OURS in lines[0]
    assert planted.is_file()  # reported, left to a person
    ev = tmp_path / "ev"
    assert main(["evaluate", "-pred", str(data), "-gt", str(data), "-o", str(ev), "-no-plot"]) == 0
    assert _gt_discs(ev) == 48
    err = capsys.readouterr().err
    assert "not used as ground truth (-allow-own-labels uses them)" in err
    assert main(["evaluate", "-pred", str(data), "-gt", str(data), "-o", str(ev), "-no-plot",
                 "-allow-own-labels"]) == 0
    assert _gt_discs(ev) > 48  # pseudo-labels on purpose


def test_training_discovery_leaves_our_labels_out_unless_allowed(data, tiny_model, caplog):
    from hca_disc_label.training.data import find_bids_pairs

    planted = _plant_ours_in_the_old_place(data, tiny_model)
    with caplog.at_level(logging.WARNING, logger="hca_disc_label"):
        pairs = find_bids_pairs(data)
    assert len(pairs) == 7 and planted not in [lab for _, _, lab in pairs]
    assert any("not used as training labels" in r.getMessage() for r in caplog.records)
    assert planted in [lab for _, _, lab in find_bids_pairs(data, allow_own=True)]


def test_ground_truth_of_only_our_labels_is_a_one_line_error(data, tiny_model, tmp_path, capsys):
    label_dataset(data, model=str(tiny_model), threshold=THR, progress=False)
    capsys.readouterr()
    assert main(["evaluate", "-pred", str(data), "-gt", str(data / OURS), "-o", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len([ln for ln in err if "error" in ln]) == 1 and "written by hca_disc_label" in err[-1]


def test_initlabel_refuses_a_label_file_we_wrote(data, tiny_model, tmp_path, capsys):
    label_dataset(data, model=str(tiny_model), threshold=THR, progress=False)
    image = data / "sub-ivd11/anat/sub-ivd11_T2w.nii.gz"
    ours = data / OURS / "sub-ivd11/anat/sub-ivd11_T2w_label-discs_dlabel.nii.gz"
    capsys.readouterr()
    rc = main(["-i", str(image), "-c", "t2", "-model", str(tiny_model), "-thr", str(THR), "-ofolder",
               str(tmp_path / "o"), "-initlabel", str(ours)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "-initlabel" in err[0] and "written by hca_disc_label" in err[0]
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_sources_are_bids_uris(data, tiny_model, tmp_path):
    label_dataset(data, model=str(tiny_model), threshold=THR, progress=False)
    side = json.loads((data / OURS / "sub-ivd11/anat/sub-ivd11_T2w_label-discs_dlabel.json").read_text())
    assert side["Sources"] == ["bids::sub-ivd11/anat/sub-ivd11_T2w.nii.gz"]
    assert dataset_root_of(data / "sub-ivd11/anat/x.nii.gz") == data
    loose = tmp_path / "loose" / "scan.nii.gz"
    assert bids_uri(loose) == loose.as_posix()  # outside any dataset: the absolute path
    nodesc = tmp_path / "ds" / "sub-01" / "ses-1" / "anat" / "sub-01_T2w.nii.gz"
    assert bids_uri(nodesc) == "bids::sub-01/ses-1/anat/sub-01_T2w.nii.gz"  # a dataset without a description


# --------------------------------------------------------------------------- leftovers
_KILLED = """
import os, signal, sys
from pathlib import Path
from hca_disc_label import atomic
for target in sys.argv[1:]:
    atomic.temp_path_for(Path(target)).write_bytes(b"half")
os.kill(os.getpid(), signal.SIGKILL)
"""
_HOLDING = """
import sys, time
from pathlib import Path
from hca_disc_label import atomic
print(atomic.temp_path_for(Path(sys.argv[1])), flush=True)
time.sleep(60)
"""


def _age(paths) -> None:
    old = time.time() - 60
    for path in paths:
        os.utime(path, (old, old))


def test_next_run_removes_the_temporaries_of_a_killed_run_but_not_live_ones(data, tiny_model, tmp_path):
    out, qc = tmp_path / "out", tmp_path / "qc"
    anat = out / "sub-ivd11" / "anat"
    targets = [anat / "sub-ivd11_T2w_label-discs_dlabel.nii.gz", anat / "sub-ivd11_T2w_label-discs_dlabel.json",
               qc / "entries" / "sub-ivd11_T2w-0123abcd.png", qc / "_json" / "qc_2026.json",
               qc / "bids" / "sub-ivd11" / "anat" / "hca_label" / "2026_01_01" / "overlay_img.png"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed = subprocess.run([sys.executable, "-c", _KILLED, *map(str, targets)], env=env, timeout=60)
    assert killed.returncode == -9
    stale = [p for t in targets for p in t.parent.glob(f".{t.name}.*")]
    assert len(stale) == len(targets)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDING, str(anat / "other_label-discs_dlabel.nii.gz")],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        live = Path(holder.stdout.readline().strip())
        _age(stale + [live])
        summary = label_dataset(data, out_root=out, qc=qc, model=str(tiny_model), threshold=THR, progress=False)
        assert not summary.failed
        assert not [p for p in stale if p.exists()]  # the killed run's leftovers are gone
        assert live.exists()  # a live process's write in progress is kept
    finally:
        holder.kill()
        holder.wait()
    assert [p.name for p in out.rglob(".*")] == [live.name]  # and no lock file anywhere
    assert not list(qc.rglob(".*"))


def test_single_image_run_removes_leftovers_beside_its_output(data, tiny_model, tmp_path):
    out = tmp_path / "single"
    out.mkdir()
    stale = out / ".x_label-discs_dlabel.nii.gz.0a1b2c3d.tmp.nii.gz"
    stale.write_bytes(b"half")
    other = out / ".notes.txt"  # not one of ours: kept
    other.write_text("keep")
    _age([stale, other])
    image = data / "sub-ivd11/anat/sub-ivd11_T2w.nii.gz"
    assert main(["-i", str(image), "-model", str(tiny_model), "-thr", str(THR), "-ofolder", str(out)]) == 0
    assert not stale.exists() and other.exists()


def test_folder_lock_leaves_no_file_and_excludes_others(tmp_path):
    with atomic.folder_lock(tmp_path):
        assert (tmp_path / atomic.LOCK_NAME).exists()
        other = subprocess.run(
            [sys.executable, "-c", "import sys; from hca_disc_label.atomic import folder_lock\n"
             "try:\n    with folder_lock(sys.argv[1], timeout_s=0.3): print('got it')\n"
             "except TimeoutError: print('busy')", str(tmp_path)],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            capture_output=True, text=True, timeout=60)
        assert other.stdout.strip() == "busy"
    assert not (tmp_path / atomic.LOCK_NAME).exists()
    with atomic.folder_lock(tmp_path):  # and it can be taken again
        pass
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- messages
def test_unwritable_output_or_qc_folder_is_one_error_line(data, tiny_model, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    image = data / "sub-ivd11/anat/sub-ivd11_T2w.nii.gz"
    runs = [["-i", str(data), "-ofolder", str(blocker / "out")],
            ["-i", str(data), "-ofolder", str(tmp_path / "o"), "-qc", str(blocker / "qc")],
            ["-i", str(image), "-ofolder", str(blocker / "out")]]
    for args in runs:
        capsys.readouterr()
        assert main(args + ["-model", str(tiny_model), "-thr", str(THR), "-v", "0"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1 and str(blocker) in err, (args, err)
    assert not (tmp_path / "o").exists()


def test_a_bad_card_is_reported_under_the_folder_the_user_gave(tiny_model, tmp_path, monkeypatch, capsys):
    shutil.copytree(tiny_model, tmp_path / "mymodel")
    (tmp_path / "mymodel" / "model.json").write_text("{bad")
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "sub-01_T2w.nii.gz"
    image.write_bytes(b"")
    assert main(["-i", str(image), "-model", "mymodel"]) == 1
    err = capsys.readouterr().err
    assert "mymodel/model.json" in err and str(tmp_path / "mymodel") not in err


def test_progress_is_one_plain_line_per_image_without_a_terminal(data, tiny_model, tmp_path, capsys):
    assert main(["-i", str(data), "-ofolder", str(tmp_path / "o"), "-model", str(tiny_model), "-thr", str(THR)]) == 0
    err = capsys.readouterr().err.splitlines()
    progress = [ln for ln in err if ln.startswith("INFO: [")]
    assert len(progress) == 8 and progress[0].startswith("INFO: [1/8] sub-errsm30/anat/sub-errsm30_T1w.nii.gz: ")
    assert progress[-1].startswith("INFO: [8/8] ") and all(ln.endswith(" discs") for ln in progress)
    assert not [ln for ln in err if " discs in " in ln]  # per-image internals stay quiet, as in workers


def test_train_takes_our_labels_only_with_allow_own_labels(data, tiny_model):
    from hca_disc_label.training.config import TrainConfig
    from hca_disc_label.training.split import split_real

    planted = _plant_ours_in_the_old_place(data, tiny_model)
    subject = planted.relative_to(data / "derivatives" / "labels").parts[0]
    base = dict(out_dir=data / "unused", bids=[data], val_fraction=0.0)
    train, _ = split_real(TrainConfig(**base))
    assert subject not in {c.subject for c in train}
    train, _ = split_real(TrainConfig(**base, allow_own_labels=True))
    assert subject in {c.subject for c in train}
