"""Batch labelling of a dataset: discovery, outputs, skip logic, failures, shards, CLI.

The model is the random-weight ``tiny_model`` (``threshold=0.0001``): its labels mean nothing,
so these tests check files, counts, skip decisions and exit codes, never positions.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hca_disc_label.cli.main import main
from hca_disc_label.errors import DataError, HCAError
from hca_disc_label.naming import contrast_from_name
from hca_disc_label.qc.report import load_records
from hca_disc_label.run.batch import label_dataset
from hca_disc_label.run.derivative import write_dataset_description
from hca_disc_label.run.plan import ImageJob, find_images, is_up_to_date, select_shard
from hca_disc_label.run.summary import BatchSummary

THR = 0.0001
SMALL = "sub-errsm30/anat/sub-errsm30_T2w.nii.gz"  # the smallest real image (fast)


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def bids(shared_data) -> Path:
    return shared_data / "bids"


def _images(bids: Path) -> list[Path]:
    return sorted(p for p in bids.glob("sub-*/anat/*.nii.gz"))


def _outputs(root: Path) -> list[Path]:
    return sorted(root.rglob("*_label-discs_dlabel.nii.gz"))


def _one_image_folder(bids: Path, folder: Path, name: str = "sub-errsm30_T2w.nii.gz") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bids / SMALL, folder / name)
    return folder / name


def _writable_copy(src: Path, dst: Path, **kwargs) -> Path:
    """copytree keeps the shared data's read-only modes: make the copy writable."""
    shutil.copytree(src, dst, **kwargs)
    for dirpath, _, filenames in os.walk(dst):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return dst


# --------------------------------------------------------------------------- discovery
def test_find_images_bids_mirrors_the_tree(bids, tmp_path):
    is_bids, jobs = find_images(bids, tmp_path / "out")
    assert is_bids
    assert [j.input_path for j in jobs] == _images(bids)  # derivatives/ never searched
    by_name = {j.input_path.name: j for j in jobs}
    t1 = by_name["sub-errsm30_T1w.nii.gz"]
    assert t1.contrast == "t1" and by_name["sub-ivd11_T2w.nii.gz"].contrast == "t2"
    assert t1.output_path == tmp_path / "out/sub-errsm30/anat/sub-errsm30_T1w_label-discs_dlabel.nii.gz"
    assert t1.rel == "sub-errsm30/anat/sub-errsm30_T1w.nii.gz"
    # -c forces the contrast of every image
    _, forced = find_images(bids, tmp_path / "out", contrast="t2")
    assert {j.contrast for j in forced} == {"t2"}


def test_find_images_in_a_plain_folder_skips_derived_files(bids, tmp_path):
    root = tmp_path / "data"
    for rel in ["a/x_T2w.nii.gz", "b/scan.nii", "b/scan_seg.nii.gz", "b/x_T2w_label-discs_dlabel.nii.gz",
                "c/y_T1w.nii.gz", "derivatives/labels/z_T2w.nii.gz", ".git/annex/w_T2w.nii.gz",
                "c/notes.txt", "c/.x_T2w.nii.gz.tmp.nii.gz", "out/old_T2w.nii.gz"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    is_bids, jobs = find_images(root, root / "out")
    assert not is_bids
    assert [j.rel for j in jobs] == ["a/x_T2w.nii.gz", "b/scan.nii", "c/y_T1w.nii.gz"]
    assert [j.contrast for j in jobs] == ["t2", None, "t1"]
    assert jobs[1].output_path == root / "out/b/scan_label-discs_dlabel.nii.gz"
    # default output root: <folder>/derivatives/hca_disc_label (never derivatives/labels)
    _, default = find_images(root)
    assert default[0].output_path == root / "derivatives/hca_disc_label/a/x_T2w_label-discs_dlabel.nii.gz"
    with pytest.raises(DataError):
        find_images(root / "a" / "x_T2w.nii.gz")


def test_contrast_from_name():
    assert contrast_from_name("sub-01_ses-1_T1w.nii.gz") == "t1"
    assert contrast_from_name("sub-01_acq-sag_T2w.nii") == "t2"
    assert contrast_from_name("sub-01_T2star.nii.gz") is None
    assert contrast_from_name("scan.nii.gz") is None


def test_select_shard_partitions_in_order():
    items = list(range(11))
    parts = [select_shard(items, (k, 3)) for k in range(3)]
    assert sorted(sum(parts, [])) == items
    assert parts[1] == [1, 4, 7, 10]
    assert select_shard(items, None) == items
    for bad in [(3, 3), (-1, 2), (0, 0)]:
        with pytest.raises(HCAError):
            select_shard(items, bad)


# --------------------------------------------------------------------------- dataset_description.json
def test_dataset_description_new_and_completed(tmp_path):
    src = tmp_path / "ds"
    src.mkdir()
    (src / "dataset_description.json").write_text('{"Name": "raw", "BIDSVersion": "1.8.0"}')
    out = write_dataset_description(src / "derivatives" / "labels", src)
    desc = json.loads(out.read_text())
    assert desc["DatasetType"] == "derivative" and desc["BIDSVersion"] == "1.8.0"
    assert desc["GeneratedBy"][0]["Name"] == "hca_disc_label" and desc["GeneratedBy"][0]["Version"]
    assert desc["SourceDatasets"] == [{"URL": "../.."}]

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    original = {"Name": "manual labels", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "Manual"}], "HowToAcknowledge": "cite us"}
    (theirs / "dataset_description.json").write_text(json.dumps(original))
    desc = json.loads(write_dataset_description(theirs, src).read_text())
    assert desc["Name"] == "manual labels" and desc["HowToAcknowledge"] == "cite us"
    assert [g["Name"] for g in desc["GeneratedBy"]] == ["Manual", "hca_disc_label"]
    again = json.loads(write_dataset_description(theirs, src).read_text())
    assert again == desc  # idempotent: no duplicate entry

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "dataset_description.json").write_text("{not json")
    write_dataset_description(broken, src)
    assert (broken / "dataset_description.json").read_text() == "{not json"


# --------------------------------------------------------------------------- the real batch
def test_batch_whole_dataset_two_workers_then_rerun_skips(bids, tiny_model, tmp_path):
    out, qc = tmp_path / "labels", tmp_path / "qc"
    images = _images(bids)
    summary = label_dataset(bids, out_root=out, model=str(tiny_model), threshold=THR, qc=qc, jobs=2,
                            progress=False)
    assert summary.failed == [] and not summary.skipped
    assert sorted(summary.done) == images and summary.total == len(images) == 8
    outputs = _outputs(out)
    assert len(outputs) == len(images)
    for img in images:
        rel = img.relative_to(bids).parent
        stem = img.name[: -len(".nii.gz")]
        label = out / rel / f"{stem}_label-discs_dlabel.nii.gz"
        sidecar = json.loads((out / rel / f"{stem}_label-discs_dlabel.json").read_text())
        assert label.is_file()
        assert sidecar["GeneratedBy"][0]["Model"]["Name"] == "tiny-test"
        assert sidecar["Contrast"] == ("t1" if "_T1w" in img.name else "t2")
    desc = json.loads((out / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative" and desc["GeneratedBy"][0]["Name"] == "hca_disc_label"
    records = load_records(qc)
    assert len(records) == 8 and not any(r.get("failed") for r in records)
    index = (qc / "index.html").read_text()
    assert index.count("data-subject=") == 8 and summary.qc_index == qc / "index.html"
    assert "Failed" not in summary.describe() and "done: 8" in summary.describe()

    mtimes = {p: p.stat().st_mtime_ns for p in outputs}
    again = label_dataset(bids, out_root=out, model=str(tiny_model), threshold=THR, qc=qc, jobs=2,
                          progress=False)
    assert again.done == [] and again.failed == [] and len(again.skipped) == 8
    assert {p: p.stat().st_mtime_ns for p in outputs} == mtimes
    assert "up to date" in again.describe()

    # -overwrite redoes (on a quarter of the dataset, to stay fast)
    redo = label_dataset(bids, out_root=out, model=str(tiny_model), threshold=THR, qc=qc, jobs=1,
                         overwrite=True, progress=False, shard=(0, 4))
    assert redo.done == images[0::4] and not redo.skipped
    redone = {out / p.relative_to(bids).parent / p.name.replace(".nii.gz", "_label-discs_dlabel.nii.gz")
              for p in redo.done}
    assert all((p.stat().st_mtime_ns > t) == (p in redone) for p, t in mtimes.items())
    assert len(load_records(qc)) == 8


def test_corrupt_file_is_reported_and_the_rest_complete(bids, tiny_model, tmp_path, capsys):
    data = tmp_path / "bids"
    _writable_copy(bids, data, ignore=shutil.ignore_patterns("derivatives"))
    bad = data / "sub-bad" / "anat" / "sub-bad_T2w.nii.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes((bids / SMALL).read_bytes()[:2000])  # truncated gzip
    out, qc = tmp_path / "labels", tmp_path / "qc"
    rc = main(["-i", str(data), "-ofolder", str(out), "-qc", str(qc), "-model", str(tiny_model),
               "-thr", str(THR), "-j", "2"])
    stdout = capsys.readouterr().out
    assert rc == 1
    assert "failed: 1" in stdout and "done: 8" in stdout
    assert "sub-bad/anat/sub-bad_T2w.nii.gz: " in stdout and "corrupt" in stdout
    assert len(_outputs(out)) == 8 and not list(out.rglob("sub-bad*"))
    records = load_records(qc)
    failed = [r for r in records if r.get("failed")]
    assert len(records) == 9 and [r["subject"] for r in failed] == ["sub-bad"]
    assert "corrupt" in failed[0]["failed"]
    assert "FAILED" in (qc / "index.html").read_text()

    # Rerun: the 8 good images are skipped, the bad one fails again (exit 1 again).
    rc = main(["-i", str(data), "-ofolder", str(out), "-qc", str(qc), "-model", str(tiny_model),
               "-thr", str(THR)])
    stdout = capsys.readouterr().out
    assert rc == 1 and "skipped (up to date): 8" in stdout and "failed: 1" in stdout


def test_two_shards_cover_everything_exactly_once(bids, tiny_model, tmp_path):
    out, qc = tmp_path / "labels", tmp_path / "qc"
    runs = [label_dataset(bids, out_root=out, model=str(tiny_model), threshold=THR, qc=qc, progress=False,
                          shard=(k, 2)) for k in range(2)]
    done = [set(r.done) for r in runs]
    assert not done[0] & done[1]
    assert sorted(done[0] | done[1]) == _images(bids)
    assert all(not r.failed and r.shard == (k, 2) for k, r in enumerate(runs))
    assert "shard 1/2" in runs[1].describe()
    assert len(load_records(qc)) == 8  # one shared QC folder, one index
    full = label_dataset(bids, out_root=out, model=str(tiny_model), threshold=THR, qc=qc, progress=False)
    assert len(full.skipped) == 8 and not full.done


def test_up_to_date_rules(bids, tiny_model, tmp_path):
    from hca_disc_label.weights.card import load_model_folder

    data = tmp_path / "data"
    img = _one_image_folder(bids, data)
    out, qc = tmp_path / "labels", tmp_path / "qc"
    first = label_dataset(data, out_root=out, model=str(tiny_model), threshold=THR, qc=qc, progress=False)
    assert len(first.done) == 1
    label = out / "sub-errsm30_T2w_label-discs_dlabel.nii.gz"
    sidecar = out / "sub-errsm30_T2w_label-discs_dlabel.json"
    job = ImageJob(img, label, img.name, "t2")
    folder = load_model_folder(tiny_model)
    assert is_up_to_date(job, folder, THR, qc)
    assert not is_up_to_date(job, folder, 0.5, qc)  # another threshold
    assert not is_up_to_date(job, folder, THR, tmp_path / "other_qc")  # no QC entry there
    assert is_up_to_date(job, folder, THR, None)

    # input newer than the output -> redo
    later = label.stat().st_mtime + 10
    os.utime(img, (later, later))
    assert not is_up_to_date(job, folder, THR)
    os.utime(img, (later - 20, later - 20))
    assert is_up_to_date(job, folder, THR)

    # another model version recorded -> redo
    meta = json.loads(sidecar.read_text())
    meta["GeneratedBy"][0]["Model"]["Version"] = "9.9.9"
    sidecar.write_text(json.dumps(meta))
    assert not is_up_to_date(job, folder, THR)
    rerun = label_dataset(data, out_root=out, model=str(tiny_model), threshold=THR, qc=qc, progress=False)
    assert rerun.done == [img]
    assert json.loads(sidecar.read_text())["GeneratedBy"][0]["Model"]["Version"] == "0.0.1"


def test_labels_written_by_others_are_never_overwritten(bids, tiny_model, tmp_path):
    data = tmp_path / "bids"
    _writable_copy(bids, data)  # with derivatives/labels: manual labels under our output names
    new = data / "sub-new" / "anat" / "sub-new_T2w.nii.gz"
    new.parent.mkdir(parents=True)
    shutil.copyfile(bids / SMALL, new)
    manual = {p: p.read_bytes() for p in (data / "derivatives" / "labels").rglob("*") if p.is_file()}
    assert len(manual) > 8
    # -ofolder still chooses, even the manual labels' folder: their files are never replaced
    summary = label_dataset(data, out_root=data / "derivatives" / "labels", model=str(tiny_model), threshold=THR,
                            overwrite=True, progress=False)
    assert summary.done == [new]
    assert len(summary.failed) == 8
    assert all("not written by hca_disc_label" in reason for _, reason in summary.failed)
    assert all(p.read_bytes() == content for p, content in manual.items() if "dataset_description" not in p.name)
    assert (data / "derivatives/labels/sub-new/anat/sub-new_T2w_label-discs_dlabel.nii.gz").is_file()
    desc = json.loads((data / "derivatives/labels/dataset_description.json").read_text())
    assert desc["Name"] == "disc labels (bids)"
    assert [g["Name"] for g in desc["GeneratedBy"]] == ["see ../../README.md", "hca_disc_label"]


def test_unknown_contrast_fails_with_a_hint_and_c_forces_it(bids, tiny_model, tmp_path):
    data = tmp_path / "plain"
    img = _one_image_folder(bids, data, name="patient7.nii.gz")
    summary = label_dataset(data, model=str(tiny_model), threshold=THR, progress=False)
    assert summary.failed and summary.failed[0][0] == img and "-c t1 or -c t2" in summary.failed[0][1]
    assert "patient7.nii.gz: contrast unknown" in summary.describe()
    forced = label_dataset(data, contrast="t2", model=str(tiny_model), threshold=THR, progress=False)
    assert forced.done == [img] and not forced.failed
    assert (data / "derivatives/hca_disc_label/patient7_label-discs_dlabel.nii.gz").is_file()


def test_bad_arguments_raise_before_any_work(bids, tiny_model, tmp_path):
    with pytest.raises(HCAError, match="threshold"):
        label_dataset(bids, out_root=tmp_path, model=str(tiny_model), threshold=0.0)
    with pytest.raises(HCAError, match="contrast"):
        label_dataset(bids, out_root=tmp_path, model=str(tiny_model), contrast="t3")
    with pytest.raises(DataError, match="no NIfTI"):
        label_dataset(tmp_path, model=str(tiny_model))
    with pytest.raises(HCAError, match="model"):
        label_dataset(bids, out_root=tmp_path / "o", model=str(tmp_path / "no_such_model"))
    assert not (tmp_path / "o").exists()


def test_cli_batch_usage_errors(bids, tmp_path, capsys):
    assert main(["-i", str(bids), "-shard", "2/2"]) == 2
    assert main(["-i", str(bids), "-shard", "x"]) == 2
    assert main(["-i", str(bids), "-o", str(tmp_path / "x.nii.gz")]) == 2
    assert main(["-i", str(bids), "-x", "3"]) == 2
    assert main(["-i", str(bids / SMALL), "-shard", "0/2"]) == 2
    err = capsys.readouterr().err
    assert "-shard" in err and "-o applies to a single image" in err
    assert not list(tmp_path.iterdir())


def test_summary_describe_lists_failures():
    s = BatchSummary(input_dir=Path("/d"), out_root=Path("/d/derivatives/labels"), total=3,
                     done=[Path("/d/sub-1/anat/sub-1_T2w.nii.gz")],
                     skipped=[(Path("/d/sub-2/anat/sub-2_T2w.nii.gz"), "up to date")],
                     failed=[(Path("/d/sub-3/anat/sub-3_T2w.nii.gz"), "corrupt")], seconds=1.0)
    text = s.describe()
    assert s.failed and not s.ok
    assert "done: 1, skipped (up to date): 1, failed: 1" in text
    assert "sub-3/anat/sub-3_T2w.nii.gz: corrupt" in text
    assert "fsleyes /d/sub-1/anat/sub-1_T2w.nii.gz /d/derivatives/labels/sub-1/anat/" in text
    assert BatchSummary(Path("/d"), Path("/o")).ok


def test_concurrent_shard_jobs_then_final_pass(bids, tiny_model, tmp_path):
    """A job array in miniature: shards run at the same time into one output tree and QC folder."""
    import subprocess
    import sys

    out, qc = tmp_path / "labels", tmp_path / "qc"
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "hca_disc_label", "-i", str(bids), "-ofolder", str(out), "-qc", str(qc),
            "-model", str(tiny_model), "-thr", str(THR)]
    procs = [subprocess.Popen(base + ["-shard", f"{k}/3"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(3)]
    results = [proc.communicate(timeout=300) + (proc.returncode,) for proc in procs]
    assert [rc for _, _, rc in results] == [0, 0, 0], [err for _, err, _ in results]
    assert sum(int(o.split("done: ")[1].split(",")[0]) for o, _, _ in results) == 8
    assert len(_outputs(out)) == 8 and len(load_records(qc)) == 8
    desc = json.loads((out / "dataset_description.json").read_text())
    assert [g["Name"] for g in desc["GeneratedBy"]] == ["hca_disc_label"]
    assert not list(out.rglob(".*")) and not list(qc.rglob(".*"))  # no temporary or lock file left
    final = label_dataset(bids, out_root=out, model=str(tiny_model), threshold=THR, qc=qc, progress=False)
    assert len(final.skipped) == 8 and not final.done and not final.failed
    assert (qc / "index.html").read_text().count("data-subject=") == 8


def _crashing_worker(task):
    """Stand-in worker: dies like an out-of-memory kill on one image (spawned: importable by name)."""
    import time as _time

    from hca_disc_label.run.workers import TaskResult

    if "crash" in task.input:
        os._exit(3)
    _time.sleep(0.05)
    return TaskResult("done", task.input, "ok")


def test_a_dying_worker_fails_only_its_image_and_the_batch_goes_on():
    from hca_disc_label.run.workers import EngineSettings, LabelTask, run_pool

    tasks = [LabelTask(f"img{k}", "out", "t2", "m", "sha") for k in range(6)]
    tasks.insert(2, LabelTask("crash", "out", "t2", "m", "sha"))
    results = []
    run_pool(tasks, 2, EngineSettings(), 30, results.append, fn=_crashing_worker)
    assert sorted(r.input for r in results) == sorted(t.input for t in tasks)  # each exactly once
    failed = {r.input: r.detail for r in results if r.status == "failed"}
    assert set(failed) == {"crash"} and "worker process died" in failed["crash"]  # only its own image
    assert sum(r.status == "done" for r in results) == 6
