"""The numbering calibration: a logistic model of "every written value is right" per model.

Fitted on internal data only (``benchmarks/calibrate_numbering.py``) and stored per model (weights
sha256) in a table, ``models/numbering_calibration.json`` (kept out of ``model.json``, which the
registry pins by sha256, so a recalibration never touches a released file); a model card may carry
its own ``numbering_calibration`` entry, which wins. This module reads the table it is given and
never looks for it: :func:`hca_disc_label.inference.labeller.calibration_table_path` says where
the shipped one lies.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES: tuple[str, ...] = (
    "margin", "log_margin", "agree", "alt_agree", "log_discs", "junction", "edge_room", "skips", "landmark_margin",
)
"""Every feature :func:`~hca_disc_label.inference.numbering.numbering_features` computes (a
calibration uses a subset, by name)."""
DEFAULT_NUMBERING_THRESHOLD = 0.5
"""Status cut of a model without its own calibrated threshold (``-numbering-thr``)."""
CALIBRATION_FILENAME = "numbering_calibration.json"
"""Per-model calibrations next to the registry (``models/``), keyed by weights sha256."""


@dataclass(frozen=True)
class Calibration:
    """Logistic model ``P(all values right) = sigmoid(intercept + sum coef[f] * feature[f])``.

    Attributes:
        features, coef: feature names (of :data:`FEATURES`) and their weights.
        intercept: bias.
        mean, scale: standardisation applied to each feature before the weights.
        threshold: default status cut (``-numbering-thr``).
        alt_temperature: the alternative's share of the doubt is
            ``sigmoid((score[alt] - score[other]) / alt_temperature)``.
        source: what it was fitted for / on (shown in the sidecar).
    """

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float = DEFAULT_NUMBERING_THRESHOLD
    alt_temperature: float = 1.0
    source: str = ""

    def probability(self, features: Mapping[str, float]) -> float:
        x = np.array([features.get(f, 0.0) for f in self.features], dtype=float)
        z = self.intercept + float(np.dot(self.coef, (x - np.array(self.mean)) / np.array(self.scale)))
        return float(1.0 / (1.0 + math.exp(-np.clip(z, -50.0, 50.0))))

    def to_json(self) -> dict:
        return {"features": list(self.features), "coef": [round(c, 6) for c in self.coef],
                "intercept": round(self.intercept, 6), "mean": [round(m, 6) for m in self.mean],
                "scale": [round(s, 6) for s in self.scale], "threshold": round(self.threshold, 4),
                "alt_temperature": round(self.alt_temperature, 4), "source": self.source}

    @classmethod
    def from_json(cls, raw: Mapping) -> Calibration:
        feats = tuple(str(f) for f in raw["features"])
        unknown = set(feats) - set(FEATURES)
        if unknown:
            raise ValueError(f"numbering calibration uses unknown features {sorted(unknown)}")
        n = len(feats)
        coef, mean, scale = (tuple(float(v) for v in raw.get(k, d)) for k, d in
                             (("coef", ()), ("mean", [0.0] * n), ("scale", [1.0] * n)))
        if not (len(coef) == len(mean) == len(scale) == n) or any(s <= 0 for s in scale):
            raise ValueError("numbering calibration: features, coef, mean and scale must match")
        return cls(feats, coef, float(raw["intercept"]), mean, scale, float(raw.get("threshold", 0.5)),
                   float(raw.get("alt_temperature", 1.0)), str(raw.get("source", "")))


UNCALIBRATED = Calibration(("margin",), (1.0,), 0.0, (0.0,), (1.0,), DEFAULT_NUMBERING_THRESHOLD, 1.0,
                           "uncalibrated (sigmoid of the score margin)")
"""Used for a model with no calibration of its own: margin only, not a fitted probability."""


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, weights: np.ndarray | None = None
                 ) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (scipy L-BFGS) on standardised features.

    Returns ``(coef, intercept)``; the intercept is not regularised.
    """
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)

    def loss(theta):
        z = x @ theta[1:] + theta[0]
        p = 1.0 / (1.0 + np.exp(-z))
        nll = np.sum(w * (np.logaddexp(0.0, z) - y * z)) / w.sum()
        grad_z = w * (p - y) / w.sum()
        g = np.concatenate([[grad_z.sum()], x.T @ grad_z + l2 * theta[1:]])
        return nll + 0.5 * l2 * float(theta[1:] @ theta[1:]), g

    res = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B")
    return res.x[1:], float(res.x[0])


def load_calibration(folder, table: Path | None) -> Calibration:
    """The numbering calibration of a model folder.

    Args:
        folder: the model (its ``card`` and weights ``sha256`` are read).
        table: the calibration table to look the weights up in (``{"models": {sha256: entry}}``);
            None: none.

    The card's own ``numbering_calibration`` entry wins; else the entry for the model's weights
    sha256 in ``table``; else :data:`UNCALIBRATED`.
    """
    card = getattr(folder, "card", {}) or {}
    if "numbering_calibration" in card:
        return Calibration.from_json(card["numbering_calibration"])
    sha = getattr(folder, "sha256", None)
    entries = read_calibration_table(table) if table is not None else {}
    if sha in entries:
        return Calibration.from_json(entries[sha])
    return UNCALIBRATED


def read_calibration_table(path: Path) -> dict:
    """``{weights sha256: calibration dict}`` (empty when the file is missing)."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return dict(raw.get("models", {}))
