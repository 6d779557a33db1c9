"""benchmarks/count_stability.py on a tiny subset: the strip test's table per set."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


def test_count_stability_on_two_synthetic_images(capsys):
    bench = load_script(ROOT / "benchmarks" / "count_stability.py")
    assert bench.main(["hca-compact", "--sets", "syn:s1s2-remnant", "--n", "2"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| syn:s1s2-remnant |"))
    images, ok, ok_after, wrong_ok, wrong_ok_after, flagged = (int(v) for v in row.split("|")[2:8])
    assert images == 2 and 0 <= ok_after <= ok <= images and 0 <= wrong_ok_after <= wrong_ok <= ok
    assert flagged == (ok - ok_after) - (wrong_ok - wrong_ok_after)  # every flag is a right or a wrong ok image
    assert "| all | 2 |" in out
