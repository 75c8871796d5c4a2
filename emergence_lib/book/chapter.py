"""What every chapter does around its experiment, so that a chapter reads as prose, parameters and a few calls.

A chapter's first code cell after the papermill ``parameters`` cell::

    import emergence_lib as el
    chapter = el.book.Chapter("pruning", profile, device)    # prints versions and sizes, sets the figure style
    datasets = chapter.datasets(["mnist", "fashion_mnist"])   # says what data each really is
    ...
    verdicts = chapter.verdicts(rows)                         # records, displays and summarizes the verdicts
    chapter.done()                                            # the chapter's run time
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from .. import __version__, plots
from ..analysis import claims, scorecard
from ..engine.data import Dataset, DatasetFallbackWarning, distinct_datasets, load_dataset
from ..engine.profiles import get_profile
from ..engine.train import TrainConfig, resolve_device


class Chapter:
    """One executing chapter: its profile's sizes, its device, its clock and its verdicts.

    Building it prints the library's version, the profile and its description, sets the book's figure style
    (:func:`~emergence_lib.plots.set_style`) and starts the clock.

    Args:
        name: the chapter's name (its notebook's stem, e.g. ``"pruning"``); verdicts are recorded under it.
        profile: the papermill parameter ``profile`` (``smoke``, ``default`` or ``paper``).
        device: the papermill parameter ``device``; ``auto`` is resolved here, once.

    Attributes:
        settings: the :class:`~emergence_lib.engine.profiles.Profile`.
        profile: its name.
        device: the resolved device (``"cpu"``, ``"cuda"`` or ``"mps"``).
    """

    def __init__(self, name: str, profile: str, device: str = "auto"):
        self.name = name
        self.settings = get_profile(profile)
        self.profile = self.settings.name
        self.device = str(resolve_device(device))
        self.start = time.perf_counter()
        plots.set_style()
        print(f"emergence_lib {__version__}, profile={self.profile}, device={self.device}")
        print(self.settings.description)
        self.glue(**self.sizes())

    def sizes(self) -> dict[str, object]:
        """The sizes and settings chapters' prose quotes, glued under these names when the chapter starts, so
        that no number is typed: the profile's ``seeds``, ``epochs``, ``probe_size`` and ``hidden`` widths, and
        the training defaults ``lr``, ``momentum``, ``batch_size`` and ``tau`` (the activity threshold)."""
        defaults = TrainConfig()
        return {"seeds": self.settings.seeds, "epochs": self.settings.epochs, "probe_size": self.settings.probe_size,
                "hidden": "-".join(map(str, self.settings.mlp_hidden)), "lr": f"{defaults.lr:g}",
                "momentum": f"{defaults.momentum:g}", "batch_size": self.settings.batch_size,
                "tau": f"{defaults.threshold:g}", "level": f"{claims.LEVEL:.0%}"}  # fmt: skip

    def datasets(self, names: Sequence[str], published: Callable[[str], bool] | None = None) -> list[str]:
        """The datasets of ``names`` worth running here, printing what data each really is.

        A dataset whose stand-in (offline fallback) is the same data as an earlier one is skipped; one with
        published results (``published(name)``) is kept without loading it
        (:func:`~emergence_lib.engine.data.distinct_datasets`). The fallback is announced here once: the
        warnings the runs would repeat are silenced afterwards.
        """
        chosen = distinct_datasets(names, self.settings.probe_size, published)
        warnings.filterwarnings("ignore", category=DatasetFallbackWarning)  # announced above; not again per run
        return chosen

    def dataset(self, name: str) -> Dataset:
        """Load one dataset at the profile's probe size, printing what data it really is (fallback included)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DatasetFallbackWarning)  # the summary says it plainly
            data = load_dataset(name, probe_size=self.settings.probe_size)
        print(data.summary())
        warnings.filterwarnings("ignore", category=DatasetFallbackWarning)
        return data

    def verdicts(self, rows: Sequence[dict] | pd.DataFrame, record: bool = True, headline: str | None = None,
                 answer: str | None = None) -> pd.DataFrame:
        """Show the verdicts (rows of :func:`~emergence_lib.analysis.claims.verdict_rows`) and what they say.

        Displays the table and its plain-language summary (:func:`~emergence_lib.analysis.claims.summary`) and,
        when ``record``, stores them for the scorecard (:func:`~emergence_lib.analysis.scorecard.record`). For the
        chapter's opening it glues ``answer``, one sentence with the verdicts of the experiment ``headline`` (by
        default the first, the paper's setting: :func:`~emergence_lib.analysis.claims.headline` and
        :func:`~emergence_lib.analysis.claims.answer`), and
        ``answer_figure``, their forest plot (:func:`~emergence_lib.plots.forest`); a chapter whose question is
        not answered by its verdicts alone passes its own ``answer``. Returns the table.
        """
        from IPython.display import Markdown, display  # the book's extra: only chapters call this

        verdicts = pd.DataFrame(rows)
        if record:
            scorecard.record(verdicts, self.name, self.profile)
        display(verdicts[list(claims.SHOWN_COLUMNS)].round(3))
        display(Markdown(claims.summary(verdicts, self.profile)))
        shown = claims.headline(verdicts, headline)
        self.glue(answer=claims.answer(verdicts, headline) if answer is None else answer)
        self.figure("answer_figure", plots.forest(shown, title=shown["experiment"].iloc[0]))
        return verdicts

    def failed_chapters(self) -> list[str]:
        """The chapters whose latest execution in this build failed (their stored verdicts are earlier ones), read
        from the build-status records beside the executing chapter; none outside a build."""
        from .executor import STATUS_RECORDS, _read_records

        records = _read_records(Path.cwd().parent / STATUS_RECORDS)  # the kernel runs in <staging>/book
        return [Path(name).name for name, record in records.items() if not record.get("ok")]

    def figure(self, name: str, fig: plt.Figure, show: bool = False) -> None:
        """Keep ``fig`` for the page under ``name``, shown where the prose places ``{glue:figure}`name```; with
        ``show`` it is also drawn here (for a reader of the notebook; tag the cell ``remove-cell`` so that the site
        shows it once)."""
        from myst_nb import glue

        glue(name, fig, display=show)
        plt.close(fig)  # else the inline backend would draw it a second time at the end of the cell

    def glue(self, **values: object) -> None:
        """Make values available to the chapter's prose (``{glue:text}`name```), never displayed in place."""
        from myst_nb import glue

        for name, value in values.items():
            glue(name, value, display=False)

    def done(self) -> None:
        """Print (and glue as ``runtime``) the seconds since the chapter started.

        Returns nothing: as a chapter's last line, a returned value would be shown under the printed line.
        """
        seconds = time.perf_counter() - self.start
        self.glue(runtime=f"{seconds:.0f}")
        print(f"chapter executed in {seconds:.0f} s")
