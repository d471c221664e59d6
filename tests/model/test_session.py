"""The training session without Qt: a run driven by a plain loop, its history and model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnstudio.engine.training import TrainConfig
from cnnstudio.model.graph import Graph
from cnnstudio.model.session import (
    BATCH_INTERVAL,
    EMA_DECAY,
    RunHistory,
    TrainingSession,
    make_job,
)
from tests.archs import chain


def tiny_split():
    """Every 20th built-in training digit (200, balanced classes)."""
    from cnnstudio.data import DatasetSplit, load_builtin

    full = load_builtin()
    return DatasetSplit(train=full.train.subset(np.linspace(0, 3999, 200).astype(int)))


TINY_ARCH = chain(
    (1, 28, 28),
    ("Conv2D", {"filters": 4, "kernel_size": 3}),
    ("ReLU", {}),
    ("MaxPool2D", {"pool_size": 2}),
    ("Flatten", {}),
    ("Dense", {"units": 10}),
    ("Softmax", {}),
)


class FakeProject:
    def __init__(self) -> None:
        self.history: list[RunHistory] = []
        self.trained = None

    def add_run(self, run: RunHistory) -> None:
        self.history.append(run)

    def set_trained(self, model) -> None:
        self.trained = model


def job(epochs: int = 2, **config):
    split = tiny_split()
    train, val = split.train.split(0.2, seed=0)
    cfg = TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, snapshot_interval=0.0, **config)
    return make_job(
        Graph.from_architecture(TINY_ARCH),
        train,
        val,
        cfg,
        name="Run 1",
        settings={"epochs": epochs},
    )


def drive(session: TrainingSession, batches, *, until=None) -> list:
    """What a worker and its listener do, in one thread."""
    seen = []
    for batch in batches:
        session.receive(batch)
        seen.append(batch)
        if until is not None and until(batch):
            break
    return seen


def test_a_run_fills_the_history_and_puts_run_and_model_in_the_project():
    session, project = TrainingSession(), FakeProject()
    batches = drive(session, session.start(job(epochs=2)))
    assert batches[-1].last.done
    result = session.finish(project=project)
    assert result.outcome == "finished" and session.state == "idle"
    history = session.history
    assert history is not None and len(history.steps) == 10  # 160 images, batches of 32
    assert history.epochs == [1, 2] and len(history.val_accuracy) == 2
    assert project.history == [history] and project.trained is result.model
    probs = result.model.predict_proba(tiny_split().train.images[:4])
    assert probs.shape == (4, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_snapshots_reach_the_listener_in_batches_at_one_rate():
    # Epoch ends and rich snapshots used to force a batch of their own: with tiny epochs
    # the GUI got one signal per step or two.
    session = TrainingSession()
    batches = drive(session, session.start(job(epochs=30)))
    steps = sum(len(b.snapshots) for b in batches)
    assert steps == 150
    assert len(batches) <= max(2, 1 + math.ceil(batches[-1].last.elapsed / BATCH_INTERVAL))
    session.finish()


def test_the_live_model_follows_the_latest_rich_snapshot_while_the_run_is_active():
    session = TrainingSession()
    assert session.live_model is None
    drive(session, session.start(job(epochs=1)), until=lambda b: session.latest_rich is not None)
    live = session.live_model
    assert live is not None and live is session.live_model  # one model per snapshot
    rich = session.latest_rich.weights
    assert set(live.weights) == set(rich) and all(live.weights[k] is rich[k] for k in rich)
    session.release()
    session.finish(keep=False)
    assert session.live_model is None


def test_one_step_runs_exactly_one_optimizer_step_then_pauses():
    session = TrainingSession()
    batches = session.start(job(epochs=1), then_pause="step")
    first = next(batches)
    session.receive(first)
    assert first.paused and [s.step for s in first.snapshots] == [1]
    assert session.state == "paused"
    session.step_once()
    assert session.state == "running"
    second = next(batches)
    assert second.paused and [s.step for s in second.snapshots] == [2]
    session.stop()
    drive(session, batches)
    result = session.finish(keep=False)
    assert result.outcome == "stopped" and result.model is None


def test_smoothing_is_the_bias_corrected_average_and_skips_non_finite_losses():
    history = RunHistory("r", loss=[2.0, float("nan"), 1.0])
    ema, n, want = 0.0, 0, []
    for loss in (2.0, None, 1.0):
        if loss is not None:
            ema = EMA_DECAY * ema + (1 - EMA_DECAY) * loss
            n += 1
        want.append(ema / (1 - EMA_DECAY**n))
    assert history.smooth == pytest.approx(want)
    history.loss.append(0.5)  # grows with the run, without recomputing the start
    assert len(history.smooth) == 4 and history.smooth[:3] == pytest.approx(want)


def test_a_saved_run_round_trips_and_cannot_set_the_smoothing_state():
    history = RunHistory("Run 1", {"lr": 0.1}, steps=[1, 2], loss=[1.0, 0.5], lr=[0.1, 0.1])
    data = history.to_dict()
    assert "_smooth" not in data and "smooth" not in data
    assert RunHistory.from_dict(data) == history
    hostile = {**data, "_smooth": [9.0, 9.0], "_ema_n": 5}
    assert RunHistory.from_dict(hostile).smooth == pytest.approx(history.smooth)
    with pytest.raises(ValueError, match="loss must be a list"):
        RunHistory.from_dict({"name": "x", "loss": 3})
