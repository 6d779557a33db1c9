"""Building HCA-Net from a model card: the architecture check, the builder, widening outputs,
input channels and features.

Importing this module does not import torch: :func:`check_card` and :data:`ARCHITECTURE_KEYS`
serve the ONNX path too (which never imports torch); the builders import it when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hca_disc_label.errors import ModelError, first_line

if TYPE_CHECKING:  # torch only when a network is built
    from hca_disc_label.model.ensemble import HCAEnsemble
    from hca_disc_label.model.hca_net import HCANet

ARCHITECTURE_KEYS: frozenset[str] = frozenset({
    "in_channels", "num_classes", "width", "num_stacks", "depth", "stem_stride", "mlka_kernel",
    "mlka_branches", "blocks_per_stack",
})
"""The fields of :class:`~hca_disc_label.model.hca_net.ModelConfig`, known here without
importing torch (a test keeps the two equal), so the ONNX path checks cards too."""

ENSEMBLE_KEY = "ensemble"
"""Optional architecture key: K (int >= 2) members of the architecture's network, their
heatmaps averaged (:class:`~hca_disc_label.model.ensemble.HCAEnsemble`); absent = one network."""


def ensemble_size(architecture: dict) -> int | None:
    """K of an ensemble architecture, None for one network (no torch import).

    Raises:
        ValueError: ``architecture["ensemble"]`` is present but not an integer >= 2.
    """
    if ENSEMBLE_KEY not in architecture:
        return None
    size = architecture[ENSEMBLE_KEY]
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(f"architecture ensemble must be an integer >= 2 (the number of member networks), "
                         f"got {size!r}")
    return size


def check_card(model) -> None:
    """Reject a model card that cannot describe the network behind either backend.

    Checks (no torch import): the architecture is an object whose keys are all ModelConfig
    fields (plus an optional ``ensemble``: an integer >= 2), and ``num_classes`` (when given)
    matches the number of channel values.

    Raises:
        ModelError: naming the model and the problem.
    """
    arch = model.architecture
    name = f"{model.name} {model.version}"
    if not isinstance(arch, dict):
        raise ModelError(f"model {name}: architecture must be an object")
    unknown = sorted(set(arch) - ARCHITECTURE_KEYS - {ENSEMBLE_KEY})
    if unknown:
        raise ModelError(f"model {name}: unknown architecture key(s) {', '.join(unknown)} in its model.json")
    try:
        ensemble_size(arch)
    except ValueError as exc:
        raise ModelError(f"model {name}: {exc}") from None
    n_values = len(list(model.channel_values))
    if "num_classes" in arch and arch["num_classes"] != n_values:
        raise ModelError(f"model {name}: architecture num_classes {arch['num_classes']!r} does not match its "
                         f"{n_values} channel values")


def build_torch_model(architecture: dict, weights_path: str | Path | None = None) -> HCANet | HCAEnsemble:
    """Instantiate HCA-Net from an architecture dict and optionally load a state dict.

    Args:
        architecture: :class:`ModelConfig` as a dict (``model.json["architecture"]``), with
            ``"ensemble": K`` for an :class:`~hca_disc_label.model.ensemble.HCAEnsemble` of K
            such networks (state dict keys ``members.<k>.<HCANet key>``).
        weights_path: torch state dict file (float16 or float32 tensors) or None.

    Returns:
        The network in eval mode (float32, CPU): input ``(B, C, H, W)``, output the merged
        heatmaps ``(B, V, H/s, W/s)`` (an ensemble: the mean of its members').
    """
    from hca_disc_label.extras import require

    require("torch", "building the PyTorch network")
    import torch

    from hca_disc_label.model.hca_net import HCANet, ModelConfig

    try:
        size = ensemble_size(architecture)
        config = ModelConfig.from_dict({k: v for k, v in architecture.items() if k != ENSEMBLE_KEY})
        if size is None:
            net = HCANet(config)
        else:
            from hca_disc_label.model.ensemble import HCAEnsemble

            net = HCAEnsemble(config, size)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"invalid architecture in the model card ({first_line(exc)})") from None
    if weights_path is not None:
        try:
            state = torch.load(str(weights_path), map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise ValueError(f"not a state dict ({type(state).__name__})")
            net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        except MemoryError:
            raise ModelError(f"{weights_path}: cannot load weights (out of memory)") from None
        except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, zip errors...
            raise ModelError(f"{weights_path}: cannot load weights ({first_line(exc)})") from None
    return net.eval()


def add_output_channels(net: HCANet, extra: int, seed: int = 0) -> HCANet:
    """A copy of ``net`` with ``extra`` new heatmap channels after the existing ones.

    Every trained weight is kept: the per-stack heads and the merge keep their old channels
    (the merge's input is re-indexed, since it concatenates the stacks' predictions) and the
    re-projection of each intermediate prediction ignores the new channels at first. New
    channels start from small random head weights and a merge row that averages their own
    stacks' predictions, so they predict ~0 until trained. Used to fine-tune a disc
    model into one that also predicts landmarks.
    """
    import torch

    from hca_disc_label.model.hca_net import HCANet, ModelConfig

    cfg = net.config
    v_old, stacks = cfg.num_classes, cfg.num_stacks
    new = HCANet(ModelConfig.from_dict({**cfg.to_dict(), "num_classes": v_old + extra}))
    gen = torch.Generator().manual_seed(seed)
    v_new = v_old + extra

    def convert(key, src, value):
        if key.endswith("head.weight"):
            return torch.cat([src, 0.01 * torch.randn((extra, *src.shape[1:]), generator=gen)])
        if key.endswith("head.bias") or key == "merge.bias":
            return torch.cat([src, torch.zeros(extra)])
        if key.startswith("prediction_back") and key.endswith("weight"):
            return torch.cat([src, torch.zeros((src.shape[0], extra, *src.shape[2:]))], dim=1)
        if key == "merge.weight":
            w = torch.zeros((v_new, v_new * stacks, *src.shape[2:]))
            for s in range(stacks):
                w[:v_old, s * v_new:s * v_new + v_old] = src[:, s * v_old:(s + 1) * v_old]
                for k in range(v_old, v_new):
                    w[k, s * v_new + k] = 1.0 / stacks
            return w
        raise ValueError(f"cannot widen {key} from {tuple(src.shape)} to {tuple(value.shape)}")

    return _transplant(net, new, convert)


def inflate_input_channels(net: HCANet, channels: int, centre: int) -> HCANet:
    """A copy of a one-channel ``net`` that takes ``(B, channels, H, W)``.

    The first convolution's weights go to input channel ``centre`` and the other channels get
    zeros; every other weight (and the batch-norm statistics) is kept, so the new network's
    heatmaps equal the old one's on the centre channel whatever the others hold, until
    trained. Used to fine-tune a released one-channel model into a parasagittal one.

    Raises:
        ValueError: ``net`` has more than one input channel, or ``centre`` is not a channel.
    """
    import torch

    from hca_disc_label.model.hca_net import HCANet, ModelConfig

    cfg = net.config
    if cfg.in_channels != 1 or not 0 <= centre < channels:
        raise ValueError(f"cannot inflate a {cfg.in_channels}-channel network to {channels} channels "
                         f"(centre {centre})")
    new = HCANet(ModelConfig.from_dict({**cfg.to_dict(), "in_channels": int(channels)}))

    def convert(key, src, value):
        if src.dim() == 4 and src.shape[1] == 1 and value.shape[1] == channels and src.shape[0] == value.shape[0]:
            weight = torch.zeros_like(value)
            weight[:, centre] = src[:, 0]
            return weight
        raise ValueError(f"cannot inflate {key} from {tuple(src.shape)} to {tuple(value.shape)}")

    return _transplant(net, new, convert).train(net.training)


def widen_network(net: HCANet, width: int, seed: int = 0) -> HCANet:
    """A copy of ``net`` with ``width`` feature channels instead of ``config.width``.

    Function-preserving: every old channel keeps its weights and reads only old channels (the
    weights from new channels into old ones are zero), so the new network's heatmaps equal the
    old one's, in training and evaluation mode, until trained. New channels start from a fresh
    network's initialisation (seeded by ``seed``) and read every channel, so they learn from the
    first step. The M-LKA mix reads its branches concatenated (``branches x width`` inputs) and is
    re-indexed branch by branch. Used to fine-tune a released model into a wider one.

    Raises:
        ValueError: ``width`` is not larger than the network's, or not even (the stem and the
            bottlenecks use ``width // 2``).
    """
    import torch

    from hca_disc_label.model.hca_net import HCANet, ModelConfig

    cfg = net.config
    old_w, branches = cfg.width, len(cfg.mlka_branches)
    if width <= old_w or width % 2:
        raise ValueError(f"cannot widen a width-{old_w} network to {width}: give an even width above {old_w}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        new = HCANet(ModelConfig.from_dict({**cfg.to_dict(), "width": int(width)}))

    def convert(key, src, value):
        dst = value.clone()
        if key.endswith("mlka.mix.weight"):
            dst[:old_w] = 0.0
            for b in range(branches):
                dst[:old_w, b * width:b * width + old_w] = src[:, b * old_w:(b + 1) * old_w]
        else:
            dst[tuple(slice(0, n) for n in src.shape)] = src
            if dst.dim() >= 2 and dst.shape[1] > src.shape[1]:
                dst[:src.shape[0], src.shape[1]:] = 0.0  # old outputs never read new channels
        return dst

    return _transplant(net, new, convert).train(net.training)


def _transplant(net: HCANet, new: HCANet, convert) -> HCANet:
    """``new`` loaded with ``net``'s weights: tensors of the same shape copied, each other one
    ``convert(key, old tensor, new network's tensor)``."""
    old_state, state = net.state_dict(), new.state_dict()
    for key, value in state.items():
        src = old_state[key]
        state[key] = src.clone() if src.shape == value.shape else convert(key, src, value)
    new.load_state_dict(state)
    return new
