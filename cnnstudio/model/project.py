"""The open project: everything File > Save writes, shared by every view.

A ``Project`` holds the architecture graph the user edits, the chosen dataset, the
training settings and history, the trained model and the user's own drawn samples.
Views read it and write through its methods; each method validates, stores, then
emits one of ``project.events`` (psygnal), so views redraw from the model and
never from each other. No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psygnal import Signal, SignalGroup

from cnnstudio.data.builtin import BUILTIN_DATASETS, BUILTIN_TITLES
from cnnstudio.data.loader import SOURCE_KINDS
from cnnstudio.model.session import RunHistory

if TYPE_CHECKING:
    from cnnstudio.data.dataset import DatasetSplit

__all__ = ["DEFAULT_BUILTIN", "DatasetChoice", "Project", "ProjectEvents", "RunHistory"]

#: Dataset kinds the Train view offers (the data loader's kinds of source).
DATASET_KINDS = SOURCE_KINDS
#: Kinds read from the user's files or folders: their choice needs a ``path``.
PATH_KINDS = ("idx", "folder", "csv", "cifar")
#: The built-in sample a "builtin" choice without a name means (all a project saved
#: before the CIFAR-10 sample could name).
DEFAULT_BUILTIN = "mnist-sample"
#: How a label names a kind read from the user's files.
_KIND_WORDS = {"cifar": "CIFAR-10 binary"}


@dataclass
class DatasetChoice:
    """Which data to train on; enough to load it again when a project is reopened.

    ``kind`` is one of ``DATASET_KINDS``; ``path`` the IDX folder, image folder, CSV
    file or CIFAR-10 batches (a folder, one batch, or the ``.tar.gz``); ``options`` e.g.
    ``{"size": [28, 28], "color": "L", "add_samples": True}``, and for a built-in sample
    its name, ``{"name": "cifar10-sample"}`` (a key of ``data.BUILTIN_DATASETS``).
    The default sample, ``DEFAULT_BUILTIN``, is kept without its name, as every
    release wrote it, so picking it again is no change to the project.
    """

    kind: str = "builtin"
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in DATASET_KINDS:
            raise ValueError(
                f"unknown dataset kind {self.kind!r}; choose one of: {', '.join(DATASET_KINDS)}"
            )
        if self.kind in PATH_KINDS and not self.path:
            raise ValueError(f"a {self.kind} dataset needs a path")
        if self.kind == "builtin" and "name" in self.options:
            name = self.options["name"]
            if not isinstance(name, str) or not name:
                raise ValueError(
                    f"a built-in dataset's name is text (one of: {', '.join(BUILTIN_DATASETS)})"
                )
            if name == DEFAULT_BUILTIN:
                self.options = {k: v for k, v in self.options.items() if k != "name"}
        # An unknown sample name (a newer release's) is kept: loading it says what is known.

    @property
    def builtin_name(self) -> str | None:
        """The built-in sample's name (a key of ``data.BUILTIN_DATASETS``), else None."""
        if self.kind != "builtin":
            return None
        return str(self.options.get("name", DEFAULT_BUILTIN))

    @property
    def label(self) -> str:
        name = self.builtin_name
        if name is not None:
            return f"Built-in {BUILTIN_TITLES.get(name, name)}"
        if self.kind == "samples":
            return "My drawn samples"
        return f"{Path(self.path or '').name} ({_KIND_WORDS.get(self.kind, self.kind)})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetChoice:
        if not isinstance(data, dict):
            raise ValueError("the dataset choice must be a JSON object")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise ValueError("the dataset options must be a JSON object")
        return cls(kind=str(data.get("kind", "builtin")), path=data.get("path"), options=options)


class ProjectEvents(SignalGroup):
    graph_replaced = Signal()  # a new Graph object (New, Open, preset)
    dataset_changed = Signal()  # dataset_choice / dataset changed
    trained_changed = Signal()  # new trained model (training finished, model opened, cleared)
    samples_changed = Signal()  # the user's drawn samples changed
    history_changed = Signal()  # a training run was added or updated
    settings_changed = Signal()  # training settings changed
    dirty_changed = Signal(bool)
    path_changed = Signal(object)


class Project:
    """The document. Create with ``Project()`` (an empty LeNet-ready project)."""

    def __init__(self) -> None:
        from cnnstudio.data.samples import SampleCollection
        from cnnstudio.model.graph import Graph

        self.events = ProjectEvents()
        self.graph = Graph()
        self._watch_graph(self.graph)
        self.dataset_choice = DatasetChoice()
        self.dataset: DatasetSplit | None = None
        self.train_settings: dict[str, Any] = {}
        self.history: list[RunHistory] = []
        #: The trained model (cnnstudio.io.model_file.TrainedModel) or None.
        self.trained: Any = None
        self.samples = SampleCollection()
        self.path: Path | None = None
        self._dirty = False

    # -- dirty / path --------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    def mark_dirty(self, dirty: bool = True) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.events.dirty_changed.emit(dirty)

    def set_path(self, path: Path | None) -> None:
        self.path = path
        self.events.path_changed.emit(path)

    @property
    def title(self) -> str:
        return self.path.stem if self.path else "Untitled"

    # -- content ---------------------------------------------------------------------
    def _watch_graph(self, graph: Any) -> None:
        # Any edit of the architecture is an unsaved change.
        events = graph.events
        for name in (
            "block_added",
            "block_removed",
            "block_changed",
            "block_moved",
            "link_added",
            "link_removed",
            "name_changed",
        ):
            getattr(events, name).connect(self._on_graph_edited)

    def _on_graph_edited(self, *_args: Any) -> None:
        self.mark_dirty()

    def set_graph(self, graph: Any, *, dirty: bool = True) -> None:
        """Replace the architecture (New, Open, a preset); the Input follows the dataset."""
        old = self.graph
        if old is not None and old is not graph:
            old.events.disconnect(self._on_graph_edited)
        self.graph = graph
        self._watch_graph(graph)
        self._fit_graph_to_dataset()
        self.events.graph_replaced.emit()
        if dirty:
            self.mark_dirty()

    def set_dataset(self, choice: DatasetChoice, dataset: DatasetSplit) -> None:
        """Use ``dataset`` (already loaded from ``choice``); the Input block follows its shape.

        Loading the data of the choice the project already has (at start, after Open)
        is not an edit; choosing other data is.
        """
        changed = choice.to_dict() != self.dataset_choice.to_dict()
        self.dataset_choice = choice
        self.dataset = dataset
        self._fit_graph_to_dataset()
        self.events.dataset_changed.emit()
        if changed:
            self.mark_dirty()

    def _fit_graph_to_dataset(self) -> None:
        # The Input block takes the dataset's shape; the Output checks its class count.
        if self.dataset is None:
            return
        self.graph.set_input_shape(tuple(self.dataset.input_shape))
        self.graph.set_num_classes(len(self.dataset.class_names))

    def set_trained(self, bundle: Any) -> None:
        self.trained = bundle
        self.events.trained_changed.emit()
        self.mark_dirty()

    def set_train_settings(self, settings: dict[str, Any]) -> None:
        if dict(settings) == self.train_settings:
            return  # views echo settings back; only a real change is an edit
        first_fill = not self.train_settings  # the view filling in its defaults
        self.train_settings = dict(settings)
        self.events.settings_changed.emit()
        if not first_fill:
            self.mark_dirty()

    def add_run(self, run: RunHistory) -> None:
        self.history.append(run)
        self.events.history_changed.emit()
        self.mark_dirty()

    def notify_samples_changed(self) -> None:
        self.events.samples_changed.emit()
        self.mark_dirty()

    # -- files -----------------------------------------------------------------------
    def to_data(self) -> Any:
        """Everything File > Save writes, as ``cnnstudio.io.project_file.ProjectData``."""
        from cnnstudio.io.project_file import ProjectData

        class_names: list[str] = []
        if self.dataset is not None:
            class_names = [str(c) for c in self.dataset.class_names]
        elif self.trained is not None:
            class_names = [str(c) for c in self.trained.class_names]
        return ProjectData(
            architecture=self.graph.to_architecture(),
            training_settings=dict(self.train_settings),
            history=[run.to_dict() for run in self.history],
            dataset=self.dataset_choice.to_dict(),
            class_names=class_names,
            preprocessing=dict(self.trained.preprocessing) if self.trained is not None else {},
            trained=self.trained,
            samples=self.samples.to_arrays() if len(self.samples) else None,
        )

    def load_data(self, data: Any, path: Path | None) -> None:
        """Replace everything with a loaded ``ProjectData`` (validated by the loader).

        The dataset itself is not stored in the file, only the choice: the Train view
        loads it again (``dataset`` is None until then).
        """
        from cnnstudio.data.samples import SampleCollection
        from cnnstudio.model.graph import Graph

        graph = Graph.from_architecture(data.architecture)
        choice = DatasetChoice.from_dict(data.dataset) if data.dataset else DatasetChoice()
        history = [RunHistory.from_dict(run) for run in data.history]
        samples = (
            SampleCollection.from_arrays(data.samples)
            if data.samples is not None
            else SampleCollection()
        )
        # Everything above may raise; only now change the open project.
        self.dataset = None
        self.dataset_choice = choice
        self.train_settings = dict(data.training_settings)
        self.history = history
        self.trained = data.trained
        self.samples = samples
        self.set_graph(graph, dirty=False)
        for signal in (
            self.events.dataset_changed,
            self.events.settings_changed,
            self.events.history_changed,
            self.events.trained_changed,
            self.events.samples_changed,
        ):
            signal.emit()
        self.set_path(path)
        self.mark_dirty(False)
