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
