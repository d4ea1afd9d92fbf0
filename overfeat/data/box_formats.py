"""Box formats met at the data boundary, and the one rule that fits a box to its image.

Inside the project a box is ``xyxy``: float32 ``[x0, y0, x1, y1]`` in pixels of the original image,
continuous coordinates in which the image spans ``[0, W] x [0, H]`` and pixel ``(i, j)`` covers
``[j, j+1) x [i, i+1)``. A box therefore has width ``x1 - x0`` with no "+1".

Formats converted here (TFDS's normalized ``[ymin, xmin, ymax, xmax]`` by
``overfeat.boxes.xyxy_from_tfds_yxyx_normalized`` and its inverse, in float64 at the
boundary):
- PASCAL VOC XML: 1-based inclusive pixel indices; pixels ``xmin..xmax`` span ``[xmin-1, xmax]``.
- ILSVRC XML (same schema as VOC): coordinates already on the continuous grid (see NOTES.md).
- COCO JSON: ``[x, y, width, height]`` in continuous pixels.
"""

from __future__ import annotations

import math
from typing import NamedTuple

# TFDS datasets whose BBoxFeature holds VOC's 1-based pixel indices divided by the image size
# (TFDS's voc builder divides the XML's numbers without the shift to the continuous grid).
ONE_BASED_TFDS_DATASETS = ("voc",)

# Kinds reported by ``fit_box_xyxy`` (also the phrases of the prepare summary).
BOX_CLIPPED = "box clipped to the image"
BOX_NOT_FINITE = "box dropped: coordinate not a number"
BOX_INVERTED = "box dropped: inverted (min > max)"
BOX_EMPTY = "box dropped: empty (zero width or height)"
BOX_OUTSIDE = "box dropped: outside the image"
BOXES_SCALED = "boxes scaled from the annotation's image size"
BOXES_ORIENTED = "boxes turned with the EXIF orientation (annotated on the stored pixels)"


def xyxy_from_voc_pixels(xmin: float, ymin: float, xmax: float, ymax: float
                         ) -> tuple[float, float, float, float]:
    """PASCAL VOC's 1-based inclusive pixel indices -> ``xyxy`` (a box of pixel 1 is [0, 1])."""
    return (xmin - 1.0, ymin - 1.0, xmax, ymax)


def xyxy_from_xywh(x: float, y: float, width: float, height: float
                   ) -> tuple[float, float, float, float]:
    """COCO's ``[x, y, width, height]`` -> ``xyxy``."""
    return (x, y, x + width, y + height)


def xyxy_after_exif_orientation(box: tuple[float, float, float, float], orientation: int,
                                width: float, height: float
                                ) -> tuple[float, float, float, float]:
    """A box on the stored pixel grid of a ``width`` x ``height`` image -> the same region of
    the displayed image, i.e. after the EXIF ``orientation`` (1..8) is applied to the pixels
    (``image_files.EXIF_TRANSPOSITIONS``). Orientations 5..8 swap width and height."""
    x0, y0, x1, y1 = box
    w, h = width, height
    return {
        1: (x0, y0, x1, y1),
        2: (w - x1, y0, w - x0, y1),            # mirrored left-right
        3: (w - x1, h - y1, w - x0, h - y0),    # turned 180 degrees
        4: (x0, h - y1, x1, h - y0),            # mirrored top-bottom
        5: (y0, x0, y1, x1),                    # transposed (main diagonal)
        6: (h - y1, x0, h - y0, x1),            # turned 90 degrees clockwise
        7: (h - y1, w - x1, h - y0, w - x0),    # transposed on the anti-diagonal
        8: (y0, w - x1, y1, w - x0),            # turned 90 degrees counter-clockwise
    }[orientation]


def scale_xyxy(box: tuple[float, float, float, float], scale_x: float, scale_y: float
               ) -> tuple[float, float, float, float]:
    """A box on an image resized by ``scale_x`` horizontally and ``scale_y`` vertically."""
    x0, y0, x1, y1 = box
    return (x0 * scale_x, y0 * scale_y, x1 * scale_x, y1 * scale_y)


class AnnotationFrame(NamedTuple):
    """How the boxes of an annotation map onto the image as stored in the dataset: first the
    EXIF ``orientation`` (on a stored grid of ``stored_width`` x ``stored_height``), then a
    scale. ``problem`` is BOXES_SCALED or BOXES_ORIENTED when the boxes change, else None."""

    orientation: int
    stored_width: float
    stored_height: float
    scale_x: float
    scale_y: float
    problem: str | None

    def to_image(self, box: tuple[float, float, float, float]
                 ) -> tuple[float, float, float, float]:
        if self.orientation != 1:
            box = xyxy_after_exif_orientation(box, self.orientation, self.stored_width,
                                              self.stored_height)
        if (self.scale_x, self.scale_y) != (1.0, 1.0):
            box = scale_xyxy(box, self.scale_x, self.scale_y)
        return box


def annotation_frame(annotated_size: tuple[int, int] | None, width: int, height: int,
                     orientation: int = 1) -> AnnotationFrame:
    """Which image an annotation's boxes were drawn on, judged from the size it records.

    ``width`` x ``height``: the image as stored in the dataset, after the EXIF ``orientation``
    was applied to its pixels (1: none). ``annotated_size``: ``(width, height)`` written in the
    annotation (COCO's image entry, VOC's ``<size>``), None when unknown.

    - Unknown, or the stored size: boxes are taken as they are. Annotation tools show the
      displayed (upright) image, so this is also the choice for EXIF orientations that keep the
      size (2, 3, 4) or a square image, where the size cannot tell.
    - The file's pixel grid before rotation (orientations 5..8 swap width and height): the
      boxes were drawn on the stored pixels, and are turned with them (BOXES_ORIENTED).
    - Another size: the image was resized after it was annotated; boxes are scaled to it
      (BOXES_SCALED, as Google's Inception ImageNet pipeline does).
    """
    stored_width, stored_height = (height, width) if orientation in (5, 6, 7, 8) else (
        width, height)
    if annotated_size is None or tuple(annotated_size) == (width, height):
        return AnnotationFrame(1, stored_width, stored_height, 1.0, 1.0, None)
    if orientation != 1 and tuple(annotated_size) == (stored_width, stored_height):
        return AnnotationFrame(orientation, stored_width, stored_height, 1.0, 1.0,
                               BOXES_ORIENTED)
    annotated_width, annotated_height = annotated_size
    return AnnotationFrame(1, stored_width, stored_height, width / annotated_width,
                           height / annotated_height, BOXES_SCALED)


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
