"""The promise under bad input and faults (issue 12), generated at test time.

For every case: exit code 1 (2 for bad arguments), exactly one line on stderr naming the file
at fault (usage text for bad arguments), no traceback, nothing written, no temporary file left,
the input byte-identical. Signals and concurrent writers: ``test_interrupts.py``.

Images are tiny synthetic volumes (a bright sagittal stripe pattern, 1 mm voxels) written as
uncompressed NIfTI so header bytes can be patched; the embedded default model (ONNX) is used
where a case gets that far.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pytest

from hca_disc_label.cli.main import main
from tests.helpers import temp_files


# NIfTI-1 header byte offsets
DIM, DATATYPE, BITPIX, PIXDIM, VOX_OFFSET, SCL_SLOPE, SCL_INTER = 40, 70, 72, 76, 108, 112, 116
QFORM_CODE, SFORM_CODE, SROW_X, MAGIC = 252, 254, 280, 344


# --------------------------------------------------------------------------- generators
def _volume(shape=(24, 40, 40), dtype=np.int16) -> np.ndarray:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 50, size=shape).astype(dtype)
    data[shape[0] // 2 - 2: shape[0] // 2 + 2, :, ::6] = 400  # something to look at
    return data


def _nifti(path: Path, data=None, affine=None, dtype=np.int16) -> Path:
    data = _volume(dtype=dtype) if data is None else data
    img = nib.Nifti1Image(data, np.diag([1.0, 1.0, 1.0, 1.0]) if affine is None else affine)
    img.set_qform(img.affine, 1)
    img.set_sform(img.affine, 1)
    nib.save(img, str(path))
    return path


def _patched(path: Path, patches: list[tuple[int, str, object]], data=None, dtype=np.int16) -> Path:
    """A valid uncompressed NIfTI with header fields overwritten: ``(offset, struct format, value)``."""
    _nifti(path, data=data, dtype=dtype)
    raw = bytearray(path.read_bytes())
    for offset, fmt, value in patches:
        values = value if isinstance(value, tuple) else (value,)
        struct.pack_into("<" + fmt, raw, offset, *values)
    path.write_bytes(bytes(raw))
    return path


def _truncated(path: Path, keep: float) -> Path:
    _nifti(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])
    return path


def _gz_truncated(path: Path) -> Path:
    _nifti(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _big_gz(path: Path) -> Path:
    """A small .nii.gz whose header declares 900 MB of voxels (gzip trailer says otherwise)."""
    tmp = path.with_name("tmp_big.nii")
    _patched(tmp, [(DIM, "8h", (3, 1000, 1000, 450, 1, 1, 1, 1))])
    path.write_bytes(gzip.compress(tmp.read_bytes()))
    tmp.unlink()
    return path


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _nan_affine(path: Path) -> Path:
    """The sform (the affine nibabel uses, qform off) holds a NaN."""
    return _patched(path, [(QFORM_CODE, "h", 0), (SFORM_CODE, "h", 1), (SROW_X, "4f", (float("nan"), 0.0, 0.0, 0.0))])


def _label_file(path: Path, shape=(24, 40, 40), value=3, at=(12, 20, 20), affine=None) -> Path:
    data = np.zeros(shape, dtype=np.int16)
    data[at] = value
    return _nifti(path, data=data, affine=affine)


# name -> (file name, generator(path) -> path); every one must fail with exit 1 naming the file
BAD_IMAGES: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "missing": ("missing_T2w.nii.gz", lambda p: p),
    "dangling-symlink": ("link_T2w.nii.gz", lambda p: (os.symlink(p.parent / "nowhere.nii.gz", p), p)[1]),
    "directory": ("dir_T2w.nii.gz", lambda p: (p.mkdir(), p)[1]),
    "not-nifti-extension": ("scan_T2w.txt", lambda p: _write(p, b"hello")),
    "empty-nii": ("empty_T2w.nii", lambda p: _write(p, b"")),
    "empty-gz": ("empty_T2w.nii.gz", lambda p: _write(p, b"")),
    "garbage-gz": ("garbage_T2w.nii.gz", lambda p: _write(p, os.urandom(3000))),
    "gzip-of-garbage": ("gzgarbage_T2w.nii.gz", lambda p: _write(p, gzip.compress(os.urandom(3000)))),
    "header-only": ("hdr_T2w.nii", lambda p: (_nifti(p), _write(p, p.read_bytes()[:348]))[1]),
    "truncated-nii": ("trunc_T2w.nii", lambda p: _truncated(p, 0.5)),
    "truncated-gz": ("trunc_T2w.nii.gz", _gz_truncated),
    "bad-sizeof_hdr": ("sizeof_T2w.nii", lambda p: _patched(p, [(0, "i", 123)])),
    "bad-magic": ("magic_T2w.nii", lambda p: _patched(p, [(MAGIC, "4s", b"xyz\0")])),
    "dim0-9": ("dim9_T2w.nii", lambda p: _patched(p, [(DIM, "h", 9)])),
    "dim0-0": ("dim0_T2w.nii", lambda p: _patched(p, [(DIM, "h", 0)])),
    "negative-dim": ("negdim_T2w.nii", lambda p: _patched(p, [(DIM + 2, "h", -24)])),
    "zero-dim": ("zerodim_T2w.nii", lambda p: _patched(p, [(DIM + 4, "h", 0)])),
    "unknown-datatype": ("dtype_T2w.nii", lambda p: _patched(p, [(DATATYPE, "h", 1234)])),
    "rgb24": ("rgb_T2w.nii", lambda p: _patched(p, [(DATATYPE, "h", 128), (BITPIX, "h", 24)])),
    "complex64": ("complex_T2w.nii", lambda p: _patched(p, [(DATATYPE, "h", 32), (BITPIX, "h", 64)])),
    "nan-scl_inter": ("nanscl_T2w.nii", lambda p: _patched(p, [(SCL_SLOPE, "f", 1.0), (SCL_INTER, "f", float("nan"))])),
    "inf-scl_slope": ("infscl_T2w.nii", lambda p: _patched(p, [(SCL_SLOPE, "f", float("inf"))])),
    "negative-vox_offset": ("negoff_T2w.nii", lambda p: _patched(p, [(VOX_OFFSET, "f", -352.0)])),
    "vox_offset-in-header": ("lowoff_T2w.nii", lambda p: _patched(p, [(VOX_OFFSET, "f", 96.0)])),
    "misaligned-vox_offset": ("misoff_T2w.nii", lambda p: _patched(p, [(VOX_OFFSET, "f", 353.0)])),
    "vox_offset-past-end": ("faroff_T2w.nii", lambda p: _patched(p, [(VOX_OFFSET, "f", 1.0e7)])),
    "absurd-size": ("absurd_T2w.nii", lambda p: _patched(p, [(DIM, "8h", (3, 30000, 30000, 30000, 1, 1, 1, 1))])),
    "declared-larger-than-file": ("large_T2w.nii", lambda p: _patched(p, [(DIM, "8h", (3, 1000, 1000, 450, 1, 1, 1, 1))])),
    "declared-larger-than-gz": ("large_T2w.nii.gz", _big_gz),
    "2d": ("flat_T2w.nii", lambda p: _nifti(p, data=_volume((40, 40, 1))[..., 0])),
    "1d": ("line_T2w.nii", lambda p: _nifti(p, data=np.arange(50, dtype=np.int16))),
    "5d": ("five_T2w.nii", lambda p: _nifti(p, data=np.ones((8, 8, 8, 1, 3), np.int16))),
    "nan-affine": ("nanaff_T2w.nii", _nan_affine),
    "singular-affine": ("sing_T2w.nii", lambda p: _patched(p, [(QFORM_CODE, "h", 0), (SFORM_CODE, "h", 1),
                                                               (SROW_X + 16, "4f", (0.0, 0.0, 0.0, 0.0))])),
    "huge-voxels": ("huge_T2w.nii", lambda p: _nifti(p, affine=np.diag([100.0, 100.0, 100.0, 1.0]))),
    "all-nan": ("nan_T2w.nii", lambda p: _nifti(p, data=np.full((24, 40, 40), np.nan, np.float32), dtype=np.float32)),
    "constant": ("const_T2w.nii", lambda p: _nifti(p, data=np.full((24, 40, 40), 7, np.int16))),
    "all-zero": ("zero_T2w.nii", lambda p: _nifti(p, data=np.zeros((24, 40, 40), np.int16))),
    "axial-thick-slices": ("axial_T2w.nii", lambda p: _nifti(p, affine=np.diag([0.5, 0.5, 5.0, 1.0]))),
}

BAD_HINTS: dict[str, Callable[[Path], Path]] = {
    "hint-missing": lambda p: p,
    "hint-nan-affine": _nan_affine,
    "hint-2d": lambda p: _nifti(p, data=np.ones((40, 40), np.int16)),
    "hint-huge-header": lambda p: _patched(p, [(DIM, "8h", (3, 30000, 30000, 30000, 1, 1, 1, 1))]),
    "hint-truncated": lambda p: _truncated(p, 0.6),
    "hint-rgb": lambda p: _patched(p, [(DATATYPE, "h", 128), (BITPIX, "h", 24)]),
    "hint-dim0-9": lambda p: _patched(p, [(DIM, "h", 9)]),
    "hint-no-disc": lambda p: _nifti(p, data=np.zeros((24, 40, 40), np.int16)),
    "hint-outside-image": lambda p: _label_file(p, affine=np.diag([1.0, 1.0, 1.0, 1.0]) + np.array(
        [[0, 0, 0, 5000.0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])),
}


# --------------------------------------------------------------------------- the promise
def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _check_promise(rc: int, err: str, expected_rc: int, names: str, before: dict, folder: Path, out: Path):
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert rc == expected_rc, err
    assert "Traceback" not in err and "unexpected error" not in err, err
    if expected_rc == 1:
        assert len(lines) == 1, err
        assert names in lines[0], err
    assert _snapshot(folder) == before  # input (and everything beside it) byte-identical
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))  # nothing written
    assert not temp_files(folder, out)


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_image(case, tmp_path, capsys):
    name, make = BAD_IMAGES[case]
    folder = tmp_path / "in"
    folder.mkdir()
    path = make(folder / name)
    before = _snapshot(folder)
    out = tmp_path / "out"
    rc = main(["-i", str(path), "-c", "t2", "-ofolder", str(out), "-qc", str(out / "qc"), "-v", "1"])
    _check_promise(rc, capsys.readouterr().err, 1, str(path), before, folder, out)


@pytest.mark.parametrize("case", sorted(BAD_HINTS))
def test_bad_hint_file(case, good_image, tmp_path, capsys):
    hint = BAD_HINTS[case](good_image.parent / "hint_label.nii")
    before = _snapshot(good_image.parent)
    out = tmp_path / "out"
    rc = main(["-i", str(good_image), "-c", "t2", "-initlabel", str(hint), "-ofolder", str(out), "-v", "1"])
    _check_promise(rc, capsys.readouterr().err, 1, str(hint), before, good_image.parent, out)


BAD_ARGS = {
    "thr-nan": ["-thr", "nan"],
    "thr-above-1": ["-thr", "1.5"],
    "thr-zero": ["-thr", "0"],
    "empty-input": ["-i", ""],
    "initz-garbage": ["-initz", "abc"],
    "initz-bad-value": ["-initz", "10,99"],
    "unknown-contrast": ["-c", "t3"],
    "unknown-backend": ["-backend", "tpu"],
    "unknown-option": ["-frobnicate"],
}


@pytest.mark.parametrize("case", sorted(BAD_ARGS))
def test_bad_arguments_exit_2(case, good_image, tmp_path, capsys):
    before = _snapshot(good_image.parent)
    out = tmp_path / "out"
    args = ["-i", str(good_image), "-c", "t2", "-ofolder", str(out)]
    extra = BAD_ARGS[case]
    if extra[0] in args:  # replace the option's value
        args[args.index(extra[0]) + 1] = extra[1]
    else:
        args += extra
    rc = main(args)
    err = capsys.readouterr().err
    _check_promise(rc, err, 2, "", before, good_image.parent, out)
    assert "Usage:" in err


def test_output_equal_to_input_and_bad_output_names(good_image, tmp_path, capsys):
    before = _snapshot(good_image.parent)
    for output in (good_image, good_image.with_name("labels.txt")):  # bad -o values: usage errors
        rc = main(["-i", str(good_image), "-c", "t2", "-o", str(output)])
        err = capsys.readouterr().err
        _check_promise(rc, err, 2, str(output), before, good_image.parent, tmp_path / "out")
        assert "Invalid value for '-o'" in err and str(output) in err


def test_output_folder_blocked_by_a_file(good_image, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    before = _snapshot(good_image.parent)
    target = blocker / "labels.nii.gz"
    rc = main(["-i", str(good_image), "-c", "t2", "-o", str(target)])
    _check_promise(rc, capsys.readouterr().err, 1, str(target), before, good_image.parent, tmp_path / "out")
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("where", ["qc-is-a-file", "entries-is-a-file"])
def test_qc_failure_leaves_no_labels(where, good_image, tmp_path, capsys):
    """QC is written before the labels are committed: when it fails, nothing is left."""
    qc = tmp_path / "qc"
    if where == "qc-is-a-file":
        qc.write_text("x")
    else:
        qc.mkdir()
        (qc / "entries").write_text("x")
    before = _snapshot(good_image.parent)
    out = tmp_path / "out"
    rc = main(["-i", str(good_image), "-c", "t2", "-ofolder", str(out), "-qc", str(qc), "-v", "1"])
    _check_promise(rc, capsys.readouterr().err, 1, str(qc), before, good_image.parent, out)


def test_single_image_never_overwrites_foreign_labels_unless_told(good_image, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    manual = out / "sub-01_T2w_label-discs_dlabel.nii.gz"
    _label_file(manual)
    manual_bytes = manual.read_bytes()
    rc = main(["-i", str(good_image), "-c", "t2", "-ofolder", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and str(manual) in err and "-overwrite" in err
    assert manual.read_bytes() == manual_bytes and sorted(p.name for p in out.iterdir()) == [manual.name]
    # our own labels are replaced without asking; -overwrite replaces someone else's
    assert main(["-i", str(good_image), "-c", "t2", "-ofolder", str(out), "-overwrite", "-v", "0"]) == 0
    assert manual.read_bytes() != manual_bytes
    assert main(["-i", str(good_image), "-c", "t2", "-ofolder", str(out), "-v", "0"]) == 0


# --------------------------------------------------------------------------- model faults
def _model_copy(tmp_path: Path, edit: Callable[[Path, dict], None]) -> Path:
    from hca_disc_label.weights.resolve import resolve_model
    from hca_disc_label.atomic import sha256_file

    src = resolve_model(None, "t2").path
    dst = tmp_path / "model"
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    card = json.loads((dst / "model.json").read_text())
    edit(dst, card)
    for info in card["files"].values():  # the checksums match the edited files
        info["sha256"], info["size"] = sha256_file(dst / info["path"]), (dst / info["path"]).stat().st_size
    (dst / "model.json").write_text(json.dumps(card))
    return dst


def _corrupt_weights(folder: Path, card: dict) -> None:
    (folder / card["files"]["weights"]["path"]).write_bytes(b"PK\x03\x04 not a torch file" * 50)


def _unknown_key(folder: Path, card: dict) -> None:
    card["architecture"]["attention_heads"] = 8


@pytest.mark.parametrize("fault,backend", [(_corrupt_weights, "torch"), (_unknown_key, "torch"),
                                           (_unknown_key, "onnx")], ids=["corrupt-weights-torch",
                                                                         "unknown-arch-key-torch",
                                                                         "unknown-arch-key-onnx"])
def test_bad_model_folder(fault, backend, good_image, tmp_path, capsys):
    model = _model_copy(tmp_path, fault)
    before = _snapshot(good_image.parent)
    out = tmp_path / "out"
    rc = main(["-i", str(good_image), "-c", "t2", "-model", str(model), "-backend", backend, "-ofolder", str(out)])
    err = capsys.readouterr().err
    _check_promise(rc, err, 1, "model", before, good_image.parent, out)


def test_train_ofolder_on_a_file_and_failed_init_leave_nothing(tmp_path, capsys):
    blocker = tmp_path / "run.txt"
    blocker.write_text("x")
    rc = main(["train", "-ofolder", str(blocker), "-steps", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and str(blocker) in err and "Traceback" not in err
    run = tmp_path / "run"
    rc = main(["train", "-ofolder", str(run), "-init", str(tmp_path / "no-such-model"), "-steps", "1"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not run.exists()  # no empty run folder


def test_bad_inputs_cover_at_least_forty_cases():
    assert len(BAD_IMAGES) + len(BAD_HINTS) + len(BAD_ARGS) + 10 >= 40
