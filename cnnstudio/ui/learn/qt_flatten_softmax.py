"""Lesson 5: flattening a feature stack, softmax probabilities and the cross-entropy."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.engine.layers.base import format_shape
from cnnstudio.model.learn.base import fmt
from cnnstudio.model.learn.flatten_softmax import (
    cross_entropy,
    flatten_size,
    flatten_stack,
    softmax_probabilities,
)
from cnnstudio.ui.learn.qt_common import (
    block_signals,
    caption,
    card,
    lesson_header,
    spin,
    wrap_label,
)
from cnnstudio.ui.learn.qt_grid import QtNumberGrid

__all__ = ["QtFlattenSoftmaxLesson"]

TEXT = (
    "To classify, the feature maps are laid out in one long row (<i>flattening</i>): channel "
    "1 row by row, then channel 2, and so on. Dense layers turn that row into one score per "
    "class. <b>Softmax</b> turns the scores into probabilities: each becomes e<sup>score</sup>, "
    "divided by the total, so all are positive and add up to 1. The <b>cross-entropy</b> is "
    "−log of the probability given to the true class: small when the network is confident and "
    "right, large when it is wrong."
)

_CHANNEL_TINTS = ("#1e63b5", "#c62828", "#2e7d32", "#8e24aa")


class QtFlattenSoftmaxLesson(QWidget):
    """A small stack flattened, the notes' 100@2x2 → 400, scores → softmax bars → loss."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        rng = np.random.default_rng(5)
        self.stack = rng.integers(0, 10, size=(3, 2, 2)).astype(np.float64)
        self.scores = np.array([2.0, 1.0, 0.1, -1.0])
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.addWidget(lesson_header("5  Flatten and softmax", TEXT))

        # -- flatten -------------------------------------------------------------------
        flat_card, flat_layout = card("Flatten")
        row = QHBoxLayout()
        row.addWidget(QLabel("Channels"))
        self.channels_spin = spin(1, 4, 3)
        row.addWidget(self.channels_spin)
        row.addWidget(QLabel("Size"))
        self.size_spin = spin(1, 3, 2)
        row.addWidget(self.size_spin)
        row.addStretch(1)
        flat_layout.addLayout(row)
        stack_row = QHBoxLayout()
        self.stack_grids: list[QtNumberGrid] = []
        self.stack_labels: list[QLabel] = []
        for i in range(4):
            g = QtNumberGrid(editable=True, min_cell=38, max_cell=40, tint=_CHANNEL_TINTS[i])
            g.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            g.cell_edited.connect(lambda r, c, v, ch=i: self._on_stack_edited(ch, r, c, v))
            label = QLabel(f"<b style='color:{_CHANNEL_TINTS[i]}'>channel {i + 1}</b>")
            box = QVBoxLayout()
            box.addWidget(label)
            box.addWidget(g)
            stack_row.addLayout(box)
            self.stack_grids.append(g)
            self.stack_labels.append(label)
        stack_row.addStretch(1)
        flat_layout.addLayout(stack_row)
        self.flat_caption = QLabel()
        flat_layout.addWidget(self.flat_caption)
        # Up to 36 entries in one row: cells shrink to 22 px when they must, 38 px otherwise.
        self.flat_grid = QtNumberGrid(min_cell=22, max_cell=38, tint="#555555")
        self.flat_grid.setFixedHeight(40)
        flat_layout.addWidget(self.flat_grid)
        notes_row = QHBoxLayout()
        notes_row.addWidget(QLabel("The notes' example:"))
        self.big_channels = spin(1, 1000, 100)
        self.big_size = spin(1, 64, 2)
        notes_row.addWidget(self.big_channels)
        notes_row.addWidget(QLabel("channels of"))
        notes_row.addWidget(self.big_size)
        self.big_times = QLabel()
        notes_row.addWidget(self.big_times)
        self.big_label = QLabel()
        notes_row.addWidget(self.big_label)
        notes_row.addStretch(1)
        flat_layout.addLayout(notes_row)
        root.addWidget(flat_card)

        # -- softmax -------------------------------------------------------------------
        soft_card, soft_layout = card("Softmax and cross-entropy")
        grid = QGridLayout()
        grid.addWidget(caption("Scores (double-click to edit)"), 0, 0)
        self.scores_grid = QtNumberGrid(editable=True, min_cell=40, max_cell=52, tint="#555555")
        self.scores_grid.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        grid.addWidget(self.scores_grid, 1, 0)
        true_row = QHBoxLayout()
        true_row.addWidget(QLabel("Classes"))
        self.classes_spin = spin(2, 10, self.scores.size)
        true_row.addWidget(self.classes_spin)
        true_row.addSpacing(10)
        true_row.addWidget(QLabel("True class"))
        self.true_combo = QComboBox()
        true_row.addWidget(self.true_combo)
        true_row.addStretch(1)
        grid.addLayout(true_row, 2, 0)
        self.softmax_label = wrap_label()
        grid.addWidget(self.softmax_label, 3, 0)
        grid.setRowStretch(4, 1)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumSize(300, 220)
        self.plot.setMaximumHeight(280)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setYRange(0, 1.05, padding=0)
        self.plot.setLabel("left", "probability")
        self.plot.showGrid(y=True, alpha=0.3)
        self.bars = pg.BarGraphItem(x=[0], height=[0], width=0.6, brush="#1e63b5")
        self.plot.addItem(self.bars)
        self.bar_texts: list[pg.TextItem] = []
        grid.addWidget(self.plot, 0, 1, 5, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        soft_layout.addLayout(grid)
        root.addWidget(soft_card)
        root.addStretch(1)

        self.channels_spin.valueChanged.connect(self._on_stack_shape)
        self.size_spin.valueChanged.connect(self._on_stack_shape)
        self.big_channels.valueChanged.connect(lambda _v: self._refresh_big())
        self.big_size.valueChanged.connect(lambda _v: self._refresh_big())
        self.scores_grid.cell_edited.connect(self._on_score_edited)
        self.classes_spin.valueChanged.connect(self._on_classes_changed)
        self.true_combo.currentIndexChanged.connect(lambda _i: self._refresh_softmax())
        self.refresh()

    # -- public ------------------------------------------------------------------------
    def set_scores(self, scores: np.ndarray) -> None:
        self.scores = np.asarray(scores, dtype=np.float64).reshape(-1).copy()
        self.refresh()

    def probabilities(self) -> np.ndarray:
        return softmax_probabilities(self.scores)

    def true_class(self) -> int:
        return max(self.true_combo.currentIndex(), 0)

    def loss(self) -> float:
        return cross_entropy(self.scores, self.true_class())

    # -- handlers ------------------------------------------------------------------------
    def _on_stack_shape(self, _value: int) -> None:
        c, s = self.channels_spin.value(), self.size_spin.value()
        rng = np.random.default_rng(5 + c * 10 + s)
        self.stack = rng.integers(0, 10, size=(c, s, s)).astype(np.float64)
        self.refresh()

    def _on_stack_edited(self, ch: int, r: int, c: int, v: float) -> None:
        self.stack[ch, r, c] = v
        self._refresh_flat()

    def _on_classes_changed(self, n: int) -> None:
        scores = np.zeros(n)
        m = min(n, self.scores.size)
        scores[:m] = self.scores[:m]
        self.set_scores(scores)

    def _on_score_edited(self, _r: int, c: int, v: float) -> None:
        self.scores[c] = v
        self._refresh_softmax()

    # -- drawing ---------------------------------------------------------------------------
    def refresh(self) -> None:
        self._refresh_flat()
        self._refresh_big()
        n = self.scores.size
        with block_signals(self.true_combo, self.classes_spin):
            self.classes_spin.setValue(n)
            keep = self.true_combo.currentIndex()
            self.true_combo.clear()
            self.true_combo.addItems([f"class {i}" for i in range(n)])
            self.true_combo.setCurrentIndex(keep if 0 <= keep < n else 0)
        self._refresh_softmax()

    def _refresh_flat(self) -> None:
        c = self.stack.shape[0]
        for i, (g, label) in enumerate(zip(self.stack_grids, self.stack_labels, strict=True)):
            g.setVisible(i < c)
            label.setVisible(i < c)
            if i < c:
                g.set_values(self.stack[i])
        flat = flatten_stack(self.stack)
        self.flat_grid.set_values(flat[None, :])
        per = self.stack.shape[1] * self.stack.shape[2]
        self.flat_grid.set_cell_tints([[_CHANNEL_TINTS[i // per] for i in range(flat.size)]])
        self.flat_caption.setText(
            f"{format_shape(self.stack.shape)} → a row of {flat.size} numbers "
            f"({self.stack.shape[1]}·{self.stack.shape[2]}·{c} = {flat.size}), "
            "channel 1 first, each channel row by row:"
        )

    def _refresh_big(self) -> None:
        c, s = self.big_channels.value(), self.big_size.value()
        n = flatten_size((c, s, s))
        self.big_times.setText(f"x {s}:")
        self.big_label.setText(f"{format_shape((c, s, s))} → {s}·{s}·{c} = <b>{n}</b> entries")

    def _refresh_softmax(self) -> None:
        self.scores_grid.set_values(self.scores[None, :])
        p = self.probabilities()
        t = self.true_class()
        self.scores_grid.set_marked([(0, t)])
        n = p.size
        brushes = [pg.mkBrush("#2e7d32" if i == t else "#1e63b5") for i in range(n)]
        self.bars.setOpts(x=np.arange(n), height=p, width=0.6, brushes=brushes)
        for item in self.bar_texts:
            self.plot.removeItem(item)
        self.bar_texts = []
        for i, v in enumerate(p):
            text = pg.TextItem(f"{v:.3f}", color="#111", anchor=(0.5, 1.0))
            text.setPos(i, float(v) + 0.01)
            self.plot.addItem(text)
            self.bar_texts.append(text)
        axis = self.plot.getAxis("bottom")
        axis.setTicks([[(i, f"class {i}") for i in range(n)]])
        self.plot.setXRange(-0.6, n - 0.4, padding=0)
        exps = " + ".join(f"e<sup>{fmt(z)}</sup>" for z in self.scores)
        loss = self.loss()
        self.softmax_label.setText(
            f"p(class {t}) = e<sup>{fmt(self.scores[t])}</sup> / ({exps}) = "
            f"<b>{p[t]:.3f}</b><br>Sum of all probabilities: <b>{p.sum():.3f}</b><br>"
            f"Cross-entropy for class {t} = −log({p[t]:.3f}) = <b>{loss:.3f}</b> "
            "(engine's softmax cross-entropy)"
        )
