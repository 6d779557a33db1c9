"""Checksummed HTTP download of one file, with mirrors, timeouts and retries.

The file is streamed to ``<dest>.part`` while its SHA-256 is computed; only a complete file
with the expected size and checksum is renamed (atomically) to ``dest``. Anything else removes
the ``.part`` file. The caller holds the install lock, so one fixed ``.part`` name is safe.

Tunables (module constants, overridable by environment variables so tests and slow sites can
change them)::

    HCA_DISC_LABEL_CONNECT_TIMEOUT   seconds to open a connection       (CONNECT_TIMEOUT_S)
    HCA_DISC_LABEL_READ_TIMEOUT      seconds without a byte from server (READ_TIMEOUT_S)
    HCA_DISC_LABEL_RETRIES           extra attempts per mirror          (RETRIES)
    HCA_DISC_LABEL_BACKOFF           first back-off in s, doubled after each retry (BACKOFF_S)

``requests`` is imported inside :func:`fetch_file` so offline use never imports it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hca_disc_label._version import __version__
from hca_disc_label.errors import DownloadError

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
RETRIES = 3
BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
CHUNK_BYTES = 64 * 1024


class _Retryable(Exception):
    """A transient failure: try the same mirror again after a back-off."""


class _NextMirror(Exception):
    """A failure that retrying the same URL will not fix (4xx, wrong size)."""


class _ChecksumMismatch(_NextMirror):
    """The complete file does not have the expected SHA-256 (file deleted)."""


def _env_number(name: str, default: float, cast: type = float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise DownloadError(f"{name}={raw!r} is not a number") from None
    if value < 0 or (value == 0 and name.endswith("TIMEOUT")):
        raise DownloadError(f"{name}={raw!r} must be {'positive' if name.endswith('TIMEOUT') else 'non-negative'}")
    return value


@dataclass(frozen=True)
class DownloadSettings:
    """Timeouts (s), retries per mirror and initial back-off (s)."""

    connect_timeout: float = CONNECT_TIMEOUT_S
    read_timeout: float = READ_TIMEOUT_S
    retries: int = RETRIES
    backoff: float = BACKOFF_S

    @classmethod
    def from_env(cls) -> "DownloadSettings":
        """Module defaults overridden by the ``HCA_DISC_LABEL_*`` variables (read now)."""
        return cls(
            connect_timeout=_env_number("HCA_DISC_LABEL_CONNECT_TIMEOUT", CONNECT_TIMEOUT_S),
            read_timeout=_env_number("HCA_DISC_LABEL_READ_TIMEOUT", READ_TIMEOUT_S),
            retries=int(_env_number("HCA_DISC_LABEL_RETRIES", RETRIES, int)),
            backoff=_env_number("HCA_DISC_LABEL_BACKOFF", BACKOFF_S),
        )


def progress_enabled(progress: bool) -> bool:
    """Show a progress bar only when asked and stderr is an interactive terminal."""
    if not progress:
        return False
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


def fetch_file(
    urls: Sequence[str],
    dest: Path,
    *,
    sha256: str,
    size: int | None,
    label: str,
    progress: bool = True,
    settings: DownloadSettings | None = None,
) -> str:
    """Download ``dest`` from the first mirror that serves the right bytes.

    Mirrors are tried in order; each gets ``1 + retries`` attempts on transient failures
    (connection errors, timeouts, HTTP 5xx/429, truncated bodies) with exponential back-off.
    HTTP 4xx, a wrong size or a checksum mismatch move on to the next mirror at once.

    Args:
        urls: mirrors, in order of preference.
        dest: final path; written as ``dest.part`` and renamed after verification.
        sha256: expected hex digest (required: nothing is ever installed unchecked).
        size: expected size in bytes, or None.
        label: what is downloaded, for messages (e.g. ``"weights.pt of hca-compact@0.1.0"``).
        progress: show a tqdm bar on stderr (only if stderr is a TTY).
        settings: timeouts/retries (default: :meth:`DownloadSettings.from_env`).

    Returns:
        The URL that served the file.

    Raises:
        DownloadError: every mirror failed; the one-line message lists why for each.
    """
    import requests

    if not urls:
        raise DownloadError(f"no download URL for {label}")
    settings = settings or DownloadSettings.from_env()
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    failures: list[str] = []
    with requests.Session() as session:
        session.headers["User-Agent"] = _user_agent()
        for url in urls:
            reason = _try_mirror(session, url, part, sha256, size, label, progress, settings)
            if reason is None:
                from hca_disc_label.atomic import commit

                commit(part, dest)  # fsync, rename, fsync the folder (the one atomic writer)
                logger.info("downloaded %s from %s", label, url)
                return url
            failures.append(f"{url}: {reason}")
    mismatch = any("checksum mismatch" in f for f in failures)
    head = "checksum mismatch: " if mismatch else ""
    raise DownloadError(f"{head}could not download {label}; " + "; ".join(failures))


def _try_mirror(session, url, part, sha256, size, label, progress, settings) -> str | None:
    """All attempts on one mirror; None on success, else the last failure reason."""
    reason = "not tried"
    for attempt in range(settings.retries + 1):
        try:
            _stream(session, url, part, sha256, size, label, progress, settings)
            return None
        except _NextMirror as exc:
            part.unlink(missing_ok=True)
            if isinstance(exc, _ChecksumMismatch):
                logger.error("%s from %s: %s", label, url, exc)
            return str(exc)
        except _Retryable as exc:
            part.unlink(missing_ok=True)
            reason = str(exc)
            if attempt < settings.retries:
                wait = min(settings.backoff * (2**attempt), MAX_BACKOFF_S)
                logger.warning("%s from %s: %s; retrying in %.1f s", label, url, reason, wait)
                time.sleep(wait)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    return f"{reason} (after {settings.retries + 1} attempts)"


def _stream(session, url, part: Path, sha256: str, size, label, progress, settings) -> None:
    """One attempt: stream ``url`` into ``part`` and check size and checksum."""
    import requests
    from tqdm.auto import tqdm

    try:
        with session.get(
            url, stream=True, timeout=(settings.connect_timeout, settings.read_timeout)
        ) as resp:
            status = resp.status_code
            if status >= 500 or status == 429:
                raise _Retryable(f"HTTP {status}")
            if status != 200:
                raise _NextMirror(f"HTTP {status}")
            announced = resp.headers.get("Content-Length")
            if size is not None and announced is not None and announced.isdigit() and int(announced) != size:
                raise _NextMirror(f"server announces {announced} bytes, expected {size}")
            digest = hashlib.sha256()
            received = 0
            with open(part, "wb") as handle, tqdm(
                total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=part.name[: -len(".part")],
                disable=not progress_enabled(progress), file=sys.stderr, leave=False,
            ) as bar:
                for chunk in resp.iter_content(CHUNK_BYTES):
                    received += len(chunk)
                    if size is not None and received > size:
                        raise _ChecksumMismatch(
                            f"checksum mismatch (more than the expected {size} bytes); file deleted"
                        )
                    handle.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
                handle.flush()
                os.fsync(handle.fileno())
    except requests.RequestException as exc:
        raise _Retryable(_describe(exc, settings)) from None
    if size is not None and received != size:
        raise _Retryable(f"incomplete body ({received} of {size} bytes)")
    actual = digest.hexdigest()
    if actual != sha256:
        raise _ChecksumMismatch(f"checksum mismatch (sha256 {actual}, expected {sha256}); file deleted")


def _describe(exc: Exception, settings: DownloadSettings) -> str:
    """A short reason for a requests exception (its own text is a paragraph)."""
    import requests

    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return f"connection timed out after {settings.connect_timeout:g} s"
    if isinstance(exc, requests.ReadTimeout) or "Read timed out" in text:
        return f"no data for {settings.read_timeout:g} s (read timeout)"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection closed before the end of the file"
    if isinstance(exc, requests.ConnectionError):
        if "refused" in text.lower():
            return "connection refused"
        if "Name or service not known" in text or "getaddrinfo" in text or "resolve" in text.lower():
            return "host not found"
        return "connection failed"
    return type(exc).__name__


def _user_agent() -> str:
    return f"hca_disc_label/{__version__}"
