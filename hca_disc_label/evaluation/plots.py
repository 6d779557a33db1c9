"""Plots of an evaluation (matplotlib on the Agg backend, optional): the error per disc level
and the numbering reliability diagram. Written atomically; skipped with a warning when
matplotlib is not installed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from hca_disc_label.atomic import atomic_write
from hca_disc_label.conventions import DISC_NAMES
from hca_disc_label.evaluation.result import EvaluationResult

logger = logging.getLogger(__name__)


def _pyplot(out_path: Path):
    """``matplotlib.pyplot`` on the Agg backend, or None (with a warning naming the file that
    is not written) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: %s not written (pip install matplotlib)",
                       Path(out_path).name)
        return None
    return plt


def plot_error_per_level(result: EvaluationResult, out_path: Path) -> bool:
    """Plot the error per disc level (one point per case) into a PNG.

    Top panel: paper protocol (GT disc to nearest prediction, any value); bottom panel:
    label-aware (GT disc to the prediction with the same value). Not-matched GT discs are drawn
    as crosses at the top of the axis. Colour = contrast; a black bar = median per level.

    Returns:
        True when written; False (with a warning) when matplotlib is not installed.
    """
    plt = _pyplot(out_path)
    if plt is None:
        return False
    import numpy as np

    values = sorted({d.value for c in result.cases for d in c.metrics.gt})
    xpos = {v: i for i, v in enumerate(values)}
    contrasts = result.contrasts()
    colours = {c: f"C{i}" for i, c in enumerate(contrasts)}
    rng = np.random.default_rng(0)  # fixed jitter: identical reruns give identical plots
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(values) + 2), 7), sharex=True)
    panels = [
        ("paper protocol: nearest prediction (any value)",
         lambda c: [(m.value, m.distance_mm, m.matched) for m in c.metrics.paper.gt]),
        ("label-aware: prediction with the same value",
         lambda c: [(m.value, m.distance_mm, m.correct) for m in c.metrics.label.gt]),
    ]
    for ax, (title, getter) in zip(axes, panels):
        matched: dict[int, list[float]] = {v: [] for v in values}
        top = result.fn_mm * 1.5
        for case in result.cases:
            pts = getter(case)
            ok = [(xpos[v] + rng.uniform(-0.2, 0.2), d) for v, d, good in pts if good]
            bad = [(xpos[v] + rng.uniform(-0.2, 0.2), top) for v, d, good in pts if not good]
            for v, d, good in pts:
                if good:
                    matched[v].append(d)
            colour = colours[case.contrast]
            if ok:
                ax.scatter(*zip(*ok), s=14, color=colour, alpha=0.7)
            if bad:
                ax.scatter(*zip(*bad), s=22, color=colour, marker="x")
        for v, ds in matched.items():
            if ds:
                ax.hlines(float(np.median(ds)), xpos[v] - 0.3, xpos[v] + 0.3, color="k", lw=2)
        ax.axhline(result.fn_mm, color="grey", ls="--", lw=0.8)
        ax.set_ylim(0, top * 1.08)
        ax.set_ylabel("error (mm)")
        ax.set_title(title, fontsize=10)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[c], label=c) for c in contrasts]
    handles += [plt.Line2D([], [], ls="", marker="x", color="k", label="not matched"),
                plt.Line2D([], [], color="k", lw=2, label="median"),
                plt.Line2D([], [], color="grey", ls="--", label=f"FN threshold {result.fn_mm:g} mm")]
    # outside the axes: crosses for unmatched discs sit at the top of each panel
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=len(handles), frameon=False)
    axes[1].set_xticks(range(len(values)))
    axes[1].set_xticklabels([DISC_NAMES[v] for v in values], rotation=45, ha="right")
    axes[1].set_xlabel("disc level")
    fig.suptitle(f"{result.method}: error per disc level ({len(result.cases)} cases)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    try:
        atomic_write(Path(out_path), lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return True


def plot_reliability(result: EvaluationResult, out_path: Path, bins: int = 10) -> bool:
    """Reliability diagram of the numbering confidence into a PNG: per confidence bin, the
    observed share of images without a wrong value (bars, with image counts) against the
    diagonal; the status threshold(s) as vertical lines.

    Returns:
        True when written; False (with a warning) when matplotlib is not installed.
    """
    plt = _pyplot(out_path)
    if plt is None:
        return False
    data = result.reliability(bins)
    fig, ax = plt.subplots(figsize=(5.0, 4.6))
    width = 1.0 / bins
    for lo, hi, n, mean, acc in data:
        if n:
            ax.bar(lo, acc, width=width, align="edge", color="C0", alpha=0.7, edgecolor="k")
            ax.text(lo + width / 2, min(acc, 0.93) + 0.02, str(n), ha="center", fontsize=7)
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
    thresholds = sorted({float(c.numbering["threshold"]) for c in result.cases
                         if c.numbering and c.numbering.get("threshold") is not None})
    for t in thresholds:
        ax.axvline(t, color="C3", lw=1.2, label=f"status threshold {t:g}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("numbering confidence")
    ax.set_ylabel("observed: images without a wrong value")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"{result.method}: numbering reliability", fontsize=10)
    fig.tight_layout()
    try:
        atomic_write(Path(out_path), lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)
    return True
