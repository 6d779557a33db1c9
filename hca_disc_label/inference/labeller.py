"""The labelling core: :class:`Labeller`, built once, labels images in memory.

``Labeller(model, contrast, backend, device)`` resolves the model and builds its inference
engine once; :meth:`Labeller.label` takes a path, a nibabel image, an array with its affine
or a :class:`~hca_disc_label.image.LoadedImage` (+ hints) and returns a :class:`Labelling`: the
discs (value, name, model-frame, canonical and world positions, confidence, evidence), the slab
and everything the sidecar needs. It writes no file. :func:`hca_disc_label.label_discs` is
load -> ``Labeller.label`` -> write; batch workers, ``evaluate -model``, the benchmarks, trainer
validation and ``extend_labels`` build one ``Labeller`` and reuse it.

Stages (timed in :attr:`Labelling.timings`, seconds): ``read`` (file -> validated array),
``reorient`` (canonical frame), ``mid_plane`` (symmetry search), ``resample`` (slab,
in-plane resampling, normalisation, padding), ``forward`` (network), ``decode`` (heatmaps ->
discs) and ``map`` (each disc to its level's mid-plane and the file grid).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hca_disc_label.conventions import DEFAULT_THRESHOLD, check_contrast, check_numbering_threshold, check_threshold
from hca_disc_label.errors import ArgumentValueError, HCAError, HintError, ModelError, NoDiscFoundError
from hca_disc_label.image import ImageSource, LoadedImage, load_image
from hca_disc_label.inference.calibration import CALIBRATION_FILENAME, Calibration, load_calibration
from hca_disc_label.inference.decode import Anchor, AnchorError, DecodedDisc, Decoding, decode_details
from hca_disc_label.inference.labelling import DiscRecord, Labelling, ModelInfo, discs_to_records
from hca_disc_label.inference.numbering import assess_numbering
from hca_disc_label.inference.stability import StripTest, strip_tests
from hca_disc_label.labelfile import read_disc_labels
from hca_disc_label.midsagittal import find_midsagittal_slice
from hca_disc_label.preprocessing import PreparedSlab, prepare_input

log = logging.getLogger(__name__)

__all__ = ["Labeller", "calibration_table_path", "model_calibration", "user_anchors"]


def calibration_table_path() -> Path:
    """The numbering calibration table shipped next to the model registry (``models/``)."""
    from hca_disc_label.weights.registry import default_models_dir

    return default_models_dir() / CALIBRATION_FILENAME


def model_calibration(model: Any) -> Calibration:
    """The numbering calibration of a model (its card's entry, else the shipped table's entry
    for its weights sha256, else uncalibrated): what every :class:`Labeller` assesses with."""
    return load_calibration(model, calibration_table_path())


def user_anchors(image: LoadedImage, prepared: PreparedSlab, init_label: str | Path | None,
                 init_z: tuple[int, int] | None) -> list[Anchor]:
    """Turn SCT-style hints into model-frame :class:`Anchor` s.

    The ``-initlabel`` file goes through the same header, size and geometry checks as an
    input image (:func:`~hca_disc_label.labelfile.read_disc_labels`).

    Raises:
        HintError: the hint file is unusable or empty, or its label lies outside the image.
        ArgumentValueError: the ``-initz`` slice is outside the image.
    """
    anchors: list[Anchor] = []
    if init_label is not None:
        try:
            points = read_disc_labels(init_label)
        except HCAError as exc:
            raise HintError(f"-initlabel {exc}") from None
        if not points:
            raise HintError(f"-initlabel {init_label}: no disc label (values 2..25) in the file")
        for p in points:
            can = image.world_to_canonical(p.mm)
            if not np.all(np.isfinite(can)) or np.any(can < -0.5) or np.any(can > np.array(image.data.shape) - 0.5):
                raise HintError(f"-initlabel {init_label}: the label of value {p.value} lies outside {image.path}")
            row, col = prepared.geometry.canonical_to_model(can[1:])
            anchors.append(Anchor(p.value, float(row), float(col)))
    if init_z is not None:
        z, value = init_z
        nz = image.data.shape[2]
        if not 0 <= z < nz:
            raise ArgumentValueError(f"-initz {z},{value}: slice {z} is outside {image.path} "
                                     f"(0..{nz - 1}, inferior = 0)", "-initz")
        row = prepared.geometry.canonical_to_model(np.array([0.0, float(z)]))[0]
        anchors.append(Anchor(int(value), float(row)))
    return anchors


def _hint_records(init_label: str | Path | None, init_z: tuple[int, int] | None) -> list[dict]:
    hints = [{"source": "-initlabel", "file": str(init_label)}] if init_label is not None else []
    if init_z is not None:
        hints.append({"source": "-initz", "slice": init_z[0], "value": init_z[1]})
    return hints


class Labeller:
    """Disc labelling with one model and one engine, loaded once.

    Args:
        model: registry ``NAME[@VERSION]``, a model folder path, a loaded
            :class:`~hca_disc_label.weights.card.ModelFolder` (or a stand-in with ``name``,
            ``version``, ``card``, ``channel_values``, ``input_contract``); None = the default
            model for ``contrast``.
        contrast: "t1" or "t2".
        backend: "auto" | "torch" | "onnx", or a ready engine (``name``, ``device``,
            ``predict(image (H, W) | (C, H, W)) -> heatmaps (V, h, w)``).
        device: "auto" | "cpu" | "cuda" (ignored with a ready engine).
        threshold: minimum confidence of a labelled disc, in (0, 1).
        slab_thickness_mm: override the model's slab thickness (mm).
        threads: CPU threads of the engine (None = the library's default).
        numbering_threshold: numbering confidence under which an image's status is ``check``
            (``-numbering-thr``); None = the model's calibrated threshold.
        strip_test: an ``ok`` count is labelled once more with 20 mm cut off the end away from
            its anchor; a value that changes makes it ``check``
            (:mod:`~hca_disc_label.inference.stability`; one more network pass on ``ok`` images).

    Raises:
        HCAError: unknown contrast, bad threshold; ModelError: the model or the engine cannot
            be loaded (corrupt weights, unknown architecture key, missing ONNX file...).
    """

    def __init__(self, model: Any = None, contrast: str = "t2", backend: Any = "auto", device: str = "auto",
                 threshold: float = DEFAULT_THRESHOLD, slab_thickness_mm: float | None = None,
                 threads: int | None = None, numbering_threshold: float | None = None,
                 strip_test: bool = True) -> None:
        self.contrast = check_contrast(contrast)
        self.threshold = check_threshold(threshold)
        if model is None or isinstance(model, (str, os.PathLike)):
            from hca_disc_label.weights.resolve import resolve_model

            model = resolve_model(None if model is None else str(model), contrast)
        self.folder = model
        try:
            self.model = ModelInfo.of(model)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model {getattr(model, 'name', model)}: invalid input contract ({exc})") from None
        self.contract = self.model.contract.with_slab(slab_thickness_mm)
        self.numbering_threshold = check_numbering_threshold(numbering_threshold)
        self.calibration = model_calibration(model)
        self.strip_test = bool(strip_test)
        if isinstance(backend, str):
            from hca_disc_label.inference.backends import create_backend

            backend = create_backend(model, backend, device, threads=threads)
        self.engine = backend

    def strip_tests(self, image: np.ndarray, valid_shape: tuple[int, int],
                    discs: Sequence[DecodedDisc]) -> list[StripTest]:
        """The strip tests of one decoded network input (:func:`~hca_disc_label.inference.stability.strip_tests`
        with this labeller's network, decoder and contract; ``image`` padded, model frame)."""
        c = self.contract
        return strip_tests(self.detect, image, valid_shape, discs, c.pixel_spacing_mm, c.size_multiple)

    def use_calibration_of(self, model: Any) -> None:
        """Judge every count with another model's numbering calibration (a name, a folder or a
        model folder object): a fold model of a benchmark has none of its own, and is judged with
        the shipped model's, fitted with its out-of-fold images."""
        if isinstance(model, (str, os.PathLike)):
            from hca_disc_label.weights.resolve import resolve_model

            model = resolve_model(str(model), self.contrast)
        self.calibration = model_calibration(model)

    @classmethod
    def from_engine(cls, engine: Any, model: ModelInfo, contrast: str = "t2",
                    threshold: float = DEFAULT_THRESHOLD) -> "Labeller":
        """A labeller around a ready engine and model description (e.g. a network being
        trained, wrapped in :class:`~hca_disc_label.inference.backends.TorchBackend`)."""
        self = cls.__new__(cls)
        self.contrast, self.threshold = check_contrast(contrast), check_threshold(threshold)
        self.folder, self.model, self.contract, self.engine = None, model, model.contract, engine
        self.numbering_threshold, self.calibration = None, model_calibration(model)  # by its weights sha256
        self.strip_test = True
        return self

    @property
    def backend(self) -> str:
        """Name of the engine ("onnx", "torch", ...)."""
        return str(self.engine.name)

    @property
    def device(self) -> str:
        """Device of the engine ("cpu", "cuda")."""
        return str(self.engine.device)

    def detect(self, image: np.ndarray, valid_shape: tuple[int, int] | None = None,
               anchors: Sequence[Anchor] = ()) -> list[DecodedDisc]:
        """Network + decoder on a model-frame image.

        Args:
            image: ``(H, W)`` float32 in [0, 1], model frame, H and W multiples of the
                contract's ``size_multiple``; ``(C, H, W)`` for a model with C input channels.
            valid_shape: ``(h, w)`` of the unpadded content (peaks outside are ignored).
            anchors: numbering hints in the model frame.

        Returns:
            Decoded discs (model-frame pixels), head to feet.

        Raises:
            AnchorError: hints that cannot hold.
        """
        heatmaps = self.engine.predict(image)
        return self._decode(heatmaps, valid_shape, anchors)

    def _decode(self, heatmaps: np.ndarray, valid_shape, anchors) -> list[DecodedDisc]:
        return self._decode_details(heatmaps, valid_shape, anchors).discs

    def _decode_details(self, heatmaps: np.ndarray, valid_shape, anchors) -> Decoding:
        c = self.contract
        return decode_details(heatmaps, list(self.model.channel_values), c.output_stride, c.pixel_spacing_mm,
                              threshold=self.threshold, valid_shape=valid_shape, anchors=list(anchors))

    def assess_numbering(self, decoding: Decoding, records: Sequence[DiscRecord], hints: Sequence[dict] = ()):
        """The numbering block of one decoding, with the ``-initz`` slice (canonical z, RPI,
        inferior = 0) of the disc its question is about (``records`` = the decoding's discs)."""
        numbering = assess_numbering(decoding, self.calibration, self.numbering_threshold, hints)
        if numbering.question is not None and records:
            z = records[numbering.question[0]].canonical[2]
            numbering = numbering.with_slice(int(round(z)) if np.isfinite(z) else None)
        return numbering

    def label(self, image: LoadedImage | ImageSource, x: int | None = None,
              init_label: str | Path | None = None, init_z: tuple[int, int] | None = None,
              affine: np.ndarray | None = None) -> Labelling:
        """Label one image in memory.

        Args:
            image: a NIfTI path, a nibabel image (``nib.load(f)``), an array ``(I, J, K)`` of
                grey levels with its ``affine``, or a loaded image; validated as a file would be
                (:func:`~hca_disc_label.image.load_image`).
            x: force the mid-sagittal slice: index along the file's own left-right axis; every
                disc is then placed on it (by default each disc goes on its own level's
                left-right symmetry plane, within 12 mm of the detected mid-sagittal slice).
            init_label: SCT ``-initlabel``: label image (any grid, matched in world mm).
            init_z: SCT ``-initz``: ``(slice, value)``, slice = axial index in RPI (inferior = 0).
            affine: with an array only: its 4x4 voxel -> world (mm) matrix.

        Returns:
            A :class:`Labelling` (``labelling.to_nifti()``: the label image as a nibabel image).

        Raises:
            InputImageError, HintError, NoDiscFoundError, ArgumentValueError (``x`` or
            ``init_z`` outside the image); all :class:`HCAError`.
        """
        timings: dict[str, float] = {}
        if not isinstance(image, LoadedImage):
            image = load_image(image, timings=timings, affine=affine)
        t = time.perf_counter()
        x_center = None if x is None else image.file_slice_to_canonical_x(x)
        if x_center is None:
            x_center = find_midsagittal_slice(image.data, image.zooms[0])
        timings["mid_plane"] = time.perf_counter() - t
        t = time.perf_counter()
        prepared = prepare_input(self.contract, image.data, image.zooms, x_center=x_center)
        timings["resample"] = time.perf_counter() - t
        anchors = user_anchors(image, prepared, init_label, init_z)
        t = time.perf_counter()
        heatmaps = self.engine.predict(prepared.image)
        timings["forward"] = time.perf_counter() - t
        t = time.perf_counter()
        try:
            decoding = self._decode_details(heatmaps, (prepared.geometry.height, prepared.geometry.width), anchors)
            discs = decoding.discs
        except AnchorError as exc:
            raise HintError(f"{image.path}: {exc}") from None
        timings["decode"] = time.perf_counter() - t
        if not discs:
            raise NoDiscFoundError(
                f"{image.path}: no intervertebral disc found above confidence {self.threshold:g} "
                "(is this a sagittal spine image? try -x to choose the slice or lower -thr)"
            )
        t = time.perf_counter()
        # a slice forced with -x is kept for every disc; otherwise each disc follows its own level
        records = discs_to_records(image, prepared, discs, lateral=x is None)
        timings["map"] = time.perf_counter() - t
        hints = _hint_records(init_label, init_z)
        t = time.perf_counter()
        numbering = self.assess_numbering(decoding, records, hints)
        if self.strip_test and numbering.status == "ok" and numbering.source != "hint":
            tests = self.strip_tests(prepared.image, (prepared.geometry.height, prepared.geometry.width), discs)
            numbering = numbering.unstable([test.to_json() for test in tests])
        timings["numbering"] = time.perf_counter() - t
        return Labelling(image=image, prepared=prepared, discs=records, model=self.model, backend=self.backend,
                         device=self.device, contrast=self.contrast, threshold=self.threshold,
                         hints=hints, timings=timings, numbering=numbering, decoding=decoding)
