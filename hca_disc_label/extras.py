"""Optional dependencies: which pip extra of ``hca_disc_label`` provides which module.

The default install labels with ONNX Runtime and has neither PyTorch nor onnx. PyTorch comes
with ``[torch]`` (the torch backend), ``[export]`` (``hca_label export``: torch + onnx) and
``[train]`` (``hca_label train``: torch + onnx for the final export); ``[dev]`` adds pytest to
all of them. ``setup.py`` declares the same extras.
"""

from __future__ import annotations

import importlib.util

from hca_disc_label.errors import MissingExtraError

EXTRA_OF_MODULE: dict[str, str] = {"torch": "torch", "onnx": "export"}
"""Top-level module -> the smallest extra that installs it."""

PACKAGE_NAMES: dict[str, str] = {"torch": "PyTorch", "onnx": "onnx"}


def missing_extra_message(module: str, purpose: str, extra: str | None = None) -> str:
    """The one-line error for ``purpose`` (e.g. "-backend torch") lacking ``module``.

    ``extra`` defaults to :data:`EXTRA_OF_MODULE` of the module.
    """
    top = module.split(".")[0]
    extra = extra or EXTRA_OF_MODULE.get(top, "dev")
    return (f"{purpose} needs {PACKAGE_NAMES.get(top, top)}, which is not installed: "
            f"pip install \"hca_disc_label[{extra}]\"")


def require(modules: tuple[str, ...] | str, purpose: str, extra: str | None = None) -> None:
    """Raise a :class:`MissingExtraError` unless every module in ``modules`` is importable.

    Only looks the modules up (no import), so it is cheap and never imports torch itself.
    """
    for module in (modules,) if isinstance(modules, str) else modules:
        if not is_installed(module):
            raise MissingExtraError(missing_extra_message(module, purpose, extra))


def is_installed(module: str) -> bool:
    """Whether a top-level module can be imported (``None`` in ``sys.modules`` counts as not)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
