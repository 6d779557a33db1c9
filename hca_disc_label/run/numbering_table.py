"""``numbering.tsv``: the numbering block of every image of a folder run, ``check`` images first.

Written by :func:`hca_disc_label.run.derivative.write_numbering_table` in the output root, from
the sidecars of every labelled or up-to-date image.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from hca_disc_label.naming import sidecar_path_for
from hca_disc_label.sidecar import read_sidecar

TABLE_COLUMNS = ("image", "labels", "status", "confidence", "alternative_offset", "alternative_confidence",
                 "source", "threshold", "question", "hint")


def numbering_row(image: Path | str, labels: Path | str, block: Mapping | None) -> dict:
    """One ``numbering.tsv`` row from a sidecar's ``Numbering`` block (empty cells when absent)."""
    block = block or {}
    alt = block.get("alternative") or {}
    return {"image": str(image), "labels": str(labels), "status": block.get("status", ""),
            "confidence": block.get("confidence", ""), "alternative_offset": alt.get("offset", ""),
            "alternative_confidence": alt.get("confidence", ""), "source": block.get("source", ""),
            "threshold": block.get("threshold", ""), "question": block.get("question", ""),
            "hint": block.get("hint", "")}


def numbering_table_text(rows: Sequence[Mapping]) -> str:
    """BIDS TSV text of :func:`numbering_row` rows (``n/a`` for empty cells), ``check`` images
    first (lowest confidence first)."""
    def key(r):
        conf = r.get("confidence")
        return (r.get("status") != "check", conf if isinstance(conf, (int, float)) else 2.0, str(r.get("image")))

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(TABLE_COLUMNS), delimiter="\t", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=key):
        writer.writerow({k: "n/a" if row.get(k, "") in ("", None) else row[k] for k in TABLE_COLUMNS})
    return buf.getvalue()


def dataset_rows(pairs: Sequence[tuple[Path, Path]], threshold: float | None = None) -> list[dict]:
    """:func:`numbering_row` of every ``(image, label file)`` from the label file's sidecar.

    With ``threshold`` (``-numbering-thr``), the status of a network-numbered image is taken
    again from its recorded confidence (an up-to-date image labelled with another cut).
    """
    rows = []
    for image, labels in pairs:
        block = (read_sidecar(sidecar_path_for(Path(labels))) or {}).get("Numbering")
        block = dict(block) if isinstance(block, dict) else None
        if block and threshold is not None and block.get("source") != "hint" \
                and isinstance(block.get("confidence"), (int, float)):
            block["status"] = "check" if block["confidence"] < threshold else "ok"
            block["threshold"] = threshold
        rows.append(numbering_row(image, labels, block))
    return rows
