"""The Inspect view: feature maps, kernels, layer health and the confusion matrix.

Everything is computed from the training session's latest model (while training)
or from the project's trained model: the view asks the model for the probe image's
activations at most four times a second and never touches the network the worker
is training.
"""

from __future__ import annotations

import math
import os
from typing import Any

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from cnnstudio.engine.layers.base import format_shape
from cnnstudio.engine.metrics import Evaluation
from cnnstudio.io.model_file import TrainedModel
from cnnstudio.model.session import SnapshotBatch, TrainingResult
from cnnstudio.ui.inspect.diagnostics import layer_warnings
from cnnstudio.ui.inspect.qt_evaluation import EvalSets, QtEvaluationTab
from cnnstudio.ui.inspect.tiles import QtTileCanvas, TileGroup, pixmap
from cnnstudio.ui.train.qt_train_view import scrolling_page
from cnnstudio.ui.worker import training_session

__all__ = ["QtInspectView"]

#: Milliseconds between feature-map refreshes while training (4 a second; 2-5 wanted).
MAP_INTERVAL_MS = 250
#: Most images shown in the misclassified gallery.
GALLERY_LIMIT = 200


#: Names of a colour image's channels, in the order the data stores them.
RGB_NAMES = ("R", "G", "B")


def _shape_text(shape: tuple[int, ...]) -> str:
    return f"{shape[0]} units" if len(shape) == 1 else format_shape(shape)


def reads_colour_picture(net: Any, nid: str) -> bool:
    """Whether Conv2D ``nid`` is a first layer over a colour (3-channel) input image.

    Walks back through the layers before it (e.g. a Dropout on the input) to the
    Input node; another Conv2D or a Dense on the way means ``nid`` is deeper.
    """
    src = nid
    while True:
        inputs = net.inputs.get(src) or []
        if len(inputs) != 1:
            return False
        src = inputs[0]
        kind = getattr(net.nodes[src], "type_name", "")
        if kind == "Input":
            return tuple(net.shapes[src])[:1] == (3,)
        if kind in ("Conv2D", "Dense"):
            return False


class QtInspectView(QWidget):
    """Look inside the network while it learns and after.

    Built as ``QtInspectView(context, parent)``.

    Signals
    -------
    maps_updated()
        After each feature-map refresh (for the benchmark and tests).
    evaluated(object)
        An ``engine.metrics.Evaluation`` was computed and shown.
    """

    maps_updated = Signal()
    evaluated = Signal(object)

    def __init__(self, context: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self.session = training_session(context)
        self._drawn_key: tuple | None = None
        self._model: TrainedModel | None = None
        self._model_label = ""
        self._layer_stats: dict[str, dict[str, float]] | None = None
        self._zoom: tuple[str, int] | None = None
        self._acts: dict[str, np.ndarray] = {}
        self._probe: np.ndarray | None = None
        #: Feature-map refreshes so far.
        self.map_updates = 0
        self._needs_evaluation = False
        self._build_ui()
        # The session's progress comes ten times a second; feature maps need fewer.
        self._refresh_soon = qthrottled(self._on_tick, timeout=MAP_INTERVAL_MS, parent=self)
        self.session.run_started.connect(self._on_run_started)
        self.session.progress.connect(self._on_progress)
        self.session.run_finished.connect(self._on_run_finished)
        context.drawing_changed.connect(self._on_drawing_changed)
        self._watched: Any = None
        self._watch_project()
        self.refresh()

    # -- project -------------------------------------------------------------------------
    @property
    def project(self) -> Any:
        return getattr(self._context, "project", None)

    def _watch_project(self) -> None:
        project = self.project
        if project is None or project is self._watched:
            return
        self._watched = project
        project.events.trained_changed.connect(self._on_trained_changed)
        project.events.dataset_changed.connect(self._on_dataset_changed)
        self._on_dataset_changed()

    # -- UI ------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        page = scrolling_page(self)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(6, 6, 6, 6)
        top = QHBoxLayout()
        self.model_label = QLabel("No trained model yet: train one in the Train view.")
        self.model_label.setObjectName("inspectModel")
        # Long labels are cut rather than widening the page.
        self.model_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.model_label.setMinimumWidth(150)
        top.addWidget(self.model_label, 1)
        top.addWidget(QLabel("Probe:"))
        self.probe_source = QComboBox()
        self.probe_source.addItem("Dataset image", "dataset")
        self.probe_source.addItem("My drawing", "drawing")
        top.addWidget(self.probe_source)
        self.probe_index = QSpinBox()
        self.probe_index.setPrefix("#")
        self.probe_index.setRange(0, 0)
        self.probe_index.setToolTip("Which image of the evaluation set to run through the network")
        top.addWidget(self.probe_index)
        self.probe_label = QLabel()
        self.probe_label.setFixedSize(36, 36)
        self.probe_label.setScaledContents(False)
        top.addWidget(self.probe_label)
        self.prediction_label = QLabel("")
        self.prediction_label.setMinimumWidth(150)
        top.addWidget(self.prediction_label)
        self.send_probe_button = QPushButton("Send to Draw && Predict")
        top.addWidget(self.send_probe_button)
        layout.addLayout(top)

        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)

        # feature maps
        maps_page = QSplitter(Qt.Orientation.Horizontal)
        self.maps = QtTileCanvas(tile_size=52)
        self.maps.empty_text = "Feature maps appear once a network is trained or training."
        maps_scroll = QScrollArea()
        maps_scroll.setWidget(self.maps)
        maps_scroll.setWidgetResizable(True)
        maps_page.addWidget(maps_scroll)
        zoom = QWidget()
        zl = QVBoxLayout(zoom)
        self.zoom_caption = QLabel("Click a channel to enlarge it.")
        self.zoom_caption.setWordWrap(True)
        self.zoom_image = QLabel()
        self.zoom_image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.zoom_image.setMinimumSize(160, 160)
        # The pixmap follows the panel's size, never the other way round.
        self.zoom_image.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        zl.addWidget(self.zoom_caption)
        zl.addWidget(self.zoom_image, 1)
        maps_page.addWidget(zoom)
        maps_page.setStretchFactor(0, 1)
        maps_page.setSizes([800, 260])
        self.tabs.addTab(maps_page, "Feature maps")

        # kernels
        kernels_page = QWidget()
        kl = QVBoxLayout(kernels_page)
        krow = QHBoxLayout()
        self.kernel_legend = QLabel()
        self.kernel_legend.setWordWrap(True)
        krow.addWidget(self.kernel_legend, 1)
        self.kernel_per_channel = QCheckBox("Per channel")
        self.kernel_per_channel.setToolTip(
            "Off: one tile per kernel (a colour patch for the first layer of a photo "
            "network, deeper kernels averaged over their input channels).\n"
            "On: every input channel of every kernel as its own tile (R, G, B for the "
            "first layer of a photo network)."
        )
        krow.addWidget(self.kernel_per_channel)
        kl.addLayout(krow)
        self.kernels = QtTileCanvas(tile_size=64)
        self.kernels.empty_text = "The network has no Conv2D layer, or no weights yet."
        kscroll = QScrollArea()
        kscroll.setWidget(self.kernels)
        kscroll.setWidgetResizable(True)
        kl.addWidget(kscroll, 1)
        self.tabs.addTab(kernels_page, "Kernels")

        # layer health
        health = QWidget()
        hl = QVBoxLayout(health)
        self.health_note = QLabel(
            "Weight and gradient magnitude per layer (from the latest training snapshot)."
        )
        self.health_note.setWordWrap(True)
        hl.addWidget(self.health_note)
        self.layer_table = QTableWidget(0, 6)
        self.layer_table.setHorizontalHeaderLabels(
            ["Layer", "‖W‖", "mean |W|", "‖grad‖", "mean |grad|", "Dead ReLUs"]
        )
        self.layer_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.layer_table.verticalHeader().setVisible(False)
        self.layer_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        hl.addWidget(self.layer_table, 1)
        self.warnings_label = QLabel()
        self.warnings_label.setObjectName("layerWarnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #a04000;")
        hl.addWidget(self.warnings_label)
        self.tabs.addTab(health, "Layer health")
        self.evaluation_tab = QtEvaluationTab(self._model_and_label, self._eval_sets)
        self.evaluation_tab.evaluated.connect(self.evaluated)
        self.evaluation_tab.send_image.connect(self._send)
        self.tabs.addTab(self.evaluation_tab, "Evaluation")

        self.probe_source.currentIndexChanged.connect(self._on_probe_changed)
        self.probe_index.valueChanged.connect(self._on_probe_changed)
        self.send_probe_button.clicked.connect(self.send_probe)
        self.maps.tile_clicked.connect(self._on_map_clicked)
        self.kernel_per_channel.toggled.connect(lambda _on: self.refresh(force=True))
        self.tabs.currentChanged.connect(lambda _i: self.refresh(force=True))

    # -- the model ------------------------------------------------------------------------
    def current_model(self) -> TrainedModel | None:
        """The live model while training, else the project's trained model.

        Also sets what the view says about it (``_model_label``) and the layer
        statistics of the latest training snapshot (``_layer_stats``).
        """
        live = self.session.live_model
        snap = self.session.latest_rich
        job = self.session.job
        if live is not None and snap is not None and job is not None:
            self._model_label = f"Live: {job.name}, epoch {snap.epoch}, step {snap.step}"
            self._layer_stats = snap.layer_stats
            return live
        trained = getattr(self.project, "trained", None)
        if trained is None:
            return None
        self._layer_stats = snap.layer_stats if job is not None and snap is not None else None
        summary = trained.training_summary or {}
        self._model_label = "Trained model"
        if summary.get("val_accuracy") is not None:
            self._model_label += f" (validation {summary['val_accuracy'] * 100:.1f}%)"
        return trained

    # -- data -----------------------------------------------------------------------------
    @property
    def evaluation(self) -> Evaluation | None:
        """The evaluation on display (None while training or before one ran)."""
        return self.evaluation_tab.evaluation

    def _model_and_label(self) -> tuple[TrainedModel | None, str]:
        model = self.current_model()
        return model, self._model_label

    def _eval_sets(self) -> EvalSets:
        """Evaluation sets by name: the run's validation part and the held-out test part."""
        out: EvalSets = {}
        job = self.session.job
        if job is not None and job.val_data is not None:
            out["Validation"] = (job.val_data[0], job.val_data[1], list(job.class_names))
        project = self.project
        split = getattr(project, "dataset", None)
        if split is not None:
            if "Validation" not in out:
                settings = getattr(project, "train_settings", {}) or {}
                fraction = float(settings.get("val_split", 0.1) or 0.0)
                if 0 < fraction < 1 and len(split.train) > 1:
                    _, val = split.train.split(fraction, seed=int(settings.get("seed", 0)))
                    if len(val):
                        out["Validation"] = (val.images, val.labels, list(val.class_names))
            if split.test is not None:
                t = split.test
                out["Test (held out)"] = (t.images, t.labels, list(t.class_names))
        return out

    def _on_dataset_changed(self) -> None:
        self.evaluation_tab.set_sets(list(self._eval_sets()))
        probe_set = self._probe_images()
        self.probe_index.setRange(0, max(len(probe_set) - 1, 0) if probe_set is not None else 0)
        self.refresh(force=True)

    def _probe_images(self) -> np.ndarray | None:
        split = getattr(self.project, "dataset", None)
        if split is None:
            return None
        return (split.test if split.test is not None else split.train).images

    def probe_image(self, model: TrainedModel) -> np.ndarray | None:
        """The probe as float32 (C, H, W) in [0, 1], at the model's input size."""
        c, h, w = model.input_shape if len(model.input_shape) == 3 else (1, 0, 0)
        if self.probe_source.currentData() == "drawing":
            drawing = getattr(self._context, "last_drawing", None)
            if drawing is None:
                return None
            d = np.asarray(drawing, dtype=np.float32)
            if d.ndim == 2 and d.shape != (h, w):
                from cnnstudio.data.preprocess import preprocess_digit

                d = preprocess_digit(d, (h, w), invert=False)
            if d.ndim == 2:
                d = np.repeat(d[None], c, axis=0)
            return d if d.shape == (c, h, w) else None
        images = self._probe_images()
        if images is None or len(images) == 0:
            return None
        img = images[min(self.probe_index.value(), len(images) - 1)]
        if img.shape != (c, h, w):
            return None
        return img.astype(np.float32) / 255.0

    # -- refreshing ----------------------------------------------------------------------
    def _on_tick(self) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self, force: bool = False) -> None:
        """Redraw from the current model if its weights or the probe changed."""
        self._watch_project()
        model = self.current_model()
        self._model = model
        if model is None:
            self.model_label.setText("No trained model yet: train one in the Train view.")
            self.model_label.setToolTip(self.model_label.text())
            self.maps.set_groups([])
            self.kernels.set_groups([])
            return
        key = (model, self._probe_key())
        if not force and key == self._drawn_key:
            return
        self._drawn_key = key
        self.model_label.setText(self._model_label)
        self.model_label.setToolTip(self._model_label)
        probe = self.probe_image(model)
        self._probe = probe
        page = self.tabs.currentIndex()
        if probe is not None:
            self._acts = model.activations(probe)
            self._show_probe(probe, model)
            if page == 0 or force:
                self._draw_maps(model)
        else:
            self._acts = {}
            self.maps.set_groups([])
            self.prediction_label.setText("no probe image")
        if page == 1 or force:
            self._draw_kernels(model)
        if page == 2 or force:
            self._draw_health(model)
        self.map_updates += 1
        self.maps_updated.emit()

    def _probe_key(self) -> tuple:
        if self.probe_source.currentData() == "drawing":
            return ("drawing", id(getattr(self._context, "last_drawing", None)))
        return ("dataset", self.probe_index.value(), id(self._probe_images()))

    def _show_probe(self, probe: np.ndarray, model: TrainedModel) -> None:
        self.probe_label.setPixmap(pixmap(probe, 34))
        net = model.network()
        out = self._acts.get(net.output_id)
        if out is not None and out.ndim == 2 and net.output_activation == "softmax":
            p = out[0]
            k = int(np.argmax(p))
            name = model.class_names[k] if k < len(model.class_names) else str(k)
            self.prediction_label.setText(f"predicted {name} ({p[k] * 100:.0f}%)")

    def _draw_maps(self, model: TrainedModel) -> None:
        net = model.network()
        groups = []
        for nid, a in self._acts.items():
            layer = net.nodes[nid]
            kind = getattr(layer, "type_name", type(layer).__name__)
            shape = net.shapes[nid]
            act = a[0]
            if act.ndim == 3:
                tiles = act
                labels = None
            elif nid == net.output_id and act.ndim == 1 and act.size <= 64:
                tiles = act.reshape(-1, 1, 1)
                names = model.class_names
                labels = [
                    f"{names[i] if i < len(names) else i}: {v * 100:.0f}%"
                    for i, v in enumerate(act)
                ]
            else:
                flat = act.reshape(-1)
                cols = min(flat.size, 16)
                rows = -(-flat.size // cols)
                padded = np.full(rows * cols, np.nan, dtype=np.float32)
                padded[: flat.size] = flat
                tiles = padded.reshape(1, rows, cols)
                labels = None
            caption = f"{nid} · {kind} · {_shape_text(shape)}"
            if kind == "Input" and act.ndim == 3 and act.shape[0] == 3:
                groups.extend(self._input_groups(model, nid, caption, act))
                continue
            if nid == net.output_id and labels is not None:
                caption = f"{nid} · {kind} · class probabilities"
                groups.append(TileGroup(nid, caption, tiles, tile_labels=labels))
                groups[-1].levels = (0.0, 1.0)
                continue
            groups.append(TileGroup(nid, caption, tiles, tile_labels=labels))
        self.maps.set_groups(groups)
        if self._zoom is not None:
            self._show_zoom(*self._zoom)

    def _input_groups(
        self, model: TrainedModel, nid: str, caption: str, act: np.ndarray
    ) -> list[TileGroup]:
        """A colour input: the picture itself, then its channels as the network gets them."""
        groups = []
        if self._probe is not None and self._probe.shape == act.shape:
            groups.append(
                TileGroup(
                    nid,
                    f"{caption} · the picture",
                    self._probe[None],
                    tooltip="The probe image in colour, as it is before normalisation.",
                )
            )
        normalised = getattr(model.normalization, "mean", None) is not None
        how = "normalised per channel" if normalised else "scaled to 0..1"
        groups.append(
            TileGroup(
                f"{nid}:channels",
                f"{nid} · its 3 channels as the network receives them ({how})",
                act,
                tile_labels=list(RGB_NAMES),
                tooltip="One channel of the picture in grey, darkest to brightest value.",
            )
        )
        return groups

    def _on_map_clicked(self, key: str, index: int) -> None:
        self._zoom = (key, index)
        self._show_zoom(key, index)

    def _show_zoom(self, key: str, index: int) -> None:
        group = next((g for g in self.maps.groups if g.key == key), None)
        if group is None or index >= group.tiles.shape[0]:
            return
        tile = group.tiles[index]
        lo, hi = group.levels
        scaled = (np.nan_to_num(tile, nan=lo) - lo) / (hi - lo if hi > lo else 1.0)
        side = max(min(self.zoom_image.width(), self.zoom_image.height()), 160) - 10
        pix = pixmap(scaled, side)
        self.zoom_image.setPixmap(pix)
        h, w = group.tile_shape
        if group.colour:
            self.zoom_caption.setText(f"<b>{key}</b>: the {h}x{w} picture in colour")
        else:
            self.zoom_caption.setText(
                f"<b>{key}</b>, channel {index + 1} of {group.tiles.shape[0]}<br>"
                f"{h}x{w}, values {np.nanmin(tile):.3g} to {np.nanmax(tile):.3g}"
            )
        self.maps.set_selected(key, index)

    def _draw_kernels(self, model: TrainedModel) -> None:
        net = model.network()
        groups = []
        per_channel = self.kernel_per_channel.isChecked()
        any_colour = False
        for nid, layer in net.nodes.items():
            if getattr(layer, "type_name", "") != "Conv2D":
                continue
            w = model.weights.get(f"{nid}.w")
            if w is None or w.ndim != 4:
                continue
            cout, cin, kh, kw = w.shape
            head = f"{nid} · {cout} kernels {kh}x{kw}"
            if cin == 3 and reads_colour_picture(net, nid):
                any_colour = True
                groups.append(self._colour_kernels(nid, head, w, per_channel))
                continue
            if per_channel:
                tiles = w.reshape(cout * cin, kh, kw)
            else:
                tiles = w.mean(axis=1)
            caption = f"{head} over {cin} input channel(s)" + (
                " (each input channel)" if per_channel and cin > 1 else ""
            )
            groups.append(TileGroup(nid, caption, tiles, symmetric=True, tooltip="blue < 0 < red"))
        if any_colour and not per_channel:
            legend = (
                "Conv kernels. First layer: one colour patch per kernel (grey is 0); "
                "deeper layers: blue < 0 < red."
            )
        else:
            legend = "Conv kernels: blue < 0 < red."
        self.kernel_legend.setText(legend)
        self.kernels.set_groups(groups)

    @staticmethod
    def _colour_kernels(nid: str, head: str, w: np.ndarray, per_channel: bool) -> TileGroup:
        """The first layer of a photo network: each kernel one RGB patch, or its slices."""
        cout, _cin, kh, kw = w.shape
        m = float(np.abs(w).max()) if w.size else 0.0
        if per_channel:
            labels = [f"{k + 1} {c}" for k in range(cout) for c in RGB_NAMES]
            return TileGroup(
                nid,
                f"{head} over R, G, B (each channel: blue < 0 < red, ±{m:.2g})",
                w.reshape(cout * 3, kh, kw),
                symmetric=True,
                tile_labels=labels,
                tooltip="One colour channel of a kernel: blue < 0 < red.",
                run=3,
            )
        return TileGroup(
            nid,
            f"{head} over R, G, B as colour patches: mid-grey is 0, each channel "
            f"128 ± 127·w/{m:.2g} (the layer's largest |w|)",
            w,
            symmetric=True,
            tooltip=(
                "Each 3-channel kernel as one RGB patch, every channel scaled by the "
                f"layer's largest |weight| ({m:.2g}): mid-grey is 0; more red than grey "
                "means a positive weight on the picture's red, less a negative one "
                "(same for green and blue). Tick Per channel to see the slices apart."
            ),
        )

    def _draw_health(self, model: TrainedModel) -> None:
        stats = self._layer_stats
        if not stats:
            # A trained model without a snapshot: weights only.
            stats = {}
            for key, arr in model.weights.items():
                layer = key.rpartition(".")[0]
                s = stats.setdefault(layer, {"_sq": 0.0, "_abs": 0.0, "_n": 0})
                s["_sq"] += float(np.square(arr, dtype=np.float64).sum())
                s["_abs"] += float(np.abs(arr).sum(dtype=np.float64))
                s["_n"] += arr.size
            stats = {
                k: {
                    "weight_norm": math.sqrt(v["_sq"]),
                    "weight_mean_abs": v["_abs"] / max(v["_n"], 1),
                }
                for k, v in stats.items()
            }
            self.health_note.setText(
                "Weights of the trained model (gradients show while training)."
            )
        else:
            self.health_note.setText(
                "Weight and gradient magnitude per layer (from the latest training snapshot)."
            )
        if stats:
            order = {nid: i for i, nid in enumerate(model.network().nodes)}
            stats = dict(sorted(stats.items(), key=lambda kv: order.get(kv[0], len(order))))
        warnings = layer_warnings(stats)
        self.layer_table.setRowCount(len(stats))

        def fmt(v: float | None, pct: bool = False) -> str:
            if v is None:
                return "–"
            return f"{v * 100:.0f}%" if pct else f"{v:.3g}"

        for row, (name, st) in enumerate(stats.items()):
            values = [
                name,
                fmt(st.get("weight_norm")),
                fmt(st.get("weight_mean_abs")),
                fmt(st.get("grad_norm")),
                fmt(st.get("grad_mean_abs")),
                fmt(st.get("dead_fraction"), pct=True),
            ]
            for col, text in enumerate(values):
                item = QTableWidgetItem(text)
                if name in warnings:
                    item.setBackground(QBrush(QColor(255, 224, 178)))
                    item.setToolTip(warnings[name])
                self.layer_table.setItem(row, col, item)
        self.warnings_label.setStyleSheet("color: #a04000;" if warnings else "color: #1b5e20;")
        self.warnings_label.setText(
            "\n".join(f"⚠ {name}: {text}" for name, text in warnings.items())
            if warnings
            else "No warnings: no dead ReLU layers, no vanishing or exploding gradients."
        )

    def send_probe(self) -> None:
        model = self._model or self.current_model()
        if model is None:
            return
        probe = self.probe_image(model)
        if probe is not None:
            self._send(probe, f"probe image #{self.probe_index.value()}")

    def _send(self, image: np.ndarray, caption: str) -> None:
        a = np.asarray(image)
        a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
        if a.ndim == 3 and a.shape[0] == 1:
            a = a[0]
        self._context.image_to_predict.emit(np.ascontiguousarray(a), caption)

    # -- session / project events ------------------------------------------------------------
    def _on_run_started(self, _job: Any) -> None:
        self._on_dataset_changed()

    def _on_progress(self, batch: SnapshotBatch) -> None:
        self._refresh_soon()
        job = self.session.job
        if job is not None:
            self.evaluation_tab.show_live(batch.snapshots, job.class_names)

    def _on_run_finished(self, _result: TrainingResult) -> None:
        # After the other views have taken the new model, in its own turn of the event
        # loop: one long stall split into two short ones.
        QTimer.singleShot(0, self, self._after_run)

    def _after_run(self) -> None:
        if not self.isVisible():
            self._needs_evaluation = True  # done when the view is shown
            return
        self._needs_evaluation = False
        self.refresh(force=True)
        if self._model is not None:
            self.evaluation_tab.choose("Validation")
            self.evaluation_tab.run_evaluation_in_background()

    def _on_trained_changed(self) -> None:
        if not self.session.is_active:
            self.evaluation_tab.evaluation = None
            self.refresh(force=True)

    def _on_drawing_changed(self, _image: Any) -> None:
        if self.probe_source.currentData() == "drawing" and self.isVisible():
            self.refresh()

    def _on_probe_changed(self, *_args: Any) -> None:
        self.refresh(force=True)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if self._needs_evaluation:
            self._after_run()
        else:
            self.refresh(force=True)
