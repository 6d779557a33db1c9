"""Inference backends behind one interface: PyTorch (CPU/CUDA) and ONNX Runtime.

Each backend turns a model-frame image ``(H, W)`` float32 in [0, 1] (H, W multiples of the
model's size multiple) into heatmaps ``(V, H/s, W/s)`` float32. The ONNX backend never
imports torch, so batch jobs on the ONNX path start fast.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hca_disc_label.errors import ModelError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")
DEVICES = ("auto", "cpu", "cuda")
ARCHITECTURE_KEYS: frozenset[str] = frozenset({
    "in_channels", "num_classes", "width", "num_stacks", "depth", "stem_stride", "mlka_kernel",
    "mlka_branches", "blocks_per_stack",
})
"""The fields of :class:`~hca_disc_label.model.hca_net.ModelConfig`, known here without
importing torch (a test keeps the two equal), so the ONNX path checks cards too."""


def check_card(model) -> None:
    """Reject a model card that cannot describe the network behind either backend.

    Checks (no torch import): the architecture is an object whose keys are all ModelConfig
    fields, and ``num_classes`` (when given) matches the number of channel values.

    Raises:
        ModelError: naming the model and the problem.
    """
    arch = model.architecture
    name = f"{model.name} {model.version}"
    if not isinstance(arch, dict):
        raise ModelError(f"model {name}: architecture must be an object")
    unknown = sorted(set(arch) - ARCHITECTURE_KEYS)
    if unknown:
        raise ModelError(f"model {name}: unknown architecture key(s) {', '.join(unknown)} in its model.json")
    n_values = len(list(model.channel_values))
    if "num_classes" in arch and arch["num_classes"] != n_values:
        raise ModelError(f"model {name}: architecture num_classes {arch['num_classes']!r} does not match its "
                         f"{n_values} channel values")


class Backend(Protocol):
    """What the pipeline needs from a backend."""

    name: str
    device: str

    def predict(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` float32 model-frame image -> ``(V, h, w)`` float32 heatmaps."""


def build_torch_model(architecture: dict, weights_path=None):
    """Instantiate HCA-Net from an architecture dict and optionally load a state dict.

    Args:
        architecture: :class:`ModelConfig` as a dict (``model.json["architecture"]``).
        weights_path: torch state dict file (float16 or float32 tensors) or None.

    Returns:
        The network in eval mode (float32, CPU).
    """
    from hca_disc_label.extras import require

    require("torch", "building the PyTorch network")
    import torch

    from hca_disc_label.model.hca_net import HCANet, ModelConfig

    try:
        net = HCANet(ModelConfig.from_dict(architecture))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"invalid architecture in the model card ({_first_line(exc)})") from None
    if weights_path is not None:
        try:
            state = torch.load(str(weights_path), map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise ValueError(f"not a state dict ({type(state).__name__})")
            net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
        except MemoryError:
            raise ModelError(f"{weights_path}: cannot load weights (out of memory)") from None
        except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, zip errors...
            raise ModelError(f"{weights_path}: cannot load weights ({_first_line(exc)})") from None
    return net.eval()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


@dataclass
class TorchBackend:
    """PyTorch eager inference (channels-last, inference mode)."""

    net: object
    device: str
    name: str = "torch"

    def predict(self, image: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None].to(self.device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            y = self.net(x)
        return y[0].float().cpu().numpy()


@dataclass
class OnnxBackend:
    """ONNX Runtime inference (CUDA provider when asked for and present)."""

    session: object
    device: str
    name: str = "onnx"

    def predict(self, image: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(image, dtype=np.float32)[None, None]
        (y,) = self.session.run(None, {self.session.get_inputs()[0].name: x})
        return np.asarray(y[0], dtype=np.float32)


def _torch_backend(model, device: str, threads: int | None = None,
                   purpose: str = "-backend torch") -> TorchBackend:
    from hca_disc_label.extras import require

    require("torch", purpose)
    import torch

    if threads is not None:
        # process-wide in PyTorch: batch workers each own a process, so this is theirs
        torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("-device cuda: no CUDA GPU is visible to PyTorch")
    net = build_torch_model(model.architecture, model.weights_path).to(device)
    net = net.to(memory_format=torch.channels_last)
    return TorchBackend(net, device)


def _onnx_backend(model, device: str, threads: int | None = None) -> OnnxBackend:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("-backend onnx needs onnxruntime, which is not installed: pip install onnxruntime") from None
    available = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ModelError("-device cuda: onnxruntime has no CUDA provider (install onnxruntime-gpu)")
    use_cuda = device in ("cuda", "auto") and "CUDAExecutionProvider" in available
    providers = (["CUDAExecutionProvider"] if use_cuda else []) + ["CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # ORT's default, stated because it matters: the NCHWc layout and conv fusions of the
    # ENABLE_ALL level halve the CPU forward time (benchmarks/bench_inference.py --explore).
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        # Several batch workers share the cores: one intra-op pool each, sized by the caller.
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(model.onnx_path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise ModelError(f"{model.onnx_path}: cannot load ONNX model ({_first_line(exc)})") from None
    return OnnxBackend(session, "cuda" if use_cuda else "cpu")


def create_backend(model, backend: str = "auto", device: str = "auto", threads: int | None = None) -> Backend:
    """Create the inference backend for a model folder.

    Args:
        model: a :class:`hca_disc_label.weights.registry.ModelFolder`.
        backend: "auto" (ONNX when the model has an ONNX file and onnxruntime is installed,
            else PyTorch), "torch" or "onnx".
        device: "auto", "cpu" or "cuda".
        threads: CPU threads for the forward pass (None = the library's default, all cores).
            PyTorch's setting is process-wide; ONNX Runtime's is per session.

    Raises:
        ModelError: the backend or device is unavailable, or the model has no ONNX file.
    """
    if backend not in BACKENDS:
        raise ModelError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ModelError(f"threads must be a positive integer, got {threads!r}")
    if backend == "onnx" and model.onnx_path is None:
        raise ModelError(f"model {model.name} {model.version} has no ONNX file (use -backend torch or hca_label export)")
    check_card(model)
    purpose = f"-backend {backend}"
    if backend == "auto":
        backend = "onnx" if model.onnx_path is not None and _has_onnxruntime() else "torch"
        if model.onnx_path is None:
            purpose = f"model {model.name} {model.version} has no ONNX file: its torch backend"
    log.debug("backend %s on %s", backend, device)
    if backend == "onnx":
        return _onnx_backend(model, device, threads)
    return _torch_backend(model, device, threads, purpose)


def _has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None
