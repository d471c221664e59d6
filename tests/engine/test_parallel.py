"""Training on helper processes (``engine.parallel.DataParallel``): the same numbers as
one process, helpers that stop when asked, and a step that survives a helper dying."""

from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

from cnnstudio.engine import (
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    Network,
    ReLU,
    Sigmoid,
    Softmax,
)
from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.losses import softmax_cross_entropy
from cnnstudio.engine.parallel import DataParallel, _ProcessShards
from cnnstudio.engine.training import TrainConfig, train


def lenet(seed: int = 3) -> Network:
    return Network(
        [
            Conv2D(6, 5, padding=2), ReLU(), MaxPool2D(2),
            Conv2D(16, 5), ReLU(), MaxPool2D(2), Flatten(),
            Dense(120), ReLU(), Dense(84), ReLU(), Dense(10), Softmax(),
        ],
        input_shape=(1, 28, 28),
        seed=seed,
    )  # fmt: skip


def residual(seed: int = 5) -> Network:
    """A small graph with a skip connection (Add) and a channel Concatenate."""
    node = lambda nid, t, inputs, **cfg: {"id": nid, "type": t, "inputs": inputs, "config": cfg}  # noqa: E731
    arch = {
        "nodes": [
            node("in", "Input", [], shape=[2, 9, 9]),
            node("c1", "Conv2D", ["in"], filters=4, kernel_size=3, padding=1),
            node("r1", "ReLU", ["c1"]),
            node("c2", "Conv2D", ["r1"], filters=4, kernel_size=3, padding=1),
            node("add", "Add", ["c2", "r1"]),
            node("cat", "Concatenate", ["add", "in"]),
            node("pool", "MaxPool2D", ["cat"], pool_size=3),
            node("flat", "Flatten", ["pool"]),
            node("fc", "Dense", ["flat"], units=5),
            node("sm", "Softmax", ["fc"]),
        ]
    }
    return Network.from_architecture(arch, seed=seed)


def batch(n: int, shape=(1, 28, 28), k: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, k, n)


def grads(net: Network) -> dict[str, np.ndarray]:
    return {key: g.copy() for key, _, g in net.parameters()}


def assert_same_step(one: Network, two: DataParallel, x, y) -> None:
    loss1, z1 = one.train_step(x, y)
    g1 = grads(one)
    loss2, z2 = two.train_step(x, y)
    np.testing.assert_allclose(z2, z1, rtol=1e-5, atol=1e-6)
    assert loss2 == pytest.approx(loss1, rel=1e-5)
    for key, g in grads(two.network).items():
        np.testing.assert_allclose(g, g1[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.fixture(autouse=True)
def _no_helper_outlives_a_test():
    yield
    alive = [p.name for p in multiprocessing.active_children()]
    assert not alive, f"helper processes still running: {alive}"


def test_two_processes_give_the_same_step_as_one():
    x, y = batch(32)
    one = lenet()
    with DataParallel(lenet(), 2) as two:
        assert two.processes == 2 and len(two._shards.helpers) == 1
        assert_same_step(one, two, x, y)
        # An odd batch splits 16 / 17; a later, larger batch grows the shared buffers.
        x, y = batch(33, seed=1)
        assert_same_step(one, two, x, y)
        x, y = batch(100, seed=2)
        assert_same_step(one, two, x, y)
        # The helper sees weights changed between steps (an optimizer step in place).
        for (_, p1, g1), (_, p2, _) in zip(one.parameters(), two.network.parameters(), strict=True):
            p1 -= 0.1 * g1
            np.copyto(p2, p1)
        assert_same_step(one, two, x, y)
    assert two._shards is None and two.processes == 1


def test_another_loss_runs_in_this_process():
    x, y = batch(40)

    def loss(z, y):  # the helpers know only losses.FUSED_LOSSES
        return softmax_cross_entropy(z, y)

    one = lenet()
    with DataParallel(lenet(), 2) as two:
        sent = []
        start = two._shards.start_step
        two._shards.start_step = lambda *a: (sent.append(a), start(*a))
        loss1, z1 = one.train_step(x, y, loss)
        loss2, z2 = two.train_step(x, y, loss)
        assert not sent and loss2 == loss1
        np.testing.assert_array_equal(z2, z1)


def test_graphs_with_branches_and_sigmoid_outputs_shard_too():
    x, y = batch(24, shape=(2, 9, 9), k=5)
    with DataParallel(residual(), 2) as two:
        assert_same_step(residual(), two, x, y)

    def binary():
        return Network(
            [Flatten(), Dense(6), ReLU(), Dense(1), Sigmoid()], input_shape=(1, 4, 4), seed=2
        )

    x, y = batch(20, shape=(1, 4, 4), k=2)
    with DataParallel(binary(), 3) as two:
        assert len(two._shards.helpers) == 2
        assert_same_step(binary(), two, x, y)


def test_a_network_without_parameters_shares_its_steps_too(recwarn):
    def net():
        return Network([Flatten(), Softmax()], input_shape=(3, 1, 1))

    x, y = batch(32, shape=(3, 1, 1), k=3)
    with DataParallel(net(), 2) as two:
        assert_same_step(net(), two, x, y)
        assert two.processes == 2
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_small_batches_batchnorm_float64_and_the_reference_tier_use_no_helper_process():
    with DataParallel(lenet(), 2) as two:
        sent = []
        start = two._shards.start_step
        two._shards.start_step = lambda *a: (sent.append(a), start(*a))
        assert_same_step(lenet(), two, *batch(15))  # under 8 samples per process
        assert not sent
    bn = Network(
        [Conv2D(4, 3), BatchNorm(), ReLU(), Flatten(), Dense(10), Softmax()],
        input_shape=(1, 8, 8),
    )
    with DataParallel(bn, 2) as two:
        # Batch statistics would differ per process: threads of this one share the step
        # instead (tests/engine/test_threads.py), no helper processes.
        assert two._shards is None and two._threads is not None and two.processes == 2
        loss, _ = two.train_step(*batch(32, shape=(1, 8, 8)))
    assert np.isfinite(loss)
    wide = lenet()
    wide._dtype = np.float64  # as the gradient checks do
    for layer in wide.layers:
        for key in layer.params:
            layer.params[key] = layer.params[key].astype(np.float64)
            layer.grads[key] = layer.grads[key].astype(np.float64)
    with DataParallel(wide, 2) as two:
        assert two._shards is None
    readable = lenet()
    readable.set_kernels("reference")  # to be stepped through whole, in this process
    with DataParallel(readable, 2) as two:
        assert two._shards is None and two.processes == 1


def test_bad_process_counts_and_labels_are_refused_clearly():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(EngineError, match="processes must be a positive integer"):
            DataParallel(lenet(), bad)
    with pytest.raises(EngineError, match="processes"):
        TrainConfig(processes=0)
    with DataParallel(lenet(), 2) as two:
        x, y = batch(32)
        y[20] = 12  # a label the helper's shard would see
        with pytest.raises(EngineError, match=r"labels must be in 0\.\.9"):
            two.train_step(x, y)
        with pytest.raises(EngineError, match="expected shape"):
            two.train_step(x[:, :, :20], y)
        y[20] = 1
        assert_same_step(lenet(), two, x, y)  # the helper is still fine afterwards
        assert two.processes == 2


def test_a_helper_that_dies_is_reported_and_the_step_still_counts(monkeypatch):
    x, y = batch(32)
    one, two = lenet(), DataParallel(lenet(), 2)
    two.train_step(x, y)  # helpers up
    helper = two._shards.helpers[0]
    helper.proc.kill()
    helper.proc.join()
    with pytest.warns(RuntimeWarning, match="stopped unexpectedly.*this process only"):
        assert_same_step(one, two, x, y)
    assert two.processes == 1 and two._shards is None

    # Dying in the middle of a step (just after its shard went out, long before it could
    # be done): the step is finished here.
    real_start = _ProcessShards.start_step

    def start_then_die(self, *args, **kwargs):
        real_start(self, *args, **kwargs)
        self.helpers[0].proc.kill()
        self.helpers[0].proc.join()

    monkeypatch.setattr(_ProcessShards, "start_step", start_then_die)
    two = DataParallel(lenet(), 2)
    with pytest.warns(RuntimeWarning, match="stopped unexpectedly"):
        assert_same_step(one, two, x, y)
    assert two._shards is None
    two.close()


def test_a_helper_that_fails_is_reported_and_the_step_still_counts():
    from cnnstudio.engine import parallel

    x, y = batch(32)
    one = lenet()
    with DataParallel(lenet(), 2) as two:
        two.train_step(x, y)
        real_send = two._shards._send

        def unknown_loss(helper, msg):  # the helper answers with an error
            if isinstance(msg, bytes) and msg[:1] == b"S":
                msg = parallel._STEP.pack(b"S", *parallel._STEP.unpack(msg)[1:3], 99)
            real_send(helper, msg)

        two._shards._send = unknown_loss
        with pytest.warns(RuntimeWarning, match="helper process failed: IndexError"):
            assert_same_step(one, two, x, y)
        assert two.processes == 1


def test_shared_memory_has_no_name_while_training_and_close_frees_it():
    # A name in /dev/shm would outlive processes killed before they remove it (until
    # reboot): the blocks lose theirs at once, while the helpers train with them.
    two = DataParallel(lenet(), 2)
    two.train_step(*batch(32))
    shards = two._shards
    names = [shards.params_shm.name] + [
        b.name for h in shards.helpers for b in (h.grads_shm, h.io_shm) if b
    ]
    assert len(names) == 3
    if os.path.isdir("/dev/shm"):
        assert not [n for n in names if os.path.exists(f"/dev/shm/{n.lstrip('/')}")]
    two.close()
    assert all(b.buf is None for b in (shards.params_shm, shards.helpers[0].grads_shm))
    # The network still trains, in this process.
    loss, _ = two.train_step(*batch(32))
    assert np.isfinite(loss)


def test_helpers_that_cannot_start_leave_one_process_training(monkeypatch):
    # No new process (a process limit, a sandbox): a warning, and training goes on here.
    from multiprocessing import shared_memory
    from multiprocessing.context import SpawnProcess

    from cnnstudio.engine import parallel

    created: list[str] = []

    class Recorded(shared_memory.SharedMemory):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if kwargs.get("create"):
                created.append(self.name)

    def refuse(self):
        raise OSError("Resource temporarily unavailable")

    # (Only this test's blocks are checked: other tests may run in parallel.)
    monkeypatch.setattr(parallel.shared_memory, "SharedMemory", Recorded)
    monkeypatch.setattr(SpawnProcess, "start", refuse)
    with pytest.warns(RuntimeWarning, match="could not start engine helper processes"):
        two = DataParallel(lenet(), 2)
    assert two.processes == 1 and two._shards is None
    x, y = batch(32)
    loss, _ = two.train_step(x, y)
    assert loss == pytest.approx(lenet().train_step(x, y)[0], rel=1e-6)
    assert created  # blocks were made before the failure...
    if os.path.isdir("/dev/shm"):  # ...and are gone
        assert not set(created) & {name.lstrip("/") for name in os.listdir("/dev/shm")}


def test_training_on_two_processes_learns_the_same_weights_and_stops_its_helpers():
    x, y = batch(192, seed=7)
    results = []
    for processes in (1, 2):
        net = lenet(seed=1)
        config = TrainConfig(epochs=2, batch_size=32, lr=1e-3, processes=processes, seed=3)
        snaps = list(train(net, (x, y), None, config))
        assert not multiprocessing.active_children()  # the run's helpers are gone
        results.append((snaps[-1].loss, net.get_weights()))
    (loss1, w1), (loss2, w2) = results
    assert loss2 == pytest.approx(loss1, rel=1e-4)
    for key in w1:
        np.testing.assert_allclose(w2[key], w1[key], rtol=1e-3, atol=1e-5, err_msg=key)


def test_train_step_matches_forward_loss_backward():
    x, y = batch(16)
    a, b = lenet(), lenet()
    loss, z = a.train_step(x, y)
    zb = b.forward(x, training=True)
    lb, d = softmax_cross_entropy(zb, y)
    b.backward(d)
    assert loss == lb
    np.testing.assert_array_equal(z, zb)
    gb = grads(b)
    for key, g in grads(a).items():
        np.testing.assert_array_equal(g, gb[key], err_msg=key)


def test_parameters_live_in_one_flat_buffer():
    net = lenet()
    [(key, flat_p, flat_g)] = net.flat_parameters()
    assert key == "*" and flat_p.size == net.parameter_count() == flat_g.size
    for _, p, g in net.parameters():
        assert np.shares_memory(p, flat_p) and np.shares_memory(g, flat_g)
    flat_p[:] = 0.5  # an update of the flat array is an update of every layer
    assert all(np.all(p == 0.5) for _, p, _ in net.parameters())
    # A layer whose array was replaced (as the float64 gradient checks do) falls back.
    layer = net.layers[1]
    layer.params["w"] = layer.params["w"].astype(np.float64)
    assert len(net.flat_parameters()) == len(net.parameters())
    with pytest.raises(EngineError, match="differ in dtype"):
        net.use_flat_arrays(np.empty_like(flat_p), np.empty_like(flat_g))


def test_network_imports_no_parallel_module():
    # DataParallel wraps a Network from outside: network.py never reaches for it, not
    # even inside a function.
    import ast
    from pathlib import Path

    import cnnstudio.engine.network as network_module

    tree = ast.parse(Path(network_module.__file__).read_text(encoding="utf-8"))
    imported = {
        f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported and not [name for name in imported if "parallel" in name]
