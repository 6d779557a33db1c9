"""What a training run is asked to do: :class:`TrainConfig` (recorded in the model card) and
what it returns, :class:`TrainResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from hca_disc_label.contract import DEFAULT_SLAB_THICKNESS_MM


@dataclass
class TrainConfig:
    """Everything a training run needs (recorded in the model card).

    Attributes:
        out_dir: run folder (checkpoints, metrics.csv, model/).
        architecture: ModelConfig dict; ignored when ``init`` gives a model.
        steps: optimisation steps (each = one global batch).
        batch_size: global batch size.
        lr: RMSprop learning rate (paper: 2.5e-4).
        lr_schedule: "constant" (paper) or "cosine" (decay to 5 % of ``lr`` over ``steps``).
        lambda_sk: skeleton-loss weight (paper: 2e-4).
        foreground_weight: peak-pixel weight of the heatmap MSE (0 = the paper's plain MSE).
        seed: data/initialisation seed.
        split_seed: seed of the train/validation subject split and of the synthetic
            validation images (None = ``seed``); fixing it lets a continued run draw new
            training samples while validating on the same held-out subjects.
        spacing_mm, slab_mm: input contract of the produced model.
        channel_offsets_mm: lateral offsets (mm) of the input channels' slabs (the model's
            ``input.channel_offsets_mm``; ``architecture.in_channels`` = their number); None =
            the ``init`` model's, else ``(0.0,)`` (one channel). A one-channel ``init`` model
            asked for more is inflated (:func:`~hca_disc_label.model.build.inflate_input_channels`).
        sigma_px: Gaussian target sigma in heatmap pixels.
        synthetic_fraction: share of synthetic samples when real data is given.
        real_fov_crop: probability of cutting a real image to a random part of its height
            (see :class:`~hca_disc_label.training.data.DataSpec`).
        real_remap: probability of a random intensity curve on a real image (same place).
        real_l5_cut: probability of cutting a real image through L5 (same place).
        real_s1_cut: probability of cutting a real image through S1, L5/S1 kept (same place).
        bids: BIDS datasets to train on; val_fraction of their subjects are held out.
        holdout: subjects always held out (validated on, never trained on), before the seeded
            ``val_fraction`` split of the others: the subject-wise folds of a benchmark.
        allow_own_labels: also train on label files whose sidecar says hca_disc_label wrote
            them (pseudo-labels, on purpose); by default they are left out with a warning.
        oversample: ``(subject prefix, factor)`` pairs: real subjects whose name starts with the
            prefix are drawn ``factor`` times as often (a small real set, e.g. ``sub-zuk``,
            among many others).
        val_synthetic: number of fixed synthetic validation images.
        val_every: validate (and maybe save best) every this many steps.
        init: model to fine-tune from (registry NAME[@VERSION] or folder); None = scratch.
        landmarks: also predict the landmark channels of
            :data:`~hca_disc_label.conventions.LANDMARKS` (after the disc channels); an
            ``init`` model without them gets them added (:func:`~hca_disc_label.model.build.add_output_channels`).
        widen: feature channels of the network when fine-tuning (``init`` widened by
            :func:`~hca_disc_label.model.build.widen_network`, starting exactly as the old one);
            None = the ``init`` model's width.
        resume: continue from ``out_dir/checkpoints/last.pt``.
        micro_batches: gradient accumulation chunks per process.
        workers: data-loading worker processes.
        device: "auto" | "cpu" | "cuda".
        name, version: of the exported model.
        heights, widths: crop sizes.
        progress: show a progress bar.
        export_onnx: also export model.onnx into the model folder.
        command_line: recorded in the card.
    """

    out_dir: Path
    architecture: dict | None = None
    steps: int = 1000
    batch_size: int = 4
    lr: float = 2.5e-4
    lr_schedule: str = "constant"
    lambda_sk: float = 2e-4
    foreground_weight: float = 10.0
    seed: int = 0
    split_seed: int | None = None
    spacing_mm: float = 1.0
    slab_mm: float = DEFAULT_SLAB_THICKNESS_MM
    channel_offsets_mm: tuple[float, ...] | None = None
    sigma_px: float = 1.5
    synthetic_fraction: float = 1.0
    real_fov_crop: float = 0.0
    real_remap: float = 0.0
    real_l5_cut: float = 0.0
    real_s1_cut: float = 0.0
    bids: list[Path] = field(default_factory=list)
    val_fraction: float = 0.2
    holdout: tuple[str, ...] = ()
    oversample: tuple[tuple[str, float], ...] = ()
    allow_own_labels: bool = False
    val_synthetic: int = 16
    val_every: int = 200
    init: str | None = None
    landmarks: bool = False
    widen: int | None = None
    resume: bool = False
    micro_batches: int = 1
    workers: int = 1
    device: str = "auto"
    name: str = "hca-custom"
    version: str = "0.1.0"
    heights: tuple[int, ...] = (192, 256, 320, 448)
    widths: tuple[int, ...] = (128, 192)
    progress: bool = True
    export_onnx: bool = True
    command_line: str = ""

    @property
    def effective_split_seed(self) -> int:
        """The seed of the subject split and the synthetic validation images (``split_seed``,
        else ``seed``)."""
        return self.seed if self.split_seed is None else self.split_seed

    def to_json(self) -> dict:
        """The configuration as JSON values (paths as strings), as checkpoints record it."""
        return _jsonable(asdict(self))


@dataclass
class TrainResult:
    """Outcome of :func:`~hca_disc_label.training.trainer.train`."""

    model_dir: Path | None
    steps_done: int
    best_score_mm: float | None
    losses: list[float]
    images_per_second: float


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj
