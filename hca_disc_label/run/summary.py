"""What a batch run did: :class:`BatchSummary` (the CLI prints :meth:`BatchSummary.describe`).

:func:`~hca_disc_label.run.batch.label_dataset` fills and returns it; nothing is written
to disk from here.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from hca_disc_label.naming import output_name

UP_TO_DATE = "up to date"
"""The skip reason of an image whose outputs need no work."""
MAX_LISTED_FAILURES = 50
""":meth:`BatchSummary.describe` lists at most this many failures."""


@dataclass
class BatchSummary:
    """What :func:`label_dataset` did.

    Attributes:
        input_dir: the dataset; out_root: the output tree; qc_index: the QC page (or None).
        done: images labelled in this run.
        skipped: ``(image, reason)`` for images not redone (outputs up to date).
        failed: ``(image, one-line reason)``; truthy when any image failed (CLI exit 1).
        total: images in this run (after sharding); shard: ``(k, n)`` or None.
        seconds: wall time of the batch.
        numbering_check: ``(image, confidence, -initz hint)`` of the labelled images whose
            numbering status is ``check``, least sure first; numbering_table: the table of all
            (``numbering.tsv``).
    """

    input_dir: Path
    out_root: Path
    done: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    total: int = 0
    shard: tuple[int, int] | None = None
    qc_index: Path | None = None
    seconds: float = 0.0
    numbering_check: list[tuple[Path, object, str]] = field(default_factory=list)
    numbering_table: Path | None = None

    @property
    def ok(self) -> bool:
        """True when no image failed."""
        return not self.failed

    def rel(self, path: Path) -> str:
        """An image's path relative to the dataset (as given when outside it)."""
        try:
            return Path(path).relative_to(self.input_dir).as_posix()
        except ValueError:
            return str(path)

    def describe(self) -> str:
        """Multi-line summary for the CLI: counts, every failure with its reason, where to look."""
        shard = f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else ""
        lines = [
            f"Batch{shard}: {self.total} image(s) in {self.input_dir} -> {self.out_root} ({self.seconds:.1f} s)",
            f"  done: {len(self.done)}, skipped (up to date): {len(self.skipped)}, failed: {len(self.failed)}",
        ]
        other_skips = [(p, r) for p, r in self.skipped if r != UP_TO_DATE]
        for path, reason in other_skips[:MAX_LISTED_FAILURES]:
            lines.append(f"  skipped {self.rel(path)}: {reason}")
        if self.failed:
            lines.append("Failed:")
            for path, reason in self.failed[:MAX_LISTED_FAILURES]:
                lines.append(f"  {self.rel(path)}: {reason}")
            if len(self.failed) > MAX_LISTED_FAILURES:
                lines.append(f"  ... and {len(self.failed) - MAX_LISTED_FAILURES} more")
        if self.numbering_table is not None or self.numbering_check:
            lines.append(f"Numbering check: {len(self.numbering_check)} image(s) whose count may be wrong"
                         + (f" (all images: {self.numbering_table})" if self.numbering_table else ""))
            for path, conf, hint in self.numbering_check[:MAX_LISTED_FAILURES]:
                conf_text = f"{conf:.2f}" if isinstance(conf, (int, float)) else "?"
                lines.append(f"  {self.rel(path)}: confidence {conf_text}" + (f"; confirm with {hint}" if hint else ""))
            if len(self.numbering_check) > MAX_LISTED_FAILURES:
                lines.append(f"  ... and {len(self.numbering_check) - MAX_LISTED_FAILURES} more")
        if self.skipped and not self.done and not self.failed:
            lines.append("Nothing to do: every output is up to date (use -overwrite to redo).")
        if self.qc_index is not None:
            lines.append(f"QC report: {self.qc_index}")
        if self.done:
            first = self.done[0]
            out = self.out_root / Path(self.rel(first)).parent / output_name(Path(first).name)
            lines.append("To view one result:")
            lines.append(f"fsleyes {shlex.quote(str(first))} {shlex.quote(str(out))} -cm red -dr 0 25")
        return "\n".join(lines)
