#!/usr/bin/env python3
"""Classify images with a convolutional network exported from CNN Studio.

Usage::

    python predict.py digit.png [more.png ...]
    python predict.py digit.png --json

This folder holds three files:

``predict.py``   this script: every layer written out in plain NumPy,
``model.json``   the network's layers in the order they run, the class names and
                 how images are prepared,
``weights.npz``  the trained numbers, one array per layer parameter.

It needs only NumPy and Pillow (``pip install numpy pillow``). Arrays are
``(N, C, H, W)``: N images, C channels, H rows, W columns. The code favours being
easy to read over being fast; CNN Studio's own engine computes the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------
# 1. Preparing an image: the same steps CNN Studio uses for its drawing pad
# ---------------------------------------------------------------------------------

#: Ink fainter than this (0 = none, 1 = full) is treated as background.
INK_THRESHOLD = 0.1
#: MNIST digits fill a 20x20 box inside a 28x28 image.
BOX_FRACTION = 20.0 / 28.0
#: Larger pictures are shrunk to this many pixels (longer side) first.
MAX_SIDE = 1024
#: Images with more pixels are not decoded: converting one takes up to 8 bytes a pixel,
#: and a file of a few hundred bytes can claim billions of them. CNN Studio's own limit
#: (MAX_IMAGE_PIXELS in cnnstudio/data/folder.py).
MAX_PIXELS = 8192 * 8192


def to_gray01(image):
    """Any image array as grayscale floats in [0, 1], shape (H, W)."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (3, 4):
        a = np.moveaxis(a, 0, -1)  # (C, H, W) -> (H, W, C)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.dtype == bool:
        a = a.astype(np.float64)
    elif a.dtype == np.uint8:
        a = a.astype(np.float64) / 255.0
    else:
        a = a.astype(np.float64)
        if a.max() > 1.0:
            a = a / 255.0
    if a.ndim == 3:
        if a.shape[-1] == 4:  # transparent pixels count as white paper
            alpha = a[..., 3:4]
            a = a[..., :3] * alpha + (1.0 - alpha)
        # The usual luminance weights: the eye sees green brightest.
        a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    return np.clip(a, 0.0, 1.0)


def mean3x3(a):
    """The mean of each pixel's 3x3 neighbourhood (edges repeat the border pixel).

    A single noisy pixel fades to a ninth of its value; a pen stroke stays bright.
    """
    p = np.pad(a, 1, mode="edge")
    rows = p[:-2] + p[1:-1] + p[2:]
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) / 9.0


def find_ink(gray, invert="auto"):
    """The ink as bright-on-black in [0, 1] and a mask of the pixels that count as ink.

    MNIST digits are white on black. A photo of paper is the opposite, so when the
    image's border is light the colours are inverted. The paper's own grey level
    becomes the new black and the brightest stroke full white.
    """
    h, w = gray.shape
    b = max(1, min(h, w) // 20)  # border strip width
    border = np.concatenate(
        [gray[:b].ravel(), gray[-b:].ravel(), gray[:, :b].ravel(), gray[:, -b:].ravel()]
    )
    if invert == "auto":
        invert = bool(np.median(border) > 0.5)
    ink = 1.0 - gray if invert else gray
    border_ink = 1.0 - border if invert else border
    background = float(np.median(border_ink))
    # How much the border varies (a robust standard deviation): 0 for a clean drawing,
    # a few grey levels for a photo.
    noise = 1.4826 * float(np.median(np.abs(border_ink - background)))
    if noise < 1.0 / 255.0:
        # Clean input (a drawing pad, a scan, MNIST itself): every bit of ink counts.
        top = float(ink.max())
        if top - background < INK_THRESHOLD:
            return np.zeros_like(ink), np.zeros(ink.shape, dtype=bool)  # nothing drawn
        stretched = np.clip((ink - background) / (top - background), 0.0, 1.0)
        # The box around the clear ink, one pixel wider to take in the faint
        # anti-aliased fringe (as MNIST's boxes do), but not faint marks elsewhere.
        core = stretched > INK_THRESHOLD
        rows, cols = np.flatnonzero(core.any(axis=1)), np.flatnonzero(core.any(axis=0))
        y0, y1 = max(rows[0] - 1, 0), min(rows[-1] + 2, h)
        x0, x1 = max(cols[0] - 1, 0), min(cols[-1] + 2, w)
        mask = np.zeros(ink.shape, dtype=bool)
        mask[y0:y1, x0:x1] = stretched[y0:y1, x0:x1] > 0.0
        return stretched, mask
    # Noisy input (a photo): judge the brightest ink and the ink's extent on the 3x3
    # mean, so single noisy pixels neither set the contrast nor widen the box.
    smooth = mean3x3(ink)
    top = float(smooth.max())
    if top - background < max(INK_THRESHOLD, 3.0 * noise):
        return np.zeros_like(ink), np.zeros(ink.shape, dtype=bool)  # nothing drawn
    scale = 1.0 / (top - background)
    stretched = np.clip((ink - background) * scale, 0.0, 1.0)
    # Ink must be bright itself (not just near a stroke) and have bright neighbours
    # (not a speck of dust).
    mask = ((smooth - background) * scale > INK_THRESHOLD) & (stretched > INK_THRESHOLD)
    return stretched, mask


def preprocess_digit(image, out_size=(28, 28), invert="auto"):
    """MNIST-style preparation of a drawn or photographed digit.

    1. crop to the ink's bounding box,
    2. scale it so its longer side fills 20/28 of the output, keeping the aspect ratio,
    3. place it so its centre of mass is at pixel (H/2, W/2), as in MNIST.

    Returns float32 (H, W) in [0, 1]; all zeros when there is no ink.
    """
    out_h, out_w = int(out_size[0]), int(out_size[1])
    ink, mask = find_ink(to_gray01(image), invert)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    out = np.zeros((out_h, out_w), dtype=np.float32)
    if rows.size == 0:
        return out
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)

    box_h = max(1, round(out_h * BOX_FRACTION))
    box_w = max(1, round(out_w * BOX_FRACTION))
    factor = min(box_h / crop.shape[0], box_w / crop.shape[1])
    new_h = min(box_h, max(1, round(crop.shape[0] * factor)))
    new_w = min(box_w, max(1, round(crop.shape[1] * factor)))
    resized = Image.fromarray(crop).resize((new_w, new_h), Image.Resampling.LANCZOS)
    glyph = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)

    mass = float(glyph.sum())
    if mass <= 0.0:
        return out
    # Centre of mass: the ink-weighted average row and column.
    cy = float((glyph.sum(axis=1) * np.arange(new_h)).sum() / mass)
    cx = float((glyph.sum(axis=0) * np.arange(new_w)).sum() / mass)
    # MNIST puts the centre of mass at pixel (14, 14) of its 28x28 images.
    top = round(out_h / 2.0 - cy)
    left = round(out_w / 2.0 - cx)
    # Paste, cutting off whatever would fall outside the output.
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + new_h, out_h), min(left + new_w, out_w)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = glyph[y0 - top : y1 - top, x0 - left : x1 - left]
    return out


def open_regular(path):
    """Open ``path`` for reading, refusing anything that is not a regular file.

    Opening a pipe (FIFO) would wait forever for a writer, and a device such as
    /dev/zero never ends: O_NONBLOCK keeps the open from waiting, and the file's
    type is checked before anything is read. (A copy of open_regular in CNN Studio's
    cnnstudio/fileio.py.)
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file (a folder, a pipe or a device)")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_image(f):
    """Open an image file without decoding it, refusing one of more than MAX_PIXELS pixels.

    The size comes from the file's header. A JPEG is first set to decode at a reduced
    size (1/2, 1/4 or 1/8) near MAX_SIDE, so a large photo still opens. (As in
    image_file in CNN Studio's cnnstudio/data/folder.py.)
    """
    with warnings.catch_warnings():
        # Pillow warns from 89 megapixels; the size is checked below instead.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            opened = Image.open(f)
        except Image.DecompressionBombError as exc:
            raise ValueError(f"the image is too large to open safely ({exc})") from None
    # Phone photos are thousands of pixels wide: work on a copy at most
    # MAX_SIDE pixels wide (JPEG files can even be decoded at that size).
    opened.draft(opened.mode, (MAX_SIDE, MAX_SIDE))
    w, h = opened.size
    if w * h > MAX_PIXELS:
        opened.close()
        raise ValueError(
            f"the image is too large: {w}x{h} pixels (at most {MAX_PIXELS:,} are read); shrink it"
        )
    return opened


def load_image(path, input_shape, digit):
    """Read an image file as one network input, float32 (C, H, W) in [0, 1]."""
    c, h, w = input_shape
    with open_regular(path) as f, open_image(f) as opened:
        opened.load()
        img = opened
        if max(img.size) > MAX_SIDE:
            img = img.copy()
            img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
            # Put transparent images on white paper first.
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)
        picture = img.convert("L" if c == 1 else "RGB")
    if digit:
        x = preprocess_digit(np.asarray(picture), (h, w))
        return np.repeat(x[None], c, axis=0)  # an RGB model sees three equal channels
    # The largest centred box with the input's proportions, resized: a wide photo loses
    # its sides instead of being squashed (as CNN Studio reads a photo).
    pw, ph = picture.size
    if pw * h > ph * w:
        cw = max(1, round(ph * w / h))
        box = ((pw - cw) // 2, 0, (pw - cw) // 2 + cw, ph)
    else:
        ch = max(1, round(pw * h / w))
        box = (0, (ph - ch) // 2, pw, (ph - ch) // 2 + ch)
    picture = picture.crop(box)
    if picture.size != (w, h):
        picture = picture.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    a = np.asarray(picture, dtype=np.float32) / 255.0
    return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))


def normalize(x, normalization):
    """Subtract the training data's mean and divide by its standard deviation, per channel."""
    if not normalization or normalization.get("mean") is None:
        return x.astype(np.float32)
    mean = np.asarray(normalization["mean"], dtype=np.float32).reshape(-1, 1, 1)
    std = np.asarray(normalization["std"], dtype=np.float32).reshape(-1, 1, 1)
    return ((x - mean) / std).astype(np.float32)


# ---------------------------------------------------------------------------------
# 2. The layers: one small function each
# ---------------------------------------------------------------------------------


def pad(x, pads, value=0.0):
    """Add rows/columns of ``value`` around each image: pads = (top, bottom, left, right)."""
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def output_size(size, kernel, stride, pad_total):
    """How many positions a window of ``kernel`` takes along an axis: (I + P - K) // S + 1."""
    return (size + pad_total - kernel) // stride + 1


def conv2d(x, w, b, stride, pads):
    """Convolution: slide each of the F kernels w[f] (C x KH x KW) over the image.

    Rather than visiting every output pixel, loop over the KH*KW kernel positions:
    for offset (i, j), every output pixel sees the input pixel (i, j) steps away
    from its window's corner, so one matrix product handles all of them at once.
    (Any kernel flip was applied when the model was exported.)
    """
    n, _, h, width = x.shape
    f, _, kh, kw = w.shape
    sh, sw = stride
    oh = output_size(h, kh, sh, pads[0] + pads[1])
    ow = output_size(width, kw, sw, pads[2] + pads[3])
    xp = pad(x, pads)
    out = np.zeros((n, f, oh, ow), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            # The input pixels seen by kernel position (i, j), for every output pixel.
            patch = xp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]  # (N, C, OH, OW)
            out += np.einsum("fc,nchw->nfhw", w[:, :, i, j], patch)
    if b is not None:
        out += b.reshape(1, f, 1, 1)
    return out


def max_pool2d(x, size, stride, pads):
    """The largest value in each window (padding never wins: it is -infinity)."""
    return _pool(pad(x, pads, -np.inf), size, stride, np.maximum)


def avg_pool2d(x, size, stride, pads):
    """The mean of each window; padded zeros count in the mean."""
    total = _pool(pad(x, pads, 0.0), size, stride, np.add)
    return total / np.float32(size[0] * size[1])


def _pool(xp, size, stride, combine):
    kh, kw = size
    sh, sw = stride
    oh = output_size(xp.shape[2], kh, sh, 0)
    ow = output_size(xp.shape[3], kw, sw, 0)
    result = None
    for i in range(kh):
        for j in range(kw):
            window_pixel = xp[:, :, i : i + sh * oh : sh, j : j + sw * ow : sw]
            result = window_pixel.copy() if result is None else combine(result, window_pixel)
    return result


def global_avg_pool(x):
    """The mean of each whole channel: (N, C, H, W) -> (N, C), one number per map."""
    return x.mean(axis=(2, 3))


def global_max_pool(x):
    """The largest value of each whole channel: (N, C, H, W) -> (N, C)."""
    return x.max(axis=(2, 3))


def flatten(x):
    """(N, C, H, W) -> (N, C*H*W), channel by channel, row by row."""
    return x.reshape(x.shape[0], -1)


def dense(x, w, b):
    """Fully connected: every output is a weighted sum of every input, plus a bias."""
    y = x @ w.T
    return y if b is None else y + b


def per_channel(v, x):
    """Shape a per-channel vector so it lines up with axis 1 of ``x``."""
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm(x, gamma, beta, mean, var, eps):
    """Normalise each channel with the statistics collected in training, then scale and shift."""
    x_hat = (x - per_channel(mean, x)) / np.sqrt(per_channel(var, x) + eps)
    return x_hat * per_channel(gamma, x) + per_channel(beta, x)


def relu(x):
    return np.maximum(x, 0.0)


def leaky_relu(x, alpha):
    """Like ReLU, but negative inputs keep a small slope ``alpha``."""
    return np.where(x > 0, x, alpha * x)


def prelu(x, alpha):
    """Leaky ReLU whose negative slope was learned, one per channel."""
    return np.where(x > 0, x, per_channel(alpha, x) * x)


def sigmoid(x):
    # Written with tanh so large negative inputs do not overflow exp().
    return 0.5 * np.tanh(0.5 * x) + 0.5


def tanh(x):
    return np.tanh(x)


def softmax(x):
    """Turn scores into probabilities along axis 1 (they become positive and sum to 1)."""
    e = np.exp(x - x.max(axis=1, keepdims=True))  # minus the max: same result, no overflow
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------------
# 3. Running the network
# ---------------------------------------------------------------------------------


def run_layer(node, inputs, weights):
    """Apply one layer described in model.json to its input array(s)."""
    kind, cfg, name = node["type"], node["config"], node["id"]
    x = inputs[0]

    def param(key):
        return weights.get(f"{name}.{key}")

    if kind == "Conv2D":
        return conv2d(x, param("w"), param("b"), cfg["stride"], cfg["pads"])
    if kind == "MaxPool2D":
        return max_pool2d(x, cfg["pool_size"], cfg["stride"], cfg["pads"])
    if kind == "AvgPool2D":
        return avg_pool2d(x, cfg["pool_size"], cfg["stride"], cfg["pads"])
    if kind == "GlobalAvgPool2D":
        return global_avg_pool(x)
    if kind == "GlobalMaxPool2D":
        return global_max_pool(x)
    if kind == "Flatten":
        return flatten(x)
    if kind == "Dense":
        return dense(x, param("w"), param("b"))
    if kind == "BatchNorm":
        return batch_norm(
            x,
            param("gamma"),
            param("beta"),
            param("running_mean"),
            param("running_var"),
            cfg["eps"],
        )
    if kind == "ReLU":
        return relu(x)
    if kind == "LeakyReLU":
        return leaky_relu(x, cfg["alpha"])
    if kind == "PReLU":
        return prelu(x, param("alpha"))
    if kind == "Sigmoid":
        return sigmoid(x)
    if kind == "Tanh":
        return tanh(x)
    if kind == "Softmax":
        return softmax(x)
    if kind == "Dropout":
        return x  # dropout only acts while training
    if kind == "Add":
        return sum(inputs[1:], inputs[0])
    if kind == "Concatenate":
        return np.concatenate(inputs, axis=1)  # stack along the channel axis
    raise ValueError(f"layer {name}: unknown layer type {kind!r}")


def predict_proba(model, weights, x):
    """Class probabilities (N, K) for a batch x (N, C, H, W) of prepared images."""
    outputs = {}
    for node in model["nodes"]:  # listed in an order where inputs come first
        if node["type"] == "Input":
            outputs[node["id"]] = x.astype(np.float32)
            continue
        outputs[node["id"]] = run_layer(node, [outputs[i] for i in node["inputs"]], weights)
        if node["id"] == model["logits"]:
            break
    scores = outputs[model["logits"]]
    if model["output_activation"] == "sigmoid":
        p = sigmoid(scores[:, 0])  # one unit: the probability of the second class
        return np.stack([1.0 - p, p], axis=1)
    return softmax(scores)


def load_model(folder=HERE):
    """model.json and weights.npz from ``folder``."""
    folder = Path(folder)
    model = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    with np.load(folder / "weights.npz", allow_pickle=False) as data:
        weights = {key: data[key] for key in data.files}
    return model, weights


def main(argv=None):
    parser = argparse.ArgumentParser(description="Classify images with the exported network.")
    parser.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)

    model, weights = load_model()
    prep = model["preprocessing"]
    shape = model["input_shape"]
    results = []
    for path in args.images:
        try:
            image = load_image(path, shape, prep.get("digit", False))
        except Exception as exc:  # Pillow's decoders raise many types on damaged data
            print(f"predict.py: cannot read {path}: {exc}", file=sys.stderr)
            return 1
        x = normalize(image, prep.get("normalization"))[None]  # a batch of one
        probs = predict_proba(model, weights, x)[0]
        best = int(np.argmax(probs))
        results.append(
            {
                "image": str(path),
                "class": model["class_names"][best],
                "probability": float(probs[best]),
                "probabilities": {c: float(probs[i]) for i, c in enumerate(model["class_names"])},
            }
        )
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            print(f"{r['image']}: {r['class']} ({100 * r['probability']:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
