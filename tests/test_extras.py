"""The install without PyTorch (issue 18 item 3): the default requirements hold no torch, the
ONNX path never imports it (a labelling in a subprocess where importing torch or onnx is
recorded and refused), and every command that needs an extra names it in one line."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hca_disc_label.cli.main import main
from tests.conftest import REPO

SMALL = "bids/sub-errsm30/anat/sub-errsm30_T2w.nii.gz"

BLOCKER = '''
import sys

BLOCKED = {"torch", "onnx"}


class _Blocker:
    """Records and refuses every import of a blocked package."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            with open(%r, "a") as log:
                log.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
'''


def _setup_call() -> dict:
    """The keyword arguments of ``setup(...)`` in setup.py that are literals (or the names
    bound at the top of the file)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    names: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple | ast.Constant):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            targets = node.targets[0]
            if isinstance(targets, ast.Tuple):
                names.update(zip((t.id for t in targets.elts), value))
            elif isinstance(targets, ast.Name):
                names[targets.id] = value
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")

    def evaluate(node):
        if isinstance(node, ast.Name):
            return names[node.id]
        if isinstance(node, ast.List):
            return [evaluate(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {evaluate(k): evaluate(v) for k, v in zip(node.keys, node.values)}
        return ast.literal_eval(node)

    return {kw.arg: evaluate(kw.value) for kw in call.keywords if kw.arg in ("install_requires", "extras_require")}


def _project(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


def test_default_requirements_hold_no_torch_and_the_extras_do():
    call = _setup_call()
    default = {_project(r) for r in call["install_requires"]}
    assert "torch" not in default and "onnx" not in default and "onnxruntime" in default
    extras = {name: {_project(r) for r in reqs} for name, reqs in call["extras_require"].items()}
    assert {"torch", "export", "train", "dev"} <= set(extras)
    assert "torch" in extras["torch"]
    for name in ("export", "train", "dev"):
        assert {"torch", "onnx"} <= extras[name], name
    assert "pytest" in extras["dev"]


def test_readme_installs_no_torch_first_and_tests_as_ci_does():
    readme = (REPO / "README.md").read_text()
    setup = readme[readme.index("## Set-up"):readme.index("## Use")]
    first, tests = re.findall(r"```bash\n(.*?)\n```", setup, flags=re.S)[:2]
    assert "torch" not in first and "pip install ." in first and "hca_label -i" in first
    steps = [s.strip() for s in tests.split("&&")]
    torch = steps.index("pip install torch==2.13.0")
    dev = steps.index('pip install -e ".[dev]"')
    sct = next(i for i, s in enumerate(steps) if "requirements-sct.txt" in s)
    assert torch < dev < sct and " -c " in steps[sct]  # SCT's packages under our versions
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.index("pip install -q torch==2.13.0") < ci.index('pip install -q -e ".[dev]"')
    assert "requirements-sct.txt -c" in ci


def test_onnx_labelling_never_imports_torch(shared_data, tmp_path):
    """A whole labelling with QC, in a process where torch and onnx cannot be imported."""
    site = tmp_path / "site"
    site.mkdir()
    attempts = tmp_path / "attempts.txt"
    (site / "sitecustomize.py").write_text(BLOCKER % str(attempts))
    image = tmp_path / "in" / Path(SMALL).name
    image.parent.mkdir()
    shutil.copyfile(shared_data / SMALL, image)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    res = subprocess.run([sys.executable, "-m", "hca_disc_label", "-i", str(image), "-ofolder", str(tmp_path / "out"),
                          "-qc", str(tmp_path / "qc"), "-backend", "auto", "-v", "0"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "out" / "sub-errsm30_T2w_label-discs_dlabel.nii.gz").is_file()
    assert not attempts.exists(), f"tried to import: {attempts.read_text()}"
    # the blocker works: the torch backend is refused with the extra to install
    res = subprocess.run([sys.executable, "-m", "hca_disc_label", "-i", str(image), "-ofolder", str(tmp_path / "t"),
                          "-backend", "torch"], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 1 and 'pip install "hca_disc_label[torch]"' in res.stderr
    assert not (tmp_path / "t").exists()


@pytest.fixture
def no_torch(monkeypatch):
    """torch and onnx not importable in this process (``None`` in ``sys.modules``)."""
    for name in ("torch", "onnx"):
        monkeypatch.setitem(sys.modules, name, None)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_commands_name_their_extra(shared_data, tmp_path, capsys, no_torch):
    assert main(["export", "-model", "hca-compact", "-o", str(tmp_path / "m.onnx")]) == 1
    line = _one_error_line(capsys)
    assert line.startswith("hca_label: error: hca_label export needs") and '"hca_disc_label[export]"' in line
    assert main(["train", "-ofolder", str(tmp_path / "run"), "-steps", "1"]) == 1
    assert '"hca_disc_label[train]"' in _one_error_line(capsys)
    assert not (tmp_path / "run").exists()
    assert main(["train", "-h"]) == 0 and main(["export", "-h"]) == 0  # help needs no extra
    capsys.readouterr()
    image = shared_data / SMALL
    assert main(["-i", str(image), "-backend", "torch", "-ofolder", str(tmp_path / "o"), "-v", "0"]) == 1
    assert _one_error_line(capsys) == ('hca_label: error: -backend torch needs PyTorch, which is not installed: '
                                       'pip install "hca_disc_label[torch]"')


def test_onnx_missing_names_the_export_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert main(["export", "-model", "hca-compact", "-o", str(tmp_path / "m.onnx")]) == 1
    line = _one_error_line(capsys)
    assert "needs onnx" in line and '"hca_disc_label[export]"' in line
    assert not (tmp_path / "m.onnx").exists()


def test_a_late_missing_module_still_names_its_extra():
    from hca_disc_label.cli.main import _missing_extra

    assert '"hca_disc_label[train]"' in _missing_extra(ModuleNotFoundError("x", name="torch.nn"), "hca_label train")
    assert '"hca_disc_label[torch]"' in _missing_extra(ModuleNotFoundError("x", name="torch"), "hca_label")
    assert _missing_extra(ModuleNotFoundError("x", name="scipy"), "hca_label") is None
    assert _missing_extra(ValueError("x"), "hca_label") is None
