"""The package's import graph: no circle, and no import from a lower layer to a higher one.

Every module of ``hca_disc_label`` is parsed with :mod:`ast` (nothing is imported): imports at
module level and inside functions, absolute and relative, ``TYPE_CHECKING`` ones included, since
a function-level import is how a circle hides. ``from pkg import name`` is an arrow to
``pkg.name`` when that is a module, else to ``pkg`` (its ``__init__``); a name of the lazy
top-level API (``from hca_disc_label import Labeller``) is an arrow to the module that defines it
(``hca_disc_label._HOMES``), so the lazy API cannot hide a back-import either. A bare
``import hca_disc_label`` (for its ``__file__``) is no arrow: every import of the package runs
the top level anyway. The top level itself depends on the homes of its lazy names.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable, Mapping

import pytest

PACKAGE = "hca_disc_label"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundations", ("_version", "errors", "extras", "naming", "conventions", "atomic", "contract", "nifti",
                     "sidecar", "image", "labelfile", "midsagittal", "preprocessing")),
    ("model", ("model",)),
    ("weights", ("weights",)),
    ("inference", ("inference",)),
    ("qc", ("qc",)),
    ("run", ("run",)),
    ("synth", ("synth",)),
    ("training", ("training",)),
    ("evaluation", ("evaluation",)),
    ("cli", ("cli", "__main__")),
)
"""Layers, lowest first, each with its modules or sub-packages (names under ``hca_disc_label``).

A module may import its own layer (the circle check keeps that honest) and any layer below,
never one above. Why this order:

* foundations: files, names and the data every stage shares, no model (the loaded image,
  label files, sidecars, the input contract, preprocessing in numpy);
* model: the network and its loss (torch);
* weights: model names, the registry, model folders, the download cache;
* inference: the labelling core, which writes nothing (``Labeller`` -> ``Labelling``, decoding,
  numbering, backends); it resolves models through weights;
* qc: the QC report entries and pages (written from a ``Labelling`` it is handed);
* run: everything that writes labels: one image (pipeline), a dataset (batch, workers), the
  summary, the derivative folder and its tables; it writes QC entries;
* synth: the synthetic generator; it writes its datasets as BIDS derivatives (run.derivative);
* training: data (synthetic and real), the trainer, export; validates with a ``Labeller``;
* evaluation: metrics, reports, the internal test sets (built from synth and training data);
* cli: the commands.

The package's lazy top level (``hca_disc_label/__init__.py``) stands above all of them.
"""

TOP = "<top level>"


# --------------------------------------------------------------------------- the graph
def package_modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the package (packages by ``__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = (package, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _lazy_homes(init: Path) -> dict[str, str]:
    """The top level's ``_HOMES`` (public name -> defining module) and its eager imports."""
    homes: dict[str, str] = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_HOMES" for t in node.targets):
            homes.update(ast.literal_eval(node.value))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            homes.update({a.asname or a.name: node.module for a in node.names})
    return homes


def _imported_modules(node: ast.AST, module: str, is_package: bool, modules: Mapping[str, Path],
                      homes: Mapping[str, str], package: str) -> Iterable[str]:
    """The package modules one import statement depends on."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name != package and alias.name.startswith(package + "."):
                yield alias.name
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source != package and not source.startswith(package + "."):
        return
    for alias in node.names:
        if f"{source}.{alias.name}" in modules:
            yield f"{source}.{alias.name}"
        elif source == package:
            yield homes.get(alias.name, package)
        else:
            yield source


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the package (self-imports dropped)."""
    modules = package_modules(root, package)
    homes = _lazy_homes(root / "__init__.py")
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _imported_modules(node, module, is_package, modules, homes, package):
                    # "from pkg.missing import x" names a module that is not there: the package
                    # that would hold it is what is imported
                    while target not in modules and "." in target:
                        target = target.rpartition(".")[0]
                    targets.add(target)
        graph[module] = targets - {module}
    # the top level imports each public name's home on first use (importlib, not an import)
    graph[package] |= {home for home in homes.values() if home in modules} - {package}
    return graph


# --------------------------------------------------------------------------- the checks
def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import circle as ``[a, b, ..., a]``, or None when the graph has none."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def layer_of(module: str, layers=LAYERS, package: str = PACKAGE) -> tuple[int, str]:
    """``(rank, layer name)`` of a module; the top level ranks above every layer.

    Raises:
        KeyError: a module that no layer names (a new module must be given a place).
    """
    if module == package:
        return len(layers), TOP
    first = module[len(package) + 1:].split(".")[0]
    for rank, (name, members) in enumerate(layers):
        if first in members:
            return rank, name
    raise KeyError(module)


def layer_violations(graph: Mapping[str, Iterable[str]], layers=LAYERS, package: str = PACKAGE) -> list[str]:
    """Every arrow from a module to a module of a higher layer, as readable lines."""
    found = []
    for module in sorted(graph):
        rank, name = layer_of(module, layers, package)
        for target in sorted(graph[module]):
            target_rank, target_name = layer_of(target, layers, package)
            if target_rank > rank and name != TOP:
                found.append(f"{module} ({name}) imports {target} ({target_name}), a higher layer")
    return found


MAX_MODULE_LINES = 400
"""No module of the package is longer (house style: one room, one subject)."""
MAX_FUNCTION_LINES = 80
"""No function or method is longer, from ``def`` to its last line (docstring included;
decorators not: a click command's options are its interface, not its logic)."""


def reexports(root: Path = ROOT, package: str = PACKAGE) -> list[str]:
    """Every import of a sub-package's ``__init__.py`` that binds a name from the package (its
    own submodules or any other module): a facade gives a name a second home. The top-level
    ``__init__`` (the public API) is exempt; an ``__init__`` may hold a docstring, ``__all__``
    and imports from outside the package only."""
    found = []
    for path in sorted(root.rglob("__init__.py")):
        if path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == package):
                names = ", ".join(a.name for a in node.names)
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} imports {names}")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == package for a in node.names):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} imports the package")
    return found


def oversized(root: Path = ROOT, max_module: int = MAX_MODULE_LINES,
              max_function: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every module over ``max_module`` lines and every function over ``max_function`` lines
    (``ast``: from ``def`` to its last line), as readable lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(root.parent)
        n_lines = len(text.splitlines())
        if n_lines > max_module:
            found.append(f"{where}: {n_lines} lines (at most {max_module})")
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > max_function:
                    found.append(f"{where}:{node.lineno} {node.name}: {length} lines (at most {max_function})")
    return found


# --------------------------------------------------------------------------- the package
@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_module_has_a_layer(graph):
    unplaced = []
    for module in graph:
        try:
            layer_of(module)
        except KeyError:
            unplaced.append(module)
    assert not unplaced, f"modules in no layer of LAYERS (give each a place): {unplaced}"


def test_the_package_has_no_import_circle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_no_module_imports_a_higher_layer(graph):
    assert layer_violations(graph) == []


def test_the_graph_sees_function_level_and_relative_imports(graph):
    # labeller resolves a model name inside __init__ (a function-level import)
    assert "hca_disc_label.weights.resolve" in graph["hca_disc_label.inference.labeller"]
    assert "hca_disc_label.image" in graph["hca_disc_label.labelfile"]
    assert "hca_disc_label.run.pipeline" in graph[PACKAGE]  # the lazy API's homes


def test_no_sub_package_re_exports_its_modules():
    assert reexports() == [], "import each name from its defining module; the public API is the top level"


def test_no_module_or_function_is_oversized():
    assert oversized() == []


# --------------------------------------------------------------------------- the checker itself
def _fake_package(tmp_path: Path, files: Mapping[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_checker_finds_a_circle_hidden_in_a_function(tmp_path):
    root = _fake_package(tmp_path, {
        "low.py": "def f():\n    from pkg.high import g\n",
        "high.py": "from . import low\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.high"] == {"pkg.low"} and graph["pkg.low"] == {"pkg.high"}
    assert find_cycle(graph) in (["pkg.high", "pkg.low", "pkg.high"], ["pkg.low", "pkg.high", "pkg.low"])
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_checker_reports_a_back_import(tmp_path):
    layers = (("base", ("low",)), ("core", ("core",)))
    root = _fake_package(tmp_path, {
        "low.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.core.job import Job\n",
        "core/__init__.py": "",
        "core/job.py": "from ..low import *\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.core.job"] == {"pkg.low"}
    assert layer_violations(graph, layers, "pkg") == ["pkg.low (base) imports pkg.core.job (core), a higher layer"]
    graph["pkg.low"] = set()
    assert layer_violations(graph, layers, "pkg") == []


def test_checker_resolves_the_lazy_top_level(tmp_path):
    layers = (("base", ("low",)), ("core", ("core",)))
    root = _fake_package(tmp_path, {
        "__init__.py": '_HOMES = {"Job": "pkg.core"}\n',
        "low.py": "def f():\n    from pkg import Job\n",
        "core.py": "import pkg\nfrom pkg import low\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.low"] == {"pkg.core"} and graph["pkg.core"] == {"pkg.low"}
    assert layer_violations(graph, layers, "pkg") == ["pkg.low (base) imports pkg.core (core), a higher layer"]
    with pytest.raises(KeyError):
        layer_of("pkg.unplaced", layers, "pkg")


def test_checker_finds_re_exports_and_oversized_code(tmp_path):
    root = _fake_package(tmp_path, {
        "__init__.py": "from pkg.sub.mod import f\n",  # the top level may re-export
        "sub/__init__.py": '"""Docs only."""\nimport json\nfrom .mod import f\n',
        "other/__init__.py": "from pkg.sub.mod import f as g\n",
        "clean/__init__.py": '"""Docs only."""\n__all__ = []\n',
        "sub/mod.py": "def f():\n" + "    x = 1\n" * 5 + "\n\n@decorated(\n" + "    1,\n" * 6 + ")\ndef small():\n    pass\n",
    })
    assert reexports(root, "pkg") == ["pkg/other/__init__.py:1 imports f", "pkg/sub/__init__.py:3 imports f"]
    assert oversized(root, max_module=8, max_function=5) == [
        "pkg/sub/mod.py: 18 lines (at most 8)", "pkg/sub/mod.py:1 f: 6 lines (at most 5)"]
    assert oversized(root, max_module=18, max_function=6) == []  # decorators do not count
