"""hca_disc_label: intervertebral disc labelling of sagittal spine MRI with HCA-Net.

The public API is :class:`Labeller` (built once from a model, contrast, backend and device;
``label(image)`` labels in memory) and :func:`label_discs` (load -> ``Labeller.label`` ->
write). Both are imported lazily so that ``import hca_disc_label`` stays cheap and never
imports torch.
"""

from hca_disc_label._version import __version__

__all__ = ["Labeller", "__version__", "label_discs"]


def __getattr__(name: str):
    if name == "label_discs":
        from hca_disc_label.inference.pipeline import label_discs

        return label_discs
    if name == "Labeller":
        from hca_disc_label.labeller import Labeller

        return Labeller
    raise AttributeError(name)
