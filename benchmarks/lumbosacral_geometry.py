#!/usr/bin/env python
"""Lumbosacral geometry, real vs synthetic: the turns of the posterior-tip line at L4, L5 and S1.

    python benchmarks/lumbosacral_geometry.py [--synthetic N] [--seed S] [--data DIR] [--subjects GLOB]

The decoder's lumbosacral rule (:mod:`hca_disc_label.inference.lumbosacral`) tells a right
L5/S1 from an S1/S2 remnant read as L5/S1 by the turn of the line through the posterior disc
tips. This prints, as one markdown table (percentiles 5/25/50/75/95 and min/max), on
ground-truth positions only:

* ``turn L3->L4``: turn at L3/L4 from the L2/L3, L3/L4, L4/L5 tips (degrees, positive =
  posterior, :func:`~hca_disc_label.inference.lumbosacral.turn_at`);
* ``turn L4->L5``: turn at L4/L5 from the L3/L4, L4/L5, L5/S1 tips (what the rule reads on a
  right count);
* ``ratio``: distance L4/L5 -> L5/S1 over distance L3/L4 -> L4/L5 (no unit);
* ``turn L5->S1``: turn at L5/S1 from the L4/L5, L5/S1, S1/S2 tips (what the rule reads when
  the S1/S2 remnant is taken for L5/S1).

Real (``DATA``, default ``../shared/data/bids-train``): every subject with L3/L4..L4/L5 disc
labels and an L5 body mask; L5/S1 is derived from the L5 mask
(:func:`hca_disc_label.training.vertebrae.tips_world_mm`, the labels stop at L4/L5). Positions
are the labels' world mm projected on the sagittal plane (world superior and anterior axes;
the files' left-right sign is unknown and does not matter there). The S1/S2 tips are not
labelled: :data:`S1S2_BY_EYE` holds the posterior end of the S1/S2 junction of the 8 real
T2 sacra (``sub-zuk*``), read by eye on the mid-sagittal slice (about 2-3 mm uncertainty, so a
few degrees), so their L5 -> S1 turns are indicative. Expect the manual tips to be 1-2 mm off
too: the real turns spread wider than the exact synthetic ones for that reason alone.

Synthetic: ``N`` subjects drawn exactly as :func:`hca_disc_label.synth.slab.generate_slab`
draws them for the ``lumbar`` field of view (sample ``i`` from
:func:`~hca_disc_label.synth.samples.sample_rng` ``(seed, i)``); tips are the chain's exact
posterior tips in mm (u -> inferior, v -> posterior, the model frame's axes), S1/S2 the fused
disc below L5/S1. Turns and ratios do not depend on the window, pixel size or tilt, so
nothing is rendered. The L5 -> S1 turn is also split by ``lumbarised_s1`` (disc-like S1/S2).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hca_disc_label.inference.lumbosacral import turn_at  # noqa: E402
from hca_disc_label.training.vertebrae import S1S2_BY_EYE  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("HCA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
FIGURES = ("turn L3->L4 (deg)", "turn L4->L5 (deg)", "ratio L5/L4 spacing", "turn L5->S1 (deg)")
Point = tuple[float, float]


def figures(tips: dict[int, Point]) -> dict[str, float]:
    """The four figures from ``value -> (row, col)`` tips (row -> inferior, col -> posterior,
    isotropic mm; 26 stands for the S1/S2 tip). A figure whose tips are missing is left out."""
    out = {}
    if all(v in tips for v in (22, 23, 24)):
        out[FIGURES[0]] = turn_at([tips[22], tips[23], tips[24]])
    if all(v in tips for v in (23, 24, 25)):
        out[FIGURES[1]] = turn_at([tips[23], tips[24], tips[25]])
        upper = np.hypot(*np.subtract(tips[24], tips[23]))
        out[FIGURES[2]] = float(np.hypot(*np.subtract(tips[25], tips[24])) / upper)
    if all(v in tips for v in (24, 25, 26)):
        out[FIGURES[3]] = turn_at([tips[24], tips[25], tips[26]])
    return out


def _sagittal(xyz: np.ndarray) -> Point:
    """World (R, A, S) mm -> (row, col) = (inferior, posterior) mm on the sagittal plane."""
    return float(-xyz[2]), float(-xyz[1])


def real_figures(data: Path, subjects: str = "sub-*") -> list[dict[str, float]]:
    """The figures of every real subject (folder name matching ``subjects``) with L3/L4, L4/L5
    labels and an L5 mask."""
    from hca_disc_label.labelfile import read_disc_labels
    from hca_disc_label.training.vertebrae import tips_world_mm

    rows = []
    for folder in sorted((data / "derivatives" / "labels").glob(subjects)):
        labels = sorted((folder / "anat").glob("*_label-discs_dlabel.nii*"))
        masks = sorted((folder / "anat").glob("*_label-vertebrae_dseg.nii*"))
        if not labels or not masks:
            continue
        mm = {p.value: np.asarray(p.mm, float) for p in read_disc_labels(labels[0])}
        derived = tips_world_mm(masks[0])
        if 25 in derived:
            mm.setdefault(25, derived[25])
        if folder.name in S1S2_BY_EYE:
            mm[26] = np.asarray(S1S2_BY_EYE[folder.name])
        row = figures({v: _sagittal(p) for v, p in mm.items()})
        if FIGURES[1] in row:
            rows.append(row)
    return rows


def synthetic_figures(n: int, seed: int) -> list[dict[str, float]]:
    """The figures of ``n`` lumbar-field synthetic subjects, plus ``lumbarised`` (0 or 1)."""
    from hca_disc_label.synth.randomise import choose_look
    from hca_disc_label.synth.samples import sample_rng
    from hca_disc_label.synth.slab import draw_subject
    from hca_disc_label.synth.spine_params import N_MOBILE

    rows = []
    for i in range(int(n)):
        rng = sample_rng(seed, i)
        choose_look(rng, None)  # generate_slab's first draw, so the subject is the slab's
        _, subject, _ = draw_subject(rng, "lumbar")
        spine = subject.spine
        tips = {v: (float(p[0]), float(p[1])) for v, p in spine.tips.items()}
        s1s2 = spine.discs[N_MOBILE].tip
        tips[26] = (float(s1s2[0]), float(s1s2[1]))
        row = figures(tips)
        row["lumbarised"] = float(spine.params.lumbarised_s1)
        rows.append(row)
    return rows


def _stats_row(figure: str, group: str, values: list[float], digits: int) -> str:
    if not values:
        return f"| {figure} | {group} | 0 |" + " - |" * 7
    a = np.asarray(values, float)
    q = np.percentile(a, [5, 25, 50, 75, 95])
    cells = [a.min(), *q, a.max()]
    return f"| {figure} | {group} | {len(a)} | " + " | ".join(f"{c:.{digits}f}" for c in cells) + " |"


def table(real: list[dict[str, float]], synth: list[dict[str, float]]) -> str:
    """The markdown table: one row per figure and set."""
    lines = ["| figure | set | n | min | p5 | p25 | p50 | p75 | p95 | max |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for figure in FIGURES:
        digits = 2 if "ratio" in figure else 1
        lines.append(_stats_row(figure, "real" + (" (S1/S2 by eye)" if figure == FIGURES[3] else ""),
                                [r[figure] for r in real if figure in r], digits))
        lines.append(_stats_row(figure, "synthetic", [r[figure] for r in synth if figure in r], digits))
        if figure == FIGURES[3]:
            for name, flag in (("synthetic, lumbarised S1", 1.0), ("synthetic, not lumbarised", 0.0)):
                lines.append(_stats_row(figure, name, [r[figure] for r in synth if r["lumbarised"] == flag], digits))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", type=int, default=300, help="synthetic lumbar subjects (default 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "bids-train", help="real BIDS dataset")
    ap.add_argument("--subjects", default="sub-*", help="real subjects (glob, default all)")
    args = ap.parse_args(argv)
    real = real_figures(args.data, args.subjects)
    synth = synthetic_figures(args.synthetic, args.seed)
    print(f"real: {len(real)} subjects of {args.data}; synthetic: {len(synth)} lumbar subjects, seed {args.seed}\n")
    print(table(real, synth))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
