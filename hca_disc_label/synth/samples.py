"""Write synthetic samples to disk (NIfTI + SCT disc labels + PNG preview + JSON sidecar).

Layout (BIDS-like, so the training and evaluation commands can read it directly):

```
OUT/sub-synth0000/anat/sub-synth0000_T2w.nii.gz
OUT/derivatives/labels/sub-synth0000/anat/sub-synth0000_T2w_label-discs_dlabel.nii.gz
OUT/previews/sub-synth0000_T2w.png          (mid-sagittal slab, discs marked and named)
OUT/sub-synth0000/anat/sub-synth0000_T2w.json  (look, field of view, voxel sizes, discs)
OUT/dataset_description.json, OUT/derivatives/labels/dataset_description.json  (BIDS)
```

Sample ``i`` is drawn from ``np.random.default_rng([seed, i])``: every sample is reproducible
on its own, whatever ``n`` is.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from hca_disc_label.atomic import write_text_atomic
from hca_disc_label.contract import DEFAULT_SLAB_THICKNESS_MM
from hca_disc_label.conventions import DISC_NAMES
from hca_disc_label.image import voxel_to_world
from hca_disc_label.naming import DATASET_DESCRIPTION, NIFTI_GZ, output_name
from hca_disc_label.preprocessing import SlabGeometry, flip_sagittal
from hca_disc_label.run.derivative import BIDS_VERSION
from hca_disc_label.sidecar import generated_by

log = logging.getLogger(__name__)

_SUFFIX = {"t1": "T1w", "t2": "T2w", "gre": "acq-gre_T2w"}
SYNTH_NAME = "hca_disc_label synth"
"""``GeneratedBy[].Name`` of synthetic data (never the labelling tool's name: the labels are ground truth)."""
_PREVIEW_MIN_HEIGHT = 420


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` for a run seeded with ``seed``."""
    return np.random.default_rng([int(seed), int(index)])


def _stem(index: int, look: str) -> tuple[str, str]:
    sub = f"sub-synth{index:04d}"
    return sub, f"{sub}_{_SUFFIX[look]}"


def _label_volume(shape: tuple[int, ...], discs: dict[int, tuple[float, float, float]]) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.int16)
    for value, xyz in discs.items():
        ijk = tuple(int(np.clip(np.rint(c), 0, n - 1)) for c, n in zip(xyz, shape))
        labels[ijk] = int(value)
    return labels


def _slab_to_canonical(image: np.ndarray) -> np.ndarray:
    """Model-frame ``(H, W)`` image -> canonical ``(1, W, H)`` (x, y -> anterior, z -> superior)."""
    return np.ascontiguousarray(flip_sagittal(image)[None, :, :])


def preview_png(image: np.ndarray, discs: dict[int, tuple[float, float]], spacing: tuple[float, float],
                path: Path, title: str = "") -> None:
    """Save a PNG of a model-frame image with each disc marked and named.

    Args:
        image: ``(H, W)`` model-frame intensities.
        discs: SCT value -> (row, col) pixel coordinates.
        spacing: pixel size (mm) along rows and columns (displayed with square mm).
        path: output PNG path.
        title: text written in the top-left corner.
    """
    from PIL import Image, ImageDraw

    finite = image[np.isfinite(image) & (image > 0)]
    lo, hi = (np.percentile(finite, [1.0, 99.5]) if finite.size else (0.0, 1.0))
    grey = (np.clip((image - lo) / max(hi - lo, 1e-9), 0.0, 1.0) * 255).astype(np.uint8)
    h_mm, w_mm = image.shape[0] * spacing[0], image.shape[1] * spacing[1]
    scale = max(1.0, _PREVIEW_MIN_HEIGHT / h_mm)
    size = (max(1, int(round(w_mm * scale))), max(1, int(round(h_mm * scale))))
    pil = Image.fromarray(grey).convert("RGB").resize(size, Image.BILINEAR)
    draw = ImageDraw.Draw(pil)
    fy, fx = size[1] / image.shape[0], size[0] / image.shape[1]
    for value, (r, c) in sorted(discs.items()):
        y, x = (r + 0.5) * fy, (c + 0.5) * fx
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], outline=(255, 40, 40), width=2)
        draw.text((x + 6, y - 6), f"{value} {DISC_NAMES.get(value, '')}", fill=(255, 230, 0))
    if title:
        draw.text((4, 4), title, fill=(0, 255, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    pil.save(path)


def _volume_preview(vol, path: Path, title: str) -> None:
    """Average the slices within 3 mm of the mid-sagittal plane and draw the labels."""
    dx, dy, dz = vol.zooms
    i_mid = vol.meta["midsagittal_x"]
    half = max(0, int(np.floor(3.0 / dx)))
    centre = int(np.clip(np.rint(i_mid), 0, vol.data.shape[0] - 1))
    lo, hi = max(0, centre - half), min(vol.data.shape[0], centre + half + 1)
    plane = vol.data[lo:hi].mean(axis=0)  # (Y, Z)
    geometry = SlabGeometry.unit(*plane.shape)
    discs = {v: tuple(geometry.canonical_to_model((y, z))) for v, (_, y, z) in vol.discs.items()}
    image = flip_sagittal(plane)
    preview_png(image, discs, (dz, dy), path, title)


def _disc_records(discs: dict, affine: np.ndarray) -> list[dict]:
    out = []
    for value, xyz in sorted(discs.items()):
        mm = voxel_to_world(affine, xyz)
        out.append({"value": int(value), "name": DISC_NAMES[int(value)], "voxel": [float(c) for c in xyz],
                    "mm": [float(c) for c in mm]})
    return out


def write_samples(n: int, out_dir: Path, seed: int = 0, volumes: bool = True, look: str | None = None,
                  fov_mode: str | None = None, spacing_mm: float = 1.0) -> list[Path]:
    """Generate ``n`` samples and write them with their SCT disc labels and PNG previews.

    Args:
        n: number of samples.
        out_dir: output folder (created).
        seed: run seed; sample ``i`` uses ``np.random.default_rng([seed, i])``.
        volumes: 3D volumes (True) or 2D slabs saved as one-slice volumes (False).
        look: force "t1", "t2" or "gre" (None = random per sample).
        fov_mode: force a field-of-view mode (None = random per sample).
        spacing_mm: pixel spacing of 2D slabs (ignored for volumes, whose voxels are random).

    Returns:
        Paths of the written images, in sample order.
    """
    import nibabel as nib

    from hca_disc_label.synth.slab import generate_slab
    from hca_disc_label.synth.volume import generate_volume

    out_dir = Path(out_dir)
    written: list[Path] = []
    for i in range(int(n)):
        rng = sample_rng(seed, i)
        if volumes:
            vol = generate_volume(rng, fov_mode=fov_mode, look=look)
            data, affine, discs, meta = vol.data, vol.affine, vol.discs, vol.meta
        else:
            slab = generate_slab(rng, spacing_mm=spacing_mm, fov_mode=fov_mode, look=look)
            data = _slab_to_canonical(slab.image)
            h, w = slab.image.shape
            geometry = SlabGeometry.unit(ny=w, nz=h)
            # one slice as thick as the slab a model averages, so the file says what it shows
            affine = np.diag([-DEFAULT_SLAB_THICKNESS_MM, slab.spacing_mm, slab.spacing_mm, 1.0])
            discs = {v: tuple(geometry.model_to_canonical(r, c)[0]) for v, (r, c) in slab.discs.items()}
            meta = dict(slab.meta)
        sub, stem = _stem(i, meta["look"])
        img_path = out_dir / sub / "anat" / f"{stem}{NIFTI_GZ}"
        lab_path = out_dir / "derivatives" / "labels" / sub / "anat" / output_name(img_path.name)
        img_path.parent.mkdir(parents=True, exist_ok=True)
        lab_path.parent.mkdir(parents=True, exist_ok=True)
        image = nib.Nifti1Image(data.astype(np.float32), affine)
        image.set_qform(affine, code=1)
        image.set_sform(affine, code=1)
        nib.save(image, img_path)
        labels = nib.Nifti1Image(_label_volume(data.shape, discs), affine)
        labels.set_qform(affine, code=1)
        labels.set_sform(affine, code=1)
        nib.save(labels, lab_path)
        variant = f"/{meta['variant']}" if meta.get("variant") else ""
        title = f"{stem}  {meta['look']}{variant}  {meta['fov_mode']}"
        png = out_dir / "previews" / f"{stem}.png"
        if volumes:
            _volume_preview(vol, png, title)
        else:
            preview_png(slab.image, slab.discs, (slab.spacing_mm, slab.spacing_mm), png, title)
        sidecar = {"GeneratedBy": [{"Name": SYNTH_NAME, "Seed": int(seed), "Index": i}],
                   "meta": meta, "discs": _disc_records(discs, affine)}
        (img_path.parent / f"{stem}.json").write_text(json.dumps(sidecar, indent=1, default=float))
        log.info("wrote %s (%d discs)", img_path, len(discs))
        written.append(img_path)
    write_descriptions(out_dir, seed)
    return written


def write_descriptions(out_dir: Path, seed: int) -> None:
    """The BIDS ``dataset_description.json`` of a synthetic dataset (raw) and of its labels
    (derivative), both generated by ``hca_disc_label synth`` (not by the labelling tool: these
    labels are the exact ground truth of the synthetic anatomy)."""
    by = [generated_by(Name=SYNTH_NAME, Seed=int(seed))]
    raw = {"Name": "hca_disc_label synthetic spines", "BIDSVersion": BIDS_VERSION, "DatasetType": "raw",
           "GeneratedBy": by}
    labels = {"Name": "hca_disc_label synthetic spines: exact disc labels", "BIDSVersion": BIDS_VERSION,
              "DatasetType": "derivative", "GeneratedBy": by, "SourceDatasets": [{"URL": "../.."}]}
    for folder, desc in ((Path(out_dir), raw), (Path(out_dir) / "derivatives" / "labels", labels)):
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / DATASET_DESCRIPTION, json.dumps(desc, indent=2) + "\n")
