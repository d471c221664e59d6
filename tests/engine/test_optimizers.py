"""Optimizers: update rules (against hand-written formulas and PyTorch), in-place updates."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.optimizers import SGD, Adam, RMSprop, make_optimizer


def quadratic_params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a.w": rng.normal(size=(3, 4)).astype(np.float32),
        "a.b": rng.normal(size=3).astype(np.float32),
    }


def grads_sequence(params, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [
        {k: rng.normal(size=v.shape).astype(np.float32) for k, v in params.items()}
        for _ in range(steps)
    ]


def run(opt, params, grads_seq, lrs=None):
    for i, grads in enumerate(grads_seq):
        if lrs is not None:
            opt.lr = lrs[i]
        opt.step([(k, params[k], grads[k]) for k in params])
    return params


def test_plain_sgd_is_p_minus_lr_g_and_updates_in_place():
    params = quadratic_params()
    original = params["a.w"]
    start = original.copy()
    g = grads_sequence(params, 1)[0]
    SGD(lr=0.1).step([(k, params[k], g[k]) for k in params])
    assert params["a.w"] is original  # the network holds this array
    np.testing.assert_allclose(original, start - np.float32(0.1) * g["a.w"], rtol=1e-6)
    assert original.dtype == np.float32


def test_momentum_accumulates_velocity():
    params = {"p.w": np.zeros(1, np.float32)}
    opt = SGD(lr=1.0, momentum=0.5)
    for _ in range(3):
        opt.step([("p.w", params["p.w"], np.ones(1, np.float32))])
    # velocities 1, 1.5, 1.75 -> position -(1 + 1.5 + 1.75)
    np.testing.assert_allclose(params["p.w"], [-4.25])


def test_sgd_minimises_a_quadratic():
    p = np.array([5.0, -3.0], np.float32)
    for opt in (SGD(lr=0.1, momentum=0.9, nesterov=True), Adam(lr=0.1), RMSprop(lr=0.05)):
        x = p.copy()
        for _ in range(300):
            opt.step([("x", x, 2 * x)])
        assert np.abs(x).max() < 0.05, opt


def test_weight_decay_leaves_the_networks_gradient_untouched():
    params = quadratic_params()
    g = grads_sequence(params, 1)[0]
    g_before = {k: v.copy() for k, v in g.items()}
    start = {k: v.copy() for k, v in params.items()}
    Adam(lr=0.01, weight_decay=0.1).step([(k, params[k], g[k]) for k in params])
    for k in g:
        np.testing.assert_array_equal(g[k], g_before[k])
        assert not np.array_equal(params[k], start[k])


def test_learning_rate_can_change_between_steps():
    params = {"x": np.zeros(1, np.float32)}
    opt = SGD(lr=1.0)
    opt.step([("x", params["x"], np.ones(1, np.float32))])
    opt.lr = 0.25
    opt.step([("x", params["x"], np.ones(1, np.float32))])
    np.testing.assert_allclose(params["x"], [-1.25])
    with pytest.raises(EngineError, match="learning rate must be > 0"):
        opt.lr = -1


def test_state_dict_round_trip_continues_identically():
    params_a = quadratic_params()
    params_b = {k: v.copy() for k, v in params_a.items()}
    seq = grads_sequence(params_a, 6)
    a = Adam(lr=0.01)
    run(a, params_a, seq[:3])
    b = Adam(lr=0.01)
    run(b, params_b, seq[:3])
    c = Adam(lr=0.01)
    c.load_state_dict(b.state_dict())
    params_c = {k: v.copy() for k, v in params_b.items()}
    run(a, params_a, seq[3:])
    run(c, params_c, seq[3:])
    for k in params_a:
        np.testing.assert_array_equal(params_a[k], params_c[k])


def test_make_optimizer_by_name_and_clear_errors():
    assert isinstance(make_optimizer("Adam", lr=0.1), Adam)
    assert make_optimizer("sgd", lr=0.1, momentum=0.9).momentum == 0.9
    assert make_optimizer("rmsprop", alpha=0.9).rho == 0.9
    with pytest.raises(
        EngineError, match=r"unknown optimizer 'lbfgs'; choose one of adam, rmsprop, sgd"
    ):
        make_optimizer("lbfgs")
    with pytest.raises(EngineError, match=r"optimizer adam: .*momentum"):
        make_optimizer("adam", momentum=0.9)
    with pytest.raises(EngineError, match="beta2 must be"):
        Adam(beta2=1.0)
    with pytest.raises(EngineError, match="Nesterov"):
        SGD(nesterov=True)


def test_mismatched_gradient_shape_names_the_parameter():
    with pytest.raises(EngineError, match=r"conv1\.w"):
        SGD(lr=0.1).step([("conv1.w", np.zeros((2, 3), np.float32), np.zeros(3, np.float32))])


CASES = [
    ("sgd", {"lr": 0.1}, {"lr": 0.1}),
    (
        "sgd",
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
        {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.01},
    ),
    (
        "sgd",
        {"lr": 0.05, "momentum": 0.8, "nesterov": True},
        {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    ),
    (
        "adam",
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "weight_decay": 0.02},
        {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.02},
    ),
    (
        "rmsprop",
        {"lr": 0.01, "rho": 0.9, "momentum": 0.5, "weight_decay": 0.01},
        {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "weight_decay": 0.01},
    ),
    ("rmsprop", {"lr": 0.01}, {"lr": 0.01}),
]


@pytest.mark.parametrize(("name", "ours", "theirs"), CASES)
def test_several_steps_match_pytorch(name, ours, theirs):
    torch = pytest.importorskip("torch")
    params = quadratic_params()
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[name]
    topt = cls(list(tparams.values()), **theirs)
    seq = grads_sequence(params, 5)
    lrs = [theirs["lr"]] * 3 + [theirs["lr"] / 2] * 2
    run(make_optimizer(name, **ours), params, seq, lrs)
    for i, grads in enumerate(seq):
        for group in topt.param_groups:
            group["lr"] = lrs[i]
        for k, t in tparams.items():
            t.grad = torch.tensor(grads[k])
        topt.step()
    for k in params:
        np.testing.assert_allclose(params[k], tparams[k].detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "opt",
    [SGD(lr=0.01, momentum=0.9), Adam(lr=0.01), RMSprop(lr=0.01, momentum=0.9)],
    ids=["sgd", "adam", "rmsprop"],
)
def test_state_of_a_weight_whose_gradient_stopped_never_turns_subnormal(opt, monkeypatch):
    # A ReLU unit that stops firing leaves its weights with zero gradients; their momentum
    # decays by a constant factor each step and, unflushed, passes into the subnormal
    # range (below ~1.2e-38), where every update of the whole array ran 2-10x slower.
    import cnnstudio.engine.optimizers as optimizers

    def train(flush_every):
        monkeypatch.setattr(optimizers, "FLUSH_EVERY", flush_every)
        o = make_optimizer(opt.name, **opt.hyperparameters())
        p = np.array([0.5, -0.25, 0.75], np.float32)
        rng = np.random.default_rng(0)
        for step in range(1500):
            # weight 0: gradient 1 once, then never again; weight 1: always some gradient.
            g = np.array([1.0 if step == 0 else 0.0, rng.normal(), 0.0], np.float32)
            o.step([("unit.w", p, g)])
        return o, p

    flushed, p = train(optimizers.FLUSH_EVERY)
    unflushed, p_ref = train(10**9)
    tiny = np.finfo(np.float32).tiny
    for slot, arr in flushed.state["unit.w"].items():
        assert not np.any((arr != 0) & (np.abs(arr) < tiny)), slot
        # The live weight's state is untouched by the flushing.
        assert arr[1] == unflushed.state["unit.w"][slot][1]
    if opt.name == "sgd":  # (Adam's second moment decays too slowly to get there)
        ref = unflushed.state["unit.w"]["velocity"][0]
        assert 0 < abs(ref) < tiny  # what happens without the flush
    np.testing.assert_array_equal(p, p_ref)  # and no weight moves differently
