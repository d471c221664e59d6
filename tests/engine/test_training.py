"""The training generator: snapshots, control, reproducibility, divergence, LeNet-5 on MNIST.

One file over 600 lines because it mirrors engine/training.py, which is one generator;
the tests are grouped in that module's order.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from cnnstudio.engine.errors import DivergenceError, EngineError
from cnnstudio.engine.losses import softmax_cross_entropy
from cnnstudio.engine.metrics import evaluate
from cnnstudio.engine.optimizers import Adam
from cnnstudio.engine.training import (
    TrainConfig,
    TrainingControl,
    TrainingMemoryError,
    check_training_data,
    fit,
    format_progress,
    train,
)


def lenet_architecture():
    """LeNet-5 as in the issue: conv 6@5x5 pad 2, pool, conv 16@5x5, pool, 120, 84, 10."""
    specs = [
        ("input", "Input", {"shape": [1, 28, 28]}),
        ("conv1", "Conv2D", {"filters": 6, "kernel_size": 5, "padding": 2}),
        ("relu1", "ReLU", {}),
        ("pool1", "MaxPool2D", {"pool_size": 2}),
        ("conv2", "Conv2D", {"filters": 16, "kernel_size": 5}),
        ("relu2", "ReLU", {}),
        ("pool2", "MaxPool2D", {"pool_size": 2}),
        ("flat", "Flatten", {}),
        ("fc1", "Dense", {"units": 120}),
        ("relu3", "ReLU", {}),
        ("fc2", "Dense", {"units": 84}),
        ("relu4", "ReLU", {}),
        ("fc3", "Dense", {"units": 10}),
        ("out", "Softmax", {}),
    ]
    nodes = [
        {"id": nid, "type": t, "config": c, "inputs": [specs[i - 1][0]] if i else []}
        for i, (nid, t, c) in enumerate(specs)
    ]
    return {"format": "cnnstudio-architecture", "version": 1, "name": "LeNet-5", "nodes": nodes}


def weights_equal(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_snapshots_count_steps_epochs_and_validation(make_net, make_blobs):
    net = make_net()
    x, y = make_blobs(n=100)
    xv, yv = make_blobs(n=30, seed=5)
    snaps = list(train(net, (x, y), (xv, yv), TrainConfig(epochs=3, batch_size=32, lr=0.01)))
    assert len(snaps) == 3 * 4  # ceil(100 / 32) = 4 steps per epoch, the last one smaller
    assert [s.step for s in snaps] == list(range(1, 13))
    assert [s.epoch for s in snaps] == [1] * 4 + [2] * 4 + [3] * 4
    assert [s.step_in_epoch for s in snaps[:4]] == [1, 2, 3, 4]
    assert {(s.steps_per_epoch, s.total_steps, s.epochs) for s in snaps} == {(4, 12, 3)}
    ends = [s for s in snaps if s.epoch_end]
    assert [s.step for s in ends] == [4, 8, 12]
    assert [s.done for s in snaps] == [False] * 11 + [True]
    for s in snaps:
        if s.epoch_end:
            assert 0 <= s.val_accuracy <= 1 and np.isfinite(s.val_loss)
            assert s.val_confusion.sum() == 30 and s.val_confusion.shape == (3, 3)
        else:
            assert s.val_loss is None and s.val_accuracy is None and s.val_confusion is None
    assert snaps[-1].eta_seconds == 0
    assert all(s.samples_per_sec > 0 and s.elapsed > 0 for s in snaps)
    assert snaps[-1].progress == 1.0


def test_training_learns_and_validation_matches_evaluate(make_net, make_blobs):
    net = make_net()
    x, y = make_blobs(n=300)
    xv, yv = make_blobs(n=100, seed=7)
    before = evaluate(net, xv, yv)
    snaps = list(train(net, (x, y), (xv, yv), TrainConfig(epochs=5, batch_size=16, lr=0.01)))
    last = snaps[-1]
    after = evaluate(net, xv, yv)
    assert after.loss < before.loss / 3
    assert last.val_accuracy == pytest.approx(after.accuracy)
    assert last.val_loss == pytest.approx(after.loss, rel=1e-6)
    # running epoch figures: the last epoch is better than the first
    first_end = next(s for s in snaps if s.epoch_end)
    assert last.loss < first_end.loss and last.accuracy >= first_end.accuracy


def test_running_loss_is_the_sample_weighted_mean_of_batch_losses(make_net, make_blobs):
    x, y = make_blobs(n=50)
    snaps = list(train(make_net(), (x, y), config=TrainConfig(epochs=1, batch_size=20)))
    sizes = np.array([20, 20, 10])
    batch = np.array([s.batch_loss for s in snaps])
    assert snaps[-1].loss == pytest.approx((batch * sizes).sum() / 50)


def test_rich_snapshots_are_throttled_but_always_at_epoch_ends_and_the_end(make_net, make_blobs):
    x, y = make_blobs(n=64)
    never = TrainConfig(epochs=2, batch_size=8, snapshot_interval=1e9)
    snaps = list(train(make_net(), (x, y), config=never))
    rich = [s.step for s in snaps if s.is_rich]
    # the first step is rich (nothing shown yet), then only epoch ends
    assert rich == [1, 8, 16]
    for s in snaps:
        if not s.is_rich:
            assert s.weights is None and s.layer_stats is None and s.probe_activations is None
    always = TrainConfig(epochs=1, batch_size=8, snapshot_interval=0)
    assert all(s.is_rich for s in train(make_net(), (x, y), config=always))


def test_snapshot_contents_are_read_only_copies(make_net, make_blobs):
    net = make_net()
    x, y = make_blobs(n=64)
    probe = x[:2]
    cfg = TrainConfig(epochs=2, batch_size=16, snapshot_interval=0, lr=0.05)
    snaps = list(train(net, (x, y), config=cfg, probe=probe))
    first = snaps[0]
    # later steps changed the live network, the early snapshot still shows its own moment
    assert not np.array_equal(first.weights["fc1.w"], net.params["fc1.w"])
    assert weights_equal(snaps[-1].weights, net.get_weights())
    with pytest.raises(ValueError, match="read-only"):
        first.weights["fc1.w"][0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        first.probe_activations["relu1"][0, 0] = 1.0
    with pytest.raises(AttributeError):
        first.loss = 0.0
    # the probe activations are those of the weights at that step
    acts = first.probe_activations
    assert set(acts) == {"flat", "fc1", "relu1", "fc2"}
    assert acts["fc1"].shape == (2, 16)
    net.set_weights(first.weights)
    np.testing.assert_allclose(acts["fc2"], net.activations(probe)["fc2"], rtol=1e-6)


def test_layer_stats_report_weights_gradients_and_dead_relus(make_net, make_blobs):
    net = make_net()
    net.params["fc1.b"][:4] = -100.0  # four hidden units that can never fire
    x, y = make_blobs(n=32)
    snap = next(iter(train(net, (x, y), config=TrainConfig(epochs=1, batch_size=32, lr=1e-4))))
    stats = snap.layer_stats
    assert set(stats) == {"fc1", "fc2", "relu1"}
    w = snap.weights
    expected = np.sqrt((w["fc1.w"].astype(np.float64) ** 2).sum() + (w["fc1.b"] ** 2).sum())
    assert stats["fc1"]["weight_norm"] == pytest.approx(expected, rel=1e-5)
    assert stats["fc2"]["grad_norm"] > 0 and stats["fc1"]["weight_mean_abs"] > 0
    assert stats["relu1"]["dead_fraction"] >= 4 / 16


def test_same_seed_gives_bit_identical_weights(make_net, make_blobs):
    x, y = make_blobs(n=90)
    cfg = TrainConfig(epochs=2, batch_size=16, seed=3, optimizer="rmsprop", lr=0.01)
    a, b, c = make_net(), make_net(), make_net()
    fit(a, (x, y), config=cfg)
    fit(b, (x, y), config=cfg)
    fit(
        c, (x, y), config=TrainConfig(epochs=2, batch_size=16, seed=4, optimizer="rmsprop", lr=0.01)
    )
    assert weights_equal(a.get_weights(), b.get_weights())
    assert not weights_equal(a.get_weights(), c.get_weights())


def test_real_network_with_dropout_and_batchnorm_is_reproducible(make_blobs):
    from cnnstudio.engine import (
        BatchNorm,
        Conv2D,
        Dense,
        Dropout,
        Flatten,
        MaxPool2D,
        ReLU,
        Softmax,
    )
    from cnnstudio.engine.network import Network

    def build():
        return Network(
            [
                Conv2D(4, 3, padding=1),
                BatchNorm(),
                ReLU(),
                MaxPool2D(2),
                Flatten(),
                Dropout(0.3),
                Dense(3),
                Softmax(),
            ],
            input_shape=(1, 6, 6),
            seed=1,
        )

    x, y = make_blobs(n=60, shape=(1, 6, 6), uint8=True)
    cfg = TrainConfig(epochs=2, batch_size=16, seed=2, threads=1)
    a, b = build(), build()
    fit(a, (x, y), config=cfg)
    # rich snapshots at every step (timing decides them in real runs) change nothing
    every = TrainConfig(epochs=2, batch_size=16, seed=2, threads=1, snapshot_interval=0)
    fit(b, (x, y), config=every, probe=x[:2])
    assert weights_equal(a.get_weights(), b.get_weights())
    assert any("running_mean" in k for k in a.get_weights())


def test_uint8_images_are_divided_by_255_batch_by_batch(make_net, make_blobs):
    x8, y = make_blobs(n=40, uint8=True)
    cfg = TrainConfig(epochs=1, batch_size=16)
    a, b = make_net(), make_net()
    fit(a, (x8, y), config=cfg)
    fit(b, (x8.astype(np.float32) / 255, y), config=cfg)
    for k, v in a.get_weights().items():
        np.testing.assert_allclose(v, b.get_weights()[k], rtol=1e-6, atol=1e-7)


def test_transform_gets_a_generator_for_training_and_none_for_validation(make_net, make_blobs):
    x, y = make_blobs(n=32, uint8=True)
    calls = []

    def transform(xb, rng):
        calls.append((len(xb), xb.dtype, type(rng).__name__))
        return (xb / 255.0).astype(np.float32)

    list(
        train(
            make_net(),
            (x, y),
            (x[:10], y[:10]),
            TrainConfig(epochs=1, batch_size=16),
            transform=transform,
        )
    )
    assert calls == [
        (16, np.uint8, "Generator"),
        (16, np.uint8, "Generator"),
        (10, np.uint8, "NoneType"),
    ]


def test_a_transform_returning_the_wrong_type_is_named(make_net, make_blobs):
    x, y = make_blobs(n=8)
    gen = train(make_net(), (x, y), transform=lambda xb, rng: xb.astype(np.float64))
    with pytest.raises(EngineError, match="training transform: the transform must return float32"):
        next(gen)


@pytest.mark.parametrize(
    ("lr", "explode_factor", "what"),
    [
        (1e6, 1000.0, "the loss exploded to [0-9.e+]+"),
        (1e30, None, "the (loss|weights) became NaN"),
    ],
)
def test_absurd_learning_rate_raises_divergence_and_keeps_last_good_weights(
    make_net, make_blobs, lr, explode_factor, what
):
    x, y = make_blobs(n=256)
    net = make_net()
    cfg = TrainConfig(
        epochs=50,
        batch_size=32,
        optimizer="sgd",
        momentum=0.9,
        lr=lr,
        snapshot_interval=0,
        explode_factor=explode_factor,
    )
    seen = []
    with pytest.raises(DivergenceError) as info:
        for snap in train(net, (x, y), config=cfg):
            seen.append(snap)
    msg = str(info.value)
    assert re.fullmatch(
        rf"Training diverged at epoch \d+, step \d+: {what}\. "
        rf"The learning rate \({re.escape(f'{lr:g}')}\) is probably too high — try 10x lower\. "
        r"The last good weights were kept\.",
        msg,
    ), msg
    weights = net.get_weights()
    assert all(np.isfinite(v).all() for v in weights.values())
    assert np.isfinite(evaluate(net, x, y).loss)
    # the kept weights are those in force just before the update that blew up
    step = int(re.search(r"step (\d+)", msg).group(1))
    assert len(seen) == step - 1 >= 1
    if step >= 3:
        assert not weights_equal(weights, seen[-1].weights)  # not the weights after that update
        assert weights_equal(weights, seen[-2].weights)


def test_lenet_with_a_far_too_high_learning_rate_is_stopped():
    from cnnstudio.engine.network import Network

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (128, 1, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 128)
    net = Network.from_architecture(lenet_architecture(), seed=0)
    cfg = TrainConfig(epochs=5, batch_size=32, optimizer="sgd", lr=5.0)
    with pytest.raises(DivergenceError, match=r"learning rate \(5\) is probably too high"):
        list(train(net, (x, y), config=cfg))
    assert all(np.isfinite(v).all() for v in net.get_weights().values())


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_nan_image_is_named_before_training_not_blamed_on_the_learning_rate(
    make_net, make_blobs, bad
):
    # One bad image that the shuffle draws only after the first step: the run used to
    # fail mid-way with "the learning rate is probably too high".
    x, y = make_blobs(n=5000)
    x[1234, 0, 2, 3] = bad
    net = make_net()
    with pytest.raises(EngineError, match=r"^image 1234 of the training data contains NaN/inf"):
        train(net, (x, y), config=TrainConfig(epochs=1, batch_size=32))
    assert net.forward_calls == 0
    xv, yv = make_blobs(n=20, seed=3)
    xv[7] = bad
    with pytest.raises(EngineError, match="image 7 of the validation data contains NaN/inf"):
        train(net, (x[:1000], y[:1000]), (xv, yv))


def test_a_transform_that_makes_nan_is_blamed_for_the_image_not_the_learning_rate(
    make_net, make_blobs
):
    x, y = make_blobs(n=200)
    x[137] = 5.0  # a marker the transform turns into NaN, like a zero-variance normalisation

    def transform(xb, rng):
        out = xb.astype(np.float32)
        out[out.reshape(len(out), -1).max(axis=1) > 4] = np.nan
        return out

    seen = []
    with pytest.raises(DivergenceError) as info:
        for snap in train(make_net(), (x, y), config=TrainConfig(epochs=3, batch_size=16, seed=1),
                          transform=transform):  # fmt: skip
            seen.append(snap)
    msg = str(info.value)
    assert "image 137 of the training data" in msg and "transform" in msg, msg
    assert "learning rate" not in msg


@pytest.mark.parametrize(("label", "name"), [(0, "ant"), (2, "cat")])
def test_training_data_of_one_class_is_refused(make_net, make_blobs, label, name):
    x, y = make_blobs(n=50)
    y[:] = label
    net = make_net()
    with pytest.raises(EngineError, match=r"has only one class .*at least two classes"):
        train(net, (x, y))
    assert net.forward_calls == 0
    with pytest.raises(EngineError, match=rf"^digits\.csv has only one class \(every image is "
                       rf"labelled '{name}'\)"):  # fmt: skip
        check_training_data(x, y, "digits.csv", ["ant", "bee", "cat"])


def test_running_out_of_memory_is_a_documented_error_that_keeps_the_last_good_weights(
    make_net, make_blobs, monkeypatch
):
    x, y = make_blobs(n=100)
    net = make_net()
    real_update = Adam._update
    calls = {"n": 0}

    def update(self, key, p, g):
        calls["n"] += 1
        if calls["n"] == 2 * 4 + 2:  # step 3, after its first parameter was updated
            raise MemoryError
        real_update(self, key, p, g)

    monkeypatch.setattr(Adam, "_update", update)
    seen = []
    cfg = TrainConfig(epochs=3, batch_size=10, snapshot_interval=0)
    with pytest.raises(TrainingMemoryError) as info:
        for snap in train(net, (x, y), config=cfg):
            seen.append(snap)
    assert isinstance(info.value, EngineError) and isinstance(info.value, MemoryError)
    msg = str(info.value)
    assert "ran out of memory at epoch 1, step 3" in msg and "lower the batch size" in msg
    assert [s.step for s in seen] == [1, 2]
    assert weights_equal(net.get_weights(), seen[-1].weights)  # not half an update


def test_the_memory_error_is_one_of_the_engines_documented_error_types():
    # errors.py holds every engine error type; the old homes still work.
    import cnnstudio.engine
    from cnnstudio.engine import errors

    assert errors.TrainingMemoryError is TrainingMemoryError
    assert cnnstudio.engine.TrainingMemoryError is TrainingMemoryError
    assert issubclass(TrainingMemoryError, errors.EngineError)
    assert issubclass(TrainingMemoryError, MemoryError)


def test_an_interrupt_in_the_middle_of_an_update_leaves_the_last_complete_weights(
    make_net, make_blobs, monkeypatch
):
    x, y = make_blobs(n=100)
    net = make_net()
    real_update = Adam._update
    calls = {"n": 0}

    def update(self, key, p, g):
        calls["n"] += 1
        real_update(self, key, p, g)
        if calls["n"] == 4 * 4 + 3:  # step 5, three of its four parameters updated
            raise KeyboardInterrupt

    monkeypatch.setattr(Adam, "_update", update)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for snap in train(net, (x, y), config=TrainConfig(batch_size=10, snapshot_interval=0)):
            seen.append(snap)
    assert [s.step for s in seen] == [1, 2, 3, 4]
    assert weights_equal(net.get_weights(), seen[-1].weights)


def test_closing_the_generator_keeps_the_weights_of_the_last_step(make_net, make_blobs):
    x, y = make_blobs(n=100)
    net = make_net()
    gen = train(net, (x, y), config=TrainConfig(batch_size=10, snapshot_interval=0))
    snaps = [next(gen) for _ in range(3)]
    gen.close()
    assert weights_equal(net.get_weights(), snaps[-1].weights)


def test_stop_request_ends_with_a_final_rich_snapshot(make_net, make_blobs):
    x, y = make_blobs(n=100)
    control = TrainingControl()
    cfg = TrainConfig(epochs=5, batch_size=10, snapshot_interval=1e9)
    net = make_net()
    snaps = []
    for snap in train(net, (x, y), config=cfg, control=control):
        snaps.append(snap)
        if snap.step == 3:
            control.request_stop()
    assert [s.step for s in snaps] == [1, 2, 3, 3]
    last = snaps[-1]
    assert last.done and last.stopped and last.is_rich and not snaps[-2].done
    assert weights_equal(last.weights, net.get_weights())
    assert control.stop_requested
    assert "(stopped)" in format_progress(last)


def test_stop_before_the_first_step_yields_nothing(make_net, make_blobs):
    x, y = make_blobs(n=20)
    control = TrainingControl()
    control.request_stop()
    assert list(train(make_net(), (x, y), control=control)) == []


def test_learning_rate_change_applies_at_the_next_step_and_keeps_the_schedule(make_net, make_blobs):
    x, y = make_blobs(n=40)
    control = TrainingControl()
    cfg = TrainConfig(epochs=2, batch_size=10, lr=0.1, schedule="step", step_size=1, gamma=0.5)
    lrs = []
    for snap in train(make_net(), (x, y), config=cfg, control=control):
        lrs.append((snap.lr, snap.base_lr))
        if snap.step == 2:
            control.set_lr(0.01)
    assert lrs[:2] == [(0.1, 0.1), (0.1, 0.1)]
    assert lrs[2:4] == [(0.01, 0.01), (0.01, 0.01)]
    assert lrs[4:] == [(0.005, 0.01)] * 4  # second epoch: gamma applied to the new rate
    with pytest.raises(EngineError, match="learning rate must be a number > 0"):
        control.set_lr(0)


def test_cosine_schedule_anneals_over_the_run(make_net, make_blobs):
    x, y = make_blobs(n=40)
    cfg = TrainConfig(epochs=2, batch_size=10, lr=0.1, schedule="cosine", min_lr=0.001)
    lrs = [s.lr for s in train(make_net(), (x, y), config=cfg)]
    assert lrs[0] == pytest.approx(0.1)
    assert all(a > b for a, b in itertools.pairwise(lrs))
    assert lrs[-1] > 0.001


def test_onecycle_schedule_peaks_after_a_quarter_of_the_run(make_net, make_blobs):
    x, y = make_blobs(n=40)
    cfg = TrainConfig(epochs=4, batch_size=10, optimizer="sgd", lr=0.2, schedule="onecycle")
    lrs = [s.lr for s in train(make_net(), (x, y), config=cfg)]
    assert len(lrs) == 16
    assert lrs[0] == pytest.approx(0.2 / 25)
    assert max(lrs) == pytest.approx(0.2) and lrs.index(max(lrs)) == 4
    assert 0 < lrs[-1] < 0.02


def test_label_smoothing_reaches_the_training_loss(make_net, make_blobs):
    x, y = make_blobs(n=30)
    logits = make_net().forward(x)
    cfg = TrainConfig(epochs=1, batch_size=30, label_smoothing=0.2)
    first = next(iter(train(make_net(), (x, y), config=cfg)))
    assert first.batch_loss == pytest.approx(softmax_cross_entropy(logits, y, 0.2)[0], rel=1e-5)
    assert first.batch_loss != pytest.approx(softmax_cross_entropy(logits, y)[0], rel=1e-3)


def test_weight_decay_and_nesterov_reach_the_optimizer():
    opt = TrainConfig(optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4)
    sgd = opt.make_optimizer()
    assert sgd.nesterov is True and sgd.momentum == 0.9 and sgd.weight_decay == 5e-4


def test_max_steps_caps_the_run(make_net, make_blobs):
    x, y = make_blobs(n=100)
    xv, yv = make_blobs(n=20, seed=3)
    snaps = list(
        train(make_net(), (x, y), (xv, yv), TrainConfig(epochs=5, batch_size=10, max_steps=13))
    )
    assert len(snaps) == 13 and snaps[-1].done and snaps[-1].total_steps == 13
    assert snaps[-1].epoch == 2 and not snaps[-1].epoch_end and snaps[-1].is_rich
    assert [s.step for s in snaps if s.val_loss is not None] == [10]


def test_binary_sigmoid_network_trains(make_net, make_blobs):
    net = make_net(num_classes=1)
    x, y = make_blobs(n=200, num_classes=1)
    last = fit(net, (x, y), (x, y), TrainConfig(epochs=5, batch_size=20, lr=0.01))
    assert last.val_accuracy > 0.9 and last.val_confusion.shape == (2, 2)


def test_train_checks_its_inputs_before_running(make_net, make_blobs):
    net = make_net()
    x, y = make_blobs(n=10)
    with pytest.raises(EngineError, match=r"training data: images have shape \(10, 1, 4, 4\), but"):
        train(make_net(input_shape=(1, 5, 5)), (x, y))
    with pytest.raises(EngineError, match="validation data: 10 images but 3 labels"):
        train(net, (x, y), (x, y[:3]))
    with pytest.raises(EngineError, match=r"must be in 0\.\.2"):
        train(net, (x, y + 5))
    with pytest.raises(EngineError, match=r"an \(images, labels\) pair"):
        train(net, x)
    with pytest.raises(EngineError, match="probe"):
        train(net, (x, y), probe=np.zeros((1, 3, 3), np.float32))
    assert net.forward_calls == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"epochs": 2.5}, "epochs must be an integer >= 1"),
        ({"lr": 0}, "lr must be a number > 0, got 0"),
        ({"lr": float("nan")}, "lr must be a number > 0"),
        ({"optimizer": "lbfgs"}, "optimizer must be one of adam, rmsprop, sgd"),
        ({"schedule": "warm"}, "schedule must be one of constant, step, cosine"),
        ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ({"optimizer": "sgd", "momentum": 0, "nesterov": True}, "nesterov needs a momentum"),
        ({"max_steps": 0}, "max_steps must be None or an integer >= 1"),
        ({"threads": 0}, "threads must be None or an integer from 1 to 1024"),
        ({"threads": 2**70}, "threads must be None or an integer from 1 to 1024"),
        ({"snapshot_interval": -1}, "snapshot_interval must be a number of seconds >= 0"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"explode_factor": 0.5}, "explode_factor must be None or a number > 1"),
        ({"label_smoothing": 1.0}, r"label_smoothing must be a number in \[0, 1\)"),
        ({"label_smoothing": -0.1}, r"label_smoothing must be a number in \[0, 1\)"),
    ],
)
def test_bad_settings_are_explained(kwargs, message):
    with pytest.raises(EngineError, match=message):
        TrainConfig(**kwargs)


def test_config_round_trips_through_a_dict():
    cfg = TrainConfig(epochs=3, optimizer="sgd", schedule="cosine", max_steps=7)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(EngineError, match=r"unknown training setting.*colour"):
        TrainConfig.from_dict({"colour": 1})


def test_blas_thread_limit_holds_only_while_the_generator_runs(make_net, make_blobs):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        infos = threadpoolctl.threadpool_info()
        return {i["num_threads"] for i in infos if i["user_api"] == "blas"}

    before = blas_threads()
    if not before:
        pytest.skip("no BLAS library reported by threadpoolctl")
    x, y = make_blobs(n=20)
    target = 2 if before != {2} else 1
    gen = train(make_net(), (x, y), config=TrainConfig(epochs=1, batch_size=10, threads=target))
    next(gen)
    assert blas_threads() == {target}
    gen.close()
    assert blas_threads() == before


def test_format_progress_reads_like_a_progress_bar(make_net, make_blobs):
    x, y = make_blobs(n=40)
    snaps = list(train(make_net(), (x, y), (x, y), TrainConfig(epochs=2, batch_size=10)))
    line = format_progress(snaps[1])
    assert re.match(
        r"epoch 1/2 \[#{10}-{10}\] 2/4 loss \d\.\d{4} acc \d+\.\d% \| "
        r"[\d,]+ samples/s ETA \d+:\d\d$",
        line,
    ), line
    assert "val_acc" in format_progress(snaps[-1]) and "elapsed" in format_progress(snaps[-1])


def test_lenet5_reaches_95_percent_on_the_held_out_mnist_sample():
    """The issue's acceptance test: LeNet-5 on the built-in sample, >= 95% held out, < 1 min.

    5 epochs of Adam (lr 3e-3 annealed by a cosine schedule, batch 64) over the 4,000
    training images take 4-7 s on the 2-core machine and end at 96.7% on the 1,000
    held-out ones (96.7-97.9% over network seeds 0-2, since the fused Conv -> ReLU ->
    MaxPool backward was fixed; 96.3-97.1% before).
    """
    from cnnstudio.data.builtin import load_builtin
    from cnnstudio.engine.network import Network

    data = load_builtin("mnist-sample")
    train_set, test_set = data.train, data.test
    assert len(train_set.labels) == 4000 and len(test_set.labels) == 1000
    net = Network.from_architecture(lenet_architecture(), seed=0)
    cfg = TrainConfig(epochs=5, batch_size=64, optimizer="adam", lr=3e-3, schedule="cosine")
    last = fit(net, train_set, test_set, cfg)  # Dataset objects (images + labels) work too
    held_out = evaluate(net, test_set.images, test_set.labels)
    assert held_out.accuracy >= 0.95, held_out.accuracy
    assert last.val_accuracy == pytest.approx(held_out.accuracy)
    assert held_out.confusion.sum() == 1000
    assert np.nanmin(held_out.per_class) > 0.85


def test_a_transform_that_drops_samples_is_named(make_net, make_blobs):
    x, y = make_blobs(n=8)
    gen = train(make_net(), (x, y), transform=lambda xb, rng: xb[:-1].astype(np.float32))
    with pytest.raises(
        EngineError, match=r"float32 batches of shape \(8, 1, 4, 4\), got float32 \(7"
    ):
        next(gen)


def test_stop_after_the_last_step_adds_nothing(make_net, make_blobs):
    x, y = make_blobs(n=20)
    control = TrainingControl()
    snaps = []
    for snap in train(
        make_net(), (x, y), config=TrainConfig(epochs=1, batch_size=10), control=control
    ):
        snaps.append(snap)
        if snap.done:
            control.request_stop()
    assert [(s.step, s.done, s.stopped) for s in snaps] == [(1, False, False), (2, True, False)]


def test_two_processes_share_the_steps_and_the_helper_ends_with_the_run():
    # Network lost its own process mode to engine.parallel.DataParallel: a run asked for
    # two processes silently trained on one until train() wrapped the network itself.
    import multiprocessing

    from cnnstudio.engine.network import Network

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(64, 1, 28, 28), dtype=np.uint8)
    y = np.arange(64) % 10
    losses, helpers = [], []
    for processes in (1, 2):
        net = Network.from_architecture(lenet_architecture(), seed=0)
        config = TrainConfig(epochs=1, batch_size=32, lr=1e-3, processes=processes)
        run = train(net, (x, y), None, config)
        losses.append([next(run).batch_loss])
        helpers.append(len(multiprocessing.active_children()))
        losses[-1] += [s.batch_loss for s in run]
    assert helpers == [0, 1]
    assert not multiprocessing.active_children()  # closed when the run ended
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-3)


def test_the_readable_engine_trains_the_same_run_as_the_fast_one():
    """kernels="reference": the run goes through engine/reference/ and learns the same
    weights as the fast tier, up to float rounding."""
    from cnnstudio.engine.network import Network

    rng = np.random.default_rng(0)
    x = rng.random((48, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 48)
    runs = {}
    for kernels in ("fast", "reference"):
        net = Network.from_architecture(lenet_architecture(), seed=3)
        config = TrainConfig(epochs=1, batch_size=16, lr=1e-3, kernels=kernels)
        for _ in train(net, (x, y), None, config):
            assert net.kernels == kernels
        runs[kernels] = net.get_weights()
    for key, fast in runs["fast"].items():
        np.testing.assert_allclose(runs["reference"][key], fast, rtol=1e-3, atol=1e-5)
    assert not weights_equal(
        runs["fast"], Network.from_architecture(lenet_architecture(), seed=3).get_weights()
    )


def test_an_unknown_engine_tier_is_refused_by_name():
    with pytest.raises(EngineError, match="kernels"):
        TrainConfig(kernels="turbo")
