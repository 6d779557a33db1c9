"""The plan of a batch: find the images, keep a shard, pre-check each -> the tasks to run.

:meth:`BatchPlan.find` lists the T1w/T2w images of a dataset (or every NIfTI of a folder) with
their outputs and keeps this shard's; :meth:`BatchPlan.check` resolves the model once per
contrast (downloads happen here, in the parent) and sorts the images into tasks, images that are
up to date, and images that fail before any labelling (unknown contrast, no model, an output
another tool wrote). Planning reads files and writes none; :func:`hca_disc_label.run.batch.run_plan`
runs a plan.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from hca_disc_label.errors import DataError, HCAError, ModelError
from hca_disc_label.naming import contrast_from_name, find_dataset_images, output_name, pipeline_root
from hca_disc_label.qc.report import find_entry
from hca_disc_label.run.summary import UP_TO_DATE
from hca_disc_label.run.workers import LabelTask
from hca_disc_label.sidecar import TOOL_NAME, model_block, written_by_us
from hca_disc_label.sidecar import is_up_to_date as sidecar_up_to_date
from hca_disc_label.weights.card import model_sha256

log = logging.getLogger(__name__)

__all__ = ["BatchPlan", "ImageJob", "find_images", "foreign_output", "is_up_to_date", "select_shard"]


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
    model = model_block(model_folder.name, model_folder.version, model_sha256(model_folder.card or {}))
    if not sidecar_up_to_date(job.output_path, job.input_path, model, threshold):
        return False
    if qc is not None:
        entry = find_entry(Path(qc), job.input_path)
        if not entry or entry.get("failed") or entry.get("output") != os.path.abspath(job.output_path):
            return False
    return True


# --------------------------------------------------------------------------- the plan
@dataclass
class BatchPlan:
    """What a batch will do, decided before any image is labelled.

    Attributes:
        input_dir: the dataset; out_root: the output tree; is_bids: BIDS layout (else a folder).
        found: images found before sharding; shard: ``(k, n)`` or None.
        jobs: the images of this run (this shard), sorted by path.
        folders: contrast -> resolved model folder (after :meth:`check`).
        tasks: the images to label; skipped: ``(image, reason)`` of images up to date;
        failed: ``(image, one-line reason)`` of images that fail a pre-check.
    """

    input_dir: Path
    out_root: Path
    is_bids: bool
    found: int
    jobs: list[ImageJob]
    shard: tuple[int, int] | None = None
    folders: dict[str, object] = field(default_factory=dict)
    tasks: list[LabelTask] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @classmethod
    def find(cls, input_dir: Path, out_root: Path | None = None, contrast: str | None = None,
             qc: Path | None = None, shard: tuple[int, int] | None = None) -> BatchPlan:
        """The images of a dataset (:func:`find_images`), this shard's only (:func:`select_shard`).

        Raises:
            DataError: not a folder, or no image in it.
            HCAError: a bad shard.
        """
        input_dir = Path(input_dir)
        root = Path(out_root) if out_root is not None else pipeline_root(input_dir)
        is_bids, all_jobs = find_images(input_dir, root, contrast, qc)
        if not all_jobs:
            what = "no sub-*/[ses-*/]anat/*_T1w or *_T2w NIfTI image" if is_bids else "no NIfTI image"
            raise DataError(f"{input_dir}: {what} found")
        selected = select_shard(all_jobs, shard)
        if contrast is not None:
            overridden = sum(1 for j in selected if contrast_from_name(j.input_path.name) not in (None, contrast))
            if overridden:
                log.warning("-c %s overrides the contrast suffix of %d image(s)", contrast, overridden)
        log.info("%d image(s) in %s%s", len(selected), input_dir,
                 f" (shard {shard[0]}/{shard[1]} of {len(all_jobs)})" if shard else "")
        return cls(input_dir, root, is_bids, len(all_jobs), selected, tuple(shard) if shard else None)

    def check(self, model: str | None, threshold: float, qc: Path | None, overwrite: bool, command_line: str) -> None:
        """Resolve the model once per contrast and sort the jobs into :attr:`tasks`,
        :attr:`skipped` (up to date, unless ``overwrite``) and :attr:`failed`.

        Raises:
            ModelError: the model cannot be resolved for any contrast of the batch.
        """
        folders, model_errors = _resolve_models(model, {j.contrast for j in self.jobs if j.contrast})
        self.folders = folders
        for job in self.jobs:
            reason = _precheck(job, folders, model_errors, threshold, qc, overwrite)
            if reason == UP_TO_DATE:
                self.skipped.append((job.input_path, reason))
            elif reason is not None:
                self.failed.append((job.input_path, reason))
            else:
                folder = folders[job.contrast]
                self.tasks.append(LabelTask(
                    input=str(job.input_path), output=str(job.output_path), contrast=job.contrast,
                    model_path=str(folder.path), model_sha256=folder.sha256,
                    qc=str(qc) if qc is not None else None, command_line=command_line))


def _resolve_models(model: str | None, contrasts: set[str]) -> tuple[dict[str, object], dict[str, str]]:
    """Resolve the model once per contrast (downloads happen here, in the parent)."""
    from hca_disc_label.weights.resolve import resolve_model

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
