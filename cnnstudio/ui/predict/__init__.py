"""Draw & Predict: the drawing pad, live prediction, saliency and my samples."""

from cnnstudio.ui.predict.qt_predict_view import QtPredictView

__all__ = ["QtPredictView"]
