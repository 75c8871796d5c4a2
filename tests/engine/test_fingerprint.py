"""Stale results are impossible: the code that determines results is fingerprinted, and each RESULTS_VERSION
lists the fingerprints it was computed with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import emergence_lib as el
from emergence_lib.engine import fingerprint


def test_the_result_code_is_recorded_for_the_current_results_version() -> None:
    """Fails after any change to training, measurement, models, data, pruning or initialization code until it is
    recorded: bump RESULTS_VERSION if results change, else record the fingerprint under the same version."""
    assert fingerprint.problem() is None, fingerprint.problem()


def test_the_fingerprint_ignores_comments_docstrings_and_layout_but_not_code() -> None:
    plain = "def f(x):\n    return x + 1\n"
    explained = 'def f(x):\n    """Add one."""\n    # the successor\n    return (x +\n            1)\n'
    assert fingerprint.source_hash(plain) == fingerprint.source_hash(explained)
    assert fingerprint.source_hash(plain) != fingerprint.source_hash(plain.replace("+ 1", "+ 2"))
    assert fingerprint.source_hash("def f():\n    'only a docstring'\n") == fingerprint.source_hash("def f():\n    pass\n")


def test_every_result_module_exists_and_counts(tmp_path: Path) -> None:
    package = tmp_path / "package"
    for module in fingerprint.RESULT_MODULES:
        (package / module).parent.mkdir(parents=True, exist_ok=True)
        (package / module).write_text((fingerprint.PACKAGE / module).read_text())
    assert fingerprint.current(package) == fingerprint.current()
    changed = package / fingerprint.RESULT_MODULES[0]
    changed.write_text(changed.read_text() + "\nRESULT_CHANGING_CONSTANT = 1\n")
    assert fingerprint.current(package) != fingerprint.current()


def test_the_check_can_fail_and_says_what_to_do(tmp_path: Path) -> None:
    record = tmp_path / "fingerprints.json"
    record.write_text(json.dumps({str(el.RESULTS_VERSION): ["0000000000000000"]}))
    message = fingerprint.problem(path=record)
    assert message and "bump" in message and "RESULTS_VERSION" in message and "record" in message
    assert fingerprint.record(path=record) == fingerprint.current()
    assert fingerprint.problem(path=record) is None
    assert fingerprint.recorded(record)[el.RESULTS_VERSION] == ["0000000000000000", fingerprint.current()]
    assert "recorded for version" in fingerprint.problem(version=el.RESULTS_VERSION + 1, path=record)


def test_command_line(capsys: pytest.CaptureFixture) -> None:
    assert fingerprint.main(["check"]) == 0 and fingerprint.current() in capsys.readouterr().out
    assert fingerprint.main(["bogus"]) == 2 and "check, record" in capsys.readouterr().err
