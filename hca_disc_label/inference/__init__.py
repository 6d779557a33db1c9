"""The labelling core, which writes nothing: ``Labeller`` -> ``Labelling`` (decoding, landmarks,
numbering and its calibration, engines). See docs/ARCHITECTURE.md."""
