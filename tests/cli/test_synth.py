"""``hca_label synth`` end to end (in-process)."""

from __future__ import annotations

from hca_disc_label.cli.main import main


def test_synth_writes_samples(tmp_path, capsys):
    out = tmp_path / "synth"
    rc = main(["synth", "-n", "2", "-ofolder", str(out), "-seed", "3", "-2d", "-fov", "crop", "-look", "t2", "-v", "0"])
    assert rc == 0
    assert len(list(out.glob("sub-synth*/anat/*_T2w.nii.gz"))) == 2
    assert len(list((out / "derivatives" / "labels").glob("sub-synth*/anat/*_label-discs_dlabel.nii.gz"))) == 2
    assert len(list((out / "previews").glob("*.png"))) == 2
    assert str(out) in capsys.readouterr().out


def test_synth_output_is_a_bids_dataset_whose_labels_are_ground_truth(tmp_path):
    import json

    from hca_disc_label.training.data import find_bids_pairs

    out = tmp_path / "synth"
    assert main(["synth", "-n", "2", "-ofolder", str(out), "-seed", "1", "-2d", "-look", "t1"]) == 0
    raw = json.loads((out / "dataset_description.json").read_text())
    labels = json.loads((out / "derivatives" / "labels" / "dataset_description.json").read_text())
    assert raw["DatasetType"] == "raw" and raw["BIDSVersion"] and labels["DatasetType"] == "derivative"
    assert raw["GeneratedBy"][0]["Name"] == labels["GeneratedBy"][0]["Name"] == "hca_disc_label synth"
    assert raw["GeneratedBy"][0]["Seed"] == 1 and labels["SourceDatasets"] == [{"URL": "../.."}]
    assert len(find_bids_pairs(out)) == 2  # exact synthetic labels, never refused as the tool's own


def test_synth_bad_arguments_exit_2(tmp_path):
    assert main(["synth", "-n", "1", "-ofolder", str(tmp_path), "-look", "flair"]) == 2
    assert main(["synth", "-n", "0", "-ofolder", str(tmp_path)]) == 2
    assert main(["synth", "-n", "1"]) == 2


def test_synth_help(capsys):
    assert main(["synth", "-h"]) == 0
    out = capsys.readouterr().out
    assert "MANDATORY ARGUMENTS" in out and "-ofolder" in out and "-fov" in out
