"""How fast is a 2-D loss surface, and does it agree with the reference tool? Three tools on one model and batch.

Same model, same 1,000 digits (the test split of ``el.load_dataset("mnist_subset")``), same 21 x 21 grid:

1. ``el.landscape.loss_surface`` (with ``random_directions``): computes the first layer's three products once
   for the whole grid and runs only the rest of the network at each point.
2. ``loss_landscapes.random_plane`` (PyPI ``loss-landscapes``, the tool Li et al.'s method is usually run
   with): steps in place through the grid and runs the whole network at each point.
3. A naive loop: write ``theta + a d1 + b d2`` into a copy of the model and run it, point after point.

Models: the MLP 784-256-128-10 and the small CNN (``el.build_model("small_cnn", ...)``, batch norm in eval
mode), each trained for one epoch on the 4,000 training digits. The tools run in turns (forward, then
reversed), so a machine that slows down during the run affects all alike: for the MLP the median of 3 runs after
a warm-up run, for the CNN one run after a warm-up on a 3 x 3 grid (a CNN surface takes tens of seconds on a
laptop's CPU).

Values are compared where the directions are the same. Ours against the naive loop with our directions; and
``random_plane`` against ``loss_surface`` given loss-landscapes' own directions (rebuilt from the same torch
seed with its own functions) on its own grid. That grid is not centred on the model (offsets ``i - steps / 2``)
and, because ``random_plane`` walks the rows in a serpentine with in-place steps, its even rows sit one step
further along the second direction than its odd rows; the comparison takes both into account and says so.

Target: the MLP surface (directions included) at least 5x faster than ``random_plane`` (issue 16), with matching
values.

Run: ``.venv/bin/python benchmarks/bench_landscape.py`` (``--quick`` for a smoke run: an 11 x 11 grid, one
repeat). Needs the bench extra (``pip install -e .[bench]``). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import statistics
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

import emergence_lib as el
from emergence_lib import landscape
from timing import MachineLoad, clocked, environment, in_turns, meets, medians, record, save_figures

DISTANCE = 0.5  # random_plane's grid then spans about +-||theta|| per direction, like our +-1 filter-normalized one
SPEEDUP_TARGET = 5.0
VALUE_TOLERANCE = 1e-4


def train_briefly(model: nn.Module, data: el.Dataset) -> nn.Module:
    """One epoch of the book's SGD (lr 0.01, momentum 0.9, batch 128) on the training digits."""
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    order = torch.randperm(len(data.x_train))
    for i in range(0, len(order), 128):
        batch = order[i : i + 128]
        opt.zero_grad()
        nn.functional.cross_entropy(model(data.x_train[batch]), data.y_train[batch]).backward()
        opt.step()
    return model.eval()


def naive_surface(model: nn.Module, x: torch.Tensor, y: torch.Tensor, directions, axis: np.ndarray) -> np.ndarray:
    """Point by point: write ``theta + a d1 + b d2`` into a copy of the model, run it whole."""
    probe = copy.deepcopy(model).eval()
    names = [n for n, _ in probe.named_parameters()]
    base = {n: p.detach().clone() for n, p in probe.named_parameters()}
    params = dict(probe.named_parameters())
    loss = np.zeros((len(axis), len(axis)))
    with torch.no_grad():
        for i, a in enumerate(axis):
            for j, b in enumerate(axis):
                for n in names:
                    params[n].copy_(base[n] + a * directions[0][n] + b * directions[1][n])
                loss[i, j] = nn.functional.cross_entropy(probe(x), y).item()
    return loss


def ll_plane(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, seed: int) -> np.ndarray:
    """``loss_landscapes.random_plane`` with filter normalization, on a copy of the model."""
    import loss_landscapes
    from loss_landscapes.metrics import Loss

    torch.manual_seed(seed)
    metric = Loss(nn.functional.cross_entropy, x, y)
    return loss_landscapes.random_plane(
        model, metric, distance=DISTANCE, steps=steps, normalization="filter", deepcopy_model=True
    )


def ll_directions(model: nn.Module, steps: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """The per-step directions ``random_plane`` draws for this seed, rebuilt with its own functions."""
    from loss_landscapes.model_interface.model_parameters import ModelParameters, orthogonal_to, rand_u_like

    torch.manual_seed(seed)
    start = ModelParameters([p.detach().clone() for p in model.parameters()])
    one = rand_u_like(start)
    two = orthogonal_to(one)
    for d in (one, two):
        d.filter_normalize_(start)
        d.mul_(((start.model_norm() / DISTANCE) / steps) / d.model_norm())
    names = [n for n, _ in model.named_parameters()]
    return [dict(zip(names, d.parameters)) for d in (one, two)]


def ll_agreement(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, plane: np.ndarray, steps: int, seed: int
) -> tuple[float, float, float]:
    """random_plane against loss_surface with random_plane's directions on its grid (even rows one step on).

    Returns the largest absolute and relative differences, and the largest absolute difference when the row
    shift is ignored (to show that it is real).
    """
    directions = ll_directions(model, steps, seed)
    alphas = np.arange(steps) - steps / 2
    betas = np.arange(steps + 1) - steps / 2
    ours = landscape.loss_surface(model, nn.CrossEntropyLoss(), (x, y), directions, (alphas, betas)).loss
    shifted = np.stack([ours[i, 1:] if i % 2 == 0 else ours[i, :-1] for i in range(steps)])
    aligned = np.stack([ours[i, :-1] for i in range(steps)])
    relative = np.abs(plane - shifted) / np.maximum(np.abs(shifted), 1e-12)
    return float(np.abs(plane - shifted).max()), float(relative.max()), float(np.abs(plane - aligned).max())


def bench(
    name: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, repeats: int, warmup: int
) -> dict:
    loss_fn = nn.CrossEntropyLoss()
    directions = landscape.random_directions(model, n=2, seed=0)

    def ours(axis: np.ndarray) -> landscape.Surface:
        fresh = landscape.random_directions(model, n=2, seed=0)
        return landscape.loss_surface(model, loss_fn, (x, y), fresh, (axis, axis))

    ll_error = None
    try:
        ll_plane(model, x, y, 3, seed=0)
    except Exception as error:  # the reference tool may not run on this torch; say so instead of failing
        ll_error = f"{type(error).__name__}: {error}"

    def tools(n: int) -> dict[str, Callable[[], object]]:
        axis = np.linspace(-1, 1, n)
        found = {"loss_surface": lambda: ours(axis), "naive loop": lambda: naive_surface(model, x, y, directions, axis)}
        if ll_error is None:
            found["loss-landscapes"] = lambda: ll_plane(model, x, y, n, seed=0)
        return found

    for fn in tools(warmup).values():  # warm-up on a small grid, untimed
        fn()
    times, last = medians(in_turns(tools(steps), repeats, warmup=0))
    times["random_directions"] = statistics.median(
        clocked(lambda: landscape.random_directions(model, n=2, seed=0))[0] for _ in range(max(repeats, 3))
    )
    result = {"model": name, "times": times, "ll_error": ll_error}
    surface, naive = last["loss_surface"], last["naive loop"]
    result["ours_vs_naive"] = float(np.abs(surface.loss - naive).max())
    result["ours_vs_naive_rel"] = float((np.abs(surface.loss - naive) / np.abs(naive)).max())
    if ll_error is None:
        plane = last["loss-landscapes"]
        agreement = ll_agreement(model, x, y, plane, steps, seed=0)
        result["ll_vs_ours"], result["ll_vs_ours_rel"], result["ll_vs_ours_unshifted"] = agreement
        result["ll_range"] = (float(plane.min()), float(plane.max()))
    result["ours_range"] = (float(surface.loss.min()), float(surface.loss.max()))
    result["ruggedness"] = landscape.ruggedness(surface)
    return result


def report(result: dict, steps: int, target: bool) -> None:
    times = result["times"]
    print(f"\n{result['model']}: {steps} x {steps} grid = {steps * steps} points")
    print(f"  {'tool':<34} {'median s':>9}")
    ours_total = times["loss_surface"]
    print(f"  {'loss_surface (with directions)':<34} {ours_total:>9.3f}")
    print(f"  {'  of which random_directions':<34} {times['random_directions']:>9.3f}")
    print(f"  {'naive loop':<34} {times['naive loop']:>9.3f}   ({times['naive loop'] / ours_total:.1f}x ours)")
    if result["ll_error"] is None:
        ll = times["loss-landscapes"]
        print(f"  {'loss-landscapes random_plane':<34} {ll:>9.3f}   ({ll / ours_total:.1f}x ours)")
    else:
        print(f"  loss-landscapes random_plane failed on torch {torch.__version__}: {result['ll_error']}")
    print(f"  max |ours - naive| (same directions):           {result['ours_vs_naive']:.2e}"
          f"   (relative {result['ours_vs_naive_rel']:.1e})")  # fmt: skip
    if result["ll_error"] is None:
        print(f"  max |random_plane - ours| (its directions/grid): {result['ll_vs_ours']:.2e}"
              f"   (relative {result['ll_vs_ours_rel']:.1e}; ignoring its row shift: "
              f"{result['ll_vs_ours_unshifted']:.2e})")  # fmt: skip
        print(f"  loss range: ours {result['ours_range'][0]:.3f}..{result['ours_range'][1]:.3f}, "
              f"random_plane {result['ll_range'][0]:.3f}..{result['ll_range'][1]:.3f}")  # fmt: skip
    rugged = ", ".join(f"{k} {v:.4g}" for k, v in result["ruggedness"].items())
    print(f"  ruggedness of our surface: {rugged}")
    record("loss_surface speed-up over the naive loop", times["naive loop"] / ours_total, scope=result["model"])
    if result["ll_error"] is None:
        speedup = times["loss-landscapes"] / ours_total
        record("loss_surface speed-up over random_plane", speedup, ">=" if target else None,
               SPEEDUP_TARGET if target else None, scope=result["model"])  # fmt: skip
        record("max |random_plane - loss_surface|", result["ll_vs_ours"], "<=" if target else None,
               VALUE_TOLERANCE if target else None, scope=result["model"])  # fmt: skip
    if target:
        if result["ll_error"] is None:
            match = max(result["ours_vs_naive"], result["ll_vs_ours"]) <= VALUE_TOLERANCE
            verdict = "met" if meets(speedup, ">=", SPEEDUP_TARGET) and match else "not met"
            print(f"  target: >= {SPEEDUP_TARGET:.0f}x faster than loss-landscapes with values within "
                  f"{VALUE_TOLERANCE:g}: {speedup:.1f}x, values {'match' if match else 'differ'} -> {verdict}")  # fmt: skip
        else:
            print("  target: not checked (loss-landscapes did not run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="an 11 x 11 grid (5 x 5 for the CNN), one repeat")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per tool (default 3; quick: 1)")
    parser.add_argument("--steps", type=int, default=None, help="grid points per axis (default 21; quick: 11)")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    steps = args.steps or (11 if args.quick else 21)

    load = MachineLoad()
    data = el.load_dataset("mnist_subset")
    x, y = data.x_test[:1000], data.y_test[:1000]
    print(f"{environment()}; {len(x)} digits ({data.source})")
    try:
        from importlib.metadata import version

        print(f"loss-landscapes {version('loss-landscapes')}")
    except Exception:
        print("loss-landscapes is not installed (pip install -e .[bench])")

    torch.manual_seed(0)
    mlp = train_briefly(el.mlp((784, 256, 128, 10)), data)
    report(bench("MLP 784-256-128-10", mlp, x, y, steps, repeats, warmup=steps), steps, target=True)

    torch.manual_seed(0)
    cnn = train_briefly(el.build_model("small_cnn", (1, 28, 28), 10), data)
    cnn_steps = 5 if args.quick else steps
    report(bench("small CNN (16/32 channels, BN)", cnn, x, y, cnn_steps, 1, warmup=3), cnn_steps, target=False)
    print(load.report())
    save_figures(load, quick=args.quick)


if __name__ == "__main__":
    main()
