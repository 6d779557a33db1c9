"""How sure is the count? A calibrated per-image numbering confidence, its alternative, the hint.

A one-level numbering error looks like a right answer: every disc is found, every channel is
confident, all values are shifted by one. What can tell them apart is how much better the chosen
numbering explains the evidence than the *same discs numbered one level up or down*, and
whether the structures that fix the count (C2 at the top, the sacrum at the bottom, and the
landmark channels of later models) are in view and agree. This module turns a
:class:`~hca_disc_label.inference.decode.Decoding` into:

* :func:`numbering_features` -- a few numbers from the decoder's own evidence (score margin to
  the best ±1 shift, channel agreement, field of view, junctions in view, and the landmark term
  of models with landmark channels, ``inference.landmarks``);
* a :class:`~hca_disc_label.inference.calibration.Calibration` -- a logistic model of "every
  written value is right", fitted on internal data only (``benchmarks/calibrate_numbering.py``)
  and loaded per model by :mod:`hca_disc_label.inference.calibration`;
* :func:`assess_numbering` -- the sidecar's ``Numbering`` block (confidence, ``ok``/``check``,
  the alternative, the anchors, the threshold) and the one ``-initz`` hint that would settle a
  doubt (:meth:`Numbering.hint_command`).

Nothing here touches heatmaps again: it re-scores the decoder's positions and evidence.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hca_disc_label.conventions import DISC_NAMES, L5_S1
from hca_disc_label.inference.calibration import UNCALIBRATED, Calibration
from hca_disc_label.inference.decode import Decoding
from hca_disc_label.inference.landmarks import named_discs

MARGIN_CLIP = 12.0
"""Score margins are clipped to +-this (a margin beyond it says nothing more)."""
LOG_MARGIN_OFFSET = 0.3
"""``log_margin = log(max(margin, 0) + this)``: doubt grows fast as the margin nears 0."""
JUNCTION_ROOM_MM = 15.0
"""A junction counts as in view when the image goes on at least this far past its disc."""
EDGE_ROOM_CAP_MM = 40.0
"""Room between the end discs and the image edges is capped here (mm)."""


def _name(value: int) -> str:
    """Disc name, also one level beyond the channels (S1/S2 below L5/S1)."""
    if value in DISC_NAMES:
        return DISC_NAMES[value]
    return {1: "above C1/C2 (no disc)", 26: "S1/S2"}.get(value, f"value {value}")


# ----------------------------------------------------------------------------- features


def shifted_path(decoding: Decoding, offset: int) -> tuple[list[tuple[int, int]], list[int]]:
    """The chosen discs with every value moved by ``offset`` levels.

    Returns ``(path, dropped)``: the shifted labelling (only values the model has) and the
    position indices whose shifted value is beyond the channels (e.g. a lowest "L5/S1" that
    would be S1/S2).
    """
    v = len(decoding.channel_values)
    path = [(i, k + offset) for i, k in decoding.path if 0 <= k + offset < v]
    dropped = [i for i, k in decoding.path if not 0 <= k + offset < v]
    return path, dropped


def shift_scores(decoding: Decoding) -> dict[int, float]:
    """DP score of the chosen numbering (key 0) and of the same discs shifted by -1 and +1.

    A disc shifted beyond the channels keeps its detection confidence (it is still there, just
    not a disc value the model names) but no channel evidence.
    """
    out = {0: decoding.score(decoding.path)}
    for offset in (-1, 1):
        path, dropped = shifted_path(decoding, offset)
        out[offset] = decoding.score(path) + sum(decoding.positions[i].confidence for i in dropped)
    return out


def landmark_votes(decoding: Decoding) -> list[tuple[object, int, int]]:
    """``[(landmark, chosen value of the disc it names, value it says)]`` for the clear
    landmarks of ``decoding`` (:func:`~hca_disc_label.inference.landmarks.named_discs`) whose
    disc was kept; empty for disc-only models."""
    if not decoding.landmarks or not decoding.positions:
        return []
    rows = np.array([p.row for p in decoding.positions])
    cols = np.array([p.col for p in decoding.positions])
    chosen = dict(decoding.path)
    return [(lm, decoding.channel_values[chosen[i]], value)
            for lm, i, value in named_discs(decoding.landmarks, rows, cols, decoding.spacing_mm) if i in chosen]


def landmark_margin(decoding: Decoding, alt_offset: int) -> float:
    """Landmark term: confidence-weighted votes of the landmarks for the chosen count minus
    their votes for the alternative (every value + ``alt_offset``). 0 without landmarks."""
    total = 0.0
    for lm, chosen, says in landmark_votes(decoding):
        implied = says - chosen  # the offset the landmark asks for
        total += lm.confidence * (float(implied == 0) - float(implied == alt_offset))
    return float(total)


@dataclass(frozen=True)
class NumberingEvidence:
    """Features of one decoding plus what the alternative numbering is.

    Attributes:
        features: ``{name: value}`` for every name of :data:`~hca_disc_label.inference.calibration.FEATURES`.
        alt_offset: the more plausible one-level shift (-1 or +1): alternative value - chosen.
        scores: DP score of the chosen numbering (0) and of the -1 / +1 shifts.
    """

    features: dict[str, float]
    alt_offset: int
    scores: dict[int, float]


def numbering_features(decoding: Decoding) -> NumberingEvidence:
    """Per-image evidence about the count (see :data:`~hca_disc_label.inference.calibration.FEATURES`).

    * ``margin``: score of the chosen numbering minus the better of the two one-level shifts,
      clipped to +-:data:`MARGIN_CLIP` (DP objective: detection + channel evidence - geometry);
      ``log_margin``: its log (:data:`LOG_MARGIN_OFFSET`), what the calibration uses;
    * ``agree`` / ``alt_agree``: share of discs whose strongest channel is the chosen value /
      the alternative's value;
    * ``log_discs``: log of the number of discs (a long run of discs is counted more surely);
    * ``junction``: 1 when a count-fixing end is in view (C1/C2 or C2/C3 at the top, L5/S1 at
      the bottom, with at least :data:`JUNCTION_ROOM_MM` of image beyond it), else 0;
    * ``edge_room``: the larger room (mm, capped) between an end disc and its image edge,
      divided by :data:`EDGE_ROOM_CAP_MM` -- a field of view cut right at the last disc leaves
      the count to the channels alone;
    * ``skips``: levels skipped between kept discs (a missing disc is where a count can slip);
    * ``landmark_margin``: :func:`landmark_margin` of the decoding's landmarks (0 for
      disc-only models such as 0.3.0; a calibration of a landmark model weighs it).
    """
    if not decoding.path:
        raise ValueError("no decoded disc: nothing to number")
    scores = shift_scores(decoding)
    alt = -1 if scores[-1] >= scores[1] else 1
    margin = scores[0] - scores[alt]
    margin = float(np.clip(margin if np.isfinite(margin) else MARGIN_CLIP, -MARGIN_CLIP, MARGIN_CLIP))
    ev = decoding.evidence
    strongest = [int(np.argmax(ev[i])) for i, _ in decoding.path]
    chosen = [k for _, k in decoding.path]
    n = len(chosen)
    values = [decoding.channel_values[k] for k in chosen]
    rows = [decoding.positions[i].row for i, _ in decoding.path]
    sp = decoding.spacing_mm
    height = decoding.valid_shape[0] if decoding.valid_shape is not None else None
    room_top = sp * rows[0] if height is not None else EDGE_ROOM_CAP_MM
    room_bottom = sp * (height - 1 - rows[-1]) if height is not None else EDGE_ROOM_CAP_MM
    top_junction = values[0] <= 3 and room_top >= JUNCTION_ROOM_MM
    bottom_junction = values[-1] == L5_S1 and room_bottom >= JUNCTION_ROOM_MM
    features = {
        "margin": margin,
        "log_margin": math.log(max(margin, 0.0) + LOG_MARGIN_OFFSET),
        "agree": float(np.mean([s == k for s, k in zip(strongest, chosen)])),
        "alt_agree": float(np.mean([s == k + alt for s, k in zip(strongest, chosen)])),
        "log_discs": math.log(n),
        "junction": float(top_junction or bottom_junction),
        "edge_room": min(EDGE_ROOM_CAP_MM, max(room_top, room_bottom, 0.0)) / EDGE_ROOM_CAP_MM,
        "skips": float(sum(max(0, b - a - 1) for a, b in zip(values[:-1], values[1:]))),
        "landmark_margin": landmark_margin(decoding, alt),
    }
    return NumberingEvidence(features, alt, scores)


# ----------------------------------------------------------------------------- the block


@dataclass
class Numbering:
    """The sidecar's ``Numbering`` block and what the CLI says about it.

    Attributes:
        confidence: probability that every written value is right.
        status: ``"ok"`` or ``"check"`` (confidence under ``threshold``).
        alt_offset, alt_confidence: the other numbering (every value + ``alt_offset``) and its
            probability.
        anchors: what fixes the count: hints, junctions in view, landmarks.
        threshold: the status cut.
        source: ``"network"`` (decoded from the disc channels), ``"landmarks"`` (clear landmarks
            set the count), ``"lumbosacral"`` (the lumbosacral turn renumbered the lowest discs,
            :mod:`~hca_disc_label.inference.lumbosacral`: always ``check``) or ``"hint"`` (a user's hint set it).
        question: ``(disc index, chosen value, alternative value)`` the hint asks about.
        features: the evidence (sidecar, for later study).
        hint_slice: axial slice (RPI, inferior = 0) of the asked-about disc, set by whoever
            knows the image grid (:meth:`with_slice`); then the block carries the ``-initz`` hint.
    """

    confidence: float
    status: str
    alt_offset: int
    alt_confidence: float
    anchors: list[dict]
    threshold: float
    source: str = "network"
    question: tuple[int, int, int] | None = None
    features: dict[str, float] = field(default_factory=dict)
    calibration: str = ""
    hint_slice: int | None = None

    def with_slice(self, z_slice: int | None) -> Numbering:
        """This block with the ``-initz`` slice of the asked-about disc."""
        from dataclasses import replace

        return replace(self, hint_slice=None if z_slice is None else int(z_slice))

    def unstable(self, tests: Sequence[dict]) -> Numbering:
        """This block after strip tests (:mod:`~hca_disc_label.inference.stability`, as their
        ``to_json()``): ``check`` at a confidence of at most 0.5 when one of them changed a value."""
        from dataclasses import replace

        if not any(t["changed"] for t in tests):
            return replace(self, anchors=self.anchors + list(tests))
        confidence = min(self.confidence, 0.5, self.threshold - 1e-4)
        return replace(self, confidence=confidence, status="check", alt_confidence=1.0 - confidence,
                       anchors=self.anchors + list(tests))

    @property
    def hint(self) -> str:
        """``-initz SLICE,VALUE`` naming the asked-about disc with its chosen value ("" when unknown)."""
        if self.hint_slice is None or self.question is None:
            return ""
        return f"-initz {self.hint_slice},{self.question[1]}"

    @property
    def alternative_hint(self) -> str:
        """``-initz SLICE,VALUE`` naming the asked-about disc with the alternative value (the
        hint that shifts the count; "" when unknown)."""
        if self.hint_slice is None or self.question is None:
            return ""
        return f"-initz {self.hint_slice},{self.question[2]}"

    def to_json(self) -> dict:
        out = {
            "confidence": round(self.confidence, 4),
            "status": self.status,
            "alternative": {"offset": self.alt_offset, "confidence": round(self.alt_confidence, 4)},
            "anchors": self.anchors,
            "threshold": self.threshold,
            "source": self.source,
        }
        if self.source != "hint" and self.question is not None:
            out["question"] = self.doubt()
            if self.hint:
                out["hint"] = self.hint
                out["alternative_hint"] = self.alternative_hint
        if self.features:
            out["evidence"] = {k: round(v, 4) for k, v in self.features.items()}
        if self.calibration:
            out["calibration"] = self.calibration
        return out

    def doubt(self) -> str:
        """E.g. ``is the lowest disc L5/S1 or L4/L5?``."""
        if self.question is None:
            return ""
        index, value, other = self.question
        where = {-1: "lowest disc", 0: "highest disc", -2: "disc above the lowest", 1: "disc below the highest"}
        return f"is the {where.get(index, 'disc')} {_name(value)} or {_name(other)}?"

    def hint_command(self, image: str, contrast: str, z_slice: int | None = None, alternative: bool = False) -> str:
        """The command that settles it: the asked-about disc named with ``-initz``, with its
        chosen value (keeps the count) or, with ``alternative``, the other one (shifts it)."""
        _, value, other = self.question or (0, 0, 0)
        z = self.hint_slice if z_slice is None else z_slice
        return f"hca_label -i {shlex.quote(str(image))} -c {contrast} -initz {int(z or 0)},{other if alternative else value}"

    def warning(self, image: str, contrast: str, z_slice: int | None = None) -> str:
        """The one stderr line of a ``check`` image: the doubt and both ``-initz`` answers
        (e.g. which disc is L5/S1: the lowest one, or the one above it)."""
        _, value, other = self.question or (0, 0, 0)
        turn = next((a for a in self.anchors if a.get("kind") == "lumbosacral_turn"), None)
        why = "" if turn is None else f", the spine turns {turn['turn_deg']:.0f} deg at the disc above the lowest"
        below = next((a for a in self.anchors if a.get("kind") == "disc_below"), None)
        if below is not None:
            why += f", a disc-like peak {below['distance_mm']:.0f} mm below the lowest disc was left out"
        strip = next((a for a in self.anchors if a.get("kind") == "strip_test" and a["changed"]), None)
        if strip is not None:
            why += f", the count changes when {strip['strip_mm']:g} mm is cut off the {strip['end']}"
        return (f"{image}: numbering uncertain ({self.confidence:.2f}{why}): {self.doubt()} "
                f"if {_name(value)}, confirm with: {self.hint_command(image, contrast, z_slice)}; "
                f"if {_name(other)}: {self.hint_command(image, contrast, z_slice, alternative=True)}")


def _question(decoding: Decoding, alt_offset: int) -> tuple[int, int, int]:
    """Which disc to ask about: the end disc next to the junction that fixes the count.

    The lowest disc when the image reaches the lumbar spine (median value >= 15: the sacrum is
    the landmark), else the highest (C2). When the alternative would give that disc a value no
    disc has (the lowest "L5/S1" that may be the S1/S2 remnant, the highest "C1/C2" that may be
    above C1), the question moves to its neighbour, so both ``-initz`` answers are real disc
    values: "is the disc above the lowest L4/L5 or L5/S1?". Returns ``(index into the
    decoding's path, chosen value, alternative value)``.
    """
    values = [decoding.channel_values[k] for _, k in decoding.path]
    index = -1 if float(np.median(values)) >= 15 else 0
    if values[index] + alt_offset not in DISC_NAMES and len(values) > 1:
        index = -2 if index == -1 else 1
    return index, values[index], values[index] + alt_offset


def _junction_anchors(decoding: Decoding, features: Mapping[str, float]) -> list[dict]:
    anchors = []
    values = [decoding.channel_values[k] for _, k in decoding.path]
    rows = [decoding.positions[i].row for i, _ in decoding.path]
    sp, shape = decoding.spacing_mm, decoding.valid_shape
    if values[0] <= 3 and (shape is None or sp * rows[0] >= JUNCTION_ROOM_MM):
        anchors.append({"kind": "junction", "name": _name(values[0]), "value": values[0], "end": "top"})
    if values[-1] == L5_S1 and (shape is None or sp * (shape[0] - 1 - rows[-1]) >= JUNCTION_ROOM_MM):
        anchors.append({"kind": "junction", "name": _name(values[-1]), "value": values[-1], "end": "bottom"})
    return anchors


def assess_numbering(decoding: Decoding, calibration: Calibration | None = None, threshold: float | None = None,
                     hints: Sequence[Mapping] = ()) -> Numbering:
    """The ``Numbering`` block of one decoded image.

    Args:
        decoding: :func:`~hca_disc_label.inference.decode.decode_details` output (with or
            without hints).
        calibration: the model's (:func:`load_calibration`); :data:`UNCALIBRATED` if None.
        threshold: status cut; None = the calibration's own threshold.
        hints: the user's hints as the sidecar records them (``NumberingHints``); with any, the
            count comes from the hint: status ``ok``, confidence 1, ``source: "hint"``.

    Landmarks (models with landmark channels) come with the decoding: they enter the
    ``landmark_margin`` feature and the ``anchors``.
    """
    calibration = calibration or UNCALIBRATED
    thr = float(calibration.threshold if threshold is None else threshold)
    evidence = numbering_features(decoding)
    anchors = _junction_anchors(decoding, evidence.features) + [
        {"kind": "landmark", "name": lm.name, "names": _name(says), "agrees": says == chosen,
         "confidence": round(lm.confidence, 4)} for lm, chosen, says in landmark_votes(decoding)]
    question = _question(decoding, evidence.alt_offset)
    if hints or decoding.fixed:
        hint_anchors = [{"kind": "hint", **dict(h)} for h in hints]
        return Numbering(1.0, "ok", evidence.alt_offset, 0.0, hint_anchors + anchors, thr, "hint", question,
                         {}, calibration.source)
    p = calibration.probability(evidence.features)
    if decoding.sacral_turn is not None or decoding.below_mm is not None:
        return _sacral_numbering(decoding, p, evidence, anchors, thr, calibration.source)
    other = -evidence.alt_offset
    s = evidence.scores
    gap = s[evidence.alt_offset] - s[other]
    share = 1.0 if not np.isfinite(gap) else 1.0 / (1.0 + math.exp(-np.clip(gap / calibration.alt_temperature,
                                                                              -50.0, 50.0)))
    source = "landmarks" if decoding.landmark_fixed else "network"
    return Numbering(p, "ok" if p >= thr else "check", evidence.alt_offset, (1.0 - p) * share, anchors, thr,
                     source, question, dict(evidence.features), calibration.source)


def _sacral_numbering(decoding: Decoding, p: float, evidence: NumberingEvidence, anchors: list[dict],
                      thr: float, calibration_source: str) -> Numbering:
    """The block of an image whose lumbosacral junction doubts the count: always ``check``.

    Renumbered by the turn (the lowest "L5/S1" taken for the S1/S2 remnant): the network's own
    count, one level up, is the alternative, and the two are held equally likely at most. A turn
    that only doubts: the alternative is the count one level down (the lowest disc would be
    S1/S2, so the question names the disc above it). A disc peak left out below the lowest
    "L5/S1": the alternative is the count one level up (that peak the real L5/S1). One
    ``-initz`` settles either.
    """
    if decoding.sacral_turn is not None:
        why = {"kind": "lumbosacral_turn", "name": _name(L5_S1), "turn_deg": round(float(decoding.sacral_turn), 1),
               "renumbered": decoding.sacral_renumbered}
        alt = -1 if decoding.sacral_renumbered else 1
    else:
        why = {"kind": "disc_below", "name": _name(L5_S1), "distance_mm": round(float(decoding.below_mm), 1)}
        alt = -1
    confidence = min(p, 0.5, thr - 1e-4)
    source = "lumbosacral" if decoding.sacral_renumbered else ("landmarks" if decoding.landmark_fixed else "network")
    return Numbering(confidence, "check", alt, 1.0 - confidence, anchors + [why], thr, source,
                     _question(decoding, alt), dict(evidence.features), calibration_source)
