"""The model card: the one model sha256, and the input contract read through InputContract."""

from __future__ import annotations

import pytest

from hca_disc_label.contract import InputContract
from hca_disc_label.sidecar import model_block
from hca_disc_label.weights.card import check_input_contract, model_sha256

W, O = "a" * 64, "b" * 64
CONTRACT = {"pixel_spacing_mm": 1.0, "size_multiple": 16, "output_stride": 4}


@pytest.mark.parametrize("files, expected", [
    ({"weights": {"sha256": W}, "onnx": {"sha256": O}}, W),
    ({"onnx": {"sha256": O}}, O),  # an ONNX-only model is named by its ONNX file
    ({}, None),
])
def test_model_sha256_is_the_weights_else_the_onnx_file(files, expected):
    card = {"files": files}
    assert model_sha256(card) == expected
    assert model_block("m", "1.0.0", model_sha256(card))["SHA256"] == expected  # the sidecar uses the same one


def test_input_contract_is_returned_typed_with_the_defaults():
    typed = check_input_contract(dict(CONTRACT), "m@1.0.0")
    assert typed == InputContract(1.0, 16, 4)


@pytest.mark.parametrize("change, message", [
    ({"size_multiple": 16.0}, "size_multiple must be a positive integer"),
    ({"slab_thickness_mm": 0}, "slab_thickness_mm must be a positive number"),
    ({"low_percentile": 1.0}, "low_percentile/high_percentile"),  # both or neither
    ({"low_percentile": 99.5, "high_percentile": 1.0}, "low_percentile/high_percentile"),
    ({"normalisation": 1}, "normalisation must be a string"),
])
def test_bad_input_contracts_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        check_input_contract({**CONTRACT, **change}, "m@1.0.0")


def test_architecture_in_channels_must_match_the_channel_offsets():
    from hca_disc_label.errors import ModelError
    from hca_disc_label.weights.card import validate_card

    card = {"name": "m", "version": "1.0.0", "architecture": {"width": 8}, "channel_values": [3, 4],
            "input": {**CONTRACT, "channel_offsets_mm": [-10, 0, 10]}}
    with pytest.raises(ModelError, match="in_channels 1 does not match the 3 input.channel_offsets_mm"):
        validate_card(card, "m", require_files=False)
    validate_card({**card, "architecture": {"width": 8, "in_channels": 3}}, "m", require_files=False)
    with pytest.raises(ModelError, match="in_channels 3 does not match the 1"):
        validate_card({**card, "architecture": {"in_channels": 3}, "input": CONTRACT}, "m", require_files=False)


@pytest.mark.parametrize("bad", [1, 0, 2.5, "3", False])
def test_an_ensemble_key_must_be_an_integer_of_at_least_two(bad):
    from hca_disc_label.errors import ModelError
    from hca_disc_label.weights.card import validate_card

    card = {"name": "m", "version": "1.0.0", "architecture": {"width": 8, "ensemble": 2}, "channel_values": [3, 4],
            "input": CONTRACT}
    validate_card(card, "m", require_files=False)
    with pytest.raises(ModelError, match="ensemble must be an integer >= 2"):
        validate_card({**card, "architecture": {"width": 8, "ensemble": bad}}, "m", require_files=False)
