"""What does pruning cost? Ratios against an unpruned baseline measured in the same run.

1. One training epoch of a network pruned to 70% (global magnitude, at initialization) against the same epoch
   of the unpruned network, for the MLP 784-512-256-128-10 and the small CNN, on the offline MNIST subset
   (``el.load_dataset("mnist_subset")``, 4,000 training digits), both trained by ``el.train`` (the ``seconds``
   of its history: the epoch's batches, no evaluation). ``torch.nn.utils.prune`` would multiply the dense
   weights by the mask in every forward and backward pass; ``train`` applies the masks once per optimizer step
   instead (:func:`emergence_lib.engine.train.masks_in_place`). Sparse weights in dense tensors save no
   arithmetic, so the target is the dense epoch's cost: pruned / dense **<= 1.05**. The script also checks that
   the pruned weights are still exactly zero after the timed epochs. The two arms alternate (AB BA ...), so a
   machine that slows down or speeds up during the run affects both alike; medians are reported.
2. Pruning a VGG-19 (about 20 million weights) to 70% by global magnitude, against
   ``torch.nn.utils.prune.global_unstructured`` (``L1Unstructured``): median wall times of a few alternating
   repeats, each on a fresh copy of the unpruned network, and whether both made the same masks (they must, but
   for weights whose magnitudes tie at the cut: the library prunes the first of those).
3. Memory of iterative global pruning on that VGG-19 after 1 and after 10 steps, with the library's release of
   the masks torch's hooks keep (:func:`emergence_lib.engine.prune.release_masks`) and without it: the tensors
   the process holds (every storage once; target: flat, the growth from step 1 to step 10 at most 1.5x that of
   step 1), and its resident memory, which also counts what the C allocator keeps for reuse after tensors are
   freed (glibc serves and keeps freed blocks of up to 32 MB from its heap), so it can grow when nothing leaks.

Run: ``.venv/bin/python benchmarks/bench_prune.py`` (``--quick`` for a smoke run). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import statistics
import warnings

import torch

import emergence_lib as el
from timing import MachineLoad, clocked, environment, in_turns, record, save_figures

EPOCH_TARGET = 1.05  # pruned / dense epoch time, at most
MEMORY_TARGET = 1.5  # growth after 10 steps / growth after 1 step, at most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and 1,000 training digits (seconds)")
    parser.add_argument("--repeats", type=int, default=None, help="timed epochs per arm (default 11; quick: 3)")
    parser.add_argument("--sparsity", type=float, default=0.7, help="target sparsity (default 0.7)")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 11)

    load = MachineLoad()
    data = el.load_dataset("mnist_subset", train_size=1000 if args.quick else None)
    print(environment())
    print(f"{data.source}: {len(data.x_train)} training samples; {args.sparsity:.0%} global magnitude at init; "
          f"median of {repeats} alternating epochs of el.train")  # fmt: skip
    print(f"{'model':<10} {'dense epoch s':>14} {'pruned epoch s':>15} {'ratio':>7} {'sparsity':>9}  target")
    builds = (
        ("MLP", lambda: el.build_model("mlp", data.input_shape, data.num_classes)),
        ("small CNN", lambda: el.build_model("small_cnn", data.input_shape, data.num_classes)),
    )
    config = el.TrainConfig(epochs=1, track_emergence=False)

    def epoch(model) -> float:
        return float(el.train(model, data, config, device="cpu", progress=False)["seconds"].iloc[-1])

    for name, build in builds:
        torch.manual_seed(0)
        dense = build()
        pruned = copy.deepcopy(dense)
        el.prune.magnitude(pruned, args.sparsity)
        seconds = {"dense": [], "pruned": []}
        for turn in in_turns({"dense": lambda: epoch(dense), "pruned": lambda: epoch(pruned)}, repeats, warmup=1):
            for arm, (_, trained) in turn.items():
                seconds[arm].append(trained)
        t_dense, t_pruned = statistics.median(seconds["dense"]), statistics.median(seconds["pruned"])
        real = el.prune.sparsity(pruned)["sparsity"].iloc[-1]
        zero = all(bool(m.weight_orig[m.weight_mask == 0].eq(0).all()) for m, _ in el.prune.prunable(pruned))
        note = record("pruned / dense training epoch", t_pruned / t_dense, "<=", EPOCH_TARGET, scope=name)
        print(f"{name:<10} {t_dense:>14.3f} {t_pruned:>15.3f} {t_pruned / t_dense:>7.3f} {real:>9.4f}  {note}"
              f"{'' if zero else '  ERROR: a pruned weight is not zero'}")  # fmt: skip

    torch.manual_seed(0)
    vgg = el.vgg("vgg19")
    weights = sum(m.weight.numel() for m, _ in el.prune.prunable(vgg))
    arms = {"library": lambda model: el.prune.magnitude(model, args.sparsity, scope="global"),
            "torch": lambda model: by_torch(model, args.sparsity)}  # fmt: skip
    times, pruned = {arm: [] for arm in arms}, {}
    for _ in range(1 if args.quick else 3):
        for arm, prune in arms.items():
            pruned[arm] = copy.deepcopy(vgg)  # outside the clock
            times[arm].append(clocked(lambda: prune(pruned[arm]))[0])
    ours, theirs = statistics.median(times["library"]), statistics.median(times["torch"])
    record(f"prune VGG-19 to {args.sparsity:.0%}, global magnitude: library / torch's global_unstructured",
           ours / theirs, scope="VGG-19")  # fmt: skip
    print(f"VGG-19 ({weights / 1e6:.1f} M weights) global magnitude to {args.sparsity:.0%}: {ours:.3f} s, torch's "
          f"global_unstructured {theirs:.3f} s (x{ours / theirs:.2f}; medians of {len(times['torch'])}); "
          f"{compare_masks(vgg, pruned['library'], pruned['torch'])}")  # fmt: skip
    pruned = None  # free them before measuring memory
    steps = 3 if args.quick else 10
    arms = (("masks released (the library)", el.prune.release_masks), ("masks kept (torch's default)", None))
    for label, release in arms:
        grown = memory_after_steps(vgg, steps, release)
        for kind in ("held", "resident"):
            text = f"+{grown[kind, 1]:.0f} MB after 1 step, +{grown[kind, steps]:.0f} MB after {steps}"
            ratio = grown[kind, steps] / max(grown[kind, 1], 1.0)
            if release is not None and kind == "held":
                note = record(f"tensors held after {steps} / after 1 global step (growth)", ratio, "<=",
                              MEMORY_TARGET, scope="VGG-19")  # fmt: skip
                text += f" (x{ratio:.2f}; {note})"
            else:
                text += f" (x{ratio:.2f})"
            print(f"iterative global pruning of VGG-19, {label}, {kind} memory: {text}")
    print(load.report())
    save_figures(load, quick=args.quick)


def by_torch(model, sparsity: float) -> None:
    """Global magnitude pruning of an unpruned model with ``torch.nn.utils.prune.global_unstructured``."""
    params = el.prune.prunable(model)
    amount = round(sparsity * sum(m.weight.numel() for m, _ in params))
    torch.nn.utils.prune.global_unstructured(params, pruning_method=torch.nn.utils.prune.L1Unstructured, amount=amount)


def compare_masks(unpruned, ours, theirs) -> str:
    """Whether two global magnitude prunings of ``unpruned`` made the same masks; they may differ only among weights
    whose magnitude ties at the cut (the library prunes the first of those, torch.topk by its internal order)."""
    def flat(model, read):
        return torch.cat([read(m).flatten() for m, _ in el.prune.prunable(model)])

    magnitudes = flat(unpruned, lambda m: m.weight.detach().abs())
    a, b = flat(ours, lambda m: m.weight_mask), flat(theirs, lambda m: m.weight_mask)
    if torch.equal(a, b):
        return "the same masks"
    cut = magnitudes[a == 0].max()
    differ = a != b
    if bool((magnitudes[differ] == cut).all()) and int((a == 0).sum()) == int((b == 0).sum()):
        return f"the same masks but for {int(differ.sum())} of the weights tied at the cut"
    return "ERROR: the masks differ beyond ties at the cut"


def resident_mb() -> float:
    """This process's resident memory in MB (Linux: /proc/self/statm), after a garbage collection."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def held_mb() -> float:
    """MB of tensor storage alive in this process (a storage shared by several tensors once), after a garbage
    collection."""
    gc.collect()
    storages = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # isinstance() on torch's deprecated aliases warns
        tensors = [obj for obj in gc.get_objects() if isinstance(obj, torch.Tensor) and obj.device.type == "cpu"]
    for tensor in tensors:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values()) / 2**20


def memory_after_steps(model, steps: int, release) -> dict[tuple[str, int], float]:
    """Growth of the tensors held (``"held"``) and of resident memory (``"resident"``) after 1 and after ``steps``
    global magnitude steps (sparsity 5% more per step)."""
    original = el.prune.release_masks
    if release is None:
        el.prune.release_masks = lambda model: None  # the arm without the library's release
    try:
        model = copy.deepcopy(model)
        start = {"held": held_mb(), "resident": resident_mb()}
        grown = {}
        for step in range(1, steps + 1):
            el.prune.magnitude(model, 0.05 * step)
            if step in (1, steps):
                grown["held", step] = held_mb() - start["held"]
                grown["resident", step] = resident_mb() - start["resident"]
    finally:
        el.prune.release_masks = original
    return grown


if __name__ == "__main__":
    main()
