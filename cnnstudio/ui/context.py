"""What the views share: the open project and the signals that cross between views.

Each view is constructed as ``View(context, parent=None)``. Views never hold each
other; they talk through the context's signals, and the main window routes them
(e.g. ``explain_requested`` switches to the Learn view). The training run is not
here: views share it through ``ui.worker.training_session(context)``, and follow the
network as it learns by asking that session for its ``live_model``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal


class AppContext(QObject):
    """Shared state of one main window.

    Signals
    -------
    status_message(str)
        A short message for the status bar.
    explain_requested(dict)
        Open the Learn lab preset to a block: ``{"type": "Conv2D", "kernel_size": [5, 5],
        "stride": [1, 1], "padding": [0, 0]}`` (pooling blocks send ``pool_size``).
    image_to_predict(object, str)
        Send an image (float32 HxW or CxHxW in [0, 1]) to Draw & Predict, with a caption.
    drawing_changed(object)
        The Draw & Predict pad's current drawing (float32 HxW in [0, 1]) changed.
    show_view(str)
        Ask the main window to switch to a view (``"build"``, ``"train"``, ...).
    """

    status_message = Signal(str)
    explain_requested = Signal(dict)
    image_to_predict = Signal(object, str)
    drawing_changed = Signal(object)
    show_view = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        #: The open project (cnnstudio.model.project.Project) once that lands.
        self.project: Any = None
        #: True when nobody can answer a question (``cnnstudio gui --screenshot``): no
        #: modal dialog may then wait for an answer, and the user's settings, recent
        #: files and autosave are left as they were.
        self.unattended = False
        #: The latest drawing from the pad, for views that want to use it (Learn).
        self.last_drawing: np.ndarray | None = None
        self.drawing_changed.connect(self._remember_drawing)

    def _remember_drawing(self, image: object) -> None:
        self.last_drawing = None if image is None else np.asarray(image, dtype=np.float32)
