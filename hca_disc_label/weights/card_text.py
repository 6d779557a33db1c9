"""The readable text of ``hca_label models info``: a model card summarised for a terminal.

:func:`format_model_info` takes what the CLI gathered (registry entry, card, status, the
numbering calibration) and returns lines of at most :data:`WIDTH` characters: channels named
(discs from :data:`~hca_disc_label.conventions.DISC_NAMES`, landmarks from
:data:`~hca_disc_label.conventions.LANDMARKS`), long lists counted, each validation block
summarised (an ``hca_label evaluate`` report by its headline figures). The full card is
``models info -json``.
"""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

from hca_disc_label.conventions import DISC_NAMES, LANDMARKS

WIDTH = 100
"""Widest line of the text."""
INDENT = " " * 17
"""Continuation indent (under the values)."""
MAX_LIST_ITEMS = 6
"""Longer lists are shown by their length."""


def format_model_info(info: dict[str, Any]) -> str:
    """The text of ``models info`` for ``info`` = ``{name, version, status, path, registry,
    card, numbering}`` (``numbering``: ``{"threshold", "source"}`` of the model's calibration,
    or None)."""
    card, reg = info["card"] or {}, info["registry"] or {}

    def get(key: str) -> Any:
        return card.get(key) if card.get(key) is not None else reg.get(key)

    lines = [f"{info['name']} {info['version']}  [{info['status']}]"]
    rows: list[tuple[str, Any]] = [("path", info["path"]), ("description", get("description")),
                                   ("contrasts", ", ".join(get("contrasts") or []) or "-")]
    if reg:
        rows.append(("default for", ", ".join(reg.get("default_for") or []) or "-"))
    rows += [("licence", get("licence") or "-"), ("channels", channel_summary(get("channel_values")))]
    numbering = info.get("numbering")
    if numbering:
        rows.append(("numbering", f"status 'check' below a confidence of {numbering['threshold']:g} "
                                  f"(-numbering-thr default; {numbering['source'] or 'uncalibrated'})"))
    rows += [("architecture", compact(get("architecture"))), ("input", compact(get("input"))),
             ("training data", compact(get("training_data")))]
    for label, value in rows:
        if value:
            lines.append(_row(label, str(value)))
    lines += validation_lines(get("validation"))
    if get("release_notes"):
        lines.append(_row("release notes", str(get("release_notes"))))
    lines += file_lines(reg, card)
    lines.append("  (the full card: hca_label models info NAME[@VERSION] -json)")
    return "\n".join(lines)


def _row(label: str, value: str) -> str:
    return textwrap.fill(value, WIDTH, initial_indent=f"  {label + ':':<14} ", subsequent_indent=INDENT,
                         break_on_hyphens=False, break_long_words=True)


def channel_summary(values: Sequence[int] | None) -> str:
    """``27: discs 2 C1/C2 .. 25 L5/S1 (24); landmarks 102 C2 body, ...`` (what each output
    channel means); unknown codes are shown as ``?``."""
    if not values:
        return ""
    discs = [int(v) for v in values if int(v) in DISC_NAMES]
    landmarks = [int(v) for v in values if int(v) in LANDMARKS]
    other = [int(v) for v in values if int(v) not in DISC_NAMES and int(v) not in LANDMARKS]
    parts = []
    if discs:
        if discs == list(range(discs[0], discs[-1] + 1)) and len(discs) > 2:
            parts.append(f"discs {discs[0]} {DISC_NAMES[discs[0]]} .. {discs[-1]} {DISC_NAMES[discs[-1]]} "
                         f"({len(discs)})")
        else:
            parts.append("discs " + ", ".join(f"{v} {DISC_NAMES[v]}" for v in discs))
    if landmarks:
        parts.append("landmarks " + ", ".join(f"{v} {LANDMARKS[v]}" for v in landmarks) + " (never written)")
    if other:
        parts.append("unknown " + ", ".join(f"{v} ?" for v in other))
    return f"{len(values)}: " + "; ".join(parts)


def compact(obj: Any, depth: int = 0) -> str:
    """``key=value, ...`` of a card block: numbers to 4 significant digits, lists longer than
    :data:`MAX_LIST_ITEMS` by their length, nested blocks in parentheses (two levels)."""
    if obj is None:
        return ""
    if isinstance(obj, dict):
        if depth >= 2:
            return f"{{{len(obj)} keys}}"
        inner = ", ".join(f"{k}={compact(v, depth + 1)}" for k, v in obj.items())
        return f"({inner})" if depth else inner
    if isinstance(obj, (list, tuple)):
        if len(obj) > MAX_LIST_ITEMS:
            return f"[{len(obj)} items]"
        return "[" + ", ".join(compact(v, depth + 1) for v in obj) + "]"
    if isinstance(obj, float):
        return f"{obj:.4g}"
    return str(obj)


def validation_lines(validation: Any) -> list[str]:
    """One line per validation block; an ``hca_label evaluate`` report (it has ``overall``)
    by its headline figures, overall and per contrast."""
    if not isinstance(validation, dict) or not validation:
        return [_row("validation", "-")]
    lines = ["  validation:"]
    for name, block in validation.items():
        if isinstance(block, dict) and isinstance(block.get("overall"), dict):
            where = block.get("ground_truth") or "?"
            lines.append(_row(f"  {name}", f"hca_label evaluate against {where}: "
                              + _evaluation_figures(block["overall"])))
            for contrast, figures in (block.get("by_contrast") or {}).items():
                if isinstance(figures, dict):
                    lines.append(_row(f"    {contrast}", _evaluation_figures(figures)))
        else:
            lines.append(_row(f"  {name}", compact(block)))
    return lines


def _evaluation_figures(r: dict) -> str:
    def num(key: str, unit: str = "", digits: int = 1) -> str:
        value = r.get(key)
        return "?" if not isinstance(value, (int, float)) else f"{value:.{digits}f}{unit}"

    # units without a space: a wrapped line never starts with one
    return (f"{r.get('n_cases', '?')} image(s), {r.get('n_gt', '?')} GT discs; identity "
            f"{num('identity_accuracy_pct', '%')}; DTT {num('paper_dtt_mean_mm', 'mm', 2)} mean, "
            f"{num('paper_dtt_median_mm', 'mm', 2)} median; FNR {num('paper_fnr_pct', '%')}, "
            f"FPR {num('paper_fpr_pct', '%')}")


def file_lines(reg: dict, card: dict) -> list[str]:
    """The ``files:`` rows: role, name, size, sha256 (and mirrors for a registry entry)."""
    lines = ["  files:"]
    if reg.get("files"):
        for f in reg["files"]:
            mirrors = len(f.get("urls") or [])
            lines.append(f"    {f['role']:<8} {f['filename']:<12} {_size(f.get('size')):>10}  "
                         f"sha256 {f.get('sha256') or '-'}  ({mirrors} mirror{'s' if mirrors != 1 else ''})")
    else:
        for role, f in (card.get("files") or {}).items():
            lines.append(f"    {role:<8} {f['path']:<12} {_size(f.get('size')):>10}  sha256 {f['sha256']}")
    return lines


def _size(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
