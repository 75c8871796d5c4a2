"""Every chapter executes with the smoke profile, and the site builds strictly from the executed copies."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from emergence_lib import book


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[book.ChapterRun], Path]:
    """Execute every chapter (smoke, cpu) into a temporary folder, then build the site with -W."""
    out = tmp_path_factory.mktemp("book")
    runs = book.execute(profile="smoke", device="cpu", out=out)
    failed = [run for run in runs if not run.ok]
    assert not failed, book.failure_report(failed, len(runs))
    html = book.build_site("smoke", out=out, strict=True)
    return out, runs, html


def test_every_chapter_executes(site: tuple[Path, list[book.ChapterRun], Path]) -> None:
    _, runs, _ = site
    assert [run.name for run in runs] == book.list_chapters()
    assert "book/emergence_metric" in book.list_chapters()


def test_executed_copies_hold_outputs_and_the_injected_parameters(site) -> None:
    out, runs, _ = site
    for run in runs:
        assert run.output.is_relative_to(out / "_build" / "executed" / "smoke")
        nb = nbformat.read(run.output, as_version=4)
        assert any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
        injected = [cell for cell in nb.cells if "injected-parameters" in cell.metadata.get("tags", [])]
        assert injected and 'profile = "smoke"' in injected[0].source and 'device = "cpu"' in injected[0].source


def test_site_renders_every_chapter_with_outputs(site) -> None:
    _, runs, html = site
    assert (html / "index.html").is_file()
    for run in runs:
        page = (html / f"{run.name}.html").read_text()
        nb = nbformat.read(run.output, as_version=4)
        title = next(c.source for c in nb.cells if c.cell_type == "markdown").splitlines()[0].lstrip("# ")
        assert title in page
        assert "{glue" not in page, "a glued number was not resolved"
        assert "application/vnd.jupyter.widget" not in page, "widget residue (a progress bar?) in the site"
    metric_page = (html / "book" / "emergence_metric.html").read_text()
    assert "<img" in metric_page  # the graph drawing was executed and rendered
    assert (html / "book" / "api.html").read_text().count("emergence_lib.metric.measure") > 0


def test_unknown_profile_is_an_error_listing_the_allowed_values(tmp_path: Path, capsys) -> None:
    with pytest.raises(ValueError, match="allowed values") as error:
        book.execute(profile="huge", out=tmp_path)
    assert all(name in str(error.value) for name in ("smoke", "default", "paper"))
    assert book.main(["execute", "--profile", "huge", "--out", str(tmp_path)]) == 1
    message = capsys.readouterr().err
    assert "huge" in message and all(name in message for name in ("smoke", "default", "paper"))
    assert not (tmp_path / "_build").exists()  # refused before doing anything


def test_unknown_chapter_is_an_error_listing_the_chapters(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="emergence_metric"):
        book.execute(profile="smoke", chapters=["no_such_chapter"], device="cpu", out=tmp_path)


def test_a_failing_chapter_is_named_with_its_error(tmp_path: Path) -> None:
    """A one-chapter book whose notebook raises: the report names the chapter and the exception."""
    root = tmp_path / "mini"
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text("title: mini\nexecute:\n  execute_notebooks: 'off'\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/broken\n")
    nbformat.write(new_notebook(cells=[new_code_cell("1 / 0")]), root / "book" / "broken.ipynb")
    lines: list[str] = []
    runs = book.execute(profile="smoke", device="cpu", root=root, log=lines.append)
    assert len(runs) == 1 and not runs[0].ok
    assert "ZeroDivisionError" in runs[0].error
    report = "\n".join(lines)
    assert "book/broken" in report and "FAILED" in report and "ZeroDivisionError" in report
    with pytest.raises(book.BookError, match="book/broken"):
        book.build(profile="smoke", device="cpu", root=root, log=lines.append)
