"""The synthetic engine's named choices: contrast looks and fields of view.

Plain data with no import, so that ``hca_label synth -h`` offers them without loading the
engine (numpy, scipy); :mod:`.randomise` and :mod:`.fov` draw from them with their weights.
"""

from __future__ import annotations

LOOKS: tuple[str, ...] = ("t1", "t2", "gre")
"""Contrast looks: T1-weighted, T2-weighted, gradient echo."""

FOV_MODES: tuple[str, ...] = ("whole", "cervical", "thoracic", "lumbar", "crop", "cervicothoracic", "thoracolumbar")
"""Field-of-view modes accepted by the generators."""
