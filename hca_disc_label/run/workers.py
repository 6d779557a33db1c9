"""Batch workers: typed tasks, one :class:`~hca_disc_label.inference.labeller.Labeller` per worker and
model, and a process pool that ends with its parent.

* :class:`LabelTask` (one image) in, :class:`TaskResult` out; :func:`run_task` never raises
  for a bad image.
* :class:`LabellerSet` builds each worker's labellers (one per model folder and contrast) the
  first time they are needed and keeps them for the worker's life: the model and its engine
  are loaded once per worker, not once per image, and nothing is cached process-wide.
* :func:`run_pool` runs tasks in worker processes (forked from a fork server that imported the
  libraries once, or spawned), one task in flight per worker, so a
  worker that dies (killed for memory, a native crash) fails only the image it was labelling;
  the worker is replaced and the batch goes on.

Workers end with their parent: on Linux each asks the kernel for SIGTERM when the parent dies
(``PR_SET_PDEATHSIG``), and a watchdog thread checks the parent pid (other systems, or a
parent that died before the request). On SIGTERM a worker removes its temporary files and
exits; SIGINT (Ctrl-C reaches the whole process group) is left to the parent, which stops the
workers itself.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from hca_disc_label.conventions import DEFAULT_THRESHOLD
from hca_disc_label.errors import HCAError, ModelError

log = logging.getLogger(__name__)

MAX_POOL_RESTARTS = 5
"""After this many worker deaths the remaining images are failed instead of retried."""
WATCHDOG_S = 0.5
"""How often a worker checks that its parent is still alive (seconds)."""
STOP_GRACE_S = 3.0
"""How long stopped workers get to exit before they are killed (seconds)."""
DIED = "worker process died while labelling this image (out of memory or a crash); rerun to retry"


@dataclass(frozen=True)
class LabelTask:
    """One image of a batch (plain data: picklable for worker processes).

    Attributes:
        input: the image; output: its label file; contrast: "t1" / "t2".
        model_path: the resolved model folder; model_sha256: its weights' SHA-256 (checked
            again in the worker, so a model re-exported mid-batch is not mixed in).
        qc: QC folder or None; command_line: recorded in the sidecar.
    """

    input: str
    output: str
    contrast: str
    model_path: str
    model_sha256: str
    qc: str | None = None
    command_line: str = ""


@dataclass(frozen=True)
class EngineSettings:
    """How every worker builds its engines: backend, device, CPU threads, threshold, numbering threshold."""

    backend: str = "auto"
    device: str = "auto"
    threads: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    numbering_threshold: float | None = None


@dataclass(frozen=True)
class TaskResult:
    """``status`` "done" (``detail`` = "N discs") or "failed" (``detail`` = one-line reason)."""

    status: str
    input: str
    detail: str


class LabellerSet:
    """The labellers of one process, built on first use (one per model folder and contrast).

    Args:
        settings: engine settings.
        folders: already verified model folders by ``(path, sha256)`` (the batch parent's),
            used instead of loading and verifying the folder again.
    """

    def __init__(self, settings: EngineSettings, folders: dict[tuple[str, str], object] | None = None) -> None:
        self.settings = settings
        self.folders = dict(folders or {})
        self._labellers: dict[tuple[str, str, str], object] = {}

    def get(self, task: LabelTask):
        """The labeller for a task's model and contrast.

        Raises:
            ModelError: the folder cannot be loaded or changed since the batch resolved it.
        """
        key = (task.model_path, task.model_sha256, task.contrast)
        if key not in self._labellers:
            from hca_disc_label.inference.labeller import Labeller
            from hca_disc_label.weights.card import load_model_folder

            folder = self.folders.get((task.model_path, task.model_sha256)) or load_model_folder(task.model_path)
            if folder.sha256 != task.model_sha256:
                raise ModelError(f"model folder {task.model_path} changed while the batch was running")
            s = self.settings
            self._labellers[key] = Labeller(folder, task.contrast, s.backend, s.device, s.threshold, threads=s.threads,
                                            numbering_threshold=s.numbering_threshold)
        return self._labellers[key]


def one_line(exc: BaseException, input_path: str) -> str:
    """First line of an error, without the image path the summary already shows."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    for prefix in (f"{input_path}: ", f"{os.path.abspath(input_path)}: "):
        if first.startswith(prefix):
            first = first[len(prefix):]
    return first[:300]


def record_failure(qc: str | None, src: str, reason: str) -> None:
    """Add a failure entry to the QC folder (index not rebuilt: the batch parent does that)."""
    if qc is None:
        return
    from pathlib import Path

    from hca_disc_label.qc.report import add_failure_entry

    try:
        add_failure_entry(Path(qc), Path(src), reason, rebuild=False)
    except OSError as exc:
        log.warning("cannot write the QC failure entry of %s: %s", src, exc)


def run_task(task: LabelTask, labellers: LabellerSet) -> TaskResult:
    """Label one image and write its outputs; never raises for a bad image or model."""
    from hca_disc_label.run.pipeline import label_discs

    src = task.input
    try:
        result = label_discs(src, contrast=task.contrast, output=task.output, qc=task.qc,
                             labeller=labellers.get(task), command_line=task.command_line,
                             rebuild_qc_index=False, remove_leftovers=False)
        return TaskResult("done", src, f"{len(result.discs)} discs")
    except HCAError as exc:
        reason = one_line(exc, src)
    except MemoryError:
        reason = "out of memory"
    except Exception as exc:  # a bug or an unexpected library error: report it, keep the batch going
        log.debug("unexpected error on %s", src, exc_info=True)
        reason = f"unexpected error: {type(exc).__name__}: {one_line(exc, src)}"
    record_failure(task.qc, src, reason)
    return TaskResult("failed", src, reason)


def run_in_process(tasks: Iterable[LabelTask], labellers: LabellerSet,
                   on_result: Callable[[TaskResult], None]) -> None:
    """Run tasks one after the other in this process."""
    for task in tasks:
        on_result(run_task(task, labellers))


# --------------------------------------------------------------------------- worker side
def _exit_on_term(signum, frame) -> None:  # pragma: no cover - runs in workers
    from hca_disc_label.atomic import defer_if_critical, remove_pending

    if defer_if_critical(signum):
        return  # a label file and its sidecar are being renamed into place: right after that
    remove_pending()
    os._exit(128 + signum)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _die_with_parent(parent_pid: int) -> None:
    """Ask for SIGTERM when the parent dies (Linux) and start a watchdog for the rest.

    The worker's direct parent is the batch process (spawn) or the fork server it started
    (forkserver, which exits with the batch process): the watchdog ends the worker when the
    direct parent changes or the batch process is gone.
    """
    direct = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        import time

        while True:
            if os.getppid() != direct or _gone(parent_pid):
                _exit_on_term(signal.SIGTERM, None)
            time.sleep(WATCHDOG_S)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _worker_main(settings: EngineSettings, log_level: int, conn, parent_pid: int,
                 fn: Callable[[LabelTask], TaskResult] | None) -> None:
    """Body of a worker process: receive tasks on ``conn`` until ``None``, send back results.

    Each worker has its own pipe (no lock shared between workers), so a worker killed in the
    middle of a send cannot block the others.
    """
    signal.signal(signal.SIGTERM, _exit_on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent_pid)
    if settings.threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(settings.threads)
    root = logging.getLogger("hca_disc_label")
    root.setLevel(log_level)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(handler)
    labellers = LabellerSet(settings)
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent is gone
            return
        if task is None:
            return
        conn.send(fn(task) if fn is not None else run_task(task, labellers))


# --------------------------------------------------------------------------- parent side
PRELOAD = ("hca_disc_label.run.workers", "hca_disc_label.inference.labeller", "hca_disc_label.run.pipeline")
"""Imported once by the fork server, so workers start without paying for them."""


def _context(settings: EngineSettings):
    """The multiprocessing context of the workers: a fork server where there is one (Linux,
    macOS: the libraries are imported once, each worker is a fork of that clean process, not
    of the batch process), else spawn. ``HCA_DISC_LABEL_START=spawn`` forces spawn."""
    import multiprocessing

    method = os.environ.get("HCA_DISC_LABEL_START", "forkserver")
    if method not in multiprocessing.get_all_start_methods():
        method = "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # onnxruntime is imported (no session is created) unless the torch path is asked for
        extra = () if settings.backend == "torch" else ("onnxruntime",)
        context.set_forkserver_preload(list(PRELOAD + extra))
    return context

@dataclass
class _Worker:
    process: object
    conn: object
    task: LabelTask | None = None


def run_pool(tasks: Sequence[LabelTask], jobs: int, settings: EngineSettings, log_level: int,
             on_result: Callable[[TaskResult], None], fn: Callable[[LabelTask], TaskResult] | None = None) -> None:
    """Run tasks in ``jobs`` worker processes; ``on_result`` gets exactly one result per task.

    Args:
        tasks: the images.
        jobs: worker processes.
        settings: engine settings of every worker.
        log_level: the workers' logging level.
        on_result: called in this process, in completion order.
        fn: a picklable top-level ``task -> TaskResult`` run instead of :func:`run_task`
            (tests).

    A worker that dies fails only the task it held; it is replaced (at most
    :data:`MAX_POOL_RESTARTS` times). Every exit path (done, Ctrl-C, SIGTERM turned into an
    exception, a bug) stops the workers: asked to finish, then terminated (they remove their
    temporary files), then killed.
    """
    from multiprocessing.connection import wait

    context = _context(settings)
    pending = list(tasks)[::-1]
    workers: list[_Worker] = []
    deaths = 0

    def start() -> None:
        parent_end, child_end = context.Pipe()
        proc = context.Process(target=_worker_main, name="hca-worker", daemon=True,
                               args=(settings, log_level, child_end, os.getpid(), fn))
        proc.start()
        child_end.close()
        workers.append(_Worker(proc, parent_end))

    def died(w: _Worker) -> None:
        nonlocal deaths
        w.process.join(0.1)
        workers.remove(w)
        deaths += 1
        if w.task is not None:
            record_failure(w.task.qc, w.task.input, DIED)
            on_result(TaskResult("failed", w.task.input, DIED))
        log.warning("a worker process died (exit code %s)", w.process.exitcode)
        if pending and deaths <= MAX_POOL_RESTARTS:
            start()

    try:
        for _ in range(min(jobs, len(pending))):
            start()
        while pending or any(w.task is not None for w in workers):
            for w in workers:
                if w.task is None and pending:
                    w.task = pending.pop()
                    w.conn.send(w.task)
            ready = set(wait([w.conn for w in workers] + [w.process.sentinel for w in workers], timeout=1.0))
            for w in list(workers):
                if w.conn in ready:
                    try:
                        result = w.conn.recv()
                    except (EOFError, OSError):  # died (possibly mid-send)
                        died(w)
                        continue
                    w.task = None
                    on_result(result)
                elif w.process.sentinel in ready:
                    died(w)
            if pending and not workers:
                while pending:
                    task = pending.pop()
                    on_result(TaskResult("failed", task.input, "not run: too many worker crashes in this batch"))
    finally:
        _stop(workers)


def _stop(workers: list[_Worker]) -> None:
    import time

    for w in workers:
        if w.process.is_alive() and w.task is None:
            try:
                w.conn.send(None)
            except (OSError, ValueError):
                pass
    for w in workers:
        if w.task is not None and w.process.is_alive():
            w.process.terminate()  # busy: SIGTERM, the worker removes its temporary files
    deadline = time.monotonic() + STOP_GRACE_S
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()))
        if w.process.is_alive():
            w.process.kill()
            w.process.join(1.0)
