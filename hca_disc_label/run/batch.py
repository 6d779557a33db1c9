"""Batch labelling of a BIDS dataset or a folder of NIfTI images (orchestration).

:func:`label_dataset` finds the T1w/T2w images (:mod:`hca_disc_label.naming`), writes one
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
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hca_disc_label.conventions import CONTRASTS, DEFAULT_THRESHOLD, check_threshold
from hca_disc_label.errors import DataError, HCAError, ModelError
from hca_disc_label.run.summary import UP_TO_DATE, BatchSummary
from hca_disc_label.run.workers import (
    EngineSettings,
    LabellerSet,
    LabelTask,
    TaskResult,
    record_failure,
    run_in_process,
    run_pool,
)
from hca_disc_label.run.derivative import prepare_output_tree, write_dataset_description, write_numbering_table
from hca_disc_label.naming import contrast_from_name, find_dataset_images, output_name, pipeline_root
from hca_disc_label.sidecar import TOOL_NAME, written_by_us
from hca_disc_label.sidecar import is_up_to_date as sidecar_up_to_date

log = logging.getLogger(__name__)

__all__ = ["ImageJob", "find_images", "foreign_output", "is_up_to_date", "label_dataset", "select_shard"]

INDEX_REFRESH_S = 60.0
"""While a long batch runs, the QC index is rebuilt at most this often (and at the end)."""


# --------------------------------------------------------------------------- discovery
@dataclass(frozen=True)
class ImageJob:
    """One image of the batch.

    Attributes:
        input_path: the image.
        output_path: its disc-label file (the sidecar sits next to it).
        rel: the image path relative to the dataset (shown in messages).
        contrast: "t1" / "t2", or None when it cannot be told (the image then fails).
    """

    input_path: Path
    output_path: Path
    rel: str
    contrast: str | None


def find_images(input_dir: Path, out_root: Path | None = None, contrast: str | None = None,
                qc: Path | None = None) -> tuple[bool, list[ImageJob]]:
    """List the images of a dataset, sorted by path, with their outputs.

    Args:
        input_dir: a BIDS dataset (``sub-*/[ses-*/]anat/*_T1w|_T2w.nii[.gz]``, ``derivatives/``
            skipped) or any folder of NIfTI images (searched recursively; hidden folders,
            ``derivatives/``, ``out_root``, ``qc`` and label/segmentation/mask files skipped).
        out_root: output tree (default ``input_dir/derivatives/hca_disc_label``); each output
            mirrors its image's folder relative to ``input_dir``.
        contrast: "t1"/"t2" forces the contrast of every image; None takes it from the
            ``_T1w``/``_T2w`` name (images without one get ``contrast=None``).
        qc: QC folder (excluded from the search when inside ``input_dir``).

    Returns:
        ``(is_bids, jobs)``.

    Raises:
        DataError: ``input_dir`` is not a folder.
    """
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise DataError(f"{input_dir}: not a folder")
    out_root = Path(out_root) if out_root is not None else pipeline_root(input_dir)
    bids, paths = find_dataset_images(input_dir, [out_root] + ([qc] if qc else []))
    jobs = []
    for path in paths:
        rel = path.relative_to(input_dir)
        jobs.append(ImageJob(input_path=path, output_path=out_root / rel.parent / output_name(path.name),
                             rel=rel.as_posix(), contrast=contrast or contrast_from_name(path.name)))
    return bids, jobs


def select_shard(items: Sequence, shard: tuple[int, int] | None) -> list:
    """Every n-th item starting at k for ``shard=(k, n)`` (all items for None).

    Raises:
        HCAError: ``n < 1`` or ``k`` outside ``0..n-1``.
    """
    if shard is None:
        return list(items)
    k, n = (int(v) for v in shard)
    if n < 1 or not 0 <= k < n:
        raise HCAError(f"shard {k}/{n}: need 0 <= k < n (e.g. -shard 0/4 ... -shard 3/4)")
    return list(items[k::n])


# --------------------------------------------------------------------------- up-to-date checks
def foreign_output(job: ImageJob) -> str | None:
    """Why the job's output must not be touched (an existing file we did not write), or None."""
    if not written_by_us(job.output_path):
        return (f"{job.output_path} exists and was not written by {TOOL_NAME} (manual labels?): "
                "it is never overwritten; choose another output folder with -ofolder")
    return None


def is_up_to_date(job: ImageJob, model_folder, threshold: float, qc: Path | None = None) -> bool:
    """True when the job's outputs need no work.

    Up to date = :func:`hca_disc_label.sidecar.is_up_to_date` (output not older than the
    input, our sidecar records the same model and threshold) and, with ``qc``, the QC folder
    holds a successful entry for this image and output.
    """
    from hca_disc_label.sidecar import model_block  # light: the parent never imports the labeller

    model = model_block(model_folder.name, model_folder.version, model_folder.card)
    if not sidecar_up_to_date(job.output_path, job.input_path, model, threshold):
        return False
    if qc is not None:
        from hca_disc_label.qc.report import find_entry

        entry = find_entry(Path(qc), job.input_path)
        if not entry or entry.get("failed") or entry.get("output") != os.path.abspath(job.output_path):
            return False
    return True


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


# --------------------------------------------------------------------------- the batch
def _resolve_models(model: str | None, contrasts: set[str]) -> tuple[dict[str, object], dict[str, str]]:
    """Resolve the model once per contrast (downloads happen here, in the parent)."""
    from hca_disc_label.weights import resolve_model

    folders: dict[str, object] = {}
    errors: dict[str, str] = {}
    for contrast in sorted(contrasts):
        try:
            folders[contrast] = resolve_model(model, contrast)
        except ModelError as exc:
            errors[contrast] = str(exc).strip().splitlines()[0]
    if contrasts and not folders:
        raise ModelError(next(iter(errors.values())))
    return folders, errors


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
        input_dir: BIDS dataset or folder of NIfTI images (see :func:`find_images`).
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
    input_dir = Path(input_dir)
    if contrast is not None and contrast not in CONTRASTS:
        raise HCAError(f"unknown contrast {contrast!r} (choose from {', '.join(CONTRASTS)})")
    threshold = check_threshold(threshold)
    if int(jobs) < 1:
        raise HCAError(f"jobs must be at least 1, got {jobs}")
    root = Path(out_root) if out_root is not None else pipeline_root(input_dir)
    is_bids, all_jobs = find_images(input_dir, root, contrast, qc)
    if not all_jobs:
        what = "no sub-*/[ses-*/]anat/*_T1w or *_T2w NIfTI image" if is_bids else "no NIfTI image"
        raise DataError(f"{input_dir}: {what} found")
    selected = select_shard(all_jobs, shard)
    summary = BatchSummary(input_dir=input_dir, out_root=root, total=len(selected),
                           shard=tuple(shard) if shard else None)
    if contrast is not None:
        overridden = sum(1 for j in selected if contrast_from_name(j.input_path.name) not in (None, contrast))
        if overridden:
            log.warning("-c %s overrides the contrast suffix of %d image(s)", contrast, overridden)
    log.info("%d image(s) in %s%s", len(selected), input_dir,
             f" (shard {shard[0]}/{shard[1]} of {len(all_jobs)})" if shard else "")
    prepare_output_tree(root, qc, input_dir if is_bids else None)

    folders, model_errors = _resolve_models(model, {j.contrast for j in selected if j.contrast})
    cmd = command_line if command_line is not None else " ".join(sys.argv)
    tasks = _make_tasks(selected, summary, folders, model_errors, threshold, qc, overwrite, cmd)
    workers = min(int(jobs), len(tasks))
    # Workers share the cores; in-process runs keep the libraries' defaults (a thread limit
    # there would be process-wide and outlive the batch).
    settings = EngineSettings(backend=backend, device=device, threshold=threshold,
                              threads=max(1, _cpu_count() // workers) if workers > 1 else None,
                              numbering_threshold=numbering_threshold)
    if tasks:
        from hca_disc_label.sidecar import model_block

        write_dataset_description(root, input_dir, [model_block(f.name, f.version, f.card) for f in folders.values()])
    verified = {(str(f.path), f.sha256): f for f in folders.values()}
    _run_tasks(tasks, summary, workers, settings, LabellerSet(settings, verified), qc, progress)
    if qc is not None:
        from hca_disc_label.qc.report import rebuild_index

        try:
            summary.qc_index = rebuild_index(Path(qc))
        except OSError as exc:  # the labels are written: report, do not lose the summary
            log.error("cannot write the QC index in %s: %s", qc, exc.strerror or exc)
    summary.done.sort()
    summary.failed.sort()
    summary.skipped.sort()
    _numbering_table(summary, selected, numbering_threshold)
    summary.seconds = time.perf_counter() - start
    log.info("batch finished: %d done, %d skipped, %d failed", len(summary.done), len(summary.skipped),
             len(summary.failed))
    return summary


def _numbering_table(summary: BatchSummary, jobs: Sequence[ImageJob], threshold: float | None) -> None:
    """Write ``out_root/numbering.tsv`` (every labelled image of the run, ``check`` first) and
    list the ``check`` images in the summary."""
    labelled = set(summary.done) | {p for p, _ in summary.skipped}
    pairs = [(j.input_path, j.output_path) for j in jobs if j.input_path in labelled]
    rows, summary.numbering_table = write_numbering_table(summary.out_root, pairs, threshold)
    summary.numbering_check = [(Path(r["image"]), r["confidence"], r["hint"]) for r in rows if r["status"] == "check"]
    summary.numbering_check.sort(key=lambda c: (c[1] if isinstance(c[1], (int, float)) else 2.0, str(c[0])))


def _make_tasks(selected: Sequence[ImageJob], summary: BatchSummary, folders: dict, model_errors: dict,
                threshold: float, qc: Path | None, overwrite: bool, cmd: str) -> list[LabelTask]:
    """The tasks to run; images up to date or failing a precheck go to ``summary`` instead."""
    tasks: list[LabelTask] = []
    for job in selected:
        reason = _precheck(job, folders, model_errors, threshold, qc, overwrite)
        if reason == UP_TO_DATE:
            summary.skipped.append((job.input_path, reason))
        elif reason is not None:
            summary.failed.append((job.input_path, reason))
            record_failure(str(qc) if qc is not None else None, str(job.input_path), reason)
        else:
            folder = folders[job.contrast]
            tasks.append(LabelTask(input=str(job.input_path), output=str(job.output_path), contrast=job.contrast,
                                   model_path=str(folder.path), model_sha256=folder.sha256,
                                   qc=str(qc) if qc is not None else None, command_line=cmd))
    return tasks


def _precheck(job: ImageJob, folders: dict, model_errors: dict, threshold: float, qc: Path | None,
              overwrite: bool) -> str | None:
    """Reason not to run a job (:data:`UP_TO_DATE` or a failure), or None to run it."""
    if job.contrast is None:
        return "contrast unknown (no _T1w/_T2w in the file name): pass -c t1 or -c t2"
    if job.contrast in model_errors:
        return model_errors[job.contrast]
    foreign = foreign_output(job)
    if foreign:
        return foreign
    if not overwrite and is_up_to_date(job, folders[job.contrast], threshold, qc):
        return UP_TO_DATE
    return None


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
            from hca_disc_label.qc.report import rebuild_index

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
