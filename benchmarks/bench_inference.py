"""Inference speed and memory of hca_label on this machine, printed as Markdown tables.

Usage::

    python benchmarks/bench_inference.py [--model NAME|PATH] [--repeats 5] [--threads N]
                                         [--data ../shared/data/bids] [--explore] [--no-paper]

Models: the given ``--model`` (default: the shipped default for T2 through
``resolve_model(None, "t2")``; when none ships yet, the tiny random-weight test model built on
the fly) and the paper-size configuration (``benchmarks/bench_models.py``) with random weights (exported to a temporary ONNX
file). Random-weight models run with ``-thr 0.0001`` so that some disc is always written.

Measured, median over ``--repeats`` (numbers on a shared machine are noisy):

1. model forward per slab, PyTorch eager (as the torch backend runs it: channels-last,
   inference mode) vs ONNX Runtime (as the onnx backend creates its session), on a 256x256
   slab and on the real pam50 slab size under each model's input contract;
2. whole ``python -m hca_disc_label -i IMG -c t2 -backend torch|onnx -v 0`` wall time per
   volume including Python start-up, on errsm30 T2w and pam50;
3. peak memory: max RSS of that subprocess (``os.wait4`` resource usage);
4. throughput labelling the BIDS images of ``--data`` (copied to a temporary folder) with
   ``hca_label -i FOLDER -j 2`` (a sequential in-process loop when batch mode is missing).

``--explore`` adds ONNX Runtime session options and PyTorch settings tried on the paper model.
Both libraries get the same number of threads (``--threads``, default: all cores).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Runnable from a source checkout without installing the package.
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_models import Bench, given_model, paper_model, params  # noqa: E402

RANDOM_THRESHOLD = "0.0001"
WHOLE_COMMAND_IMAGES = ("sub-errsm30/anat/sub-errsm30_T2w.nii.gz", "sub-pam50/anat/sub-pam50_T2w.nii.gz")
PAM50 = WHOLE_COMMAND_IMAGES[1]
TARGET_COMMAND_S = 1.0
TARGET_SPEEDUP = 2.0
TARGET_RSS_MB = 500.0


# --------------------------------------------------------------------------- (1) forward
def _median_s(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def pam50_slab_shape(folder, data: Path) -> tuple[int, int]:
    """Padded model-frame (H, W) of the real pam50 slab under the model's input contract."""
    from hca_disc_label.contract import InputContract
    from hca_disc_label.preprocessing import prepare_input
    from hca_disc_label.image import load_image

    image = load_image(data / PAM50)
    return tuple(prepare_input(InputContract.from_mapping(folder.input_contract), image.data, image.zooms).image.shape)


def forward_rows(bench: Bench, data: Path, repeats: int, threads: int) -> list[list[str]]:
    """Forward time of both backends (created exactly as the pipeline creates them)."""
    import numpy as np

    from hca_disc_label.inference.backends import create_backend

    torch_be = create_backend(bench.folder, "torch", "cpu", threads=threads)
    onnx_be = create_backend(bench.folder, "onnx", "cpu", threads=threads)
    rows = []
    m = int(bench.folder.input_contract["size_multiple"])
    square = -(-256 // m) * m
    for what, hw in (("256x256" if square == 256 else f"{square}x{square}", (square, square)),
                     ("pam50 slab", pam50_slab_shape(bench.folder, data))):
        image = np.random.default_rng(0).random(hw, dtype=np.float32)
        t_torch = _median_s(lambda: torch_be.predict(image), repeats)
        t_onnx = _median_s(lambda: onnx_be.predict(image), repeats)
        rows.append([bench.label, f"{params(bench.folder):,}", f"{what} ({hw[0]}x{hw[1]})",
                     f"{t_torch * 1e3:.1f}", f"{t_onnx * 1e3:.1f}", f"{t_torch / t_onnx:.1f}x"])
    return rows


# --------------------------------------------------------------------------- (2, 3) command
def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["HCA_DISC_LABEL_OFFLINE"] = "1"
    return env


GNU_TIME = shutil.which("time", path="/usr/bin:/bin")

_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(usage.ru_maxrss, file=open(os.environ['HCA_BENCH_RSS'], 'w'))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(argv: list[str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB of it and its children).

    The peak RSS comes from GNU time's ``%M`` (else from a small Python launcher's
    ``os.wait4``): Linux carries the forking parent's high-water RSS through exec, so the
    command must be forked from a small process, not from this one (torch is loaded here).

    Raises:
        RuntimeError: non-zero exit (with its stderr).
    """
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = Path(tmp) / "rss"
        if GNU_TIME:
            wrapped = [GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv]
        else:
            wrapped = [sys.executable, "-c", _LAUNCHER, *argv]
        env = _child_env()
        env["HCA_BENCH_RSS"] = str(rss_file)
        start = time.perf_counter()
        proc = subprocess.run(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=str(REPO))
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
        rss_kib = float(rss_file.read_text().split()[-1])
    return wall, rss_kib / 1024.0  # Linux: KiB


def _label_argv(bench: Bench, image: Path, backend: str, out: Path) -> list[str]:
    argv = [sys.executable, "-m", "hca_disc_label", "-i", str(image), "-c", "t2", "-backend", backend,
            "-o", str(out), "-v", "0"]
    if bench.cli_model is not None:
        argv += ["-model", bench.cli_model]
    if bench.random_weights:
        argv += ["-thr", RANDOM_THRESHOLD]
    return argv


def command_rows(bench: Bench, data: Path, repeats: int, tmp: Path) -> list[list[str]]:
    rows = []
    for rel in WHOLE_COMMAND_IMAGES:
        image = data / rel
        for backend in ("torch", "onnx"):
            walls, rss = [], []
            for k in range(repeats):
                wall, peak = run_measured(_label_argv(bench, image, backend, tmp / f"cmd_{k}.nii.gz"))
                walls.append(wall)
                rss.append(peak)
            rows.append([bench.label, image.name, backend, f"{statistics.median(walls):.2f}",
                         f"{min(walls):.2f}", f"{max(rss):.0f}"])
    startup, _ = run_measured([sys.executable, "-c", "pass"])
    rows.append(["(python -c pass)", "-", "-", f"{startup:.2f}", f"{startup:.2f}", "-"])
    return rows


# --------------------------------------------------------------------------- (4) throughput
def copy_images(data: Path, dest: Path) -> int:
    """Copy the BIDS images (not the derivatives) so outputs never touch the shared data."""
    count = 0
    for image in sorted(data.glob("sub-*/anat/*.nii.gz")):
        target = dest / image.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(image, target)
        count += 1
    if (data / "dataset_description.json").is_file():
        shutil.copy2(data / "dataset_description.json", dest / "dataset_description.json")
    return count


_LOOP = """
import sys
from pathlib import Path
from hca_disc_label import Labeller, label_discs
root, out, backend, model, thr = sys.argv[1:6]
labeller = Labeller(None if model == '-' else model, 't2', backend, 'cpu', float(thr))
for k, image in enumerate(sorted(Path(root).glob('sub-*/anat/*.nii.gz'))):
    label_discs(image, output=Path(out) / f'{k}.nii.gz', labeller=labeller, command_line='bench')
"""


def throughput_rows(bench: Bench, data: Path, repeats: int, tmp: Path, jobs: int) -> tuple[list[list[str]], str]:
    dataset = tmp / "bids_copy"
    if not dataset.exists():
        copy_images(data, dataset)
    count = len(list(dataset.glob("sub-*/anat/*.nii.gz")))
    has_batch = importlib.util.find_spec("hca_disc_label.run.batch") is not None
    rows = []
    for backend in ("torch", "onnx"):
        walls, rss = [], []
        for k in range(repeats):
            out = tmp / f"tp_{backend}_{k}"
            if has_batch:
                argv = [sys.executable, "-m", "hca_disc_label", "-i", str(dataset), "-j", str(jobs), "-backend",
                        backend, "-ofolder", str(out), "-v", "0"]
                if bench.cli_model is not None:
                    argv += ["-model", bench.cli_model]
                if bench.random_weights:
                    argv += ["-thr", RANDOM_THRESHOLD]
            else:
                out.mkdir(parents=True)
                argv = [sys.executable, "-c", _LOOP, str(dataset), str(out), backend, bench.cli_model or "-",
                        RANDOM_THRESHOLD if bench.random_weights else "0.3"]
            wall, peak = run_measured(argv)
            walls.append(wall)
            rss.append(peak)
        wall = statistics.median(walls)
        mode = f"hca_label -i FOLDER -j {jobs}" if has_batch else "sequential loop, 1 process (TODO: batch mode)"
        rows.append([bench.label, backend, mode, str(count), f"{wall:.2f}", f"{count / wall:.2f}", f"{max(rss):.0f}"])
    note = "" if has_batch else (
        "TODO: hca_disc_label.run.batch is missing: throughput measured with a sequential in-process "
        "loop (one start-up, model loaded once); rerun when `hca_label -i FOLDER -j 2` exists."
    )
    return rows, note


# --------------------------------------------------------------------------- --explore
def explore_rows(bench: Bench, repeats: int, threads: int, tmp: Path) -> list[list[str]]:
    """ORT session options and PyTorch settings on a 256x256 slab of ``bench``."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from hca_disc_label.model.build import build_torch_model

    x = np.random.default_rng(0).random((1, 1, 256, 256), dtype=np.float32)
    rows = []

    def ort_row(label: str, path: Path, **opts) -> None:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        for key, value in opts.items():
            setattr(options, key, value)
        start = time.perf_counter()
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        created = time.perf_counter() - start
        t = _median_s(lambda: session.run(None, {"image": x}), repeats)
        rows.append([f"ORT {label}", f"{t * 1e3:.1f}", f"{created * 1e3:.0f}"])

    onnx_path = bench.folder.onnx_path
    level = ort.GraphOptimizationLevel
    ort_row(f"default (as backend: ENABLE_ALL, {threads} threads)", onnx_path, intra_op_num_threads=threads)
    ort_row("ENABLE_BASIC", onnx_path, intra_op_num_threads=threads, graph_optimization_level=level.ORT_ENABLE_BASIC)
    ort_row("ENABLE_EXTENDED", onnx_path, intra_op_num_threads=threads,
            graph_optimization_level=level.ORT_ENABLE_EXTENDED)
    ort_row("ENABLE_ALL, 1 thread", onnx_path, intra_op_num_threads=1)
    ort_row("ENABLE_ALL, ORT_PARALLEL execution", onnx_path, intra_op_num_threads=threads,
            execution_mode=ort.ExecutionMode.ORT_PARALLEL)
    optimized = tmp / "optimized.onnx"
    ort_row("ENABLE_ALL, saving the optimised model", onnx_path, intra_op_num_threads=threads,
            optimized_model_filepath=str(optimized))
    ort_row("pre-optimised model, optimisation off", optimized, intra_op_num_threads=threads,
            graph_optimization_level=level.ORT_DISABLE_ALL)

    torch.set_num_threads(threads)
    net = build_torch_model(bench.folder.architecture, bench.folder.weights_path)
    xt = torch.from_numpy(x)
    with torch.inference_mode():
        t = _median_s(lambda: net(xt), repeats)
        rows.append([f"PyTorch eager NCHW, {threads} threads", f"{t * 1e3:.1f}", "-"])
        net_cl = net.to(memory_format=torch.channels_last)
        xcl = xt.contiguous(memory_format=torch.channels_last)
        t = _median_s(lambda: net_cl(xcl), repeats)
        rows.append([f"PyTorch eager channels-last (as backend), {threads} threads", f"{t * 1e3:.1f}", "-"])
        torch.set_num_threads(1)
        t = _median_s(lambda: net_cl(xcl), repeats)
        rows.append(["PyTorch eager channels-last, 1 thread", f"{t * 1e3:.1f}", "-"])
        torch.set_num_threads(threads)
        net = net.to(memory_format=torch.contiguous_format)
        start = time.perf_counter()
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, xt).eval()))
        prepared = time.perf_counter() - start
        t = _median_s(lambda: frozen(xt), repeats)
        rows.append(["PyTorch TorchScript trace+freeze+optimize_for_inference (not eager)", f"{t * 1e3:.1f}",
                     f"{prepared * 1e3:.0f}"])
    return rows


# --------------------------------------------------------------------------- output
def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def machine_line(threads: int) -> str:
    import numpy
    import onnxruntime
    import torch

    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} logical cores, {threads} threads per library; load average {load}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
            f"numpy {numpy.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model NAME[@VERSION] or folder (default: shipped default for t2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (median)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--jobs", type=int, default=2, help="-j of the folder throughput run")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "bids")
    parser.add_argument("--explore", action="store_true", help="also try ORT session options / torch settings")
    parser.add_argument("--no-paper", action="store_true", help="skip the paper-size configuration")
    args = parser.parse_args(argv)
    if not (args.data / PAM50).is_file():
        parser.error(f"--data {args.data}: {PAM50} not found")
    print(f"Machine: {machine_line(args.threads)}. Medians over {args.repeats} repeats; shared machine, noisy.\n")
    with tempfile.TemporaryDirectory(prefix="hca_bench_") as tmp_name:
        tmp = Path(tmp_name)
        benches = [given_model(args.model, tmp)] + ([] if args.no_paper else [paper_model(tmp)])
        fwd, cmd, tput, notes = [], [], [], []
        for bench in benches:
            fwd += forward_rows(bench, args.data, args.repeats, args.threads)
            cmd += command_rows(bench, args.data, args.repeats, tmp)
            rows, note = throughput_rows(bench, args.data, args.repeats, tmp, args.jobs)
            tput += rows
            notes += [note] if note and note not in notes else []
        print("### 1. Model forward per slab (ms, batch 1, CPU)\n")
        print(table(["model", "parameters", "slab", "PyTorch eager", "ONNX Runtime", "ORT speed-up"], fwd))
        print("\n### 2-3. Whole command per volume (`python -m hca_disc_label -i IMG -c t2 -v 0`)\n")
        print(table(["model", "image", "backend", "wall s (median)", "wall s (min)", "peak RSS MB"], cmd))
        print("\n### 4. Folder throughput\n")
        print(table(["model", "backend", "mode", "volumes", "wall s", "volumes/s", "peak RSS MB"], tput))
        for note in notes:
            print(f"\n{note}")
        print("\n### Targets\n")
        print(table(["target", "worst measured", "met"], _targets(fwd, cmd)))
        if args.explore:
            bench = benches[-1]
            print(f"\n### Explore: {bench.label}, 256x256 slab\n")
            print(table(["setting", "forward ms", "session/prep ms"], explore_rows(bench, args.repeats,
                                                                                args.threads, tmp)))
    return 0


def _targets(fwd: list[list[str]], cmd: list[list[str]]) -> list[list[str]]:
    """Worst case of each target over models and images (rows of the tables above)."""
    onnx_cmd = max((float(r[3]), f"{r[0]}, {r[1]}") for r in cmd if r[2] == "onnx")
    speedup = min((float(r[5].rstrip("x")), f"{r[0]}, {r[2]}") for r in fwd)
    rows = [
        [f"whole command <= {TARGET_COMMAND_S:g} s per volume, ONNX on CPU", f"{onnx_cmd[0]:.2f} s ({onnx_cmd[1]})",
         "yes" if onnx_cmd[0] <= TARGET_COMMAND_S else "NO"],
        [f"ONNX forward >= {TARGET_SPEEDUP:g}x PyTorch eager", f"{speedup[0]:.1f}x ({speedup[1]})",
         "yes" if speedup[0] >= TARGET_SPEEDUP else "NO"],
    ]
    for backend in ("onnx", "torch"):
        worst = max((float(r[5]), f"{r[0]}, {r[1]}") for r in cmd if r[2] == backend)
        rows.append([f"peak memory <= {TARGET_RSS_MB:g} MB, {backend} command", f"{worst[0]:.0f} MB ({worst[1]})",
                     "yes" if worst[0] <= TARGET_RSS_MB else "NO"])
    return rows

if __name__ == "__main__":
    sys.exit(main())
