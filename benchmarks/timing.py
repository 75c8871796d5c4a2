"""Timing shared by the benchmarks: wall-clock timers, arms run in turns, ratios and targets, the machine's load.

Every benchmark reports ratios against a baseline measured in the same run, on the same machine, and asserts
nothing (no timed assertions in the tests either). The scripts are run from the repository root as
``python benchmarks/bench_<name>.py``; Python then puts ``benchmarks/`` on ``sys.path``, so they import this
module as ``from timing import ...``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import torch
from torch import nn

T = TypeVar("T")


def sync(device: torch.device | str | None = None) -> None:
    """Wait for the queued CUDA work of ``device`` (nothing to wait for on a CPU), so a clock reads finished work."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def clocked(fn: Callable[[], T], device: torch.device | str | None = None) -> tuple[float, T]:
    """Wall time of one call of ``fn`` (``time.perf_counter``, synchronized on CUDA) and its result."""
    sync(device)
    start = time.perf_counter()
    result = fn()
    sync(device)
    return time.perf_counter() - start, result


def median_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1,
                device: torch.device | str | None = None) -> float:  # fmt: skip
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls (allocator, threads)."""
    for _ in range(warmup):
        fn()
    return statistics.median(clocked(fn, device)[0] for _ in range(repeats))


def in_turns(arms: Mapping[str, Callable[[], T]], repeats: int, warmup: int = 1,
             device: torch.device | str | None = None) -> Iterator[dict[str, tuple[float, T]]]:  # fmt: skip
    """Run the arms of a comparison in turns; yield ``{arm: (seconds, result)}`` once per repeat.

    ``warmup`` untimed calls of every arm come first. Then the arms run forward on even repeats and in reverse
    on odd ones (ABC CBA ABC ...), so a slow drift of the machine's load affects every arm alike and a ratio
    taken within one repeat compares adjacent runs.
    """
    for _ in range(warmup):
        for fn in arms.values():
            fn()
    names = list(arms)
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        timed = {name: clocked(arms[name], device) for name in order}
        yield {name: timed[name] for name in names}


def medians(turns: Iterator[dict[str, tuple[float, object]]]) -> tuple[dict[str, float], dict[str, object]]:
    """The median seconds of every arm over the repeats of :func:`in_turns`, and each arm's last result."""
    seconds: dict[str, list[float]] = {}
    last: dict[str, object] = {}
    for turn in turns:
        for name, (t, result) in turn.items():
            seconds.setdefault(name, []).append(t)
            last[name] = result
    return {name: statistics.median(t) for name, t in seconds.items()}, last


def meets(value: float, op: str, target: float) -> bool:
    """Whether ``value`` meets a target: ``op`` is ``"<="`` (at most) or ``">="`` (at least)."""
    if op not in ("<=", ">="):
        raise ValueError(f"op must be '<=' or '>='; got {op!r}")
    return value <= target if op == "<=" else value >= target


def target_note(value: float, op: str, target: float) -> str:
    """``"target <= 0.05: met"`` (or ``"not met"``) for ``value``."""
    return f"target {op} {target:g}: {'met' if meets(value, op, target) else 'not met'}"


FIGURES: list[dict] = []
"""The figures this script reported with :func:`record`, in order; :func:`save_figures` writes them out."""
OUT = "BENCH_OUT"
"""Environment variable naming the folder where :func:`save_figures` writes ``<script>.json`` (``make bench``)."""


def record(figure: str, value: float, op: str | None = None, target: float | None = None, unit: str = "",
           scope: str = "") -> str:  # fmt: skip
    """Keep one figure for ``make bench``'s table and return its :func:`target_note` ("" when it has no target).

    ``scope`` says what it was measured on (a model, a grid); ``unit`` is "" for a ratio, "s" for seconds, ...
    """
    met = None if target is None else bool(meets(value, op, target))  # a NumPy bool is not JSON
    FIGURES.append({"figure": figure, "scope": scope, "value": float(value), "unit": unit, "op": op,
                    "target": target, "met": met})  # fmt: skip
    return "" if target is None else target_note(value, op, target)


def save_figures(load: MachineLoad | None = None, quick: bool = False) -> Path | None:
    """Write the recorded figures to ``$BENCH_OUT/<script>.json`` (nothing when ``BENCH_OUT`` is unset)."""
    folder = os.environ.get(OUT)
    if not folder:
        return None
    script = Path(sys.argv[0]).stem
    path = Path(folder) / f"{script}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    others = None if load is None else load.others()
    payload = {"benchmark": script, "environment": environment(), "quick": quick, "other_processes": others,
               "figures": FIGURES}  # fmt: skip
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def environment(device: torch.device | str | None = None) -> str:
    """The first line every benchmark prints: versions, threads, device and CPUs."""
    import emergence_lib as el

    where = f", device {device}" if device is not None else ""
    return (f"torch {torch.__version__}, {torch.get_num_threads()} threads{where}, emergence_lib {el.__version__}, "
            f"{os.cpu_count()} CPUs")  # fmt: skip


def _descendants_ticks() -> int:
    """CPU clock ticks used so far by the living descendants of this process (the workers of a sweep), from /proc."""
    parents, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        except OSError:  # the process ended meanwhile
            continue
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])  # utime, stime
    ours, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - ours
        ours |= frontier
    return sum(ticks[pid] for pid in ours)


def _cpu_seconds() -> tuple[float, float] | None:
    """(CPU seconds used by the whole machine, by this process and its children) so far; None where /proc is
    missing. A sweep's worker processes are the benchmark's own work: living ones are read from /proc, ended ones
    from ``RUSAGE_CHILDREN``."""
    try:
        import resource  # POSIX only

        with open("/proc/stat") as f:  # Linux only
            fields = [int(v) for v in f.readline().split()[1:9]]
        living = _descendants_ticks()
    except (ImportError, OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    own = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return busy / tick, sum(r.ru_utime + r.ru_stime for r in own) + living / tick


class MachineLoad:
    """How busy the machine was while a benchmark ran: started at construction, read by :meth:`report`.

    Other processes inflate timings, and with oversubscribed cores PyTorch's thread pool can slow down many-fold.
    """

    BUSY = 0.10
    """Share of the CPUs used by other processes above which the figures are called unreliable."""

    def __init__(self) -> None:
        self.start, self.cpu, self.load = time.perf_counter(), _cpu_seconds(), os.getloadavg()

    def others(self) -> float | None:
        """Share of all CPUs that other processes used since the start (None where it cannot be read)."""
        now = _cpu_seconds()
        if self.cpu is None or now is None:
            return None
        wall = time.perf_counter() - self.start
        return max(((now[0] - self.cpu[0]) - (now[1] - self.cpu[1])) / (wall * os.cpu_count()), 0.0)

    def report(self) -> str:
        """Total time, load average before and after, the other processes' share, and a warning when it is high."""
        share, load = self.others(), os.getloadavg()
        text = (f"total {time.perf_counter() - self.start:.0f} s; load average (1 min) before {self.load[0]:.2f}, "
                f"after {load[0]:.2f} on {os.cpu_count()} CPUs")  # fmt: skip
        if share is not None:
            text += f"; other processes used {share:.0%} of the CPUs"
            if share > self.BUSY:
                text += (f"\nWARNING: other processes used {share:.0%} of the CPUs during the run: the figures are "
                         "unreliable")
        return text


def sgd_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 128) -> None:
    """One plain epoch of the book's SGD (lr 0.01, momentum 0.9) in data order: the baseline of several ratios."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for i in range(0, len(x), batch):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i : i + batch]), y[i : i + batch]).backward()
        opt.step()
