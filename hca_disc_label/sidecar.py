"""The JSON sidecar of a disc-label file: build, its text, read, "written by us", "up to date".

Layout (``<output stem>.json`` next to ``<output>.nii.gz``)::

    {"GeneratedBy": [{"Name": "hca_disc_label", "Version", "Link", "Date", "CommandLine",
                      "Model": {"Name", "Version", "SHA256"}, "Backend", "Device"}],
     "Sources": [BIDS URI of the input], "Contrast", "MidSagittalSlice": {...}, "ConfidenceThreshold",
     "Discs": [{value, name, voxel, mm, confidence, value_evidence}],
     "NumberingHints": [...]?,  ...extra top-level blocks}

``GeneratedBy`` keeps SCT's keys (Name, Version, Link, Date) alongside ours. Other modules add
their own top-level blocks through ``build_sidecar(..., extra={"Block": {...}})``.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from hca_disc_label._version import __version__
from hca_disc_label.naming import PIPELINE_FOLDER, bids_uri, sidecar_path_for

log = logging.getLogger(__name__)

TOOL_NAME = "hca_disc_label"
"""``GeneratedBy[].Name`` of every file this package writes."""
PROJECT_URL = "https://github.com/hca-disc-label/hca_disc_label"
"""``GeneratedBy[].Link`` (SCT records the tool's home page there)."""

__all__ = [
    "PROJECT_URL", "TOOL_NAME", "build_sidecar", "generated_by", "generated_by_us", "is_up_to_date", "model_block",
    "our_generation", "own_labels_warning", "read_sidecar", "refuse_own_labels", "sidecar_path_for", "sidecar_text",
    "split_own_labels", "written_by_us",
]


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds (``2026-12-01T09:00:00+00:00``)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def generated_by(**fields: Any) -> dict:
    """Our ``GeneratedBy`` entry: Name, Version, Link, Date, then ``fields`` (CommandLine, Model...)."""
    entry = {"Name": TOOL_NAME, "Version": __version__, "Link": PROJECT_URL, "Date": now_iso()}
    entry.update(fields)
    return entry


def model_block(name: str, version: str, sha256: str | None) -> dict:
    """The sidecar's ``GeneratedBy[].Model`` block: ``Name``, ``Version`` and the model's
    ``SHA256`` (the caller takes it from the card: :func:`~hca_disc_label.weights.card.model_sha256`)."""
    return {"Name": str(name), "Version": str(version), "SHA256": sha256}


def build_sidecar(
    *,
    discs: list[dict],
    input_path: Path | str,
    contrast: str,
    threshold: float,
    model: Mapping[str, Any],
    backend: str,
    device: str,
    command_line: str,
    slice_info: Mapping[str, Any],
    hints: list[dict] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict:
    """The sidecar dictionary of one labelled image.

    Args:
        discs: per-disc JSON records (value, name, voxel, mm, confidence, value_evidence).
        input_path: the labelled image (recorded as a BIDS URI, see
            :func:`~hca_disc_label.naming.bids_uri`).
        contrast: "t1" / "t2".
        threshold: the confidence threshold used.
        model: ``{"Name", "Version", "SHA256"}`` of the model.
        backend, device: the inference engine.
        command_line: the command that produced the file.
        slice_info: ``MidSagittalSlice`` block (``canonical_x``, ``slices_averaged``).
        hints: ``NumberingHints`` (only written when given).
        extra: further top-level blocks (e.g. ``{"Numbering": {...}}``), merged last; a key
            that already exists is replaced.

    Returns:
        A JSON-ready dict.
    """
    out: dict[str, Any] = {
        "GeneratedBy": [generated_by(CommandLine=command_line, Model=dict(model), Backend=backend, Device=device)],
        "Sources": [bids_uri(Path(input_path))],
        "Contrast": contrast,
        "MidSagittalSlice": dict(slice_info),
        "ConfidenceThreshold": threshold,
        "Discs": list(discs),
    }
    if hints:
        # the numbering was set by the user, not by the network alone: say so next to the labels
        out["NumberingHints"] = list(hints)
    if extra:
        out.update(extra)
    return out


def sidecar_text(sidecar: Mapping[str, Any]) -> str:
    """A sidecar as it is written: JSON indented by 2, non-ASCII escaped, a final newline.

    The one format of every sidecar file; the writer (``run.pipeline.write_outputs``) stages
    it in a temporary file beside the labels' own and renames both together, so it needs the
    text, not an atomic write of its own.
    """
    return json.dumps(sidecar, indent=2) + "\n"


def read_sidecar(path: Path) -> dict | None:
    """A sidecar (or any JSON object file), or None when missing, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def our_generation(sidecar: Mapping[str, Any] | None) -> dict | None:
    """Our ``GeneratedBy`` entry in a sidecar, or None when another tool / a person wrote it."""
    if not sidecar:
        return None
    generated = sidecar.get("GeneratedBy")
    for entry in generated if isinstance(generated, list) else [generated]:
        if isinstance(entry, dict) and entry.get("Name") == TOOL_NAME:
            return entry
    return None


def generated_by_us(label_path: Path) -> bool:
    """True when ``label_path`` exists and its JSON sidecar says this package wrote it."""
    label_path = Path(label_path)
    return label_path.exists() and our_generation(read_sidecar(sidecar_path_for(label_path))) is not None


def written_by_us(output_path: Path) -> bool:
    """True when ``output_path`` is absent or its sidecar says this package wrote it (may be replaced)."""
    return not Path(output_path).exists() or generated_by_us(output_path)


def split_own_labels(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """``(others, ours)``: label files split by :func:`generated_by_us` (order kept)."""
    others: list[Path] = []
    ours: list[Path] = []
    for path in paths:
        (ours if generated_by_us(path) else others).append(Path(path))
    return others, ours


def own_labels_warning(ours: Sequence[Path], where: Path, use: str = "ground truth") -> str:
    """The one line that reports label files of ours found where manual labels are read.

    Names the count, the folder, the place folder runs write to now, and the option that
    uses them anyway (training on our own pseudo-labels on purpose).
    """
    return (f"{len(ours)} label file(s) under {where} were written by {TOOL_NAME}, not by hand "
            f"(folder runs now write to derivatives/{PIPELINE_FOLDER}; move them there): "
            f"not used as {use} (-allow-own-labels uses them)")


def refuse_own_labels(label_path: Path, what: str) -> str | None:
    """Why a label file given as manual (``what``, e.g. "-initlabel") must be refused, or None."""
    if generated_by_us(label_path):
        return (f"{what} {label_path}: written by {TOOL_NAME} (its sidecar says so), not a manual label; "
                "give labels placed by hand")
    return None


def is_up_to_date(output_path: Path, input_path: Path, model: Mapping[str, Any], threshold: float) -> bool:
    """True when a label file needs no work for this image, model and threshold.

    Up to date = output and sidecar exist, the output is not older than the input, and the
    sidecar (ours) records the same model (``Name``, ``Version``, ``SHA256``) and threshold.
    """
    try:
        if Path(output_path).stat().st_mtime_ns < Path(input_path).stat().st_mtime_ns:
            return False
    except OSError:
        return False
    sidecar = read_sidecar(sidecar_path_for(Path(output_path)))
    generation = our_generation(sidecar)
    if generation is None:
        return False
    recorded = generation.get("Model") or {}
    if any(recorded.get(k) != model.get(k) for k in ("Name", "Version", "SHA256")):
        return False
    try:
        return abs(float(sidecar.get("ConfidenceThreshold")) - float(threshold)) <= 1e-12
    except (TypeError, ValueError):
        return False

