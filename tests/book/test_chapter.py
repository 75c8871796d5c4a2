"""Chapters read as prose, parameters and a few calls: short code cells, no block repeated between chapters,
and the helpers (el.book.Chapter) they share."""

from __future__ import annotations

import itertools
import json
import re
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import emergence_lib as el
from emergence_lib import claims

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
HANDS_ON = "emergence_metric"  # the metric chapter computes by hand on purpose: longer cells allowed
MAX_LINES = 20
WINDOW = 3  # lines: a block this long appearing in two chapters is a copy


def code_cells(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_code_cell_is_longer_than_a_screen(path: Path) -> None:
    if path.stem == HANDS_ON:
        pytest.skip("the hands-on metric chapter")
    long = [len(s.splitlines()) for s in code_cells(path) if len(s.splitlines()) > MAX_LINES]
    assert not long, f"book/{path.name} has code cells of {long} lines (at most {MAX_LINES})"


def blocks(path: Path) -> set[tuple[str, ...]]:
    """Every run of WINDOW consecutive code lines that does something (imports, comments, blanks and lone
    ``plt.show()`` calls left out)."""
    found = set()
    for source in code_cells(path):
        lines = [line.strip() for line in source.splitlines()]
        lines = [line for line in lines if line and not line.startswith(("#", "import ", "from ", "%"))
                 and line not in ("plt.show()", "plt.tight_layout()")]
        found |= {tuple(lines[i : i + WINDOW]) for i in range(len(lines) - WINDOW + 1)}
    return found


def test_no_block_of_code_is_repeated_between_chapters() -> None:
    seen = {path.stem: blocks(path) for path in CHAPTERS}
    repeated = {(a, b): seen[a] & seen[b] for a, b in itertools.combinations(seen, 2) if seen[a] & seen[b]}
    assert not repeated, "blocks repeated between chapters (move them into the library): " + "; ".join(
        f"{a} and {b}: {list(block)}" for (a, b), shared in repeated.items() for block in sorted(shared)[:1])


def test_the_repetition_check_can_fail(tmp_path: Path) -> None:
    cell = "x = 1\ny = x + 1\nz = y * 2\n"
    for name in ("a", "b"):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    assert blocks(tmp_path / "a.ipynb") & blocks(tmp_path / "b.ipynb")


@pytest.mark.parametrize("path", [p for p in CHAPTERS if p.stem != "method"], ids=lambda p: p.stem)
def test_every_chapter_starts_with_the_shared_setup(path: Path) -> None:
    source = "\n".join(code_cells(path))
    assert re.search(rf'el\.book\.Chapter\("{path.stem}", profile, device\)', source)


def test_chapter_setup_prints_the_sizes_and_resolves_the_device(capsys) -> None:
    chapter = el.book.Chapter("feedforward", "smoke", "auto")
    out = capsys.readouterr().out
    assert f"emergence_lib {el.__version__}, profile=smoke, device={chapter.device}" in out
    assert el.get_profile("smoke").description in out
    assert chapter.device in ("cpu", "cuda", "mps") and chapter.settings is el.get_profile("smoke")
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda', 'mps'"):
        el.book.Chapter("feedforward", "smoke", "tpu")
    with pytest.raises(ValueError, match="smoke"):
        el.book.Chapter("feedforward", "huge", "cpu")


def test_chapter_announces_a_fallback_once(capsys) -> None:
    chapter = el.book.Chapter("feedforward", "smoke", "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may warn: the summary announces the data
        data = chapter.dataset("mnist_subset")
    assert data.summary() in capsys.readouterr().out


def test_chapter_verdicts_are_recorded_shown_and_summarized(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(el.locations.ROOT_VARIABLE, str(tmp_path))
    chapter = el.book.Chapter("feedforward", "smoke", "cpu")
    effect = claims.Effect("2a", "E grows with width", "Spearman", 0.5, 0.2, 0.8, 0.0, 1, 5, "seeds", "supported")
    table = pd.DataFrame({"key": ["a"], "train.seed": [0], "data_source": ["real MNIST"], "fallback": [False],
                          "dataset": ["mnist"], "data_used": ["mnist"]})
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: glued.update({name: value}))
    verdicts = chapter.verdicts(claims.verdict_rows([effect], "MLP on mnist", table))
    assert glued["answer"] == "With 1 seeds of MLP on mnist, claim 2a is supported."  # the chapter's opening
    assert len(glued["answer_figure"].axes) == 1  # its forest plot: one row per claim
    assert el.locations.verdicts_path("feedforward", "smoke").exists()
    assert list(el.scorecard.load_verdicts("smoke")["claim"]) == ["2a"]
    assert list(verdicts["verdict"]) == ["supported"]
    shown = capsys.readouterr().out
    assert "MLP on mnist" in shown and "supported" in shown
    assert chapter.done() is None  # the chapter's last cell shows the printed line alone, not a float under it
    assert re.fullmatch(r"chapter executed in \d+ s\n", capsys.readouterr().out)
    assert glued["runtime"].isdigit()


def test_chapter_glues_the_sizes_its_prose_quotes(monkeypatch) -> None:
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: glued.update({name: value}))
    el.book.Chapter("feedforward", "smoke", "cpu")
    smoke, defaults = el.get_profile("smoke"), el.TrainConfig()
    assert glued["probe_size"] == smoke.probe_size and glued["seeds"] == smoke.seeds
    assert glued["hidden"] == "-".join(map(str, smoke.mlp_hidden))
    assert (glued["lr"], glued["momentum"], glued["tau"]) == tuple(f"{v:g}" for v in (defaults.lr, defaults.momentum,
                                                                                      defaults.threshold))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_opens_with_its_question_answer_and_figure(path: Path) -> None:
    """The first screen: the question, the answer in one glued sentence, a glued figure with a caption."""
    nb = nbformat.read(path, as_version=4)
    opening = nb.cells[0].source
    assert "**The question.**" in opening and "**The answer**" in opening
    assert "{glue:text}`" in opening.split("**The answer**", 1)[1].split("\n\n", 1)[0]
    figure = re.search(r"```\{glue:figure\} (\w+)\n:name: [\w-]+\n\n(.+?)```", opening, re.S)
    assert figure and len(figure.group(2).split()) > 10, "the opening figure needs a caption saying what to see"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_setup_cells_are_folded_on_the_site(path: Path) -> None:
    """The shared setup (imports, the Chapter) shows its output but folds its code away."""
    for cell in nbformat.read(path, 4).cells:
        if cell.cell_type == "code" and "el.book.Chapter(" in cell.source:
            tags = cell.metadata.get("tags", [])
            assert {"hide-input", "remove-input", "remove-cell"} & set(tags), f"{path.stem}: setup cell not hidden"


def test_chapter_reads_which_chapters_failed_in_this_build(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "book").mkdir()
    records = {"chapters": {"book/pruning": {"ok": False}, "book/feedforward": {"ok": True}}}
    (tmp_path / el.book.STATUS_RECORDS).write_text(json.dumps(records))
    chapter = el.book.Chapter("scorecard", "smoke", "cpu")
    monkeypatch.chdir(tmp_path / "book")  # where the executor starts a chapter's kernel
    assert chapter.failed_chapters() == ["pruning"]
    monkeypatch.chdir(tmp_path)  # outside a build: nothing recorded
    assert chapter.failed_chapters() == []
