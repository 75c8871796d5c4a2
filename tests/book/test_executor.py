"""Every chapter executes with the smoke profile, and the site builds strictly from the executed copies.

Also: the Colab button and the hidden install cell, the build-status page, student notebooks (no solutions, and
they run up to the first exercise), a site that opens from disk, and the workflow that publishes it. The book is
executed and built once (module fixture ``site``); a small synthetic book (fixture ``mini``) covers what the
book's own chapters may not have yet (exercises, a failing chapter).
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import emergence_lib as el
from emergence_lib import book, claims, scorecard
from emergence_lib.book import browser, executor


JOBS = max(1, min(2, os.cpu_count() or 1))
"""Chapters executed side by side in these tests (one thread each): the small profiles leave cores idle."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[book.ChapterRun], Path]:
    """Execute every chapter (smoke, cpu) into a temporary folder, as `make book` does (the runs first, then the
    chapters side by side), then build the site with -W."""
    out = tmp_path_factory.mktemp("book")
    with pytest.MonkeyPatch.context() as patch:
        # datasets, stored runs and results of the tests go to the temporary folder, not the repository's data/
        patch.setenv(book.PROJECT_ROOT_VARIABLE, str(out))
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
    api = (html / "book" / "api.html").read_text()
    for name in ("emergence_lib.metric.emergence.measure", "emergence_lib.experiments.pruning",
                 "emergence_lib.probes.hessian.Curvature", "emergence_lib.book.chapter.Chapter"):  # every layer
        assert f'id="{name}"' in api, f"{name} is not documented on the API page"
    assert api.count('class="doctest') >= 5, "the docstrings' examples are not rendered"


def test_scorecard_page_is_built_from_the_chapters_stored_verdicts(site) -> None:
    out, _, html = site
    recorded = scorecard.load_verdicts("smoke", root=out / "data", results_root=out / "results")
    assert set(recorded["chapter"]) == set(scorecard.CHAPTERS) and set(recorded["profile"]) == {"smoke"}
    (csv,) = (html / "_downloads").glob("*/scorecard.csv")  # the CSV copy ships with the site
    card = pd.read_csv(csv, keep_default_na=False, na_values=["NaN"])
    expected = scorecard.scorecard(recorded)
    assert list(card["claim"].astype(str)) == list(claims.STATEMENTS)
    assert np.allclose(card["estimate"], expected["estimate"], equal_nan=True)
    assert list(card["verdict"]) == list(expected["verdict"])
    page = (html / "book" / "scorecard.html").read_text()
    assert "scorecard.csv" in page and "verdicts.csv" in page
    stand_in = bool(expected["fallback"].fillna(False).astype(bool).any())
    assert ("(stand-in for " in page or "(stand-in data)" in page) == stand_in
    # smoke decides nothing: no row counts, and the page says so plainly
    assert not card["counts"].astype(str).eq("True").any() and "No row counts as evidence in this build" in page


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


def test_chapters_run_side_by_side_with_one_thread_each_and_the_scorecard_last(tmp_path: Path) -> None:
    """Two chapters that each wait for the other to start can only finish side by side; the scorecard, which reads
    what they stored, starts after both."""
    root = tmp_path / "mini"
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text("title: mini\nexecute:\n  execute_notebooks: 'off'\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/a\nchapters:\n- file: book/b\n- file: book/scorecard\n")
    flags = tmp_path / "flags"
    flags.mkdir()
    wait = ("import os, pathlib, time\nflags = pathlib.Path({flags!r})\n(flags / {me!r}).touch()\n"
            "deadline = time.time() + 60\nwhile not (flags / {other!r}).exists() and time.time() < deadline:\n"
            "    time.sleep(0.1)\nassert (flags / {other!r}).exists(), 'not side by side'\n"
            "assert os.environ['OMP_NUM_THREADS'] == '1'\n(flags / ({me!r} + '.cwd')).write_text(os.getcwd())\n"
            "(flags / ({me!r} + '.done')).touch()")
    for me, other in (("a", "b"), ("b", "a")):
        code = wait.format(flags=str(flags), me=me, other=other)
        nbformat.write(new_notebook(cells=[new_code_cell(code)]), root / "book" / f"{me}.ipynb")
    last = f"import pathlib\nassert all((pathlib.Path({str(flags)!r}) / f'{{c}}.done').exists() for c in 'ab')"
    nbformat.write(new_notebook(cells=[new_code_cell(last)]), root / "book" / "scorecard.ipynb")
    lines: list[str] = []
    here = os.getcwd()
    runs = book.execute(profile="smoke", device="cpu", root=root, log=lines.append, jobs=2)
    assert [run.name for run in runs] == ["book/a", "book/b", "book/scorecard"]
    assert all(run.ok for run in runs), book.failure_report([r for r in runs if not r.ok], len(runs))
    assert "2 at a time" in lines[0]
    assert {(flags / f"{c}.cwd").read_text() for c in "ab"} == {str(runs[0].output.parent)}  # the staging folder
    assert os.getcwd() == here
    with pytest.raises(ValueError, match="1 or more, or None; got 0"):
        book.execute(profile="smoke", device="cpu", root=root, jobs=0)


def test_executing_chapters_never_moves_this_process_to_another_folder(tmp_path: Path) -> None:
    """papermill's cwd= changes the folder of the whole process while a chapter runs; with chapters side by side (in
    threads) the last to end could restore another one's staging folder, and the process stayed there."""
    root = tmp_path / "mini"
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text("title: mini\nexecute:\n  execute_notebooks: 'off'\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/a\nchapters:\n- file: book/b\n")
    for name in "ab":
        chapter = new_notebook(cells=[new_code_cell("import time\ntime.sleep(1)")])
        nbformat.write(chapter, root / "book" / f"{name}.ipynb")
    here, seen = os.getcwd(), set()
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(book.execute, profile="smoke", device="cpu", root=root, log=lambda line: None, jobs=2)
        while not running.done():
            seen.add(os.getcwd())
            time.sleep(0.02)
    assert all(run.ok for run in running.result())
    assert seen == {here} and os.getcwd() == here


def test_by_default_chapters_that_train_run_alone_and_the_others_side_by_side(monkeypatch) -> None:
    from emergence_lib import experiments

    asked = []
    monkeypatch.setattr(experiments, "chapters_to_train", lambda profile, chapters: asked.append(chapters) or {"b"})
    chapters = ["book/a", "book/b", "book/c", "book/scorecard"]
    cores = os.cpu_count() or 1
    assert executor._waves(chapters, "smoke", None) == [
        (["book/b"], 1), (["book/a", "book/c"], cores), (["book/scorecard"], 1)]  # fmt: skip
    assert asked == [["a", "b", "c"]]
    # after a training of every run the chapters read (train_first), none is left to train: nothing is listed again
    assert executor._waves(chapters, "smoke", None, trained=True) == [
        ([], 1), (["book/a", "book/b", "book/c"], cores), (["book/scorecard"], 1)]  # fmt: skip
    assert asked == [["a", "b", "c"]]
    assert executor._waves(chapters, "smoke", 1) == [(chapters, 1)]
    # the chapters that probe trained networks (derived tables, not histories) have the most work: they start first
    probing = ["book/feedforward", "book/landscape", "book/robustness", "book/your_network"]
    assert executor._waves(probing, "smoke", None)[1][0] == [
        "book/landscape", "book/your_network", "book/feedforward", "book/robustness"]
    assert executor._waves(chapters, "smoke", 3) == [(chapters[:3], 3), (["book/scorecard"], 3)]


# --- the site as a reader meets it ---------------------------------------------------------------------------


def test_no_page_fetches_anything_from_another_site(site) -> None:
    """Offline and from disk: MathJax ships in the site, and no page loads a script, style or image from a CDN."""
    _, _, html = site
    assert browser.remote_resources(html) == {}
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert '_static/mathjax/tex-chtml.js"' in (html / "book" / "emergence_metric.html").read_text()


def test_the_remote_resource_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js">'
                                        '</script><link rel="stylesheet" href="//fonts.example.org/a.css">'
                                        '<a href="https://arxiv.org">a link is not fetched</a>')
    found = browser.remote_resources(tmp_path)
    assert found == {"page.html": ["https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js", "//fonts.example.org/a.css"]}


@pytest.fixture(scope="module")
def chromium() -> str:
    found = browser.find_browser()
    if found is None:
        pytest.skip(f"no browser to render the site in: {browser.INSTALL_HINT}")
    return found


def test_the_scorecard_fits_a_laptop_screen_and_formulas_render(site, chromium: str) -> None:
    """Rendered at 1280 px: the verdict column needs no sideways scrolling, and formulas are typeset offline."""
    out, _, html = site
    shots = el.locations.screenshots_dir(out)
    card = browser.inspect(html / "book" / "scorecard.html", screenshot=shots / "scorecard.png", browser=chromium)
    verdict = card.header("verdict")
    assert card.viewport == browser.WIDTH and verdict.visible and verdict.right <= browser.WIDTH, verdict
    chapter = browser.inspect(html / "book" / "emergence_metric.html", screenshot=shots / "chapter.png",
                              browser=chromium)  # fmt: skip
    assert chapter.mathjax and chapter.typeset > 10 and chapter.raw_math == 0, chapter
    assert (shots / "scorecard.png").stat().st_size > 10_000 and (shots / "chapter.png").stat().st_size > 10_000
    problems, rendered = browser.check_site(html, browser=chromium)  # what every build checks and prints
    assert problems == [] and rendered


def test_the_browser_check_can_fail(site, chromium: str, tmp_path: Path) -> None:
    """A table too wide for the screen and a formula left raw are both reported."""
    _, _, html = site
    page = html / "book" / "_wide_test.html"
    cells = "".join(f'<th style="white-space: nowrap">column {i} with a long header</th>' for i in range(12))
    page.write_text(f"<html><body><table><tr>{cells}<th>verdict</th></tr></table><p>\\(x^2\\)</p></body></html>")
    try:
        rendering = browser.inspect(page, browser=chromium)
    finally:
        page.unlink()
    assert rendering.header("verdict").right > browser.WIDTH and rendering.raw_math == 1 and not rendering.mathjax
    with pytest.raises(KeyError, match="column 0"):
        rendering.header("no such column")


def test_parameters_cells_are_in_the_notebooks_but_not_on_the_site(site) -> None:
    _, runs, html = site
    for run in runs:
        nb = nbformat.read(run.output, as_version=4)
        hidden = [c for c in nb.cells if {"parameters", "injected-parameters"} & set(_tags(c))]
        assert len(hidden) == 2 and all("remove-cell" in _tags(c) for c in hidden), run.name
        page = (html / f"{run.name}.html").read_text()
        assert 'profile = "smoke"' not in page and "# Parameters" not in page, run.name
        source = nbformat.read(ROOT / f"{run.name}.ipynb", as_version=4)  # the chapter in git keeps its own
        assert any("parameters" in _tags(c) for c in source.cells)


class _Figures(HTMLParser):
    """Images of a page's cell outputs and glued figures, each with whether a figure caption holds it."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[tuple[str, bool]] = []
        self._figures: list[bool] = []  # open <figure> elements: has a caption been seen in each?
        self._images_in_figure: list[list[int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "figure":
            self._figures.append(False)
            self._images_in_figure.append([])
        elif tag == "figcaption" and self._figures:
            self._figures[-1] = True
        elif tag == "img" and "_images/" in (dict(attrs).get("src") or ""):
            self.images.append((dict(attrs)["src"], False))
            if self._images_in_figure:
                self._images_in_figure[-1].append(len(self.images) - 1)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure" and self._figures:
            captioned = self._figures.pop()
            for index in self._images_in_figure.pop():
                self.images[index] = (self.images[index][0], captioned)


def test_every_figure_has_a_caption(site) -> None:
    _, runs, html = site
    for run in runs:
        parser = _Figures()
        parser.feed((html / f"{run.name}.html").read_text())
        uncaptioned = [src for src, captioned in parser.images if not captioned]
        assert not uncaptioned, f"{run.name}: figures without a caption: {uncaptioned}"
    assert parser.images or runs[-1].name != "book/scorecard"  # the scorecard opens with its forest plot


def test_kernels_run_quietly(tmp_path: Path, capfd) -> None:
    """No transport warning from the kernel: chapters run over local sockets, one line per chapter."""
    source = tmp_path / "quiet.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print(6 * 7)")]), source)
    assert book.execute_chapter(source, tmp_path / "out" / "quiet.ipynb", "smoke", "cpu") is None
    captured = capfd.readouterr()
    assert "without encryption" not in captured.out + captured.err
    assert nbformat.read(tmp_path / "out" / "quiet.ipynb", as_version=4).cells[-1].outputs[0]["text"] == "42\n"


# --- helpers shared by the tests below ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
COLAB_CHECK = re.compile(r"""if\s+["']google\.colab["']\s+in\s+sys\.modules\s*:""")
GIT_URL = re.compile(r"""git\+(https?://[^\s"'@#]+)""")
EXERCISE = re.compile(r"\{exercise(?:-start)?\}")
SOLUTION = re.compile(r"\{solution(?:-start|-end)?\}")


def _config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def _normal_url(url: str) -> str:
    return url.rstrip("/").removesuffix(".git").rstrip("/")


def _tags(cell) -> list[str]:
    return list(cell.metadata.get("tags", []))


def _first_exercise(nb) -> int | None:
    """Index of the first markdown cell holding an {exercise} directive."""
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and EXERCISE.search(c.source)), None)


class _Links(HTMLParser):
    """Every href/src of a page, and the url of a <meta http-equiv="refresh"> redirect."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.links += [value for key, value in attrs if key in ("href", "src") and value]
        if tag == "meta" and (attributes.get("http-equiv") or "").lower() == "refresh":
            self.links.append((attributes.get("content") or "").split("url=", 1)[-1].strip())


class _Table(HTMLParser):
    """Rows of the HTML tables of a page: the text of each cell, and the hrefs inside the row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[list[str], list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append(([], []))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "a" and self.rows:
            self.rows[-1][1].append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1][0].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _rows(page: str) -> list[tuple[list[str], list[str]]]:
    parser = _Table()
    parser.feed(page)
    return parser.rows


def _check_self_contained(html: Path, page: Path) -> None:
    """Every link to the site's own files is relative and points at a file that exists."""
    parser = _Links()
    parser.feed(page.read_text())
    for link in parser.links:
        parts = urlsplit(link)
        if parts.scheme or link.startswith("//"):
            continue  # another site (Colab, a CDN): not part of this one
        assert not link.startswith("/"), f"{page.relative_to(html)}: absolute link {link!r} breaks file:// viewing"
        if parts.path:
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.exists(), f"{page.relative_to(html)}: {link!r} points at a missing file"


# Durations and fractions typed in prose go stale when the code changes (issue 12: "about 2 minutes",
# "an eighth of the channels"); the chapters glue them from the code or point to the build-status page.
TYPED_IN_PROSE = re.compile(
    r"\b\d+(\.\d+)?\s*(s|seconds?|minutes?|hours?)\b|\b(an? |one )(half|third|quarter|eighth|sixteenth)s? of\b"
    r"|\b\d[\d,]*\s+MNIST digits|\d+-\d+-\d+-\d+"  # the size of the stand-in data; a network's widths
)
_DEFAULTS = el.TrainConfig()
# The training settings and the threshold as the code has them, typed: chapters glue them (Chapter.sizes). The
# method page is exempt: it states the rules as first registered, which are kept word for word.
TYPED_SETTING = re.compile(
    rf"\\tau\s*=\s*{re.escape(f'{_DEFAULTS.threshold:g}')}(?!\d)|momentum\s+{re.escape(f'{_DEFAULTS.momentum:g}')}"
    rf"|learning rate\s+{re.escape(f'{_DEFAULTS.lr:g}')}|batch\s+{_DEFAULTS.batch_size}\b"
)


@pytest.mark.parametrize("name", book.list_chapters(ROOT))
def test_chapter_prose_types_no_run_time_or_network_size(name: str) -> None:
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            typed = TYPED_IN_PROSE.search(cell.source) or (name != "book/method" and TYPED_SETTING.search(cell.source))
            assert not typed, f"{name}: typed {typed.group(0)!r} in prose; glue it from the code"


# --- task: the Colab button and the hidden install cell ---------------------------------------------------------


@pytest.mark.parametrize("name", book.list_chapters(ROOT))
def test_chapter_has_the_hidden_colab_install_cell(name: str) -> None:
    """Second cell: on Colab only, pip-install emergence_lib from the repository that _config.yml names."""
    nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
    assert len(nb.cells) > 1
    cell = nb.cells[1]
    assert cell.cell_type == "code" and COLAB_CHECK.search(cell.source) and "%pip install" in cell.source, (
        f"{name}: the second cell must be the Colab install cell, found {cell.source[:200]!r}"
    )
    assert "remove-cell" in _tags(cell), f"{name}: the Colab install cell must be tagged remove-cell"
    urls = GIT_URL.findall(cell.source)
    assert urls and {_normal_url(url) for url in urls} == {_normal_url(_config()["repository"]["url"])}


def test_config_names_the_repository_and_colab() -> None:
    config = _config()
    assert config["repository"] == {"url": "https://github.com/emergence-book/emergence-book", "path_to_book": "",
                                    "branch": "main"}
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert not config["launch_buttons"].get("thebe")
    assert not any(config["html"].get(f"use_{b}_button") for b in ("repository", "issues", "edit_page"))


def test_chapter_pages_have_a_colab_button_and_hide_the_install_cell(site) -> None:
    _, runs, html = site
    repository = _config()["repository"]
    org_repo = urlsplit(repository["url"]).path.strip("/")
    for run in runs:
        page = (html / f"{run.name}.html").read_text()
        colab = f"https://colab.research.google.com/github/{org_repo}/blob/{repository['branch']}/{run.name}.ipynb"
        assert f'href="{colab}"' in page, f"{run.name}: no Colab launch link {colab}"
        assert "google.colab" not in page and "%pip install" not in page, f"{run.name}: install cell is visible"
    assert "colab.research.google.com" not in (html / "book" / "intro.html").read_text()  # Markdown pages: none


def test_solutions_are_collapsed_toggles_in_the_site(site) -> None:
    _, runs, html = site
    for run in runs:
        source = nbformat.read(ROOT / f"{run.name}.ipynb", as_version=4)
        solutions = sum(len(re.findall(r"\{solution\}", c.source)) for c in source.cells if c.cell_type == "markdown")
        page = (html / f"{run.name}.html").read_text()
        toggles = re.findall(r'<div class="solution\b[^"]*\bdropdown\b', page)
        assert len(toggles) == solutions, f"{run.name}: {solutions} solution(s) but {len(toggles)} dropdown(s)"


# --- task: the build-status page ------------------------------------------------------------------------------


def test_status_page_lists_every_executed_chapter_with_time_and_profile(site) -> None:
    import torch

    _, runs, html = site
    page = (html / "book" / "status.html").read_text()
    assert "Site built on" in page and "UTC" in page
    rows = _rows(page)
    header = rows[0][0]
    assert header == ["chapter", "result", "time", "executed"]  # narrow enough for the text column
    shared = {"profile": "smoke", "device": "cpu", "python": platform.python_version(), "torch": torch.__version__,
              "emergence_lib": el.__version__, "platform": platform.platform()}  # the same for every chapter
    said = " ".join(re.sub(r"<[^>]+>", "", page).split())
    assert "Every executed chapter ran with: " + "; ".join(f"{k} {v}" for k, v in shared.items()) in said
    for run in runs:
        link = f"{Path(run.name).name}.html"
        matching = [cells for cells, hrefs in rows[1:] if any(h.split("#")[0] == link for h in hrefs)]
        assert len(matching) == 1, f"status page has no single row for {run.name}"
        row = dict(zip(header, matching[0]))
        beside = JOBS > 1 and run.name not in executor.AFTER_THE_OTHERS  # the scorecard runs alone, after the rest
        star = "*" if beside else ""  # executed side by side: its time is not the time it takes alone
        assert row["result"] == "ok" and row["time"] == f"{run.seconds:.1f} s{star}" and row["executed"].endswith("UTC")
    assert ("Executed side by side with other chapters" in said) == (JOBS > 1)
    assert "filled in when the book is built" in (ROOT / "book" / "status.md").read_text()  # git: placeholder only


@pytest.mark.filterwarnings("ignore::emergence_lib.engine.data.DatasetFallbackWarning")
def test_runs_and_timings_come_before_the_chapters_which_train_only_their_single_runs(site) -> None:
    from emergence_lib import experiments

    out, _, html = site
    record = json.loads((book.staging_dir("smoke", out) / book.STATUS_RECORDS).read_text())["training"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(book.PROJECT_ROOT_VARIABLE, str(out))
        planned = {c.key for e in experiments.planned("smoke") for c in e.configs}
    stored = {path.name for path in (out / "data" / "runs").iterdir() if not path.name.startswith(".")}
    assert record["ok"] and record["runs"] == record["trained"] == len(planned) and planned <= stored
    assert record["workers"] == min(os.cpu_count() or 1, len(planned))  # smoke too: the book's runs repay them
    # Besides them, the chapters trained only the runs of their own cells (`el.execute`), never an experiment's
    # runs: those `planned` missed would be trained chapter by chapter again, one experiment at a time.
    cells = [c for name in book.list_chapters() for c in nbformat.read(ROOT / f"{name}.ipynb", 4).cells
             if c.cell_type == "code"]  # fmt: skip
    assert len(stored - planned) <= sum(len(re.findall(r"\bel\.execute\(", c.source)) for c in cells)
    said = " ".join(re.sub(r"<[^>]+>", "", (html / "book" / "status.html").read_text()).split())
    assert f"the {len(planned)} runs they read were trained in one sweep (" in said and "do not include it" in said
    # the timings a chapter shows were taken before the chapters ran side by side, and read back there
    for name in experiments.TIMED_ALONE:
        executed = nbformat.read(book.staging_dir("smoke", out) / "book" / f"{name}.ipynb", 4)
        printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
        assert "timed on this machine with this code before; read from" in printed


def test_a_failed_training_leaves_the_runs_to_the_chapters_and_says_so(tmp_path: Path, monkeypatch) -> None:
    from emergence_lib import experiments

    monkeypatch.setenv(book.PROJECT_ROOT_VARIABLE, str(tmp_path))
    config = el.get_profile("smoke").run_config("mnist_subset", "mlp", seed=0)
    monkeypatch.setattr(experiments, "to_train", lambda profile, chapters: [config])
    monkeypatch.setattr(el.runs, "run_sweep", lambda *args, **kwargs: 1 / 0)
    lines: list[str] = []
    record = executor.train_first("smoke", ["book/feedforward"], "cpu", log=lines.append)
    assert not record["ok"] and record["error"] == "ZeroDivisionError: division by zero"
    assert (record["runs"], record["trained"], record["workers"]) == (1, 0, 1)
    assert "training stopped (ZeroDivisionError" in "\n".join(lines)
    line = executor._training_line(record)
    assert "0 of the 1 runs they read were trained" in line and "The chapters trained the rest." in line
    assert "the 1 runs they read were trained" in executor._training_line({**record, "ok": True, "trained": 1})


def test_a_failed_timing_is_left_to_its_chapter(monkeypatch) -> None:
    from emergence_lib import experiments

    timed = []
    monkeypatch.setattr(experiments, "TIMED_ALONE", {"feedforward": lambda profile: timed.append(profile) or 1 / 0})
    lines: list[str] = []
    executor.time_alone("smoke", ["book/method", "book/feedforward"], log=lines.append)
    assert timed == ["smoke"] and lines == [
        "  timing for book/feedforward failed (ZeroDivisionError: division by zero); the chapter times it"]


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A two-chapter book with exercises and a status page, outside the repository: (root, out)."""
    root = tmp_path_factory.mktemp("mini")
    out = root / "out"
    (root / "book").mkdir()
    config = {
        "title": "mini", "only_build_toc_files": True, "execute": {"execute_notebooks": "off"},
        "repository": _config()["repository"], "launch_buttons": {"colab_url": "https://colab.research.google.com"},
        "sphinx": {"extra_extensions": ["sphinx_exercise"]}, "exclude_patterns": ["out"],
    }  # fmt: skip
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/status\nchapters:\n- file: book/lesson\n"
                                   "- file: book/broken\n")
    (root / "book" / "status.md").write_text("# Build status\n\nFilled in when the book is built.\n")
    nbformat.write(_lesson(), root / "book" / "lesson.ipynb")
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Broken"), new_code_cell("1 / 0")]),
                   root / "book" / "broken.ipynb")
    return root, out


def _lesson():
    """A chapter following the book's conventions: install cell, parameters, an exercise and its solution."""
    url = _config()["repository"]["url"]
    solution_code = new_code_cell("y = 2 * x\nprint(y)")
    solution_code.metadata["tags"] = ["solution"]
    cells = [
        new_markdown_cell("# A lesson\n\nDoubling numbers."),
        new_code_cell(f'import sys\n\nif "google.colab" in sys.modules:\n'
                      f'    %pip install --quiet "emergence-lib @ git+{url}"', metadata={"tags": ["remove-cell"]}),
        new_code_cell('profile = "default"\ndevice = "cpu"', metadata={"tags": ["parameters"]}),
        new_code_cell('import os\n\nprint("data and results under", os.environ.get("EMERGENCE_ROOT"))'),
        new_code_cell('x = 3 if profile == "smoke" else 300\nassert device == "cpu"\nx'),
        new_markdown_cell("```{exercise}\n:label: ex-double\n\nCompute `y`, twice `x`.\n```"),
        new_markdown_cell("```{solution} ex-double\n:class: dropdown\n\nMultiply by two:\n```",
                          metadata={"tags": ["solution"]}),
        solution_code,
        new_code_cell("assert y == 2 * x  # needs the solution: students stop before this"),
        new_markdown_cell("```{exercise}\n:label: ex-more\n\nAnd three times?\n```"),
    ]  # fmt: skip
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})


def test_status_keeps_earlier_rows_and_renders_failures(mini) -> None:
    root, out = mini
    assert [run.ok for run in book.execute(profile="smoke", device="cpu", out=out, root=root, log=print)] == [
        True, False]  # fmt: skip
    staging = book.staging_dir("smoke", out, root)
    lesson = nbformat.read(staging / "book" / "lesson.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in lesson.cells if c.cell_type == "code" for o in c.outputs)
    if book.PROJECT_ROOT_VARIABLE not in os.environ:  # the book root, for the kernels only
        assert f"data and results under {root.resolve()}" in printed
        assert book.PROJECT_ROOT_VARIABLE not in os.environ
    first = json.loads((staging / book.STATUS_RECORDS).read_text())["chapters"]
    assert set(first) == {"book/lesson", "book/broken"}
    runs = book.execute(profile="smoke", chapters=["lesson"], device="cpu", out=out, root=root, log=print)
    records = book.status_records("smoke", out, root)
    assert set(records) == {"book/lesson", "book/broken"}  # the chapter not rerun keeps its row
    assert records["book/broken"] == first["book/broken"]
    assert records["book/lesson"]["seconds"] == runs[0].seconds
    beside = min(2, os.cpu_count() or 1)  # by default chapters with nothing to train run side by side, one per core
    assert first["book/broken"]["at_once"] == beside and records["book/lesson"]["at_once"] == 1
    assert not [p for p in staging.iterdir() if p.name.endswith(".tmp")]  # atomic writes leave nothing behind
    text = (staging / "book" / "status.md").read_text()
    assert "has not been built" in text and "ZeroDivisionError" in text
    html = book.build_site("smoke", out=out, root=root, strict=True)
    rows = {hrefs[0].split("#")[0]: cells for cells, hrefs in _rows((html / "book" / "status.html").read_text())[1:]}
    assert rows["lesson.html"][1] == "ok" and not rows["lesson.html"][2].endswith("*")
    assert rows["broken.html"][2].endswith("*") == (beside > 1)
    assert rows["broken.html"][1].startswith("failed: ZeroDivisionError: division by zero (cell with")
    lesson = (html / "book" / "lesson.html").read_text()
    assert "google.colab" not in lesson  # remove-cell
    assert re.search(r'class="[^"]*\bsolution\b[^"]*\bdropdown\b', lesson)  # the solution is a toggle
    _check_self_contained(html, html / "book" / "lesson.html")


# --- task: student notebooks ----------------------------------------------------------------------------------


def _check_student_copy(source: Path, copy: Path) -> None:
    original = nbformat.read(source, as_version=4)
    student = nbformat.read(copy, as_version=4)
    assert not [c for c in student.cells if "solution" in _tags(c)]
    assert not [c for c in student.cells if SOLUTION.search(c.source)], f"{copy}: a solution directive is left"
    exercises = [c.source for c in original.cells if c.cell_type == "markdown" and EXERCISE.search(c.source)]
    assert [c.source for c in student.cells if c.cell_type == "markdown" and EXERCISE.search(c.source)] == exercises
    assert [c.source for c in student.cells] == [c.source for c in original.cells if "solution" not in _tags(c)]
    assert sum("parameters" in _tags(c) for c in student.cells) == 1
    assert all(not c.outputs and c.execution_count is None for c in student.cells if c.cell_type == "code")


def _execute_until_first_exercise(copy: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the student notebook, cut just before its first exercise, as papermill runs a chapter (smoke, cpu).

    Datasets and stored runs go to the temporary folder, never the repository's data/.
    """
    monkeypatch.setenv(book.PROJECT_ROOT_VARIABLE, str(tmp))
    nb = nbformat.read(copy, as_version=4)
    first = _first_exercise(nb)
    assert first is not None
    nb.cells = nb.cells[:first]
    truncated = tmp / f"until-exercise-{copy.name}"
    nbformat.write(nb, truncated)
    error = book.execute_chapter(truncated, tmp / "executed" / copy.name, "smoke", "cpu")
    assert error is None, f"{copy} fails before its first exercise: {error}"


def test_student_notebooks_of_a_synthetic_chapter(mini, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = mini
    copies = book.student_notebooks(out=tmp_path / "student", chapters=["lesson"], root=root)
    assert copies == [tmp_path / "student" / "lesson.ipynb"]
    _check_student_copy(root / "book" / "lesson.ipynb", copies[0])
    student = nbformat.read(copies[0], as_version=4)
    assert "y = 2 * x" not in "".join(c.source for c in student.cells)
    assert len([c for c in student.cells if EXERCISE.search(c.source)]) == 2
    assert "google.colab" in student.cells[1].source  # kept: students may run it on Colab
    _execute_until_first_exercise(copies[0], tmp_path, monkeypatch)


def test_an_untagged_solution_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "leaky"
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text("title: leaky\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/leak\n")
    cells = [new_markdown_cell("```{exercise}\n:label: e\nx\n```"), new_markdown_cell("```{solution} e\ny\n```")]
    nbformat.write(new_notebook(cells=cells), root / "book" / "leak.ipynb")
    with pytest.raises(book.BookError, match=r"book/leak: cell 1 .*not tagged 'solution'"):
        book.student_notebooks(out=tmp_path / "student", root=root)
    assert not (tmp_path / "student").exists()


def test_student_notebooks_of_the_book(tmp_path: Path) -> None:
    chapters = book.list_chapters(ROOT)
    assert book.main(["student", "--out", str(tmp_path)]) == 0
    copies = book.student_notebooks(out=tmp_path, root=ROOT)
    assert copies == [tmp_path / f"{Path(name).name}.ipynb" for name in chapters]
    for name, copy in zip(chapters, copies):
        _check_student_copy(ROOT / f"{name}.ipynb", copy)


def _cells(cells: list) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source) for c in cells]


def test_student_notebooks_execute_until_their_first_exercise(site, tmp_path: Path, monkeypatch) -> None:
    """Every chapter's student copy, cut just before its first exercise, executes (smoke, cpu), reading the runs
    the smoke build stored, as a student's copy does after ``make book``.

    Where that part of the copy is, cell for cell, the beginning of the chapter the smoke build executed (no
    solution cell comes before the first exercise), it is the same code on the same stored runs: the ``site``
    fixture has executed it, without error. Only the copies that differ there are executed again (none today;
    executing all took about a minute of the suite). The synthetic chapter's test executes a student copy.
    """
    out, executed, _ = site
    assert all(run.ok for run in executed)
    root = tmp_path / "student-book"
    (root / "book").mkdir(parents=True)
    copies = book.student_notebooks(out=tmp_path / "student", root=ROOT)
    names, cut = [], 0
    for name, copy in zip(book.list_chapters(ROOT), copies):
        nb = nbformat.read(copy, as_version=4)
        first = _first_exercise(nb)
        if first is None:
            continue
        cut += 1
        chapter = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
        if _cells(nb.cells[:first]) == _cells(chapter.cells[:first]):
            continue  # the smoke build executed these very cells
        nb.cells = nb.cells[:first]
        nbformat.write(nb, root / f"{name}.ipynb")
        names.append(name)
    assert cut >= 5, "chapters with an exercise"
    if not names:
        return
    (root / "_config.yml").write_text("title: students\nexecute:\n  execute_notebooks: 'off'\n")
    toc = "".join(f"- file: {name}\n" for name in names[1:])
    (root / "_toc.yml").write_text(f"format: jb-book\nroot: {names[0]}\nchapters:\n{toc}")
    monkeypatch.setenv(book.PROJECT_ROOT_VARIABLE, str(out))  # the smoke build's data/: its datasets and runs
    runs = book.execute(profile="smoke", device="cpu", root=root, out=tmp_path, jobs=JOBS)
    assert [run.name for run in runs] == names
    failed = [run for run in runs if not run.ok]
    assert not failed, "student copies fail before their first exercise: " + book.failure_report(failed, len(runs))


# --- task: a static site that works from disk, and its publication ----------------------------------------------


def test_chapters_end_with_their_runtime_line_alone(site) -> None:
    """``chapter.done()`` prints the time; nothing else (a returned float was shown under it on every page)."""
    _, runs, html = site
    ends = {}
    for run in runs:
        text = " ".join(re.sub(r"<[^>]+>", " ", (html / f"{run.name}.html").read_text()).split())
        found = re.search(r"chapter executed in \d+ s (\S+)", text)
        if found:
            ends[run.name] = found.group(1)
    assert len(ends) >= 5, "chapters that print their runtime"
    assert not [name for name, word in ends.items() if re.fullmatch(r"[-+.\de]+", word)], ends


def test_site_links_are_relative_so_it_opens_from_disk(site) -> None:
    _, runs, html = site
    pages = [html / "index.html", html / "book" / "intro.html", html / "book" / "status.html"]
    pages += [html / f"{run.name}.html" for run in runs]
    for page in pages:
        _check_self_contained(html, page)
    for page in pages[1:]:
        text = page.read_text()
        assert re.search(r'(?:href|src)="(?:\.\./)*_static/', text), f"{page}: no relative _static link"
        assert not re.search(r'(?:href|src)="/_static', text)


def test_pages_workflow_builds_and_deploys_the_site() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert triggers["push"]["branches"] == ["main"] and "workflow_dispatch" in triggers
    assert workflow["permissions"]["pages"] == "write" and workflow["permissions"]["id-token"] == "write"
    build_job, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert build_job["runs-on"] == "ubuntu-latest"
    steps = build_job["steps"]
    assert any(str(s.get("with", {}).get("python-version")) == "3.11" for s in steps)
    assert any("make book PROFILE=default" in s.get("run", "") for s in steps)
    upload = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert upload and upload[0]["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" or "build" in deploy["needs"]
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])


def test_how_to_run_lists_every_profile_and_the_entry_points() -> None:
    text = (ROOT / "book" / "how_to_run.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| .+ \| .+ \|$", text, flags=re.M)
    assert [name for name in rows if name in el.PROFILES] == list(el.PROFILES)  # the "what each profile is for" table
    for command in ("papermill book/", "make book PROFILE=paper DEVICE=cuda", "python -m emergence_lib.book student",
                    "py -m venv .venv", "results/<profile>/", "make student"):
        assert command in text, command


def test_staging_drops_pages_whose_source_is_gone(tmp_path: Path) -> None:
    # A page converted from Markdown to a notebook (book/method.md -> method.ipynb) left its old copy in the
    # staging folder, and the strict build failed on two sources for one page.
    root = tmp_path / "root"
    (root / "book").mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        (root / name).write_text("")
    (root / "book" / "page.md").write_text("# Page\n")
    staging = book.stage("smoke", out=tmp_path / "out", root=root)
    (staging / "book" / "scorecard.csv").write_text("a\n1\n")  # written by a chapter: kept
    assert (staging / "book" / "page.md").is_file()
    (root / "book" / "page.md").unlink()
    book.stage("smoke", out=tmp_path / "out", root=root)
    assert not (staging / "book" / "page.md").exists() and (staging / "book" / "scorecard.csv").is_file()
