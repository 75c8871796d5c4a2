"""The packaging files agree with each other, the wheel holds the whole package, and notebooks carry no outputs.

pyproject.toml (pip) and environment.yml (conda) must name the same packages with the same version ranges,
counting every extra of pyproject.toml, since the conda environment is meant to hold everything.

The wheel is built as a non-editable install builds it (the chapters' Colab cell, ``pip install git+...``): from a
copy of the files git would clone, so the checkout is left clean, then installed into a scratch folder and
imported from there, away from the repository that the editable install puts on ``sys.path``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
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


# ---------------------------------------------------------------------------------------------------------------
# The wheel: what `pip install git+...` (a non-editable install) really puts on a reader's machine.

PACKAGE = "emergence_lib"
# Build the wheel offline, with the setuptools of this environment, when it is recent enough for pyproject.toml
# (77: SPDX `license = "MIT"`); else let pip fetch the build requirements in an isolated environment.
SETUPTOOLS_FLOOR = Version("77")


def library_version() -> str:
    """__version__ of emergence_lib/__init__.py, read without importing the package."""
    init = (ROOT / PACKAGE / "__init__.py").read_text()
    return next(
        node.value.value
        for node in ast.parse(init).body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
    )


def cloned_files() -> list[str]:
    """The files a clone would hold once the work in progress is committed: tracked plus untracked, not ignored."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if listing.returncode != 0:
        pytest.skip(f"not a git checkout: {listing.stderr.strip()}")
    return sorted({f for f in listing.stdout.split("\0") if f and (ROOT / f).is_file()})  # not deleted ones


def package_sources(files: list[str]) -> set[str]:
    """The modules and the package data the wheel must hold, as paths inside the wheel."""
    return {
        f for f in files
        if f.startswith(PACKAGE + "/") and (f.endswith(".py") or re.fullmatch(rf"{PACKAGE}/pilots/[^/]+\.csv", f)
                                             or f == f"{PACKAGE}/engine/fingerprints.json")
    }


def pip(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, env=env, capture_output=True, text=True)


def build_wheel(source: Path, out: Path) -> Path:
    """`pip wheel` of a source tree, as `pip install git+...` builds it; offline when setuptools allows."""
    try:
        offline = Version(importlib.metadata.version("setuptools")) >= SETUPTOOLS_FLOOR
    except importlib.metadata.PackageNotFoundError:
        offline = False
    options = ["--no-build-isolation", "--no-index"] if offline else []
    built = pip("wheel", "--no-deps", *options, "-w", str(out), str(source), cwd=out.parent)
    hint = "" if offline else f" (built in isolation: install setuptools>={SETUPTOOLS_FLOOR} to build offline)"
    assert built.returncode == 0, f"pip wheel failed{hint}:\n{built.stdout}\n{built.stderr}"
    (wheel,) = out.glob("*.whl")
    return wheel


def copy_clone(files: list[str], dest: Path) -> Path:
    """The files of a clone, copied out of the checkout: building in place would leave build/ and *.egg-info."""
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)
    return dest


@pytest.fixture(scope="module")
def clone_files() -> list[str]:
    return cloned_files()


@pytest.fixture(scope="module")
def wheel(clone_files: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    return build_wheel(copy_clone(clone_files, work / "source"), work / "dist")


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a bare folder (no dependencies: they come from this environment)."""
    target = tmp_path_factory.mktemp("site")
    done = pip("install", "--no-deps", "--no-index", "--target", str(target), str(wheel), cwd=target)
    assert done.returncode == 0, f"pip install of the wheel failed:\n{done.stdout}\n{done.stderr}"
    return target


def test_git_ignores_no_file_of_the_package(clone_files: list[str]) -> None:
    """Every module and pilot on disk reaches a clone (an ignore pattern such as `data` could swallow a module)."""
    on_disk = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / PACKAGE).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", ".csv", ".json"}
    }
    assert on_disk - set(clone_files) == set(), "files of the package that git ignores, so no clone holds them"


def test_the_wheel_holds_every_module_and_the_pilots(wheel: Path, clone_files: list[str]) -> None:
    expected = package_sources(clone_files)
    assert {f"{PACKAGE}/__init__.py", f"{PACKAGE}/metric/graph.py", f"{PACKAGE}/book/__main__.py"} <= expected
    assert any(f.endswith(".csv") for f in expected), "no pilot CSV under emergence_lib/pilots/"
    names = set(zipfile.ZipFile(wheel).namelist())
    assert sorted(expected - names) == [], "files of the package missing from the wheel"
    dist_info = f"{PACKAGE}-{library_version()}.dist-info/"
    stray = sorted(n for n in names if not n.startswith((f"{PACKAGE}/", dist_info)))
    assert stray == [], f"the wheel holds more than the package and its {dist_info}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")], "compiled files in the wheel"


def test_the_installed_wheel_imports_every_module_without_the_repository(
    installed: Path, clone_files: list[str], tmp_path: Path
) -> None:
    """Import every module from the installed copy, then run the book command as `python -m emergence_lib.book`.

    One interpreter for both (torch is imported once): runpy.run_module(..., alter_sys=True) is what `-m` runs.
    """
    modules = sorted(
        f.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for f in package_sources(clone_files)
        if f.endswith(".py") and not f.endswith("/__main__.py")
    )
    assert {PACKAGE, f"{PACKAGE}.metric.graph", f"{PACKAGE}.book.executor"} <= set(modules)
    script = """
import contextlib, importlib, importlib.resources, io, json, runpy, sys
files = {m: importlib.import_module(m).__file__ for m in json.loads(sys.argv[1])}
pilots = sorted(p.name for p in (importlib.resources.files("emergence_lib") / "pilots").iterdir())
sys.argv = ["python -m emergence_lib.book", "--help"]
shown, code = io.StringIO(), None
with contextlib.redirect_stdout(shown):
    try:
        runpy.run_module("emergence_lib.book", run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code
print(json.dumps({"files": files, "pilots": pilots, "code": code, "help": shown.getvalue()}))
"""
    env = dict(os.environ, PYTHONPATH=str(installed), MPLBACKEND="Agg")
    ran = subprocess.run(
        [sys.executable, "-c", script, json.dumps(modules)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0, f"importing the installed wheel failed:\n{ran.stderr}"
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    site = installed.resolve()
    elsewhere = {m: f for m, f in report["files"].items() if not Path(f).resolve().is_relative_to(site)}
    assert elsewhere == {}, f"modules imported from outside the installed wheel in {site}"
    assert report["pilots"] == sorted(Path(f).name for f in package_sources(clone_files) if f.endswith(".csv"))
    assert report["code"] in (0, None), f"python -m emergence_lib.book --help exited with {report['code']}"
    assert "usage: python -m emergence_lib.book" in report["help"] and "execute" in report["help"]


def test_the_wheel_check_sees_missing_subpackages(clone_files: list[str], tmp_path: Path) -> None:
    """Guard against a vacuous pass: with only the top package found (no `emergence_lib.*`), layers go missing."""
    source = copy_clone([f for f in clone_files if f in {"pyproject.toml", "README.md", "LICENSE"}
                         or f.startswith(PACKAGE + "/")], tmp_path / "source")
    pyproject = source / "pyproject.toml"
    text, found = re.subn(r"(?m)^include\s*=\s*\[[^\]]*\]", 'include = ["emergence_lib"]', pyproject.read_text())
    assert found == 1, "no `include = [...]` line in [tool.setuptools.packages.find] to narrow"
    pyproject.write_text(text)
    names = set(zipfile.ZipFile(build_wheel(source, tmp_path / "dist")).namelist())
    missing = package_sources(clone_files) - names
    assert f"{PACKAGE}/metric/graph.py" in missing and f"{PACKAGE}/__init__.py" not in missing
