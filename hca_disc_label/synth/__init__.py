"""Synthetic spine engine: domain-randomised sagittal spine MRI with exact disc labels.

Lets a disc labeler be trained with no manual annotation. A random adult spine (C1/C2 down
to the coccyx, level-dependent sizes, lordosis / kyphosis, a coronal curve in some subjects,
degeneration) with its canal, cord, posterior elements, pelvis, skull base and soft tissue is
built in mm (:mod:`.spine_params`, :mod:`.chain`, :mod:`.anatomy`, :mod:`.coronal`,
:mod:`.pelvis`, :mod:`.head`, :mod:`.body`, :mod:`.scene`), rasterised with
partial volume (:mod:`.raster`), then given a random MR appearance (:mod:`.randomise`). Labels
are the exact posterior tips of the discs from the geometry, with SCT values (2 = C1/C2 ...
25 = L5/S1).

Entry points (nothing is re-exported here: import each name from its module):

* :func:`.slab.generate_slab` -> :class:`.slab.SynthSlab`: a 2D mid-sagittal image in the model
  frame (fast path for training);
* :func:`.volume.generate_volume` -> :class:`.volume.SynthVolume`: a 3D canonical ("L", "A", "S")
  volume with random voxel sizes, so the real preprocessing runs on it;
* :func:`.samples.write_samples`: NIfTI + SCT label NIfTI + PNG preview per sample.
"""
