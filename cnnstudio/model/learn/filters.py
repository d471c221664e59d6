"""Lesson 6: classic image filters (edges, blur, sharpen, ...) run as a convolution."""

from __future__ import annotations

import numpy as np

from cnnstudio.model.learn.base import LabError
from cnnstudio.model.learn.layers import conv2d

__all__ = ["IMAGE_FILTERS", "apply_image_filter"]

#: Classic kernels: name -> (kernel, one line on what it does).
IMAGE_FILTERS: dict[str, tuple[np.ndarray, str]] = {
    "Edges (horizontal)": (
        np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], dtype=np.float64),
        "Bright where the image gets brighter going down, dark where it gets darker: "
        "horizontal edges light up.",
    ),
    "Edges (vertical)": (
        np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=np.float64),
        "Compares the column on the right with the one on the left: vertical edges light up.",
    ),
    "Sobel (edge strength)": (
        np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64),
        "Two Sobel kernels (this one and its transpose) measure the change across and down; "
        "the map shows the length √(gx² + gy²), so edges of any direction light up.",
    ),
    "Blur (box)": (
        np.full((3, 3), 1 / 9),
        "Every pixel becomes the average of its 3x3 neighbourhood: details soften.",
    ),
    "Sharpen": (
        np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
        "The centre counts 5 times and its neighbours are subtracted: differences grow.",
    ),
    "Emboss": (
        np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64),
        "Compares one corner with the opposite one: the shape looks raised, lit from a side.",
    ),
    "Outline (Laplacian)": (
        np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64),
        "Zero on flat areas, large wherever a pixel differs from its neighbours.",
    ),
    "Identity": (
        np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float64),
        "Only the centre weight is 1: the feature map is the image itself.",
    ),
}


def apply_image_filter(
    image: np.ndarray, name: str, kernel: np.ndarray | None = None
) -> np.ndarray:
    """Filter a grayscale image (H, W) with the reference Conv2D, keeping its size.

    ``kernel`` overrides the named filter's kernel (the user may edit it); for the Sobel
    filter the edited kernel and its transpose give the two directions.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise LabError(f"an image for filtering must be 2-D (H, W), got shape {img.shape}")
    if name not in IMAGE_FILTERS:
        raise LabError(f"unknown filter {name!r} (known: {', '.join(IMAGE_FILTERS)})")
    k = IMAGE_FILTERS[name][0] if kernel is None else np.asarray(kernel, dtype=np.float64)
    pad = ((k.shape[0] - 1) // 2, (k.shape[1] - 1) // 2)
    if name.startswith("Sobel"):
        both = conv2d(img[None], np.stack([k[None], k.T[None]]), None, 1, pad)
        return np.hypot(both[0], both[1])
    return conv2d(img[None], k[None, None], None, 1, pad)[0]
