"""Interrupted and concurrent runs (issue 12): Ctrl-C -> 130, SIGTERM mid-write leaves no
temporary file, batch workers end with their parent, concurrent writers on one output and QC
folder stay consistent. Each case runs the CLI as a child process on a small real image.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.helpers import temp_files

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- signals
_SLOW_WRITE = textwrap.dedent("""
    import sys, time
    from hca_disc_label.run import pipeline
    real_write = pipeline.write_label_file

    def slow_write(reference, points, path):  # write the temporary file, then hang inside the write
        real_write(reference, points, path)
        print("WRITING", flush=True)
        time.sleep(60)

    pipeline.write_label_file = slow_write
    from hca_disc_label.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _start(args: list[str], script: str | None = None, **kwargs) -> subprocess.Popen:
    cmd = [sys.executable, "-c", script or "import sys; from hca_disc_label.cli.main import main; sys.exit(main())"]
    return subprocess.Popen(cmd + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(ROOT), **kwargs)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_signal_during_write_exits_cleanly_without_temp_files(sig, code, good_image, tmp_path):
    out = tmp_path / "out"
    proc = _start(["-i", str(good_image), "-c", "t2", "-ofolder", str(out), "-v", "0"], _SLOW_WRITE)
    deadline = time.monotonic() + 60
    line = ""
    while "WRITING" not in line and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
    assert "WRITING" in line, proc.stderr.read()
    assert temp_files(out)  # the write is in flight
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert not temp_files(out) and not any(out.rglob("*.nii.gz"))


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, "ctrl-c"], ids=["sigterm", "sigkill", "ctrl-c"])
def test_batch_workers_end_with_their_parent(sig, good_image, tmp_path):
    """SIGTERM / SIGKILL of the batch process, or Ctrl-C (SIGINT to the whole process group)."""
    data = tmp_path / "data"
    data.mkdir()
    for k in range(40):
        (data / f"sub-{k:02d}_T2w.nii.gz").write_bytes(good_image.read_bytes())
    out = tmp_path / "labels"
    proc = _start(["-i", str(data), "-j", "2", "-ofolder", str(out), "-v", "0"], start_new_session=True)
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        # workers (and the fork server they come from): every multiprocessing descendant
        workers = [k for k in _descendants(proc.pid)
                   if "multiprocessing" in _cmdline(k) and "resource_tracker" not in _cmdline(k)]
        if len(workers) >= 2 and any(out.rglob("*_dlabel.json")):
            break
        time.sleep(0.05)
    assert len(workers) >= 2 and proc.poll() is None, "the batch did not get going"
    if sig == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does
    else:
        proc.send_signal(sig)
    proc.communicate(timeout=30)
    end = time.monotonic() + 15
    while any(_alive(w) for w in workers) and time.monotonic() < end:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)
    if sig != signal.SIGKILL:
        assert proc.returncode == (130 if sig == "ctrl-c" else 143)
    time.sleep(0.3)
    assert not temp_files(out)
    for label in out.rglob("*_dlabel.nii.gz"):  # whatever was written is whole, with its sidecar
        nib.load(str(label)).get_fdata()
        assert json.loads(label.with_name(label.name[:-7] + ".json").read_text())["Discs"]


# --------------------------------------------------------------------------- concurrency
def test_concurrent_runs_on_one_output_and_qc_stay_consistent(good_image, tmp_path):
    out, qc = tmp_path / "out", tmp_path / "qc"
    procs = [_start(["-i", str(good_image), "-c", "t2", "-ofolder", str(out), "-qc", str(qc), "-v", "0"])
             for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [r[1] for r in results]
    label = out / "sub-01_T2w_label-discs_dlabel.nii.gz"
    sidecar = json.loads(label.with_name("sub-01_T2w_label-discs_dlabel.json").read_text())
    data = np.asanyarray(nib.load(str(label)).dataobj)
    assert sorted(int(v) for v in np.unique(data) if v) == sorted(d["value"] for d in sidecar["Discs"])
    assert sidecar["GeneratedBy"][0]["Name"] == "hca_disc_label" and "Date" in sidecar["GeneratedBy"][0]
    assert len(list((qc / "entries").glob("*.json"))) == 1 and (qc / "index.html").is_file()
    assert not temp_files(out, qc)
