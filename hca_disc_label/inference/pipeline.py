"""The labelling pipeline: NIfTI in, SCT disc-label NIfTI (+ JSON sidecar, + QC) out.

:func:`label_discs` is the public API; the CLI only forwards to it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hca_disc_label._version import __version__
from hca_disc_label.conventions import CONTRASTS, DEFAULT_THRESHOLD, disc_name, output_name
from hca_disc_label.errors import HCAError, HintError, InputImageError, NoDiscFoundError, OutputError
from hca_disc_label.inference.decode import Anchor, AnchorError, DecodedDisc, decode_heatmaps
from hca_disc_label.io import (
    LoadedImage,
    check_output_path,
    label_image_like,
    load_image,
    read_disc_labels,
    save_image_atomic,
    write_text_atomic,
)
from hca_disc_label.preprocessing import DEFAULT_SLAB_MM, PreparedSlab, local_midsagittal_x, prepare_slab

log = logging.getLogger(__name__)


@dataclass
class DiscRecord:
    """One written disc label.

    Attributes:
        value: SCT disc value; name: e.g. "C2/C3".
        voxel: integer indices in the input file's grid; mm: world coordinates (mm).
        confidence: heatmap peak in [0, 1] (how surely a disc is there).
        model_rc: position in the model frame (row, col) pixels (for QC).
        evidence: the value's own channel at the disc in [0, 1] (how surely it is this
            disc); low where the value comes from counting along the spine.
    """

    value: int
    name: str
    voxel: tuple[int, int, int]
    mm: tuple[float, float, float]
    confidence: float
    model_rc: tuple[float, float] = field(repr=False)
    evidence: float = 1.0

    def to_json(self) -> dict:
        return {
            "value": self.value,
            "name": self.name,
            "voxel": list(self.voxel),
            "mm": [round(v, 3) for v in self.mm],
            "confidence": round(self.confidence, 4),
            "value_evidence": round(self.evidence, 4),
        }


@dataclass
class LabelResult:
    """What :func:`label_discs` produced."""

    input_path: Path
    output_path: Path
    sidecar_path: Path
    discs: list[DiscRecord]
    model_name: str
    model_version: str
    backend: str
    device: str
    slice_index: int
    seconds: float
    qc_path: Path | None = None


def default_output_path(input_path: Path, output: Path | None, ofolder: Path | None) -> Path:
    """Resolve the output file: ``-o`` wins, else ``<stem>_label-discs_dlabel.nii.gz`` in
    ``-ofolder`` or next to the input."""
    if output is not None:
        output = Path(output)
        return output if ofolder is None or output.is_absolute() else Path(ofolder) / output
    folder = Path(ofolder) if ofolder is not None else Path(input_path).parent
    return folder / output_name(Path(input_path).name)


def sidecar_path_for(output_path: Path) -> Path:
    """``x_label-discs_dlabel.nii.gz -> x_label-discs_dlabel.json`` (BIDS sidecar)."""
    name = output_path.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return output_path.with_name(name[: -len(ext)] + ".json")
    return output_path.with_name(name + ".json")


def file_slice_to_canonical_x(image: LoadedImage, index: int) -> int:
    """Convert a slice index along the file's own left-right axis to the canonical x index.

    Raises:
        InputImageError: the index is outside the file's L-R axis.
    """
    m = np.linalg.inv(image.file_affine) @ image.affine
    lr_axis = int(np.argmax(np.abs(m[:3, 0])))
    n = image.file_shape[lr_axis]
    if not 0 <= index < n:
        raise InputImageError(f"{image.path}: -x {index} is outside the left-right axis (0..{n - 1})")
    ijk = np.zeros(3)
    ijk[lr_axis] = index
    return int(round(image.file_to_canonical(ijk)[0]))


def discs_to_records(image: LoadedImage, prepared: PreparedSlab, discs: Sequence[DecodedDisc],
                     lateral: bool = False) -> list[DiscRecord]:
    """Map decoded model-frame discs to voxels of the input file and world mm.

    Each disc lands on the slab's centre slice, or with ``lateral`` on its own level's
    left-right symmetry plane near it (:func:`~hca_disc_label.preprocessing.local_midsagittal_x`);
    its voxel is the nearest voxel of the file grid.
    """
    if not discs:
        return []
    canonical = prepared.geometry.model_to_canonical([d.row for d in discs], [d.col for d in discs])
    if lateral:
        for point in canonical:
            point[0] = local_midsagittal_x(image.data, image.zooms, prepared.geometry.x_center, point[1], point[2])
    file_vox = np.rint(image.canonical_to_file(canonical)).astype(int)
    file_vox = np.clip(file_vox, 0, np.array(image.file_shape) - 1)
    records = []
    for disc, ijk in zip(discs, file_vox):
        mm = image.file_affine[:3, :3] @ ijk + image.file_affine[:3, 3]
        records.append(
            DiscRecord(
                value=disc.value,
                name=disc_name(disc.value),
                voxel=tuple(int(v) for v in ijk),
                mm=tuple(float(v) for v in mm),
                confidence=disc.confidence,
                model_rc=(disc.row, disc.col),
                evidence=disc.evidence,
            )
        )
    return records


def _sidecar(result_discs: list[DiscRecord], model, backend, input_path: Path, slab: PreparedSlab,
             command_line: str, threshold: float, contrast: str, hints: list[dict] | None = None) -> dict:
    weights_sha = model.card.get("files", {}).get("weights", {}).get("sha256")
    out = {
        "GeneratedBy": [
            {
                "Name": "hca_disc_label",
                "Version": __version__,
                "CommandLine": command_line,
                "Model": {"Name": model.name, "Version": model.version, "SHA256": weights_sha},
                "Backend": backend.name,
                "Device": backend.device,
            }
        ],
        "Sources": [str(input_path)],
        "Contrast": contrast,
        "MidSagittalSlice": {
            "canonical_x": slab.geometry.x_center,
            "slices_averaged": len(slab.geometry.x_indices),
        },
        "ConfidenceThreshold": threshold,
        "Discs": [d.to_json() for d in result_discs],
    }
    if hints:
        # the numbering was set by the user, not by the network alone: say so next to the labels
        out["NumberingHints"] = hints
    return out


def _resolve(model, contrast: str):
    """A model folder object passes through; a name/path goes through the registry."""
    if hasattr(model, "input_contract"):
        return model
    from hca_disc_label.weights import resolve_model

    return resolve_model(model, contrast)


def _create_backend(folder, backend: str, device: str):
    from hca_disc_label.inference.backends import create_backend

    return create_backend(folder, backend, device)


def user_anchors(image: LoadedImage, prepared: PreparedSlab, init_label: str | Path | None,
                 init_z: tuple[int, int] | None) -> list[Anchor]:
    """Turn SCT-style hints into model-frame :class:`Anchor` s.

    Raises:
        HintError: the hint file is unreadable or empty, or a hint lies outside the image.
    """
    anchors: list[Anchor] = []
    if init_label is not None:
        try:
            points = read_disc_labels(init_label)
        except HCAError as exc:
            raise HintError(f"-initlabel: {exc}") from None
        if not points:
            raise HintError(f"-initlabel {init_label}: no disc label (values 2..25) in the file")
        inv = np.linalg.inv(image.affine)
        for p in points:
            can = inv[:3, :3] @ np.asarray(p.mm) + inv[:3, 3]
            if np.any(can < -0.5) or np.any(can > np.array(image.data.shape) - 0.5):
                raise HintError(f"-initlabel {init_label}: the label of value {p.value} lies outside {image.path}")
            row, col = prepared.geometry.canonical_to_model(can[1:])
            anchors.append(Anchor(p.value, float(row), float(col)))
    if init_z is not None:
        z, value = init_z
        nz = image.data.shape[2]
        if not 0 <= z < nz:
            raise HintError(f"-initz {z},{value}: slice {z} is outside the image (0..{nz - 1}, inferior = 0)")
        row = prepared.geometry.canonical_to_model(np.array([0.0, float(z)]))[0]
        anchors.append(Anchor(int(value), float(row)))
    return anchors


def label_discs(
    input_path: str | Path,
    contrast: str = "t2",
    output: str | Path | None = None,
    ofolder: str | Path | None = None,
    qc: str | Path | None = None,
    qc_subject: str | None = None,
    x: int | None = None,
    model: str | object | None = None,
    backend: str | object = "auto",
    device: str = "auto",
    threshold: float = DEFAULT_THRESHOLD,
    slab_thickness_mm: float | None = None,
    command_line: str | None = None,
    init_label: str | Path | None = None,
    init_z: tuple[int, int] | None = None,
) -> LabelResult:
    """Label the intervertebral discs of a sagittal spine MRI in SCT's convention.

    Args:
        input_path: 3D NIfTI image, any orientation and voxel size (never modified).
        contrast: "t1" or "t2" (selects the default model).
        output: output label file; default ``<stem>_label-discs_dlabel.nii.gz``.
        ofolder: output folder (default: the input's folder).
        qc: QC folder; a PNG, a JSON record and ``index.html`` are written there.
        qc_subject: subject name shown in QC (default: from the file name).
        x: force the mid-sagittal slice: index along the file's own left-right axis; every
            disc is then written on it (by default each disc is written on its own level's
            left-right symmetry plane, within 8 mm of the detected mid-sagittal slice).
        model: registry name ``NAME[@VERSION]``, a model folder path, or a loaded
            :class:`~hca_disc_label.weights.ModelFolder`; None = default for contrast.
        backend: "auto" | "torch" | "onnx", or a ready backend object with ``predict``.
        device: "auto" | "cpu" | "cuda".
        threshold: minimum confidence of a written disc.
        slab_thickness_mm: override the model's slab thickness (mm).
        command_line: recorded in the sidecar (default: ``sys.argv``).
        init_label: SCT ``-initlabel``: a label image (any grid; matched in world mm) whose
            non-zero voxels give disc values at their posterior tips; the detected disc within
            10 mm of each keeps that value and the others are counted from it.
        init_z: SCT ``-initz``: ``(slice, value)`` with ``slice`` the axial index of the image
            in RPI orientation (inferior = 0); the detected disc nearest that slice gets ``value``.

    Returns:
        A :class:`LabelResult` (written files and per-disc records).

    Raises:
        HCAError: bad input, unwritable output, model problems, or no disc found; nothing is
            written in those cases.
    """
    start = time.perf_counter()
    if contrast not in CONTRASTS:
        raise HCAError(f"unknown contrast {contrast!r} (choose from {', '.join(CONTRASTS)})")
    if not 0.0 < threshold < 1.0:
        raise HCAError(f"threshold must be in (0, 1), got {threshold}")
    input_path = Path(input_path)
    out_path = default_output_path(input_path, output and Path(output), ofolder and Path(ofolder))
    check_output_path(out_path, input_path)
    image = load_image(input_path)
    folder = _resolve(model, contrast)
    engine = backend if hasattr(backend, "predict") else _create_backend(folder, backend, device)
    contract = folder.input_contract
    x_center = None if x is None else file_slice_to_canonical_x(image, x)
    prepared = prepare_slab(
        image.data,
        image.zooms,
        spacing_mm=float(contract["pixel_spacing_mm"]),
        size_multiple=int(contract["size_multiple"]),
        slab_thickness_mm=float(slab_thickness_mm or contract.get("slab_thickness_mm", DEFAULT_SLAB_MM)),
        x_center=x_center,
        low_percentile=float(contract.get("low_percentile", 1.0)),
        high_percentile=float(contract.get("high_percentile", 99.5)),
    )
    anchors = user_anchors(image, prepared, init_label, init_z)
    heatmaps = engine.predict(prepared.image)
    try:
        discs = decode_heatmaps(
            heatmaps,
            list(folder.channel_values),
            int(contract["output_stride"]),
            float(contract["pixel_spacing_mm"]),
            threshold=threshold,
            valid_shape=(prepared.geometry.height, prepared.geometry.width),
            anchors=anchors,
        )
    except AnchorError as exc:
        raise HintError(f"{input_path}: {exc}") from None
    if not discs:
        raise NoDiscFoundError(
            f"{input_path}: no intervertebral disc found above confidence {threshold:g} "
            "(is this a sagittal spine image? try -x to choose the slice or lower -thr)"
        )
    # a slice forced with -x is kept for every disc; otherwise each disc follows its own level
    records = discs_to_records(image, prepared, discs, lateral=x is None)
    cmd = command_line if command_line is not None else " ".join(sys.argv)
    hints = ([{"source": "-initlabel", "file": str(init_label)}] if init_label is not None else []) + (
        [{"source": "-initz", "slice": init_z[0], "value": init_z[1]}] if init_z is not None else [])
    sidecar = _sidecar(records, folder, engine, input_path, prepared, cmd, threshold, contrast, hints)
    side_path = sidecar_path_for(out_path)
    try:
        save_image_atomic(label_image_like(image, [(r.value, r.voxel) for r in records]), out_path)
        write_text_atomic(side_path, json.dumps(sidecar, indent=2) + "\n")
    except OSError as exc:
        out_path.unlink(missing_ok=True)  # never leave labels without their sidecar
        raise OutputError(f"{out_path}: cannot write output ({exc.strerror or exc})") from None
    qc_path = None
    if qc is not None:
        from hca_disc_label.qc.report import write_qc_entry

        qc_path = write_qc_entry(
            Path(qc), input_path, out_path, prepared, records, subject=qc_subject,
            model=f"{folder.name} {folder.version}", contrast=contrast,
        )
    seconds = time.perf_counter() - start
    log.info("%s: %d discs in %.2f s", input_path, len(records), seconds)
    return LabelResult(
        input_path=input_path,
        output_path=out_path,
        sidecar_path=side_path,
        discs=records,
        model_name=folder.name,
        model_version=folder.version,
        backend=engine.name,
        device=engine.device,
        slice_index=prepared.geometry.x_center,
        seconds=seconds,
        qc_path=qc_path,
    )
