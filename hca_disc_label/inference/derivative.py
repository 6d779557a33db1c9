"""The BIDS derivative description of a batch's output tree (``dataset_description.json``)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from hca_disc_label._version import __version__
from hca_disc_label.atomic import write_text_atomic
from hca_disc_label.sidecar import TOOL_NAME, generated_by

log = logging.getLogger(__name__)

BIDS_VERSION = "1.9.0"
"""BIDSVersion of a new description when the source dataset does not say."""


def _generated_by() -> dict:
    return generated_by(Description="HCA-Net intervertebral disc labels in the Spinal Cord Toolbox convention "
                        "(one voxel per disc at its posterior tip; value = vertebra below the disc).")


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
