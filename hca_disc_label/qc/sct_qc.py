"""Our QC entry inside Spinal Cord Toolbox's own QC report.

SCT's commands (``sct_label_vertebrae -qc DIR`` ...) share one QC folder per pipeline. Each
entry is a JSON record ``DIR/_json/qc_<timestamp>.json`` plus two pictures of the same size,
``background_img.png`` (the anatomy) and ``overlay_img.png`` (transparent, drawn on top; the
page toggles it), under ``DIR/<dataset>/<subject>/<contrast>/<command>/<timestamp>/``. SCT's
page (``DIR/index.html``) reads every record from ``DIR/js/datasets.js``, which SCT rewrites
from ``_json`` after each entry; reviewers mark entries pass/fail there and export the failed
files (``qc_fail.yml``) for the ``manual_correction`` workflow.

:func:`write_sct_qc_entry` writes our disc labelling as one such entry (command ``hca_label``,
plane ``Sagittal``, the record keys SCT writes), so a folder shared with SCT's commands lists
it beside SCT's steps. The format is matched from SCT's documentation of its report and the
records it writes; none of SCT's code is used or needed (a user without SCT still gets the
entry, and our own page, :mod:`hca_disc_label.qc.report`).

Where SCT's page is already in the folder, our own page must not replace it:
:func:`own_pages` says where :func:`~hca_disc_label.qc.report.rebuild_index` writes it
(``hca_label.html`` always, ``index.html`` only while that is not SCT's page), and
:func:`refresh_sct_report` re-lists the records in SCT's ``datasets.js`` under the same
inter-process lock SCT takes, so our entry shows at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from hca_disc_label._version import __version__
from hca_disc_label.atomic import copy_atomic, discard, flock_before, fsync_folder, temp_path_for, write_text_atomic
from hca_disc_label.qc.sct_view import SagittalView, numbering_doubt, render_pictures, view_from_files

log = logging.getLogger(__name__)

COMMAND = "hca_label"
"""Our command name in SCT's report (its "Function" column)."""
PLANE = "Sagittal"
RECORD_KEYS = ("path", "cmdline", "command", "sctVersion", "dataset", "subject", "contrast", "inputFile",
               "plane", "backgroundImage", "overlayImage", "date", "rank", "qc")
"""The keys of an SCT QC record, in SCT's order (values of rank / qc are set by the reviewer;
a doubtful count arrives with qc = :data:`FAILED_MARK` and SCT's row ``id``)."""
FAILED_MARK = "\u274c"
"""SCT's page's "fail" mark (❌): what its "Save Fails" exports to ``qc_fail.yml``."""
OWN_PAGE = "hca_label.html"
"""Our own page's name in a QC folder that SCT's page shares (it keeps ``index.html``)."""
SCT_LOCK_TIMEOUT_S = 60.0
_written: dict[tuple[str, str], Path] = {}
"""The last record this process wrote per (QC folder, input): what :func:`remove_sct_entry` undoes."""
_UUID_LINE = re.compile(r"^window\.SCT_QC_UUID = '([^']*)';?\s*$", re.M)


def qc_location(input_path: Path, dataset: str | None = None, subject: str | None = None) -> tuple[str, str, str]:
    """``(dataset, subject, contrast)`` of an entry, derived from the input path as SCT does.

    SCT reads ``<dataset>/<subject>/<contrast>/<file>`` from the input's folders (for BIDS
    data ``contrast`` is ``anat``); ``dataset`` and ``subject`` can be given instead (SCT's
    ``-qc-dataset`` / ``-qc-subject``; ``hca_label -qc-subject`` sets the subject). The same
    derivation puts our entry in the same group as SCT's entries of the same file.
    """
    path = Path(os.path.abspath(input_path))
    return (dataset or path.parent.parent.parent.name, subject or path.parent.parent.name, path.parent.name)


def _command_line(command_line: str | None) -> str:
    """``hca_label <args>``: the program path SCT would not show is cut to the command name."""
    if not command_line:
        return " ".join([COMMAND, *sys.argv[1:]])
    first, _, rest = command_line.strip().partition(" ")
    if Path(first).name in (COMMAND, "__main__.py", "hca_disc_label"):
        return f"{COMMAND} {rest}".strip()
    return command_line


def _write_exclusive(path: Path, text: str) -> bool:
    """Write ``text`` to a new file atomically; False (nothing written) if ``path`` exists.

    Not :func:`~hca_disc_label.atomic.atomic_write`, for two reasons: its temporary file keeps
    the ``.json`` suffix, and SCT's refresh reads every ``_json/*.json`` (a half-written
    temporary record would crash it), so ours ends in ``.tmp``; and a rename would replace
    another writer's record of the same name (SCT names records by the microsecond too), so the
    temporary file is hard-linked into place instead: atomic, and it fails if the name is taken.
    """
    tmp = temp_path_for(path, keep_suffix=False)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: check, then rename
            if path.exists():
                return False
            os.replace(tmp, path)
        fsync_folder(path.parent)
        return True
    finally:
        discard(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sct_row_id(record: Mapping) -> str:
    """The id SCT's page gives a record (SHA-1 of ``path:cmdline:date``), under which it keeps
    the reviewer's QC mark."""
    return hashlib.sha1(f"{record['path']}:{record['cmdline']}:{record['date']}".encode("utf-8")).hexdigest()


def _record(qc_dir: Path, input_path: Path, where: tuple[str, str, str], pictures: tuple[Path, Path],
            cmdline: str, when: _dt.datetime, failed: bool) -> dict:
    """An SCT QC record (:data:`RECORD_KEYS`); ``failed`` pre-marks it ❌ under SCT's row id."""
    record = {
        # SCT records the working folder, where its inputs usually lie; the input's own folder
        # makes ``path/inputFile`` (what the report exports for correction) the real file.
        "path": os.path.abspath(input_path.parent),
        "cmdline": cmdline,
        "command": COMMAND,
        "sctVersion": f"hca_disc_label {__version__}",
        "dataset": where[0],
        "subject": where[1],
        "contrast": where[2],
        "inputFile": input_path.name,
        "plane": PLANE,
        "backgroundImage": pictures[0].relative_to(qc_dir).as_posix(),
        "overlayImage": pictures[1].relative_to(qc_dir).as_posix(),
        "date": when.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "rank": "",
        "qc": "",
    }
    if failed:
        record.update(qc=FAILED_MARK, id=sct_row_id(record))
    return record


def write_sct_qc_entry(
    qc_dir: str | os.PathLike,
    input_path: str | os.PathLike,
    label_path: str | os.PathLike,
    view: SagittalView | None = None,
    *,
    command_line: str | None = None,
    dataset: str | None = None,
    subject: str | None = None,
    refresh: bool = True,
    now: _dt.datetime | None = None,
    numbering: Mapping | None = None,
) -> Path:
    """Add our disc labelling to a QC folder as an entry of SCT's QC report.

    Args:
        qc_dir: the QC folder (``-qc``), shared with SCT's commands or not (created if needed).
        input_path: the labelled image (the entry's ``inputFile``; its folders give dataset,
            subject and contrast as in :func:`qc_location`).
        label_path: the written disc-label file (used only when ``view`` is None).
        view: the picture to show (:func:`view_from_slab`); default :func:`view_from_files`.
        command_line: the command as run (default: this process's arguments).
        dataset, subject: override what the input path gives (SCT's ``-qc-dataset`` /
            ``-qc-subject``).
        refresh: re-list the records in SCT's page when it is in the folder
            (:func:`refresh_sct_report`); batch runs do it once at the end instead.
        now: the entry's time (default: now, local time as SCT writes it).
        numbering: the sidecar's ``Numbering`` block. A ``check`` count enters SCT's report
            marked failed (``qc`` = ❌, under the row id SCT's page computes, so "Save Fails"
            lists it for ``manual_correction`` until a reviewer passes it), and the overlay
            says so in its top line.

    Returns:
        The JSON record's path.
    """
    qc_dir = Path(qc_dir)
    input_path = Path(input_path)
    view = view if view is not None else view_from_files(input_path, Path(label_path))
    doubt = numbering_doubt(numbering)
    if doubt:
        view = dataclasses.replace(view, doubt=doubt)
    dataset, subject, contrast = qc_location(input_path, dataset, subject)
    when = now or _dt.datetime.now()
    # One folder per entry; the timestamp names it (and the record), as in SCT. A clash (two
    # writers in the same microsecond) moves this entry on by a microsecond.
    for _ in range(1000):
        stamp = when.strftime("%Y_%m_%d_%H%M%S.%f")
        folder = qc_dir / dataset / subject / contrast / COMMAND / stamp
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir()
            break
        except FileExistsError:
            when += _dt.timedelta(microseconds=1)
    else:  # pragma: no cover - a thousand entries of one image in one millisecond
        raise FileExistsError(f"{folder}: QC entry folder already exists")
    background, overlay = folder / "background_img.png", folder / "overlay_img.png"
    render_pictures(view, background, overlay)
    record = _record(qc_dir, input_path, (dataset, subject, contrast), (background, overlay),
                     _command_line(command_line), when, failed=bool(doubt))
    json_dir = qc_dir / "_json"
    json_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=1)
    # pictures first, record last: a listed entry never points at a missing picture
    path = json_dir / f"qc_{stamp}.json"
    k = 0
    while not _write_exclusive(path, text):  # SCT wrote a record in the same microsecond
        k += 1
        path = json_dir / f"qc_{stamp}_{k}.json"
    _written[(os.path.abspath(qc_dir), os.path.abspath(input_path))] = path
    if refresh:
        refresh_sct_report(qc_dir)
    return path


def remove_sct_entry(qc_dir: str | os.PathLike, input_path: str | os.PathLike) -> bool:
    """Undo this process's last entry of an input (its labels could not be committed after all).

    Removes the record, then its pictures and their folder, and re-lists SCT's page. Entries of
    other runs (and SCT's) are never touched. Returns whether there was one to remove.
    """
    path = _written.pop((os.path.abspath(qc_dir), os.path.abspath(input_path)), None)
    if path is None:
        return False
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    path.unlink(missing_ok=True)
    folder = None
    for key in ("backgroundImage", "overlayImage"):
        if isinstance(record.get(key), str):
            picture = Path(qc_dir) / record[key]
            picture.unlink(missing_ok=True)
            folder = picture.parent
    if folder is not None:
        with contextlib.suppress(OSError):
            folder.rmdir()
    refresh_sct_report(qc_dir)
    return True


def sct_report_present(qc_dir: str | os.PathLike) -> bool:
    """Whether SCT's report page has been laid out in this QC folder (its ``js/datasets.js``)."""
    return (Path(qc_dir) / "js" / "datasets.js").is_file()


def own_pages(qc_dir: str | os.PathLike) -> list[Path]:
    """Where our own QC page goes: ``hca_label.html``, and ``index.html`` unless it is SCT's page."""
    qc_dir = Path(qc_dir)
    pages = [qc_dir / OWN_PAGE]
    if not sct_report_present(qc_dir):
        pages.insert(0, qc_dir / "index.html")
    return pages


def _sct_lock_path(qc_dir: Path) -> Path:
    """The lock file SCT's QC writers share (portalocker's one-slot semaphore in the temp dir)."""
    real = Path(qc_dir).resolve()
    name = f"sct_qc-{real.name}-{hashlib.md5(str(real).encode('utf-8')).hexdigest()}"
    return Path(tempfile.gettempdir()) / f"{name}.00.lock"


@contextlib.contextmanager
def sct_mutex(qc_dir: str | os.PathLike, timeout_s: float = SCT_LOCK_TIMEOUT_S) -> Iterator[bool]:
    """Hold the lock SCT's QC writers take on this folder (POSIX ``flock`` on its lock file).

    SCT serialises "write the record, refresh the page" of all its processes with a named
    semaphore (portalocker, a ``flock``-ed file in the temp folder named after the QC folder);
    taking the same lock keeps our refresh from interleaving with theirs. Yields False (and
    logs) when the lock cannot be had in time or the platform has no ``flock``.
    """
    try:
        import fcntl
    except ImportError:  # Windows: SCT's lock is a different primitive there
        yield False
        return
    path = _sct_lock_path(Path(qc_dir))
    with open(path, "a") as handle:
        if not flock_before(handle, time.monotonic() + timeout_s):
            log.warning("%s: SCT's QC lock %s is busy; refreshing without it", qc_dir, path)
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_sct_records(qc_dir: str | os.PathLike) -> list[dict]:
    """Every record under ``_json`` in file-name (= time) order; unreadable ones skipped."""
    records = []
    for path in sorted((Path(qc_dir) / "_json").glob("*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            log.warning("skipping unreadable SCT QC record %s", path)
    return records


def refresh_sct_report(qc_dir: str | os.PathLike) -> Path | None:
    """Re-list every record in SCT's page data (``js/datasets.js``), keeping the report's id.

    Does nothing when SCT's page is not in the folder (the next SCT command lays it out and
    lists our records) or when ``datasets.js`` is not in the form expected (a newer SCT:
    SCT's own ``py/refresh_qc_entries.py`` in the folder re-lists it). Returns the file
    rewritten, or None.
    """
    qc_dir = Path(qc_dir)
    target = qc_dir / "js" / "datasets.js"
    if not target.is_file():
        return None
    with sct_mutex(qc_dir):
        current = target.read_text(encoding="utf-8")
        match = _UUID_LINE.search(current)
        if match is None or "window.SCT_QC_DATASETS =" not in current:
            log.warning("%s is not in the form this version knows; run %s to list the new entry", target,
                        qc_dir / "py" / "refresh_qc_entries.py")
            return None
        uuid = match.group(1)
        if not uuid:
            import uuid as _uuid

            uuid = str(_uuid.uuid4())
        data = json.dumps(load_sct_records(qc_dir))
        text = f"\nwindow.SCT_QC_UUID = '{uuid}';\nwindow.SCT_QC_DATASETS = {data};\n"
        write_text_atomic(target, text)
    return target


def merge_sct_entries(sources: Iterable[str | os.PathLike], target: str | os.PathLike) -> int:
    """Copy the SCT-style entries of QC folders (e.g. one per cluster job) into ``target``.

    Every record of ``_json`` (ours and SCT's) comes with its two pictures, pictures first; a
    record already in ``target`` (same file name) is kept. SCT's page in ``target``, if any, is
    refreshed. Returns how many records were copied.
    """
    target = Path(target)
    copied = 0
    for src in sources:
        src = Path(src)
        for record_path in sorted((src / "_json").glob("*.json")):
            dst_record = target / "_json" / record_path.name
            if record_path.name.startswith(".") or dst_record.exists():
                continue
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
                pictures = [record["backgroundImage"], record["overlayImage"]]
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("skipping unreadable SCT QC record %s", record_path)
                continue
            for rel in pictures:
                if (src / rel).is_file() and not (target / rel).is_file():
                    copy_atomic(src / rel, target / rel)
            dst_record.parent.mkdir(parents=True, exist_ok=True)
            if _write_exclusive(dst_record, record_path.read_text(encoding="utf-8")):
                copied += 1
    refresh_sct_report(target)
    return copied


def records_of(qc_dir: str | os.PathLike, command: str = COMMAND) -> Sequence[dict]:
    """The records of one command (default: ours) in a QC folder."""
    return [r for r in load_sct_records(qc_dir) if r.get("command") == command]
