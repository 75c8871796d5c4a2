"""The training loop: it learns, records emergence every epoch, is deterministic, and stops cleanly on NaN."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

import emergence_lib as el
from emergence_lib.engine.train import Measures, channels_last, evaluate, resolve_device, train_eval_indices

TIMING = ["seconds", "measure_seconds"]  # wall-clock columns, the only ones allowed to differ between reruns


def small_mlp(data: el.Dataset, seed: int = 0, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    return el.build_model("mlp", data.input_shape, data.num_classes, hidden=[64, 32, 16], **kwargs)


def test_training_improves_accuracy_on_real_digits(digits: el.Dataset) -> None:
    history = el.train(small_mlp(digits), digits, el.TrainConfig(epochs=3, batch_size=16), progress=False)
    assert list(history["epoch"]) == [0, 1, 2, 3]
    assert history["test_acc"].iloc[0] < 0.3  # untrained: about chance
    assert history["test_acc"].iloc[-1] > 0.7  # 0.76 when written; chance is 0.1
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0] / 2


def test_history_records_emergence_every_epoch(digits: el.Dataset) -> None:
    model = small_mlp(digits)
    history = el.train(model, digits, el.TrainConfig(epochs=2), progress=False)
    expected = {"train_loss", "train_acc", "test_loss", "test_acc", "absolute", "log10_absolute", "relative",
                "fraction", "balanced", "active_1", "size_1", "active_3", *TIMING}  # fmt: skip
    assert expected <= set(history.columns)
    # the last row is what `measure` says of the trained model on the probe batch
    final = el.measure(model, digits.probe)
    assert history["log10_absolute"].iloc[-1] == pytest.approx(final.log10_absolute)
    assert [history[f"active_{k}"].iloc[-1] for k in (1, 2, 3)] == list(final.active_counts)
    assert history["measure_seconds"].gt(0).all()


def test_train_accuracy_is_one_eval_mode_estimator_at_every_epoch(digits: el.Dataset) -> None:
    # Issue 12, fix 5: epoch 0 and later epochs are the same estimator (eval mode, a fixed training subset);
    # the running averages over the batches (dropout on, weights changing) are their own columns.
    model = small_mlp(digits, dropout=0.5)
    untrained = small_mlp(digits, dropout=0.5)
    config = el.TrainConfig(epochs=2, batch_size=32, train_eval_size=600)
    history = el.train(model, digits, config, progress=False)
    fixed = train_eval_indices(len(digits.x_train), 600)
    assert len(fixed) == 600 and torch.equal(fixed, train_eval_indices(len(digits.x_train), 600))
    x, y = digits.x_train[fixed], digits.y_train[fixed]
    for row, network in ((0, untrained), (2, model)):
        loss, acc = evaluate(network, x, y)
        assert history["train_acc"].iloc[row] == acc and history["train_loss"].iloc[row] == pytest.approx(loss)
    assert history["train_acc_running"].iloc[0] != history["train_acc_running"].iloc[0]  # NaN: no batches yet
    assert history["train_acc_running"].iloc[1:].between(0, 1).all()
    assert (history["train_acc_running"].iloc[1:] != history["train_acc"].iloc[1:]).all()
    whole = el.train(small_mlp(digits), digits, el.TrainConfig(epochs=0, train_eval_size=10**6), progress=False)
    assert whole["train_acc"].iloc[0] == evaluate(small_mlp(digits), digits.x_train, digits.y_train)[1]


def test_same_seed_same_history_on_cpu(digits: el.Dataset) -> None:
    config = el.TrainConfig(epochs=2, seed=5)
    runs = [el.train(small_mlp(digits, **kw), digits, config, progress=False) for kw in ({}, {})]
    pd.testing.assert_frame_equal(runs[0].drop(columns=TIMING), runs[1].drop(columns=TIMING))
    other = el.train(small_mlp(digits), digits, el.TrainConfig(epochs=2, seed=6), progress=False)
    assert not other["train_loss"].equals(runs[0]["train_loss"])  # the seed orders the batches


def test_dropout_and_adam_are_deterministic_too(digits: el.Dataset) -> None:
    config = el.TrainConfig(epochs=1, optimizer="adam", lr=1e-3, weight_decay=1e-4)
    a, b = (el.train(small_mlp(digits, dropout=0.3), digits, config, progress=False) for _ in range(2))
    pd.testing.assert_frame_equal(a.drop(columns=TIMING), b.drop(columns=TIMING))


class Poison(el.Callback):
    """Sets a weight to NaN before epoch ``at``."""

    def __init__(self, at: int):
        self.at = at

    def on_epoch_begin(self, state: el.TrainState) -> None:
        if state.epoch == self.at:
            with torch.no_grad():
                next(state.model.parameters())[0, 0] = float("nan")


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_history(digits: el.Dataset) -> None:
    with pytest.raises(el.TrainingDiverged, match="epoch 2") as error:
        el.train(small_mlp(digits), digits, el.TrainConfig(epochs=4), callbacks=[Poison(at=2)], progress=False)
    history = error.value.history
    assert list(history["epoch"]) == [0, 1]
    assert history["train_loss"].notna().all()


def test_callbacks_are_called_in_order_and_can_add_columns(digits: el.Dataset) -> None:
    calls: list[tuple[str, int]] = []

    class Spy(el.Callback):
        def on_train_begin(self, state):
            calls.append(("train_begin", state.epoch))

        def on_epoch_begin(self, state):
            calls.append(("epoch_begin", state.epoch))

        def on_epoch_end(self, state, record):
            calls.append(("epoch_end", record["epoch"]))
            record["weight_norm"] = float(torch.cat([p.detach().flatten() for p in state.model.parameters()]).norm())

        def on_train_end(self, state):
            calls.append(("train_end", state.epoch))

    history = el.train(small_mlp(digits), digits, el.TrainConfig(epochs=2), callbacks=[Spy()], progress=False)
    assert calls == [("train_begin", 0), ("epoch_end", 0), ("epoch_begin", 1), ("epoch_end", 1),
                     ("epoch_begin", 2), ("epoch_end", 2), ("train_end", 2)]  # fmt: skip
    assert history["weight_norm"].nunique() == 3  # the weights moved every epoch


def test_max_batches_caps_each_epoch(digits: el.Dataset) -> None:
    model = small_mlp(digits)
    seen: list[int] = []
    model.register_forward_hook(lambda m, inp, out: seen.append(len(inp[0])) if m.training else None)
    el.train(model, digits, el.TrainConfig(epochs=2, batch_size=100, max_batches=3), progress=False)
    assert seen == [100] * 6


def test_without_tracking_there_are_no_emergence_columns(digits: el.Dataset) -> None:
    history = el.train(small_mlp(digits), digits, el.TrainConfig(epochs=1, track_emergence=False), progress=False)
    assert not {"absolute", "measure_seconds"} & set(history.columns)


def test_cnn_trains_and_is_measured(digits: el.Dataset) -> None:
    torch.manual_seed(0)
    model = el.build_model("small_cnn", digits.input_shape, 10, width=4)
    history = el.train(model, digits, el.TrainConfig(epochs=1, max_batches=4), progress=False)
    assert len(history) == 2 and {"size_1", "size_2", "size_3"} <= set(history.columns)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_channels_last_changes_the_layout_not_the_values(batch_norm: bool) -> None:
    """Inside the context a grey-image VGG pools in channels-last (without BatchNorm, whose CPU kernels are slower
    so), its outputs and gradients are those computed outside, and leaving restores everything."""
    torch.manual_seed(0)
    model = el.build_model("vgg", (1, 28, 28), 10, config="vgg11", width_multiplier=0.0625, batch_norm=batch_norm)
    x = torch.randn(16, 1, 28, 28)
    layouts = []
    pool = next(m for m in model.modules() if isinstance(m, torch.nn.MaxPool2d))
    pool.register_forward_pre_hook(lambda m, i: layouts.append(i[0].is_contiguous(memory_format=torch.channels_last)))

    def outputs_and_gradients() -> list[torch.Tensor]:
        model.zero_grad()
        out = model(x)
        out.square().sum().backward()
        return [out.detach()] + [p.grad.clone() for p in model.parameters()]

    plain = outputs_and_gradients()
    with channels_last(model):
        laid_out = outputs_and_gradients()
    again = outputs_and_gradients()
    assert layouts == [False, not batch_norm, False]  # the one-channel input alone leaves the default layout
    # Rounding only: within 1e-5, or 1e-5 of the tensor's scale when it is above 1 (with one thread a BatchNorm
    # gradient of scale 2.6 differed by 1e-5; the conv biases' gradients under BatchNorm are zero but for rounding).
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, float(a.abs().max())))
               for a, b in zip(plain, laid_out))  # fmt: skip
    assert all(torch.equal(a, b) for a, b in zip(plain, again))
    assert all(p.is_contiguous() for p in model.parameters())


class ViewNet(torch.nn.Module):
    """A hand-written CNN that flattens with ``view``: its conv output in channels-last memory cannot be viewed so."""

    def __init__(self, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.norm = torch.nn.BatchNorm2d(4) if batch_norm else torch.nn.Identity()
        self.hidden, self.out = torch.nn.Linear(4 * 13 * 13, 16), torch.nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.max_pool2d(torch.relu(self.norm(self.conv(x))), 2)
        return self.out(torch.relu(self.hidden(x.view(x.size(0), -1))))


def test_a_model_that_views_a_convolutions_output_trains_in_the_default_layout(digits: el.Dataset) -> None:
    torch.manual_seed(0)
    model = ViewNet()
    x = digits.x_test[:4]
    with channels_last(model), pytest.raises(RuntimeError, match="view"):  # what train() met before the trial
        model(x)
    with channels_last(model, x):
        assert model.conv.weight.is_contiguous() and model(x).shape == (4, 10)
    vgg = el.build_model("vgg", (1, 28, 28), 10, config="vgg11", width_multiplier=0.0625)
    with channels_last(vgg, x):
        assert next(m for m in vgg.modules() if isinstance(m, torch.nn.Conv2d)).weight.is_contiguous(
            memory_format=torch.channels_last)
    history = el.train(model, digits, el.TrainConfig(epochs=2, max_batches=2), progress=False)
    assert history["epoch"].tolist() == [0, 1, 2] and history["absolute"].notna().all()
    assert el.measure(model, digits.probe).absolute == history.iloc[-1]["absolute"]  # the probe pass, measured again


def test_the_layout_trial_changes_nothing_in_the_model(digits: el.Dataset) -> None:
    torch.manual_seed(0)
    model = ViewNet(batch_norm=True).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with channels_last(model, digits.x_test[:4]):
        assert model.training and all(m.training for m in model.modules())
        assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # BatchNorm's buffers too
    assert all(p.grad is None for p in model.parameters())


def test_progress_bar_runs(digits: el.Dataset, capsys: pytest.CaptureFixture) -> None:
    el.train(small_mlp(digits), digits, el.TrainConfig(epochs=1, max_batches=1), progress=True)
    assert "epochs" in capsys.readouterr().err


def test_auto_device_on_this_machine() -> None:
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"optimizer": "rmsprop"}, ["sgd", "adam"]),
        ({"reduce": "median"}, ["mean", "any", "per_sample"]),
        ({"layers": "all"}, ["hidden", "hidden+output"]),
        ({"through": "inactive"}, ["any", "active"]),
        ({"epochs": -1}, ["epochs"]),
        ({"batch_size": 0}, ["batch_size"]),
        ({"lr": 0.0}, ["lr"]),
    ],
)
def test_bad_config_names_the_allowed_values(kwargs: dict, names: list[str]) -> None:
    with pytest.raises(ValueError) as error:
        el.TrainConfig(**kwargs)
    assert all(name in str(error.value) for name in names), str(error.value)


def test_bad_device_names_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="'auto', 'cpu', 'cuda', 'mps'"):
        resolve_device("tpu")


def test_progress_bar_obeys_tqdm_disable() -> None:
    """The book executes chapters with TQDM_DISABLE=1 so that no bar (or widget) reaches the site.

    tqdm reads the variable when it is imported, hence a fresh interpreter.
    """
    code = "from emergence_lib.engine.train import progress_bar\nfor _ in progress_bar(iterable=range(3), desc='epochs'): pass"
    for env, shown in (({"TQDM_DISABLE": "1"}, False), ({}, True)):
        environ = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"} | env
        done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True)
        assert ("epochs" in done.stderr) == shown


@pytest.mark.parametrize("batch_norm", [False, True])
def test_the_test_evaluation_is_the_probe_pass_without_batch_norm(digits: el.Dataset, monkeypatch, batch_norm) -> None:
    """Without BatchNorm, eval mode is the probe pass's mode: the test evaluation records the probe (the test set's
    first samples) and tracking runs no forward pass of its own, with the values of a separate probe pass. With
    BatchNorm (the probe normalized with its own statistics) the probe gets a pass of its own."""
    from emergence_lib.engine import train as train_module

    assert torch.equal(digits.probe, digits.x_test[: len(digits.probe)])
    separate = []
    real = train_module.capture_activity
    monkeypatch.setattr(train_module, "capture_activity", lambda *a, **k: separate.append(1) or real(*a, **k))
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(4, 8, 3),
              torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 12 * 12, 10)]  # fmt: skip
    if batch_norm:
        layers.insert(1, torch.nn.BatchNorm2d(4))
    model = torch.nn.Sequential(*layers)
    config = el.TrainConfig(epochs=2, max_batches=2)
    history = el.train(model, digits, config, device="cpu", progress=False)
    assert len(separate) == (config.epochs + 1 if batch_norm else 0)
    again = el.measure(model, digits.probe).as_record()  # a pass of its own, after training
    last = history.iloc[-1]
    assert {k: last[k] for k in ("log10_absolute", "fraction", "active_1", "active_2")} == {
        k: again[k] for k in ("log10_absolute", "fraction", "active_1", "active_2")
    }


def test_every_measurement_of_an_epoch_shares_one_probe_pass(digits: el.Dataset, monkeypatch) -> None:
    from emergence_lib.metric.activity import ProbeRecorder

    passes = []
    real = ProbeRecorder.capture
    monkeypatch.setattr(ProbeRecorder, "capture", lambda self: passes.append(1) or real(self))
    config = el.TrainConfig(epochs=2, max_batches=2)
    variants = {"tau=0": {"threshold": 0.0}, "any": {"reduce": "any"}, "out": {"layers": "hidden+output"}}
    history = el.train(small_mlp(digits), digits, config, callbacks=[Measures(variants)], device="cpu", progress=False)
    assert len(passes) == len(history) == config.epochs + 1  # one pass per record, not one per definition
    reference = el.measure(small_mlp(digits), digits.probe, threshold=0.0)  # epoch 0: the untrained network
    assert history["tau=0/log10_absolute"].iloc[0] == reference.log10_absolute
