"""The packaging files agree with each other, and notebooks in git carry no outputs.

pyproject.toml (pip) and environment.yml (conda) must name the same packages with the same version ranges,
counting every extra of pyproject.toml, since the conda environment is meant to hold everything.
"""

from __future__ import annotations

import ast
import inspect
import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.version import Version
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from the PyPI names (conda name -> PyPI name).
CONDA_TO_PYPI = {"pytorch": "torch"}
# Entries of environment.yml that are the environment itself, not a dependency of the library.
CONDA_ONLY = {"python", "pip"}

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*(?:#.*)?$")


def normalize_name(name: str) -> str:
    """PEP 503 normalization: case and runs of '-', '_', '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(text: str) -> tuple[str, str]:
    """Split 'dask[distributed] >=2023.1' into ('dask', '>=2023.1').

    Extras are dropped: conda has no extras, its package of the same name pulls them in.
    Version specifiers are compared as text with blanks removed; a single conda-style '=' pin is not used here.
    """
    match = _REQUIREMENT.match(text)
    if match is None:
        raise ValueError(f"cannot parse requirement {text!r}")
    name, _extras, spec = match.groups()
    return normalize_name(name), spec.replace(" ", "")


def add(deps: dict[str, str], text: str, where: str) -> None:
    """Record one requirement; the same package listed twice must carry the same range."""
    name, spec = parse_requirement(text)
    if name in deps and deps[name] != spec:
        raise AssertionError(f"{name} has two ranges in {where}: {deps[name]!r} and {spec!r}")
    deps[name] = spec


def pyproject_dependencies(path: Path) -> dict[str, str]:
    """Core dependencies plus every extra of a pyproject.toml, as {name: specifier}."""
    project = tomllib.loads(path.read_text())["project"]
    deps: dict[str, str] = {}
    for text in project.get("dependencies", []):
        add(deps, text, path.name)
    for extra in project.get("optional-dependencies", {}).values():
        for text in extra:
            add(deps, text, path.name)
    return deps


def conda_dependencies(path: Path) -> dict[str, str]:
    """Conda and pip entries of an environment.yml, with conda names mapped to PyPI names."""
    env = yaml.safe_load(path.read_text())
    deps: dict[str, str] = {}
    for entry in env["dependencies"]:
        if isinstance(entry, dict):  # the pip: section, PyPI names already
            for text in entry.get("pip", []):
                if not text.lstrip().startswith("-"):  # options such as "-e ." install the library itself
                    add(deps, text, f"{path.name} (pip)")
            continue
        name, spec = parse_requirement(entry)
        if name in CONDA_ONLY:
            continue
        add(deps, CONDA_TO_PYPI.get(name, name) + spec, path.name)
    return deps


def differences(pip: dict[str, str], conda: dict[str, str]) -> list[str]:
    """Human-readable list of what differs between two {name: specifier} maps (empty when they agree)."""
    problems = [f"{n} only in pyproject.toml" for n in sorted(pip.keys() - conda.keys())]
    problems += [f"{n} only in environment.yml" for n in sorted(conda.keys() - pip.keys())]
    problems += [
        f"{n}: pyproject.toml says {pip[n]!r}, environment.yml says {conda[n]!r}"
        for n in sorted(pip.keys() & conda.keys())
        if pip[n] != conda[n]
    ]
    return problems


def test_pyproject_and_environment_list_the_same_dependencies() -> None:
    pip = pyproject_dependencies(ROOT / "pyproject.toml")
    conda = conda_dependencies(ROOT / "environment.yml")
    assert {"torch", "jupyter-book", "papermill", "pytest", "dask"} <= pip.keys()  # the parser saw the lists
    assert differences(pip, conda) == []


def test_the_comparison_can_fail(tmp_path: Path) -> None:
    """Guard against a vacuous check: a missing package, an extra one, a changed range are all reported."""
    pip = pyproject_dependencies(ROOT / "pyproject.toml")
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    env["dependencies"] = [
        d for d in env["dependencies"] if not (isinstance(d, str) and d.startswith("seaborn"))
    ]
    env["dependencies"] += ["pytorch>=1.0", {"pip": ["left-pad==1.0"]}]
    broken = tmp_path / "environment.yml"
    broken.write_text(yaml.safe_dump(env))
    with pytest.raises(AssertionError, match="torch has two ranges"):
        conda_dependencies(broken)
    env["dependencies"].remove("pytorch>=1.0")
    env["dependencies"] = [d if d != "scipy>=1.15" else "scipy>=1.16" for d in env["dependencies"]]
    broken.write_text(yaml.safe_dump(env))
    problems = differences(pip, conda_dependencies(broken))
    assert "seaborn only in pyproject.toml" in problems
    assert "left-pad only in environment.yml" in problems
    assert any(p.startswith("scipy:") for p in problems)


# The oldest release of a dependency that has an API the library calls, and where it is called.
API_FLOORS = {"scipy": ("1.15", "scipy.stats.bootstrap(..., rng=) in emergence_lib.analysis.registered.bootstrap_ci")}


def test_version_floors_admit_no_release_without_the_apis_used() -> None:
    pip = pyproject_dependencies(ROOT / "pyproject.toml")
    for name, (floor, use) in API_FLOORS.items():
        lower = re.search(r">=\s*([0-9][0-9.]*)", pip[name])
        assert lower and Version(lower.group(1)) >= Version(floor), f"{name}{pip[name]} admits releases without {use}"
    assert "rng" in inspect.signature(stats.bootstrap).parameters  # the API is really there in the installed scipy


def test_citation_version_matches_the_library() -> None:
    """CITATION.cff cites the version the library reports (read without importing torch)."""
    init = (ROOT / "emergence_lib" / "__init__.py").read_text()
    version = next(
        node.value.value
        for node in ast.parse(init).body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
    )
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == version


NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_in_git_carry_no_outputs(path: Path) -> None:
    """Chapters are executed into _build/ by emergence_lib.book; the sources stay clean (run nbstripout)."""
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert dirty == [], f"{path.name}: cells {dirty} hold outputs or execution counts"
    assert "widgets" not in nb.metadata, f"{path.name}: stored widget state"


def test_there_is_at_least_one_chapter() -> None:
    assert NOTEBOOKS, "no notebooks found under book/"
