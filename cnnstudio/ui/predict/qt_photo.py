"""Photos in Draw & Predict: arrays to and from QImage, and the picture with its crop drawn."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen, QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from cnnstudio.model.photo_input import MAX_PICTURE_SIDE, check_picture_size

__all__ = ["QtCroppedPicture", "QtPixelImage", "chw_to_qimage", "qimage_to_array", "rgb_to_qimage"]


def rgb_to_qimage(pixels: np.ndarray) -> QImage:
    """uint8 ``(h, w, 3)`` RGB as a QImage that owns its pixels."""
    a = np.ascontiguousarray(pixels, dtype=np.uint8)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def chw_to_qimage(x: np.ndarray, low: float = 0.0, high: float = 1.0) -> QImage:
    """A network input ``(C, H, W)`` as a picture: ``low`` is black, ``high`` white.

    One channel is grey; three are red, green and blue, all on the same scale, so the
    colours are the ones the network receives.
    """
    a = np.asarray(x, dtype=np.float32)
    scaled = np.clip((a - low) / (high - low), 0.0, 1.0) * 255.0
    u8 = np.rint(scaled).astype(np.uint8)
    if u8.shape[0] == 3:
        return rgb_to_qimage(u8.transpose(1, 2, 0))
    grey = np.ascontiguousarray(u8[0])
    h, w = grey.shape
    return QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def qimage_to_array(image: QImage, name: str = "the clipboard") -> np.ndarray:
    """A QImage as uint8 ``(h, w, 4)`` RGBA, shrunk to at most ``MAX_PICTURE_SIDE`` a side.

    Raises
    ------
    cnnstudio.data.DatasetError
        For a picture larger than the file loaders decode (checked before converting).
    """
    check_picture_size(image.width(), image.height(), name)
    if max(image.width(), image.height()) > MAX_PICTURE_SIDE:
        image = image.scaled(
            MAX_PICTURE_SIDE,
            MAX_PICTURE_SIDE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    w, h, stride = rgba.width(), rgba.height(), rgba.bytesPerLine()
    buffer = np.frombuffer(rgba.constBits(), dtype=np.uint8, count=h * stride)
    return buffer.reshape(h, stride)[:, : 4 * w].reshape(h, w, 4).copy()


class QtCroppedPicture(QWidget):
    """A picture scaled to fit, the part outside the crop dimmed and the crop outlined."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap = QPixmap()
        self._crop: tuple[int, int, int, int] | None = None
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_picture(self, pixels: np.ndarray | None, crop: tuple[int, int, int, int]) -> None:
        """Show uint8 ``(h, w, 3)`` with the crop ``(left, top, right, bottom)``; None clears."""
        self._pixmap = QPixmap() if pixels is None else QPixmap.fromImage(rgb_to_qimage(pixels))
        self._crop = None if pixels is None else crop
        self.update()

    def has_picture(self) -> bool:
        return not self._pixmap.isNull()

    def sizeHint(self) -> QSize:
        return QSize(320, 320)

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(40, 40, 40))
        if self._pixmap.isNull() or self._crop is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                "Open a photo, drop one here,\nor paste one (Ctrl+V)",
            )
            return
        pw, ph = self._pixmap.width(), self._pixmap.height()
        scale = min(self.width() / pw, self.height() / ph)
        w, h = pw * scale, ph * scale
        x0, y0 = (self.width() - w) / 2, (self.height() - h) / 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1)
        target = QRectF(x0, y0, w, h)
        painter.drawPixmap(target, self._pixmap, QRectF(0, 0, pw, ph))
        left, top, right, bottom = self._crop
        crop = QRectF(
            x0 + left * scale, y0 + top * scale, (right - left) * scale, (bottom - top) * scale
        )
        shade = QColor(0, 0, 0, 150)
        # Dim what the crop leaves out: above, below, left and right of it.
        painter.fillRect(QRectF(x0, y0, w, crop.top() - y0), shade)
        painter.fillRect(QRectF(x0, crop.bottom(), w, y0 + h - crop.bottom()), shade)
        painter.fillRect(QRectF(x0, crop.top(), crop.left() - x0, crop.height()), shade)
        painter.fillRect(
            QRectF(crop.right(), crop.top(), x0 + w - crop.right(), crop.height()), shade
        )
        pen = QPen(QColor(255, 200, 0), 2, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.drawRect(crop.adjusted(1, 1, -1, -1))


class QtPixelImage(QLabel):
    """A small image enlarged to fill the label with visible pixels, kept so on resize."""

    def __init__(self, minimum: int = 96, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self.setMinimumSize(minimum, minimum)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet("background: black;")
        # The pixmap follows the label's size, never the other way round.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_image(self, image: QImage | None) -> None:
        self._image = image
        self._rescale()

    def _rescale(self) -> None:
        if self._image is None or self._image.isNull():
            self.setPixmap(QPixmap())
            return
        side = max(16, min(self.width(), self.height()) - 4)
        self.setPixmap(
            QPixmap.fromImage(self._image).scaled(
                side,
                side,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,  # keep the pixels visible
            )
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()
