"""synth stage of hca_disc_label (see docs/ARCHITECTURE.md)."""
