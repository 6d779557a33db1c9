"""Per-stage cost of labelling and folder throughput (``-j 2``), optionally against an older checkout.

Usage::

    python benchmarks/bench_stages.py [--images 30] [--repeats 3] [--jobs 2]
        [--before /tmp/before --before-python /tmp/venv_before/bin/python]

1. A folder of ``--images`` mixed real volumes is made in a temporary folder (copies of the
   ``../shared/data/bids`` images, then ``bids-train``, in sorted order).
2. Stages, in this process, one engine thread (what a ``-j 2`` worker on 2 cores gets): every
   image through :meth:`hca_disc_label.Labeller.label` then
   :func:`~hca_disc_label.run.pipeline.write_outputs`; the table gives the seconds of
   each stage (read, reorient, mid-plane, resample, forward, decode, map = disc -> level
   mid-plane -> file voxel, numbering, write) summed over the folder, per image and as a share.
3. Throughput: ``hca_label -i FOLDER -c t2 -j JOBS -ofolder OUT -v 0`` as a subprocess, wall
   and CPU (user + sys of the command and every process under it, from /proc; Linux), median
   over ``--repeats``. With
   ``--before CHECKOUT`` the same command runs from that checkout (``PYTHONPATH=CHECKOUT``
   with ``--before-python``, an interpreter whose site-packages do not put this checkout
   first, e.g. a venv with a ``.pth`` line pointing at this venv's site-packages), the two
   alternating so that both see the same machine load; the speed-up is their ratio.

Numbers on a shared machine are noisy: compare runs made together.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
STAGES = ("read", "reorient", "mid_plane", "resample", "forward", "decode", "map", "numbering", "write")


def make_folder(dest: Path, count: int, data: Path = DATA) -> list[Path]:
    """Copy ``count`` real volumes (bids/ first, then bids-train/) into ``dest``; returns them."""
    sources = sorted(data.glob("bids/sub-*/anat/*.nii.gz")) + sorted(data.glob("bids-train/sub-*/anat/*.nii.gz"))
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for k, src in enumerate(sources[:count]):
        target = dest / f"img{k:02d}_{src.name}"
        shutil.copyfile(src, target)
        out.append(target)
    return out


def stage_table(images: list[Path], out: Path) -> str:
    """Markdown table of the seconds per stage over ``images`` (one engine thread)."""
    from hca_disc_label import Labeller
    from hca_disc_label.run.pipeline import write_outputs

    labeller = Labeller(None, "t2", "auto", "cpu", threads=1)
    totals = dict.fromkeys(STAGES, 0.0)
    start = time.perf_counter()
    for image in images:
        labelling = labeller.label(image)
        t = time.perf_counter()
        write_outputs(labelling, out / image.name.replace(".nii.gz", "_label-discs_dlabel.nii.gz"), "bench")
        labelling.timings["write"] = time.perf_counter() - t
        for key, value in labelling.timings.items():
            totals[key] = totals.get(key, 0.0) + value
    wall = time.perf_counter() - start
    rows = [f"| {k} | {v:.3f} | {v / len(images) * 1e3:.1f} | {v / wall * 100:.0f} % |" for k, v in totals.items()]
    return "\n".join([f"Stages over {len(images)} volumes ({labeller.backend}, 1 thread), wall {wall:.2f} s:", "",
                      "| stage | s | ms / volume | share |", "|---|---|---|---|", *rows])


def _proc_cpu(pid: int) -> float | None:
    """utime + stime of a live process (s), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _family(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


def run_folder(python: str, pythonpath: str | None, folder: Path, out: Path, jobs: int) -> tuple[float, float]:
    """``(wall s, CPU s)`` of one ``hca_label -i FOLDER -j JOBS`` subprocess.

    CPU = user + sys of the command and every process under it (workers, a fork server),
    sampled from /proc every 20 ms (the last sample of each process counts: it can miss up to
    20 ms per process).
    """
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    shutil.rmtree(out, ignore_errors=True)
    code = "import sys\nfrom hca_disc_label.cli.main import main\nif __name__ == '__main__':\n    sys.exit(main())\n"
    script = out.parent / f".run_{out.name}.py"
    script.write_text(code)
    argv = [python, str(script), "-i", str(folder), "-c", "t2", "-j", str(jobs), "-ofolder", str(out), "-v", "0"]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: dict[int, float] = {}
    while proc.poll() is None:
        for pid in _family(proc.pid):
            cpu = _proc_cpu(pid)
            if cpu is not None:
                seen[pid] = max(seen.get(pid, 0.0), cpu)
        time.sleep(0.02)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {err.strip()[-500:]}")
    return wall, sum(seen.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--before", type=Path, help="older checkout to compare with")
    parser.add_argument("--before-python", default=sys.executable)
    parser.add_argument("--no-stages", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hca_bench_") as tmp:
        tmp = Path(tmp)
        images = make_folder(tmp / "folder", args.images)
        if not args.no_stages:
            (tmp / "stage_out").mkdir()
            print(stage_table(images, tmp / "stage_out"), "\n", flush=True)
        runs: dict[str, list[tuple[float, float]]] = {"current": []}
        if args.before:
            runs["before"] = []
        for k in range(args.repeats):
            for name in runs:
                python = args.before_python if name == "before" else sys.executable
                path = str(args.before) if name == "before" else None
                runs[name].append(run_folder(python, path, tmp / "folder", tmp / f"out_{name}_{k}", args.jobs))
        print(f"Folder of {len(images)} volumes, -j {args.jobs}, median of {args.repeats}:\n")
        print("| code | wall s | volumes/s | CPU s (user+sys) |\n|---|---|---|---|")
        medians = {}
        for name, values in runs.items():
            wall = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            medians[name] = (wall, cpu)
            print(f"| {name} | {wall:.2f} | {len(images) / wall:.1f} | {cpu:.2f} |")
        if "before" in medians:
            (bw, bc), (cw, cc) = medians["before"], medians["current"]
            print(f"\nspeed-up: wall {bw / cw:.2f}x, CPU {bc / cc:.2f}x; all runs (wall, CPU): "
                  + "; ".join(f"{n} " + ", ".join(f"({w:.2f}, {c:.2f})" for w, c in v) for n, v in runs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
