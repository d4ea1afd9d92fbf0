"""Which output cells learn what: the overlap of ground-truth boxes with each cell's window,
and the per-cell training targets of the regressor (section 4.2) and the detector (section 5).

Every output cell sees a window of the input (its field of view; ``overfeat.boxes``' cell
windows). For a box ``b`` and a window ``w`` we use two shares of their intersection:

* ``coverage = |b ∩ w| / |b|``: how much of the OBJECT is in view. The paper does not train
  the regressor "on bounding boxes with less than 50% overlap with the input field of view:
  since the object is mostly outside of these locations": an object mostly outside the view
  is what ``coverage < 0.5`` says, so that is our reading of "overlap" (neither IoU, which
  punishes small objects fully in view, nor ``|b ∩ w| / |w|``, which punishes them too).
* ``fill = |b ∩ w| / |w|``: how much of the VIEW the object takes. The detector needs it as
  well: a 10-pixel object fully inside a 221-pixel window is not what that window should
  call a detection (a finer scale's windows will see it large).

All functions are jittable and work on batches: ``boxes [B, M, 4]`` xyxy in the (resized)
input's pixels, ``labels [B, M]`` with -1 for padding, ``ignore [B, M]`` (crowd/difficult),
``windows [h, w, 4]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def box_window_overlaps(boxes: jax.Array, windows: jax.Array) -> dict[str, jax.Array]:
    """``boxes [B, M, 4]``, ``windows [h, w, 4]`` -> ``coverage``, ``fill``, ``iou``, each
    ``[B, h, w, M]``. Degenerate (zero-area) boxes get 0 everywhere."""
    b = boxes[:, None, None, :, :]  # [B, 1, 1, M, 4]
    w = windows[None, :, :, None, :]  # [1, h, w, 1, 4]
    width = jnp.clip(jnp.minimum(b[..., 2], w[..., 2]) - jnp.maximum(b[..., 0], w[..., 0]), 0)
    height = jnp.clip(jnp.minimum(b[..., 3], w[..., 3]) - jnp.maximum(b[..., 1], w[..., 1]), 0)
    intersection = width * height
    box_area = jnp.clip(b[..., 2] - b[..., 0], 0) * jnp.clip(b[..., 3] - b[..., 1], 0)
    window_area = (w[..., 2] - w[..., 0]) * (w[..., 3] - w[..., 1])
    union = box_area + window_area - intersection
    has_area = box_area > 0
    return {
        "coverage": jnp.where(has_area, intersection / jnp.where(has_area, box_area, 1.0), 0.0),
        "fill": jnp.where(has_area, intersection / window_area, 0.0),
        "iou": jnp.where(has_area, intersection / union, 0.0),
    }


def assign_boxes(boxes, usable, windows, min_coverage: float, min_fill: float = 0.0):
    """Match each cell to at most one usable box.

    A box is a candidate for a cell when ``coverage >= min_coverage`` and
    ``fill >= min_fill``; among candidates the cell takes the one with the highest IoU with
    its window (the box the window frames best).

    Returns ``(matched [B, h, w] bool, index [B, h, w] int32, overlaps)``: ``index`` is the
    matched box's position in ``boxes`` (0 where unmatched).
    """
    overlaps = box_window_overlaps(boxes, windows)
    candidate = (
        usable[:, None, None, :]
        & (overlaps["coverage"] >= min_coverage)
        & (overlaps["fill"] >= min_fill)
    )
    score = jnp.where(candidate, overlaps["iou"], -1.0)
    index = jnp.argmax(score, axis=-1).astype(jnp.int32)
    return jnp.any(candidate, axis=-1), index, overlaps


def gather_per_cell(values: jax.Array, index: jax.Array) -> jax.Array:
    """``values [B, M, ...]`` at each cell's box ``index [B, h, w]`` -> ``[B, h, w, ...]``."""
    batch = jnp.arange(values.shape[0])[:, None, None]
    return values[batch, index]


def regression_targets(boxes, labels, ignore, windows, min_coverage: float):
    """The regressor's cells (section 4.2): ``(trained [B, h, w], box [B, h, w, 4],
    label [B, h, w])``: a cell trains on the box it sees best among those with at least
    ``min_coverage`` of their area in its window."""
    usable = (labels >= 0) & ~ignore
    trained, index, _ = assign_boxes(boxes, usable, windows, min_coverage)
    return trained, gather_per_cell(boxes, index), gather_per_cell(labels, index)


def detection_targets(
    boxes,
    labels,
    ignore,
    windows,
    *,
    background: int,
    positive_coverage: float,
    positive_fill: float,
    negative_max: float,
):
    """Per-cell classes for the detector (section 5).

    * positive, class ``c``: a box of class ``c`` with ``coverage >= positive_coverage`` and
      ``fill >= positive_fill`` (the best-framed one if several);
    * background: every box, ignored ones included, has ``coverage < negative_max`` and
      ``fill < negative_max``: nothing of note in view;
    * otherwise neither (not trained): objects partly in view, or too small for this scale.

    Returns ``(target [B, h, w] int32, positive [B, h, w], negative [B, h, w])``;
    ``target`` is ``background`` where not positive.
    """
    real = labels >= 0
    positive, index, overlaps = assign_boxes(
        boxes, real & ~ignore, windows, positive_coverage, positive_fill
    )
    near = real[:, None, None, :] & (
        (overlaps["coverage"] >= negative_max) | (overlaps["fill"] >= negative_max)
    )
    negative = ~jnp.any(near, axis=-1)
    target = jnp.where(positive, gather_per_cell(labels, index), background).astype(jnp.int32)
    return target, positive, negative & ~positive


def select_negatives(
    losses: jax.Array, negative: jax.Array, key: jax.Array, *, hard: int, random: int
) -> tuple[jax.Array, jax.Array]:
    """Negatives chosen on the fly per image (section 5): the ``hard`` most offending ones
    (highest loss) and ``random`` others drawn uniformly from the rest.

    ``losses``, ``negative``: ``[B, n]`` (cells flattened). Returns two bool ``[B, n]`` masks
    ``(hard_selected, random_selected)``, disjoint, within ``negative``. An image with fewer
    negatives than asked gives what it has.
    """
    n = losses.shape[1]
    hard_selected = _top_k_mask(
        jnp.where(negative, jax.lax.stop_gradient(losses), -jnp.inf), min(hard, n)
    )
    rest = negative & ~hard_selected
    priority = jnp.where(rest, jax.random.uniform(key, losses.shape), -jnp.inf)
    random_selected = _top_k_mask(priority, min(random, n))
    return hard_selected, random_selected


def _top_k_mask(scores: jax.Array, k: int) -> jax.Array:
    """bool ``[B, n]``: the ``k`` best finite scores of each row."""
    if k <= 0:
        return jnp.zeros(scores.shape, bool)
    values, indices = jax.lax.top_k(scores, k)
    chosen = jnp.zeros(scores.shape, bool)
    rows = jnp.arange(scores.shape[0])[:, None]
    return chosen.at[rows, indices].set(jnp.isfinite(values))
