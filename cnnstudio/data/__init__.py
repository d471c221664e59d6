"""Datasets and image preprocessing for CNN Studio (NumPy and Pillow only, no Qt).

Sources: the built-in samples, MNIST digits and CIFAR-10 colour photos
(:func:`load_builtin`, :data:`BUILTIN_DATASETS`), IDX files (:func:`load_idx`,
:func:`load_idx_dir`), image folders (:func:`load_image_folder`), CSV files
(:func:`load_csv`), CIFAR-10's binary distribution, its batches or
``cifar-10-binary.tar.gz`` (:func:`load_cifar`, :func:`is_cifar_source`; the pickled
Python distribution is refused, never unpickled), the user's drawings
(:class:`SampleCollection`), and one dispatch for the command line and the Train view
(``data.loader``: :func:`load_dataset`, ``load_source``). Everything becomes a
:class:`Dataset` of uint8 (N, C, H, W) images. Training uses
:func:`make_transform` (normalisation + augmentation per batch); prediction uses
:func:`preprocess_digit` / :func:`load_image_for_prediction` and the same
:class:`Normalization`. Every problem is a :class:`DatasetError` (a ``ValueError``).
"""

from cnnstudio.data.augment import (
    DIGIT_AUGMENTATION,
    Augmentation,
    Transform,
    augment_batch,
    make_transform,
    preview_grid,
)
from cnnstudio.data.builtin import BUILTIN_DATASETS, load_builtin
from cnnstudio.data.cifar import CIFAR10_CLASSES, is_cifar_source, load_cifar
from cnnstudio.data.convert import MAX_DATASET_BYTES, convert_images
from cnnstudio.data.csvfile import load_csv
from cnnstudio.data.dataset import (
    Dataset,
    DatasetSplit,
    SkippedFile,
    batch_indices,
    concatenate,
    stratified_split_indices,
)
from cnnstudio.data.errors import DatasetError
from cnnstudio.data.folder import (
    IMAGE_EXTENSIONS,
    load_image_folder,
    load_image_folder_split,
    open_image,
)
from cnnstudio.data.idx import KNOWN_CLASS_NAMES, find_idx_pairs, load_idx, load_idx_dir, read_idx
from cnnstudio.data.loader import describe_spec, load_dataset
from cnnstudio.data.normalize import Normalization
from cnnstudio.data.preprocess import (
    has_ink,
    load_image_for_prediction,
    preprocess_digit,
    to_gray01,
)
from cnnstudio.data.samples import Sample, SampleCollection

__all__ = [
    "BUILTIN_DATASETS",
    "CIFAR10_CLASSES",
    "DIGIT_AUGMENTATION",
    "IMAGE_EXTENSIONS",
    "KNOWN_CLASS_NAMES",
    "MAX_DATASET_BYTES",
    "Augmentation",
    "Dataset",
    "DatasetError",
    "DatasetSplit",
    "Normalization",
    "Sample",
    "SampleCollection",
    "SkippedFile",
    "Transform",
    "augment_batch",
    "batch_indices",
    "concatenate",
    "convert_images",
    "describe_spec",
    "find_idx_pairs",
    "has_ink",
    "is_cifar_source",
    "load_builtin",
    "load_cifar",
    "load_csv",
    "load_dataset",
    "load_idx",
    "load_idx_dir",
    "load_image_folder",
    "load_image_folder_split",
    "load_image_for_prediction",
    "make_transform",
    "open_image",
    "preprocess_digit",
    "preview_grid",
    "read_idx",
    "stratified_split_indices",
    "to_gray01",
]
