"""Image and boxes transformed together: resize, crop, flip, pad.

Every function takes an example dict (the contract in ``overfeat.data.checks``) and returns a
NEW dict whose ``image`` and ``boxes`` have moved together; other keys pass through. The
random ones are pure functions of ``(example, rng)`` with ``rng`` a ``np.random.Generator``.

Coordinates are continuous pixel edges: pixel ``(r, c)`` covers ``[c, c + 1) x [r, r + 1)``,
so resizing by ``s`` multiplies every coordinate by ``s`` exactly, and flipping an image of
width ``W`` maps ``x`` to ``W - x``. Pillow's resampling uses the same frame (output pixel
``i`` samples input position ``(i + 0.5) / s``).

Boxes that leave the image are clipped to it; a clipped box is DROPPED (with its label and
every other per-box field) when less than ``min_visible`` of its area stays inside
(``DEFAULT_MIN_VISIBLE`` = 0.3: below that the crop shows too little of the object to name it;
the torchvision and SSD references keep a box when its centre stays inside, which is about
the same for boxes cut on one side). Boxes with no area left are always dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from overfeat.data.checks import PER_BOX_KEYS

DEFAULT_MIN_VISIBLE = 0.3
RESAMPLE = Image.Resampling.BILINEAR  # with antialiasing when shrinking (Pillow's filters)


def image_shape(example: dict) -> tuple[int, int]:
    """``(height, width)`` of the example's image."""
    return example["image"].shape[0], example["image"].shape[1]


def select_boxes(example: dict, keep: np.ndarray) -> dict:
    """The example with only the boxes where ``keep`` is true (and their per-box fields)."""
    out = dict(example)
    for key in PER_BOX_KEYS:
        if key in example:
            out[key] = np.asarray(example[key])[keep]
    return out


def _move_boxes(example: dict, boxes: np.ndarray, height: int, width: int,
                min_visible: float) -> dict:
    """Put ``boxes`` (already in the new frame) into the example, clipped to ``height`` x
    ``width``; drop those less than ``min_visible`` inside."""
    if "boxes" not in example:
        return example
    boxes = boxes.astype(np.float32).reshape(-1, 4)
    clipped = np.clip(boxes, 0, np.array([width, height, width, height], np.float32))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = np.maximum(clipped[:, 2] - clipped[:, 0], 0) * np.maximum(
        clipped[:, 3] - clipped[:, 1], 0)
    keep = (inside > 0) & (inside >= min_visible * area)
    out = dict(example)
    out["boxes"] = clipped
    return select_boxes(out, keep)


def resized_crop(example: dict, box: Sequence[float], height: int, width: int, *,
                 min_visible: float = DEFAULT_MIN_VISIBLE) -> dict:
    """Cut ``box`` (xyxy, float pixels of this image, may exceed it) and resize it to
    ``height`` x ``width``: one resampling for 'resize, then crop' (a crop of a resized image
    is a resized crop of the original) and for 'resize' (``box`` the whole image).

    Parts of ``box`` outside the image come out black (Pillow's fill); the pipelines only ask
    for boxes inside the image.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0 or height < 1 or width < 1:
        raise ValueError(f"resized_crop needs a non-empty box and output, got box {box}, "
                         f"output {height}x{width}")
    h, w = image_shape(example)
    image = example["image"]
    if (x1 - x0, y1 - y0) == (width, height) and float(x0).is_integer() and \
            float(y0).is_integer() and x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        out_image = image[int(y0):int(y1), int(x0):int(x1)]  # a plain crop: no resampling
    else:
        out_image = np.asarray(Image.fromarray(image).resize(
            (width, height), RESAMPLE, box=(x0, y0, x1, y1), reducing_gap=3.0))
    out = dict(example)
    out["image"] = np.ascontiguousarray(out_image)
    if "boxes" in example:
        scale = np.array([width / (x1 - x0), height / (y1 - y0)] * 2, np.float32)
        offset = np.array([x0, y0, x0, y0], np.float32)
        moved = (np.asarray(example["boxes"], np.float32) - offset) * scale
        out = _move_boxes(out, moved, height, width, min_visible)
    return out


def resize(example: dict, height: int, width: int) -> dict:
    """Resize to ``height`` x ``width`` (aspect not kept); boxes scale with the image."""
    h, w = image_shape(example)
    if (h, w) == (height, width):
        return dict(example)
    return resized_crop(example, (0, 0, w, h), height, width, min_visible=0.0)


def shorter_side_shape(shape: tuple[int, int], size: int) -> tuple[int, int]:
    """``(height, width)`` with the shorter side ``size`` and the aspect kept (rounded)."""
    h, w = shape
    scale = size / min(h, w)
    return (size, max(1, round(w * scale))) if h <= w else (max(1, round(h * scale)), size)


def resize_shorter_side(example: dict, size: int) -> dict:
    """Resize so that the shorter side is ``size`` pixels, keeping the aspect (the paper's
    'downsampled so that the smallest dimension is 256 pixels')."""
    return resize(example, *shorter_side_shape(image_shape(example), size))


def resize_longer_side(example: dict, size: int) -> dict:
    """Resize so that the longer side is ``size`` pixels, keeping the aspect."""
    h, w = image_shape(example)
    scale = size / max(h, w)
    return resize(example, max(1, round(h * scale)), max(1, round(w * scale)))


def crop(example: dict, top: int, left: int, height: int, width: int, *,
         min_visible: float = DEFAULT_MIN_VISIBLE) -> dict:
    """The ``height`` x ``width`` window at ``(top, left)``, which must lie in the image."""
    h, w = image_shape(example)
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(f"crop {height}x{width} at (top={top}, left={left}) does not fit "
                         f"the {h}x{w} image")
    return resized_crop(example, (left, top, left + width, top + height), height, width,
                        min_visible=min_visible)


def center_crop(example: dict, height: int, width: int, *,
                min_visible: float = DEFAULT_MIN_VISIBLE) -> dict:
    h, w = image_shape(example)
    _check_fits(h, w, height, width)
    return crop(example, (h - height) // 2, (w - width) // 2, height, width,
                min_visible=min_visible)


def random_crop(example: dict, rng: np.random.Generator, height: int, width: int, *,
                min_visible: float = DEFAULT_MIN_VISIBLE) -> dict:
    """A ``height`` x ``width`` window at a uniformly random integer position."""
    h, w = image_shape(example)
    _check_fits(h, w, height, width)
    top, left = int(rng.integers(h - height + 1)), int(rng.integers(w - width + 1))
    return crop(example, top, left, height, width, min_visible=min_visible)


def _check_fits(h: int, w: int, height: int, width: int) -> None:
    if height > h or width > w:
        raise ValueError(f"cannot crop {height}x{width} from a {h}x{w} image")


def horizontal_flip(example: dict) -> dict:
    """Mirror left-right: ``x -> W - x`` (so ``x0' = W - x1``, ``x1' = W - x0``)."""
    out = dict(example)
    out["image"] = np.ascontiguousarray(example["image"][:, ::-1])
    if "boxes" in example:
        width = image_shape(example)[1]
        boxes = np.asarray(example["boxes"], np.float32).reshape(-1, 4)
        out["boxes"] = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0],
                                 boxes[:, 3]], axis=1)
    return out


def random_horizontal_flip(example: dict, rng: np.random.Generator,
                           probability: float = 0.5) -> dict:
    return horizontal_flip(example) if rng.random() < probability else dict(example)


def pad_to(example: dict, height: int, width: int, fill: int = 0) -> dict:
    """Pad at the bottom and right to ``height`` x ``width``; boxes do not move."""
    h, w = image_shape(example)
    if height < h or width < w:
        raise ValueError(f"cannot pad a {h}x{w} image to {height}x{width}")
    out = dict(example)
    image = np.full((height, width, 3), fill, np.uint8)  # [H, W, 3]
    image[:h, :w] = example["image"]
    out["image"] = image
    return out


def random_scaled_crop(example: dict, rng: np.random.Generator, shorter_side: int,
                       height: int, width: int, *, min_visible: float = DEFAULT_MIN_VISIBLE,
                       keep_label: int | None = None, tries: int = 10) -> dict:
    """Resize so the shorter side is ``shorter_side``, then cut a random ``height`` x
    ``width`` window (one resampling). With ``keep_label``, retry up to ``tries`` windows
    for one that keeps a box of that class (so a crop never loses the object its label
    names); if none does, take the window centred on that class's largest box.
    """
    h, w = image_shape(example)
    new_h, new_w = shorter_side_shape((h, w), shorter_side)
    _check_fits(new_h, new_w, height, width)
    sy, sx = h / new_h, w / new_w  # original pixels per resized pixel

    def window(top: int, left: int) -> dict:
        box = (left * sx, top * sy, (left + width) * sx, (top + height) * sy)
        return resized_crop(example, box, height, width, min_visible=min_visible)

    wanted = None
    if keep_label is not None and "boxes" in example:
        wanted = np.flatnonzero(np.asarray(example["labels"]) == keep_label)
    for _ in range(tries if wanted is not None and wanted.size else 1):
        top, left = int(rng.integers(new_h - height + 1)), int(rng.integers(new_w - width + 1))
        out = window(top, left)
        if wanted is None or not wanted.size or (out["labels"] == keep_label).any():
            return out
    boxes = np.asarray(example["boxes"], np.float32)[wanted]
    target = boxes[np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))]
    centre_x, centre_y = (target[0] + target[2]) / 2 / sx, (target[1] + target[3]) / 2 / sy
    top = int(np.clip(round(centre_y - height / 2), 0, new_h - height))
    left = int(np.clip(round(centre_x - width / 2), 0, new_w - width))
    return window(top, left)


def fit_and_pad(example: dict, size: int) -> tuple[dict, float]:
    """Resize so the longer side is ``size`` and pad to ``size`` x ``size`` (bottom, right).
    Returns the example and the scale (new pixels per original pixel)."""
    h, w = image_shape(example)
    scale = size / max(h, w)
    resized = resize(example, max(1, round(h * scale)), max(1, round(w * scale)))
    return pad_to(resized, size, size), scale


def classification_resize_size(field_of_view: int) -> int:
    """The shorter side images are resized to before cropping ``field_of_view`` windows:
    256 for the paper's nets (221 / 231 views), else 256/221 of the view (the accurate
    net's ratio) for the small ones, so crops cover the same fraction of the image."""
    if field_of_view >= 221:
        return 256
    return math.ceil(field_of_view * 256 / 221)
