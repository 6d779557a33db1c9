"""The BIDS derivative of a folder run: where it lives, its ``dataset_description.json``, its
``numbering.tsv``, and the labels an older version left among the manual ones.

A folder run writes to ``<dataset>/derivatives/hca_disc_label/`` (pipeline-named, see
:func:`~hca_disc_label.naming.pipeline_root`), never into ``derivatives/labels`` where
spine-generic keeps the manual labels. Earlier versions wrote there; :func:`report_old_labels`
finds those files (their sidecar names us) and reports them, and every reader of ground truth
leaves them out.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Mapping, Sequence

from hca_disc_label._version import __version__
from hca_disc_label.atomic import folder_lock, remove_stale_temps, write_text_atomic
from hca_disc_label.errors import OutputError
from hca_disc_label.naming import DATASET_DESCRIPTION, bids_label_files, manual_labels_root
from hca_disc_label.qc.report import remove_stale_temps_in
from hca_disc_label.run.numbering_table import dataset_rows, numbering_table_text
from hca_disc_label.sidecar import TOOL_NAME, generated_by, own_labels_warning, split_own_labels

log = logging.getLogger(__name__)

BIDS_VERSION = "1.9.0"
"""BIDSVersion of a new description when the source dataset does not say."""
TABLE_NAME = "numbering.tsv"
"""Per-run table of numbering statuses in the derivative's root (BIDS tables are TSV)."""


def _generated_by(models: Sequence[Mapping]) -> dict:
    fields: dict = {"Description": "HCA-Net intervertebral disc labels in the Spinal Cord Toolbox convention "
                    "(one voxel per disc at its posterior tip; value = vertebra below the disc)."}
    unique = [dict(m) for i, m in enumerate(models) if dict(m) not in [dict(x) for x in models[:i]]]
    if unique:
        fields["Model"] = unique[0] if len(unique) == 1 else unique
    return generated_by(**fields)


def _source_url(input_dir: Path, out_root: Path) -> str:
    src, dst = Path(os.path.abspath(input_dir)), Path(os.path.abspath(out_root))
    try:
        return Path(os.path.relpath(src, dst)).as_posix() if dst.is_relative_to(src) else src.as_uri()
    except ValueError:  # different drives (Windows)
        return src.as_uri()


def _same_run(mine: list[dict], ours: dict) -> bool:
    """Our recorded entries already say this version and model (the date aside)."""
    return bool(mine) and all(g.get("Version") == __version__ and g.get("Model") == ours.get("Model") for g in mine)


def write_dataset_description(out_root: Path, input_dir: Path, models: Sequence[Mapping] = ()) -> Path:
    """Create or complete ``out_root/dataset_description.json`` (BIDS derivative).

    A new file gets Name, BIDSVersion, DatasetType "derivative", GeneratedBy (the tool, its
    version and the model: ``Name``, ``Version``, ``SHA256``) and SourceDatasets. An existing
    file written by someone else keeps all its content and gains our GeneratedBy entry; an
    unreadable one is left alone (with a warning). The update runs under the folder's lock and
    is written atomically, so parallel jobs never clobber each other.

    Args:
        out_root: the derivative's root.
        input_dir: the source dataset.
        models: the models of the run (sidecar ``Model`` blocks).

    Returns:
        The file path.

    Raises:
        OutputError: the folder cannot be written (one line).
    """
    try:
        return _update_description(Path(out_root), input_dir, _generated_by(models))
    except OSError as exc:
        raise OutputError(f"{out_root}: cannot write the output folder ({exc.strerror or exc}); "
                          "choose a writable one with -ofolder") from None


def _update_description(out_root: Path, input_dir: Path, ours: dict) -> Path:
    path = out_root / DATASET_DESCRIPTION
    with folder_lock(out_root):
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
            if _same_run(mine, ours):
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
        version = json.loads((Path(input_dir) / DATASET_DESCRIPTION).read_text(encoding="utf-8"))["BIDSVersion"]
        return str(version)
    except (OSError, ValueError, KeyError, TypeError):
        return BIDS_VERSION


def report_old_labels(input_dir: Path) -> list[Path]:
    """Our label files among a dataset's manual labels (``derivatives/labels``, where earlier
    versions wrote): one warning line with their count and the new place. They are left in
    place (a person decides) and never read as manual labels.

    Returns:
        Those files.
    """
    labels_root = manual_labels_root(input_dir)
    if not labels_root.is_dir():
        return []
    _, ours = split_own_labels(bids_label_files(labels_root))
    if ours:
        log.warning("%s", own_labels_warning(ours, labels_root))
    return ours


def write_numbering_table(out_root: Path, pairs: Sequence[tuple[Path, Path]],
                          threshold: float | None) -> tuple[list[dict], Path | None]:
    """Write ``out_root/numbering.tsv`` (every ``(image, label file)`` of the run, ``check``
    first) from the label files' sidecars.

    Returns:
        ``(rows, table)``: the rows (see :func:`~hca_disc_label.run.numbering_table.dataset_rows`)
        and the table written (None when there was nothing to list, or it could not be written:
        logged, not raised, since the labels are written).
    """
    rows = dataset_rows(list(pairs), threshold)
    if not rows:
        return rows, None
    path = Path(out_root) / TABLE_NAME
    try:
        write_text_atomic(path, numbering_table_text(rows))
    except OSError as exc:
        log.error("cannot write %s: %s", path, exc.strerror or exc)
        return rows, None
    return rows, path


def check_writable(folder: Path, what: str, option: str) -> None:
    """Refuse, in one line and before any work, a folder that cannot be created or written.

    Raises:
        OutputError: the folder (or its nearest existing parent) is not a writable folder.
    """
    existing = Path(os.path.abspath(folder))
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        reason = f"{existing} is not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        reason = f"{existing} is not writable"
    else:
        return
    raise OutputError(f"{folder}: cannot write the {what} folder ({reason}); choose a writable one with {option}")


def prepare_output_tree(out_root: Path, qc: Path | None, dataset: Path | None) -> None:
    """Before a folder run: the output (and QC) folder must be writable (one line otherwise);
    our labels among ``dataset``'s manual ones are reported; temporary files that killed runs
    left in the output tree and the QC folder (nobody holds them) are removed."""
    check_writable(out_root, "output", "-ofolder")
    if qc is not None:
        check_writable(Path(qc), "QC", "-qc")
    if dataset is not None:
        report_old_labels(dataset)
    remove_stale_temps(out_root, recursive=True)
    if qc is not None:
        remove_stale_temps_in(Path(qc), recursive=True)
