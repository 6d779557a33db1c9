"""``python -m hca_disc_label`` is ``hca_label``."""

from hca_disc_label.cli.main import run

run()
