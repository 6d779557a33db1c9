"""Exception hierarchy. The CLI maps :class:`HCAError` to exit code 1 and prints
its message as one line; anything else is a bug."""

from __future__ import annotations


class HCAError(Exception):
    """Base class of all expected, user-facing failures (exit code 1)."""


class InputImageError(HCAError):
    """The input image cannot be used (missing, not NIfTI, corrupt, 2D, empty...)."""


class OutputError(HCAError):
    """An output path cannot be written (not writable, equal to the input...)."""


class ModelError(HCAError):
    """A model cannot be found, loaded, verified or run."""


class DownloadError(ModelError):
    """A model download failed (network, HTTP status, checksum, offline mode)."""


class NoDiscFoundError(HCAError):
    """The network found no disc above the confidence threshold."""


class DataError(HCAError):
    """A dataset (BIDS folder, labels) is missing or malformed."""


class HintError(HCAError):
    """A user's labelling hint (``-initlabel`` / ``-initz``) is unusable or cannot hold."""


class ArgumentValueError(HCAError):
    """A caller's value that is wrong for this image or path (``-x`` or ``-initz`` outside the
    image, ``-o`` naming a folder, the input or a non-NIfTI file). The CLI reports it as a usage
    error (exit 2).

    Attributes:
        option: the command-line option the value belongs to (e.g. ``"-initz"``).
    """

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


class MissingExtraError(ModelError):
    """An optional dependency (PyTorch, onnx) is not installed; the message names the pip extra."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type when empty), at most 200 characters:
    third-party errors (torch, onnxruntime) become one readable line of an :class:`HCAError`."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
