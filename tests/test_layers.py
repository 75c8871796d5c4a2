"""The package's layers import only the layers above them (read statically with ``ast``; nothing is imported).

The order is the one documented in ``emergence_lib/__init__.py``::

    metric < engine < probes < experiments < analysis < plots < book

A module may import modules of its own layer and of the layers before it in this list. Two exceptions:

* ``emergence_lib/_checks.py`` (private validation helpers) may be imported by every layer; it imports no other
  module of the package itself, or it would drag that module under every layer.
* the top-level ``emergence_lib/__init__.py`` may import anything (it re-exports the most used names). Importing
  the top-level package from a layer imports everything, so the only name a layer may take from it is
  ``__version__`` (``from .. import __version__``).

Every import counts: at module level, inside functions (lazy imports), under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "emergence_lib"
PACKAGE_DIR = ROOT / PACKAGE

# The layers, first to last: a layer may import only itself and the layers before it.
LAYERS = ("metric", "engine", "probes", "experiments", "analysis", "plots", "book")
CHECKS = "_checks"  # importable from every layer
TOP = "<top-level package>"  # emergence_lib/__init__.py: may import anything
TOP_NAMES_ALLOWED = {"__version__"}  # what a layer may take from the top-level package


@dataclass(frozen=True)
class Violation:
    path: str  # file of the importing module, relative to the repository
    line: int
    importer: str  # dotted name of the importing module
    imported: str  # dotted name of the imported module (the package itself for `from .. import name`)
    importer_layer: str
    imported_layer: str
    statement: str  # the import as written

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.importer} (layer {self.importer_layer!r}) imports {self.imported} "
            f"(layer {self.imported_layer!r}), which is not above it in {' < '.join(LAYERS)}: {self.statement}"
        )


def module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    """emergence_lib/engine/runs.py -> 'emergence_lib.engine.runs'; a package's __init__.py names the package."""
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name of the package; None for a module outside every known layer."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        raise ValueError(f"{module} is not a module of {PACKAGE}")
    if len(parts) == 1:
        return TOP
    if parts[1] == CHECKS:
        return CHECKS
    return parts[1] if parts[1] in LAYERS else None


def rank(layer: str) -> int:
    """Position in the order; _checks comes before every layer."""
    return -1 if layer == CHECKS else LAYERS.index(layer)


def allowed(importer_layer: str, imported_layer: str | None, names: tuple[str, ...] = ()) -> bool:
    if importer_layer == TOP:
        return True
    if imported_layer == TOP:  # `from emergence_lib import __version__` only
        return bool(names) and set(names) <= TOP_NAMES_ALLOWED
    if imported_layer is None or importer_layer is None:
        return False
    return rank(imported_layer) <= rank(importer_layer)


def module_exists(module: str, package_dir: Path) -> bool:
    """Is the dotted name a module or package of the source tree (as opposed to a name defined in one)?"""
    rel = Path(*module.split(".")[1:])
    return (package_dir / rel).with_suffix(".py").is_file() or (package_dir / rel / "__init__.py").is_file()


def imports_of(source: str, importer: str, is_package: bool, package_dir: Path = PACKAGE_DIR):
    """Yield (line, imported module, names taken from the package itself, statement) for each import of the package.

    `from X import a, b` counts as an import of X.a / X.b where those are modules (``from . import registered``),
    and of X otherwise (``from ..engine.runs import Run``). Relative imports are resolved against ``importer``.
    """
    tree = ast.parse(source)
    own_package = importer if is_package else importer.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield node.lineno, alias.name, (), ast.unparse(node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = own_package.split(".")
                if node.level - 1 >= len(base_parts):
                    raise ValueError(f"{importer}:{node.lineno}: relative import beyond the top-level package")
                base = ".".join(base_parts[: len(base_parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
                if not (base == PACKAGE or base.startswith(PACKAGE + ".")):
                    continue
            statement = ast.unparse(node)
            from_base: list[str] = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if alias.name != "*" and module_exists(sub, package_dir):
                    yield node.lineno, sub, (), statement
                else:
                    from_base.append(alias.name)
            if from_base:
                yield node.lineno, base, tuple(from_base), statement


def violations_in(source: str, path: Path, package_dir: Path = PACKAGE_DIR) -> list[Violation]:
    """Every import in ``source`` (the file ``path`` of the package) that breaks the layer order."""
    importer = module_name(path, package_dir)
    importer_layer = layer_of(importer)
    found = []
    for line, imported, names, statement in imports_of(source, importer, path.name == "__init__.py", package_dir):
        imported_layer = layer_of(imported)
        if importer_layer == CHECKS:  # the helpers every layer imports import nothing of the package
            ok = imported_layer == CHECKS
        else:
            ok = allowed(importer_layer, imported_layer, names)
        if not ok:
            try:
                shown = str(path.relative_to(package_dir.parent))
            except ValueError:
                shown = str(path)
            found.append(
                Violation(shown, line, importer, imported, str(importer_layer), str(imported_layer), statement)
            )
    return found


def package_modules(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    return sorted(p for p in package_dir.rglob("*.py") if "__pycache__" not in p.parts)


MODULES = package_modules()


def test_the_package_has_modules_in_every_layer() -> None:
    """The scan sees the tree (guard against a vacuous pass after a move)."""
    layers = {layer_of(module_name(p)) for p in MODULES}
    assert set(LAYERS) | {TOP, CHECKS} <= layers, f"layers with no module: {set(LAYERS) - layers}"


def test_every_module_belongs_to_a_known_layer() -> None:
    """A new subpackage or top-level module must be placed in LAYERS (and in the package docstring)."""
    unplaced = [str(p.relative_to(ROOT)) for p in MODULES if layer_of(module_name(p)) is None]
    assert unplaced == [], f"modules outside every layer {LAYERS}: {unplaced}; add their layer to the order"


def test_layers_import_only_the_layers_above_them() -> None:
    found = [v for p in MODULES for v in violations_in(p.read_text(), p)]
    assert found == [], "imports against the layer order:\n" + "\n".join(map(str, found))


def test_the_order_is_the_one_the_package_documents() -> None:
    """LAYERS here and the list in emergence_lib/__init__.py's docstring name the same layers in the same order."""
    doc = ast.get_docstring(ast.parse((PACKAGE_DIR / "__init__.py").read_text())) or ""
    block = doc.split("::", 1)[1] if "::" in doc else ""
    documented = []
    for line in block.splitlines():
        if not line.strip() and documented:
            break  # the block ends at the first blank line after it
        match = re.match(r"^\s+([A-Za-z_]\w*)/?\s", line + " ")
        if match:
            documented.append(match.group(1))
    assert tuple(documented) == LAYERS, f"emergence_lib/__init__.py documents the layers as {documented}"


# ---------------------------------------------------------------------------------------------------------------
# The check can fail: synthetic modules, checked against a synthetic package tree.


@pytest.fixture
def fake_package(tmp_path: Path) -> Path:
    pkg = tmp_path / PACKAGE
    for rel in [
        "__init__.py", "_checks.py", "experiments.py", "plots.py",
        "metric/__init__.py", "metric/graph.py",
        "engine/__init__.py", "engine/runs.py",
        "analysis/__init__.py", "analysis/claims.py", "analysis/registered.py",
        "book/__init__.py", "book/executor.py",
        "extras/__init__.py", "extras/tool.py",
    ]:
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text("")
    return pkg


def check(pkg: Path, rel: str, source: str) -> list[Violation]:
    return violations_in(source, pkg / rel, pkg)


def test_upward_imports_are_reported(fake_package: Path) -> None:
    source = "import os\n\ndef f():\n    from ..analysis.claims import effect  # lazy, still counts\n"
    (v,) = check(fake_package, "engine/runs.py", source)
    assert (v.line, v.importer, v.imported) == (4, "emergence_lib.engine.runs", "emergence_lib.analysis.claims")
    assert (v.importer_layer, v.imported_layer) == ("engine", "analysis")
    message = str(v)
    assert "emergence_lib/engine/runs.py:4" in message and "'engine'" in message and "'analysis'" in message

    (v,) = check(fake_package, "metric/graph.py", "import emergence_lib.engine.runs as r\n")
    assert (v.imported, v.imported_layer) == ("emergence_lib.engine.runs", "engine")
    (v,) = check(fake_package, "metric/graph.py", "from emergence_lib import plots\n")
    assert (v.imported, v.imported_layer) == ("emergence_lib.plots", "plots")
    (v,) = check(fake_package, "experiments.py", "from .analysis import registered\n")
    assert v.imported == "emergence_lib.analysis.registered"
    (v,) = check(fake_package, "analysis/__init__.py", "from ..book import executor\n")
    assert (v.importer, v.imported) == ("emergence_lib.analysis", "emergence_lib.book.executor")


def test_the_top_level_package_lends_only_its_version(fake_package: Path) -> None:
    assert check(fake_package, "engine/runs.py", "def f():\n    from .. import __version__\n") == []
    (v,) = check(fake_package, "engine/runs.py", "from .. import __version__, measure\n")
    assert (v.imported, v.imported_layer) == ("emergence_lib", TOP)
    (v,) = check(fake_package, "metric/graph.py", "import emergence_lib\n")
    assert v.imported_layer == TOP
    # ... while the top-level package itself imports anything
    assert check(fake_package, "__init__.py", "from . import plots\nfrom .book import executor\n") == []


def test_downward_and_sideways_imports_pass(fake_package: Path) -> None:
    assert check(fake_package, "book/executor.py", "from ..engine.runs import Run\nfrom .._checks import x\n") == []
    assert check(fake_package, "analysis/claims.py", "from . import registered\nfrom .registered import y\n") == []
    assert check(fake_package, "experiments.py", "from .engine import runs\nimport emergence_lib.metric.graph\n") == []
    assert check(fake_package, "metric/graph.py", "import numpy\nfrom os import path\nimport emergence_library\n") == []


def test_checks_imports_nothing_of_the_package(fake_package: Path) -> None:
    (v,) = check(fake_package, "_checks.py", "from .metric import graph\n")
    assert (v.importer_layer, v.imported_layer) == (CHECKS, "metric")


def test_a_module_outside_the_layers_is_caught(fake_package: Path) -> None:
    unplaced = [p for p in package_modules(fake_package) if layer_of(module_name(p, fake_package)) is None]
    assert [p.relative_to(fake_package).as_posix() for p in unplaced] == ["extras/__init__.py", "extras/tool.py"]
    (v,) = check(fake_package, "book/executor.py", "from ..extras import tool\n")
    assert v.imported_layer == "None"
