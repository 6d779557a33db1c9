"""``hca_label synth``: write synthetic spine images with exact disc labels, to look at or train on."""

from __future__ import annotations

from pathlib import Path

import click

from hca_disc_label.cli.common import SCTCommand, setup_logging, verbose_option
from hca_disc_label.synth.choices import FOV_MODES, LOOKS

_HELP = (
    "Generate synthetic sagittal spine MRI with exact SCT disc labels (posterior tip of each "
    "disc, value = vertebra below: 2 = C1/C2 ... 25 = L5/S1). Anatomy from the dens to the "
    "sacrum with random sizes, curvatures and degeneration; domain-randomised contrast (T1w, "
    "T2w, gradient echo, fat suppression, random), bias field, noise, blur and artefacts; random "
    "voxel sizes and fields of view. Writes a BIDS-like folder: "
    "sub-synthNNNN/anat/*.nii.gz, derivatives/labels/.../*_label-discs_dlabel.nii.gz, a JSON "
    "sidecar per image, and previews/*.png with the discs marked."
)
_EPILOG = "Example: hca_label synth -n 12 -ofolder synth_preview -seed 1 -fov cervical"


@click.command(
    cls=SCTCommand,
    groups={"MANDATORY": ["ofolder"]},
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help=_HELP,
    epilog=_EPILOG,
)
@click.option("-ofolder", "ofolder", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (created if needed).")
@click.option("-n", "n", type=click.IntRange(min=1), default=10, show_default=True, help="Number of samples.")
@click.option("-seed", "seed", type=int, default=0, show_default=True,
              help="Random seed; sample i of a run is reproducible on its own.")
@click.option("-look", "look", type=click.Choice(LOOKS), default=None,
              help="Force the contrast look (default: random per sample).")
@click.option("-fov", "fov", type=click.Choice(FOV_MODES), default=None,
              help="Force the field of view (default: random per sample).")
@click.option("-2d", "two_d", is_flag=True, default=False,
              help="Write fast 2D mid-sagittal slabs (one-slice volumes at 1 mm) instead of 3D volumes.")
@verbose_option
@click.pass_context
def command(ctx: click.Context, ofolder: Path, n: int, seed: int, look: str | None, fov: str | None,
            two_d: bool, verbose: str) -> int:
    """Write ``n`` synthetic samples into ``ofolder``."""
    setup_logging(verbose)
    from hca_disc_label.errors import OutputError
    from hca_disc_label.synth.samples import write_samples

    try:
        ofolder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {ofolder}: {exc.strerror or exc}") from None
    paths = write_samples(n, ofolder, seed=seed, volumes=not two_d, look=look, fov_mode=fov)
    click.echo(f"Wrote {len(paths)} synthetic sample(s) to {ofolder}")
    click.echo(f"Previews: {ofolder / 'previews'}")
    return 0
