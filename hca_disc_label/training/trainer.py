"""Training loop: RMSprop + HCA loss, checkpoints/resume, validation in mm, DDP, model folder.

Runs single-process or under ``torchrun`` (DistributedDataParallel: NCCL on GPUs, gloo on
CPU; :mod:`.distributed`). The global batch is ``batch_size``; each of ``W`` processes
computes ``batch_size / W`` samples of it (see :mod:`hca_disc_label.training.data` for the
deterministic sampling), and ``micro_batches`` splits a process's share further with
gradient accumulation. :func:`train` is :class:`Trainer`: set up, resume, step, validate,
export. The configuration is :mod:`.config`, the subject split :mod:`.split`, validation
:mod:`.validation`, checkpoints :mod:`.checkpoint`.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np

from hca_disc_label.errors import HCAError
from hca_disc_label.training.checkpoint import BEST_NAME, CHECKPOINT_NAME, BestCheckpoint, Checkpoint
from hca_disc_label.training.config import TrainConfig, TrainResult
from hca_disc_label.training.data import BidsCase, DataSpec, step_shape
from hca_disc_label.training.distributed import init_distributed, pick_device
from hca_disc_label.training.network import start_network
from hca_disc_label.training.split import case_weights, split_real
from hca_disc_label.training.stream import StepStream, step_batches
from hca_disc_label.training.validation import validate, validation_set

log = logging.getLogger(__name__)

METRICS_NAME = "metrics.csv"
METRIC_FIELDS = ("step", "loss", "heatmap", "skeleton", "alpha", "shape", "seconds", "val_score_mm",
                 "val_median_mm", "val_identity", "val_extra")


def _append_metrics(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRIC_FIELDS, restval="")
        if new:
            writer.writeheader()
        writer.writerow(row)


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


class Trainer:
    """One training run: :meth:`run` = set up (here), :meth:`resume`, then :meth:`step` over the
    data stream with :meth:`validate` and checkpoints, then :meth:`export`.

    Set-up order matters for exactness: the seed is set before the network is built, and the
    run folder is created only once ``-init`` has resolved (a bad model leaves no folder).
    """

    def __init__(self, config: TrainConfig):
        import torch

        from hca_disc_label.model.loss import HCALoss

        self.config = config
        self.device = pick_device(config.device)
        self.dist = init_distributed(self.device)
        torch.manual_seed(config.seed)
        self.out_dir = Path(config.out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        _check_out_dir(self.out_dir)
        # -init is resolved before the run folder exists: a bad model leaves no empty folder behind
        net, self.arch, self.values, self.init_desc, self.offsets = start_network(config)
        if self.dist.main:
            try:
                self.ckpt_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HCAError(f"{self.out_dir}: cannot create the run folder ({exc.strerror or exc})") from None
        self.stride, self.multiple = net.output_stride, net.size_multiple
        for h in config.heights + config.widths:
            if h % self.multiple:
                raise HCAError(f"crop size {h} is not a multiple of the network's size multiple {self.multiple}")
        self.net = net.to(self.device).train()
        self.criterion = HCALoss(lambda_sk=config.lambda_sk, foreground_weight=config.foreground_weight).to(self.device)
        self.optimizer = torch.optim.RMSprop(list(self.net.parameters()) + list(self.criterion.parameters()),
                                             lr=config.lr)
        self.start, self.best, self.losses = 0, None, []
        self.last = self.ckpt_dir / CHECKPOINT_NAME
        self.model = self.net  # what steps call: the network, or its DDP wrapper
        self.train_cases: list[BidsCase] = []
        self.val_cases: list[BidsCase] = []
        self.val_items: list = []

    def resume(self) -> None:
        """Continue from ``checkpoints/last.pt``: weights, loss, optimiser, step, best, losses."""
        if not self.last.exists():
            raise HCAError(f"-resume: no checkpoint at {self.last}")
        ckpt = Checkpoint.load(self.last, self.device)
        self.net.load_state_dict(ckpt.model)
        self.criterion.load_state_dict(ckpt.loss)
        self.optimizer.load_state_dict(ckpt.optimizer)
        self.start, self.best, self.losses = ckpt.step, ckpt.best, ckpt.losses
        log.info("resuming from step %d", self.start)

    def _wrap_distributed(self) -> None:
        import torch
        from torch.nn.parallel import DistributedDataParallel as DDP

        if self.device == "cuda":
            self.net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.net)
        self.model = DDP(self.net, device_ids=[self.dist.local_rank] if self.device == "cuda" else None)

    def _data(self) -> tuple[DataSpec, StepStream]:
        """Split the real data, and this rank's stream of steps (from the resumed step)."""
        config, dist = self.config, self.dist
        self.train_cases, self.val_cases = split_real(config, self.offsets) if config.bids else ([], [])
        spec = DataSpec(spacing_mm=config.spacing_mm,
                        synthetic_fraction=config.synthetic_fraction if self.train_cases else 1.0,
                        real_cases=self.train_cases, heights=tuple(config.heights), widths=tuple(config.widths),
                        real_fov_crop=config.real_fov_crop, real_remap=config.real_remap,
                        real_l5_cut=config.real_l5_cut, real_s1_cut=config.real_s1_cut,
                        case_weights=case_weights(self.train_cases, config.oversample),
                        channel_offsets_mm=self.offsets)
        if config.batch_size % dist.world:
            raise HCAError(f"batch size {config.batch_size} is not divisible by {dist.world} processes")
        self.share = config.batch_size // dist.world
        indices = list(range(dist.rank * self.share, (dist.rank + 1) * self.share))
        stream = StepStream(spec, config.seed, self.start, config.steps, indices, config.micro_batches,
                             self.values, self.stride)
        self.val_items = validation_set(config, self.val_cases, spec) if dist.main else []
        return spec, stream

    def step(self, step: int, micro: list[dict], spec: DataSpec) -> dict:
        """One optimisation step; the metrics row of it (``step`` counts steps done)."""
        import torch

        config = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        step_loss, out = train_step(self.model, self.criterion, self.optimizer, micro, self.share, config.sigma_px,
                                    self.device, distributed=self.dist.world > 1)
        if self.dist.world > 1:
            t = torch.tensor([step_loss], device=self.device)
            torch.distributed.all_reduce(t)
            step_loss = float(t) / self.dist.world
        self.losses.append(step_loss)
        return {"step": step + 1, "loss": step_loss, "heatmap": float(out["heatmap"].detach()),
                "skeleton": float(out["skeleton"].detach()), "alpha": float(self.criterion.alpha.detach()),
                "shape": "x".join(map(str, step_shape(spec, config.seed, step)))}

    def validate(self, done: int, row: dict) -> None:
        """Validate, add ``val_*`` to ``row``, and keep ``best.pt`` when the score improves."""
        v = validate(self.net, self.val_items, self.values, self.stride, self.multiple, self.config.spacing_mm,
                     self.device)
        row.update({f"val_{k}": round(val, 4) for k, val in v.items()})
        if self.best is None or v["score_mm"] < self.best:
            self.best = v["score_mm"]
            BestCheckpoint(self.net.state_dict(), done, v).save(self.ckpt_dir / BEST_NAME)
        log.info("step %d: val score %.2f mm (best %.2f), median %.2f mm, identity %.0f%%",
                 done, v["score_mm"], self.best, v["median_mm"], 100 * v["identity"])

    def save(self, done: int) -> None:
        """Write ``checkpoints/last.pt``."""
        Checkpoint(self.net.state_dict(), self.criterion.state_dict(), self.optimizer.state_dict(), done, self.best,
                   self.losses, self.config.to_json()).save(self.last)

    def run(self) -> TrainResult:
        """Resume if asked, train to ``config.steps``, export; the result."""
        import torch

        config, dist = self.config, self.dist
        if config.resume:
            self.resume()
        if dist.world > 1:
            self._wrap_distributed()
        spec, stream = self._data()
        metrics_path = self.out_dir / METRICS_NAME
        bar = None
        if config.progress and dist.main:
            from tqdm import tqdm

            bar = tqdm(total=config.steps, initial=self.start, desc="train", unit="step", dynamic_ncols=True)
        t0, seen = time.perf_counter(), 0
        for step, micro in step_batches(stream, config.workers):
            row = self.step(step, micro, spec)
            seen += config.batch_size
            done = step + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{row['loss']:.5f}")
            row["seconds"] = round(time.perf_counter() - t0, 2)
            is_val = self.val_items and (done % config.val_every == 0 or done == config.steps)
            if is_val:
                self.validate(done, row)
            if dist.main:
                _append_metrics(metrics_path, row)
                if is_val or done == config.steps or done % 50 == 0:
                    self.save(done)
        if bar is not None:
            bar.close()
        elapsed = time.perf_counter() - t0
        ips = seen / elapsed if elapsed > 0 else 0.0
        model_dir = self.export(ips) if dist.main else None
        if dist.world > 1:
            torch.distributed.barrier()
        return TrainResult(model_dir, config.steps, self.best, self.losses, ips)

    def export(self, ips: float) -> Path:
        """Write ``out_dir/model``: best (else last) weights, card, ONNX."""
        from hca_disc_label.weights.release import write_trained_model

        config, net = self.config, self.net
        best_path = self.ckpt_dir / BEST_NAME
        state, val = net.state_dict(), None
        if best_path.exists():
            saved = BestCheckpoint.load(best_path)
            state, val = saved.model, saved.val
        contract = {
            "pixel_spacing_mm": config.spacing_mm,
            "slab_thickness_mm": config.slab_mm,
            "normalisation": "percentile",
            "low_percentile": 1.0,
            "high_percentile": 99.5,
            "size_multiple": int(net.size_multiple),
            "output_stride": int(net.output_stride),
            "heatmap_sigma_px": config.sigma_px,
            "channel_offsets_mm": list(self.offsets),
        }
        return write_trained_model(
            Path(config.out_dir) / "model", state, self.arch, self.values, contract, name=config.name,
            version=config.version, training=self._training_record(ips),
            validation={"internal": val, "best_score_mm": self.best}, with_onnx=config.export_onnx,
        )

    def _training_record(self, ips: float) -> dict:
        """The card's ``training_data``: how the run was made, on which subjects."""
        config, train_cases = self.config, self.train_cases
        return {
            "command": config.command_line,
            "seed": config.seed,
            "split_seed": config.effective_split_seed,
            "steps": config.steps,
            "batch_size": config.batch_size,
            "optimizer": f"RMSprop lr {config.lr} ({config.lr_schedule})",
            "lambda_sk": config.lambda_sk,
            "foreground_weight": config.foreground_weight,
            "sigma_px": config.sigma_px,
            "init": self.init_desc,
            "data": {
                "synthetic_fraction": config.synthetic_fraction if train_cases else 1.0,
                "real_fov_crop": config.real_fov_crop if train_cases else 0.0,
                "real_remap": config.real_remap if train_cases else 0.0,
                "bids": [str(p) for p in config.bids],
                "holdout": list(config.holdout),
                "oversample": [list(o) for o in config.oversample],
                "train_subjects": sorted({c.subject for c in train_cases}),
                "val_subjects": sorted({c.subject for c in self.val_cases}),
            },
            "images_per_second": round(ips, 2),
            "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores".strip(),
            "date": time.strftime("%Y-%m-%d"),
        }


def train(config: TrainConfig) -> TrainResult:
    """Train HCA-Net and write a self-describing model folder to ``out_dir/model``.

    Raises:
        HCAError: bad data, missing checkpoint for ``resume``, unavailable device.
    """
    return Trainer(config).run()


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
