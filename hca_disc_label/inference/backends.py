"""Inference backends behind one interface: PyTorch (CPU/CUDA) and ONNX Runtime.

Each backend turns a model-frame image ``(H, W)`` float32 in [0, 1] (H, W multiples of the
model's size multiple), or ``(C, H, W)`` for a model with C input channels, into heatmaps
``(V, H/s, W/s)`` float32 (the network sees ``(1, C, H, W)``). The ONNX backend never
imports torch, so batch jobs on the ONNX path start fast.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hca_disc_label.errors import ModelError, first_line
from hca_disc_label.model.build import build_torch_model, check_card

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx")
DEVICES = ("auto", "cpu", "cuda")


class Backend(Protocol):
    """What the pipeline needs from a backend."""

    name: str
    device: str

    def predict(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` or ``(C, H, W)`` float32 model-frame image -> ``(V, h, w)`` float32 heatmaps."""


def network_input(image: np.ndarray) -> np.ndarray:
    """A model-frame image ``(H, W)`` or ``(C, H, W)`` as the network's batch ``(1, C, H, W)``
    (C = 1 for a 2D image), contiguous float32."""
    batch = image[None, None] if image.ndim == 2 else image[None]
    return np.ascontiguousarray(batch, dtype=np.float32)


@dataclass
class TorchBackend:
    """PyTorch eager inference (channels-last, inference mode)."""

    net: object
    device: str
    name: str = "torch"

    def predict(self, image: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(network_input(image)).to(self.device)
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
        x = network_input(image)
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
        raise ModelError(f"{model.onnx_path}: cannot load ONNX model ({first_line(exc)})") from None
    return OnnxBackend(session, "cuda" if use_cuda else "cpu")


def create_backend(model, backend: str = "auto", device: str = "auto", threads: int | None = None) -> Backend:
    """Create the inference backend for a model folder.

    Args:
        model: a :class:`hca_disc_label.weights.card.ModelFolder`.
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
