"""Small file-system helpers for the weights stage: hashing and atomic writes.

Every file the weights stage publishes is written to a temporary name in the same
folder, flushed to disk and then renamed, so a reader (or a process killed half-way)
never sees a half-written file under its final name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def sha256_file(path: Path | str) -> str:
    """Return the hex SHA-256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename) where the platform allows it."""
    from hca_disc_label.atomic import fsync_folder

    fsync_folder(Path(path))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (:mod:`hca_disc_label.atomic`)."""
    from hca_disc_label.atomic import write_bytes_atomic

    write_bytes_atomic(Path(path), data)


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically and durably (:mod:`hca_disc_label.atomic`)."""
    from hca_disc_label.atomic import copy_atomic

    copy_atomic(Path(src), Path(dst))
