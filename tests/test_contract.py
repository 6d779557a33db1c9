"""contract: the input contract's defaults, defined once, and preparing an image as it says."""

from __future__ import annotations

import numpy as np

from hca_disc_label.contract import DEFAULT_SLAB_THICKNESS_MM, InputContract
from hca_disc_label.preprocessing import prepare_input


def test_input_contract_defaults_once():
    c = InputContract.from_mapping({"pixel_spacing_mm": 1, "size_multiple": 64, "output_stride": 4})
    assert (c.slab_thickness_mm, c.low_percentile, c.high_percentile) == (DEFAULT_SLAB_THICKNESS_MM, 1.0, 99.5) == (6.0, 1.0, 99.5)
    assert c.with_slab(3.0).slab_thickness_mm == 3.0 and c.with_slab(None) is c
    prepared = prepare_input(c, np.random.default_rng(0).random((20, 40, 50), dtype=np.float32), (1.0, 1.0, 1.0))
    assert prepared.image.shape[0] % 64 == 0 and prepared.image.shape[1] % 64 == 0


def test_training_and_synthetic_samples_take_the_contract_slab():
    import inspect

    from hca_disc_label.training.config import TrainConfig
    from hca_disc_label.training.data import load_bids_case

    assert TrainConfig(out_dir="run").slab_mm == DEFAULT_SLAB_THICKNESS_MM
    assert inspect.signature(load_bids_case).parameters["slab_mm"].default == DEFAULT_SLAB_THICKNESS_MM


def test_channel_offsets_default_to_the_one_mid_sagittal_channel_and_are_checked():
    import pytest

    from hca_disc_label.contract import check_input_contract

    base = {"pixel_spacing_mm": 1, "size_multiple": 16, "output_stride": 4}
    one = InputContract.from_mapping(base)
    assert one.channel_offsets_mm == (0.0,) and (one.channels, one.centre_channel) == (1, 0)
    three = InputContract.from_mapping({**base, "channel_offsets_mm": [-12, 0, 12.5]})
    assert three.channel_offsets_mm == (-12.0, 0.0, 12.5) and (three.channels, three.centre_channel) == (3, 1)
    assert three.to_dict()["channel_offsets_mm"] == [-12.0, 0.0, 12.5]
    check_input_contract({**base, "channel_offsets_mm": [0, 10]}, "m@1.0.0")
    for bad in ([], [5, 10], [0, 0], [0, True], [0, "3"], [0, float("nan")], "0", 0):
        with pytest.raises(ValueError, match="m@1.0.0: input.channel_offsets_mm must"):
            check_input_contract({**base, "channel_offsets_mm": bad}, "m@1.0.0")
