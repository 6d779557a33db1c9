"""``hca_label train``: train or fine-tune HCA-Net on synthetic and/or BIDS data.

Works single-process or under ``torchrun --nproc_per_node N -m hca_disc_label train ...``
(DistributedDataParallel; NCCL on GPUs, gloo on CPU).
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import click

from hca_disc_label.cli.common import SCTCommand, argv_of, setup_logging, verbose_option


def _architecture(value: str) -> dict | None:
    if value in ("compact", "paper"):
        from hca_disc_label.model.hca_net import COMPACT_CONFIG, PAPER_CONFIG

        return (COMPACT_CONFIG if value == "compact" else PAPER_CONFIG).to_dict()
    path = Path(value)
    if not path.is_file():
        raise click.BadParameter(f"{value!r} is neither compact, paper nor a JSON file", param_hint="-arch")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.BadParameter(f"{value}: invalid JSON ({exc})", param_hint="-arch") from None


def _sizes(value: str, hint: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint=hint) from None
    if not sizes or min(sizes) <= 0:
        raise click.BadParameter(f"sizes must be positive, got {value!r}", param_hint=hint)
    return sizes


@click.command(
    cls=SCTCommand,
    groups={"MANDATORY": ["ofolder"]},
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="Train HCA-Net from synthetic spines (no annotation needed), BIDS datasets with disc labels "
    "(derivatives/labels/.../*_label-discs_dlabel.nii.gz or *_labels-disc-manual.nii.gz), or a mix; "
    "fine-tune a released model with -init. Writes checkpoints, metrics.csv and a model folder "
    "(OFOLDER/model) that hca_label -model runs directly.",
)
@click.option("-ofolder", "ofolder", required=True, type=click.Path(path_type=Path), help="Run folder.")
@click.option("-data", "data", multiple=True, type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="BIDS dataset with disc labels (repeatable). Default: synthetic data only.")
@click.option("-synthetic-fraction", "synthetic_fraction", type=click.FloatRange(0, 1), default=None,
              help="Share of synthetic samples when -data is given.  [default: 0.5 with -data]")
@click.option("-real-fov-crop", "real_fov_crop", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Probability of cutting a real image to a random 45-90 % of its height (so numbering "
                   "cannot lean on the dataset's field-of-view placement).")
@click.option("-real-remap", "real_remap", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Probability of a random intensity curve on a real image (its anatomy in other looks).")
@click.option("-real-l5-cut", "real_l5_cut", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Probability of cutting a real image with L4/L5 and L5/S1 labelled through L5 (its "
                   "lowest disc in view is then L4/L5, no sacrum).")
@click.option("-real-s1-cut", "real_s1_cut", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Probability of cutting a real image with L4/L5 and L5/S1 labelled through S1 (L5/S1 "
                   "is then the lowest disc, just above the lower edge).")
@click.option("-init", "init", help="Fine-tune from a registry model NAME[@VERSION] or a model folder.")
@click.option("-landmarks", "landmarks", is_flag=True,
              help="Also predict the landmarks that fix the count (C2 body, S1 body, S1/S2); added to an -init "
                   "model that lacks them.")
@click.option("-channel-offsets", "channel_offsets", default=None, metavar="MM[,MM...]",
              help="Input channels: lateral offsets (mm, + = left) of each channel's slab from the "
                   "mid-sagittal slice, 0 among them, e.g. \"-12,0,12\". A one-channel -init model is widened "
                   "(its weights on the 0 channel).  [default: the -init model's, else 0]")
@click.option("-widen", "widen", type=click.IntRange(2), default=None, metavar="WIDTH",
              help="Widen the -init model's features to WIDTH channels (even, above its width); it starts "
                   "with the same output and learns with the new channels.")
@click.option("-arch", "arch", default="compact", show_default=True,
              help="Network size when not fine-tuning: compact, paper, or a JSON ModelConfig file.")
@click.option("-steps", "steps", type=click.IntRange(1), default=1000, show_default=True, help="Optimisation steps.")
@click.option("-batch", "batch", type=click.IntRange(1), default=4, show_default=True, help="Global batch size.")
@click.option("-lr", "lr", type=click.FloatRange(0, min_open=True), default=2.5e-4, show_default=True,
              help="RMSprop learning rate (paper: 2.5e-4).")
@click.option("-lr-schedule", "lr_schedule", type=click.Choice(["constant", "cosine"]), default="constant",
              show_default=True, help="Learning-rate schedule (paper: constant).")
@click.option("-lambda-sk", "lambda_sk", type=float, default=2e-4, show_default=True, help="Skeleton-loss weight.")
@click.option("-fg-weight", "fg_weight", type=click.FloatRange(0), default=10.0, show_default=True,
              help="Peak-pixel weight of the heatmap MSE (0 = the paper's plain MSE).")
@click.option("-sigma", "sigma", type=click.FloatRange(0, min_open=True), default=1.5, show_default=True,
              help="Gaussian target sigma in heatmap pixels.")
@click.option("-seed", "seed", type=int, default=0, show_default=True, help="Seed (data, split, initialisation).")
@click.option("-split-seed", "split_seed", type=int, default=None,
              help="Seed of the subject split and synthetic validation images [default: -seed].")
@click.option("-val-every", "val_every", type=click.IntRange(1), default=200, show_default=True,
              help="Validate every N steps (best checkpoint by validation distance in mm).")
@click.option("-val-fraction", "val_fraction", type=click.FloatRange(0, 0.9), default=0.2, show_default=True,
              help="Share of BIDS subjects held out for validation.")
@click.option("-holdout", "holdout", default="", metavar="SUB[,SUB...]",
              help="Subjects always held out (validated on, never trained on), e.g. one fold of a "
                   "subject-wise benchmark; -val-fraction then splits the others.")
@click.option("-oversample", "oversample", multiple=True, metavar="PREFIX:FACTOR",
              help="Draw real subjects whose name starts with PREFIX FACTOR times as often "
                   "(repeatable), e.g. sub-zuk:4.")
@click.option("-allow-own-labels", "allow_own_labels", is_flag=True,
              help="Also train on label files that hca_disc_label wrote (pseudo-labels, on purpose); "
                   "by default they are left out with a warning.")
@click.option("-val-synthetic", "val_synthetic", type=click.IntRange(0), default=16, show_default=True,
              help="Fixed synthetic validation images (added to held-out BIDS subjects).")
@click.option("-heights", "heights", default="192,256,320,448", show_default=True, help="Crop heights (px).")
@click.option("-widths", "widths", default="128,192", show_default=True, help="Crop widths (px).")
@click.option("-micro", "micro", type=click.IntRange(1), default=1, show_default=True,
              help="Gradient-accumulation chunks per process.")
@click.option("-workers", "workers", type=click.IntRange(0), default=1, show_default=True,
              help="Data-generation worker processes.")
@click.option("-device", "device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("-resume", "resume", is_flag=True, help="Continue from OFOLDER/checkpoints/last.pt.")
@click.option("-name", "name", default="hca-custom", show_default=True, help="Name of the produced model.")
@click.option("-version", "version", default="0.1.0", show_default=True, help="Semantic version of the produced model.")
@click.option("-no-onnx", "no_onnx", is_flag=True, help="Do not export model.onnx.")
@verbose_option
def command(ofolder, data, synthetic_fraction, real_fov_crop, real_remap, real_l5_cut, real_s1_cut, init, landmarks, channel_offsets, widen, arch, steps, batch, lr, lr_schedule, lambda_sk, fg_weight, sigma, seed, split_seed, val_every,
            val_fraction, holdout, oversample, allow_own_labels, val_synthetic, heights, widths, micro, workers, device, resume, name, version, no_onnx, verbose):
    setup_logging(verbose)
    if widen is not None and not init:
        raise click.BadParameter("only an -init model is widened; give a new network's width with -arch",
                                 param_hint="-widen")
    from hca_disc_label.training.config import TrainConfig
    from hca_disc_label.training.trainer import train

    config = TrainConfig(
        out_dir=ofolder, architecture=None if init else _architecture(arch), steps=steps, batch_size=batch,
        lr=lr, lr_schedule=lr_schedule, lambda_sk=lambda_sk, foreground_weight=fg_weight, sigma_px=sigma,
        seed=seed, split_seed=split_seed, channel_offsets_mm=_offsets(channel_offsets),
        synthetic_fraction=(0.5 if synthetic_fraction is None else synthetic_fraction) if data else 1.0,
        real_fov_crop=real_fov_crop, real_remap=real_remap, real_l5_cut=real_l5_cut, real_s1_cut=real_s1_cut,
        bids=list(data), val_fraction=val_fraction,
        holdout=tuple(h for h in holdout.split(",") if h), oversample=_oversample(oversample),
        allow_own_labels=allow_own_labels, val_synthetic=val_synthetic, val_every=val_every, init=init, landmarks=landmarks, widen=widen,
        resume=resume,
        micro_batches=micro, workers=workers, device=device, name=name, version=version,
        heights=_sizes(heights, "-heights"), widths=_sizes(widths, "-widths"), progress=verbose != "0",
        export_onnx=not no_onnx, command_line=shlex.join(argv_of(click.get_current_context())),
    )
    result = train(config)
    if result.model_dir is not None:
        best = "n/a" if result.best_score_mm is None else f"{result.best_score_mm:.2f} mm"
        click.echo(f"Trained {result.steps_done} steps ({result.images_per_second:.1f} images/s); "
                   f"best validation score {best}")
        click.echo(f"Model folder: {result.model_dir}")
        click.echo(f"Use it: hca_label -i IMAGE -c t2 -model {shlex.quote(str(result.model_dir))}")
    return 0


def _offsets(value: str | None) -> tuple[float, ...] | None:
    """``"-12,0,12" -> (-12.0, 0.0, 12.0)`` (checked); None stays None; a bad list is an argument
    error (exit 2)."""
    if value is None:
        return None
    from hca_disc_label.contract import check_channel_offsets

    try:
        return check_channel_offsets([float(v) for v in value.split(",")], "-channel-offsets")
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}", param_hint="-channel-offsets") from None


def _oversample(items: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    """``("sub-zuk:4",) -> (("sub-zuk", 4.0),)``; a bad item is an argument error (exit 2)."""
    out = []
    for item in items:
        prefix, _, factor = item.rpartition(":")
        try:
            value = float(factor)
        except ValueError:
            value = -1.0
        if not prefix or not math.isfinite(value) or value <= 0:
            raise click.BadParameter(f"{item!r}: expected PREFIX:FACTOR with FACTOR > 0", param_hint="-oversample")
        out.append((prefix, value))
    return tuple(out)
