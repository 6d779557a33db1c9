"""The network a training run starts from: architecture, output channels, the ``-init`` model,
and the input channels (one per lateral slab offset, mm; a one-channel ``-init`` model is
widened to more)."""

from __future__ import annotations

import logging

from hca_disc_label.contract import DEFAULT_CHANNEL_OFFSETS_MM, InputContract, centre_channel, check_channel_offsets
from hca_disc_label.conventions import DISC_VALUES, LANDMARKS
from hca_disc_label.errors import HCAError
from hca_disc_label.training.config import TrainConfig

log = logging.getLogger(__name__)


def start_network(config: TrainConfig) -> tuple:
    """The network a run starts from: ``(network, architecture dict, channel values, init
    description or None, channel offsets mm)``.

    From scratch: ``config.architecture`` (default compact) with one input channel per offset
    (``config.channel_offsets_mm``, default ``(0.0,)``). With ``config.init``: that model's
    weights, channel values and offsets; other offsets widen a one-channel model
    (:func:`~hca_disc_label.model.build.inflate_input_channels`: it starts exactly as the
    old one on the centre channel); ``config.landmarks`` adds the missing landmark channels;
    ``config.widen`` widens its features (:func:`~hca_disc_label.model.build.widen_network`,
    it starts exactly as the old one too).

    Raises:
        HCAError: bad offsets, offsets other than a multi-channel ``init`` model's, or a
            ``widen`` without ``init`` or not above its width.
    """
    from hca_disc_label.model.build import build_torch_model, ensemble_size
    from hca_disc_label.model.hca_net import COMPACT_CONFIG

    if config.init:
        from hca_disc_label.weights.resolve import resolve_model

        folder = resolve_model(config.init)
        if ensemble_size(folder.architecture):
            # an ensemble is K networks averaged: fine-tune its members, then ensemble them again
            raise HCAError(f"-init {folder.spec}: an ensemble of {ensemble_size(folder.architecture)} networks "
                           "cannot be fine-tuned; start from one of its members")
        values = list(folder.channel_values)
        net = build_torch_model(folder.architecture, folder.weights_path)
        init_offsets = InputContract.from_mapping(folder.input_contract).channel_offsets_mm
        offsets = _channel_offsets(config, init_offsets)
        if offsets != init_offsets:
            net = _inflate(net, offsets, init_offsets, folder.spec)
        missing = [c for c in LANDMARKS if c not in values] if config.landmarks else []
        if missing:
            from hca_disc_label.model.build import add_output_channels

            net = add_output_channels(net, len(missing), seed=config.seed)
            values += missing
        arch = {**folder.architecture, "num_classes": len(values)}
        if config.widen:
            net = _widen(net, config.widen, config.seed, folder.spec)
            arch["width"] = config.widen
        arch = _with_channels(arch, offsets)
        return net, arch, values, f"{folder.name}@{folder.version}", offsets
    if config.widen:
        raise HCAError(f"-widen {config.widen}: only an -init model is widened; give a new network's width with -arch")
    offsets = _channel_offsets(config, DEFAULT_CHANNEL_OFFSETS_MM)
    arch = _with_channels(dict(config.architecture or COMPACT_CONFIG.to_dict()), offsets)
    values = list(DISC_VALUES)[: int(arch.get("num_classes", len(DISC_VALUES)))]
    values += list(LANDMARKS) if config.landmarks else []
    arch["num_classes"] = len(values)
    return build_torch_model(arch, None), arch, values, None, offsets


def _channel_offsets(config: TrainConfig, default: tuple[float, ...]) -> tuple[float, ...]:
    """The run's channel offsets (mm): the configured ones (checked), else ``default``."""
    if config.channel_offsets_mm is None:
        return default
    try:
        return check_channel_offsets(config.channel_offsets_mm, "-channel-offsets")
    except ValueError as exc:
        raise HCAError(str(exc)) from None


def _with_channels(arch: dict, offsets: tuple[float, ...]) -> dict:
    """``arch`` taking one input channel per offset (``in_channels`` written only when it changes)."""
    if arch.get("in_channels", 1) != len(offsets):
        arch["in_channels"] = len(offsets)
    return arch


def _inflate(net, offsets: tuple[float, ...], init_offsets: tuple[float, ...], spec: str):
    """A one-channel ``-init`` network widened to ``offsets`` (its weights on the centre channel)."""
    from hca_disc_label.model.build import inflate_input_channels

    if len(init_offsets) != 1:
        raise HCAError(f"-channel-offsets {','.join(f'{v:g}' for v in offsets)}: {spec} takes channels at "
                       f"{','.join(f'{v:g}' for v in init_offsets)} mm; only a one-channel model can be widened")
    log.info("-init %s: one input channel widened to %d (offsets %s mm)", spec, len(offsets), list(offsets))
    return inflate_input_channels(net, len(offsets), centre_channel(offsets))


def _widen(net, width: int, seed: int, spec: str):
    """The ``-init`` network with ``width`` feature channels (old ones kept, the output unchanged)."""
    from hca_disc_label.model.build import widen_network

    try:
        wide = widen_network(net, width, seed=seed)
    except ValueError as exc:
        raise HCAError(f"-widen {width}: {spec}: {exc}") from None
    log.info("-init %s: features widened from %d to %d channels", spec, net.config.width, width)
    return wide
