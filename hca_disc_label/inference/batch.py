"""Batch labelling of a BIDS dataset or a folder of NIfTI images.

:func:`label_dataset` finds the T1w/T2w images, writes one disc-label file + JSON sidecar per
image into a BIDS-derivative tree (``derivatives/labels/sub-*/[ses-*/]anat/``), skips images
whose labels are up to date, runs worker processes, keeps going when an image fails and
returns a :class:`BatchSummary`. ``shard=(k, n)`` selects every n-th image for cluster job
arrays; all shards may share one output tree and one QC folder.

Safety rules:

* a label file that hca_disc_label did not write (e.g. manual labels, which spine-generic
  keeps under the same name in ``derivatives/labels``) is never overwritten, even with
  ``overwrite=True``: that image fails with a message naming the file;
* every file is written atomically (temp file + rename) and ``dataset_description.json`` is
  updated under a lock, so parallel jobs never leave half-written files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from hca_disc_label._version import __version__
from hca_disc_label.conventions import CONTRASTS, DEFAULT_THRESHOLD, output_name
from hca_disc_label.errors import DataError, HCAError, ModelError, OutputError

log = logging.getLogger(__name__)

TOOL_NAME = "hca_disc_label"
BIDS_VERSION = "1.9.0"
BIDS_CONTRASTS: dict[str, str] = {"T1w": "t1", "T2w": "t2"}
"""BIDS suffix -> ``-c`` contrast."""
DERIVED_MARKERS: tuple[str, ...] = ("_label-", "_labels-", "_seg", "_dlabel", "_mask")
"""Name fragments of derived files (labels, segmentations, masks), never treated as inputs."""
UP_TO_DATE = "up to date"
"""The skip reason of an image whose outputs need no work."""
MAX_LISTED_FAILURES = 50
""":meth:`BatchSummary.describe` lists at most this many failures."""
INDEX_REFRESH_S = 60.0
"""While a long batch runs, the QC index is rebuilt at most this often (and at the end)."""
MAX_POOL_RESTARTS = 5
"""After this many worker crashes the remaining images are failed instead of retried."""


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


def is_bids_dataset(folder: Path) -> bool:
    """A BIDS dataset has a ``dataset_description.json`` or ``sub-*/[ses-*/]anat`` folders."""
    folder = Path(folder)
    if (folder / "dataset_description.json").is_file():
        return True
    return any(p.is_dir() for p in folder.glob("sub-*/anat")) or any(p.is_dir() for p in folder.glob("sub-*/ses-*/anat"))


def _is_nifti(name: str) -> bool:
    return name.endswith((".nii.gz", ".nii"))


def is_derived_name(name: str) -> bool:
    """True for label / segmentation / mask files (ours or anyone's), which are not inputs."""
    return any(marker in name for marker in DERIVED_MARKERS)


def contrast_from_name(name: str) -> str | None:
    """``t1`` / ``t2`` from a ``_T1w`` / ``_T2w`` BIDS suffix in a file name, else None."""
    stem = name[:-7] if name.endswith(".nii.gz") else name[:-4] if name.endswith(".nii") else name
    suffix = stem.rsplit("_", 1)[-1]
    if suffix in BIDS_CONTRASTS:
        return BIDS_CONTRASTS[suffix]
    for key, value in BIDS_CONTRASTS.items():
        if f"_{key}" in stem:
            return value
    return None


def _bids_images(root: Path) -> list[Path]:
    found = []
    for pattern in ("sub-*/anat/*", "sub-*/ses-*/anat/*"):
        for path in root.glob(pattern):
            name = path.name
            if not _is_nifti(name) or name.startswith(".") or is_derived_name(name):
                continue
            stem = name[:-7] if name.endswith(".nii.gz") else name[:-4]
            if stem.rsplit("_", 1)[-1] in BIDS_CONTRASTS:
                found.append(path)
    return found


def _folder_images(root: Path, exclude: Sequence[Path]) -> list[Path]:
    excluded = {os.path.abspath(p) for p in exclude}
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Prune in place: derivative trees, hidden folders (.git, .datalad) and our outputs.
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and d != "derivatives" and os.path.abspath(os.path.join(dirpath, d)) not in excluded
        )
        for name in filenames:
            if _is_nifti(name) and not name.startswith(".") and not is_derived_name(name):
                found.append(Path(dirpath) / name)
    return found


def find_images(input_dir: Path, out_root: Path | None = None, contrast: str | None = None,
                qc: Path | None = None) -> tuple[bool, list[ImageJob]]:
    """List the images of a dataset, sorted by path, with their outputs.

    Args:
        input_dir: a BIDS dataset (``sub-*/[ses-*/]anat/*_T1w|_T2w.nii[.gz]``, ``derivatives/``
            skipped) or any folder of NIfTI images (searched recursively; hidden folders,
            ``derivatives/``, ``out_root``, ``qc`` and label/segmentation/mask files skipped).
        out_root: output tree (default ``input_dir/derivatives/labels``); each output mirrors
            its image's folder relative to ``input_dir``.
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
    out_root = Path(out_root) if out_root is not None else input_dir / "derivatives" / "labels"
    bids = is_bids_dataset(input_dir)
    paths = _bids_images(input_dir) if bids else _folder_images(input_dir, [out_root] + ([qc] if qc else []))
    jobs = []
    for path in sorted(paths, key=lambda p: p.relative_to(input_dir).as_posix()):
        rel = path.relative_to(input_dir)
        jobs.append(ImageJob(
            input_path=path,
            output_path=out_root / rel.parent / output_name(path.name),
            rel=rel.as_posix(),
            contrast=contrast or contrast_from_name(path.name),
        ))
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


# --------------------------------------------------------------------------- derivative description
def _generated_by() -> dict:
    return {
        "Name": TOOL_NAME,
        "Version": __version__,
        "Description": "HCA-Net intervertebral disc labels in the Spinal Cord Toolbox convention "
        "(one voxel per disc at its posterior tip; value = vertebra below the disc).",
    }


def _source_url(input_dir: Path, out_root: Path) -> str:
    src, dst = Path(os.path.abspath(input_dir)), Path(os.path.abspath(out_root))
    try:
        return Path(os.path.relpath(src, dst)).as_posix() if dst.is_relative_to(src) else src.as_uri()
    except ValueError:  # different drives (Windows)
        return src.as_uri()


def write_dataset_description(out_root: Path, input_dir: Path) -> Path:
    """Create or complete ``out_root/dataset_description.json`` (BIDS derivative).

    A new file gets Name, BIDSVersion, DatasetType "derivative", GeneratedBy and
    SourceDatasets. An existing file written by someone else keeps all its content and gains
    our GeneratedBy entry; an unreadable one is left alone (with a warning). The update runs
    under a lock and is written atomically, so parallel jobs never clobber each other.

    Returns:
        The file path.
    """
    from filelock import FileLock

    from hca_disc_label.io import write_text_atomic

    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    path = out_root / "dataset_description.json"
    ours = _generated_by()
    with FileLock(str(out_root / ".dataset_description.json.lock"), timeout=300):
        if path.exists():
            try:
                desc = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(desc, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                log.warning("%s is not valid JSON (%s): left unchanged", path, exc)
                return path
            generated = desc.get("GeneratedBy")
            generated = list(generated) if isinstance(generated, list) else ([generated] if generated else [])
            mine = [g for g in generated if isinstance(g, dict) and g.get("Name") == TOOL_NAME]
            if mine and all(g.get("Version") == __version__ for g in mine):
                return path
            generated = [g for g in generated if not (isinstance(g, dict) and g.get("Name") == TOOL_NAME)] + [ours]
            desc["GeneratedBy"] = generated
            desc.setdefault("DatasetType", "derivative")
        else:
            desc = {
                "Name": "hca_disc_label intervertebral disc labels",
                "BIDSVersion": _bids_version(input_dir),
                "DatasetType": "derivative",
                "GeneratedBy": [ours],
                "SourceDatasets": [{"URL": _source_url(input_dir, out_root)}],
            }
        write_text_atomic(path, json.dumps(desc, indent=2) + "\n")
    return path


def _bids_version(input_dir: Path) -> str:
    try:
        version = json.loads((Path(input_dir) / "dataset_description.json").read_text(encoding="utf-8"))["BIDSVersion"]
        return str(version)
    except (OSError, ValueError, KeyError, TypeError):
        return BIDS_VERSION


# --------------------------------------------------------------------------- up-to-date checks
def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _our_generation(sidecar: dict | None) -> dict | None:
    """Our GeneratedBy entry in a sidecar, or None when another tool / a person wrote it."""
    if not sidecar:
        return None
    generated = sidecar.get("GeneratedBy")
    for entry in generated if isinstance(generated, list) else [generated]:
        if isinstance(entry, dict) and entry.get("Name") == TOOL_NAME:
            return entry
    return None


def foreign_output(job: ImageJob) -> str | None:
    """Why the job's output must not be touched (an existing file we did not write), or None."""
    from hca_disc_label.inference.pipeline import sidecar_path_for

    if not job.output_path.exists():
        return None
    if _our_generation(_read_json(sidecar_path_for(job.output_path))) is None:
        return (f"{job.output_path} exists and was not written by {TOOL_NAME} (manual labels?): "
                "it is never overwritten; choose another output folder with -ofolder")
    return None


def is_up_to_date(job: ImageJob, model_folder, threshold: float, qc: Path | None = None) -> bool:
    """True when the job's outputs need no work.

    Up to date = output and sidecar exist, the output is not older than the input, the
    sidecar records the same model (name, version, weights SHA-256) and confidence threshold,
    and, with ``qc``, the QC folder holds a successful entry for this image and output.
    """
    from hca_disc_label.inference.pipeline import sidecar_path_for

    out = job.output_path
    try:
        if out.stat().st_mtime_ns < job.input_path.stat().st_mtime_ns:
            return False
    except OSError:
        return False
    sidecar = _read_json(sidecar_path_for(out))
    generation = _our_generation(sidecar)
    if generation is None:
        return False
    recorded = generation.get("Model") or {}
    weights_sha = model_folder.card.get("files", {}).get("weights", {}).get("sha256")
    if (recorded.get("Name"), recorded.get("Version")) != (model_folder.name, model_folder.version):
        return False
    if recorded.get("SHA256") != weights_sha:
        return False
    try:
        if abs(float(sidecar.get("ConfidenceThreshold")) - float(threshold)) > 1e-12:
            return False
    except (TypeError, ValueError):
        return False
    if qc is not None:
        from hca_disc_label.qc.report import find_entry

        entry = find_entry(Path(qc), job.input_path)
        if not entry or entry.get("failed") or entry.get("output") != os.path.abspath(out):
            return False
    return True


# --------------------------------------------------------------------------- summary
@dataclass
class BatchSummary:
    """What :func:`label_dataset` did.

    Attributes:
        input_dir: the dataset; out_root: the output tree; qc_index: the QC page (or None).
        done: images labelled in this run.
        skipped: ``(image, reason)`` for images not redone (outputs up to date).
        failed: ``(image, one-line reason)``; truthy when any image failed (CLI exit 1).
        total: images in this run (after sharding); shard: ``(k, n)`` or None.
        seconds: wall time of the batch.
    """

    input_dir: Path
    out_root: Path
    done: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    total: int = 0
    shard: tuple[int, int] | None = None
    qc_index: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no image failed."""
        return not self.failed

    def _rel(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.input_dir).as_posix()
        except ValueError:
            return str(path)

    def describe(self) -> str:
        """Multi-line summary for the CLI: counts, every failure with its reason, where to look."""
        shard = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        lines = [
            f"Batch{shard}: {self.total} image(s) in {self.input_dir} -> {self.out_root} ({self.seconds:.1f} s)",
            f"  done: {len(self.done)}, skipped (up to date): {len(self.skipped)}, failed: {len(self.failed)}",
        ]
        other_skips = [(p, r) for p, r in self.skipped if r != UP_TO_DATE]
        for path, reason in other_skips[:MAX_LISTED_FAILURES]:
            lines.append(f"  skipped {self._rel(path)}: {reason}")
        if self.failed:
            lines.append("Failed:")
            for path, reason in self.failed[:MAX_LISTED_FAILURES]:
                lines.append(f"  {self._rel(path)}: {reason}")
            if len(self.failed) > MAX_LISTED_FAILURES:
                lines.append(f"  ... and {len(self.failed) - MAX_LISTED_FAILURES} more")
        if self.skipped and not self.done and not self.failed:
            lines.append("Nothing to do: every output is up to date (use -overwrite to redo).")
        if self.qc_index is not None:
            lines.append(f"QC report: {self.qc_index}")
        if self.done:
            first = self.done[0]
            out = self.out_root / Path(self._rel(first)).parent / output_name(Path(first).name)
            lines.append("To view one result:")
            lines.append(f"fsleyes {shlex.quote(str(first))} {shlex.quote(str(out))} -cm red -dr 0 25")
        return "\n".join(lines)


# --------------------------------------------------------------------------- workers
_ENGINES: dict[tuple, tuple[object, object]] = {}
"""Per-process cache: (model folder, weights sha256, backend, device, threads) -> (ModelFolder,
backend). The sha256 in the key makes a model re-exported into the same folder load afresh."""
_VERIFIED: dict[tuple[str, str], object] = {}
"""Model folders already verified in this process (the parent's resolved ones), by (path, sha)."""


def _engine(model_path: str, sha256: str, backend: str, device: str, threads: int | None):
    """Load the model and its backend once per process (workers reuse them for every image)."""
    key = (model_path, sha256, backend, device, threads)
    if key not in _ENGINES:
        from hca_disc_label.inference.backends import create_backend
        from hca_disc_label.weights import load_model_folder

        folder = _VERIFIED.get((model_path, sha256)) or load_model_folder(model_path)
        if folder.sha256 != sha256:
            raise ModelError(f"model folder {model_path} changed while the batch was running")
        _ENGINES[key] = (folder, create_backend(folder, backend, device, threads=threads))
    return _ENGINES[key]


def _worker_init(log_level: int, threads: int) -> None:
    """Start-up of a spawned worker: thread limits, quiet logging, deferred QC index."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    root = logging.getLogger("hca_disc_label")
    root.setLevel(log_level)
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.addHandler(handler)
    from hca_disc_label.qc.report import set_index_deferred

    set_index_deferred(True)


def _one_line(exc: BaseException, input_path: str) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    # Pipeline messages start with the image path; the summary already shows it.
    for prefix in (f"{input_path}: ", f"{os.path.abspath(input_path)}: "):
        if first.startswith(prefix):
            first = first[len(prefix):]
    return first[:300]


def _label_one(task: dict) -> tuple[str, str, str]:
    """Label one image (in a worker or in-process); never raises for a bad image.

    Args:
        task: plain-data description (picklable for spawned workers): ``input``, ``output``,
            ``contrast``, ``model_path``, ``model_sha256``, ``backend``, ``device``, ``threads``, ``threshold``,
            ``qc``, ``command_line``.

    Returns:
        ``("done", input, "N discs")`` or ``("failed", input, reason)``.
    """
    from hca_disc_label.inference.pipeline import label_discs

    src = task["input"]
    try:
        folder, engine = _engine(task["model_path"], task["model_sha256"], task["backend"], task["device"],
                                 task["threads"])
        result = label_discs(
            src, contrast=task["contrast"], output=task["output"], qc=task["qc"], model=folder,
            backend=engine, threshold=task["threshold"], command_line=task["command_line"],
        )
        return "done", src, f"{len(result.discs)} discs"
    except HCAError as exc:
        reason = _one_line(exc, src)
    except MemoryError:
        reason = "out of memory"
    except Exception as exc:  # a bug or an unexpected library error: report it, keep the batch going
        log.debug("unexpected error on %s", src, exc_info=True)
        reason = f"unexpected error: {type(exc).__name__}: {_one_line(exc, src)}"
    _record_failure(task["qc"], src, reason)
    return "failed", src, reason


def _record_failure(qc: str | None, src: str, reason: str) -> None:
    if qc is None:
        return
    from hca_disc_label.qc.report import add_failure_entry

    try:
        add_failure_entry(Path(qc), Path(src), reason)
    except OSError as exc:
        log.warning("cannot write the QC failure entry of %s: %s", src, exc)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours cgroups / SLURM CPU binding
    except AttributeError:
        return os.cpu_count() or 1


def _run_in_process(tasks: Iterable[dict], on_result: Callable[[tuple[str, str, str]], None]) -> None:
    for task in tasks:
        on_result(_label_one(task))


def _run_pool(tasks: list[dict], jobs: int, log_level: int, threads: int,
              on_result: Callable[[tuple[str, str, str]], None],
              worker: Callable[[dict], tuple[str, str, str]] = _label_one) -> None:
    """Run tasks in spawned worker processes, at most ``jobs`` in flight.

    ``on_result`` receives exactly one result per task, in completion order; ``worker`` (a
    picklable top-level function, :func:`_label_one` except in tests) runs in the workers.

    Keeping only ``jobs`` tasks in flight means that when a worker dies (killed for memory,
    a crash in a native library), only the images being processed at that moment are
    reported as failed; the pool is restarted for the rest.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pending = deque(tasks)
    restarts = 0
    context = multiprocessing.get_context("spawn")
    while pending:
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=context,
                                   initializer=_worker_init, initargs=(log_level, threads))
        running: dict = {}
        broken = False
        try:
            while (pending or running) and not broken:
                while pending and len(running) < jobs:
                    task = pending.popleft()
                    running[pool.submit(worker, task)] = task
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = running.pop(future)
                    try:
                        on_result(future.result())
                    except BrokenProcessPool:
                        broken = True
                        reason = ("worker process died while labelling this image or one beside it "
                                  "(out of memory or a crash); rerun to retry")
                        _record_failure(task["qc"], task["input"], reason)
                        on_result(("failed", task["input"], reason))
            if broken:
                for future, task in running.items():  # died with the pool
                    reason = "worker process died (out of memory or a crash); rerun to retry"
                    _record_failure(task["qc"], task["input"], reason)
                    on_result(("failed", task["input"], reason))
                running.clear()
                restarts += 1
                log.warning("a worker process died; restarting the pool (%d/%d)", restarts, MAX_POOL_RESTARTS)
                if restarts > MAX_POOL_RESTARTS:
                    while pending:
                        task = pending.popleft()
                        on_result(("failed", task["input"], "not run: too many worker crashes in this batch"))
        except BaseException:
            # Ctrl-C or a bug in the parent: do not wait for queued images.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


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
) -> BatchSummary:
    """Label every T1w/T2w image of a BIDS dataset (or every NIfTI of a folder).

    Args:
        input_dir: BIDS dataset or folder of NIfTI images (see :func:`find_images`).
        out_root: output tree; default ``input_dir/derivatives/labels``. Outputs mirror the
            images' folders (``sub-*/[ses-*/]anat/<stem>_label-discs_dlabel.nii.gz`` + ``.json``).
        contrast: "t1"/"t2" forces the contrast of every image; None reads the BIDS suffix.
        model: registry ``NAME[@VERSION]`` or model folder; None = default per contrast.
            Resolved (and downloaded if needed) once, here; workers get the folder path.
        backend, device: inference engine and device (see ``create_backend``).
        threshold: minimum confidence of a written disc, in (0, 1).
        qc: QC folder shared by all images (safe with parallel jobs and job arrays).
        jobs: worker processes (1 = in this process). Each worker loads the model once and
            uses ``cores // jobs`` threads.
        overwrite: redo images whose outputs are up to date (files another tool wrote are
            still never overwritten).
        progress: one progress bar on stderr (only when stderr is a terminal).
        shard: ``(k, n)``: process only every n-th image starting at k (sorted order), for
            cluster job arrays.
        command_line: recorded in every sidecar (default: ``sys.argv``).

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
    if not 0.0 < float(threshold) < 1.0:
        raise HCAError(f"threshold must be in (0, 1), got {threshold}")
    if int(jobs) < 1:
        raise HCAError(f"jobs must be at least 1, got {jobs}")
    root = Path(out_root) if out_root is not None else input_dir / "derivatives" / "labels"
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

    folders, model_errors = _resolve_models(model, {j.contrast for j in selected if j.contrast})
    cmd = command_line if command_line is not None else " ".join(sys.argv)
    tasks: list[dict] = []
    for job in selected:
        reason = _precheck(job, folders, model_errors, threshold, qc, overwrite)
        if reason == UP_TO_DATE:
            summary.skipped.append((job.input_path, reason))
        elif reason is not None:
            summary.failed.append((job.input_path, reason))
            _record_failure(str(qc) if qc is not None else None, str(job.input_path), reason)
        else:
            tasks.append({
                "input": str(job.input_path), "output": str(job.output_path), "contrast": job.contrast,
                "model_path": str(folders[job.contrast].path), "model_sha256": folders[job.contrast].sha256,
                "backend": backend, "device": device,
                "threads": None, "threshold": float(threshold),
                "qc": str(qc) if qc is not None else None, "command_line": cmd,
            })

    if int(jobs) > 1 and len(tasks) > 1:
        # Workers share the cores; in-process runs keep the libraries' defaults (a thread
        # limit there would be process-wide and outlive the batch).
        threads = max(1, _cpu_count() // min(int(jobs), len(tasks)))
        for task in tasks:
            task["threads"] = threads
    if tasks:
        try:
            write_dataset_description(root, input_dir)
        except OSError as exc:
            raise OutputError(f"{root}: cannot write the output folder ({exc.strerror or exc}); "
                              "choose a writable one with -ofolder") from None
    for folder in folders.values():
        _VERIFIED[(str(folder.path), folder.sha256)] = folder
    _run_tasks(tasks, summary, jobs, qc, progress)
    if qc is not None:
        from hca_disc_label.qc.report import rebuild_index

        try:
            summary.qc_index = rebuild_index(Path(qc))
        except OSError as exc:  # the labels are written: report, do not lose the summary
            log.error("cannot write the QC index in %s: %s", qc, exc.strerror or exc)
    summary.done.sort()
    summary.failed.sort()
    summary.skipped.sort()
    summary.seconds = time.perf_counter() - start
    log.info("batch finished: %d done, %d skipped, %d failed", len(summary.done), len(summary.skipped),
             len(summary.failed))
    return summary


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


def _run_tasks(tasks: list[dict], summary: BatchSummary, jobs: int, qc: Path | None, progress: bool) -> None:
    """Run the tasks with one progress bar in this process, filling ``summary``."""
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from hca_disc_label.qc.report import deferred_index, rebuild_index

    show = bool(progress) and sys.stderr.isatty() and bool(tasks)
    bar = tqdm(total=len(tasks), desc="labelling", unit="img", disable=not show, dynamic_ncols=True)
    last_index = time.monotonic()

    def on_result(result: tuple[str, str, str]) -> None:
        nonlocal last_index
        status, src, detail = result
        if status == "done":
            summary.done.append(Path(src))
            log.debug("%s: %s", src, detail)
        else:
            summary.failed.append((Path(src), detail))
            log.warning("%s: failed: %s", src, detail)
        bar.update(1)
        if summary.failed:
            bar.set_postfix(failed=len(summary.failed), refresh=False)
        if qc is not None and time.monotonic() - last_index > INDEX_REFRESH_S:
            rebuild_index(Path(qc))  # lets people watch a long batch; the final rebuild follows
            last_index = time.monotonic()

    package_logger = logging.getLogger("hca_disc_label")
    # Workers log warnings and errors only: per-image info lines would bury the progress bar.
    worker_level = max(package_logger.getEffectiveLevel(), logging.WARNING)
    redirect = logging_redirect_tqdm(loggers=[package_logger]) if show else contextlib.nullcontext()
    try:
        with redirect, deferred_index():
            if int(jobs) > 1 and len(tasks) > 1:
                _run_pool(tasks, int(jobs), worker_level, tasks[0]["threads"] or 1, on_result)
            else:
                _run_in_process(tasks, on_result)
    finally:
        bar.close()
