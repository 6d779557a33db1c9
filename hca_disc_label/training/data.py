"""Training samples: synthetic slabs, real BIDS slabs, augmentation, deterministic batches.

Every sample lives in the model 2D frame (row -> inferior, col -> posterior, isotropic
``spacing_mm``): an image ``(H, W)``, or ``(C, H, W)`` for a model with C input channels (slabs
at lateral offsets, ``DataSpec.channel_offsets_mm``), every geometric step the same on each
channel. Sample ``i`` of step ``t`` is drawn from ``np.random.default_rng([seed, t, i])``,
so a batch is the same whatever the number of processes, workers or restarts: a resumed run
sees exactly the data it would have seen, and ``k`` DDP ranks together see the single-process
global batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from hca_disc_label.contract import DEFAULT_CHANNEL_OFFSETS_MM, DEFAULT_SLAB_THICKNESS_MM, centre_channel
from hca_disc_label.conventions import DISC_VALUES, LANDMARKS
from hca_disc_label.errors import DataError
from hca_disc_label.image import load_image
from hca_disc_label.labelfile import read_disc_labels, read_landmark_labels
from hca_disc_label.naming import bids_images, label_candidates, landmark_label_candidates, strip_nifti_ext
from hca_disc_label.preprocessing import normalise_channels, prepare_slab
from hca_disc_label.sidecar import generated_by_us, own_labels_warning
from hca_disc_label.training.real_targets import known_landmarks_real, known_values_real
from hca_disc_label.training.sample import TrainSample, crop_to, fov_crop, l5_cut, s1_cut

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- sources


def synthetic_sample(rng: np.random.Generator, spacing_mm: float,
                     channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM) -> TrainSample:
    """A domain-randomised synthetic slab (all disc values known): one section per channel
    offset (mm), ``(H, W)`` for the default one channel, normalised on the centre channel."""
    from hca_disc_label.synth.slab import generate_slab

    slab = generate_slab(rng, spacing_mm=spacing_mm, channel_offsets_mm=channel_offsets_mm)
    return TrainSample(normalise_channels(slab.image, centre_channel(channel_offsets_mm)), dict(slab.discs),
                       set(DISC_VALUES) | set(LANDMARKS), landmarks=dict(slab.landmarks))


@dataclass
class BidsCase:
    """A real labelled image prepared as a raw slab (model frame) with its disc positions
    and its manually labelled landmarks (code -> (row, col) model px; usually none);
    ``raw`` is ``(H, W)``, or ``(C, H, W)`` (one slab per channel offset)."""

    subject: str
    image_path: Path
    raw: np.ndarray
    discs: dict[int, tuple[float, float]]
    landmarks: dict[int, tuple[float, float]] = field(default_factory=dict)


def find_bids_pairs(root: Path, contrasts: tuple[str, ...] = ("T1w", "T2w"),
                    allow_own: bool = False) -> list[tuple[str, Path, Path]]:
    """``(subject, image, labels)`` for every labelled T1w/T2w image of a BIDS dataset.

    Labels are looked up in ``derivatives/labels/<sub>/[<ses>/]anat/`` with the current
    (``_label-discs_dlabel``) or legacy (``_labels-disc-manual``) suffix. A label file whose
    sidecar says hca_disc_label wrote it is not manual: left out (one warning line) unless
    ``allow_own`` (training on our own pseudo-labels on purpose).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    pairs, ours = [], []
    for img in sorted(bids_images(root, suffixes=contrasts), key=lambda p: p.as_posix()):
        stem = strip_nifti_ext(img.name)
        rel = img.parent.relative_to(root)
        found = [lab for lab in label_candidates(root / "derivatives" / "labels", rel, stem) if lab.exists()]
        if found and not allow_own and generated_by_us(found[0]):
            ours.append(found[0])
        elif found:
            pairs.append((rel.parts[0], img, found[0]))
    if ours:
        log.warning("%s", own_labels_warning(ours, root / "derivatives" / "labels", use="training labels"))
    return pairs


def load_bids_case(subject: str, image_path: Path, label_path: Path, spacing_mm: float,
                   slab_mm: float = DEFAULT_SLAB_THICKNESS_MM,
                   channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM) -> BidsCase:
    """Prepare a real labelled image: slab around the labels' mid-sagittal plane (one per
    lateral channel offset, mm), with the landmark labels of a ``LANDMARK_SUFFIX`` file beside
    ``label_path`` when there is one."""
    image = load_image(image_path)
    points = read_disc_labels(label_path)
    if not points:
        raise DataError(f"{label_path}: no disc label")
    can = image.file_to_canonical(np.array([p.voxel for p in points], dtype=float))
    x_center = int(np.round(np.median(can[:, 0])))
    prepared = prepare_slab(image.data, image.zooms, spacing_mm, 1, slab_mm, x_center=x_center,
                            channel_offsets_mm=channel_offsets_mm)
    rc = prepared.geometry.canonical_to_model(can[:, 1:])
    discs = {p.value: (float(r), float(c)) for p, (r, c) in zip(points, rc)}
    found = [f for f in landmark_label_candidates(Path(label_path).parent, Path("."),
                                                  strip_nifti_ext(Path(image_path).name)) if f.exists()]
    landmarks: dict[int, tuple[float, float]] = {}
    if found:
        marks = read_landmark_labels(found[0])
        if marks:
            lm_can = image.file_to_canonical(np.array([p.voxel for p in marks], dtype=float))
            lm_rc = prepared.geometry.canonical_to_model(lm_can[:, 1:])
            landmarks = {p.value: (float(r), float(c)) for p, (r, c) in zip(marks, lm_rc)}
    return BidsCase(subject, Path(image_path), prepared.raw, discs, landmarks)


# ----------------------------------------------------------------------------- augmentation


def augment(sample: TrainSample, rng: np.random.Generator, strength: float = 1.0) -> TrainSample:
    """Random rotation (±8°), isotropic scale (0.9–1.1), gamma, noise; points follow exactly
    (the same transform on every channel)."""
    h, w = sample.image.shape[-2:]
    angle = np.deg2rad(rng.uniform(-8, 8) * strength)
    scale = float(np.exp(rng.uniform(-0.1, 0.1) * strength))
    c, s = np.cos(angle), np.sin(angle)
    fwd = scale * np.array([[c, -s], [s, c]])  # output = fwd @ (input - centre) + centre
    centre = np.array([(h - 1) / 2.0, (w - 1) / 2.0])
    inv = np.linalg.inv(fwd)
    image = _each_channel(sample.image, lambda im: ndimage.affine_transform(
        im, inv, offset=centre - inv @ centre, order=1, mode="constant"))
    discs = {v: tuple(fwd @ (np.array(p) - centre) + centre) for v, p in sample.discs.items()}
    landmarks = {v: tuple(fwd @ (np.array(p) - centre) + centre) for v, p in sample.landmarks.items()}
    unsure = {v: (*(fwd @ (np.array(p[:2]) - centre) + centre), p[2] * scale) for v, p in sample.unsure.items()}
    gamma = float(np.exp(rng.normal(0, 0.25 * strength)))
    image = np.clip(image, 0, 1) ** gamma
    image = image + rng.normal(0, rng.uniform(0, 0.03) * strength, image.shape)
    return TrainSample(np.clip(image, 0, 1).astype(np.float32), discs, set(sample.known), unsure, landmarks)


def _each_channel(image: np.ndarray, fn) -> np.ndarray:
    """``fn`` on an image ``(H, W)``, or on each channel of ``(C, H, W)`` (stacked back)."""
    return fn(image) if image.ndim == 2 else np.stack([fn(channel) for channel in image])


REMAP_KNOTS = 6
"""Knots of the random intensity curve of :func:`remap_intensity`."""


def remap_intensity(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The same anatomy in another look: a random smooth intensity curve, sometimes inverted.

    Real training images come from one site and one sequence (gradient echo); remapping their
    ``[0, 1]`` intensities through a random curve (sorted random knots, so tissues keep their
    order, or reversed so bright fluid turns dark as on T1) shows the network real vertebrae,
    discs and sacra in other contrasts, where the synthetic engine's look-alikes are least
    realistic. Background (0) stays 0.
    """
    knots_y = np.sort(rng.uniform(0.0, 1.0, REMAP_KNOTS))
    knots_y = (knots_y - knots_y[0]) / max(knots_y[-1] - knots_y[0], 1e-6)
    if rng.random() < 0.35:
        knots_y = 1.0 - knots_y
    knots_x = np.linspace(0.0, 1.0, REMAP_KNOTS)
    out = np.interp(np.clip(image, 0.0, 1.0), knots_x, knots_y)
    out[image <= 0] = 0.0
    return out.astype(np.float32)


# ----------------------------------------------------------------------------- batches


@dataclass
class DataSpec:
    """What a training run draws from.

    Attributes:
        spacing_mm: model pixel spacing.
        synthetic_fraction: probability that a sample is synthetic (1 = synthetic only).
        real_cases: prepared real images (may be empty).
        heights, widths: crop sizes (model px) drawn per step; multiples of the network's
            size multiple.
        augment_real: augmentation strength for real images (synthetic ones are already
            randomised; they get a lighter pass).
        real_fov_crop: probability that a real image is first cut to a random window of
            :data:`~hca_disc_label.training.sample.FOV_CROP_FRACTION` of its height. A real dataset is usually acquired with
            one field-of-view placement (e.g. always T11 to the sacrum); without this, the
            network can number discs by their distance to the image edge instead of by
            anatomy.
        real_remap: probability that a real image's intensities go through a random curve
            (:func:`remap_intensity`): real anatomy in other looks.
        real_l5_cut: probability that a real image with L4/L5 and L5/S1 labelled is cut through
            L5 (:func:`~hca_disc_label.training.sample.l5_cut`), before any ``real_fov_crop``.
        real_s1_cut: probability that a real image with L4/L5 and L5/S1 labelled is cut through
            S1 (:func:`~hca_disc_label.training.sample.s1_cut`: L5/S1 just above the lower edge, still known), after which a
            ``real_fov_crop`` only moves the upper edge. Tried after ``real_l5_cut``.
        case_weights: relative drawing weight of each real case (empty or all equal =
            uniform, drawn exactly as before weights existed).
        channel_offsets_mm: lateral offsets (mm) of the input channels' slabs; real cases
            must have been loaded with the same (``BidsCase.raw`` ``(C, H, W)``).
    """

    spacing_mm: float = 1.0
    synthetic_fraction: float = 1.0
    real_cases: list[BidsCase] = field(default_factory=list)
    heights: tuple[int, ...] = (192, 256, 320, 448)
    widths: tuple[int, ...] = (128, 192)
    augment_real: float = 1.0
    real_fov_crop: float = 0.0
    real_remap: float = 0.0
    real_l5_cut: float = 0.0
    real_s1_cut: float = 0.0
    case_weights: tuple[float, ...] = ()
    channel_offsets_mm: tuple[float, ...] = DEFAULT_CHANNEL_OFFSETS_MM


def step_shape(spec: DataSpec, seed: int, step: int) -> tuple[int, int]:
    """Crop size of a step (identical on every rank and worker)."""
    rng = np.random.default_rng([seed, step, 1_000_003])
    return int(rng.choice(spec.heights)), int(rng.choice(spec.widths))


def make_sample(spec: DataSpec, seed: int, step: int, index: int) -> TrainSample:
    """Sample ``index`` of step ``step`` (deterministic)."""
    rng = np.random.default_rng([seed, step, index])
    height, width = step_shape(spec, seed, step)
    use_real = spec.real_cases and rng.random() >= spec.synthetic_fraction
    if use_real:
        case = spec.real_cases[_draw_case(spec, rng)]
        known, unsure = known_values_real(case.discs, case.raw.shape[-2])
        known_lm, unsure_lm = known_landmarks_real(case.discs, case.raw.shape[-2], set(case.landmarks))
        known |= known_lm
        unsure.update(unsure_lm)
        image = normalise_channels(case.raw, centre_channel(spec.channel_offsets_mm))
        if spec.real_remap > 0 and rng.random() < spec.real_remap:
            image = remap_intensity(image, rng)
        base = TrainSample(image, dict(case.discs), known, unsure, dict(case.landmarks))
        sample = augment(base, rng, spec.augment_real)
        if spec.real_l5_cut > 0 and rng.random() < spec.real_l5_cut:
            sample = l5_cut(sample, rng)
        cut_in_s1 = spec.real_s1_cut > 0 and rng.random() < spec.real_s1_cut
        if cut_in_s1:
            sample = s1_cut(sample, rng)
        if spec.real_fov_crop > 0 and rng.random() < spec.real_fov_crop:
            sample = fov_crop(sample, rng, keep_bottom=cut_in_s1)
    else:
        sample = augment(synthetic_sample(rng, spec.spacing_mm, spec.channel_offsets_mm), rng, 0.5)
    return crop_to(sample, rng, height, width)


def _draw_case(spec: DataSpec, rng: np.random.Generator) -> int:
    """Index of the real case of a sample (weighted by ``spec.case_weights``)."""
    weights = np.asarray(spec.case_weights, dtype=float)
    if weights.size != len(spec.real_cases) or np.all(weights == weights[0]):
        return int(rng.integers(len(spec.real_cases)))
    return int(rng.choice(len(spec.real_cases), p=weights / weights.sum()))


def collate(samples: list[TrainSample], channel_values: list[int], stride: int) -> dict[str, np.ndarray]:
    """Stack samples into arrays for the loss.

    ``channel_values`` lists the disc values then the landmark codes of the network's channels.

    Returns:
        dict with ``image (B,C,H,W)`` (C = 1 for ``(H, W)`` samples), ``coords (B,V,2)`` heatmap px (NaN when absent),
        ``present (B,V)`` bool, ``mask (B,V,h,w)`` float32 in {0, 1} on the heatmap grid
        (1 = target known at that pixel).
    """
    from hca_disc_label.inference.heatmaps import model_to_heatmap

    n, v = len(samples), len(channel_values)
    images = np.stack([s.image for s in samples]).astype(np.float32)
    images = images[:, None] if images.ndim == 3 else images
    h, w = images.shape[2] // stride, images.shape[3] // stride
    coords = np.full((n, v, 2), np.nan, dtype=np.float32)
    present = np.zeros((n, v), dtype=bool)
    mask = np.zeros((n, v, h, w), dtype=np.float32)
    grid_r = np.arange(h, dtype=np.float32)[:, None]
    grid_c = np.arange(w, dtype=np.float32)[None, :]
    for b, s in enumerate(samples):
        points = {**s.discs, **s.landmarks}
        for k, value in enumerate(channel_values):
            if value in points:
                coords[b, k] = model_to_heatmap(np.array(points[value]), stride)
                present[b, k] = True
            if value not in s.known:
                continue
            mask[b, k] = 1.0
            if value in s.unsure and value not in s.discs:
                row, col, radius = s.unsure[value]
                (r, c), rad = model_to_heatmap(np.array([row, col]), stride), radius / stride
                mask[b, k][(grid_r - r) ** 2 + (grid_c - c) ** 2 <= rad**2] = 0.0
    return {"image": images, "coords": coords, "present": present, "mask": mask}
