"""How often the book's 95% intervals cover the truth: measured by simulation at the book's own sample sizes.

A verdict is only as good as its interval. Entry point: :func:`coverage_table` (the table the method page shows,
computed when the book is built); :func:`mean_coverage` and :func:`correlation_coverage` simulate one case.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats

from .claims import correlation_ci, mean_ci
from ..engine.profiles import get_profile
from .robustness import PROXIES, seed_indicators

REQUIRED = 0.93
"""The least coverage a 95% interval must reach in the asserted cases before the book trusts it."""

DISTRIBUTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "normal": lambda z: z,
    "chi-squared, 8 df": lambda z: stats.chi2.ppf(stats.norm.cdf(z), 8),
    "exponential": lambda z: stats.expon.ppf(stats.norm.cdf(z)),
}
"""The shapes of the simulated data, as transforms of standard normal draws (so that a rank correlation's truth
does not depend on the shape)."""

ASSERTED = ("normal", "chi-squared, 8 df")
"""The shapes whose coverage the tests require; the exponential (skewness 2) is reported only."""

MEAN_EFFECT = 0.3
CORRELATION = 0.5
"""The known effects: a mean of 0.3 standard deviations; a Pearson correlation of 0.5 between the normal draws."""


@functools.cache
def _moments(shape: str) -> tuple[float, float]:
    reference = DISTRIBUTIONS[shape](np.random.default_rng(12345).standard_normal(1_000_000))
    return float(reference.mean()), float(reference.std())


def _standardized(shape: str, z: np.ndarray) -> np.ndarray:
    """Draws of ``shape`` with mean 0 and standard deviation 1 (moments from a large reference sample)."""
    mean, std = _moments(shape)
    return (DISTRIBUTIONS[shape](z) - mean) / std


def mean_coverage(n: int, shape: str, intervals: int = 10_000, seed: int = 0) -> float:
    """Share of :func:`~emergence_lib.analysis.claims.mean_ci` intervals from ``n`` values that contain the true mean."""
    z = np.random.default_rng(seed).standard_normal((intervals, n))
    samples = MEAN_EFFECT + _standardized(shape, z)
    hits = [low <= MEAN_EFFECT <= high for low, high in map(mean_ci, samples)]
    return float(np.mean(hits))


def correlation_coverage(n: int, shape: str, intervals: int = 2_000, seed: int = 0, seeds: int = 0,
                         controls: int = 0) -> float:  # fmt: skip
    """Share of :func:`~emergence_lib.analysis.claims.correlation_ci` intervals from ``n`` pairs that contain the true
    Spearman correlation.

    With ``seeds=0`` the pairs are independent, with correlation :data:`CORRELATION` between the normal draws (true
    Spearman ``6 / pi * arcsin(rho / 2)``). With ``seeds > 0`` the pairs come in that many groups with their own
    levels of x and y (as runs of several widths share a seed), ``controls`` unrelated covariates are held fixed
    beside the seed indicators (as the proxies are), and the true partial correlation is 0.
    """
    rng = np.random.default_rng(seed)
    hits = []
    for _ in range(intervals):
        if seeds:
            group = np.arange(n) % seeds
            levels = rng.standard_normal((2, seeds))
            x = _standardized(shape, rng.standard_normal(n)) + 2 * levels[0, group]
            y = _standardized(shape, rng.standard_normal(n)) + 2 * levels[1, group]
            covariates = np.column_stack([rng.standard_normal((n, controls)), seed_indicators(group)])
            truth = 0.0
        else:
            z = rng.standard_normal(n)
            w = CORRELATION * z + np.sqrt(1 - CORRELATION**2) * rng.standard_normal(n)
            x, y = DISTRIBUTIONS[shape](z), DISTRIBUTIONS[shape](w)
            covariates, truth = None, 6 / np.pi * np.arcsin(CORRELATION / 2)
        low, high = correlation_ci(x, y, covariates)
        hits.append(low <= truth <= high)
    return float(np.mean(hits))


def unit_counts(profiles: tuple[str, ...] = ("default", "paper")) -> dict[str, dict[str, int]]:
    """Per profile: the seeds behind the means (the unit of every claim; ``trajectory_seeds`` for claims 2a, 2b and
    3b in the feed-forward chapter) and the runs, in seeds, behind the robustness chapter's within-seed correlations
    (one run per width multiplier and seed)."""
    counts = {}
    for name in profiles:
        p = get_profile(name)
        counts[name] = {"seeds": p.seeds, "trajectory_seeds": p.trajectory_seeds, "runs": p.seeds * len(p.widths)}
    return counts


def coverage_table(profiles: tuple[str, ...] = ("default", "paper"), intervals: int = 10_000,
                   seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Coverage of the book's intervals at the unit counts of ``profiles``: one row per interval, sample size and
    shape, naming the profiles with that sample size, whether the tests require it (``asserted``) and the level
    they require.

    For each case, many samples with a known effect are drawn at the unit counts the profiles produce
    (:func:`unit_counts`), the interval the verdicts use is computed for each, and the share that contains the
    truth is the coverage. The tests require at least :data:`REQUIRED` on normal and mildly skewed data
    (:data:`ASSERTED`); the strongly skewed case is reported, not required.

    ``intervals`` is the number of simulated means; the correlations use a tenth as many (each is slower, and a
    rank correlation's coverage does not depend on the shape of independent data).
    """
    counts = unit_counts(profiles)

    def used_by(kind: str, n: int) -> str:
        return ", ".join(name for name, c in counts.items() if c[kind] == n)

    # A rank correlation of independent pairs depends on the ranks only: every shape has the coverage of the normal.
    independent = {c["runs"]: correlation_coverage(c["runs"], "normal", intervals // 10, seed) for c in counts.values()}
    rows = []
    for shape in DISTRIBUTIONS:
        extra = {"data": shape, "asserted": shape in ASSERTED, "required": REQUIRED if shape in ASSERTED else np.nan}
        for n in sorted({c[kind] for c in counts.values() for kind in ("seeds", "trajectory_seeds")}):
            users = ", ".join(name for name, c in counts.items() if n in (c["seeds"], c["trajectory_seeds"]))
            rows.append({"interval": "mean_ci: mean over seeds", "units": f"{n} seeds", "profiles": users,
                         "coverage": mean_coverage(n, shape, intervals, seed), **extra})  # fmt: skip
        for name, c in counts.items():
            if used_by("runs", c["runs"]).split(", ")[0] != name:
                continue  # computed for an earlier profile with the same sizes
            rows.append({"interval": "correlation_ci: within seeds, 4 proxies held fixed",
                         "units": f"{c['runs']} runs in {c['seeds']} seeds", "profiles": used_by("runs", c["runs"]),
                         "coverage": correlation_coverage(c["runs"], shape, intervals // 10, seed, seeds=c["seeds"],
                                                          controls=len(PROXIES)), **extra})  # fmt: skip
            rows.append({"interval": "correlation_ci: independent pairs", "units": f"{c['runs']} pairs",
                         "profiles": used_by("runs", c["runs"]),
                         "coverage": independent[c["runs"]], **extra})
    columns = ["interval", "units", "profiles", "data", "coverage", "asserted", "required"]
    return pd.DataFrame(rows)[columns].sort_values(["interval", "units"], kind="stable", ignore_index=True)
