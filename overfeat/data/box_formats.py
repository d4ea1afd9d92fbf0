"""Box formats met at the data boundary, and the one rule that fits a box to its image.

Inside the project a box is ``xyxy``: float32 ``[x0, y0, x1, y1]`` in pixels of the original image,
continuous coordinates in which the image spans ``[0, W] x [0, H]`` and pixel ``(i, j)`` covers
``[j, j+1) x [i, i+1)``. A box therefore has width ``x1 - x0`` with no "+1".

Formats converted here:
- TFDS ``BBoxFeature``: normalized ``[ymin, xmin, ymax, xmax]`` in ``[0, 1]``.
- PASCAL VOC XML: 1-based inclusive pixel indices; pixels ``xmin..xmax`` span ``[xmin-1, xmax]``.
- ILSVRC XML (same schema as VOC): coordinates already on the continuous grid (see NOTES.md).
- COCO JSON: ``[x, y, width, height]`` in continuous pixels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

# TFDS datasets whose BBoxFeature holds VOC's 1-based pixel indices divided by the image size
# (TFDS's voc builder divides the XML's numbers without the shift to the continuous grid).
ONE_BASED_TFDS_DATASETS = ("voc",)

# Kinds reported by ``fit_box_xyxy`` (also the phrases of the prepare summary).
BOX_CLIPPED = "box clipped to the image"
BOX_NOT_FINITE = "box dropped: coordinate not a number"
BOX_INVERTED = "box dropped: inverted (min > max)"
BOX_EMPTY = "box dropped: empty (zero width or height)"
BOX_OUTSIDE = "box dropped: outside the image"


def xyxy_from_yxyx_normalized(bbox: np.ndarray, height: int, width: int) -> np.ndarray:
    """TFDS's normalized ``[ymin, xmin, ymax, xmax]`` [N, 4] -> ``xyxy`` pixels [N, 4] float32."""
    bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)       # [N, 4]
    scale = np.array([width, height, width, height], dtype=np.float64)
    return (bbox[:, [1, 0, 3, 2]] * scale).astype(np.float32)      # [N, 4]


def yxyx_normalized_from_xyxy(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """``xyxy`` pixels [N, 4] -> TFDS's normalized ``[ymin, xmin, ymax, xmax]`` [N, 4] float32."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)     # [N, 4]
    scale = np.array([height, width, height, width], dtype=np.float64)
    return (boxes[:, [1, 0, 3, 2]] / scale).astype(np.float32)     # [N, 4]


def xyxy_from_voc_pixels(xmin: float, ymin: float, xmax: float, ymax: float
                         ) -> tuple[float, float, float, float]:
    """PASCAL VOC's 1-based inclusive pixel indices -> ``xyxy`` (a box of pixel 1 is [0, 1])."""
    return (xmin - 1.0, ymin - 1.0, xmax, ymax)


def xyxy_from_xywh(x: float, y: float, width: float, height: float
                   ) -> tuple[float, float, float, float]:
    """COCO's ``[x, y, width, height]`` -> ``xyxy``."""
    return (x, y, x + width, y + height)


class FittedBox(NamedTuple):
    box: tuple[float, float, float, float] | None   # xyxy inside the image, or None: dropped
    problem: str | None                             # one of the BOX_* kinds, or None


def fit_box_xyxy(box: tuple[float, float, float, float], width: float, height: float
                 ) -> FittedBox:
    """Fits an ``xyxy`` box to an image of ``width`` x ``height`` (any unit, e.g. 1 x 1).

    Dropped: a non-finite coordinate, an inverted box (min > max: which corner was meant is a
    guess, so no swap), an empty box (zero width or height), a box with no area inside the
    image. Clipped: a box partly outside the image. Anything else is returned unchanged.
    """
    x0, y0, x1, y1 = (float(value) for value in box)
    if not all(math.isfinite(value) for value in (x0, y0, x1, y1)):
        return FittedBox(None, BOX_NOT_FINITE)
    if x0 > x1 or y0 > y1:
        return FittedBox(None, BOX_INVERTED)
    if x0 == x1 or y0 == y1:
        return FittedBox(None, BOX_EMPTY)
    clipped = (min(max(x0, 0.0), width), min(max(y0, 0.0), height),
               min(max(x1, 0.0), width), min(max(y1, 0.0), height))
    if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
        return FittedBox(None, BOX_OUTSIDE)
    if clipped != (x0, y0, x1, y1):
        return FittedBox(clipped, BOX_CLIPPED)
    return FittedBox(clipped, None)
