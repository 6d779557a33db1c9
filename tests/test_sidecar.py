"""sidecar: its blocks, GeneratedBy, written-by-us and up-to-date, its one text format."""

from __future__ import annotations

import json

from hca_disc_label.naming import sidecar_path_for
from hca_disc_label.sidecar import (
    build_sidecar,
    is_up_to_date,
    our_generation,
    read_sidecar,
    sidecar_text,
    written_by_us,
)


def test_sidecar_blocks_generated_by_and_up_to_date(tmp_path):
    model = {"Name": "m", "Version": "1.0.0", "SHA256": "abc"}
    side = build_sidecar(discs=[{"value": 3}], input_path="in.nii.gz", contrast="t2", threshold=0.3, model=model,
                         backend="onnx", device="cpu", command_line="hca_label", slice_info={"canonical_x": 4},
                         hints=[{"source": "-initz"}], extra={"Numbering": {"status": "ok"}})
    entry = our_generation(side)
    assert {"Name", "Version", "Link", "Date", "CommandLine", "Model", "Backend", "Device"} <= set(entry)
    assert side["Numbering"] == {"status": "ok"} and side["NumberingHints"] == [{"source": "-initz"}]
    image, out = tmp_path / "in.nii.gz", tmp_path / "in_label-discs_dlabel.nii.gz"
    image.write_bytes(b"x")
    assert written_by_us(out)  # absent
    out.write_bytes(b"y")
    assert not written_by_us(out)  # no sidecar: someone else's
    sidecar_path_for(out).write_text(json.dumps(side))
    assert written_by_us(out) and read_sidecar(sidecar_path_for(out))["Contrast"] == "t2"
    assert is_up_to_date(out, image, model, 0.3)
    assert not is_up_to_date(out, image, {**model, "Version": "2.0.0"}, 0.3)
    assert not is_up_to_date(out, image, model, 0.5)


def test_sidecar_text_is_the_one_format():
    side = {"Discs": [{"value": 3, "name": "C2/C3"}], "Note": "\u00e9"}
    text = sidecar_text(side)
    assert text == json.dumps(side, indent=2) + "\n" and "\\u00e9" in text and json.loads(text) == side
