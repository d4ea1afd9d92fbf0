"""Combining the boxes of every cell, scale and flip (paper section 4.3), and two baselines.

The paper's greedy accumulator, steps (a)-(g):

  (a) ``C_s``: the top-k classes of each scale ``s``, by each class's maximum output over the
      scale's locations (``top_k_classes_per_scale``);
  (b)-(c) ``B``: the regressor's boxes of those classes, at every location of every scale
      (``in_top_classes`` picks them from a flat list);
  (d)-(g) repeatedly merge the pair of ``B`` with the best (lowest) ``match_score`` until the
      best one exceeds the threshold ``t`` (``greedy_merge``).

Choices the paper leaves open (NOTES.md, "The accumulator", says why):

* Boxes merge only with boxes of the same class.
* ``match_score(a, b) = (1 - IoU(a, b)) + distance_weight * |c_a - c_b|^2 / diag^2``: the
  paper's "distance between centres" and "intersection area" as the two terms of Zheng et
  al.'s Distance-IoU (``diag``: the diagonal of the smallest box enclosing both). 0 for equal
  boxes, at least 1 for disjoint ones, independent of the image's scale.
* ``box_merge``: a merged box is the mean of ALL its original member boxes (``weighting=
  "count"``; optionally weighted by their confidences, ``weighting="score"``), computed
  incrementally as the weighted mean of its two parents. Its score is the sum of its members'
  confidences.
* Ties in match_score go to the pair whose lower slot is first, then the higher; a merged box
  takes the slot of its first parent (slots are input order).

Two implementations of (d)-(g) that give the same boxes, scores and assignments:

* ``greedy_merge_naive``: the loop as written, every pair's score at every step (O(n^3)); the
  tests' reference.
* ``greedy_merge``: exact and fast: the same loop compiled with numba, one class at a time,
  each live box keeping its best partner (a heap gives the best pair) so that a merge
  recomputes only the rows it can change, found through grids of box centres: ``score <= s
  < 1`` needs ``IoU >= 1 - s``, which needs the two boxes' coordinates to differ by at most
  ``s / (1 - s)`` times the smaller of their longer sides in sum.

Baselines behind the same interface (``merge_boxes(..., method=)``): ``nms`` (torchvision's
semantics) and ``nmm`` (SAHI's greedy non-maximum merging).

All functions take numpy arrays ``boxes [N, 4]`` xyxy pixels, ``scores [N]``, ``labels [N]``
and return ``(boxes [K, 4] float32, scores [K] float32, labels [K] int32)`` sorted by
descending score, plus on request ``assignment [N]``: the output row each input box ended in
(-1: dropped).
"""

from __future__ import annotations

import itertools
from typing import Literal

import numba
import numpy as np
from scipy.spatial import cKDTree

Weighting = Literal["count", "score"]
Method = Literal["greedy", "nms", "nmm"]

DEFAULT_THRESHOLD = 0.5
DEFAULT_DISTANCE_WEIGHT = 1.0

# Speed only; the results do not depend on them (tested).
_BOXES_PER_CELL = 4.0  # greedy_merge: live boxes per cell of its grid of centres
_BUCKETS_PER_OCTAVE = 1  # k-d tree buckets of box sides, in steps of 2
_PROBE_CLAIMS = 32  # NMS / NMM: boxes kept one by one before switching to k-d tree pairs


# --- Scores --------------------------------------------------------------------------------


def _iou_elementwise(a, b):
    """IoU of ``a [..., 4]`` and ``b [..., 4]`` (broadcasting), float64; 0 for an empty union."""
    ax1, ay1, ax2, ay2 = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bx1, by1, bx2, by2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    inter = np.maximum(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0) * np.maximum(
        np.minimum(ay2, by2) - np.maximum(ay1, by1), 0
    )
    area_a = np.maximum(ax2 - ax1, 0) * np.maximum(ay2 - ay1, 0)
    area_b = np.maximum(bx2 - bx1, 0) * np.maximum(by2 - by1, 0)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


def _match_elementwise(a, b, distance_weight: float):
    """``match_score`` of ``a [..., 4]`` and ``b [..., 4]`` (broadcasting), float64.

    Written so that ``f(a, b)`` and ``f(b, a)`` are bit-identical: the fast and naive merges
    look at a pair from either side.
    """
    iou = _iou_elementwise(a, b)
    ax1, ay1, ax2, ay2 = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bx1, by1, bx2, by2 = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    dx = (ax1 + ax2) - (bx1 + bx2)  # twice the centres' distance along x
    dy = (ay1 + ay2) - (by1 + by2)
    enclosing_w = np.maximum(ax2, bx2) - np.minimum(ax1, bx1)
    enclosing_h = np.maximum(ay2, by2) - np.minimum(ay1, by1)
    diag2 = 4 * (enclosing_w * enclosing_w + enclosing_h * enclosing_h)
    distance = np.where(diag2 > 0, (dx * dx + dy * dy) / np.where(diag2 > 0, diag2, 1), 0)
    return (1 - iou) + distance_weight * distance


def match_score_xyxy(boxes1, boxes2, *, distance_weight: float = DEFAULT_DISTANCE_WEIGHT):
    """Pairwise match scores (lower = better match): ``[N, 4]``, ``[M, 4]`` -> ``[N, M]``.

    ``(1 - IoU) + distance_weight * |c1 - c2|^2 / diag^2`` with ``c`` the boxes' centres and
    ``diag`` the diagonal of the smallest box enclosing both (1 - Distance-IoU, Zheng et al.
    2020, for ``distance_weight = 1``). 0 for equal boxes; in ``[1, 1 + distance_weight)`` for
    disjoint ones; unchanged when both boxes are scaled or translated together.
    """
    a = np.asarray(boxes1, np.float64)[:, None, :]
    b = np.asarray(boxes2, np.float64)[None, :, :]
    return _match_elementwise(a, b, distance_weight)


def box_merge_xyxy(boxes1, weights1, boxes2, weights2):
    """The merged box of two (groups of) boxes: their weighted mean, ``[..., 4]``.

    With ``weights`` = each side's number of original boxes, the merged box is the mean of all
    the original boxes (the paper's "average of the bounding boxes' coordinates").
    """
    w1 = np.asarray(weights1, np.float64)[..., None]
    w2 = np.asarray(weights2, np.float64)[..., None]
    return (w1 * np.asarray(boxes1, np.float64) + w2 * np.asarray(boxes2, np.float64)) / (w1 + w2)


# --- Steps (a)-(c): which boxes enter the merge --------------------------------------------


def top_k_classes_per_scale(class_maxima, k: int) -> np.ndarray:
    """Step (a): ``class_maxima [S, C]`` (each class's maximum output over the locations of
    scale ``s``, flips included) -> ``[S, k]`` class indices, best first (ties: lower index)."""
    class_maxima = np.asarray(class_maxima)
    if class_maxima.ndim != 2:
        raise ValueError(f"class_maxima must be [scales, classes], got shape {class_maxima.shape}")
    if not 1 <= k <= class_maxima.shape[1]:
        raise ValueError(f"k must be in 1..{class_maxima.shape[1]} (the classes), got {k}")
    return np.argsort(-class_maxima, axis=1, kind="stable")[:, :k]


def in_top_classes(scale_index, labels, top_classes) -> np.ndarray:
    """Steps (b)-(c): ``[N]`` mask of the boxes whose class is in their scale's top classes.

    ``scale_index [N]``: the row of ``top_classes [S, k]`` each box's scale is.
    """
    scale_index = np.asarray(scale_index)
    labels = np.asarray(labels)
    top_classes = np.asarray(top_classes)
    if scale_index.shape != labels.shape:
        raise ValueError(f"scale_index {scale_index.shape} and labels {labels.shape} differ")
    if scale_index.size and not 0 <= scale_index.min() <= scale_index.max() < len(top_classes):
        raise ValueError(f"scale_index must be in 0..{len(top_classes) - 1}")
    return (top_classes[scale_index] == labels[:, None]).any(axis=1)


# --- Input checks and output -----------------------------------------------------------------


def _prepare(boxes, scores, labels):
    boxes = np.array(boxes, np.float64)  # copies: the merge works in place
    scores = np.array(scores, np.float64)
    labels = np.asarray(labels)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be [N, 4] xyxy, got shape {boxes.shape}")
    if scores.shape != (len(boxes),) or labels.shape != (len(boxes),):
        raise ValueError(
            f"scores {scores.shape} and labels {labels.shape} must be [N] for {len(boxes)} boxes"
        )
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise ValueError("boxes and scores must be finite (found NaN or inf)")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    return boxes, scores, labels.astype(np.int64)


def _merge_weights(scores, weighting: Weighting):
    if weighting == "count":
        return np.ones_like(scores)
    if weighting == "score":
        if (scores <= 0).any():
            raise ValueError("weighting='score' needs positive scores (confidences)")
        return scores.copy()
    raise ValueError(f"weighting must be 'count' or 'score', got {weighting!r}")


def _check_threshold(threshold: float, distance_weight: float) -> None:
    if not threshold >= 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    if not distance_weight >= 0:
        raise ValueError(f"distance_weight must be >= 0, got {distance_weight}")


def _roots(parent: np.ndarray) -> np.ndarray:
    """Follow ``parent`` pointers to their fixed points (pointer jumping)."""
    root = parent.copy()
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def _finish(coords, totals, labels, kept, owner, return_assignment: bool):
    """Sort the kept slots by descending score (ties: slot order) and map inputs to rows.

    ``owner [N]``: the slot each input box ended in, or -1 when dropped.
    """
    kept = np.flatnonzero(kept)
    order = kept[np.argsort(-totals[kept], kind="stable")]
    result = (
        coords[order].astype(np.float32),
        totals[order].astype(np.float32),
        labels[order].astype(np.int32),
    )
    if not return_assignment:
        return result
    row_of_slot = np.full(len(coords), -1, np.int64)
    row_of_slot[order] = np.arange(len(order))
    assignment = np.where(owner >= 0, row_of_slot[np.maximum(owner, 0)], -1)
    return (*result, assignment)


# --- Steps (d)-(g): the naive reference ----------------------------------------------------


def greedy_merge_naive(
    boxes,
    scores,
    labels,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    distance_weight: float = DEFAULT_DISTANCE_WEIGHT,
    weighting: Weighting = "count",
    return_assignment: bool = False,
):
    """Section 4.3 (d)-(g) exactly as written: every pair's score at every step, O(N^3).

    Same arguments and result as ``greedy_merge``; kept as the reference the tests compare it
    to. Use only for small N.
    """
    coords, totals, labels = _prepare(boxes, scores, labels)
    _check_threshold(threshold, distance_weight)
    weights = _merge_weights(totals, weighting)
    parent = np.arange(len(coords))
    alive = np.ones(len(coords), bool)
    while True:
        slots = np.flatnonzero(alive)
        if len(slots) < 2:
            break
        pair_scores = _match_elementwise(
            coords[slots][:, None], coords[slots][None, :], distance_weight
        )  # [n, n]
        same_class = labels[slots][:, None] == labels[slots][None, :]
        upper = np.triu(np.ones((len(slots),) * 2, bool), k=1)
        pair_scores = np.where(same_class & upper, pair_scores, np.inf)
        row, col = divmod(int(np.argmin(pair_scores)), len(slots))  # first = tie rule
        if not pair_scores[row, col] <= threshold:  # (f)
            break
        i, j = slots[row], slots[col]  # (g): j joins i
        coords[i] = box_merge_xyxy(coords[i], weights[i], coords[j], weights[j])
        weights[i] += weights[j]
        totals[i] += totals[j]
        alive[j] = False
        parent[j] = i
    return _finish(coords, totals, labels, alive, _roots(parent), return_assignment)


# --- Steps (d)-(g): the compiled exact merge -----------------------------------------------
#
# One class at a time: boxes of different classes never merge, so the classes' runs are
# independent and how the naive loop interleaves them changes nothing. Each live box (row)
# keeps its best partner (lowest score <= t, ties to the lower slot); a heap of rows gives
# the best pair. After a merge only three things can change: rows that the merged box now
# beats (found through their catchments, below), the merged box's own row, and the rows whose
# best partner was a parent (searched again).
#
# Pruning rests on one bound (NOTES.md derives it): score <= s < 1 needs IoU >= 1 - s, which
# needs the two boxes' coordinates to differ by at most reach(s) = s / (1 - s) times the
# smaller of their longer sides in sum; so their centres by half that (L1), and their
# semiperimeters w + h by all of it (|dw| + |dh| is at most the coordinates' difference).
# * Places: a grid of the live boxes' centres. A search for a row's best partner scans it in
#   rings around the row and stops once the rings are further than the reach of the best
#   score found so far; inside a cell boxes are sorted by semiperimeter.
# * Catchments: a row with best score b can only be beaten by a box within reach(b) of it.
#   Rows are filed in grids over (centre, semiperimeter) with cells as large as their
#   catchments (sizes doubling from level to level), so the rows a new box may beat are in
#   the 3 x 3 x 3 cells around it at each level.
#
# The state lives in a few flat arrays with named columns (numba counts references to every
# array passed to a function, which dominated the time when the state was a tuple of arrays).

# measures [n, 6] (float): per box
_SIDE, _CENTRE_X, _CENTRE_Y, _SEMIPERIMETER = 0, 1, 2, 3  # longer side, centre, w + h
_BEST, _REACH = 4, 5  # the row's best score (inf: none), its catchment's reach
# links [n, 12] (int, -1: none): per box
_PARTNER, _VERSION = 0, 1  # the row's best partner; bumped at each change of it
_POINTED, _POINTED_NEXT, _POINTED_PREV = 2, 3, 4  # rows whose best partner is this box
_MEMBER = 5  # index among the places' members (-1: moved since the last refit, or dead)
_LISTED_NEXT, _LISTED_PREV, _LISTED_CELL = 6, 7, 8  # places' lists of moved boxes
_CATCH_NEXT, _CATCH_PREV, _CATCH_CELL = 9, 10, 11  # catchment lists
# members [n, 6] (float): the places' boxes, cell by cell, by semiperimeter inside a cell
_X1, _Y1, _X2, _Y2, _MEMBER_SIDE, _MEMBER_SEMIPERIMETER = 0, 1, 2, 3, 4, 5
# place_cells [cells + 1, 2] (int): first member of each cell; first moved box in it
_START, _HEAD = 0, 1
# frame [6] (float): places' origin and cell side; catchments' origin
_PLACES_X, _PLACES_Y, _PLACES_CELL, _CATCH_X, _CATCH_Y, _CATCH_SEMIPERIMETER = 0, 1, 2, 3, 4, 5
# tallies [6] (int)
_NX, _NY = 0, 1  # places' cells
_LIVE, _FITTED, _LISTED = 2, 3, 4  # live boxes; at the last refit; moved since
_HEAP_SIZE = 5
# levels [L, 4] (int): catchment grid levels: first cell, cells along x, y, semiperimeter
_OFFSET, _LEVEL_NX, _LEVEL_NY, _LEVEL_NS = 0, 1, 2, 3


@numba.njit(cache=True, inline="always")
def _pair_score(coords, a, b, distance_weight):
    """``match_score`` of slots ``a`` and ``b``: ``_match_elementwise``'s operations in its
    order, so the two are bit-identical (float64, no fused multiply-add)."""
    ax1, ay1, ax2, ay2 = coords[a, 0], coords[a, 1], coords[a, 2], coords[a, 3]
    bx1, by1, bx2, by2 = coords[b, 0], coords[b, 1], coords[b, 2], coords[b, 3]
    inter = max(min(ax2, bx2) - max(ax1, bx1), 0.0) * max(min(ay2, by2) - max(ay1, by1), 0.0)
    area_a = max(ax2 - ax1, 0.0) * max(ay2 - ay1, 0.0)
    area_b = max(bx2 - bx1, 0.0) * max(by2 - by1, 0.0)
    union = area_a + area_b - inter
    iou = inter / union if union > 0 else 0.0
    dx = (ax1 + ax2) - (bx1 + bx2)
    dy = (ay1 + ay2) - (by1 + by2)
    enclosing_w = max(ax2, bx2) - min(ax1, bx1)
    enclosing_h = max(ay2, by2) - min(ay1, by1)
    diag2 = 4.0 * (enclosing_w * enclosing_w + enclosing_h * enclosing_h)
    distance = (dx * dx + dy * dy) / diag2 if diag2 > 0 else 0.0
    return (1.0 - iou) + distance_weight * distance


@numba.njit(cache=True, inline="always")
def _precedes(score_a, slot_a, score_b, slot_b):
    """The tie rule: lower score first, then lower slot."""
    return score_a < score_b or (score_a == score_b and slot_a < slot_b)


@numba.njit(cache=True, inline="always")
def _padded_reach(score):
    """``reach(score)`` for a score raised by 1e-12, then by a relative 1e-9: a computed
    score is within ~1e-15 of the exact one, so the bound holds for every pair whose computed
    score is ``<= score``. Infinite from ``score`` ~1 (disjoint boxes have no bound)."""
    padded = score + 1e-12
    if padded >= 1.0:
        return np.inf
    return padded / (1.0 - padded) * (1.0 + 1e-9)


@numba.njit(cache=True, inline="always")
def _close(coords, measures, a, b, reach, slack):
    """Whether boxes ``a`` and ``b`` pass the bound for ``reach``: coordinates differing by at
    most ``reach * min(longer sides)`` (plus ``slack`` for rounding) in sum."""
    if reach == np.inf:
        return True
    gap = (
        abs(coords[a, 0] - coords[b, 0])
        + abs(coords[a, 1] - coords[b, 1])
        + abs(coords[a, 2] - coords[b, 2])
        + abs(coords[a, 3] - coords[b, 3])
    )
    return gap <= reach * min(measures[a, _SIDE], measures[b, _SIDE]) + slack


@numba.njit(cache=True)
def _cell_size(count, extent_x, extent_y, boxes_per_cell):
    """The side of cells holding about ``boxes_per_cell`` of ``count`` boxes spread over
    ``extent_x`` x ``extent_y`` (at most ``4 count + 16`` cells)."""
    longer = max(extent_x, extent_y)
    size = max(
        np.sqrt(extent_x * extent_y * boxes_per_cell / count),
        longer * boxes_per_cell / count,
        1e-9 * max(longer, 1.0),
    )
    while (extent_x / size + 1) * (extent_y / size + 1) > 4 * count + 16:
        size *= 2
    return size


@numba.njit(cache=True, inline="always")
def _clamped_cell(x, y, origin_x, origin_y, size, nx, ny):
    """Cell coordinates of a centre, clamped to the grid (a merged centre may stray from the
    hull of the centres the grid was made for by a rounding)."""
    gx = min(max((x - origin_x) / size, 0.0), nx - 1.0)
    gy = min(max((y - origin_y) / size, 0.0), ny - 1.0)
    return int(gx), int(gy)


# --- Places: the live boxes by centre ---


@numba.njit(cache=True)
def _refit(coords, measures, alive, members, member_slot, place_cells, links, frame, tallies, bpc):
    """Fit the places' cells to the live boxes (``bpc`` boxes per cell) and copy every live
    box into ``members``: as boxes merge away, cells fitted to the first ones would leave
    searches crossing empty cells, and more and more boxes would sit in the slower lists."""
    n = len(alive)
    origin_x = origin_y = np.inf
    far_x = far_y = -np.inf
    count = 0
    for box in range(n):
        if alive[box]:
            count += 1
            origin_x = min(origin_x, measures[box, _CENTRE_X])
            origin_y = min(origin_y, measures[box, _CENTRE_Y])
            far_x = max(far_x, measures[box, _CENTRE_X])
            far_y = max(far_y, measures[box, _CENTRE_Y])
    size = _cell_size(count, far_x - origin_x, far_y - origin_y, bpc)
    nx, ny = int((far_x - origin_x) / size) + 1, int((far_y - origin_y) / size) + 1
    frame[_PLACES_X], frame[_PLACES_Y], frame[_PLACES_CELL] = origin_x, origin_y, size
    tallies[_NX], tallies[_NY] = nx, ny
    place_cells[: nx * ny + 1, _START] = 0
    for box in range(n):  # boxes per cell (in _LISTED_CELL, free until the lists refill)
        links[box, _MEMBER] = -1
        links[box, _LISTED_CELL] = -1
        if alive[box]:
            gx, gy = _clamped_cell(
                measures[box, _CENTRE_X], measures[box, _CENTRE_Y], origin_x, origin_y, size,
                nx, ny,
            )  # fmt: skip
            links[box, _LISTED_CELL] = gx * ny + gy
            place_cells[gx * ny + gy + 1, _START] += 1
    for c in range(nx * ny):
        place_cells[c + 1, _START] += place_cells[c, _START]
    place_cells[: nx * ny, _HEAD] = 0  # members filled so far, per cell
    for box in range(n):
        cell = links[box, _LISTED_CELL]
        if cell < 0:
            continue
        links[box, _LISTED_CELL] = -1
        # insertion by semiperimeter (a cell holds a few boxes), stable: slot order on ties
        semiperimeter = (coords[box, 2] - coords[box, 0]) + (coords[box, 3] - coords[box, 1])
        first = place_cells[cell, _START]
        m = first + place_cells[cell, _HEAD]
        place_cells[cell, _HEAD] += 1
        while m > first and members[m - 1, _MEMBER_SEMIPERIMETER] > semiperimeter:
            members[m] = members[m - 1]
            member_slot[m] = member_slot[m - 1]
            links[member_slot[m], _MEMBER] = m
            m -= 1
        members[m, _X1], members[m, _Y1] = coords[box, 0], coords[box, 1]
        members[m, _X2], members[m, _Y2] = coords[box, 2], coords[box, 3]
        members[m, _MEMBER_SIDE] = measures[box, _SIDE]
        members[m, _MEMBER_SEMIPERIMETER] = semiperimeter
        member_slot[m] = box
        links[box, _MEMBER] = m
    place_cells[: nx * ny, _HEAD] = -1
    tallies[_FITTED] = tallies[_LIVE] = count
    tallies[_LISTED] = 0


@numba.njit(cache=True)
def _unplace(members, member_slot, place_cells, links, tallies, box):
    """Take ``box`` out of the places (it died, or is about to move)."""
    m = links[box, _MEMBER]
    if m >= 0:
        member_slot[m] = -1
        members[m, _X1] = np.inf  # fails every bound test without a branch
        links[box, _MEMBER] = -1
    elif links[box, _LISTED_CELL] >= 0:
        before, after = links[box, _LISTED_PREV], links[box, _LISTED_NEXT]
        if before >= 0:
            links[before, _LISTED_NEXT] = after
        else:
            place_cells[links[box, _LISTED_CELL], _HEAD] = after
        if after >= 0:
            links[after, _LISTED_PREV] = before
        links[box, _LISTED_CELL] = -1
        tallies[_LISTED] -= 1


@numba.njit(cache=True)
def _place_moved(measures, place_cells, links, frame, tallies, box):
    """Put ``box`` (just moved) in its cell's list."""
    gx, gy = _clamped_cell(
        measures[box, _CENTRE_X],
        measures[box, _CENTRE_Y],
        frame[_PLACES_X],
        frame[_PLACES_Y],
        frame[_PLACES_CELL],
        tallies[_NX],
        tallies[_NY],
    )
    cell = gx * tallies[_NY] + gy
    first = place_cells[cell, _HEAD]
    links[box, _LISTED_NEXT] = first
    links[box, _LISTED_PREV] = -1
    if first >= 0:
        links[first, _LISTED_PREV] = box
    place_cells[cell, _HEAD] = box
    links[box, _LISTED_CELL] = cell
    tallies[_LISTED] += 1


@numba.njit(cache=True, inline="always")
def _first_at_least(members, low, high, semiperimeter):
    """The first member in ``low:high`` (one cell) whose semiperimeter is ``>= semiperimeter``."""
    while low < high:
        middle = (low + high) // 2
        if members[middle, _MEMBER_SEMIPERIMETER] < semiperimeter:
            low = middle + 1
        else:
            high = middle
    return low


@numba.njit(cache=True)
def _search(
    coords, measures, members, member_slot, place_cells, links, frame, tallies, row, threshold,
    dw, slack, best, partner,
):  # fmt: skip
    """The best partner of ``row`` (``(score, slot)``; -1: none ``<= threshold``) among the
    live boxes, given a candidate ``(best, partner)`` already known (-1: none).

    Rings of cells around the row, skipping cells (and stopping at rings) further than the
    reach of the best score so far, and inside a cell the boxes whose semiperimeter differs by
    more than it allows.
    """
    reach = _padded_reach(best if partner >= 0 else threshold)
    x, y = measures[row, _CENTRE_X], measures[row, _CENTRE_Y]
    side = measures[row, _SIDE]
    origin_x, origin_y, size = frame[_PLACES_X], frame[_PLACES_Y], frame[_PLACES_CELL]
    nx, ny = tallies[_NX], tallies[_NY]
    gx0, gy0 = _clamped_cell(x, y, origin_x, origin_y, size, nx, ny)
    x1, y1, x2, y2 = coords[row, 0], coords[row, 1], coords[row, 2], coords[row, 3]
    semiperimeter = (x2 - x1) + (y2 - y1)
    for k in range(max(gx0, nx - 1 - gx0, gy0, ny - 1 - gy0) + 1):
        if (k - 1) * size > 0.5 * reach * side + slack:
            break
        for gx in range(max(gx0 - k, 0), min(gx0 + k, nx - 1) + 1):
            dx = 0.0  # from the centre to the cell (the outermost cells reach on forever)
            if 0 < gx < gx0:
                dx = x - (origin_x + (gx + 1) * size)
            elif gx0 < gx < nx - 1:
                dx = (origin_x + gx * size) - x
            step = 1 if gx == gx0 - k or gx == gx0 + k else 2 * k
            for gy in range(gy0 - k, gy0 + k + 1, max(step, 1)):
                if not 0 <= gy < ny:
                    continue
                dy = 0.0
                if 0 < gy < gy0:
                    dy = y - (origin_y + (gy + 1) * size)
                elif gy0 < gy < ny - 1:
                    dy = (origin_y + gy * size) - y
                if max(dx, 0.0) + max(dy, 0.0) > 0.5 * reach * side + slack:
                    continue
                cell = gx * ny + gy
                low, high = place_cells[cell, _START], place_cells[cell + 1, _START]
                if reach < np.inf:
                    low = _first_at_least(members, low, high, semiperimeter - reach * side - slack)
                for m in range(low, high):
                    if members[m, _MEMBER_SEMIPERIMETER] > semiperimeter + reach * side + slack:
                        break
                    gap = (
                        abs(members[m, _X1] - x1)
                        + abs(members[m, _Y1] - y1)
                        + abs(members[m, _X2] - x2)
                        + abs(members[m, _Y2] - y2)
                    )
                    if gap <= reach * min(side, members[m, _MEMBER_SIDE]) + slack or (
                        reach == np.inf
                    ):
                        other = member_slot[m]
                        if other >= 0 and other != row:
                            score = _pair_score(coords, row, other, dw)
                            if score <= threshold and _precedes(score, other, best, partner):
                                best, partner = score, other
                                reach = _padded_reach(score)
                other = place_cells[cell, _HEAD]
                while other >= 0:
                    if other != row and _close(coords, measures, row, other, reach, slack):
                        score = _pair_score(coords, row, other, dw)
                        if score <= threshold and _precedes(score, other, best, partner):
                            best, partner = score, other
                            reach = _padded_reach(score)
                    other = links[other, _LISTED_NEXT]
    return best, partner


# --- Catchments: the rows by the region a box must be in to beat them ---


@numba.njit(cache=True, inline="always")
def _catchment_cells(extent_x, extent_y, extent_s, size):
    """Cells along x, y and semiperimeter of a catchment level with cells ``size`` wide in
    centre and ``2 size`` in semiperimeter (the two radii of a catchment)."""
    return int(extent_x / size) + 1, int(extent_y / size) + 1, int(extent_s / (2 * size)) + 1


@numba.njit(cache=True)
def _make_levels(measures):
    """Catchment grid levels over these boxes: the finest with at most ``4n + 16`` cells,
    then doubling until one cell covers all. Returns ``(levels [L, 4], sizes [L], origin x,
    y, semiperimeter)``."""
    n = len(measures)
    low_x, low_y = measures[:, _CENTRE_X].min(), measures[:, _CENTRE_Y].min()
    low_s = measures[:, _SEMIPERIMETER].min()
    extent_x = measures[:, _CENTRE_X].max() - low_x
    extent_y = measures[:, _CENTRE_Y].max() - low_y
    extent_s = measures[:, _SEMIPERIMETER].max() - low_s
    size = 1e-9 * max(extent_x, extent_y, extent_s, 1.0)
    while (extent_x / size + 1) * (extent_y / size + 1) * (extent_s / (2 * size) + 1) > 4 * n + 16:
        size *= 2  # (counted in floats: cell counts of the first sizes overflow int64)
    nx, ny, ns = _catchment_cells(extent_x, extent_y, extent_s, size)
    sizes = [size]
    while nx * ny * ns > 1:
        size *= 2
        sizes.append(size)
        nx, ny, ns = _catchment_cells(extent_x, extent_y, extent_s, size)
    levels = np.zeros((len(sizes), 4), np.int64)
    offset = 0
    for level in range(len(sizes)):
        nx, ny, ns = _catchment_cells(extent_x, extent_y, extent_s, sizes[level])
        levels[level, _OFFSET] = offset
        levels[level, _LEVEL_NX], levels[level, _LEVEL_NY], levels[level, _LEVEL_NS] = nx, ny, ns
        offset += nx * ny * ns
    return levels, np.array(sizes), low_x, low_y, low_s


@numba.njit(cache=True, inline="always")
def _catchment_cell(measures, levels, level_size, frame, box, level):
    """Cell coordinates of ``box`` at a catchment ``level`` (clamped)."""
    size = level_size[level]
    gx, gy = _clamped_cell(
        measures[box, _CENTRE_X],
        measures[box, _CENTRE_Y],
        frame[_CATCH_X],
        frame[_CATCH_Y],
        size,
        levels[level, _LEVEL_NX],
        levels[level, _LEVEL_NY],
    )
    gs = (measures[box, _SEMIPERIMETER] - frame[_CATCH_SEMIPERIMETER]) / (2 * size)
    return gx, gy, int(min(max(gs, 0.0), levels[level, _LEVEL_NS] - 1.0))


@numba.njit(cache=True)
def _file(measures, links, catch_head, levels, level_size, frame, row, slack):
    """File ``row`` at the first level whose cells are at least as large as its catchment
    (centres within ``reach * side / 2``, semiperimeters within ``reach * side``; the last
    level is one cell)."""
    reach = measures[row, _REACH]
    radius = 0.5 * reach * measures[row, _SIDE] + slack if reach < np.inf else np.inf
    level = 0
    while level < len(level_size) - 1 and level_size[level] < 1.001 * radius:
        level += 1
    gx, gy, gs = _catchment_cell(measures, levels, level_size, frame, row, level)
    ny, ns = levels[level, _LEVEL_NY], levels[level, _LEVEL_NS]
    cell = levels[level, _OFFSET] + (gx * ny + gy) * ns + gs
    first = catch_head[cell]
    links[row, _CATCH_NEXT] = first
    links[row, _CATCH_PREV] = -1
    if first >= 0:
        links[first, _CATCH_PREV] = row
    catch_head[cell] = row
    links[row, _CATCH_CELL] = cell


@numba.njit(cache=True, inline="always")
def _unfile(links, catch_head, row):
    """Take ``row`` out of its catchment list (if filed)."""
    cell = links[row, _CATCH_CELL]
    if cell < 0:
        return
    before, after = links[row, _CATCH_PREV], links[row, _CATCH_NEXT]
    if before >= 0:
        links[before, _CATCH_NEXT] = after
    else:
        catch_head[cell] = after
    if after >= 0:
        links[after, _CATCH_PREV] = before
    links[row, _CATCH_CELL] = -1


@numba.njit(cache=True)
def _catchments_holding(
    coords, measures, links, catch_head, levels, level_size, frame, box, slack, found
):
    """Fill ``found`` with the rows whose catchment may hold ``box`` (the 3 x 3 x 3 cells
    around it at every level); returns how many."""
    count = 0
    for level in range(len(level_size)):
        nx, ny, ns = levels[level, _LEVEL_NX], levels[level, _LEVEL_NY], levels[level, _LEVEL_NS]
        gx0, gy0, gs0 = _catchment_cell(measures, levels, level_size, frame, box, level)
        for gx in range(max(gx0 - 1, 0), min(gx0 + 1, nx - 1) + 1):
            for gy in range(max(gy0 - 1, 0), min(gy0 + 1, ny - 1) + 1):
                for gs in range(max(gs0 - 1, 0), min(gs0 + 1, ns - 1) + 1):
                    row = catch_head[levels[level, _OFFSET] + (gx * ny + gy) * ns + gs]
                    while row >= 0:
                        if row != box and _close(
                            coords, measures, box, row, measures[row, _REACH], slack
                        ):
                            found[count] = row
                            count += 1
                        row = links[row, _CATCH_NEXT]
    return count


# --- The heap of rows, and the lists of rows pointing at each box ---


@numba.njit(cache=True)
def _sift_down(keys, entries, size, at):
    """``keys [capacity]``, ``entries [capacity, 2]`` (slot, the row's version when pushed),
    ordered by ``(key, slot)`` (``_precedes``)."""
    while True:
        smallest, left = at, 2 * at + 1
        for child in (left, left + 1):
            if child < size and _precedes(
                keys[child], entries[child, 0], keys[smallest], entries[smallest, 0]
            ):
                smallest = child
        if smallest == at:
            return
        keys[at], keys[smallest] = keys[smallest], keys[at]
        for c in range(2):
            entries[at, c], entries[smallest, c] = entries[smallest, c], entries[at, c]
        at = smallest


@numba.njit(cache=True)
def _push(keys, entries, tallies, alive, links, key, row):
    """Push ``row`` with ``key`` and its version. A full heap first drops its stale entries
    (at most one entry per live row is current, and the capacity is ``2n + 8``)."""
    size = tallies[_HEAP_SIZE]
    if size == len(keys):
        kept = 0
        for e in range(size):
            if alive[entries[e, 0]] and entries[e, 1] == links[entries[e, 0], _VERSION]:
                keys[kept], entries[kept, 0], entries[kept, 1] = (
                    keys[e],
                    entries[e, 0],
                    entries[e, 1],
                )
                kept += 1
        size = kept
        for at in range(size // 2 - 1, -1, -1):
            _sift_down(keys, entries, size, at)
    at = size
    keys[at], entries[at, 0], entries[at, 1] = key, row, links[row, _VERSION]
    while at > 0:
        up = (at - 1) // 2
        if not _precedes(keys[at], entries[at, 0], keys[up], entries[up, 0]):
            break
        keys[at], keys[up] = keys[up], keys[at]
        for c in range(2):
            entries[at, c], entries[up, c] = entries[up, c], entries[at, c]
        at = up
    tallies[_HEAP_SIZE] = size + 1


@numba.njit(cache=True)
def _pop(keys, entries, tallies, alive, links):
    """The row of the first current entry, or -1 when none is left."""
    while tallies[_HEAP_SIZE] > 0:
        row, stamp = entries[0, 0], entries[0, 1]
        size = tallies[_HEAP_SIZE] - 1
        keys[0], entries[0, 0], entries[0, 1] = keys[size], entries[size, 0], entries[size, 1]
        tallies[_HEAP_SIZE] = size
        _sift_down(keys, entries, size, 0)
        if alive[row] and stamp == links[row, _VERSION]:
            return row
    return -1


@numba.njit(cache=True, inline="always")
def _point(links, row, target):
    """Point ``row`` at ``target``, its best partner."""
    first = links[target, _POINTED]
    links[row, _PARTNER] = target
    links[row, _POINTED_NEXT] = first
    links[row, _POINTED_PREV] = -1
    if first >= 0:
        links[first, _POINTED_PREV] = row
    links[target, _POINTED] = row


@numba.njit(cache=True, inline="always")
def _unpoint(links, row):
    """Take ``row`` out of its best partner's list; it points nowhere (its version is
    unchanged: the caller gives it a new best before the heap is read again)."""
    target = links[row, _PARTNER]
    if target < 0:
        return
    before, after = links[row, _POINTED_PREV], links[row, _POINTED_NEXT]
    if before >= 0:
        links[before, _POINTED_NEXT] = after
    else:
        links[target, _POINTED] = after
    if after >= 0:
        links[after, _POINTED_PREV] = before
    links[row, _POINTED_NEXT] = links[row, _POINTED_PREV] = links[row, _PARTNER] = -1


@numba.njit(cache=True)
def _set_best(
    measures, links, alive, keys, entries, tallies, catch_head, levels, level_size, frame, row,
    score, target, threshold, slack,
):  # fmt: skip
    """Give ``row`` its best ``(score, target)`` (``target`` -1: none): point it, push it,
    and file it under its new catchment."""
    _unpoint(links, row)
    measures[row, _BEST] = score
    links[row, _VERSION] += 1
    if target >= 0:
        _point(links, row, target)
        _push(keys, entries, tallies, alive, links, score, row)
    measures[row, _REACH] = _padded_reach(score if target >= 0 else threshold)
    _unfile(links, catch_head, row)
    _file(measures, links, catch_head, levels, level_size, frame, row, slack)


# --- The merge ---


@numba.njit(cache=True)
def _merge_step(
    coords, weights, totals, measures, links, alive, parent, members, member_slot, place_cells,
    keys, entries, catch_head, levels, level_size, frame, tallies, stale, pending, found, i,
    threshold, dw, slack, bpc,
):  # fmt: skip
    """Merge row ``i`` with its best partner ``j`` into slot ``i`` (box_merge, summed
    confidences), then bring every row up to date."""
    j = links[i, _PARTNER]
    wi, wj = weights[i], weights[j]
    for k in range(4):
        coords[i, k] = (wi * coords[i, k] + wj * coords[j, k]) / (wi + wj)
    weights[i] = wi + wj
    totals[i] += totals[j]
    alive[j] = False
    parent[j] = i
    tallies[_LIVE] -= 1
    for box in (i, j):
        _unpoint(links, box)
        _unplace(members, member_slot, place_cells, links, tallies, box)
    _unfile(links, catch_head, j)
    measures[i, _SIDE] = max(coords[i, 2] - coords[i, 0], coords[i, 3] - coords[i, 1], 0.0)
    measures[i, _CENTRE_X] = 0.5 * (coords[i, 0] + coords[i, 2])
    measures[i, _CENTRE_Y] = 0.5 * (coords[i, 1] + coords[i, 3])
    measures[i, _SEMIPERIMETER] = (coords[i, 2] - coords[i, 0]) + (coords[i, 3] - coords[i, 1])
    _place_moved(measures, place_cells, links, frame, tallies, i)
    # Rows whose best was i or j: only worse now unless the new i beats it; their best and
    # catchment keep the old value meanwhile.
    waiting = 0
    for target in (i, j):
        while links[target, _POINTED] >= 0:
            row = links[target, _POINTED]
            _unpoint(links, row)
            pending[waiting] = row
            waiting += 1
            stale[row] = True

    # Rows the new i beats (they hold it in their catchment), then its own best.
    best_i, partner_i = np.inf, -1
    count = _catchments_holding(
        coords, measures, links, catch_head, levels, level_size, frame, i, slack, found
    )
    for k in range(count):
        row = found[k]
        score = _pair_score(coords, i, row, dw)
        if score > threshold:
            continue
        if _precedes(score, row, best_i, partner_i):
            best_i, partner_i = score, row
        if stale[row]:
            # its old best was i or j, the lowest slots at that score (and j > i): no worse
            # now means i is its best
            if score > measures[row, _BEST]:
                continue
            stale[row] = False
        elif not _precedes(score, i, measures[row, _BEST], links[row, _PARTNER]):
            continue
        _set_best(
            measures, links, alive, keys, entries, tallies, catch_head, levels, level_size,
            frame, row, score, i, threshold, slack,
        )  # fmt: skip
    best_i, partner_i = _search(
        coords, measures, members, member_slot, place_cells, links, frame, tallies, i,
        threshold, dw, slack, best_i, partner_i,
    )  # fmt: skip
    _set_best(
        measures, links, alive, keys, entries, tallies, catch_head, levels, level_size, frame,
        i, best_i, partner_i, threshold, slack,
    )  # fmt: skip
    for w in range(waiting):
        row = pending[w]
        if not stale[row]:
            continue
        stale[row] = False
        # it was near i or j, so i is a good first candidate to prune the search with
        score, target = _pair_score(coords, row, i, dw), i
        if score > threshold:
            score, target = np.inf, -1
        score, target = _search(
            coords, measures, members, member_slot, place_cells, links, frame, tallies, row,
            threshold, dw, slack, score, target,
        )  # fmt: skip
        _set_best(
            measures, links, alive, keys, entries, tallies, catch_head, levels, level_size,
            frame, row, score, target, threshold, slack,
        )  # fmt: skip
    # refit once the members left behind (dead or moved) and the moved boxes, which the lists
    # hold, reach half the live boxes
    left_behind = tallies[_FITTED] - tallies[_LIVE] + tallies[_LISTED]
    if 2 * (left_behind + tallies[_LISTED]) > tallies[_LIVE]:
        _refit(
            coords, measures, alive, members, member_slot, place_cells, links, frame, tallies, bpc
        )


@numba.njit(cache=True)
def _merge_class(coords, totals, weights, threshold, dw, bpc):
    """The greedy merge of one class's boxes (slot order), in place on ``coords [n, 4]``,
    ``totals [n]``, ``weights [n]``; returns ``alive [n]`` and ``parent [n]`` (the slot each
    merged-away slot joined). ``bpc``: boxes per grid cell (speed only)."""
    n = coords.shape[0]
    alive = np.ones(n, np.bool_)
    parent = np.arange(n)
    if n < 2:
        return alive, parent
    slack = 1e-9 * (1.0 + np.abs(coords).max())
    measures = np.empty((n, 6))
    for box in range(n):
        measures[box, _SIDE] = max(
            coords[box, 2] - coords[box, 0], coords[box, 3] - coords[box, 1], 0.0
        )
        measures[box, _CENTRE_X] = 0.5 * (coords[box, 0] + coords[box, 2])
        measures[box, _CENTRE_Y] = 0.5 * (coords[box, 1] + coords[box, 3])
        measures[box, _SEMIPERIMETER] = (coords[box, 2] - coords[box, 0]) + (
            coords[box, 3] - coords[box, 1]
        )
    measures[:, _BEST] = np.inf
    links = np.full((n, 12), -1, np.int64)
    links[:, _VERSION] = 0
    members, member_slot = np.empty((n, 6)), np.full(n, -1, np.int64)
    place_cells = np.empty((4 * n + 17, 2), np.int64)  # _cell_size's limit, plus one
    frame, tallies = np.zeros(6), np.zeros(6, np.int64)
    tallies[_LIVE] = n
    _refit(coords, measures, alive, members, member_slot, place_cells, links, frame, tallies, bpc)
    levels, level_size, frame[_CATCH_X], frame[_CATCH_Y], frame[_CATCH_SEMIPERIMETER] = (
        _make_levels(measures)
    )
    catch_head = np.full(levels[len(levels) - 1, _OFFSET] + 1, -1, np.int64)  # last: one cell
    keys, entries = np.empty(2 * n + 8), np.empty((2 * n + 8, 2), np.int64)
    for row in range(n):
        best, partner = _search(
            coords, measures, members, member_slot, place_cells, links, frame, tallies, row,
            threshold, dw, slack, np.inf, -1,
        )  # fmt: skip
        _set_best(
            measures, links, alive, keys, entries, tallies, catch_head, levels, level_size,
            frame, row, best, partner, threshold, slack,
        )  # fmt: skip

    stale, pending, found = np.zeros(n, np.bool_), np.empty(n, np.int64), np.empty(n, np.int64)
    while True:
        # The first current entry has the lowest score and, of the rows reaching it, the
        # lowest slot; its partner is the lowest slot it pairs with at that score, and higher
        # than it (a lower one would have come first with its own row): the naive loop's pair.
        i = _pop(keys, entries, tallies, alive, links)
        if i < 0:
            return alive, parent
        _merge_step(
            coords, weights, totals, measures, links, alive, parent, members, member_slot,
            place_cells, keys, entries, catch_head, levels, level_size, frame, tallies, stale,
            pending, found, i, threshold, dw, slack, bpc,
        )  # fmt: skip


@numba.njit(cache=True)
def _merge_classes(coords, totals, weights, starts, threshold, distance_weight, bpc):
    """``_merge_class`` on each class's rows ``starts[c]:starts[c + 1]`` (rows sorted by
    class, slot order inside); returns ``alive [N]`` and ``parent [N]`` in these rows."""
    alive = np.ones(coords.shape[0], np.bool_)
    parent = np.arange(coords.shape[0])
    for c in range(len(starts) - 1):
        start, stop = starts[c], starts[c + 1]
        class_alive, class_parent = _merge_class(
            coords[start:stop],
            totals[start:stop],
            weights[start:stop],
            threshold,
            distance_weight,
            bpc,
        )
        alive[start:stop] = class_alive
        parent[start:stop] = class_parent + start
    return alive, parent


def greedy_merge(
    boxes,
    scores,
    labels,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    distance_weight: float = DEFAULT_DISTANCE_WEIGHT,
    weighting: Weighting = "count",
    return_assignment: bool = False,
):
    """Section 4.3 (d)-(g): merge the best-matching pair of same-class boxes until none
    scores ``<= threshold``.

    Args:
      boxes: ``[N, 4]`` xyxy pixels of the original image (all scales and flips together).
      scores: ``[N]`` each box's class confidence (the classifier's output at its cell).
      labels: ``[N]`` int class of each box.
      threshold: the paper's ``t``: pairs with ``match_score <= threshold`` merge.
      distance_weight: weight of the centre-distance term in ``match_score_xyxy``.
      weighting: ``"count"``: a merged box is the plain mean of its member boxes (the paper);
        ``"score"``: the mean weighted by their confidences.
      return_assignment: also return ``[N]`` the output row each input box ended in.

    Returns ``(boxes [K, 4] float32, scores [K] float32, labels [K] int32[, assignment])``,
    by descending score; a merged box's score is the sum of its members' confidences.

    Equal to ``greedy_merge_naive`` (same boxes, scores and assignment), in compiled code:
    numba compiles it at the first call on a machine (~15 s) and caches it on disk. Thresholds
    ``>= 1`` (merging disjoint boxes) are allowed, but no geometric bound prunes the pairs
    scoring 1 or more.
    """
    coords, totals, labels = _prepare(boxes, scores, labels)
    _check_threshold(threshold, distance_weight)
    weights = _merge_weights(totals, weighting)
    order = np.argsort(labels, kind="stable")  # by class, slot order inside
    starts = np.concatenate([[0], np.flatnonzero(np.diff(labels[order])) + 1, [len(order)]])
    sorted_coords = np.ascontiguousarray(coords[order])
    sorted_totals, sorted_weights = totals[order], weights[order]
    alive, parent = _merge_classes(
        sorted_coords,
        sorted_totals,
        sorted_weights,
        starts.astype(np.int64),
        float(threshold),
        float(distance_weight),
        _BOXES_PER_CELL,
    )
    coords[order], totals[order] = sorted_coords, sorted_totals
    slot_alive = np.empty_like(alive)
    slot_alive[order] = alive
    slot_parent = np.empty_like(parent)
    slot_parent[order] = order[parent]
    return _finish(coords, totals, labels, slot_alive, _roots(slot_parent), return_assignment)


# --- Baselines: non-maximum suppression and merging ----------------------------------------


def _max_side(coords):
    return np.maximum(np.maximum(coords[:, 2] - coords[:, 0], coords[:, 3] - coords[:, 1]), 0)


def _reach(tau: float) -> float:
    """``score <= tau`` needs ``IoU >= 1 - tau``, which needs the summed absolute differences
    of the two boxes' coordinates to be at most ``tau / (1 - tau)`` times the smaller of their
    longer sides (NOTES.md derives it)."""
    return np.inf if tau >= 1 else tau / (1 - tau)


def _with_class(coords, label_rank, span: float):
    """``[n, 5]`` points for the k-d trees: the coordinates and the class, classes ``9 * span``
    apart, further than any radius queried (at most ``8 * span``, the largest L1 distance
    between two boxes of one class)."""
    return np.concatenate([coords, (label_rank * 9 * span)[:, None]], axis=1)


def _buckets(side):
    return np.floor(_BUCKETS_PER_OCTAVE * np.log2(np.maximum(side, 1e-30))).astype(int)


def _bucket_radius(k: int, reach: float, span: float) -> float:
    return min(reach * 2.0 ** ((k + 1) / _BUCKETS_PER_OCTAVE), 8 * span)


def _within_reach(points_a, side_a, points_b, side_b, i, j, reach: float):
    if not np.isfinite(reach):  # thresholds >= 1: no bound, every same-class pair
        return i, j
    gap = np.abs(points_a[i, :4] - points_b[j, :4]).sum(axis=1)
    close = gap <= reach * np.minimum(side_a[i], side_b[j])
    return i[close], j[close]


def _close_pairs_within(points, side, reach: float, span: float):
    """Index pairs ``(i, j)``, ``i < j``, of same-class boxes whose coordinates differ in all by
    at most ``reach * min(side[i], side[j])`` (L1): a superset of the pairs with IoU at least
    ``u`` for ``reach = _reach(1 - u)``. ``points [n, 5]`` from ``_with_class``.

    Boxes are bucketed by side; each bucket is queried with its own radius against itself and
    the buckets of larger boxes: one radius, set by the largest box, would return whole
    clusters of small ones.
    """
    found_a, found_b = [np.zeros(0, int)], [np.zeros(0, int)]
    bucket = _buckets(side)
    for k in np.unique(bucket):
        radius = _bucket_radius(k, reach, span)
        index, larger = np.flatnonzero(bucket == k), np.flatnonzero(bucket > k)
        tree = cKDTree(points[index])
        pairs = tree.query_pairs(radius, p=1, output_type="ndarray")
        found_a.append(index[pairs[:, 0]])
        found_b.append(index[pairs[:, 1]])
        if len(larger):
            close = tree.sparse_distance_matrix(
                cKDTree(points[larger]), radius, p=1, output_type="ndarray"
            )
            found_a.append(index[close["i"]])
            found_b.append(larger[close["j"]])
    i, j = np.concatenate(found_a), np.concatenate(found_b)
    i, j = np.minimum(i, j), np.maximum(i, j)
    return _within_reach(points, side, points, side, i, j, reach)


def _class_separated(coords, labels):
    """Boxes shifted so that boxes of different classes never overlap (the trick of
    torchvision's ``batched_nms``): one pass over all classes instead of one per class."""
    _, rank = np.unique(labels, return_inverse=True)
    offset = (np.ptp(coords) + 1.0) * 2 if len(coords) else 1.0
    return coords + (rank * offset)[:, None]


def _overlap(box, boxes, metric: str):
    """IoU, or intersection over the smaller area (``"ios"``), of ``box [4]`` with each of
    ``boxes [M, 4]``."""
    if metric == "iou":
        return _iou_elementwise(box[None], boxes)
    if metric != "ios":
        raise ValueError(f"match_metric must be 'iou' or 'ios', got {metric!r}")
    inter = np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0) * (
        np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0)
    )
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    smaller = np.minimum(area, areas)
    return np.where(smaller > 0, inter / np.where(smaller > 0, smaller, 1), 0)


def _claims(coords, labels, order, owner, threshold: float, metric: str, strict: bool):
    """In ``order`` (descending score), each box not yet claimed claims the unclaimed boxes of
    its class whose overlap with it is ``> threshold`` (``strict``) or ``>= threshold``.

    Yields ``(box, claimed [K])``, claimed boxes in descending score, and fills ``owner [N]``
    (the claiming box of each box) as it goes. Each box is compared with all unclaimed ones,
    which is quick while boxes are claimed fast; if after ``_PROBE_CLAIMS`` boxes most are
    still unclaimed, the IoU's overlapping pairs are found at once with k-d trees instead.
    """
    shifted = _class_separated(coords, labels)
    remaining = order
    use_pairs = metric == "iou" and threshold > 0
    for step in itertools.count():
        if len(remaining) == 0:
            return
        if use_pairs and step == _PROBE_CLAIMS and len(remaining) > len(order) // 2:
            yield from _claims_from_pairs(coords, labels, remaining, owner, threshold, strict)
            return
        box, rest = remaining[0], remaining[1:]
        owner[box] = box
        overlap = _overlap(shifted[box], shifted[rest], metric)
        taken = overlap > threshold if strict else overlap >= threshold
        owner[rest[taken]] = box
        yield box, rest[taken]
        remaining = rest[~taken]


def _claims_from_pairs(coords, labels, order, owner, threshold: float, strict: bool):
    """``_claims`` for the boxes ``order`` (IoU only), their overlapping pairs found at once:
    IoU >= threshold bounds the boxes' coordinate differences (``_reach``)."""
    subset = coords[order]
    span = float(np.ptp(subset)) + 1.0
    _, rank = np.unique(labels[order], return_inverse=True)
    a, b = _close_pairs_within(
        _with_class(subset, rank, span), _max_side(subset), _reach(1 - threshold), span
    )
    overlap = _iou_elementwise(subset[a], subset[b])
    close = overlap > threshold if strict else overlap >= threshold
    source = np.concatenate([a[close], b[close]])  # positions in `order`: rank by score
    target = np.concatenate([b[close], a[close]])
    by_source = np.argsort(source, kind="stable")
    target = target[by_source]
    starts = np.searchsorted(source[by_source], np.arange(len(order) + 1))
    for position, box in enumerate(order.tolist()):
        if owner[box] >= 0:
            continue
        owner[box] = box
        neighbours = np.sort(target[starts[position] : starts[position + 1]])
        claimed = order[neighbours]
        claimed = claimed[owner[claimed] < 0]
        owner[claimed] = box
        yield box, claimed


def nms(
    boxes,
    scores,
    labels,
    *,
    iou_threshold: float = 0.5,
    return_assignment: bool = False,
):
    """Non-maximum suppression per class: keep the highest-scoring box, drop the boxes of its
    class whose IoU with it exceeds ``iou_threshold``, repeat (torchvision's ``batched_nms``).

    Same return as ``greedy_merge``; a suppressed box's assignment is the row of the box that
    suppressed it.
    """
    coords, totals, labels = _prepare(boxes, scores, labels)
    order = np.argsort(-totals, kind="stable")
    kept = np.zeros(len(coords), bool)
    owner = np.full(len(coords), -1)
    for box, _ in _claims(coords, labels, order, owner, iou_threshold, "iou", strict=True):
        kept[box] = True
    return _finish(coords, totals, labels, kept, owner, return_assignment)


def nmm(
    boxes,
    scores,
    labels,
    *,
    match_threshold: float = 0.5,
    match_metric: Literal["iou", "ios"] = "iou",
    return_assignment: bool = False,
):
    """Non-maximum merging per class, as SAHI's ``GreedyNMMPostprocess`` (Akyon et al. 2022).

    The highest-scoring box claims every box of its class whose overlap (``match_metric``)
    with it is at least ``match_threshold``; it then grows, in descending score, into the
    enclosing box of each claimed box that still overlaps the grown box that much. The
    result keeps the highest score. Same return as ``greedy_merge``; a claimed box's
    assignment is the claiming box's row.
    """
    coords, totals, labels = _prepare(boxes, scores, labels)
    if match_metric not in ("iou", "ios"):
        raise ValueError(f"match_metric must be 'iou' or 'ios', got {match_metric!r}")
    order = np.argsort(-totals, kind="stable")
    kept = np.zeros(len(coords), bool)
    owner = np.full(len(coords), -1)
    grown_boxes = {}
    for box, claimed in _claims(
        coords, labels, order, owner, match_threshold, match_metric, strict=False
    ):
        kept[box] = True
        grown = coords[box].copy()
        for other in claimed:  # in descending score
            if _overlap(grown, coords[other][None], match_metric)[0] >= match_threshold:
                grown = np.concatenate(
                    [
                        np.minimum(grown[:2], coords[other, :2]),
                        np.maximum(grown[2:], coords[other, 2:]),
                    ]
                )
        grown_boxes[box] = grown
    for box, grown in grown_boxes.items():
        coords[box] = grown
    return _finish(coords, totals, labels, kept, owner, return_assignment)


# --- One interface -------------------------------------------------------------------------

METHODS = {"greedy": greedy_merge, "nms": nms, "nmm": nmm}


def merge_boxes(boxes, scores, labels, method: Method = "greedy", **params):
    """Combine overlapping boxes with ``method``: ``"greedy"`` (the paper's accumulator,
    ``greedy_merge``), ``"nms"`` or ``"nmm"``; ``params`` go to that function.

    Returns ``(boxes [K, 4] float32, scores [K] float32, labels [K] int32)`` by descending
    score (with ``return_assignment=True`` also ``[N]`` each input's row).
    """
    try:
        function = METHODS[method]
    except KeyError:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}") from None
    return function(boxes, scores, labels, **params)


def accumulate(
    boxes,
    scores,
    labels,
    scale_index,
    class_maxima,
    *,
    top_k: int = 5,
    method: Method = "greedy",
    **params,
):
    """Section 4.3 from start to end: keep the boxes of each scale's top-k classes (steps
    (a)-(c)), then merge them (``merge_boxes``).

    Args:
      boxes, scores, labels: ``[N, 4]`` xyxy original pixels, ``[N]``, ``[N]``: every cell's
        box for the classes the caller considered, from every scale and flip.
      scale_index: ``[N]`` the scale each box came from (a row of ``class_maxima``).
      class_maxima: ``[S, C]`` each class's maximum output over the locations of each scale.
      top_k: the paper's ``k``.

    With ``return_assignment=True`` the assignment refers to the ``N`` inputs (-1 for boxes
    of classes outside their scale's top k).
    """
    chosen = in_top_classes(scale_index, labels, top_k_classes_per_scale(class_maxima, top_k))
    boxes, scores, labels = np.asarray(boxes), np.asarray(scores), np.asarray(labels)
    result = merge_boxes(boxes[chosen], scores[chosen], labels[chosen], method, **params)
    if not params.get("return_assignment"):
        return result
    assignment = np.full(len(chosen), -1)
    assignment[chosen] = result[3]
    return (*result[:3], assignment)
