"""Training steps shared between threads (engine/threads.py): BatchNorm networks on two
cores, with the batch statistics of the whole batch."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cnnstudio.engine import (
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool2D,
    Network,
    ReLU,
    Softmax,
)
from cnnstudio.engine.losses import loss_for
from cnnstudio.engine.parallel import DataParallel
from cnnstudio.engine.threads import ThreadShards, thread_shareable


def bn_net(seed: int = 1) -> Network:
    return Network(
        [
            Conv2D(6, 3, padding=1, use_bias=False), BatchNorm(), ReLU(), MaxPool2D(2),
            Conv2D(8, 3, padding=1), BatchNorm(), Flatten(), Dense(10), Softmax(),
        ],
        input_shape=(3, 8, 8),
        seed=seed,
    )  # fmt: skip


def residual_bn(seed: int = 2) -> Network:
    arch = {
        "input_shape": [3, 8, 8],
        "nodes": [
            {"id": "x", "type": "Input", "config": {"shape": [3, 8, 8]}},
            {"id": "c1", "type": "Conv2D", "config": {"filters": 4, "kernel_size": 3,
             "padding": 1, "use_bias": False}, "inputs": ["x"]},
            {"id": "b1", "type": "BatchNorm", "inputs": ["c1"]},
            {"id": "r1", "type": "ReLU", "inputs": ["b1"]},
            {"id": "c2", "type": "Conv2D", "config": {"filters": 4, "kernel_size": 3,
             "padding": 1, "use_bias": False}, "inputs": ["r1"]},
            {"id": "b2", "type": "BatchNorm", "inputs": ["c2"]},
            {"id": "r2", "type": "ReLU", "inputs": ["b2"]},
            {"id": "add", "type": "Add", "inputs": ["r1", "r2"]},
            {"id": "gap", "type": "GlobalAvgPool2D", "inputs": ["add"]},
            {"id": "d", "type": "Dense", "config": {"units": 5}, "inputs": ["gap"]},
            {"id": "out", "type": "Softmax", "inputs": ["d"]},
        ],
    }  # fmt: skip
    return Network.from_architecture(arch, seed=seed)


def halves_apart(n: int, shape=(3, 8, 8), k: int = 10, seed: int = 0):
    """A batch whose two halves have very different statistics: were each shard
    normalised by its own, the outputs would differ grossly."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    x[n // 2 :] = 5.0 + 3.0 * x[n // 2 :]
    return x, rng.integers(0, k, n)


def params(net: Network) -> dict[str, np.ndarray]:
    return {key: g.copy() for key, _, g in net.parameters()}


@pytest.mark.parametrize("make", [bn_net, residual_bn])
def test_two_threads_compute_the_one_thread_step(make):
    one, two = make(), make()
    x, y = halves_apart(40, k=one.n_logits)
    loss1, z1 = one.train_step(x, y)
    shards = ThreadShards(two, 2)
    try:
        loss2, z2 = shards.train_step(x, y, loss_for(two))
    finally:
        shards.close()
    np.testing.assert_allclose(z2, z1, rtol=1e-4, atol=1e-5)
    assert loss2 == pytest.approx(loss1, rel=1e-5)
    g2 = params(two)
    for key, g in params(one).items():
        np.testing.assert_allclose(g2[key], g, rtol=1e-3, atol=1e-5, err_msg=key)
    # The running statistics were updated once, with the whole batch's statistics.
    for nid, layer in one.nodes.items():
        for key, arr in layer.state.items():
            np.testing.assert_allclose(two.nodes[nid].state[key], arr, rtol=1e-5, atol=1e-6)


def test_data_parallel_uses_threads_for_batchnorm_and_trains():
    net = bn_net()
    x, y = halves_apart(64)
    with DataParallel(net, 2) as dp:
        assert dp._threads is not None and dp._shards is None
        first, _ = dp.train_step(x, y)
        for _ in range(30):
            loss, _ = dp.train_step(x, y)
            for _, p, g in net.parameters():
                p -= 0.05 * g
    assert loss < first * 0.5  # it learned the batch


def test_an_error_in_one_thread_is_raised_and_the_next_step_works():
    net = bn_net()
    x, y = halves_apart(32)
    shards = ThreadShards(net, 2)
    calls = []

    def fails_in_the_helper(logits, labels):
        calls.append(threading.current_thread() is threading.main_thread())
        if not calls[-1]:
            raise FloatingPointError("boom in the helper thread")
        return loss_for(net)(logits, labels)

    try:
        with pytest.raises(FloatingPointError, match="boom"):
            shards.train_step(x, y, fails_in_the_helper)
        loss, _ = shards.train_step(x, y, loss_for(net))  # no deadlock, no broken barrier
    finally:
        shards.close()
    assert np.isfinite(loss)
    assert shards.workers == []


def test_dropout_networks_are_not_shared_between_threads():
    net = Network(
        [Conv2D(2, 3), BatchNorm(), ReLU(), Flatten(), Dropout(0.5), Dense(3), Softmax()],
        input_shape=(1, 6, 6),
    )
    assert not thread_shareable(net)
    with DataParallel(net, 2) as dp:
        assert dp._threads is None and dp.processes == 1


def test_inference_on_two_threads_gives_the_same_probabilities():
    net = bn_net()
    x, y = halves_apart(64)
    for _ in range(3):  # some training, so the running statistics are not the initial ones
        net.train_step(x, y)
    one = net.predict_proba(x)
    net.set_inference_threads(2)
    try:
        helper_plan = net._infer_helper[0]
        two = net.predict_proba(x)
        assert helper_plan.infer_ctx != {nid: {} for nid in net.nodes}  # the helper ran
        np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(net.forward(x), net.forward(x[:]), rtol=0, atol=0)
        small = net.predict_proba(x[:5])  # too few to share: this thread alone
        np.testing.assert_allclose(small, one[:5], rtol=1e-5, atol=1e-6)
    finally:
        net.set_inference_threads(1)
    assert net._infer_helper is None
    with pytest.raises(Exception, match="1 or 2"):
        net.set_inference_threads(3)


def test_a_batch_too_small_to_share_trains_at_once_on_this_thread():
    # The last batch of an epoch can be smaller than two shards: it must not wait at a
    # BatchNorm for a thread that never comes (it once hung for two minutes).
    import time

    one, two = bn_net(), bn_net()
    x, y = halves_apart(64)
    with DataParallel(two, 2) as dp:
        dp.train_step(x, y)  # shared
        one.train_step(x, y)
        start = time.perf_counter()
        small_loss, _ = dp.train_step(x[:6], y[:6])  # too small to share
        took = time.perf_counter() - start
        loss1, _ = one.train_step(x[:6], y[:6])
        again, _ = dp.train_step(x, y)  # and sharing works after it
    assert took < 5.0
    assert small_loss == pytest.approx(loss1, rel=1e-4)
    assert np.isfinite(again)


def test_after_sharing_ends_the_network_trains_alone_without_waiting():
    # A second run of the same network on one core (the GUI's next Start) must not find
    # the threads' BatchNorm exchange still in place and wait at it.
    import time

    net = bn_net()
    x, y = halves_apart(64)
    with DataParallel(net, 2) as dp:
        dp.train_step(x, y)
    start = time.perf_counter()
    loss, _ = net.train_step(x, y)
    assert time.perf_counter() - start < 5.0 and np.isfinite(loss)
