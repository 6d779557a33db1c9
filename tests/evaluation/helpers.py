"""Hand-made discs in world mm for the matching and aggregation tests."""

from __future__ import annotations

from hca_disc_label.evaluation.matching import Disc


def column(values, z0=0.0, dz=-16.0, x=1.0, y=2.0):
    """Discs stacked along world z, 16 mm apart (head first)."""
    return [Disc(v, (x, y, z0 + n * dz)) for n, v in enumerate(values)]


GT = column([3, 4, 5, 6, 7])


def moved(discs, dx=0.0, dy=0.0, dz=0.0):
    """The same discs shifted by (dx, dy, dz) mm."""
    return [Disc(d.value, (d.mm[0] + dx, d.mm[1] + dy, d.mm[2] + dz)) for d in discs]
