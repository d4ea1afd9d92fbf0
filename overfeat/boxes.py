"""Box arithmetic: areas, IoU, format conversions, flips, and the output cells' windows.

Conventions (DESIGN.md):

* ``xyxy`` = ``[x1, y1, x2, y2]`` in absolute pixels, float32, the box format in every name.
* Coordinates are *continuous*: pixel ``k`` spans ``[k, k + 1)``, so an image of width ``W``
  spans ``x`` in ``[0, W]``, a box's width is ``x2 - x1``, resizing an image by a factor
  multiplies coordinates by that factor, and a horizontal flip maps ``x`` to ``W - x``.
* TFDS's normalized ``[ymin, xmin, ymax, xmax]`` is converted at the data boundary only
  (``xyxy_from_tfds_yxyx_normalized`` and back).

Every function takes numpy or JAX arrays and returns the same kind (element-wise ops only,
no Python control flow on values), so the encoding used as the regressor's training target
runs inside ``jax.jit``. ``cell_windows_xyxy`` returns numpy: the windows depend only on
static shapes and become constants under ``jit``.

The regressor's box encoding (paper section 4.2, "shifted into the frame of reference of the
regressor's translation offset") is ``encode_boxes_in_windows``: each box edge relative to
the same edge of the output cell's window, divided by the window's size. NOTES.md, "Box
encoding", says why.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from overfeat.architectures import Architecture, Stride


def _xp(*arrays):
    """``jax.numpy`` when any argument is a JAX array (traced ones included), else numpy."""
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def _unstack(boxes):
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def _check_last_axis(name: str, boxes) -> None:
    shape = np.shape(boxes)
    if not shape or shape[-1] != 4:
        raise ValueError(f"{name} must have a last axis of 4 coordinates, got shape {shape}")


# --- Areas, intersections, IoU -------------------------------------------------------------


def area_xyxy(boxes):
    """``boxes [..., 4]`` -> areas ``[...]``; boxes with ``x2 < x1`` or ``y2 < y1`` have area 0."""
    xp = _xp(boxes)
    x1, y1, x2, y2 = _unstack(boxes)
    return xp.maximum(x2 - x1, 0) * xp.maximum(y2 - y1, 0)


def intersection_xyxy(boxes1, boxes2):
    """Pairwise intersection areas: ``boxes1 [N, 4]``, ``boxes2 [M, 4]`` -> ``[N, M]``."""
    _check_last_axis("boxes1", boxes1)
    _check_last_axis("boxes2", boxes2)
    xp = _xp(boxes1, boxes2)
    a = boxes1[:, None, :]  # [N, 1, 4]
    b = boxes2[None, :, :]  # [1, M, 4]
    width = xp.minimum(a[..., 2], b[..., 2]) - xp.maximum(a[..., 0], b[..., 0])
    height = xp.minimum(a[..., 3], b[..., 3]) - xp.maximum(a[..., 1], b[..., 1])
    return xp.maximum(width, 0) * xp.maximum(height, 0)


def iou_xyxy(boxes1, boxes2):
    """Pairwise intersection over union: ``boxes1 [N, 4]``, ``boxes2 [M, 4]`` -> ``[N, M]``.

    Two boxes whose union has zero area (both degenerate) have IoU 0, not NaN.
    """
    xp = _xp(boxes1, boxes2)
    inter = intersection_xyxy(boxes1, boxes2)  # [N, M]
    union = area_xyxy(boxes1)[:, None] + area_xyxy(boxes2)[None, :] - inter
    return xp.where(union > 0, inter / xp.where(union > 0, union, 1), 0)


def clip_xyxy(boxes, height, width):
    """Clip ``boxes [..., 4]`` to the image ``[0, width] x [0, height]``."""
    xp = _xp(boxes)
    x1, y1, x2, y2 = _unstack(boxes)
    return xp.stack(
        [
            xp.clip(x1, 0, width),
            xp.clip(y1, 0, height),
            xp.clip(x2, 0, width),
            xp.clip(y2, 0, height),
        ],
        axis=-1,
    )


# --- Conversions ---------------------------------------------------------------------------


def xyxy_from_cxcywh(boxes):
    """``[cx, cy, w, h]`` -> ``[x1, y1, x2, y2]`` (``[..., 4]``)."""
    xp = _xp(boxes)
    cx, cy, w, h = _unstack(boxes)
    return xp.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def cxcywh_from_xyxy(boxes):
    """``[x1, y1, x2, y2]`` -> ``[cx, cy, w, h]`` (``[..., 4]``)."""
    xp = _xp(boxes)
    x1, y1, x2, y2 = _unstack(boxes)
    return xp.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)


def xyxy_from_tfds_yxyx_normalized(boxes, height, width):
    """TFDS ``BBoxFeature`` ``[ymin, xmin, ymax, xmax]`` in ``[0, 1]`` -> xyxy pixels.

    ``height``, ``width``: the image's size in pixels.
    """
    xp = _xp(boxes)
    ymin, xmin, ymax, xmax = _unstack(boxes)
    return xp.stack([xmin * width, ymin * height, xmax * width, ymax * height], axis=-1)


def tfds_yxyx_normalized_from_xyxy(boxes, height, width):
    """xyxy pixels -> TFDS ``[ymin, xmin, ymax, xmax]`` in ``[0, 1]`` (inverse of the above)."""
    xp = _xp(boxes)
    x1, y1, x2, y2 = _unstack(boxes)
    return xp.stack([y1 / height, x1 / width, y2 / height, x2 / width], axis=-1)


# --- Geometric transforms ------------------------------------------------------------------


def flip_xyxy(boxes, width):
    """Boxes in an image of ``width`` pixels -> the same boxes in its horizontal mirror image.

    Its own inverse: ``flip_xyxy(flip_xyxy(b, W), W) == b``.
    """
    xp = _xp(boxes)
    x1, y1, x2, y2 = _unstack(boxes)
    return xp.stack([width - x2, y1, width - x1, y2], axis=-1)


def scale_xyxy(boxes, *, factor_y, factor_x):
    """Boxes of an image -> the same boxes after resizing it by ``factor_y`` x ``factor_x``.

    Factors are ``new_size / old_size`` per axis; ``1 / factor`` undoes a resize.
    """
    xp = _xp(boxes)
    x1, y1, x2, y2 = _unstack(boxes)
    return xp.stack([x1 * factor_x, y1 * factor_y, x2 * factor_x, y2 * factor_y], axis=-1)


# --- Output cells' windows and the regressor's box encoding --------------------------------


def cell_windows_xyxy(
    arch: Architecture, out_h: int, out_w: int, stride: Stride = "fine"
) -> np.ndarray:
    """The input window each output cell sees: ``[out_h, out_w, 4]`` xyxy float32 pixels.

    In the pixels of the (scaled) image the network ran on: cell ``(i, j)`` covers
    ``[j*s, i*s, j*s + fov, i*s + fov]`` with ``s = arch.fine_stride`` (fine) or
    ``arch.stride`` (coarse) and ``fov = arch.field_of_view``: the crop that, fed alone,
    produces exactly that cell (section 3.5). At a valid input size (``arch.is_valid_size``)
    the last window ends at the image's edge; otherwise fewer than ``s`` pixels past it are
    seen by no cell.
    """
    if stride not in ("fine", "coarse"):
        raise ValueError(f"stride must be 'coarse' or 'fine', got {stride!r}")
    step = arch.fine_stride if stride == "fine" else arch.stride
    view = arch.field_of_view
    top = np.arange(out_h, dtype=np.float32) * step  # [out_h]
    left = np.arange(out_w, dtype=np.float32) * step  # [out_w]
    windows = np.empty((out_h, out_w, 4), np.float32)
    windows[..., 0] = left[None, :]
    windows[..., 1] = top[:, None]
    windows[..., 2] = left[None, :] + view
    windows[..., 3] = top[:, None] + view
    return windows


def encode_boxes_in_windows(boxes_xyxy, windows_xyxy):
    """Boxes -> the regressor's targets in each window's frame: ``[..., 4]`` (broadcasting).

    Each edge minus the same edge of the window, divided by the window's width (x edges) or
    height (y edges): ``0`` is the window itself, ``-0.1`` on ``x1`` is a left edge a tenth of
    the window left of the window's left edge. Invariant to translating or scaling box and
    window together, so a target means the same thing at every cell and scale.
    """
    xp = _xp(boxes_xyxy, windows_xyxy)
    wx1, wy1, wx2, wy2 = _unstack(windows_xyxy)
    size = xp.stack([wx2 - wx1, wy2 - wy1, wx2 - wx1, wy2 - wy1], axis=-1)
    return (boxes_xyxy - windows_xyxy) / size


def decode_boxes_in_windows(deltas, windows_xyxy):
    """Inverse of ``encode_boxes_in_windows``: ``deltas [..., 4]`` -> xyxy boxes ``[..., 4]``
    in the pixels the windows are in."""
    xp = _xp(deltas, windows_xyxy)
    wx1, wy1, wx2, wy2 = _unstack(windows_xyxy)
    size = xp.stack([wx2 - wx1, wy2 - wy1, wx2 - wx1, wy2 - wy1], axis=-1)
    return windows_xyxy + deltas * size


def boxes_in_original_image_xyxy(
    deltas,
    windows_xyxy,
    *,
    scaled_size: tuple[int, int],
    original_size: tuple[int, int],
    flipped: bool = False,
):
    """The regressor's outputs at one scale -> boxes in ORIGINAL image pixels.

    Args:
      deltas: ``[..., 4]`` regressor outputs in each cell's window frame, e.g. ``[h, w, 4]``
        (shared regressor) or ``[h, w, C, 4]`` with ``windows_xyxy[:, :, None]`` (per class).
      windows_xyxy: the cells' windows, broadcastable against ``deltas``
        (``cell_windows_xyxy(arch, h, w, stride)``).
      scaled_size: ``(height, width)`` of the image the network ran on.
      original_size: ``(height, width)`` of the image before resizing.
      flipped: whether the network ran on the horizontally flipped scaled image.

    Returns ``[..., 4]`` xyxy boxes. Undoes, in order: the window frame (-> scaled, possibly
    flipped, pixels), the flip (mirror in the scaled image's width), the resize (per axis).
    """
    boxes = decode_boxes_in_windows(deltas, windows_xyxy)
    if flipped:
        boxes = flip_xyxy(boxes, scaled_size[1])
    factor_y = scaled_size[0] / original_size[0]
    factor_x = scaled_size[1] / original_size[1]
    return scale_xyxy(boxes, factor_y=1 / factor_y, factor_x=1 / factor_x)
