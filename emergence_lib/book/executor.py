"""Execute the book's chapters with papermill and build the site with Jupyter Book.

Command line (from the repository root)::

    python -m emergence_lib.book execute [--profile smoke|default|paper] [--chapter NAME] [--device auto|cpu|cuda|mps]
    python -m emergence_lib.book build   [same options]
    python -m emergence_lib.book student [--out DIR] [--chapter NAME]

The commands call :func:`execute`, :func:`build` (:func:`execute`, then :func:`build_site`) and
:func:`student_notebooks`; both of the first two rewrite the Build status page (:func:`write_status_page`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import browser
from ..engine.locations import (ROOT_VARIABLE, atomic_write_text, executed_dir, screenshots_dir, site_dir,
                                student_dir)
from ..engine.profiles import PROFILES as _PROFILE_TABLE
from ..engine.profiles import get_profile
from ..engine.train import DEVICES, resolve_device

PROFILES: tuple[str, ...] = tuple(_PROFILE_TABLE)
"""Names of the run sizes every chapter understands (defined in :mod:`emergence_lib.engine.profiles`)."""

KERNEL = "python3"
"""Jupyter kernel the chapters run in: the Python environment that runs this module."""

BOOK_SOURCES = "book"
"""Folder (relative to the book root) holding every page, chapter and asset listed in ``_toc.yml``."""

STATUS_PAGE = "book/status.md"
"""The build-status page (relative to the book root); its staging copy is rewritten from the run records."""

STATUS_RECORDS = "status.json"
"""File of the staging folder recording every executed chapter (see :func:`execute`)."""

PROJECT_ROOT_VARIABLE = ROOT_VARIABLE
"""Environment variable naming the folder that holds ``data/`` and ``results/`` (read by
``emergence_lib.engine.runs``). :func:`execute` sets it to the book root for the chapters it runs, unless it is
already set, so a chapter executed in the build folder still uses the repository's dataset cache, stored runs
and published results."""

SOLUTION_TAG = "solution"
"""Cell tag of every solution cell; :func:`student_notebooks` removes these cells."""

SITE_HIDDEN_TAGS = ("parameters", "injected-parameters")
"""Cells the site does not show (tagged ``remove-cell`` in the executed copies only): the chapter's papermill
``parameters`` cell and the one papermill injects. The chapters in git and the student copies keep them."""

# A sphinx-exercise solution directive, plain or gated; a cell holding one must be tagged SOLUTION_TAG.
_SOLUTION_DIRECTIVE = re.compile(r"\{solution(?:-start|-end)?\}")

# Environment of the kernels papermill starts (they inherit ours); restored afterwards.
_KERNEL_ENV: dict[str, str | None] = {
    "TQDM_DISABLE": "1",  # no progress bars, hence no widget JSON or stderr residue in the site
    "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # silences the debugger's frozen-modules warning at kernel start
    "MPLBACKEND": None,  # a global MPLBACKEND=Agg would stop ipykernel from choosing the inline backend
}


AFTER_THE_OTHERS = ("book/scorecard",)
"""Chapters that read what the other chapters stored (the scorecard reads their verdicts): when chapters run side
by side (``jobs`` > 1) these start once the others are done."""

_ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""The kernels' thread settings when chapters run side by side: one core each, not every kernel on every core."""

_ENVIRONMENT = ("profile", "device", "python", "torch", "emergence_lib", "platform")
"""What the status page records of each chapter's execution, besides its result, time and date."""


class BookError(RuntimeError):
    """A chapter failed to execute, or Jupyter Book failed to build the site."""


@dataclass(frozen=True)
class ChapterRun:
    """Outcome of executing one chapter.

    Attributes:
        name: The chapter's name in ``_toc.yml``, e.g. ``"book/emergence_metric"``.
        output: The executed notebook (written even when execution failed, with the traceback in it).
        seconds: Wall-clock time of the execution.
        error: ``None`` on success, else ``"ExceptionName: message"`` of the failure.
    """

    name: str
    output: Path
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the chapter executed without error."""
        return self.error is None


def book_root(root: str | Path | None = None) -> Path:
    """The folder holding ``_config.yml`` and ``_toc.yml``.

    Args:
        root: Explicit folder; by default the current directory if it holds a book, else the repository
            this package was installed from (editable install).

    Raises:
        BookError: When no ``_toc.yml`` is found there.
    """
    candidates = [Path(root)] if root is not None else [Path.cwd(), Path(__file__).resolve().parents[2]]
    for folder in candidates:
        if (folder / "_toc.yml").is_file() and (folder / "_config.yml").is_file():
            return folder.resolve()
    raise BookError(f"no _config.yml and _toc.yml found in {', '.join(map(str, candidates))}")


def _toc_files(node: object) -> Iterator[str]:
    """Every ``root``/``file`` entry of a parsed ``_toc.yml``, in reading order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("root", "file") and isinstance(value, str):
                yield value
            else:
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def list_chapters(root: str | Path | None = None) -> list[str]:
    """Names of the notebook chapters listed in ``_toc.yml``, in reading order.

    A name is the toc entry without suffix (``"book/emergence_metric"``); Markdown pages are not chapters.
    """
    import yaml  # part of the `book` extra (jupyter-book needs it too), not of the core library

    root = book_root(root)
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names = [str(Path(entry).with_suffix("")) for entry in _toc_files(toc)]
    return [name for name in names if (root / f"{name}.ipynb").is_file()]


def _select(chapters: Sequence[str] | None, available: list[str]) -> list[str]:
    """Resolve chapter names given as ``emergence_metric``, ``book/emergence_metric`` or with ``.ipynb``."""
    if not chapters:
        return available
    selected = []
    for wanted in chapters:
        stem = wanted.removesuffix(".ipynb")
        matches = [name for name in available if stem in (name, Path(name).name)]
        if not matches:
            raise ValueError(f"unknown chapter {wanted!r}; available chapters: {', '.join(available)}")
        selected += [m for m in matches if m not in selected]
    return selected


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`, else raise ValueError naming the allowed values."""
    return get_profile(profile).name


def staging_dir(profile: str, out: str | Path | None = None, root: str | Path | None = None) -> Path:
    """The book source folder holding the executed chapters of ``profile``: ``<out>/_build/executed/<profile>``."""
    out = Path(out) if out is not None else book_root(root)
    return executed_dir(check_profile(profile), out)


def stage(profile: str, out: str | Path | None = None, root: str | Path | None = None) -> Path:
    """Copy the book's configuration and non-notebook sources into the staging folder of ``profile``.

    Notebooks are not copied: :func:`execute` writes them there. Pages (Markdown or notebooks) whose source no longer
    exists are removed from the staging folder. Returns the staging folder.
    """
    root = book_root(root)
    staging = staging_dir(profile, out, root)
    staging.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, staging / name)
    for path in sorted((root / BOOK_SOURCES).rglob("*")):
        relative = path.relative_to(root)
        hidden = any(part.startswith(".") for part in relative.parts)
        if path.is_file() and path.suffix != ".ipynb" and not hidden:
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, staging / relative)  # copy2 keeps mtimes: unchanged pages look unchanged
    for path in sorted((staging / BOOK_SOURCES).rglob("*")):
        # A page removed or converted since the last build (method.md -> method.ipynb) must not stay behind: Sphinx
        # would find two sources for one page. Only pages: the CSV files a chapter writes there are kept.
        if path.suffix in (".md", ".ipynb") and not (root / path.relative_to(staging)).exists():
            path.unlink()
    return staging


@contextmanager
def _project_root(root: Path) -> Iterator[None]:
    """Set :data:`PROJECT_ROOT_VARIABLE` to ``root`` inside, unless the caller has set it already."""
    if os.environ.get(PROJECT_ROOT_VARIABLE):
        yield
        return
    os.environ[PROJECT_ROOT_VARIABLE] = str(root)
    try:
        yield
    finally:
        os.environ.pop(PROJECT_ROOT_VARIABLE, None)


@contextmanager
def _kernel_environment(extra: dict[str, str | None] | None = None) -> Iterator[None]:
    """Set :data:`_KERNEL_ENV` (and ``extra``) for the kernels started inside, and restore our environment after."""
    settings = {**_KERNEL_ENV, **(extra or {})}
    saved = {key: os.environ.get(key) for key in settings}
    try:
        for key, value in settings.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_chapter(source: Path, output: Path, profile: str, device: str) -> str | None:
    """Execute one notebook with papermill, injecting ``profile`` and ``device``.

    The kernel starts in the output's folder, so files a chapter writes land in the build folder, not in git;
    it inherits this process's environment (see :data:`PROJECT_ROOT_VARIABLE`, set by :func:`execute`).

    Returns:
        ``None`` on success, else ``"ExceptionName: message"`` (the executed copy holds the full traceback).
    """
    import papermill  # imported here: papermill is part of the `book` extra, not of the core library

    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _kernel_environment(), _kernel_manager() as manager:
            papermill.execute_notebook(
                str(source),
                str(output),
                parameters={"profile": profile, "device": device},
                kernel_name=KERNEL,
                language="python",  # so a notebook without kernelspec metadata still runs
                # the kernel's folder, given to nbclient: papermill's own cwd= changes this whole process's folder
                # for the duration, and chapters executed side by side (threads) left it in a staging folder
                resources={"metadata": {"path": str(output.parent)}},
                progress_bar=False,
                log_output=False,
                **manager,
            )
    except papermill.PapermillExecutionError as exc:
        return f"{exc.ename}: {exc.evalue} (cell with execution count {exc.exec_count})"
    except Exception as exc:  # kernel died, kernel not found, malformed notebook: still one line per chapter
        return f"{type(exc).__name__}: {exc}"
    finally:
        if output.is_file():
            hide_for_site(output)
    return None


@contextmanager
def _kernel_manager() -> Iterator[dict]:
    """papermill's keyword for a kernel reached over local sockets (IPC) rather than TCP, where the system has them.

    A kernel on TCP warns, once per chapter, that its traffic is unencrypted; local sockets are private to the
    machine and need no warning. Windows has no IPC transport, so it keeps the default.
    """
    if os.name == "nt":
        yield {}
        return
    from jupyter_client.manager import KernelManager  # comes with papermill (the `book` extra)

    with tempfile.TemporaryDirectory(prefix="emergence-kernel-") as sockets:  # short path: socket names are limited

        class LocalSocketKernelManager(KernelManager):
            def __init__(self, **kwargs):
                super().__init__(transport="ipc", ip=os.path.join(sockets, "kernel"), **kwargs)

        yield {"kernel_manager_class": LocalSocketKernelManager}


def hide_for_site(notebook: Path) -> None:
    """Tag the cells of :data:`SITE_HIDDEN_TAGS` in an executed notebook ``remove-cell``, so the site opens with
    the chapter's substance; the notebook still holds them (a reader who downloads it sees the parameters)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if any(tag in tags for tag in SITE_HIDDEN_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")
    atomic_write_text(notebook, nbformat.writes(nb))


def execute(
    profile: str = "default",
    chapters: Sequence[str] | None = None,
    device: str = "auto",
    out: str | Path | None = None,
    root: str | Path | None = None,
    log: Callable[[str], None] = print,
    jobs: int | None = None,
) -> list[ChapterRun]:
    """Execute chapters into the staging folder of ``profile`` and report one line per chapter.

    The chapters in ``book/`` stay output-free in git. This assembles a complete book source folder
    ``_build/executed/<profile>/`` (:func:`stage`): ``_config.yml``, ``_toc.yml`` and every non-notebook file of
    ``book/`` copied as they are, every chapter written there by papermill with its outputs. Each profile keeps
    its own executed copies, so switching profiles never mixes results; :func:`build_site` renders them.

    The kernels start in the staging folder, with :data:`PROJECT_ROOT_VARIABLE` (``EMERGENCE_ROOT``) set to the
    book root unless it is set already, so that chapters find the repository's ``data/`` (dataset cache, stored
    runs) and ``results/<profile>/`` (published results) through :mod:`emergence_lib.engine.runs`. They run
    with ``TQDM_DISABLE=1`` in their environment, so ``tqdm`` (plain or ``tqdm.auto``) draws nothing: no stderr
    noise and no ipywidgets state in the static site (a reader who runs a chapter in Jupyter still sees the
    bars).

    Args:
        profile: One of :data:`PROFILES`, passed to every chapter as the parameter ``profile``.
        chapters: Names of chapters to run (default: every notebook in ``_toc.yml``).
        device: One of :data:`DEVICES`; ``auto`` is resolved here, chapters receive ``cpu``, ``cuda`` or ``mps``.
        out: Folder receiving ``_build/`` (default: the book root).
        root: The book root (default: see :func:`book_root`).
        log: Where progress lines and the failure report go.
        jobs: Chapters executed side by side, each kernel on one thread (:data:`AFTER_THE_OTHERS` last); for the
            small profiles, where starting kernels and one-thread computations leave cores idle. Their chapters'
            runs are stored once whichever chapter trains them first (:func:`~emergence_lib.engine.runs.execute`).
            None (the default) first trains every run the chapters would train (:func:`train_first`) and takes
            the timings they show (:func:`time_alone`), then executes the chapters, which read them, one per core
            (those that probe trained networks first); a chapter that still has runs to train (the
            training stopped) runs alone first, its sweeps using the cores
            (:func:`~emergence_lib.experiments.chapters_to_train`).

    Returns:
        One :class:`ChapterRun` per chapter; execution goes on after a failure so every failure is reported.
        Each run is also recorded in the staging folder's :data:`STATUS_RECORDS` (replacing that chapter's
        previous record, keeping the others) and the staging copy of :data:`STATUS_PAGE` is rewritten.
    """
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a whole number of chapters at once, 1 or more, or None; got {jobs!r}")
    check_profile(profile)
    device = str(resolve_device(device))  # chapters receive cpu, cuda or mps
    root = book_root(root)
    selected = _select(chapters, list_chapters(root))
    staging = stage(profile, out, root)
    environment = _environment(device)

    def run(name: str) -> ChapterRun:
        start = time.perf_counter()
        output = staging / f"{name}.ipynb"
        error = execute_chapter(root / f"{name}.ipynb", output, profile, device)
        return ChapterRun(name, output, time.perf_counter() - start, error)

    def finished(chapter: ChapterRun, at_once: int) -> None:
        # after each chapter: an interrupted run keeps its rows
        _record_run(staging, chapter, profile, {**environment, "at_once": at_once})
        log(f"  {chapter.name:<40} {chapter.seconds:7.1f} s  {'ok' if chapter.ok else 'FAILED'}")

    done: dict[str, ChapterRun] = {}
    # data/ and results/ of the book root, though the kernels start in the staging copy
    with _project_root(root):
        trained = False
        if jobs is None:
            training = train_first(profile, selected, device, log)
            if training["runs"]:  # else the status page keeps saying how the stored runs were trained
                _update_records(staging, profile, training=training)
            trained = training["ok"]
            time_alone(profile, selected, log)
        waves = _waves(selected, profile, jobs, trained)
        log(f"executing {len(selected)} chapter(s), profile={profile}, device={device}, into {staging}"
            + "".join(f"; {len(wave)} {at_once} at a time" for wave, at_once in waves if at_once > 1 and wave))
        for wave, at_once in waves:
            with _kernel_environment(_ONE_THREAD if at_once > 1 else None), \
                    ThreadPoolExecutor(max_workers=at_once) as pool:  # the work is in the kernels; threads wait
                for future in as_completed([pool.submit(run, name) for name in wave]):
                    chapter = future.result()
                    done[chapter.name] = chapter
                    finished(chapter, min(at_once, len(wave)))
    runs = [done[name] for name in selected]
    write_status_page(profile, out, root)
    failed = [run for run in runs if not run.ok]
    if failed:
        log(failure_report(failed, len(runs)))
    return runs


def train_first(profile: str, chapters: Sequence[str], device: str, log: Callable[[str], None] = print) -> dict:
    """Train the runs ``chapters`` would train (:func:`~emergence_lib.experiments.to_train`: the longest first) in
    one sweep, one worker per core on the CPU also for a profile that only checks the code, never more workers than
    runs (:func:`~emergence_lib.experiments.sweep_jobs` with ``whole_book``).

    Chapter by chapter, each sweep's last runs leave cores idle, and so does a chapter's own work between and
    after its sweeps; trained first, the runs keep every core busy, and the chapters, which then only read them
    and compute what they show, execute side by side. What a chapter computes never depends on it: a run is the
    same wherever it is trained. A failure stops the sweep but not the book: the chapters train what is missing
    and show the error.

    Returns:
        The record the status page shows: ``runs`` (to train), ``trained``, ``workers``, ``seconds``, ``ok``,
        ``error`` and ``executed_at``.
    """
    from .. import experiments
    from ..engine import runs as stored
    from ..engine.data import DatasetFallbackWarning

    start = time.perf_counter()
    workers, configs, error = 1, [], None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DatasetFallbackWarning)  # each chapter says what data it used
            configs = experiments.to_train(profile, [Path(name).name for name in chapters])
            workers = min(experiments.sweep_jobs(profile, device, whole_book=True), max(1, len(configs)))
            if configs:
                log(f"training the {len(configs)} run(s) the chapters read, {workers} at a time")
            stored.run_sweep(configs, n_jobs=workers, device=device, progress=False)
    except Exception as exc:  # the chapters train what is missing, and their pages show the error
        error = f"{type(exc).__name__}: {exc}"
        log(f"  training stopped ({error}); the chapters train the runs still missing")
    finally:
        _release_accelerator_memory()
    record = {"runs": len(configs), "trained": sum(stored.is_done(c) for c in configs), "workers": workers,
              "seconds": time.perf_counter() - start, "ok": error is None, "error": error, "executed_at": _now()}
    if configs:
        log(f"  {'training':<40} {record['seconds']:7.1f} s  {'ok' if error is None else 'FAILED'}")
    return record


def time_alone(profile: str, chapters: Sequence[str], log: Callable[[str], None] = print) -> None:
    """Take the timings ``chapters`` show (:data:`~emergence_lib.experiments.TIMED_ALONE`) now, before the
    chapters execute side by side: a time taken beside another chapter would be that of a shared machine. Each is
    kept per machine and code, and the chapter reads it back; a failure is left to the chapter, which shows it."""
    from .. import experiments

    for name in chapters:
        timing = experiments.TIMED_ALONE.get(Path(name).name)
        if timing is None:
            continue
        try:
            timing(profile)
        except Exception as exc:
            log(f"  timing for {name} failed ({type(exc).__name__}: {exc}); the chapter times it")


def _release_accelerator_memory() -> None:
    """Hand back what training cached on a GPU: this process waits while the chapters' kernels need it."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _waves(selected: list[str], profile: str, jobs: int | None, trained: bool = False) -> list[tuple[list[str], int]]:
    """The chapters in the order they start, as waves of (chapters, how many at a time); see :func:`execute`.
    ``trained``: :func:`train_first` stored every run the chapters read, so none is left to train alone (listing
    them again took seconds)."""
    last = [n for n in selected if n in AFTER_THE_OTHERS]
    first = [n for n in selected if n not in AFTER_THE_OTHERS]
    if jobs == 1:
        return [(selected, 1)]
    if jobs is not None:
        return [(first, jobs), (last, jobs)]
    from .. import experiments

    training = set() if trained else experiments.chapters_to_train(profile, [Path(n).name for n in first])
    alone = [n for n in first if Path(n).name in training]
    # Those that probe trained networks (landscapes, Hessians, skips) have the most work once the runs exist:
    # started first, they do not leave one core to finish alone.
    probing = {e.chapter for e in experiments.every(profile) if not e.histories}
    beside = sorted((n for n in first if n not in alone), key=lambda n: Path(n).name not in probing)
    return [(alone, 1), (beside, os.cpu_count() or 1), (last, 1)]


def failure_report(failed: Sequence[ChapterRun], total: int) -> str:
    """A readable summary naming each failed chapter, its error, and where its traceback is."""
    lines = [f"{len(failed)} of {total} chapter(s) FAILED:"]
    for run in failed:
        lines += [f"  {run.name}: {run.error}", f"    traceback in the executed copy: {run.output}"]
    return "\n".join(lines)


def _environment(device: str) -> dict[str, str]:
    """Device and versions recorded with each executed chapter (the kernels run this interpreter)."""
    import torch  # already imported by the package itself

    from .. import __version__

    if device == "cuda":
        device = f"cuda ({torch.cuda.get_device_name()})"
    return {
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "emergence_lib": __version__,
        "platform": platform.platform(),
    }


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_records(profile: str, out: str | Path | None = None, root: str | Path | None = None) -> dict[str, dict]:
    """The recorded executions of ``profile``, by chapter name (empty when nothing was executed).

    Each record holds ``profile``, ``seconds``, ``ok``, ``error``, ``executed_at``, ``device``, ``python``,
    ``torch``, ``emergence_lib`` and ``platform``; it is read from the staging folder's :data:`STATUS_RECORDS`.
    """
    return _read_records(staging_dir(profile, out, root) / STATUS_RECORDS)


def _read_records(path: Path) -> dict[str, dict]:
    chapters = _read_status(path).get("chapters", {})
    return dict(chapters) if isinstance(chapters, dict) else {}


def _read_status(path: Path) -> dict:
    """Everything :data:`STATUS_RECORDS` holds (``profile``, ``chapters``, ``training``); empty when unreadable."""
    if not path.is_file():
        return {}
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # not JSON (written atomically: only a hand edit)
        return {}
    return content if isinstance(content, dict) else {}


def _record_run(staging: Path, run: ChapterRun, profile: str, environment: dict) -> None:
    """Replace ``run``'s chapter record in the staging folder's :data:`STATUS_RECORDS`, keeping the others.
    ``environment`` holds the :data:`_ENVIRONMENT` entries and ``at_once``, the chapters executed side by side."""
    records = _read_records(staging / STATUS_RECORDS)
    records[run.name] = {
        "profile": profile,
        "seconds": run.seconds,
        "ok": run.ok,
        "error": run.error,
        "executed_at": _now(),
        **environment,
    }
    _update_records(staging, profile, chapters=records)


def _update_records(staging: Path, profile: str, **entries: object) -> None:
    """Replace ``entries`` (``chapters``: the chapter records; ``training``: :func:`train_first`'s) in the staging
    folder's :data:`STATUS_RECORDS`, keeping the others."""
    path = staging / STATUS_RECORDS
    content = {"chapters": {}, **_read_status(path), **entries, "profile": profile}
    atomic_write_text(path, json.dumps(content, indent=2, sort_keys=True) + "\n")


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _md(text: object) -> str:
    """``text`` as literal Markdown table-cell content: one line, every ASCII punctuation character escaped."""
    text = _ANSI.sub("", str(text)).replace("\r", " ").replace("\n", " ").strip()
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text)


def _git_commit(root: Path) -> str | None:
    """Short hash of the checked-out commit of ``root``, with ``+`` when the work tree has changes; None if no git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+" if dirty else head or None


def write_status_page(profile: str, out: str | Path | None = None, root: str | Path | None = None,
                      built: datetime | None = None) -> Path | None:
    """Rewrite the staging copy of :data:`STATUS_PAGE` as a table of the recorded chapter executions.

    :func:`execute` records every executed chapter (profile, time, ok or failed, device, versions) in
    ``_build/executed/<profile>/status.json`` (:func:`status_records`), replacing that chapter's record and
    keeping the others (and the record of the latest :func:`train_first` that trained runs, which the page states
    above the table), and rewrites the page when it is done; :func:`build_site` rewrites it with the build date
    and the commit. The page in git only says that it is filled in when the book is built.

    One row per chapter of ``_toc.yml``, in reading order: result, time and execution date; the profile, device,
    versions of Python, PyTorch and ``emergence_lib`` and the platform are stated once above the table when every
    chapter shares them, else as columns. A chapter never executed for ``profile`` says so. Nothing is written
    when the book has no :data:`STATUS_PAGE`.

    Args:
        built: The site's build date (:func:`build_site` passes it); ``None`` says the site is not built yet.

    Returns:
        The page written, or ``None``.
    """
    root = book_root(root)
    if not (root / STATUS_PAGE).is_file():
        return None
    staging = staging_dir(profile, out, root)
    records = status_records(profile, out, root)
    training = _read_status(staging / STATUS_RECORDS).get("training")
    chapters = list_chapters(root)
    commit = _git_commit(root)
    source = f" from commit `{commit}`" if commit else ""
    if built is None:
        when = f"The site has not been built from these executed chapters yet (page written {_now()})."
    else:
        when = f"Site built on **{built.astimezone(timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}**{source}."
    how_to = " (see {doc}`/book/how_to_run`)" if (root / BOOK_SOURCES / "how_to_run.md").is_file() else ""
    # What every executed chapter shares (the profile, device and versions, as a rule) is said once, above the
    # table, so that the table fits the text column; what differs between chapters stays a column.
    executed = [records[name] for name in chapters if name in records]
    shared = {key: executed[0].get(key) for key in _ENVIRONMENT
              if executed and all(record.get(key) == executed[0].get(key) for record in executed)}  # fmt: skip
    columns = ["chapter", "result", "time", "executed", *(key for key in _ENVIRONMENT if key not in shared)]
    ran = "; ".join(f"{key} {_md(value)}" for key, value in shared.items())
    lines = [
        "# Build status",
        "",
        f"{when} Every chapter of this site was executed with the profile `{_md(profile)}` by",
        f"`python -m emergence_lib.book`{how_to}; this table is written from those executions.",
        *(["", f"Every executed chapter ran with: {ran}."] if shared else []),
        *(["", _training_line(training)] if training else []),
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for name in chapters:
        link = f"{{doc}}`/{name}`"
        record = records.get(name)
        if record is None:
            lines.append(f"| {link} | not executed (shown without outputs) |" + " |" * (len(columns) - 2))
            continue
        result = "ok" if record.get("ok") else f"**failed**: {_md(record.get('error'))}"
        beside = record.get("at_once", 1) > 1
        seconds = _md(f"{float(record.get('seconds', 0)):.1f}\u00a0s") + ("\\*" if beside else "")  # no-break space
        cells = [link, result, seconds, _md(record.get("executed_at", "?"))]
        cells += [_md(record.get(key, "?")) for key in columns[4:]]
        lines.append("| " + " | ".join(cells) + " |")
    failed = sum(1 for name in chapters if name in records and not records[name].get("ok"))
    lines += ["", f"{len(chapters)} chapter(s), {sum(name in records for name in chapters)} executed, {failed} failed."]
    if any(records[name].get("at_once", 1) > 1 for name in chapters if name in records):
        lines += ["", "\\* Executed side by side with other chapters, each on one thread: not the time it takes alone."]
    page = staging / STATUS_PAGE
    atomic_write_text(page, "\n".join(lines) + "\n")
    return page


def _training_line(record: dict) -> str:
    """What the status page says of :func:`train_first`'s record: the chapters' times below leave it out."""
    runs, trained = record.get("runs", 0), record.get("trained", 0)
    when = _md(record.get("executed_at", "?"))
    took = _md(f"{float(record.get('seconds', 0)):.1f}\u00a0s, {record.get('workers', 1)} at a time")
    if record.get("ok", True):
        return (f"Before the chapters, the {runs} runs they read were trained in one sweep ({took}; finished "
                f"{when}); the chapters' times below do not include it.")
    return (f"Before the chapters, {trained} of the {runs} runs they read were trained in one sweep ({took}; "
            f"stopped {when}): {_md(record.get('error'))}. The chapters trained the rest.")


def build_site(profile: str = "default", out: str | Path | None = None, root: str | Path | None = None,
               strict: bool = True) -> Path:
    """Render the executed chapters of ``profile`` with Jupyter Book into ``<out>/_build/html``.

    Runs ``jupyter-book build`` on the staging folder :func:`execute` filled (its ``_config.yml`` turns execution
    off), so Jupyter Book renders exactly the executed copies and never executes again. Chapters listed in
    ``_toc.yml`` but never executed for this profile are rendered from their output-free source (a note says so).
    The build is fresh (``--all``) so that every warning is reported each time, and with ``strict`` every warning
    fails it (``-W --keep-going``: all warnings are listed before failing). The status page is rewritten first,
    with the build date (see :func:`write_status_page`). The built site is then checked as a reader meets it
    (:func:`~emergence_lib.book.browser.check_site`: nothing fetched from another site; with Chromium, the
    scorecard's verdicts within a 1280 px screen and formulas typeset, screenshots in ``_build/screenshots/``);
    with ``strict`` a failed check fails the build.

    Returns:
        The folder holding ``index.html``.

    Raises:
        BookError: When Jupyter Book fails, or (``strict``) the site fails a reader check.
    """
    root = book_root(root)
    out = Path(out) if out is not None else root
    staging = stage(profile, out, root)
    for name in list_chapters(root):
        if not (staging / f"{name}.ipynb").is_file():
            print(f"note: {name} was not executed for profile {profile!r}; rendering its source without outputs")
            shutil.copy2(root / f"{name}.ipynb", staging / f"{name}.ipynb")
    write_status_page(profile, out, root, built=datetime.now(timezone.utc))  # stage() restored the placeholder
    # jupyter-book has no `python -m` entry point; call its click command with this interpreter.
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(staging),
               "--path-output", str(out), "--all"]
    if strict:
        command += ["-W", "--keep-going"]
    status = subprocess.run(command, check=False).returncode
    html = site_dir(out)
    if status != 0:
        raise BookError(f"jupyter-book build failed (exit status {status}); the warnings above say why")
    problems, rendered = browser.check_site(html, screenshots_dir(out))
    seen = (f"pages rendered at {browser.WIDTH} px, screenshots in {screenshots_dir(out)}" if rendered
            else f"pages not rendered: no browser ({browser.INSTALL_HINT})")  # fmt: skip
    print(f"site check: {len(problems)} problem(s); {seen}")
    for problem in problems:
        print(f"  {problem}")
    if problems and strict:
        raise BookError(f"the site fails {len(problems)} reader check(s), listed above")
    return html


def build(
    profile: str = "default",
    chapters: Sequence[str] | None = None,
    device: str = "auto",
    out: str | Path | None = None,
    root: str | Path | None = None,
    strict: bool = True,
    log: Callable[[str], None] = print,
    jobs: int | None = None,
) -> Path:
    """Execute the chapters (see :func:`execute`, ``jobs`` at a time), then build the site (see :func:`build_site`).

    Raises:
        BookError: When a chapter fails (the site is then not built) or when Jupyter Book fails.
    """
    runs = execute(profile, chapters, device, out, root, log, jobs)
    failed = [run.name for run in runs if not run.ok]
    if failed:  # execute() has logged the full report
        raise BookError(f"site not built because {len(failed)} chapter(s) failed: {', '.join(failed)}")
    return build_site(profile, out, root, strict)


def _student_copy(source: Path, name: str):
    """The notebook at ``source`` without its solution cells and without outputs.

    Raises:
        BookError: When a cell holds a ``{solution}`` directive but is not tagged :data:`SOLUTION_TAG`: copying
            it would hand the solution out.
    """
    import nbformat  # part of the `book` extra

    notebook = nbformat.read(source, as_version=4)
    kept = []
    for index, cell in enumerate(notebook.cells):
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "markdown" and _SOLUTION_DIRECTIVE.search(cell.source):
            raise BookError(f"{name}: cell {index} holds a {{solution}} directive but is not tagged "
                            f"{SOLUTION_TAG!r}; tag it (and the solution's code cells) so it stays out of "
                            "student notebooks")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            for key in ("execution", "papermill"):
                cell.metadata.pop(key, None)
        kept.append(cell)
    notebook.cells = kept
    notebook.metadata.pop("papermill", None)
    return notebook


def student_notebooks(out: str | Path | None = None, chapters: Sequence[str] | None = None,
                      root: str | Path | None = None) -> list[Path]:
    """Write copies of the chapters for students: every cell tagged ``solution`` removed, outputs cleared.

    For an instructor to hand out (command ``student``). Everything else is kept: the exercises, the
    ``parameters`` cell and the (Colab-only) install cell. A copy keeps its path below ``book/``:
    ``book/emergence_metric`` becomes ``<out>/emergence_metric.ipynb``.

    Args:
        out: Folder receiving the notebooks (default: ``<book root>/_build/student``).
        chapters: Names of chapters to copy (default: every notebook in ``_toc.yml``).
        root: The book root (default: see :func:`book_root`).

    Returns:
        The notebooks written, in reading order.

    Raises:
        BookError: When a solution is not tagged (see :data:`SOLUTION_TAG`); nothing is written then.
    """
    import nbformat

    root = book_root(root)
    out = Path(out) if out is not None else student_dir(root)
    selected = _select(chapters, list_chapters(root))
    copies = {name: _student_copy(root / f"{name}.ipynb", name) for name in selected}  # all checked before writing
    written = []
    for name, notebook in copies.items():
        relative = Path(f"{name}.ipynb")
        if relative.parts[0] == BOOK_SOURCES and len(relative.parts) > 1:
            relative = relative.relative_to(BOOK_SOURCES)
        target = out / relative
        atomic_write_text(target, nbformat.writes(notebook))
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m emergence_lib.book", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command, help_text in [("execute", "execute chapters with papermill into _build/executed/<profile>/"),
                               ("build", "execute, then build the site strictly into _build/html")]:
        sub = commands.add_parser(command, help=help_text)
        sub.add_argument("--profile", default="default", help=f"one of {', '.join(PROFILES)} (default: default)")
        sub.add_argument("--chapter", action="append", help="run only this chapter (repeatable)")
        sub.add_argument("--device", default="auto", help=f"one of {', '.join(DEVICES)} (default: auto)")
        sub.add_argument("--out", default=None, help="folder receiving _build/ (default: the book root)")
        sub.add_argument("--jobs", type=int, default=None, help="chapters executed side by side, one thread each, "
                         "each training its own runs (default: the runs first, in one sweep over the cores, then "
                         "the chapters one per core)")
    sub = commands.add_parser("student", help="write the chapters without solutions and outputs, to hand out")
    sub.add_argument("--out", default=None, help="folder receiving the notebooks (default: _build/student)")
    sub.add_argument("--chapter", action="append", help="copy only this chapter (repeatable)")
    args = parser.parse_args(argv)
    try:
        if args.command == "student":
            for path in student_notebooks(args.out, args.chapter):
                print(path)
            return 0
        if args.command == "execute":
            runs = execute(args.profile, args.chapter, args.device, args.out, jobs=args.jobs)
            return 0 if all(run.ok for run in runs) else 1
        html = build(args.profile, args.chapter, args.device, args.out, jobs=args.jobs)
        print(f"site: {html / 'index.html'}")
        return 0
    except (ValueError, BookError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
