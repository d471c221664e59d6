"""File formats: model, project and architecture files, autosave, ONNX and NumPy export. No Qt.

The formats are described in docs/file-formats.md. Every loader raises
`ModelFileError` (a ``ValueError``) whose message names the file and the problem.
"""

from cnnstudio.io.architecture_file import read_architecture, write_architecture
from cnnstudio.io.detect import file_kind, load_trained_model
from cnnstudio.io.errors import ExportError, ModelFileError
from cnnstudio.io.model_file import MODEL_SUFFIX, TrainedModel, load_model, save_model
from cnnstudio.io.numpy_export import export_numpy
from cnnstudio.io.onnx_export import export_onnx
from cnnstudio.io.project_file import PROJECT_SUFFIX, ProjectData, load_project, save_project
from cnnstudio.io.recovery import (
    RecoveryInfo,
    has_recovery,
    read_recovery,
    recovery_info,
    recovery_path,
    remove_recovery,
    set_aside_recovery,
    sweep_recovery,
    write_recovery,
)

__all__ = [
    "MODEL_SUFFIX",
    "PROJECT_SUFFIX",
    "ExportError",
    "ModelFileError",
    "ProjectData",
    "RecoveryInfo",
    "TrainedModel",
    "export_numpy",
    "export_onnx",
    "file_kind",
    "has_recovery",
    "load_model",
    "load_project",
    "load_trained_model",
    "read_architecture",
    "read_recovery",
    "recovery_info",
    "recovery_path",
    "remove_recovery",
    "save_model",
    "save_project",
    "set_aside_recovery",
    "sweep_recovery",
    "write_architecture",
    "write_recovery",
]
