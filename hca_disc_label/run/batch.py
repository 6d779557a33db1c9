"""Batch labelling of a BIDS dataset or a folder of NIfTI images (orchestration).

:func:`label_dataset` plans the batch (:class:`~hca_disc_label.run.plan.BatchPlan`: the T1w/T2w
images, this shard's, each pre-checked) and runs the plan (:func:`run_plan`): it writes one
disc-label file + JSON sidecar per image into a pipeline-named BIDS derivative
(``derivatives/hca_disc_label/sub-*/[ses-*/]anat/``, never ``derivatives/labels`` where the
manual labels are), skips images whose labels are up to date, hands
the rest to workers (:mod:`hca_disc_label.run.workers`: one labeller per worker, loaded
once), keeps going when an image fails and returns a
:class:`~hca_disc_label.run.summary.BatchSummary`. ``shard=(k, n)`` selects every n-th
image for cluster job arrays; all shards may share one output tree and one QC folder.

Safety rules:

* a label file that hca_disc_label did not write (e.g. manual labels, which spine-generic
  keeps under the same name in ``derivatives/labels``) is never overwritten, even with
  ``overwrite=True``: that image fails with a message naming the file;
* every file is written atomically (:mod:`hca_disc_label.atomic`) and
  ``dataset_description.json`` is updated under a lock, so parallel jobs never leave
  half-written files; a run first removes the temporary files that runs killed with SIGKILL
  left in its output tree and QC folder (those no live process holds).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from hca_disc_label.conventions import DEFAULT_THRESHOLD, check_contrast, check_threshold
from hca_disc_label.errors import HCAError
from hca_disc_label.qc.report import rebuild_index
from hca_disc_label.run.derivative import prepare_output_tree, write_dataset_description, write_numbering_table
from hca_disc_label.run.plan import BatchPlan, ImageJob
from hca_disc_label.run.summary import BatchSummary
from hca_disc_label.run.workers import (
    EngineSettings,
    LabellerSet,
    LabelTask,
    TaskResult,
    record_failure,
    run_in_process,
    run_pool,
)
from hca_disc_label.sidecar import model_block
from hca_disc_label.weights.card import model_sha256

log = logging.getLogger(__name__)

__all__ = ["label_dataset", "run_plan"]

INDEX_REFRESH_S = 60.0
"""While a long batch runs, the QC index is rebuilt at most this often (and at the end)."""


# --------------------------------------------------------------------------- the batch
def label_dataset(
    input_dir: Path,
    out_root: Path | None = None,
    contrast: str | None = None,
    model: str | None = None,
    backend: str = "auto",
    device: str = "auto",
    threshold: float = DEFAULT_THRESHOLD,
    qc: Path | None = None,
    jobs: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    command_line: str | None = None,
    numbering_threshold: float | None = None,
) -> BatchSummary:
    """Label every T1w/T2w image of a BIDS dataset (or every NIfTI of a folder).

    Args:
        input_dir: BIDS dataset or folder of NIfTI images (see :func:`~hca_disc_label.run.plan.find_images`).
        out_root: output tree; default ``input_dir/derivatives/hca_disc_label`` (a BIDS
            derivative with its own ``dataset_description.json``). Outputs mirror the images'
            folders (``sub-*/[ses-*/]anat/<stem>_label-discs_dlabel.nii.gz`` + ``.json``).
        contrast: "t1"/"t2" forces the contrast of every image; None reads the BIDS suffix.
        model: registry ``NAME[@VERSION]`` or model folder; None = default per contrast.
            Resolved (and downloaded if needed) once, here; workers get the folder path.
        backend, device: inference engine and device (see ``create_backend``).
        threshold: minimum confidence of a written disc, in (0, 1).
        qc: QC folder shared by all images (safe with parallel jobs and job arrays).
        jobs: worker processes (1 = in this process). Each worker builds its labeller once
            and uses ``cores // jobs`` threads.
        overwrite: redo images whose outputs are up to date (files another tool wrote are
            still never overwritten).
        progress: one progress bar on stderr when it is a terminal, else one plain log line
            per image (``[k/N] image: N discs``).
        shard: ``(k, n)``: process only every n-th image starting at k (sorted order), for
            cluster job arrays.
        command_line: recorded in every sidecar (default: ``sys.argv``).
        numbering_threshold: numbering confidence under which an image is ``check`` (None =
            each model's calibrated threshold). ``out_root/numbering.tsv`` lists every image of
            the run with its numbering status, ``check`` first; the summary counts and lists them.

    Returns:
        A :class:`BatchSummary`; ``summary.failed`` is non-empty when any image failed.

    Raises:
        HCAError: bad arguments (folder, contrast, threshold, shard), no image found, or a
            model that cannot be resolved for any contrast of the batch. Failures of single
            images never raise: they are in the summary (and the QC report).
    """
    start = time.perf_counter()
    if contrast is not None:
        check_contrast(contrast)
    threshold = check_threshold(threshold)
    if int(jobs) < 1:
        raise HCAError(f"jobs must be at least 1, got {jobs}")
    plan = BatchPlan.find(input_dir, out_root, contrast, qc, shard)
    # the output tree first: an unwritable output fails before any model download
    prepare_output_tree(plan.out_root, qc, plan.input_dir if plan.is_bids else None)
    plan.check(model, threshold, qc, overwrite, command_line if command_line is not None else " ".join(sys.argv))
    summary = run_plan(plan, backend, device, threshold, qc, jobs, progress, numbering_threshold)
    summary.seconds = time.perf_counter() - start
    log.info("batch finished: %d done, %d skipped, %d failed", len(summary.done), len(summary.skipped),
             len(summary.failed))
    return summary


def run_plan(plan: BatchPlan, backend: str = "auto", device: str = "auto", threshold: float = DEFAULT_THRESHOLD,
             qc: Path | None = None, jobs: int = 1, progress: bool = True,
             numbering_threshold: float | None = None) -> BatchSummary:
    """Run a checked plan (arguments as :func:`label_dataset`): record the pre-check failures,
    label the tasks, rebuild the QC index, write ``numbering.tsv``; the summary of it all."""
    summary = BatchSummary(input_dir=plan.input_dir, out_root=plan.out_root, total=len(plan.jobs), shard=plan.shard,
                           skipped=list(plan.skipped), failed=list(plan.failed))
    for image, reason in plan.failed:
        record_failure(str(qc) if qc is not None else None, str(image), reason)
    workers = min(int(jobs), len(plan.tasks))
    # Workers share the cores; in-process runs keep the libraries' defaults (a thread limit
    # there would be process-wide and outlive the batch).
    settings = EngineSettings(backend=backend, device=device, threshold=threshold,
                              threads=max(1, _cpu_count() // workers) if workers > 1 else None,
                              numbering_threshold=numbering_threshold)
    folders = plan.folders.values()
    if plan.tasks:
        models = [model_block(f.name, f.version, model_sha256(f.card or {})) for f in folders]
        write_dataset_description(plan.out_root, plan.input_dir, models)
    verified = {(str(f.path), f.sha256): f for f in folders}
    _run_tasks(plan.tasks, summary, workers, settings, LabellerSet(settings, verified), qc, progress)
    if qc is not None:
        try:
            summary.qc_index = rebuild_index(Path(qc))
        except OSError as exc:  # the labels are written: report, do not lose the summary
            log.error("cannot write the QC index in %s: %s", qc, exc.strerror or exc)
    summary.done.sort()
    summary.failed.sort()
    summary.skipped.sort()
    _numbering_table(summary, plan.jobs, numbering_threshold)
    return summary


def _numbering_table(summary: BatchSummary, jobs: Sequence[ImageJob], threshold: float | None) -> None:
    """Write ``out_root/numbering.tsv`` (every labelled image of the run, ``check`` first) and
    list the ``check`` images in the summary."""
    labelled = set(summary.done) | {p for p, _ in summary.skipped}
    pairs = [(j.input_path, j.output_path) for j in jobs if j.input_path in labelled]
    rows, summary.numbering_table = write_numbering_table(summary.out_root, pairs, threshold)
    summary.numbering_check = [(Path(r["image"]), r["confidence"], r["hint"]) for r in rows if r["status"] == "check"]
    summary.numbering_check.sort(key=lambda c: (c[1] if isinstance(c[1], (int, float)) else 2.0, str(c[0])))


def _input_size(task: LabelTask) -> int:
    try:
        return os.path.getsize(task.input)
    except OSError:
        return 0


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours cgroups / SLURM CPU binding
    except AttributeError:
        return os.cpu_count() or 1


def _run_tasks(tasks: list[LabelTask], summary: BatchSummary, workers: int, settings: EngineSettings,
               labellers: LabellerSet, qc: Path | None, progress: bool) -> None:
    """Run the tasks with one progress bar in this process (a plain line per image when stderr
    is not a terminal), filling ``summary``."""
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    show = bool(progress) and sys.stderr.isatty() and bool(tasks)
    bar = tqdm(total=len(tasks), desc="labelling", unit="img", disable=not show, dynamic_ncols=True)
    last_index = time.monotonic()
    count = 0

    def on_result(result: TaskResult) -> None:
        nonlocal last_index, count
        count += 1
        where = f"[{count}/{len(tasks)}] {summary.rel(Path(result.input))}"
        if result.status == "done":
            summary.done.append(Path(result.input))
            if progress and not show:
                log.info("%s: %s", where, result.detail)
        else:
            summary.failed.append((Path(result.input), result.detail))
            log.warning("%s: failed: %s", where, result.detail)
        bar.update(1)
        if summary.failed:
            bar.set_postfix(failed=len(summary.failed), refresh=False)
        if qc is not None and time.monotonic() - last_index > INDEX_REFRESH_S:
            rebuild_index(Path(qc))  # lets people watch a long batch; the final rebuild follows
            last_index = time.monotonic()

    package_logger = logging.getLogger("hca_disc_label")
    level = package_logger.getEffectiveLevel()
    # Per-image work logs warnings and errors only, in workers and in this process alike:
    # its info lines would bury the progress (the bar, or the one line per image above).
    worker_level = max(level, logging.WARNING)
    redirect = logging_redirect_tqdm(loggers=[package_logger]) if show else contextlib.nullcontext()
    try:
        with redirect, _per_image_quiet(package_logger, level, worker_level):
            if workers > 1:
                # largest files first: the last image to finish is a small one, so no worker
                # waits long for the other at the end (results are sorted afterwards)
                run_pool(sorted(tasks, key=_input_size, reverse=True), workers, settings, worker_level, on_result)
            else:
                run_in_process(tasks, labellers, on_result)
    finally:
        bar.close()


@contextlib.contextmanager
def _per_image_quiet(package_logger: logging.Logger, level: int, quiet_level: int):
    """The package logs at ``quiet_level`` while this module keeps ``level`` (its records still
    reach the package's handlers: propagation ignores the ancestors' levels)."""
    saved = package_logger.level, log.level
    package_logger.setLevel(quiet_level)
    log.setLevel(level)
    try:
        yield
    finally:
        package_logger.setLevel(saved[0])
        log.setLevel(saved[1])
