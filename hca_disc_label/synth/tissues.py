"""Tissue classes painted by the synthetic spine engine.

Every rendered image comes with a tissue-class map (one ``uint8`` class per pixel, the class
covering at least half of the pixel), used by the tests and available to trainers that want an
auxiliary target. Intensities are never stored per class here: :mod:`.randomise` draws them per
image (SynthSeg-style domain randomisation).
"""

from __future__ import annotations

from enum import IntEnum


class Tissue(IntEnum):
    """Tissue class codes of the class map (``uint8``)."""

    AIR = 0  #: outside the body, airway, sinuses, bowel gas
    FAT = 1  #: subcutaneous, epidural, intermuscular, marrow-free fat
    MUSCLE = 2  #: skeletal muscle (paraspinal, neck, tongue, abdominal wall, psoas)
    CORTEX = 3  #: cortical bone, endplates, skull tables
    MARROW = 4  #: cancellous bone marrow (vertebrae, posterior elements, skull diploe)
    ANNULUS = 5  #: disc annulus fibrosus (and fused sacral disc remnants)
    NUCLEUS = 6  #: disc nucleus pulposus
    CSF = 7  #: cerebrospinal fluid (thecal sac, cisterns, ventricles, sulci)
    CORD = 8  #: spinal cord, brainstem
    LIGAMENT = 9  #: ligaments, dura, tentorium, fascia (dark on every contrast)
    BRAIN = 10  #: cerebrum
    CEREBELLUM = 11  #: cerebellum
    VESSEL = 12  #: large vessels, heart blood pool (flow void or bright inflow)
    LUNG = 13  #: lung parenchyma
    VISCERA = 14  #: heart muscle, liver, bowel wall, pelvic organs
    NERVE = 15  #: cauda equina and nerve roots
    FLUID = 16  #: free water outside the CSF (bladder, bowel fluid, joint fluid)
    SOFT = 17  #: other soft tissue (pharyngeal wall, thyroid, skin, face)
    WHITE = 18  #: cerebral / cerebellar white matter (corpus callosum, arbor vitae)


N_TISSUES: int = len(Tissue)
"""Number of tissue classes (class codes are ``0 .. N_TISSUES - 1``)."""

BONE_TISSUES: tuple[Tissue, ...] = (Tissue.CORTEX, Tissue.MARROW)
DISC_TISSUES: tuple[Tissue, ...] = (Tissue.ANNULUS, Tissue.NUCLEUS)
CANAL_TISSUES: tuple[Tissue, ...] = (Tissue.CSF, Tissue.CORD, Tissue.NERVE, Tissue.FAT, Tissue.LIGAMENT)
"""Classes found just behind a disc's posterior tip (thecal sac, epidural fat, PLL)."""
