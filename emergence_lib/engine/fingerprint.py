"""Which code a stored result depends on, and the fingerprint of that code each ``RESULTS_VERSION`` was computed by.

A run is stored under a hash of its config and :data:`~emergence_lib.engine.runs.RESULTS_VERSION`, so results of
older code are found again only while that number stays. This module makes forgetting to bump it impossible to
miss: :func:`current` hashes the code that determines results (:data:`RESULT_MODULES`: data, models,
initialization, training, pruning, stored runs and the measurement), ignoring comments, docstrings and
formatting, and :data:`RECORD` lists the fingerprints recorded for each version. A test compares them: when the
code changed, either results change (bump ``RESULTS_VERSION``, then ``python -m emergence_lib.engine.fingerprint
record``) or it was a pure refactor (``record`` alone adds the new fingerprint under the same version).

Example:
    >>> source_hash("x = 1  # a comment") == source_hash("'A docstring.'\\nx = (1)")
    True
    >>> source_hash("x = 1") == source_hash("x = 2")
    False
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from pathlib import Path

from .locations import atomic_write_text

PACKAGE = Path(__file__).resolve().parents[1]

RESULT_MODULES = ("engine/data.py", "engine/models.py", "engine/init.py", "engine/train.py", "engine/prune.py",
                  "engine/runs.py", "metric/graph.py", "metric/activity.py", "metric/counting.py",
                  "metric/emergence.py", "metric/layout.py")  # fmt: skip
"""The modules (relative to the package) whose code determines a stored run's results."""

RECORD = Path(__file__).with_name("fingerprints.json")
"""``{RESULTS_VERSION: [fingerprints of the code that computed results under it]}``, shipped with the package."""


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):  # fmt: skip
            node.body = body[1:] or [ast.Pass()]
    return tree


def source_hash(source: str) -> str:
    """A hash of Python ``source`` that ignores comments, docstrings and formatting (it hashes the syntax tree)."""
    tree = _without_docstrings(ast.parse(source))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def current(package: str | Path = PACKAGE, modules: tuple[str, ...] = RESULT_MODULES) -> str:
    """The fingerprint of the result-determining code as it is now (16 hex digits)."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(f"{module}:{source_hash((Path(package) / module).read_text(encoding='utf-8'))}\n".encode())
    return digest.hexdigest()[:16]


def recorded(path: str | Path = RECORD) -> dict[int, list[str]]:
    """The fingerprints recorded for each ``RESULTS_VERSION`` (:data:`RECORD`)."""
    path = Path(path)
    return {int(k): list(v) for k, v in json.loads(path.read_text()).items()} if path.is_file() else {}


def problem(version: int | None = None, path: str | Path = RECORD) -> str | None:
    """``None`` when the current fingerprint is recorded for ``version`` (default: ``RESULTS_VERSION``), else
    what changed and what to do about it."""
    from .runs import RESULTS_VERSION

    version = RESULTS_VERSION if version is None else version
    now, known = current(), recorded(path)
    if now in known.get(version, []):
        return None
    older = [v for v, prints in known.items() if now in prints and v != version]
    return (f"The code that determines results ({', '.join(RESULT_MODULES)}) has fingerprint {now}, which is not "
            f"recorded for RESULTS_VERSION = {version} in {RECORD.name}"
            + (f" (it is recorded for version {older[0]})" if older else "") + ". If results can change, bump "
            "RESULTS_VERSION in emergence_lib/engine/runs.py (stored runs are then recomputed); either way record "
            "the fingerprint with `python -m emergence_lib.engine.fingerprint record` (after a pure refactor it "
            "joins the same version).")  # fmt: skip


def record(version: int | None = None, path: str | Path = RECORD) -> str:
    """Add the current fingerprint to those of ``version`` (default: ``RESULTS_VERSION``); returns it."""
    from .runs import RESULTS_VERSION

    version = RESULTS_VERSION if version is None else version
    known, now = recorded(path), current()
    if now not in known.setdefault(version, []):
        known[version].append(now)
    atomic_write_text(path, json.dumps({str(k): v for k, v in sorted(known.items())}, indent=1) + "\n")
    return now


def main(argv: list[str] | None = None) -> int:
    """``python -m emergence_lib.engine.fingerprint [check|record]``."""
    command = (argv if argv is not None else sys.argv[1:] or ["check"])[0]
    if command == "record":
        print(f"recorded {record()} for the current RESULTS_VERSION in {RECORD}")
        return 0
    if command == "check":
        message = problem()
        print(message or f"fingerprint {current()} is recorded for the current RESULTS_VERSION")
        return 1 if message else 0
    print(f"unknown command {command!r}; allowed values: check, record", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
