"""Training loop: RMSprop + HCA loss, checkpoints/resume, validation in mm, DDP, model folder.

Runs single-process or under ``torchrun`` (DistributedDataParallel: NCCL on GPUs, gloo on
CPU). The global batch is ``batch_size``; each of ``W`` processes computes ``batch_size / W``
samples of it (see :mod:`hca_disc_label.training.data` for the deterministic sampling), and
``micro_batches`` splits a process's share further with gradient accumulation.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import platform
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hca_disc_label.conventions import DISC_VALUES, LANDMARKS
from hca_disc_label.errors import DataError, HCAError
from hca_disc_label.training.data import DataSpec, collate, make_sample, step_shape

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
BEST_NAME = "best.pt"
METRICS_NAME = "metrics.csv"
MISS_PENALTY_MM = 20.0
"""Distance charged to a validation disc that is missing or mislabelled (mm)."""


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
        sigma_px: Gaussian target sigma in heatmap pixels.
        synthetic_fraction: share of synthetic samples when real data is given.
        real_fov_crop: probability of cutting a real image to a random part of its height
            (see :class:`~hca_disc_label.training.data.DataSpec`).
        real_remap: probability of a random intensity curve on a real image (same place).
        real_l5_cut: probability of cutting a real image through L5 (same place).
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
    slab_mm: float = 6.0
    sigma_px: float = 1.5
    synthetic_fraction: float = 1.0
    real_fov_crop: float = 0.0
    real_remap: float = 0.0
    real_l5_cut: float = 0.0
    bids: list[Path] = field(default_factory=list)
    val_fraction: float = 0.2
    holdout: tuple[str, ...] = ()
    oversample: tuple[tuple[str, float], ...] = ()
    allow_own_labels: bool = False
    val_synthetic: int = 16
    val_every: int = 200
    init: str | None = None
    landmarks: bool = False
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


@dataclass
class TrainResult:
    """Outcome of :func:`train`."""

    model_dir: Path | None
    steps_done: int
    best_score_mm: float | None
    losses: list[float]
    images_per_second: float


# ----------------------------------------------------------------------------- distributed


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: str) -> _Dist:
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")
    info = _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    if device == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def _pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise HCAError("-device cuda: no CUDA GPU is visible to PyTorch")
    return device


# ----------------------------------------------------------------------------- data


class _StepStream:
    """Iterable over (step, list of micro-batches) for this rank, from ``start`` to ``stop``."""

    def __init__(self, spec: DataSpec, seed: int, start: int, stop: int, indices: list[int],
                 micro_batches: int, channel_values: list[int], stride: int):
        self.spec, self.seed, self.start, self.stop = spec, seed, start, stop
        self.indices, self.micro, self.values, self.stride = indices, micro_batches, channel_values, stride

    def batch(self, step: int) -> list[dict]:
        samples = [make_sample(self.spec, self.seed, step, i) for i in self.indices]
        chunks = np.array_split(np.arange(len(samples)), self.micro)
        return [collate([samples[i] for i in c], self.values, self.stride) for c in chunks if len(c)]


def _loader(stream: _StepStream, workers: int):
    """Yield (step, micro-batches), generated by worker processes when ``workers > 0``."""
    if workers <= 0:
        for step in range(stream.start, stream.stop):
            yield step, stream.batch(step)
        return
    import torch
    from torch.utils.data import DataLoader, Dataset

    class _Steps(Dataset):
        def __len__(self):
            return stream.stop - stream.start

        def __getitem__(self, k):
            step = stream.start + k
            return step, stream.batch(step)

    loader = DataLoader(_Steps(), batch_size=None, shuffle=False, num_workers=workers,
                        prefetch_factor=4, persistent_workers=False,
                        worker_init_fn=lambda _: torch.set_num_threads(1))
    yield from loader


def _split_seed(config: TrainConfig) -> int:
    return config.seed if config.split_seed is None else config.split_seed


def split_subjects(subjects: Iterable[str], val_fraction: float, split_seed: int,
                   holdout: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """``(training subjects, validation subjects)``, sorted: ``holdout`` always validates, and a
    seeded ``val_fraction`` of the others (the trainer's split, also used to rebuild its
    held-out set for evaluation)."""
    held = set(holdout)
    rest = sorted(set(subjects) - held)
    rng = np.random.default_rng(split_seed)
    rng.shuffle(rest)
    n_val = int(round(val_fraction * len(rest))) if len(rest) > 1 else 0
    val = set(rest[:n_val]) | held
    return sorted(set(subjects) - val), sorted(val)


def _split_real(config: TrainConfig) -> tuple[list, list]:
    """Load BIDS cases and split them by subject (seeded)."""
    from hca_disc_label.training.data import find_bids_pairs, load_bids_case

    pairs = [p for root in config.bids for p in find_bids_pairs(Path(root), allow_own=config.allow_own_labels)]
    if config.bids and not pairs:
        raise DataError(f"no labelled T1w/T2w image found in {', '.join(map(str, config.bids))}")
    everyone = {s for s, _, _ in pairs}
    unknown = set(config.holdout) - everyone
    if unknown:
        raise DataError(f"-holdout names subjects not in the data: {', '.join(sorted(unknown))}")
    _, val_subjects = split_subjects(everyone, config.val_fraction, _split_seed(config), config.holdout)
    train, val = [], []
    for subject, img, lab in pairs:
        case = load_bids_case(subject, img, lab, config.spacing_mm, config.slab_mm)
        (val if subject in val_subjects else train).append(case)
    return train, val


def case_weights(cases: list, oversample: tuple[tuple[str, float], ...]) -> tuple[float, ...]:
    """Drawing weight of each real case (1, or the factor of the first matching prefix)."""
    return tuple(next((f for prefix, f in oversample if c.subject.startswith(prefix)), 1.0) for c in cases)


# ----------------------------------------------------------------------------- model


def _build(config: TrainConfig):
    """(network, architecture dict, channel values, init description)."""
    from hca_disc_label.model.build import build_torch_model
    from hca_disc_label.model.hca_net import COMPACT_CONFIG

    if config.init:
        from hca_disc_label.weights import resolve_model

        folder = resolve_model(config.init)
        values = list(folder.channel_values)
        net = build_torch_model(folder.architecture, folder.weights_path)
        missing = [c for c in LANDMARKS if c not in values] if config.landmarks else []
        if missing:
            from hca_disc_label.model.build import add_output_channels

            net = add_output_channels(net, len(missing), seed=config.seed)
            values += missing
        arch = {**folder.architecture, "num_classes": len(values)}
        return net, arch, values, f"{folder.name}@{folder.version}"
    arch = dict(config.architecture or COMPACT_CONFIG.to_dict())
    values = list(DISC_VALUES)[: int(arch.get("num_classes", len(DISC_VALUES)))]
    values += list(LANDMARKS) if config.landmarks else []
    arch["num_classes"] = len(values)
    return build_torch_model(arch, None), arch, values, None


# ----------------------------------------------------------------------------- validation


def _validation_set(config: TrainConfig, val_cases: list, spec: DataSpec) -> list[tuple[str, np.ndarray, dict]]:
    """Fixed validation images: held-out real subjects (whole slab) + seeded synthetic slabs."""
    from hca_disc_label.preprocessing import normalise
    from hca_disc_label.training.data import synthetic_sample

    items = [(f"real:{c.subject}", normalise(c.raw), c.discs) for c in val_cases]
    for k in range(config.val_synthetic):
        s = synthetic_sample(np.random.default_rng([_split_seed(config), 999_999, k]), spec.spacing_mm)
        items.append((f"synth:{k}", s.image, s.discs))
    return items


def validate(net, items, channel_values: list[int], stride: int, multiple: int, spacing_mm: float,
             device: str) -> dict[str, float]:
    """Run the real decoder on each validation image; distances in mm.

    Returns:
        ``score_mm`` (mean per ground-truth disc of its distance, ``MISS_PENALTY_MM`` when the
        value is missing or farther), ``median_mm`` over found discs, ``identity`` (fraction of
        GT discs found with the right value within 10 mm), ``extra`` (predicted values absent
        from GT, per image).
    """
    import torch

    from hca_disc_label.contract import InputContract
    from hca_disc_label.inference.backends import TorchBackend
    from hca_disc_label.labeller import Labeller, ModelInfo
    from hca_disc_label.preprocessing import pad_to_multiple

    info = ModelInfo("validation", "0.0.0", "", tuple(channel_values), InputContract(spacing_mm, multiple, stride))
    labeller = Labeller.from_engine(TorchBackend(net, device), info)  # the same decoding as hca_label
    was_training = net.training
    net.eval()
    charged, found, hits, total, extra = [], [], 0, 0, 0
    with torch.inference_mode():
        for _, image, discs in items:
            detected = labeller.detect(pad_to_multiple(image, multiple), valid_shape=image.shape)
            pred = {d.value: (d.row, d.col) for d in detected}
            for v, (r, c) in discs.items():
                total += 1
                if v in pred:
                    dist = spacing_mm * float(np.hypot(pred[v][0] - r, pred[v][1] - c))
                    found.append(dist)
                    hits += dist <= 10.0
                    charged.append(min(dist, MISS_PENALTY_MM))
                else:
                    charged.append(MISS_PENALTY_MM)
            extra += len(set(pred) - set(discs))
    net.train(was_training)
    return {
        "score_mm": float(np.mean(charged)) if charged else float("nan"),
        "median_mm": float(np.median(found)) if found else float("nan"),
        "identity": hits / max(total, 1),
        "extra": extra / max(len(items), 1),
    }


# ----------------------------------------------------------------------------- checkpoints


def _save_checkpoint(path: Path, state: dict) -> None:
    import torch

    from hca_disc_label.io import atomic_write

    atomic_write(path, lambda tmp: torch.save(state, str(tmp)))


METRIC_FIELDS = ("step", "loss", "heatmap", "skeleton", "alpha", "shape", "seconds", "val_score_mm",
                 "val_median_mm", "val_identity", "val_extra")


def _append_metrics(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRIC_FIELDS, restval="")
        if new:
            writer.writeheader()
        writer.writerow(row)


# ----------------------------------------------------------------------------- main loop


def _check_out_dir(out_dir: Path) -> None:
    """``-ofolder`` must be a folder (or not exist yet) under a writable parent.

    Raises:
        HCAError: it is a file, or a part of its path is a file.
    """
    for part in [out_dir, *out_dir.parents]:
        if part.exists():
            if not part.is_dir():
                raise HCAError(f"{out_dir}: -ofolder must be a folder, but {part} is a file")
            return


def train(config: TrainConfig) -> TrainResult:
    """Train HCA-Net and write a self-describing model folder to ``out_dir/model``.

    Raises:
        HCAError: bad data, missing checkpoint for ``resume``, unavailable device.
    """
    import torch

    from hca_disc_label.model.loss import HCALoss

    device = _pick_device(config.device)
    dist = _init_distributed(device)
    torch.manual_seed(config.seed)
    out_dir = Path(config.out_dir)
    ckpt_dir = out_dir / "checkpoints"
    _check_out_dir(out_dir)
    # -init is resolved before the run folder exists: a bad model leaves no empty folder behind
    net, arch, values, init_desc = _build(config)
    if dist.main:
        try:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HCAError(f"{out_dir}: cannot create the run folder ({exc.strerror or exc})") from None
    stride, multiple = net.output_stride, net.size_multiple
    for h in config.heights + config.widths:
        if h % multiple:
            raise HCAError(f"crop size {h} is not a multiple of the network's size multiple {multiple}")
    net = net.to(device).train()
    criterion = HCALoss(lambda_sk=config.lambda_sk, foreground_weight=config.foreground_weight).to(device)
    params = list(net.parameters()) + list(criterion.parameters())
    optimizer = torch.optim.RMSprop(params, lr=config.lr)
    start, best, losses = 0, None, []
    last = ckpt_dir / CHECKPOINT_NAME
    if config.resume:
        if not last.exists():
            raise HCAError(f"-resume: no checkpoint at {last}")
        state = torch.load(str(last), map_location=device, weights_only=False)
        net.load_state_dict(state["model"])
        criterion.load_state_dict(state["loss"])
        optimizer.load_state_dict(state["optimizer"])
        start, best, losses = int(state["step"]), state.get("best"), list(state.get("losses", []))
        log.info("resuming from step %d", start)
    model = net
    if dist.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if device == "cuda":
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        model = DDP(net, device_ids=[dist.local_rank] if device == "cuda" else None)

    train_cases, val_cases = _split_real(config) if config.bids else ([], [])
    spec = DataSpec(spacing_mm=config.spacing_mm,
                    synthetic_fraction=config.synthetic_fraction if train_cases else 1.0,
                    real_cases=train_cases, heights=tuple(config.heights), widths=tuple(config.widths),
                    real_fov_crop=config.real_fov_crop, real_remap=config.real_remap,
                    real_l5_cut=config.real_l5_cut,
                    case_weights=case_weights(train_cases, config.oversample))
    if config.batch_size % dist.world:
        raise HCAError(f"batch size {config.batch_size} is not divisible by {dist.world} processes")
    share = config.batch_size // dist.world
    indices = list(range(dist.rank * share, (dist.rank + 1) * share))
    stream = _StepStream(spec, config.seed, start, config.steps, indices, config.micro_batches, values, stride)
    val_items = _validation_set(config, val_cases, spec) if dist.main else []
    metrics_path = out_dir / METRICS_NAME

    bar = None
    if config.progress and dist.main:
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=start, desc="train", unit="step", dynamic_ncols=True)
    t0, seen = time.perf_counter(), 0
    for step, micro in _loader(stream, config.workers):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        step_loss, out = train_step(model, criterion, optimizer, micro, share, config.sigma_px, device,
                                    distributed=dist.world > 1)
        seen += config.batch_size
        if dist.world > 1:
            t = torch.tensor([step_loss], device=device)
            torch.distributed.all_reduce(t)
            step_loss = float(t) / dist.world
        losses.append(step_loss)
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.5f}")
        row = {"step": done, "loss": step_loss, "heatmap": float(out["heatmap"].detach()),
               "skeleton": float(out["skeleton"].detach()), "alpha": float(criterion.alpha.detach()),
               "shape": "x".join(map(str, step_shape(spec, config.seed, step))),
               "seconds": round(time.perf_counter() - t0, 2)}
        is_val = val_items and (done % config.val_every == 0 or done == config.steps)
        if is_val:
            v = validate(net, val_items, values, stride, multiple, config.spacing_mm, device)
            row.update({f"val_{k}": round(val, 4) for k, val in v.items()})
            if best is None or v["score_mm"] < best:
                best = v["score_mm"]
                _save_checkpoint(ckpt_dir / BEST_NAME, {"model": net.state_dict(), "step": done, "val": v})
            log.info("step %d: val score %.2f mm (best %.2f), median %.2f mm, identity %.0f%%",
                     done, v["score_mm"], best, v["median_mm"], 100 * v["identity"])
        if dist.main:
            _append_metrics(metrics_path, row)
            if is_val or done == config.steps or done % 50 == 0:
                _save_checkpoint(last, {"model": net.state_dict(), "loss": criterion.state_dict(),
                                        "optimizer": optimizer.state_dict(), "step": done, "best": best,
                                        "losses": losses, "config": _jsonable(asdict(config))})
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - t0
    ips = seen / elapsed if elapsed > 0 else 0.0
    model_dir = None
    if dist.main:
        model_dir = _export(config, net, arch, values, ckpt_dir, init_desc, ips, train_cases, val_cases, best)
    if dist.world > 1:
        torch.distributed.barrier()
    return TrainResult(model_dir, config.steps, best, losses, ips)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Learning rate at a step (a pure function of the step, so resume is exact)."""
    if config.lr_schedule == "constant":
        return config.lr
    if config.lr_schedule == "cosine":
        t = min(1.0, step / max(1, config.steps))
        return config.lr * (0.05 + 0.95 * 0.5 * (1.0 + np.cos(np.pi * t)))
    raise HCAError(f"unknown learning-rate schedule {config.lr_schedule!r} (constant or cosine)")


def train_step(model, criterion, optimizer, micro: list[dict], share: int, sigma_px: float, device: str,
               distributed: bool = False) -> tuple[float, dict]:
    """One optimisation step over a process's micro-batches (gradient accumulation).

    Args:
        model: the network (or its DDP wrapper); called as ``model(x, all_outputs=True)``.
        criterion: :class:`~hca_disc_label.model.loss.HCALoss`.
        optimizer: optimiser over the network's and the loss's parameters.
        micro: collated micro-batches (see :func:`~hca_disc_label.training.data.collate`).
        share: number of samples this process handles in the step (weights the chunks).
        sigma_px: Gaussian target sigma in heatmap pixels.
        device: torch device.
        distributed: gradients are synchronised only on the last micro-batch.

    Returns:
        ``(loss of this process's share, loss dict of the last micro-batch)``.
    """
    import torch

    from hca_disc_label.model.loss import render_gaussian_targets

    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    out: dict = {}
    for m, mb in enumerate(micro):
        x = torch.as_tensor(mb["image"]).to(device).contiguous(memory_format=torch.channels_last)
        coords = torch.as_tensor(mb["coords"]).to(device)
        present = torch.as_tensor(mb["present"]).to(device)
        mask = torch.as_tensor(mb["mask"]).to(device)
        last = m == len(micro) - 1
        ctx = model.no_sync() if (distributed and not last) else contextlib.nullcontext()
        with ctx:
            merged, inter = model(x, all_outputs=True)
            target = render_gaussian_targets(coords, present, merged.shape[-2:], sigma_px)
            out = criterion(merged, inter, target, mask, coords, present)
            weight = len(mb["image"]) / share
            (out["total"] * weight).backward()
        total += float(out["total"].detach()) * weight
    if distributed:
        # the loss's own parameter (alpha) lives outside DDP: average its gradient by hand
        import torch.distributed as tdist

        for p in criterion.parameters():
            # every rank must join the reduction, also one whose batch gave alpha no gradient
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            tdist.all_reduce(p.grad)
            p.grad /= tdist.get_world_size()
    optimizer.step()
    return total, out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _export(config: TrainConfig, net, arch: dict, values: list[int], ckpt_dir: Path, init_desc,
            ips: float, train_cases, val_cases, best) -> Path:
    """Write ``out_dir/model``: best (else last) weights, card, ONNX."""
    import torch

    from hca_disc_label.weights.release import write_trained_model

    best_path = ckpt_dir / BEST_NAME
    state = net.state_dict()
    val = None
    if best_path.exists():
        saved = torch.load(str(best_path), map_location="cpu", weights_only=False)
        state, val = saved["model"], saved.get("val")
    training = {
        "command": config.command_line,
        "seed": config.seed,
        "split_seed": _split_seed(config),
        "steps": config.steps,
        "batch_size": config.batch_size,
        "optimizer": f"RMSprop lr {config.lr} ({config.lr_schedule})",
        "lambda_sk": config.lambda_sk,
        "foreground_weight": config.foreground_weight,
        "sigma_px": config.sigma_px,
        "init": init_desc,
        "data": {
            "synthetic_fraction": config.synthetic_fraction if train_cases else 1.0,
            "real_fov_crop": config.real_fov_crop if train_cases else 0.0,
            "real_remap": config.real_remap if train_cases else 0.0,
            "bids": [str(p) for p in config.bids],
            "holdout": list(config.holdout),
            "oversample": [list(o) for o in config.oversample],
            "train_subjects": sorted({c.subject for c in train_cases}),
            "val_subjects": sorted({c.subject for c in val_cases}),
        },
        "images_per_second": round(ips, 2),
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores".strip(),
        "date": time.strftime("%Y-%m-%d"),
    }
    contract = {
        "pixel_spacing_mm": config.spacing_mm,
        "slab_thickness_mm": config.slab_mm,
        "normalisation": "percentile",
        "low_percentile": 1.0,
        "high_percentile": 99.5,
        "size_multiple": int(net.size_multiple),
        "output_stride": int(net.output_stride),
        "heatmap_sigma_px": config.sigma_px,
    }
    return write_trained_model(
        Path(config.out_dir) / "model", state, arch, values, contract, name=config.name,
        version=config.version, training=training, validation={"internal": val, "best_score_mm": best},
        with_onnx=config.export_onnx,
    )
