"""Learning-rate schedules."""

from __future__ import annotations

import itertools
import math

import pytest

from cnnstudio.engine.errors import EngineError
from cnnstudio.engine.schedules import make_schedule


def test_constant_keeps_the_base_rate():
    s = make_schedule("constant")
    assert [s(i, 0.01) for i in (0, 10, 10_000)] == [0.01, 0.01, 0.01]


def test_step_multiplies_by_gamma_every_step_size_steps():
    s = make_schedule("step", step_size=3, gamma=0.5)
    assert [s(i, 1.0) for i in range(8)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_cosine_goes_from_base_to_min_and_stays():
    s = make_schedule("cosine", total_steps=100, min_lr=0.001)
    assert s(0, 0.1) == pytest.approx(0.1)
    assert s(50, 0.1) == pytest.approx((0.1 + 0.001) / 2)
    assert s(100, 0.1) == pytest.approx(0.001)
    assert s(500, 0.1) == pytest.approx(0.001)
    values = [s(i, 0.1) for i in range(101)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_schedules_follow_a_changed_base_rate():
    s = make_schedule("cosine", total_steps=10)
    assert s(5, 0.2) == pytest.approx(2 * s(5, 0.1))
    # a base rate below min_lr never makes the rate rise
    assert make_schedule("cosine", total_steps=10, min_lr=0.5)(5, 0.1) == pytest.approx(0.1)
    assert math.isclose(make_schedule("step", step_size=1, gamma=0.1).multiplier(2), 0.01)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("warmup", {}, "unknown schedule 'warmup'"),
        ("step", {}, "step_size is required"),
        ("step", {"step_size": 0}, "step_size must be an integer >= 1"),
        ("step", {"step_size": 2, "gamma": 0}, "gamma must be a number > 0"),
        ("cosine", {}, "total_steps is required"),
        ("cosine", {"total_steps": 10, "min_lr": -1}, "min_lr must be a number >= 0"),
    ],
)
def test_bad_settings_are_explained(name, kwargs, message):
    with pytest.raises(EngineError, match=message):
        make_schedule(name, **kwargs)


def test_onecycle_warms_up_for_a_quarter_then_falls_to_zero():
    s = make_schedule("onecycle", total_steps=200)
    assert s(0, 0.2) == pytest.approx(0.2 / 25)
    assert s(25, 0.2) == pytest.approx(0.2 / 25 + (0.2 - 0.2 / 25) / 2)
    assert s(50, 0.2) == pytest.approx(0.2)  # the peak, after a quarter of the steps
    assert s(125, 0.2) == pytest.approx(0.1)
    assert s(200, 0.2) == pytest.approx(0.0)
    assert s(1000, 0.2) == pytest.approx(0.0)
    values = [s(i, 0.2) for i in range(201)]
    assert max(values) == values[50]
    assert all(a <= b for a, b in itertools.pairwise(values[:51]))
    assert all(a >= b for a, b in itertools.pairwise(values[50:]))
    # The last step actually taken (199) trains at a small, positive rate.
    assert 0 < s(199, 0.2) < 0.01


def test_onecycle_min_lr_and_tiny_runs():
    s = make_schedule("onecycle", total_steps=8, min_lr=0.001)
    assert s(2, 1.0) == pytest.approx(1.0)
    assert s(8, 1.0) == pytest.approx(0.001)
    one = make_schedule("onecycle", total_steps=1)
    assert one(0, 0.5) == pytest.approx(0.02)
    assert math.isfinite(one(1, 0.5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "total_steps is required"),
        ({"total_steps": 0}, "total_steps must be an integer >= 1"),
        ({"total_steps": 10, "min_lr": -1}, "min_lr must be a number >= 0"),
        ({"total_steps": 10, "warmup": 1.0}, "warmup must be a fraction"),
    ],
)
def test_onecycle_bad_settings_are_explained(kwargs, message):
    with pytest.raises(EngineError, match=message):
        make_schedule("onecycle", **kwargs)
