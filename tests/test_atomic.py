"""atomic: whole files or nothing, temporaries removed by the signal cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest

from hca_disc_label import atomic


def test_atomic_write_replaces_whole_files_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.json"
    atomic.write_text_atomic(target, "one")
    assert target.read_text() == "one" and oct(target.stat().st_mode & 0o777) != "0o600"

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.atomic_write(target, broken)
    assert target.read_text() == "one"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temporary left


def test_pending_temporaries_are_removed_by_the_signal_cleanup(tmp_path):
    tmp = atomic.temp_path_for(tmp_path / "labels.nii.gz")
    assert tmp.exists() and atomic.TEMP_MARK in tmp.name and tmp.name.endswith(".nii.gz")
    assert str(tmp) in atomic.remove_pending()
    assert not tmp.exists() and atomic.remove_pending() == []
