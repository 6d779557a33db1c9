"""Every naming rule, defined once: NIfTI extensions, BIDS entities and suffixes, contrast from
a name, the derived-file markers, output names, image discovery in a dataset or a plain folder.

Used by batch labelling, evaluation, training data discovery and the CLI, so all of them agree
on which files are images, which are labels, and what contrast a name says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

__all__ = [
    "BIDS_CONTRASTS", "DATASET_DESCRIPTION", "DERIVED_MARKERS", "LABEL_SUFFIXES", "LEGACY_LABEL_SUFFIX",
    "LANDMARK_SUFFIX", "MANUAL_LABELS_FOLDER", "NIFTI", "NIFTI_EXTS", "NIFTI_GZ", "OUTPUT_SUFFIX", "PIPELINE_FOLDER", "bids_entities",
    "bids_images", "bids_label_files", "bids_suffix", "bids_uri", "contrast_from_name", "dataset_root_of",
    "find_dataset_images", "folder_images", "is_bids_dataset", "is_derived_name", "is_nifti",
    "label_candidates", "landmark_label_candidates", "manual_labels_root", "output_name", "pipeline_root", "sidecar_path_for",
    "split_label_name", "strip_nifti_ext", "vertebrae_mask_candidates",
]

NIFTI_GZ = ".nii.gz"
"""The compressed NIfTI extension: what this package writes."""
NIFTI = ".nii"
"""The uncompressed NIfTI extension (read; written only for scratch files)."""
NIFTI_EXTS: tuple[str, ...] = (NIFTI_GZ, NIFTI)
"""NIfTI file extensions, longest first."""
OUTPUT_SUFFIX = "_label-discs_dlabel"
"""spine-generic BIDS suffix of a disc-label image."""
LEGACY_LABEL_SUFFIX = "_labels-disc-manual"
"""Older spine-generic suffix of manual disc labels (read, never written)."""
BIDS_CONTRASTS: dict[str, str] = {"T1w": "t1", "T2w": "t2"}
"""BIDS suffix -> ``-c`` contrast."""
DERIVED_MARKERS: tuple[str, ...] = ("_label-", "_labels-", "_seg", "_dlabel", "_mask")
"""Name fragments of derived files (labels, segmentations, masks), never treated as inputs."""
LABEL_SUFFIXES: tuple[str, ...] = (OUTPUT_SUFFIX, LEGACY_LABEL_SUFFIX)
"""Disc-label suffixes, in order of preference when both exist for one image."""
VERTEBRAE_SUFFIX = "_label-vertebrae_dseg"
"""Manual vertebral-body masks (values = SCT body numbers), beside an image's disc labels."""
LANDMARK_SUFFIX = "_label-landmarks_dlabel"
"""Manual landmark points (values = landmark codes, e.g. 126 = S1/S2), beside an image's disc
labels; training data only (read by ``training.data``, never written by a labelling run)."""
MANUAL_LABELS_FOLDER = "labels"
"""``<dataset>/derivatives/labels``: where spine-generic keeps *manual* labels (ground truth).
Nothing this package writes by default ever goes there."""
DATASET_DESCRIPTION = "dataset_description.json"
"""The file that makes a folder a BIDS dataset (or derivative)."""
PIPELINE_FOLDER = "hca_disc_label"
"""``<dataset>/derivatives/hca_disc_label``: the pipeline-named BIDS derivative of folder runs."""


def is_nifti(name: str | os.PathLike[str]) -> bool:
    """True for a ``.nii`` / ``.nii.gz`` file name (or path)."""
    return str(name).endswith(NIFTI_EXTS)


def strip_nifti_ext(name: str) -> str:
    """Strip ``.nii.gz`` / ``.nii`` from a file name (other names unchanged)."""
    for ext in NIFTI_EXTS:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def output_name(input_name: str) -> str:
    """Default output file name for an input image file name.

    ``sub-01_T2w.nii.gz -> sub-01_T2w_label-discs_dlabel.nii.gz``.
    """
    return f"{strip_nifti_ext(input_name)}{OUTPUT_SUFFIX}{NIFTI_GZ}"


def bids_entities(name: str) -> tuple[dict[str, str], str]:
    """The BIDS entities and suffix of a file name or stem.

    ``"sub-01_ses-02_acq-sag_T1w.nii.gz" -> ({"sub": "01", "ses": "02", "acq": "sag"}, "T1w")``.
    An entity is a ``key-value`` part (the first of a key wins); the suffix is the last part
    when it has no ``-`` (else ``""``).
    """
    parts = strip_nifti_ext(Path(name).name).split("_")
    entities: dict[str, str] = {}
    for part in parts:
        key, dash, value = part.partition("-")
        if dash and key not in entities:
            entities[key] = value
    return entities, (parts[-1] if "-" not in parts[-1] else "")


def bids_suffix(name: str) -> str:
    """The BIDS suffix of a file name: the last ``_`` part of its stem (``T2w``)."""
    return strip_nifti_ext(name).rsplit("_", 1)[-1]


def contrast_from_name(name: str) -> str | None:
    """``t1`` / ``t2`` from a ``_T1w`` / ``_T2w`` BIDS suffix in a file name, else None.

    The suffix proper wins (``sub-01_acq-T1w_T2w`` -> t2); a ``_T1w`` / ``_T2w`` elsewhere in
    the stem (``sub-01_T2w_run-1``) is accepted too.
    """
    stem = strip_nifti_ext(Path(name).name)
    suffix = stem.rsplit("_", 1)[-1]
    if suffix in BIDS_CONTRASTS:
        return BIDS_CONTRASTS[suffix]
    for key, value in BIDS_CONTRASTS.items():
        if f"_{key}" in stem:
            return value
    return None


def is_derived_name(name: str) -> bool:
    """True for label / segmentation / mask files (ours or anyone's), which are not inputs."""
    return any(marker in name for marker in DERIVED_MARKERS)


def sidecar_path_for(output_path: Path) -> Path:
    """``x_label-discs_dlabel.nii.gz -> x_label-discs_dlabel.json`` (BIDS sidecar)."""
    output_path = Path(output_path)
    name = output_path.name
    stem = strip_nifti_ext(name)
    return output_path.with_name(stem + ".json") if stem != name else output_path.with_name(name + ".json")


def split_label_name(name: str) -> tuple[str, str] | None:
    """``"sub-01_T2w_label-discs_dlabel.nii.gz" -> ("sub-01_T2w", "_label-discs_dlabel")``;
    None for any other name."""
    if not is_nifti(name):
        return None
    base = strip_nifti_ext(name)
    for suffix in LABEL_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)], suffix
    return None


def is_bids_dataset(folder: Path) -> bool:
    """A BIDS dataset has a ``dataset_description.json`` or ``sub-*/[ses-*/]anat`` folders."""
    folder = Path(folder)
    if (folder / DATASET_DESCRIPTION).is_file():
        return True
    return any(p.is_dir() for p in folder.glob("sub-*/anat")) or any(p.is_dir() for p in folder.glob("sub-*/ses-*/anat"))


def _is_input_name(name: str) -> bool:
    return is_nifti(name) and not name.startswith(".") and not is_derived_name(name)


def bids_images(root: Path, suffixes: Sequence[str] = tuple(BIDS_CONTRASTS)) -> list[Path]:
    """``sub-*/[ses-*/]anat/*_<suffix>.nii[.gz]`` images of a BIDS dataset (derived files and
    ``derivatives/`` excluded), sorted by path."""
    root = Path(root)
    found = []
    for pattern in ("sub-*/anat/*", "sub-*/ses-*/anat/*"):
        for path in root.glob(pattern):
            if _is_input_name(path.name) and bids_suffix(path.name) in suffixes:
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def folder_images(root: Path, exclude: Sequence[Path] = ()) -> list[Path]:
    """Every NIfTI image under a folder, recursively, sorted by path.

    Hidden folders (``.git``, ``.datalad``), ``derivatives/``, the ``exclude`` folders (output
    tree, QC folder) and derived files (labels, segmentations, masks) are skipped.
    """
    root = Path(root)
    excluded = {os.path.abspath(p) for p in exclude}
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        # prune in place: derivative trees, hidden folders and our outputs
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and d != "derivatives" and os.path.abspath(os.path.join(dirpath, d)) not in excluded
        )
        found.extend(Path(dirpath) / name for name in filenames if _is_input_name(name))
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def find_dataset_images(root: Path, exclude: Sequence[Path] = ()) -> tuple[bool, list[Path]]:
    """``(is_bids, images)``: BIDS T1w/T2w images of a dataset, or every NIfTI of a folder."""
    bids = is_bids_dataset(root)
    return bids, (bids_images(root) if bids else folder_images(root, exclude))


def label_candidates(labels_root: Path, image_rel_folder: Path, stem: str) -> list[Path]:
    """Possible disc-label files of an image, in order of preference (current, legacy; .nii.gz, .nii)."""
    return [Path(labels_root) / image_rel_folder / f"{stem}{suffix}{ext}"
            for suffix in LABEL_SUFFIXES for ext in NIFTI_EXTS]


def landmark_label_candidates(labels_root: Path, image_rel_folder: Path, stem: str) -> list[Path]:
    """Possible landmark-label files of an image (``.nii.gz`` first)."""
    return [Path(labels_root) / image_rel_folder / f"{stem}{LANDMARK_SUFFIX}{ext}" for ext in NIFTI_EXTS]


def vertebrae_mask_candidates(labels_root: Path, image_rel_folder: Path, stem: str) -> list[Path]:
    """Possible vertebral-body mask files of an image (``.nii.gz`` first)."""
    return [Path(labels_root) / image_rel_folder / f"{stem}{VERTEBRAE_SUFFIX}{ext}" for ext in NIFTI_EXTS]


def manual_labels_root(dataset: Path) -> Path:
    """``<dataset>/derivatives/labels``: the manual labels (ground truth) of a BIDS dataset."""
    return Path(dataset) / "derivatives" / MANUAL_LABELS_FOLDER


def pipeline_root(dataset: Path) -> Path:
    """``<dataset>/derivatives/hca_disc_label``: where a folder run writes by default."""
    return Path(dataset) / "derivatives" / PIPELINE_FOLDER


def bids_label_files(labels_root: Path) -> list[Path]:
    """Disc-label files (current or legacy suffix) in ``sub-*/[ses-*/]anat`` under a labels
    derivative, sorted by path."""
    found: list[Path] = []
    for pattern in ("sub-*/anat/*", "sub-*/ses-*/anat/*"):
        found.extend(p for p in Path(labels_root).glob(pattern) if split_label_name(p.name) and p.is_file())
    return sorted(found)


def dataset_root_of(path: Path) -> Path | None:
    """The BIDS dataset a file belongs to, or None.

    The nearest folder above ``path`` with a ``dataset_description.json``; else the folder
    holding its ``sub-*`` folder (a dataset without a description).
    """
    path = Path(os.path.abspath(path))
    for folder in path.parents:
        if (folder / DATASET_DESCRIPTION).is_file():
            return folder
    for folder in path.parents:
        if folder.name.startswith("sub-") and folder.parent != folder:
            return folder.parent
    return None


def bids_uri(path: Path) -> str:
    """A file as a BIDS URI (``bids::sub-01/anat/sub-01_T2w.nii.gz``, relative to its dataset's
    root), or its absolute path when it lies in no dataset."""
    path = Path(os.path.abspath(path))
    root = dataset_root_of(path)
    return f"bids::{path.relative_to(root).as_posix()}" if root is not None else path.as_posix()
