"""The Train view: training on a background thread, controls, plots, errors, closing."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.model.graph import Graph
from cnnstudio.ui.train import QtTrainView
from cnnstudio.ui.train import qt_data_panel as data_module
from cnnstudio.ui.train import qt_train_view as train_module
from tests.ui.train.helpers import tiny_context


@pytest.fixture
def view(qtbot):
    context = tiny_context()
    v = QtTrainView(context)
    qtbot.addWidget(v)
    v.resize(1200, 800)
    yield v
    if v.session.is_active:
        v.session.shutdown(keep=False)


def _finish(qtbot, view, timeout=30000):
    with qtbot.waitSignal(view.session.run_finished, timeout=timeout) as blocker:
        pass
    return blocker.args[0]


def test_training_run_fills_plots_progress_and_project(view, qtbot):
    project = view.project
    with qtbot.waitSignal(view.session.run_finished, timeout=30000) as blocker:
        assert view.start()
        assert not view.controls.start_button.isEnabled()  # one run at a time
    result = blocker.args[0]
    assert result.outcome == "finished"
    # 160 training images (20% held out for validation), batches of 32, 2 epochs
    steps = 2 * 5
    x, y = view.plots.current.raw.getData()
    assert len(x) == steps and np.isfinite(y).all()
    assert len(view.plots.current.smooth.getData()[0]) == steps
    assert len(view.plots.current.lr.getData()[0]) == steps
    ex, acc = view.plots.current.train_acc.getData()
    assert list(ex) == [1.0, 2.0] and ((0 <= acc) & (acc <= 100)).all()
    assert len(view.plots.current.val_acc.getData()[0]) == 2
    text = view.controls.progress_label.text()
    assert "Epoch 2/2" in text and "samples/s" in text and "step 5/5" in text
    assert view.controls.progress.value() == view.controls.progress.maximum()
    # the run and the model went to the project
    assert len(project.history) == 1 and len(project.history[0].loss) == steps
    assert project.trained is not None
    assert project.trained.class_names == [str(i) for i in range(10)]
    assert view.controls.start_button.isEnabled()
    assert view.runs.list.count() == 1


def test_second_run_overlays_the_first_and_can_hide_it(view, qtbot):
    for _ in range(2):
        with qtbot.waitSignal(view.session.run_finished, timeout=30000):
            view.start()
    assert view.runs.list.count() == 2
    first = view.plots.past_items(0)
    assert first is not None and len(first.smooth.getData()[0]) == 10
    assert first.smooth.isVisible()
    item = view.runs.list.item(0)
    item.setCheckState(item.checkState().__class__.Unchecked)
    assert not first.smooth.isVisible()


def test_one_step_advances_exactly_one_step_then_one_epoch(view, qtbot):
    session = view.session
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "paused"):
        view.one_step()
    assert session.latest.step == 1
    assert view.controls.pause_button.text() == "Resume"
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "paused"):
        view.controls.step_button.click()
    assert session.latest.step == 2
    assert len(session.history.steps) == 2
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "paused"):
        view.controls.epoch_button.click()
    assert session.latest.epoch_end and session.latest.step == session.latest.steps_per_epoch
    with qtbot.waitSignal(session.run_finished, timeout=30000) as blocker:
        view.controls.stop_button.click()
    assert blocker.args[0].outcome == "stopped"
    assert view.project.trained is not None


def test_pause_resume_and_stop(qtbot):
    context = tiny_context(epochs=1000)
    view = QtTrainView(context)
    qtbot.addWidget(view)
    session = view.session
    with qtbot.waitSignal(session.progress, timeout=10000):
        view.start()
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "paused"):
        view.controls.pause_button.click()
    paused_at = session.latest.step
    qtbot.wait(150)  # the event loop runs; a paused worker must not produce steps
    assert session.latest.step == paused_at and session.state == "paused"
    assert view.controls.step_button.isEnabled() and view.controls.stop_button.isEnabled()
    view.controls.pause_button.click()  # resume
    assert session.state == "running"
    qtbot.waitUntil(lambda: session.latest.step > paused_at + 2, timeout=10000)
    with qtbot.waitSignal(session.run_finished, timeout=10000) as blocker:
        view.controls.stop_button.click()
    result = blocker.args[0]
    assert result.outcome == "stopped" and result.last.stopped
    assert result.last.step < result.last.total_steps
    assert context.project.trained is not None


def test_learning_rate_changes_while_training(view, qtbot):
    session = view.session
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "paused"):
        view.one_step()
    assert view.editor("lr").isEnabled()
    view.editor("lr").setValue(0.0005)
    with qtbot.waitSignal(session.state_changed, check_params_cb=lambda s: s == "paused"):
        view.one_step()
    assert session.latest.base_lr == pytest.approx(0.0005)
    with qtbot.waitSignal(session.run_finished, timeout=10000):
        session.stop()


def test_divergence_shows_message_and_keeps_finite_weights(qtbot):
    context = tiny_context(lr=100.0, epochs=3)
    view = QtTrainView(context)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.session.run_finished, timeout=30000) as blocker:
        view.start()
    result = blocker.args[0]
    assert result.outcome == "diverged"
    text = view.controls.message_label.text()
    assert view.controls.message_label.isVisibleTo(view)
    assert "learning rate" in text.lower() and "lower" in text.lower()
    trained = context.project.trained
    assert trained is not None
    assert all(np.isfinite(w).all() for w in trained.weights.values())


def test_invalid_graph_disables_start_with_the_reason(view):
    view.project.set_graph(Graph())
    reason = view.project.graph.inference.reason
    assert reason
    assert not view.controls.start_button.isEnabled()
    assert view.controls.start_button.toolTip() == reason
    assert not view.start()


def test_dataset_error_is_shown_and_previous_dataset_kept(view, tmp_path):
    before = view.project.dataset
    bad = tmp_path / "digits.csv"
    bad.write_text("label,p1,p2\n1,2\n")
    assert not view.data.load_source("csv", str(bad))
    assert view.project.dataset is before
    assert view.data.data_error_label.isVisibleTo(view)
    assert "digits.csv" in view.data.data_error_label.text()
    assert view.data.source_combo.currentData() == "builtin"
    assert not view.data.load_source("idx", str(tmp_path / "missing"))
    assert view.project.dataset is before


def test_image_folder_reports_skipped_files(view, tmp_path):
    from PIL import Image

    for label in ("cat", "dog"):
        folder = tmp_path / label
        folder.mkdir()
        for i in range(3):
            Image.new("L", (10, 12), 40 * i).save(folder / f"{i}.png")
    (tmp_path / "dog" / "broken.png").write_bytes(b"")
    assert view.data.load_source("folder", str(tmp_path), size=[16, 16], color="L")
    assert view.project.dataset.train.input_shape == (1, 16, 16)
    assert "1 file skipped (dog/broken.png: zero-byte file" in view.data.dataset_label.text()
    assert "broken.png" in view.data.dataset_label.toolTip()


def _slow_loader(seen, total=400, pause=0.005):
    """A stand-in for ``load_choice`` that converts ``total`` "images" slowly, reporting
    progress as the real folder loader does, and notes the thread it ran on."""
    import threading
    import time

    from cnnstudio.data import load_builtin

    split = load_builtin()
    real = data_module.load_choice

    def load(choice, samples=None, progress=None):
        if choice.kind not in data_module.FILE_KINDS:
            return real(choice, samples, progress)  # the built-in sample, drawn samples
        seen["thread"] = threading.current_thread()
        for done in range(total):
            progress(done, total)  # raises LoadCancelled once Cancel was pressed
            time.sleep(pause)
        return split

    return load, split


def _watch_progress(view):
    """A timer that counts event-loop ticks and notes the progress dialog's labels while
    it is shown: ``(timer, ticks, labels)``, started."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QProgressDialog

    ticks: list[int] = []
    labels: list[str] = []

    def look():
        ticks.append(1)
        dialog = view.findChild(QProgressDialog)
        if dialog is not None and dialog.isVisible():
            labels.append(dialog.labelText())

    timer = QTimer(interval=50)
    timer.timeout.connect(look)
    timer.start()
    return timer, ticks, labels


def test_a_slow_folder_loads_in_the_background_with_progress(view, qtbot, monkeypatch):
    # ~2 s of loading: the window keeps handling events, a dialog says how far it got.
    import threading

    from PySide6.QtWidgets import QProgressDialog

    seen: dict = {}
    loader, split = _slow_loader(seen)
    monkeypatch.setattr(data_module, "load_choice", loader)
    timer, ticks, labels = _watch_progress(view)
    try:
        assert view.data.load_source("folder", "/some/folder")
    finally:
        timer.stop()
    assert seen["thread"] is not threading.main_thread()
    assert len(ticks) >= 10  # the event loop ran all along
    assert any(" of 400 images" in text for text in labels), labels
    assert view.project.dataset is split
    assert (
        view.findChild(QProgressDialog) is None or not view.findChild(QProgressDialog).isVisible()
    )


def test_cancelling_a_slow_load_keeps_the_previous_dataset(view, qtbot, monkeypatch):
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QProgressDialog, QPushButton

    before = view.project.dataset
    seen: dict = {}
    loader, _ = _slow_loader(seen, total=100_000)  # would take minutes
    monkeypatch.setattr(data_module, "load_choice", loader)
    clicked = []

    def press_cancel():
        dialog = view.findChild(QProgressDialog)
        if dialog is None or not dialog.isVisible():
            return
        qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)
        clicked.append(1)
        timer.stop()

    timer = QTimer(interval=50)
    timer.timeout.connect(press_cancel)
    timer.start()
    assert not view.data.load_source("folder", "/some/folder")
    assert clicked == [1]
    assert view.project.dataset is before
    assert "Loading cancelled" in view.data.data_error_label.text()
    assert view.data.data_error_label.isVisibleTo(view)
    assert view.data.source_combo.currentData() == "builtin"


def test_closing_the_window_mid_training_stops_the_worker(qtbot, monkeypatch):
    from cnnstudio.ui.main_window import MainWindow

    answers = []
    monkeypatch.setattr(
        train_module, "ask_keep_weights", lambda parent: answers.append(1) or "keep"
    )
    from PySide6.QtWidgets import QMessageBox

    from cnnstudio.ui import qt_file_controller

    # the window then offers to save the project: answer "Discard"
    monkeypatch.setattr(
        qt_file_controller, "ask", lambda *a, **k: QMessageBox.StandardButton.Discard
    )
    window = MainWindow(restore_layout=False)
    qtbot.addWidget(window)
    window.context.project = tiny_context(epochs=1000).project
    view = window.view("train")
    assert isinstance(view, QtTrainView)
    window.show()
    window.show_view("train")
    with qtbot.waitSignal(view.session.progress, timeout=10000):
        assert view.start()
    assert view.session.is_active
    window.close()
    assert answers == [1]
    assert not view.session.is_active
    assert not window.isVisible()
    project = window.context.project
    assert project.trained is not None and len(project.history) == 1


def _reopen_with_folder(project):
    """File > Open of a saved project whose dataset is an image folder."""
    from cnnstudio.model.project import DatasetChoice

    data = project.to_data()
    data.dataset = DatasetChoice("folder", "/my/photos", {"size": [28, 28]}).to_dict()
    project.load_data(data, None)


def test_an_opened_project_loads_its_folder_in_the_background(view, qtbot, monkeypatch):
    import threading

    seen: dict = {}
    loader, split = _slow_loader(seen)  # ~2 s
    monkeypatch.setattr(data_module, "load_choice", loader)
    timer, ticks, labels = _watch_progress(view)
    _reopen_with_folder(view.project)  # returns at once: File > Open is not held up
    assert view.project.dataset is None
    assert "Loading" in view.data.dataset_label.text()
    assert view.data.source_combo.currentData() == "folder"
    qtbot.waitUntil(lambda: view.project.dataset is not None, timeout=20000)
    timer.stop()
    assert view.project.dataset is split
    assert view.project.dataset_choice.kind == "folder"  # the project keeps its own data
    assert seen["thread"] is not threading.main_thread()
    assert len(ticks) >= 10  # the window kept handling events
    assert any(" of 400 images" in text for text in labels), labels
    assert "training images" in view.data.dataset_label.text()


def test_cancelling_an_opened_projects_folder_falls_back_to_the_sample(view, qtbot, monkeypatch):
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QProgressDialog, QPushButton

    loader, _ = _slow_loader({}, total=100_000)  # would take minutes
    monkeypatch.setattr(data_module, "load_choice", loader)

    def press_cancel():
        dialog = view.findChild(QProgressDialog)
        if dialog is not None and dialog.isVisible():
            timer.stop()
            qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)

    timer = QTimer(interval=50)
    timer.timeout.connect(press_cancel)
    timer.start()
    _reopen_with_folder(view.project)
    qtbot.waitUntil(lambda: view.project.dataset is not None, timeout=20000)
    assert view.project.dataset_choice.kind == "builtin"
    assert view.data.source_combo.currentData() == "builtin"
    assert len(view.project.dataset.train) > 1000  # the MNIST sample, usable at once
    note = view.data.data_error_label.text()
    assert "Loading cancelled" in note and "choose it again under Source" in note
    assert view.data.data_error_label.isVisibleTo(view)


def test_a_folder_still_loading_is_dropped_when_another_project_is_opened(view, qtbot, monkeypatch):
    from PySide6.QtCore import QTimer

    loader, slow_split = _slow_loader({}, total=200)  # ~1 s
    monkeypatch.setattr(data_module, "load_choice", loader)
    project = view.project
    builtin_data = project.to_data()
    _reopen_with_folder(project)
    # While the folder loads, the user opens a project that uses the built-in sample.
    QTimer.singleShot(300, lambda: project.load_data(builtin_data, None))
    qtbot.waitUntil(lambda: project.dataset is not None, timeout=20000)
    qtbot.wait(1500)  # the folder's load has ended by now
    assert project.dataset_choice.kind == "builtin"
    assert project.dataset is not slow_split


def test_cancel_keeps_training_and_the_window_open(qtbot, monkeypatch):
    monkeypatch.setattr(train_module, "ask_keep_weights", lambda parent: "cancel")
    context = tiny_context(epochs=1000)
    view = QtTrainView(context)
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.session.progress, timeout=10000):
        view.start()
    assert view.can_close() is False
    assert view.session.is_active
    monkeypatch.setattr(train_module, "ask_keep_weights", lambda parent: "discard")
    assert view.can_close() is True
    assert not view.session.is_active
    assert context.project.trained is None  # discarded


def test_reopened_project_shows_its_runs_settings_and_reloads_its_data(view, qtbot):
    project = view.project
    with qtbot.waitSignal(view.session.run_finished, timeout=30000):
        view.start()
    data = project.to_data()
    data.training_settings["epochs"] = 7
    project.load_data(data, None)  # what File > Open does with a saved project
    assert view.editor("epochs").value() == 7
    assert project.dataset is not None  # the choice was loaded again
    assert view.runs.list.count() == 1 and view.runs.list.item(0).text().startswith("Run 1")
    assert len(view.plots.current.smooth.getData()[0]) == len(project.history[0].loss)


def test_my_drawn_samples_can_join_the_dataset(view):
    project = view.project
    drawn = np.zeros((28, 28), np.float32)
    drawn[5:23, 13:15] = 1.0
    for _ in range(6):
        project.samples.add(drawn, "1")
    before = len(view.training_data()[0]) + len(view.training_data()[1])
    view.data.add_samples_check.setChecked(True)
    assert project.dataset_choice.options["add_samples"] is True
    assert "+ 6 drawn sample(s)" in view.data.dataset_label.text()
    train, val = view.training_data()
    assert len(train) + len(val) == before + 6
    assert train.class_names == [str(i) for i in range(10)]  # "1" joined MNIST's "1"


def test_the_session_offers_the_live_model_while_training(qtbot):
    context = tiny_context(epochs=1000)
    view = QtTrainView(context)
    qtbot.addWidget(view)
    view.start()
    qtbot.waitUntil(lambda: view.session.live_model is not None, timeout=10000)
    model = view.session.live_model
    assert set(model.weights) == {"conv1.w", "conv1.b", "fc.w", "fc.b"}
    probs = model.predict_proba(context.project.dataset.train.images[:3])
    assert probs.shape == (3, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    with qtbot.waitSignal(view.session.run_finished, timeout=10000):
        view.session.stop()
    assert view.session.live_model is None  # the final model is in the project
    assert context.project.trained is not None


def test_a_deleted_session_stops_its_worker(qtbot):
    from PySide6.QtCore import QCoreApplication, QEvent

    context = tiny_context(epochs=200)
    view = QtTrainView(context)
    session = view.session
    with qtbot.waitSignal(session.progress, timeout=10000):
        view.start()
    done = session.model._shared.done
    view.deleteLater()
    context.deleteLater()  # the window went away without asking its views
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    qtbot.waitUntil(done.is_set, timeout=10000)


def test_step_decay_schedule_lowers_the_rate_each_epoch(qtbot):
    context = tiny_context(schedule="step", step_size=1, gamma=0.5, lr=0.004, epochs=3)
    view = QtTrainView(context)
    qtbot.addWidget(view)
    assert view.editor("step_size").isEnabled()
    with qtbot.waitSignal(view.session.run_finished, timeout=30000):
        view.start()
    rates = view.session.history.lr
    # five steps per epoch: 0.004, then 0.002, then 0.001
    assert rates[0] == pytest.approx(0.004) and rates[5] == pytest.approx(0.002)
    assert rates[-1] == pytest.approx(0.001)


def test_two_cores_option_trains_the_same_run_and_stops_its_helper(qtbot):
    import multiprocessing

    losses = []
    for cores in (False, True):
        v = QtTrainView(tiny_context())
        qtbot.addWidget(v)
        v.editor("processes").setChecked(cores)
        assert v.project.train_settings["processes"] == (2 if cores else 1)  # saved with it
        result = _finish_run(qtbot, v)
        assert result.outcome == "finished"
        losses.append(list(v.project.history[0].loss))
        assert v.editor("processes").isEnabled()  # editable again once the run is over
    one, two = losses
    # Batches of 32 split 16 / 16 over two processes: the same run up to float rounding.
    np.testing.assert_allclose(two, one, rtol=1e-3)
    assert not multiprocessing.active_children()  # the helper ended with the run


def _finish_run(qtbot, view):
    with qtbot.waitSignal(view.session.run_finished, timeout=30000) as blocker:
        assert view.start()
        assert not view.editor("processes").isEnabled()  # fixed while a run is going
    return blocker.args[0]


def test_every_declared_setting_has_its_widget_and_is_saved_with_the_project(qtbot):
    from cnnstudio.ui.train.train_settings import SETTING_SPECS

    context = tiny_context()
    view = QtTrainView(context)
    qtbot.addWidget(view)
    project = context.project
    assert all(view.editor(spec.name) is not None for spec in SETTING_SPECS)
    view.editor("val_split").setValue(25)  # shown in percent, kept as a share
    view.editor("shift").setValue(2)
    view.editor("optimizer").setCurrentIndex(0)  # SGD: momentum becomes editable
    assert project.train_settings["val_split"] == 0.25
    assert project.train_settings["augmentation"] == {"shift": 2}
    assert project.train_settings["optimizer"] == "sgd"
    assert view.editor("momentum").isEnabled() and not view.editor("step_size").isEnabled()
    # A project's settings (an opened file, an undo) show in the form without echoing.
    project.set_train_settings({**project.train_settings, "epochs": 9, "val_split": 0.3})
    assert view.editor("epochs").value() == 9 and view.editor("val_split").value() == 30
    assert view.settings().epochs == 9 and view.settings().val_split == 0.3


def test_a_train_and_test_image_folder_gives_a_held_out_part(view, tmp_path):
    # The Train view had its own dataset dispatch, which read train/ and test/ as two
    # classes; it now loads as the command line does.
    from PIL import Image

    for part, n in (("train", 4), ("test", 2)):
        for name, value in (("dark", 10), ("light", 240)):
            (tmp_path / part / name).mkdir(parents=True)
            for i in range(n):
                image = Image.fromarray(np.full((16, 16), value, np.uint8))
                image.save(tmp_path / part / name / f"{i}.png")
    assert view.data.load_source("folder", str(tmp_path), size=[16, 16], color="L")
    split = view.project.dataset
    assert split.train.class_names == ["dark", "light"] and len(split.train) == 8
    assert split.test is not None and len(split.test) == 4
    assert "4 held out" in view.data.dataset_label.text()


def test_the_readable_engine_setting_makes_runs_use_the_reference_tier():
    from cnnstudio.ui.train.train_settings import SETTING_SPECS, TrainSettings

    assert "readable_engine" in {spec.name for spec in SETTING_SPECS}
    assert TrainSettings().train_config().kernels == "fast"
    assert TrainSettings(readable_engine=True).train_config().kernels == "reference"
    assert TrainSettings.from_dict({"readable_engine": True}).readable_engine is True
