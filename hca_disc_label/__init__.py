"""hca_disc_label: intervertebral disc labelling of sagittal spine MRI with HCA-Net.

The public API (:data:`__all__`):

- :class:`Labeller`: built once from a model, contrast, backend and device;
  ``label(image)`` labels a NIfTI path, a nibabel image or an array with its affine, in memory;
- :class:`Labelling`: what ``label`` returns (discs, numbering, sidecar; ``to_nifti()`` is the
  label image as a nibabel image);
- :func:`label_discs`: load -> ``Labeller.label`` -> write the label file, its sidecar and QC
  (the contrast from the ``_T1w``/``_T2w`` suffix when not given), returning a :class:`LabelResult`;
- :class:`DiscRecord`: one labelled disc; :class:`HCAError`: every expected failure.

They are imported on first use so that ``import hca_disc_label`` (and ``hca_label -h``) stays
cheap and never imports numpy-heavy code or torch.
"""

from hca_disc_label._version import __version__

__all__ = ["DiscRecord", "HCAError", "LabelResult", "Labeller", "Labelling", "__version__", "label_discs"]

_HOMES = {
    "DiscRecord": "hca_disc_label.inference.labelling",
    "HCAError": "hca_disc_label.errors",
    "LabelResult": "hca_disc_label.run.pipeline",
    "Labeller": "hca_disc_label.inference.labeller",
    "Labelling": "hca_disc_label.inference.labelling",
    "label_discs": "hca_disc_label.run.pipeline",
}
"""Public name -> the module that defines it."""


def __getattr__(name: str):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'hca_disc_label' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
