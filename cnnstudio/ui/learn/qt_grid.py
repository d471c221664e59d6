"""A grid of numbers that can be edited, with zero padding drawn around it and a window
highlighted: the lab's way of showing inputs, kernels and feature maps."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QDoubleValidator, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QLineEdit, QSizePolicy, QWidget

from cnnstudio.model.learn.base import fmt

__all__ = ["QtNumberGrid"]

_PAD_FILL = QColor("#fff3c4")
_PAD_TEXT = QColor("#9a7b1c")
_GRID_LINE = QColor("#9e9e9e")
_BLANK = QColor("#f4f4f4")
_HIGHLIGHT = QColor("#d81b60")
_MARK = QColor("#1b8a3a")


class QtNumberGrid(QWidget):
    """Cells with visible numbers.

    ``NaN`` cells are drawn blank (an output not computed yet). Zero padding is drawn as
    an extra ring of pale yellow ``0`` cells. A highlighted window (in padded
    coordinates) gets a thick magenta frame and may carry the kernel weights in its
    cells' corners; marked cells get a green frame. Editable grids open an editor on
    double-click (or Enter on the selected cell) and emit ``cell_edited``.

    Signals
    -------
    cell_edited(int, int, float)
        A cell (row, col in the unpadded grid) was given a new value by the user.
    cell_clicked(int, int)
        A cell (unpadded coordinates) was clicked.
    """

    cell_edited = Signal(int, int, float)
    cell_clicked = Signal(int, int)

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        editable: bool = False,
        min_cell: int = 26,
        max_cell: int = 48,
        tint: str = "#1e63b5",
    ) -> None:
        super().__init__(parent)
        self._values = np.zeros((1, 1))
        self._pad = (0, 0)
        self._highlight: tuple[int, int, int, int] | None = None
        self._overlay: np.ndarray | None = None
        self._marked: set[tuple[int, int]] = set()
        self._editable = editable
        self._min_cell = min_cell
        self._max_cell = max_cell
        self._tint = QColor(tint)
        self._cell_tints: list[list[str]] | None = None
        self._editor: QLineEdit | None = None
        self._editing: tuple[int, int] | None = None
        self._selected: tuple[int, int] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus if editable else Qt.FocusPolicy.ClickFocus)
        if editable:
            self.setToolTip("Double-click a cell (or select it and press Enter) to type a number.")

    # -- data ------------------------------------------------------------------------
    def values(self) -> np.ndarray:
        return self._values.copy()

    def set_values(self, values: np.ndarray) -> None:
        a = np.array(values, dtype=np.float64)
        if a.ndim == 1:
            a = a[None, :]
        if a.shape != self._values.shape:
            self._close_editor(commit=False)
            self.updateGeometry()
        self._values = a
        self.update()

    def set_cell_tints(self, tints: list[list[str]] | None) -> None:
        """A colour per cell (e.g. which channel a flattened entry came from), or None."""
        self._cell_tints = tints
        self.update()

    def set_padding(self, ph: int, pw: int) -> None:
        if (ph, pw) != self._pad:
            self._pad = (int(ph), int(pw))
            self.updateGeometry()
            self.update()

    def set_highlight(
        self, window: tuple[int, int, int, int] | None, overlay: np.ndarray | None = None
    ) -> None:
        """Frame ``(top, left, height, width)`` in padded coordinates; ``overlay`` holds the
        kernel weights drawn small in the window's cells."""
        self._highlight = window
        self._overlay = None if overlay is None else np.asarray(overlay, dtype=np.float64)
        self.update()

    def highlight(self) -> tuple[int, int, int, int] | None:
        return self._highlight

    def set_marked(self, cells: object) -> None:
        self._marked = {(int(r), int(c)) for r, c in cells}  # type: ignore[attr-defined]
        self.update()

    def marked(self) -> set[tuple[int, int]]:
        return set(self._marked)

    def edit_cell(self, row: int, col: int, value: float) -> None:
        """Set a cell as the user would (emits ``cell_edited``)."""
        rows, cols = self._values.shape
        if not (0 <= row < rows and 0 <= col < cols):
            raise ValueError(f"cell ({row}, {col}) is outside the {rows}x{cols} grid")
        self._values[row, col] = float(value)
        self.update()
        self.cell_edited.emit(row, col, float(value))

    # -- geometry --------------------------------------------------------------------
    def _dims(self) -> tuple[int, int]:
        rows, cols = self._values.shape
        return rows + 2 * self._pad[0], cols + 2 * self._pad[1]

    def _cell_size(self) -> float:
        rows, cols = self._dims()
        size = min((self.width() - 2) / cols, (self.height() - 2) / rows)
        return max(min(size, self._max_cell), 8.0)

    def _origin(self) -> tuple[float, float]:
        rows, cols = self._dims()
        cs = self._cell_size()
        return (self.width() - cols * cs) / 2, (self.height() - rows * cs) / 2

    def sizeHint(self) -> QSize:
        # The smallest readable size: a lesson inside a scroll area is laid out at its
        # preferred height, so a larger hint would push the page past the window.
        # Grids expand into any room that is left.
        return self.minimumSizeHint()

    def minimumSizeHint(self) -> QSize:
        rows, cols = self._dims()
        return QSize(cols * self._min_cell + 2, rows * self._min_cell + 2)

    def cell_rect(self, row: int, col: int) -> QRect:
        """The widget rectangle of a cell in unpadded coordinates (padding cells are negative)."""
        cs = self._cell_size()
        x0, y0 = self._origin()
        x = x0 + (col + self._pad[1]) * cs
        y = y0 + (row + self._pad[0]) * cs
        return QRectF(x, y, cs, cs).toAlignedRect()

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        cs = self._cell_size()
        x0, y0 = self._origin()
        pr, pc = math.floor((y - y0) / cs), math.floor((x - x0) / cs)
        r, c = pr - self._pad[0], pc - self._pad[1]
        rows, cols = self._values.shape
        if 0 <= r < rows and 0 <= c < cols:
            return r, c
        return None

    # -- painting --------------------------------------------------------------------
    def _fill(self, v: float, scale: float, tint: QColor | None = None) -> QColor:
        if math.isnan(v):
            return _BLANK
        t = 0.0 if scale == 0 else min(abs(v) / scale, 1.0)
        base = (tint or self._tint) if v >= 0 else QColor("#d2691e")
        # Blend from white toward the tint, keeping the text readable on the darkest cell.
        a = 0.12 + 0.5 * t
        return QColor(
            round(255 * (1 - a) + base.red() * a),
            round(255 * (1 - a) + base.green() * a),
            round(255 * (1 - a) + base.blue() * a),
        )

    def _font_for(self, text: str, width: float, base_px: int) -> QFont:
        font = QFont(self.font())
        px = base_px
        while px > 8:
            font.setPixelSize(px)
            if QFontMetrics(font).horizontalAdvance(text) <= width:
                break
            px -= 1
        font.setPixelSize(px)
        return font

    def paintEvent(self, _event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        rows, cols = self._values.shape
        ph, pw = self._pad
        cs = self._cell_size()
        x0, y0 = self._origin()
        finite = self._values[np.isfinite(self._values)]
        scale = float(np.abs(finite).max()) if finite.size else 0.0
        base_px = max(9, min(20, int(cs * 0.38)))
        for pr in range(rows + 2 * ph):
            for pc in range(cols + 2 * pw):
                r, c = pr - ph, pc - pw
                rect = QRectF(x0 + pc * cs, y0 + pr * cs, cs, cs)
                inside = 0 <= r < rows and 0 <= c < cols
                if inside:
                    v = float(self._values[r, c])
                    tint = None
                    if self._cell_tints is not None:
                        try:
                            tint = QColor(self._cell_tints[r][c])
                        except IndexError:
                            tint = None
                    p.fillRect(rect, self._fill(v, scale, tint))
                    text = "" if math.isnan(v) else fmt(v)
                    color = QColor("#111111")
                else:
                    p.fillRect(rect, _PAD_FILL)
                    text, color = "0", _PAD_TEXT
                p.setPen(QPen(_GRID_LINE, 1))
                p.drawRect(rect)
                if text:
                    p.setFont(self._font_for(text, cs - 4, base_px))
                    p.setPen(color)
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        if ph or pw:
            # A dashed line where the real input ends and the padding begins.
            p.setPen(QPen(QColor("#6d5a12"), 1.5, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(x0 + pw * cs, y0 + ph * cs, cols * cs, rows * cs))
        if self._selected is not None and self._editable:
            r, c = self._selected
            p.setPen(QPen(QColor("#1565c0"), 2, Qt.PenStyle.DotLine))
            p.drawRect(QRectF(x0 + (c + pw) * cs + 2, y0 + (r + ph) * cs + 2, cs - 4, cs - 4))
        for r, c in self._marked:
            p.setPen(QPen(_MARK, 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(x0 + (c + pw) * cs + 2, y0 + (r + ph) * cs + 2, cs - 4, cs - 4))
        if self._highlight is not None:
            top, left, h, w = self._highlight
            win = QRectF(x0 + left * cs, y0 + top * cs, w * cs, h * cs)
            p.fillRect(win, QBrush(QColor(216, 27, 96, 38)))
            if self._overlay is not None and cs >= 30:
                small = QFont(self.font())
                small.setPixelSize(max(8, int(cs * 0.24)))
                p.setFont(small)
                p.setPen(_HIGHLIGHT)
                for m in range(min(h, self._overlay.shape[0])):
                    for n in range(min(w, self._overlay.shape[1])):
                        cell = QRectF(
                            x0 + (left + n) * cs + 2, y0 + (top + m) * cs + 1, cs - 4, cs - 2
                        )
                        p.drawText(
                            cell,
                            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
                            "×" + fmt(self._overlay[m, n]),
                        )
            p.setPen(QPen(_HIGHLIGHT, 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(win.adjusted(1, 1, -1, -1))
        p.end()

    # -- editing -----------------------------------------------------------------------
    def mousePressEvent(self, event: object) -> None:
        pos = event.position()  # type: ignore[attr-defined]
        cell = self.cell_at(pos.x(), pos.y())
        if cell is not None:
            self._selected = cell
            self.update()
            self.cell_clicked.emit(*cell)

    def mouseDoubleClickEvent(self, event: object) -> None:
        pos = event.position()  # type: ignore[attr-defined]
        cell = self.cell_at(pos.x(), pos.y())
        if cell is not None and self._editable:
            self.open_editor(*cell)

    def keyPressEvent(self, event: object) -> None:
        key = event.key()  # type: ignore[attr-defined]
        if self._editable and self._selected and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.open_editor(*self._selected)
            return
        if self._selected and key in (
            Qt.Key.Key_Left,
            Qt.Key.Key_Right,
            Qt.Key.Key_Up,
            Qt.Key.Key_Down,
        ):
            r, c = self._selected
            dr = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1}.get(key, 0)
            dc = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}.get(key, 0)
            rows, cols = self._values.shape
            self._selected = (min(max(r + dr, 0), rows - 1), min(max(c + dc, 0), cols - 1))
            self.update()
            return
        super().keyPressEvent(event)  # type: ignore[arg-type]

    def open_editor(self, row: int, col: int) -> QLineEdit:
        """Open the in-place editor on a cell (what a double-click does)."""
        self._close_editor(commit=False)
        editor = QLineEdit(self)
        validator = QDoubleValidator(-1e6, 1e6, 4, editor)
        validator.setNotation(QDoubleValidator.Notation.StandardNotation)
        editor.setValidator(validator)
        editor.setAlignment(Qt.AlignmentFlag.AlignCenter)
        editor.setText(fmt(self._values[row, col]) if np.isfinite(self._values[row, col]) else "")
        editor.setGeometry(self.cell_rect(row, col).adjusted(-6, 0, 6, 0))
        editor.editingFinished.connect(lambda: self._close_editor(commit=True))
        self._editor, self._editing = editor, (row, col)
        editor.show()
        editor.selectAll()
        editor.setFocus()
        return editor

    def _close_editor(self, commit: bool) -> None:
        editor, cell = self._editor, self._editing
        if editor is None or cell is None:
            return
        self._editor = self._editing = None
        text = editor.text().replace(",", ".").strip()
        editor.hide()
        editor.deleteLater()
        if commit and text:
            try:
                value = float(text)
            except ValueError:
                return
            if math.isfinite(value):
                self.edit_cell(cell[0], cell[1], value)
