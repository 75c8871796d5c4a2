"""Pilot for claim 6: which ruggedness measure varies between networks? Run on networks that are not the book's.

The first-registered measure of claim 6, strict local minima on the 21 x 21 grid over [-1, 1]^2 (border points
included), was 1 for every network of the first default build, so it cannot rank networks. The candidates below
were listed, in this order (closest to the claim's words "more local minima" first), and the rule to choose one
was fixed before this pilot ran:

    the first candidate whose values over the pilot networks take at least three distinct values, with the most
    common value held by at most half of the networks; if none does, the last (a continuous measure).

Pilot networks: the MNIST MLP of the ``default`` profile, training seeds 100 and 101 (the book uses 0-4), width
multipliers 0.25 and 1, unpruned and magnitude-pruned at initialization to 90%; trained as the book trains.

Run: ``.venv/bin/python pilots/landscape_measure.py``; writes ``emergence_lib/pilots/landscape_measure.csv`` (one row
per network and candidate; shipped with the library), which :func:`emergence_lib.analysis.claims.landscape_pilot` reads for
the method page and the tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from torch import nn

import emergence_lib as el

SEEDS = (100, 101)
WIDTHS = (0.25, 1.0)
SPARSITIES = (0.0, 0.9)
OUT = Path(__file__).resolve().parent.parent / "emergence_lib" / "pilots" / "landscape_measure.csv"


def candidates(model: nn.Module, batch, loss_fn) -> dict[str, float]:
    """The candidates of :data:`emergence_lib.probes.landscape.PILOT_CANDIDATES`, in its order, for one trained network."""
    return {name: el.landscape.candidate_measure(model, loss_fn, batch, **spec)
            for name, spec in el.landscape.PILOT_CANDIDATES.items()}  # fmt: skip


def main() -> None:
    settings = el.get_profile("default")
    data = el.load_dataset("mnist", probe_size=settings.probe_size)
    n = min(settings.landscape_samples, len(data.x_test))
    batch = (data.x_test[:n], data.y_test[:n])
    rows = []
    for seed in SEEDS:
        for width in WIDTHS:
            for sparsity in SPARSITIES:
                prune = el.PruneConfig(method="magnitude", sparsity=sparsity) if sparsity else None
                run = el.execute(settings.run_config("mnist", "mlp", seed=seed, width=width, prune=prune), progress=False)
                measured = candidates(run.model(), batch, nn.CrossEntropyLoss())
                print(seed, width, sparsity, measured, flush=True)
                rows += [{"seed": seed, "width": width, "sparsity": sparsity, "candidate": name, "value": value,
                          "data_source": data.source} for name, value in measured.items()]  # fmt: skip
    table = pd.DataFrame(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    el.runs.atomic_write_text(OUT, table.to_csv(index=False))
    print(el.claims.choose_landscape_measure(table))


if __name__ == "__main__":
    main()
