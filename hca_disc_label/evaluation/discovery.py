"""Find disc-label files and pair predictions with ground truth by image stem.

Ground truth is a BIDS dataset laid out like spine-generic::

    <root>/derivatives/labels/sub-*/[ses-*/]anat/<image stem>_label-discs_dlabel.nii.gz
    <root>/derivatives/labels/sub-*/[ses-*/]anat/<image stem>_labels-disc-manual.nii.gz  (legacy)

Predictions are a BIDS dataset whose folder runs wrote ``derivatives/hca_disc_label/`` (the
same layout), or any folder holding ``<image stem>_label-discs_dlabel.nii.gz`` files (searched
recursively). A ground-truth file whose JSON sidecar says hca_disc_label wrote it (e.g. an
older version's folder run, which wrote into ``derivatives/labels``) is never taken as manual:
it is left out with one warning line, unless ``allow_own=True``. A case is one image,
keyed by its stem (``sub-errsm30_T2w``); the stem carries the BIDS entities used in reports
(subject, session) and the contrast (the BIDS suffix: ``T1w`` -> ``"T1"``, ``T2w`` -> ``"T2"``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hca_disc_label.errors import DataError
from hca_disc_label.naming import (
    BIDS_CONTRASTS,
    LABEL_SUFFIXES,
    LEGACY_LABEL_SUFFIX,
    OUTPUT_SUFFIX,
    bids_entities,
    bids_label_files,
    manual_labels_root,
    pipeline_root,
    split_label_name,
)
from hca_disc_label.sidecar import own_labels_warning, split_own_labels

logger = logging.getLogger(__name__)

_CONTRASTS = {suffix: contrast.upper() for suffix, contrast in BIDS_CONTRASTS.items()}
"""BIDS suffix -> contrast name in reports (``T2w`` -> ``"T2"``)."""


@dataclass(frozen=True)
class LabelFile:
    """A disc-label file and the image it belongs to.

    Attributes:
        stem: image stem, e.g. ``"sub-01_ses-02_T2w"`` (the case key).
        path: the label NIfTI.
        subject: BIDS subject (``"sub-01"``), None when the stem has no ``sub-`` entity.
        session: BIDS session (``"ses-02"``) or None.
        contrast: ``"T1"`` / ``"T2"`` for ``T1w`` / ``T2w`` images, else the BIDS suffix
            (last ``_`` part of the stem), e.g. ``"T2star"``.
    """

    stem: str
    path: Path
    subject: str | None
    session: str | None
    contrast: str


def stem_entities(stem: str) -> tuple[str | None, str | None, str]:
    """Return ``(subject, session, contrast)`` parsed from an image stem.

    ``"sub-01_ses-02_acq-sag_T1w" -> ("sub-01", "ses-02", "T1")``.
    """
    entities, suffix = bids_entities(stem)
    subject, session = (f"{key}-{entities[key]}" if key in entities else None for key in ("sub", "ses"))
    return subject, session, _CONTRASTS.get(suffix, suffix or "unknown")


def _label_file(path: Path) -> LabelFile | None:
    split = split_label_name(path.name)
    if split is None:
        return None
    stem = split[0]
    subject, session, contrast = stem_entities(stem)
    return LabelFile(stem, path, subject, session, contrast)


def _index(paths: Iterable[Path], where: Path, strict: bool) -> dict[str, LabelFile]:
    """Key label files by stem; prefer the current suffix over the legacy one.

    Two files with the same stem and suffix (possible in a recursive search) are ambiguous:
    DataError when ``strict``.
    """
    found: dict[str, LabelFile] = {}
    for path in sorted(paths):
        record = _label_file(path)
        if record is None or not path.is_file():
            continue
        previous = found.get(record.stem)
        if previous is None:
            found[record.stem] = record
            continue
        prev_suffix = split_label_name(previous.path.name)[1]  # type: ignore[index]
        new_suffix = split_label_name(path.name)[1]  # type: ignore[index]
        if prev_suffix == new_suffix:
            if strict:
                raise DataError(f"two disc-label files for image {record.stem} under {where}: "
                                f"{previous.path} and {path}")
            continue
        keep = previous if LABEL_SUFFIXES.index(prev_suffix) < LABEL_SUFFIXES.index(
            new_suffix) else record
        logger.warning("%s: both %s and %s exist; using %s", record.stem, previous.path.name,
                       path.name, keep.path.name)
        found[record.stem] = keep
    return found


def _require_dir(root: Path, what: str) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"{what} folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"{what} must be a folder (BIDS dataset or label folder): {root}")
    return root


def find_ground_truth(bids_root: str | os.PathLike[str], allow_own: bool = False) -> dict[str, LabelFile]:
    """Find the ground-truth (manual) disc labels of a BIDS dataset.

    Args:
        bids_root: the dataset root (containing ``derivatives/labels``) or the
            ``derivatives/labels`` folder itself.
        allow_own: also take label files whose sidecar says hca_disc_label wrote them
            (pseudo-labels on purpose); by default they are left out with one warning line.

    Returns:
        Label files keyed by image stem, sorted by stem.

    Raises:
        DataError: the folder does not exist or holds no (manual) disc labels in the BIDS layout.
    """
    root = _require_dir(Path(bids_root), "ground-truth")
    labels_root = manual_labels_root(root)
    if not labels_root.is_dir():
        labels_root = root
    paths, ours = split_own_labels(bids_label_files(labels_root))
    if ours and allow_own:
        paths = sorted(paths + ours)
    elif ours:
        logger.warning("%s", own_labels_warning(ours, labels_root))
    found = _index(paths, labels_root, strict=True)
    if not found:
        what = f" ({len(ours)} file(s) there were written by hca_disc_label)" if ours and not allow_own else ""
        raise DataError(
            f"no ground-truth disc labels in {root}{what}: expected manual labels in derivatives/labels/"
            f"sub-*/[ses-*/]anat/<image>{OUTPUT_SUFFIX}.nii.gz (or {LEGACY_LABEL_SUFFIX})")
    logger.info("ground truth: %d labelled images in %s", len(found), labels_root)
    return dict(sorted(found.items()))


def find_predictions(root: str | os.PathLike[str]) -> dict[str, LabelFile]:
    """Find predicted disc labels.

    Args:
        root: a BIDS dataset (its ``derivatives/hca_disc_label``, where folder runs write, is
            searched in the BIDS layout; ``derivatives/labels`` when there is none) or any folder (searched recursively for ``*_label-discs_dlabel.nii.gz`` and legacy
            ``*_labels-disc-manual.nii.gz`` files).

    Returns:
        Label files keyed by image stem (possibly empty: every case is then a FN).

    Raises:
        DataError: the folder does not exist, or holds two label files for one image.
    """
    root = _require_dir(Path(root), "prediction")
    labels_root = next((p for p in (pipeline_root(root), manual_labels_root(root)) if p.is_dir()), None)
    if labels_root is not None:
        found = _index(bids_label_files(labels_root), labels_root, strict=True)
    else:
        found = _index(root.rglob("*"), root, strict=True)
    if found:
        logger.info("predictions: %d label files in %s", len(found), root)
    else:
        logger.warning("no disc-label files (*%s.nii.gz) found in %s: every case will count as "
                       "missed", OUTPUT_SUFFIX, root)
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class CasePair:
    """One case: a ground-truth label file and its prediction (None when missing)."""

    gt: LabelFile
    pred: LabelFile | None

    @property
    def stem(self) -> str:
        """Image stem (case key)."""
        return self.gt.stem


def pair_cases(predictions: Mapping[str, LabelFile], ground_truth: Mapping[str, LabelFile]
               ) -> tuple[list[CasePair], list[LabelFile]]:
    """Pair predictions with ground truth by image stem.

    Returns:
        ``(pairs, orphans)``: one pair per ground-truth image sorted by stem (``pred`` None
        when no prediction exists: counted as all-FN by the evaluation), and the predictions
        that have no ground truth (not evaluated, reported).
    """
    pairs = [CasePair(gt, predictions.get(stem)) for stem, gt in sorted(ground_truth.items())]
    orphans = [p for stem, p in sorted(predictions.items()) if stem not in ground_truth]
    for pair in pairs:
        if pair.pred is None:
            logger.warning("%s: no prediction file; all its discs count as false negatives",
                           pair.stem)
    if orphans:
        logger.warning("%d prediction(s) have no ground truth and are not evaluated: %s",
                       len(orphans), ", ".join(p.stem for p in orphans))
    return pairs, orphans

