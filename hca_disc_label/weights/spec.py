"""Model names and versions: ``NAME`` / ``NAME@VERSION`` specs and semantic-version order.

A model name doubles as a folder name (cache ``<name>/<version>/``, embedded ``models/<name>``),
so it is restricted to letters, digits and ``._-``; versions follow semantic versioning.
"""

from __future__ import annotations

import re
from typing import Any

from hca_disc_label.errors import ModelError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


def is_valid_name(name: str) -> bool:
    """True for a model name usable as a folder name (letters, digits, ``._-``)."""
    return isinstance(name, str) and bool(_NAME_RE.match(name)) and name not in (".", "..")


def is_valid_version(version: str) -> bool:
    """True for a semantic version ``MAJOR.MINOR.PATCH[-pre][+build]``."""
    return isinstance(version, str) and bool(_SEMVER_RE.match(version))


def version_key(version: str) -> tuple:
    """Sort key implementing semantic-version precedence (a pre-release sorts first)."""
    match = _SEMVER_RE.match(version)
    if not match:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch, pre = int(match[1]), int(match[2]), int(match[3]), match[4]
    if pre is None:
        return (major, minor, patch, 1, ())
    idents = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, idents)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``"NAME"`` or ``"NAME@VERSION"`` into ``(name, version or None)``.

    Raises:
        ModelError: if the name or version is malformed.
    """
    name, sep, version = spec.strip().partition("@")
    if not is_valid_name(name):
        raise ModelError(f"invalid model name {name!r} in {spec!r} (expected NAME or NAME@VERSION)")
    if sep and not is_valid_version(version):
        raise ModelError(f"invalid version {version!r} in {spec!r} (expected semantic version like 1.2.0)")
    return name, (version if sep else None)


def format_spec(name: str, version: str) -> str:
    """``name@version``."""
    return f"{name}@{version}"


def is_plain_filename(name: Any) -> bool:
    """True for a bare file name (no folder part, not hidden): what model folders list."""
    return (
        isinstance(name, str) and bool(name) and name not in (".", "..")
        and "/" not in name and "\\" not in name and not name.startswith(".")
    )
