"""The Train view: dataset, optimizer settings, background training and live plots."""

from cnnstudio.ui.train.qt_train_view import QtTrainView, ask_keep_weights

__all__ = ["QtTrainView", "ask_keep_weights"]
