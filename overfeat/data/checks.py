"""Bad data caught at the boundary: image decoding and the sanity of an example's boxes.

Every source (synthetic, TFDS, a user's files) hands its examples through ``check_example``
and decodes with ``decode_image``, so a broken file or box ends as a ``BadExampleError`` that
names the example and the problem, never as a silently wrong label or box. Pipelines then
either stop on it (``on_bad_example="raise"``, the default) or skip the example and count and
log the skip (``"skip"``; see ``BadExampleLog``).

The example contract (shared by the whole package):

* ``image``  uint8 [H, W, 3] RGB
* ``label``  int32 scalar, optional (classification/localization: the main object's class)
* ``boxes``  float32 [N, 4] ``xyxy`` in pixels of this image (pixel ``(r, c)`` covers
  ``[c, c + 1) x [r, r + 1)``, so a full-image box is ``(0, 0, W, H)``)
* ``labels`` int32 [N]; ``ignore`` bool [N], optional (crowd / difficult)
"""

from __future__ import annotations

import io
import logging
import math

import numpy as np
from PIL import Image

logger = logging.getLogger("overfeat.data")

# Keys holding one entry per box: filtered together whenever boxes are dropped.
PER_BOX_KEYS = ("boxes", "labels", "ignore")

# How far (pixels) a box may stick out of the image and still be clipped silently: VOC's
# 1-based inclusive corners and rounding put honest boxes up to a pixel outside.
BOX_TOLERANCE = 1.0


class BadExampleError(ValueError):
    """An example that cannot be used as it is (broken image, impossible box)."""


def decode_image(data: bytes, *, name: str = "image", min_shorter_side: int | None = None
                 ) -> np.ndarray:
    """Decode an encoded image (JPEG, PNG, ...) to uint8 RGB ``[H, W, 3]``.

    Grayscale, palette, CMYK (including Adobe's inverted CMYK JPEGs, as in ImageNet) and
    alpha images are converted to RGB. A truncated or unreadable file raises
    ``BadExampleError`` naming ``name``: Pillow's ``LOAD_TRUNCATED_IMAGES`` is never set, so
    a half-decoded image cannot pass for a whole one.

    ``min_shorter_side``: let the JPEG decoder scale down by 2, 4 or 8 (DCT scaling, much
    faster) while keeping the shorter side >= this. The image may then be smaller than the
    file's: scale the boxes by the returned shape over the file's (``image_size``).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if min_shorter_side and image.format == "JPEG":
                width, height = image.size
                factor = min_shorter_side / min(width, height)
                image.draft("RGB", (math.ceil(width * factor), math.ceil(height * factor)))
            image.load()
            if image.mode != "RGB":
                image = _to_rgb(image)
            array = np.asarray(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise BadExampleError(f"{name}: cannot decode the image ({error})") from error
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise BadExampleError(f"{name}: decoded to {array.dtype} {array.shape}, not RGB")
    return array


def image_size(data: bytes, *, name: str = "image") -> tuple[int, int]:
    """``(height, width)`` of an encoded image, read from its header only."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, SyntaxError, ValueError) as error:
        raise BadExampleError(f"{name}: cannot read the image header ({error})") from error
    return height, width


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16"):  # 16-bit grayscale (some PNGs): keep the top 8 bits
        image = Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in
                                               image.info):
        # Transparent pixels over white, as browsers and viewers show them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def check_example(example: dict, *, name: str = "example", num_classes: int | None = None,
                  tolerance: float = BOX_TOLERANCE) -> dict:
    """Check ``example`` against the contract; return it with boxes clipped to the image.

    Raises ``BadExampleError`` naming ``name`` for: an image that is not uint8 [H, W, 3]; boxes
    that are not finite [N, 4]; an empty or inverted box (``x1 <= x0`` or ``y1 <= y0``); a box
    more than ``tolerance`` pixels outside the image; per-box fields of different lengths; a
    label outside ``0 .. num_classes - 1``. Boxes within the tolerance are clipped (a new dict
    is returned; the input is not modified).
    """
    image = example.get("image")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        described = (f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray)
                     else type(image).__name__)
        raise BadExampleError(f"{name}: image must be uint8 [H, W, 3] RGB, got {described}")
    height, width = image.shape[:2]
    out = dict(example)
    if "label" in example:
        out["label"] = _check_labels(np.asarray(example["label"]), name, num_classes, "label")
    if "boxes" not in example:
        return out
    boxes = np.asarray(example["boxes"], dtype=np.float32)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise BadExampleError(f"{name}: boxes must be [N, 4] xyxy, got shape {boxes.shape}")
    count = boxes.shape[0]
    for key in PER_BOX_KEYS[1:]:
        if key in example and np.shape(example[key]) != (count,):
            raise BadExampleError(f"{name}: {count} boxes but {key} has shape "
                                  f"{np.shape(example[key])}")
    if "labels" not in example:
        raise BadExampleError(f"{name}: {count} boxes without 'labels'")
    if not np.isfinite(boxes).all():
        bad = int(np.flatnonzero(~np.isfinite(boxes).all(1))[0])
        raise BadExampleError(f"{name}: box {bad} is not finite: {boxes[bad].tolist()}")
    inverted = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if inverted.any():
        bad = int(np.flatnonzero(inverted)[0])
        raise BadExampleError(f"{name}: box {bad} is empty or inverted (xyxy "
                              f"{boxes[bad].tolist()}; need x0 < x1 and y0 < y1)")
    limits = np.array([0, 0, width, height], np.float32)
    outside = ((boxes[:, :2] < -tolerance).any(1) | (boxes[:, 2] > width + tolerance)
               | (boxes[:, 3] > height + tolerance))
    if outside.any():
        bad = int(np.flatnonzero(outside)[0])
        raise BadExampleError(f"{name}: box {bad} (xyxy {boxes[bad].tolist()}) lies outside "
                              f"the {width}x{height} image")
    clipped = np.clip(boxes, 0, limits[[2, 3, 2, 3]])
    if ((clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])).any():
        bad = int(np.flatnonzero((clipped[:, 2] <= clipped[:, 0])
                                 | (clipped[:, 3] <= clipped[:, 1]))[0])
        raise BadExampleError(f"{name}: box {bad} (xyxy {boxes[bad].tolist()}) has no area "
                              f"inside the {width}x{height} image")
    out["boxes"] = clipped
    out["labels"] = _check_labels(np.asarray(example["labels"]), name, num_classes, "labels")
    if "ignore" in example:
        out["ignore"] = np.asarray(example["ignore"], dtype=bool)
    return out


def _check_labels(labels: np.ndarray, name: str, num_classes: int | None, key: str):
    if labels.dtype.kind not in "iu":
        raise BadExampleError(f"{name}: {key} must be integers, got {labels.dtype}")
    if labels.size and (labels.min() < 0 or (num_classes is not None
                                             and labels.max() >= num_classes)):
        limit = f"0..{num_classes - 1}" if num_classes is not None else ">= 0"
        raise BadExampleError(f"{name}: {key} {labels.tolist()} outside {limit}")
    return labels.astype(np.int32)


class BadExampleLog:
    """Counts and logs skipped examples (one process; worker processes keep their own)."""

    def __init__(self, source_name: str = "source"):
        self.source_name = source_name
        self.skipped = 0

    def skip(self, index: int, error: Exception) -> None:
        self.skipped += 1
        logger.warning("skipping example %d of %s (%d skipped in this process): %s",
                       index, self.source_name, self.skipped, error)
