"""Draw & Predict: draw a digit (or open a picture), see the prediction live, and why.

What the user sees, left to right: the drawing pad with its tools; the exact image
the network receives (after MNIST-style preprocessing) with an optional saliency
overlay; the probability of every class with the top one large. Below: every
layer's feature maps for the drawing, and "Teach": label the drawing and add it to
the project's own samples.

With a photo model (colour input, no digit preprocessing) the pad steps aside for the
photo: open one, drop one or paste one (Ctrl+V). The view then shows the photo's way
into the network: the picture with its centre crop outlined, the crop resized to the
input size, and that input after the model's per-channel normalisation, in colour.
"Predict a folder…" (both kinds of model) fills a sortable table with every picture
of a folder (:mod:`cnnstudio.ui.predict.qt_folder_predict`).

The view predicts with ``project.trained`` or, while training runs, with the training
session's latest model (asked for at most four times a second).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QIcon,
    QImage,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from cnnstudio.data.errors import DatasetError
from cnnstudio.data.folder import IMAGE_EXTENSIONS
from cnnstudio.data.preprocess import preprocess_digit
from cnnstudio.model.photo_input import (
    PhotoInput,
    is_photo_model,
    photo_from_array,
    photo_from_file,
)
from cnnstudio.ui.predict.qt_drawing_pad import QtDrawingPad
from cnnstudio.ui.predict.qt_feature_strip import QtFeatureStrip, array_to_qimage
from cnnstudio.ui.predict.qt_folder_predict import QtFolderPredictDialog
from cnnstudio.ui.predict.qt_photo import (
    QtCroppedPicture,
    QtPixelImage,
    chw_to_qimage,
    qimage_to_array,
)
from cnnstudio.ui.worker import training_session

__all__ = ["NOT_SURE_BELOW", "QtPredictView"]

#: The drawing is rendered at this size before preprocessing: 5x the 28 px input keeps
#: the anti-aliasing, and rendering and cropping stay fast.
INK_SIZE = 140
#: Below this top-class probability the view says "not sure".
NOT_SURE_BELOW = 0.5
#: Milliseconds between predictions with the live model while training (4 a second).
LIVE_INTERVAL_MS = 250
#: Image files a user may open or drop.
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
IMAGE_SUFFIXES = IMAGE_EXTENSIONS
#: A normalised input is drawn with 0 as mid-grey and +-this many standard deviations
#: as the ends of the scale (nearly every pixel of a photo falls inside).
NORMALIZED_RANGE = 2.5
#: What to do about a file that is not a picture (a too large one already says "shrink it").
_WHAT_TO_DO = "Open, drop or paste a picture (PNG, JPEG, BMP, GIF, TIFF or WebP)."
_ERROR_STYLE = "color: #b71c1c; background: #fdecea; padding: 4px; border-radius: 3px;"
_NOTE_STYLE = "color: #7a4f00; background: #fff4d6; padding: 4px; border-radius: 3px;"


class QtPredictView(QWidget):
    """The Draw & Predict page.

    Signals
    -------
    prediction_updated(object)
        After each prediction: the probabilities (1-D float array), or None when
        there is no model or nothing drawn.
    """

    prediction_updated = Signal(object)

    def __init__(self, context: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.setAcceptDrops(True)
        self._session = training_session(context)
        self._shown_model: Any = None  # the model of the prediction on screen
        self._image_input: np.ndarray | None = None  # an opened picture (C, H, W) in [0, 1]
        self._image_caption = ""
        self._photo: PhotoInput | None = None  # the photo shown to a photo model
        self._photo_mode = False
        self.folder_dialog: QtFolderPredictDialog | None = None
        self.last_input: np.ndarray | None = None  # what the network last received (C,H,W)
        self.last_probabilities: np.ndarray | None = None
        self.last_latency_ms = 0.0

        self.pad = QtDrawingPad()
        self.pad.stroke_changed.connect(self._schedule_update)
        self.pad.drawing_changed.connect(self._on_drawing_changed)

        # Live prediction is throttled: strokes arrive at mouse rate, a prediction
        # runs at most every ~30 ms and always once after the last segment.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self.update_prediction)

        layout = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Vertical)
        layout.addWidget(splitter)
        top = QWidget()
        top_layout = QHBoxLayout(top)
        top_layout.addWidget(self._build_left_panel(), 3)
        top_layout.addWidget(self._build_input_panel(), 2)
        top_layout.addWidget(self._build_prediction_panel(), 3)
        splitter.addWidget(top)
        bottom = QWidget()
        bottom_layout = QHBoxLayout(bottom)
        maps_box = QGroupBox("Why: what each layer makes of the drawing")
        self.maps_box = maps_box
        maps_layout = QVBoxLayout(maps_box)
        self.feature_strip = QtFeatureStrip()
        maps_layout.addWidget(self.feature_strip)
        bottom_layout.addWidget(maps_box, 3)
        bottom_layout.addWidget(self._build_teach_panel(), 2)
        splitter.addWidget(bottom)
        splitter.setSizes([420, 300])

        project = getattr(context, "project", None)
        if project is not None:
            project.events.trained_changed.connect(self._on_trained_changed)
            project.events.samples_changed.connect(self._refresh_samples)
            project.events.dataset_changed.connect(self._refresh_labels)
        # Training changes the model ten times a second; predictions follow it at most
        # four times a second, and go back to the trained model when the run ends.
        self._follow_live = qthrottled(self._on_live_model, timeout=LIVE_INTERVAL_MS, parent=self)
        self._session.progress.connect(self._on_progress)
        self._session.run_finished.connect(self._on_run_finished)
        context.image_to_predict.connect(self.show_image)
        paste = QAction("Paste a picture", self)
        paste.setShortcut(QKeySequence(QKeySequence.StandardKey.Paste))
        # Anywhere in the window while this view shows (a hidden view's shortcut is off,
        # so the canvas keeps Ctrl+V for its blocks; a text field keeps it for text).
        paste.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        paste.triggered.connect(lambda _checked=False: self.paste_image())
        self.addAction(paste)
        self.paste_action = paste
        self._refresh_labels()
        self._refresh_samples()
        self.update_prediction()

    # -- layout ---------------------------------------------------------------------
    def _build_left_panel(self) -> QWidget:
        """The pad (digits) or the photo (photo models) in one box, and an inline message."""
        self.left_box = QGroupBox("Draw")
        layout = QVBoxLayout(self.left_box)
        self.left_stack = QStackedWidget()
        self.left_stack.addWidget(self._build_pad_page())
        self.left_stack.addWidget(self._build_photo_page())
        layout.addWidget(self.left_stack, 1)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(_ERROR_STYLE)
        self.error_label.setVisible(False)
        layout.addWidget(self.error_label)
        return self.left_box

    def _build_photo_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self.photo_view = QtCroppedPicture()
        self.photo_view.setToolTip("The dashed box is the part resized to the network's input")
        layout.addWidget(self.photo_view, 1)
        self.photo_caption = QLabel()
        self.photo_caption.setWordWrap(True)
        layout.addWidget(self.photo_caption)
        self.photo_notes_label = QLabel()
        self.photo_notes_label.setWordWrap(True)
        self.photo_notes_label.setStyleSheet(_NOTE_STYLE)
        self.photo_notes_label.setVisible(False)
        layout.addWidget(self.photo_notes_label)
        tools = QHBoxLayout()
        self.open_photo_button = QPushButton("Open photo…")
        self.open_photo_button.setToolTip("Predict a picture file (or drop one onto this view)")
        self.open_photo_button.clicked.connect(self._ask_open_image)
        tools.addWidget(self.open_photo_button)
        self.paste_button = QPushButton("Paste (Ctrl+V)")
        self.paste_button.setToolTip("Predict the picture on the clipboard")
        self.paste_button.clicked.connect(lambda: self.paste_image())
        tools.addWidget(self.paste_button)
        tools.addStretch(1)
        layout.addLayout(tools)
        return page

    def _build_pad_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pad, 1)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Pen"))
        self.width_slider = QSlider(Qt.Orientation.Horizontal)
        self.width_slider.setRange(3, 20)  # percent of the pad's side / 100 * 100
        self.width_slider.setValue(round(QtDrawingPad.DEFAULT_WIDTH * 100))
        self.width_slider.setToolTip("Pen width")
        self.width_slider.valueChanged.connect(lambda v: self.pad.set_pen_width(v / 100))
        tools.addWidget(self.width_slider, 1)
        self.eraser_button = QToolButton()
        self.eraser_button.setText("Eraser")
        self.eraser_button.setCheckable(True)
        self.eraser_button.toggled.connect(self.pad.set_eraser)
        tools.addWidget(self.eraser_button)
        self.undo_button = QToolButton()
        self.undo_button.setText("Undo stroke")
        self.undo_button.clicked.connect(self.pad.undo_stroke)
        tools.addWidget(self.undo_button)
        self.clear_button = QToolButton()
        self.clear_button.setText("Clear")
        self.clear_button.setToolTip("Clear the pad (Delete or Escape)")
        self.clear_button.clicked.connect(self.pad.clear)
        tools.addWidget(self.clear_button)
        self.open_button = QToolButton()
        self.open_button.setText("Open image…")
        self.open_button.setToolTip("Predict a picture file (or drop one onto this view)")
        self.open_button.clicked.connect(self._ask_open_image)
        tools.addWidget(self.open_button)
        layout.addLayout(tools)
        return page

    def _build_input_panel(self) -> QWidget:
        box = QGroupBox("What the network sees")
        layout = QVBoxLayout(box)
        self.input_label = QtPixelImage(168)
        # A photo model's input after its normalisation (the numbers the network gets),
        # beside the input before it.
        self.normalized_label = QtPixelImage(96)
        self.normalized_label.setVisible(False)
        self.input_title = QLabel("The crop at the input size")
        self.normalized_title = QLabel("After normalisation")
        for title in (self.input_title, self.normalized_title):
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            title.setStyleSheet("color: #555;")
            title.setVisible(False)
        pictures = QGridLayout()
        pictures.addWidget(self.input_title, 0, 0)
        pictures.addWidget(self.normalized_title, 0, 1)
        pictures.addWidget(self.input_label, 1, 0)
        pictures.addWidget(self.normalized_label, 1, 1)
        pictures.setRowStretch(1, 1)
        layout.addLayout(pictures, 1)
        self.input_caption = QLabel()
        self.input_caption.setWordWrap(True)
        layout.addWidget(self.input_caption)
        self.normalized_caption = QLabel()
        self.normalized_caption.setWordWrap(True)
        self.normalized_caption.setVisible(False)
        layout.addWidget(self.normalized_caption)
        self.saliency_check = QCheckBox("Show saliency")
        self.saliency_check.setToolTip(
            "Colour the pixels whose change would most change the predicted class's score "
            "(the gradient of that score with respect to the input)."
        )
        self.saliency_check.toggled.connect(lambda _on: self.update_prediction())
        layout.addWidget(self.saliency_check)
        return box

    def _build_prediction_panel(self) -> QWidget:
        box = QGroupBox("Prediction")
        layout = QVBoxLayout(box)
        self.top_label = QLabel()
        font = self.top_label.font()
        font.setPointSize(font.pointSize() * 3)
        font.setBold(True)
        self.top_label.setFont(font)
        self.top_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.top_label)
        self.confidence_label = QLabel()
        self.confidence_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.confidence_label.setWordWrap(True)
        layout.addWidget(self.confidence_label)
        self.chart = pg.PlotWidget()
        self.chart.setBackground("w")
        self.chart.setMouseEnabled(False, False)
        self.chart.hideButtons()
        self.chart.setYRange(0, 1, padding=0)
        self.chart.getPlotItem().setMenuEnabled(False)
        self.chart.setLabel("left", "probability")
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=QColor(70, 120, 190))
        self.chart.addItem(self.bars)
        layout.addWidget(self.chart, 1)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("color: #555;")
        layout.addWidget(self.model_label)
        row = QHBoxLayout()
        row.addStretch(1)
        self.folder_button = QPushButton("Predict a folder…")
        self.folder_button.setToolTip(
            "Predict every picture in a folder (not its subfolders) as a sortable table"
        )
        self.folder_button.clicked.connect(self._ask_predict_folder)
        row.addWidget(self.folder_button)
        layout.addLayout(row)
        return box

    def _build_teach_panel(self) -> QWidget:
        box = QGroupBox("Teach: my samples")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("This is a"))
        self.label_combo = QComboBox()
        self.label_combo.setEditable(True)
        self.label_combo.setToolTip("The class of the drawing (type a new name for a new class)")
        row.addWidget(self.label_combo, 1)
        self.add_sample_button = QPushButton("Add to my samples")
        self.add_sample_button.clicked.connect(self.add_sample)
        row.addWidget(self.add_sample_button)
        layout.addLayout(row)
        self.samples_list = QListWidget()
        self.samples_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.samples_list.setIconSize(QSize(48, 48))
        self.samples_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.samples_list.setMovement(QListWidget.Movement.Static)
        self.samples_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.samples_list.customContextMenuRequested.connect(self._samples_menu)
        layout.addWidget(self.samples_list, 1)
        self.samples_note = QLabel()
        self.samples_note.setWordWrap(True)
        self.samples_note.setStyleSheet("color: #555;")
        layout.addWidget(self.samples_note)
        return box

    # -- which model ----------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The model predictions use: the training session's live model, else the trained one."""
        live = self._session.live_model
        if live is not None:
            return live
        project = getattr(self.context, "project", None)
        return None if project is None else project.trained

    def _on_progress(self, _batch: Any) -> None:
        self._follow_live()

    def _on_run_finished(self, _result: Any) -> None:
        self._on_trained_changed()  # the live model is gone: back to the trained one

    def _on_live_model(self) -> None:
        if self.model is not self._shown_model:
            self._schedule_update()

    def _on_trained_changed(self) -> None:
        self._refresh_labels()
        self.update_prediction()

    def _class_names(self) -> list[str]:
        model = self.model
        if model is not None:
            return [str(c) for c in model.class_names]
        project = getattr(self.context, "project", None)
        if project is not None and project.dataset is not None:
            return [str(c) for c in project.dataset.class_names]
        return [str(i) for i in range(10)]

    def _refresh_labels(self) -> None:
        current = self.label_combo.currentText()
        names = self._class_names()
        self.label_combo.blockSignals(True)
        self.label_combo.clear()
        self.label_combo.addItems(names)
        if current in names:
            self.label_combo.setCurrentText(current)
        self.label_combo.blockSignals(False)

    # -- input ----------------------------------------------------------------------
    def _input_shape(self) -> tuple[int, int, int]:
        model = self.model
        if model is not None:
            c, h, w = (int(v) for v in model.input_shape)
            return (c, h, w)
        return (1, 28, 28)

    @property
    def photo_mode(self) -> bool:
        """True while the model takes photos: the photo replaces the drawing pad."""
        return self._photo_mode

    def _sync_mode(self) -> None:
        """Show the pad for a digit model, the photo for a photo model."""
        photo = is_photo_model(self.model)
        if photo != self._photo_mode:
            self._photo_mode = photo
            self.left_stack.setCurrentIndex(1 if photo else 0)
            self.left_box.setTitle("Photo" if photo else "Draw")
            what = "photo" if photo else "drawing"
            self.maps_box.setTitle(f"Why: what each layer makes of the {what}")
            self.error_label.setVisible(False)
        if photo and self._photo is not None and self._photo.input.shape != self._input_shape():
            # Another photo model (another input size): the same picture, cropped anew.
            self._photo = photo_from_array(
                self._photo.picture, self._input_shape(), self._photo.name
            )
            self._show_photo()

    def current_input(self) -> np.ndarray | None:
        """The network input for the current drawing or picture: (C, H, W) in [0, 1]."""
        c, h, w = self._input_shape()
        if self._photo_mode:
            return None if self._photo is None else self._photo.input
        if self._image_input is not None:
            return self._image_input
        if self.pad.is_empty():
            return None
        ink = self.pad.ink_image(INK_SIZE)
        digit = preprocess_digit(ink, out_size=(h, w), invert=False)
        if not digit.any():
            return None
        # An RGB model gets the drawing as three equal channels.
        return np.repeat(digit[None], c, axis=0)

    def _schedule_update(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def _on_drawing_changed(self) -> None:
        self._image_input = None
        self._image_caption = ""
        self.error_label.setVisible(False)
        self.context.drawing_changed.emit(
            self.pad.ink_image(280) if not self.pad.is_empty() else None
        )
        self._timer.stop()
        self.update_prediction()

    # -- prediction -----------------------------------------------------------------
    def update_prediction(self) -> None:
        """Preprocess the drawing, run the network, redraw everything (the hot path)."""
        started = time.perf_counter()
        self._sync_mode()
        x = self.current_input()
        self._show_input(x)
        model = self.model
        self.add_sample_button.setEnabled(x is not None)
        self.folder_button.setEnabled(model is not None)
        if model is None:
            self._show_no_model()
            return
        if x is None:
            self._show_probabilities(None)
            self.feature_strip.clear()
            self.pad.set_overlay(None)
            return
        self._shown_model = model
        try:
            activations = model.activations(x)
            probabilities = np.asarray(model.predict_proba(x)[0], dtype=np.float64)
            network = model.network()
        except ValueError as exc:  # a model that does not fit its own input: say so
            self.top_label.setText("?")
            self.confidence_label.setText(f"This model cannot run: {exc}")
            return
        self._show_probabilities(probabilities)
        types = {name: type(layer).__name__ for name, layer in network.nodes.items()}
        self.feature_strip.set_activations(activations, types)
        if self.saliency_check.isChecked():
            self._show_saliency(network, model.prepare(x), int(np.argmax(probabilities)))
        else:
            self.pad.set_overlay(None)
            self._show_input(x)
        self.last_latency_ms = (time.perf_counter() - started) * 1000.0

    def _show_no_model(self) -> None:
        self.top_label.setText("–")
        self.confidence_label.setText(
            "<b>Train or open a model first.</b> The pad works; predictions appear as soon "
            "as there is a trained network."
        )
        self.model_label.setText("")
        self.folder_button.setToolTip("Train or open a model first")
        self.bars.setOpts(x=[], height=[])
        self.feature_strip.clear()
        self.last_probabilities = None
        self.prediction_updated.emit(None)

    def _show_input(self, x: np.ndarray | None) -> None:
        self.last_input = x
        c, h, w = self._input_shape()
        photo = self._photo if self._photo_mode else None
        self._show_normalized(x if photo is not None else None)
        if x is None:
            self.input_label.set_image(None)
            what = "photo's crop" if self._photo_mode else "image"
            self.input_caption.setText(f"The {h}x{w} {what} the network receives appears here.")
            return
        if x.shape[0] == 3:
            image = chw_to_qimage(x)  # in colour, on the 0..1 scale the network is given
        else:
            image = array_to_qimage(np.clip(x[0], 0, 1) * 255.0, signed=False)
        self._set_input_pixmap(image)
        if photo is not None:
            how = f"the dashed crop of {photo.name}, resized to {w}x{h}"
        elif self._image_caption:
            how = self._image_caption
        else:
            how = (
                "your drawing cropped to its ink, fitted into 20x20, centred by its centre of mass"
            )
        self.input_caption.setText(f"{c}@{h}x{w} input: {how}.")

    def _show_normalized(self, x: np.ndarray | None) -> None:
        """A photo's input after the model's normalisation, and the numbers behind it."""
        model = self.model
        norm = None if x is None or model is None else model.normalization
        with_picture = norm is not None and not norm.is_plain
        self.normalized_label.setVisible(with_picture)
        self.normalized_title.setVisible(with_picture)
        self.input_title.setVisible(norm is not None)
        self.normalized_caption.setVisible(norm is not None)
        if x is None or model is None or norm is None:
            return
        if norm.is_plain:
            self.normalized_caption.setText(
                "The network gets these pixels as they are: 0 (dark) to 1 (bright) in each "
                "channel (this model does not normalise)."
            )
            return
        values = model.prepare(x)[0]
        r = NORMALIZED_RANGE
        self.normalized_label.set_image(chw_to_qimage(values, -r, r))
        names = ("R", "G", "B") if values.shape[0] == 3 else ("grey",)
        mean, std = norm.mean or (), norm.std or ()
        terms = ", ".join(
            f"{n} (x − {mean[i % len(mean)]:.3f}) / {std[i % len(std)]:.3f}"
            for i, n in enumerate(names)
        )
        self.normalized_caption.setText(
            f"<b>What the network gets</b>: each channel minus its training mean, divided by "
            f"its standard deviation: {terms}. Values now run from {values.min():.2f} to "
            f"{values.max():.2f} (drawn with 0 as mid-grey, ±{r:g} as black and white)."
        )

    def _set_input_pixmap(self, image: QImage) -> None:
        self.input_label.set_image(image)

    def _show_probabilities(self, probabilities: np.ndarray | None) -> None:
        names = self._class_names()
        self.last_probabilities = probabilities
        model = self.model
        source = (
            "the network as it trains (latest snapshot)"
            if model is not None and model is self._session.live_model
            else "the trained model"
        )
        summary = getattr(model, "training_summary", {}) or {}
        accuracy = summary.get("val_accuracy") or summary.get("accuracy")
        extra = f", validation accuracy {accuracy:.1%}" if isinstance(accuracy, float) else ""
        self.model_label.setText(f"Predicting with {source}{extra}.")
        axis = self.chart.getAxis("bottom")
        # Long class names ("automobile") would run into each other under ten bars.
        ticks = [(i, n if len(n) <= 7 else n[:5] + "…") for i, n in enumerate(names)]
        axis.setTicks([ticks])
        font = self.chart.font()
        if max((len(n) for n in names), default=0) > 3:
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        axis.setStyle(tickFont=font)
        self.chart.setXRange(-0.6, len(names) - 0.4, padding=0)
        if probabilities is None:
            self.top_label.setText("–")
            self.confidence_label.setText(
                "Open, drop or paste a photo (Ctrl+V) to see a prediction."
                if self._photo_mode
                else "Draw a digit (or open a picture) to see a prediction."
            )
            self.bars.setOpts(x=[], height=[])
            self.prediction_updated.emit(None)
            return
        top = int(np.argmax(probabilities))
        confidence = float(probabilities[top])
        brushes = [QColor(70, 120, 190)] * len(probabilities)
        brushes[top] = QColor(230, 140, 30)
        self.bars.setOpts(x=np.arange(len(probabilities)), height=probabilities, brushes=brushes)
        name = names[top] if top < len(names) else str(top)
        self.top_label.setText(name)
        if confidence < NOT_SURE_BELOW:
            second = int(np.argsort(probabilities)[-2]) if len(probabilities) > 1 else top
            self.confidence_label.setText(
                f"<b>Not sure</b>: {name} at {confidence:.0%}, "
                f"then {names[second]} at {probabilities[second]:.0%}"
            )
        else:
            self.confidence_label.setText(f"{confidence:.1%} confident")
        self.prediction_updated.emit(probabilities)

    def _show_saliency(self, network: Any, batch: np.ndarray, klass: int) -> None:
        gradient = network.input_gradient(batch, klass)[0]  # (C, H, W)
        saliency = np.abs(gradient).max(axis=0)
        peak = float(saliency.max()) or 1.0
        heat = np.clip(saliency / peak, 0.0, 1.0)
        h, w = heat.shape
        rgba = np.zeros((h, w, 4), dtype=np.uint8)
        rgba[..., 0] = 255
        rgba[..., 1] = (80 * (1 - heat)).astype(np.uint8)
        rgba[..., 3] = (heat * 230).astype(np.uint8)
        overlay = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
        # On the input picture: the exact pixels; on the pad: a rough guide, since the
        # drawing was cropped and centred before it reached the network.
        if self.last_input is None:
            base = np.zeros((h, w, 3), dtype=np.float32)
        elif self.last_input.shape[0] == 3:
            base = self.last_input.transpose(1, 2, 0) * 255.0  # a photo stays in colour
        else:
            base = np.repeat(self.last_input[0][..., None], 3, axis=2) * 255.0
        mixed = np.clip(base, 0, 255).astype(np.float32)
        alpha = heat[..., None] * 0.8
        mixed = mixed * (1 - alpha) + np.array([255, 40, 0], dtype=np.float32) * alpha
        mixed_u8 = np.ascontiguousarray(mixed.astype(np.uint8))
        image = QImage(mixed_u8.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self._set_input_pixmap(image)
        picture_shown = self._image_input is not None or self._photo_mode
        self.pad.set_overlay(None if picture_shown else overlay)

    # -- pictures -------------------------------------------------------------------
    def _say(self, message: str) -> None:
        """One inline message under the pad or photo (a file that cannot be used, say)."""
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    def _say_cannot(self, what: str, exc: DatasetError) -> None:
        todo = "" if "shrink it" in exc.reason else f" {_WHAT_TO_DO}"
        self._say(f"{what} {exc}.{todo}")

    def _ask_open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image to predict", "", IMAGE_FILTER)
        if path:
            self.open_image(Path(path))

    def open_image(self, path: Path) -> bool:
        """Predict a picture file; an unusable file gets one inline message and changes nothing."""
        path = Path(path)
        model = self.model
        self._sync_mode()
        try:
            if self._photo_mode:
                self._set_photo(photo_from_file(path, self._input_shape()))
                return True
            if model is not None:
                x = model.load_image(path)
            else:
                from cnnstudio.data.preprocess import load_image_for_prediction

                x = load_image_for_prediction(path, self._input_shape())
        except DatasetError as exc:
            self._say_cannot("Cannot predict this file.", exc)
            return False
        self.show_image(x, path.name)
        return True

    def paste_image(self) -> bool:
        """Predict the picture on the clipboard (an image, or a copied image file)."""
        clipboard = QApplication.clipboard()
        mime = clipboard.mimeData()
        if mime is not None and mime.hasImage():
            image = clipboard.image()
            if not image.isNull():
                return self.show_qimage(image, "the clipboard")
        if mime is not None and mime.hasUrls():
            for url in mime.urls():
                if url.isLocalFile():
                    return self.open_image(Path(url.toLocalFile()))
        self._say(
            "The clipboard holds no picture. Copy an image (or an image file) and press "
            "Ctrl+V again."
        )
        return False

    def show_qimage(self, image: QImage, name: str) -> bool:
        """Predict a decoded picture (pasted, say); a refused one gets an inline message."""
        self._sync_mode()
        try:
            pixels = qimage_to_array(image, name)
            if self._photo_mode:
                self._set_photo(photo_from_array(pixels, self._input_shape(), name))
                return True
            # A digit model: the picture on white, then the MNIST-style steps.
            picture = photo_from_array(pixels, (1, 28, 28), name).picture
        except DatasetError as exc:
            self._say_cannot("Cannot predict this picture.", exc)
            return False
        c, h, w = self._input_shape()
        digit = preprocess_digit(picture, out_size=(h, w), invert="auto")
        self.show_image(np.repeat(digit[None], c, axis=0), name)
        return True

    def show_image(self, image: Any, caption: str = "") -> None:
        """Predict an image (H, W) or (C, H, W) in [0, 1], e.g. sent from Inspect."""
        x = np.asarray(image, dtype=np.float32)
        if x.ndim == 2:
            x = x[None]
        self._sync_mode()
        if self._photo_mode:
            pixels = np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)
            rgb = pixels[0] if pixels.shape[0] == 1 else pixels[:3].transpose(1, 2, 0)
            self._set_photo(photo_from_array(rgb, self._input_shape(), caption or "an image"))
            return
        c, h, w = self._input_shape()
        if x.shape[1:] != (h, w):
            x = np.stack([preprocess_digit(ch, out_size=(h, w), invert=False) for ch in x])
        if x.shape[0] != c:
            x = np.repeat(x.mean(axis=0, keepdims=True), c, axis=0)
        self._image_input = x
        self._image_caption = caption or "an image"
        self.error_label.setVisible(False)
        self.update_prediction()

    def _set_photo(self, photo: PhotoInput) -> None:
        self._photo = photo
        self.error_label.setVisible(False)
        self._show_photo()
        self.update_prediction()

    def _show_photo(self) -> None:
        photo = self._photo
        if photo is None:
            self.photo_view.set_picture(None, (0, 0, 0, 0))
            self.photo_caption.setText("")
            self.photo_notes_label.setVisible(False)
            return
        self.photo_view.set_picture(photo.picture, photo.crop)
        ph, pw = photo.picture.shape[:2]
        left, top, right, bottom = photo.crop
        _c, h, w = self._input_shape()
        self.photo_caption.setText(
            f"<b>{photo.name}</b>, {pw}x{ph} pixels. The dashed box ({right - left}x"
            f"{bottom - top}, centred, the input's proportions) is resized to {w}x{h}."
        )
        notes = " ".join(n[0].upper() + n[1:] + "." for n in photo.notes)
        self.photo_notes_label.setText(notes)
        self.photo_notes_label.setVisible(bool(notes))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_image(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_image(event)
        if path is not None:
            event.acceptProposedAction()
            self.open_image(path)

    @staticmethod
    def _dropped_image(event: QDragEnterEvent | QDropEvent) -> Path | None:
        mime = event.mimeData()
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in IMAGE_SUFFIXES:
                return Path(url.toLocalFile())
        return None

    # -- a folder -------------------------------------------------------------------
    def _ask_predict_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Predict every picture in a folder")
        if folder:
            self.predict_folder(Path(folder))

    def predict_folder(self, folder: Path) -> QtFolderPredictDialog | None:
        """Open the table of ``folder``'s predictions (filled on a worker thread)."""
        model = self.model
        if model is None:
            self._say("Train or open a model first, then predict a folder.")
            return None
        if self.folder_dialog is not None:
            self.folder_dialog.close()
        dialog = QtFolderPredictDialog(model, Path(folder), self)
        dialog.picture_chosen.connect(self.open_image)
        dialog.show()
        self.folder_dialog = dialog
        return dialog

    # -- teach ----------------------------------------------------------------------
    def add_sample(self) -> int | None:
        """Add the current drawing (as the network sees it) to the project's samples."""
        project = getattr(self.context, "project", None)
        x = self.current_input()
        label = self.label_combo.currentText().strip()
        if project is None or x is None:
            return None
        if not label:
            QMessageBox.information(self, "Add to my samples", "Choose or type a label first.")
            return None
        try:
            index = project.samples.add(x, label)
        except DatasetError as exc:
            QMessageBox.warning(self, "Add to my samples", str(exc))
            return None
        project.notify_samples_changed()
        self.context.status_message.emit(
            f"Added a '{label}' to my samples ({len(project.samples)})."
        )
        return index

    def _refresh_samples(self) -> None:
        project = getattr(self.context, "project", None)
        self.samples_list.clear()
        if project is None:
            return
        for i, sample in enumerate(project.samples):
            image = sample.image
            if image.ndim == 3 and image.shape[0] == 3 and not (image == image[:1]).all():
                icon = QIcon(QPixmap.fromImage(chw_to_qimage(image, 0, 255)))  # a photo
            else:  # a drawing: dark ink on paper, as it was drawn
                picture = image[0] if image.ndim == 3 else image
                inverted = 255.0 - picture.astype(np.float32)
                icon = QIcon(QPixmap.fromImage(array_to_qimage(inverted)))
            item = QListWidgetItem(icon, sample.label)
            item.setData(Qt.ItemDataRole.UserRole, i)
            item.setToolTip(f"Sample {i + 1}: {sample.label} (right-click to relabel or delete)")
            self.samples_list.addItem(item)
        counts = project.samples.counts() if len(project.samples) else {}
        if counts:
            parts = ", ".join(f"{k}: {v}" for k, v in counts.items())
            self.samples_note.setText(
                f"{len(project.samples)} samples ({parts}). Train on them from the Train view "
                "(dataset: My drawn samples, or add them to another dataset)."
            )
        else:
            self.samples_note.setText(
                "Label a drawing and add it; your samples are saved with the project and can "
                "be used as training data."
            )

    def _samples_menu(self, pos) -> None:
        item = self.samples_list.itemAt(pos)
        project = getattr(self.context, "project", None)
        if item is None or project is None:
            return
        index = int(item.data(Qt.ItemDataRole.UserRole))
        menu = QMenu(self)
        relabel = menu.addMenu("Relabel as")
        for name in self._class_names():
            relabel.addAction(name, partial(self.relabel_sample, index, name))
        menu.addAction("Predict this sample", lambda: self._predict_sample(index))
        menu.addAction("Delete", lambda: self.delete_sample(index))
        menu.exec(self.samples_list.viewport().mapToGlobal(pos))

    def relabel_sample(self, index: int, label: str) -> None:
        project = self.context.project
        project.samples.relabel(index, label)
        project.notify_samples_changed()

    def delete_sample(self, index: int) -> None:
        project = self.context.project
        project.samples.remove(index)
        project.notify_samples_changed()

    def _predict_sample(self, index: int) -> None:
        sample = self.context.project.samples[index]
        self.show_image(sample.image.astype(np.float32) / 255.0, f"my sample {index + 1}")
