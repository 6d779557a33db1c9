"""model stage of hca_disc_label (see docs/ARCHITECTURE.md): HCA-Net and its loss.

Names are re-exported lazily so that ``import hca_disc_label.model`` does not import
torch; the first access of e.g. ``hca_disc_label.model.HCANet`` does.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "COMPACT_CONFIG": "hca_net",
    "HCANet": "hca_net",
    "ModelConfig": "hca_net",
    "PAPER_CONFIG": "hca_net",
    "count_parameters": "hca_net",
    "HCALoss": "loss",
    "masked_mse": "loss",
    "render_gaussian_targets": "loss",
    "soft_argmax": "loss",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
