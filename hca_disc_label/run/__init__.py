"""Everything that writes: one image (pipeline), a dataset (batch, workers), the summary, the derivative folder."""
