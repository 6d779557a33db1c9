"""What a labelling produces, in memory: :class:`Labelling` (discs, slab, model, timings,
the sidecar) and :class:`DiscRecord`, with the mapping of decoded model-frame discs to the
input file's voxels and world mm (:func:`discs_to_records`).

Built by :class:`~hca_disc_label.inference.labeller.Labeller`; written by
:func:`~hca_disc_label.run.pipeline.write_outputs`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import nibabel as nib
import numpy as np

from hca_disc_label.contract import InputContract
from hca_disc_label.conventions import disc_name
from hca_disc_label.image import LoadedImage
from hca_disc_label.inference.decode import DecodedDisc, Decoding
from hca_disc_label.labelfile import label_image_like
from hca_disc_label.midsagittal import local_midsagittal_x
from hca_disc_label.preprocessing import PreparedSlab
from hca_disc_label.sidecar import build_sidecar
from hca_disc_label.weights.card import model_sha256

__all__ = ["DiscRecord", "Labelling", "ModelInfo", "discs_to_records"]


@dataclass
class DiscRecord:
    """One labelled disc.

    Attributes:
        value: SCT disc value; name: e.g. "C2/C3".
        voxel: integer indices in the input file's grid; mm: world coordinates (mm) of that voxel.
        confidence: heatmap peak in [0, 1] (how surely a disc is there).
        model_rc: position in the model frame (row, col) pixels (for QC).
        evidence: the value's own channel at the disc in [0, 1] (how surely it is this
            disc); low where the value comes from counting along the spine.
        canonical: position in canonical voxel coordinates ``(x, y, z)`` (floats, L-A-S).
    """

    value: int
    name: str
    voxel: tuple[int, int, int]
    mm: tuple[float, float, float]
    confidence: float
    model_rc: tuple[float, float] = field(repr=False)
    evidence: float = 1.0
    canonical: tuple[float, float, float] = field(default=(float("nan"),) * 3, repr=False)

    def to_json(self) -> dict:
        """The sidecar / QC record of the disc."""
        return {
            "value": self.value,
            "name": self.name,
            "voxel": list(self.voxel),
            "mm": [round(v, 3) for v in self.mm],
            "confidence": round(self.confidence, 4),
            "value_evidence": round(self.evidence, 4),
        }


@dataclass(frozen=True)
class ModelInfo:
    """What the labeller needs to know about its model (from the card).

    Attributes:
        name, version: the model's identity; sha256: of its weights ("" when unknown).
        channel_values: output channel k -> SCT value.
        contract: the typed input contract.
    """

    name: str
    version: str
    sha256: str
    channel_values: tuple[int, ...]
    contract: InputContract

    @classmethod
    def of(cls, folder: Any) -> "ModelInfo":
        """From a :class:`~hca_disc_label.weights.card.ModelFolder` (or a stand-in with the same fields)."""
        sha = model_sha256(folder.card if isinstance(folder.card, dict) else {})
        return cls(str(folder.name), str(folder.version), str(sha or ""), tuple(int(v) for v in folder.channel_values),
                   InputContract.from_mapping(folder.input_contract))

    def sidecar_model(self) -> dict:
        """The sidecar's ``GeneratedBy[].Model`` block."""
        return {"Name": self.name, "Version": self.version, "SHA256": self.sha256 or None}


@dataclass
class Labelling:
    """The result of :meth:`Labeller.label` (nothing written yet).

    Attributes:
        image: the loaded input (canonical data + file geometry); input_path: its file.
        prepared: the network input and its geometry (``raw`` slab for QC).
        discs: labelled discs, head to feet.
        model: the model's identity; backend, device: the engine used.
        contrast, threshold: as given.
        hints: ``NumberingHints`` records (empty without hints).
        timings: seconds per stage (see the module docstring).
        numbering: how sure the count is (:class:`~hca_disc_label.inference.numbering.Numbering`,
            the sidecar's ``Numbering`` block), with the ``-initz`` slice of the disc it asks about.
        decoding: the decoder's evidence (:class:`~hca_disc_label.inference.decode.Decoding`).
    """

    image: LoadedImage
    prepared: PreparedSlab
    discs: list[DiscRecord]
    model: ModelInfo
    backend: str
    device: str
    contrast: str
    threshold: float
    hints: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    numbering: Any = None
    decoding: Decoding | None = field(default=None, repr=False)

    @property
    def input_path(self) -> Path:
        """The labelled image file."""
        return self.image.path

    @property
    def slice_index(self) -> int:
        """Canonical x of the mid-sagittal slab's centre slice."""
        return self.prepared.geometry.x_center

    def sidecar(self, command_line: str, extra: dict | None = None) -> dict:
        """The JSON sidecar (``extra``: further top-level blocks, see :func:`~hca_disc_label.sidecar.build_sidecar`).

        Carries the ``Numbering`` block when the labelling has one (``extra`` may replace it).
        """
        if self.numbering is not None:
            extra = {"Numbering": self.numbering.to_json(), **(extra or {})}

        return build_sidecar(
            discs=[d.to_json() for d in self.discs], input_path=self.input_path, contrast=self.contrast,
            threshold=self.threshold, model=self.model.sidecar_model(), backend=self.backend,
            device=self.device, command_line=command_line,
            slice_info={"canonical_x": self.prepared.geometry.x_center,
                        "slices_averaged": len(self.prepared.geometry.x_indices)},
            hints=self.hints, extra=extra,
        )

    def to_nifti(self) -> nib.Nifti1Image | nib.Nifti2Image:
        """The label image in memory, as the label file holds it: int16 on the input's exact
        grid (shape, affine, qform/sform and their codes), zero except one voxel per disc whose
        value is its SCT disc value (3 = C2/C3 ... 25 = L5/S1)."""
        return label_image_like(self.image, self.label_points())

    def label_points(self) -> list[tuple[int, tuple[int, int, int]]]:
        """``(value, file voxel)`` of every disc (what the label image holds)."""
        return [(d.value, d.voxel) for d in self.discs]


def discs_to_records(image: LoadedImage, prepared: PreparedSlab, discs: Sequence[DecodedDisc],
                     lateral: bool = False) -> list[DiscRecord]:
    """Map decoded model-frame discs to voxels of the input file and world mm.

    Each disc lands on the slab's centre slice, or with ``lateral`` on its own level's
    left-right symmetry plane near it (:func:`~hca_disc_label.midsagittal.local_midsagittal_x`);
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
    for disc, ijk, can in zip(discs, file_vox, canonical):
        mm = image.file_to_world(ijk)
        records.append(DiscRecord(
            value=disc.value, name=disc_name(disc.value), voxel=tuple(int(v) for v in ijk),
            mm=tuple(float(v) for v in mm), confidence=disc.confidence, model_rc=(disc.row, disc.col),
            evidence=disc.evidence, canonical=tuple(float(v) for v in can),
        ))
    return records
