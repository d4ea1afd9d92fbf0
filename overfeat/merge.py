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
* ``greedy_merge``: exact and fast, by levels. (1) For ``tau <= t`` the greedy run at
  threshold ``t`` starts with exactly the greedy run at ``tau``, so thresholds can rise in
  levels up to ``t``. (2) At a level, boxes linked by pairs scoring ``<= tau`` form groups;
  each group is merged as if alone, all groups at once in numpy; if no box a group's run
  made scores ``<= tau`` with a box (original or made) of another group, no pair across
  groups could ever have been picked, so the joint run is those runs; otherwise the clashing
  groups are joined and run again. (3) Candidate pairs come from k-d trees (scipy):
  ``score <= tau`` needs ``IoU >= 1 - tau``, which needs the boxes' coordinates to differ by
  at most ``tau / (1 - tau)`` times the smaller box's longer side in sum.

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

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

Weighting = Literal["count", "score"]
Method = Literal["greedy", "nms", "nmm"]

DEFAULT_THRESHOLD = 0.5
DEFAULT_DISTANCE_WEIGHT = 1.0

# Fast path tuning (speed only; the result does not depend on them).
_FIRST_LEVEL = 1 / 4  # the first level, as a fraction of the threshold
_LEVEL_GROWTH = 2.0  # each level's threshold over the previous one's
_MAX_GROUP = 64  # largest group a level aims for (larger ones are still merged exactly)
_BUCKETS_PER_OCTAVE = 1  # k-d tree buckets of box sides, in steps of 2
_JUMP_PAIRS = 4  # go straight to the threshold when it promises at most this many pairs a box
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


# --- Steps (d)-(g): the fast exact merge ---------------------------------------------------


class _State:
    """Slots of the merge in progress: one per input box; merged boxes reuse their first
    parent's slot, merged-away slots are dead."""

    def __init__(self, coords, totals, weights, labels, distance_weight):
        self.coords = coords  # [N, 4] float64
        self.totals = totals  # [N] summed confidences
        self.weights = weights  # [N] box_merge weights
        self.labels = labels  # [N]
        self.alive = np.ones(len(coords), bool)
        self.parent = np.arange(len(coords))
        self.distance_weight = distance_weight


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


class _BucketTrees:
    """k-d trees over a set of boxes (``points [n, 5]``, ``side [n]``), one per side bucket
    and per suffix of buckets, built when first needed and reused across queries."""

    def __init__(self, points, side):
        self.points, self.side = points, side
        self.bucket = _buckets(side)
        self._trees: dict[tuple[str, int], tuple[cKDTree | None, np.ndarray]] = {}

    def _tree(self, kind: str, k: int):
        if (kind, k) not in self._trees:
            index = np.flatnonzero(self.bucket == k if kind == "==" else self.bucket >= k)
            tree = cKDTree(self.points[index]) if len(index) else None
            self._trees[(kind, k)] = (tree, index)
        return self._trees[(kind, k)]

    def close_pairs(self, points_a, side_a, reach: float, span: float):
        """Index pairs ``(i, j)`` of same-class boxes ``a[i]`` and ``self[j]`` whose
        coordinates differ in all by at most ``reach * min(side_a[i], self.side[j])`` (L1): a
        superset of the pairs that can score ``<= tau``.

        The radius depends on the smaller box, so each bucket of sides is queried with its
        own radius against the buckets of larger boxes: one radius, set by the largest box,
        would return whole clusters of small ones.
        """
        found_a, found_b = [np.zeros(0, int)], [np.zeros(0, int)]
        bucket_a = _buckets(side_a)
        for k in np.unique(np.concatenate([bucket_a, self.bucket])):
            radius = _bucket_radius(k, reach, span)
            for index_a, kind in ((bucket_a == k, ">="), (bucket_a > k, "==")):
                index_a = np.flatnonzero(index_a)
                if len(index_a) == 0:
                    continue
                tree, index_b = self._tree(kind, k)
                if tree is None:
                    continue
                close = cKDTree(points_a[index_a]).sparse_distance_matrix(
                    tree, radius, p=1, output_type="ndarray"
                )
                found_a.append(index_a[close["i"]])
                found_b.append(index_b[close["j"]])
        i, j = np.concatenate(found_a), np.concatenate(found_b)
        return _within_reach(points_a, side_a, self.points, self.side, i, j, reach)


def _close_pairs_within(points, side, reach: float, span: float):
    """``_BucketTrees.close_pairs`` of a set with itself, each pair once as ``(i, j)``,
    ``i < j``."""
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


class _Level:
    """The alive boxes at the start of one level, in slot order."""

    def __init__(self, state: _State):
        self.slots = np.flatnonzero(state.alive)  # [n]
        self.coords = state.coords[self.slots]  # [n, 4]
        self.labels = state.labels[self.slots]
        self.max_side = _max_side(self.coords)  # [n]
        self.span = float(np.ptp(self.coords)) + 1.0
        _, self.label_rank = np.unique(self.labels, return_inverse=True)
        self.points = _with_class(self.coords, self.label_rank, self.span)  # [n, 5]
        self.trees = _BucketTrees(self.points, self.max_side)

    def edges(self, tau: float, distance_weight: float):
        """Every same-class pair ``a < b`` (level indices) with score ``<= tau``, and scores."""
        a, b = _close_pairs_within(self.points, self.max_side, _reach(tau), self.span)
        scores = _match_elementwise(self.coords[a], self.coords[b], distance_weight)
        within = scores <= tau
        return a[within], b[within], scores[within]


def _components(n: int, a, b) -> np.ndarray:
    graph = sparse.coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[1]


def _limit_group_size(n: int, a, b, scores, tau: float):
    """The largest level ``<= tau`` at which no group (boxes connected by pairs scoring at or
    below it) exceeds ``_MAX_GROUP`` boxes, with those pairs: a binary search over the sorted
    pair scores, equal scores kept together. The lowest score if even its groups are larger.
    """

    def fits(count: int) -> bool:
        return np.bincount(_components(n, a[:count], b[:count])).max() <= _MAX_GROUP

    if len(a) == 0 or fits(len(a)):
        return tau, a, b
    order = np.argsort(scores, kind="stable")
    a, b, scores = a[order], b[order], scores[order]
    ends = np.append(np.flatnonzero(np.diff(scores)) + 1, len(scores))  # tie-closed prefixes
    low, high = 0, len(ends) - 1  # ends[high] does not fit
    if fits(ends[low]):
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if fits(ends[middle]) else (low, middle)
    keep = ends[low]
    return float(scores[keep - 1]), a[:keep], b[:keep]


class _GroupRuns:
    """The greedy merge at threshold ``tau`` inside groups of slots, each run as if its group
    were alone, all groups at once in numpy; nothing is written to the state until
    ``commit``.

    ``members [G, P]``: each group's slots in increasing order, padded with -1. Keeps each
    row's best score and partner and, after a merge, recomputes only the rows it can change.
    ``produced [M, 4]`` / ``produced_group [M]``: every box a merge made, for the check that
    the groups really are independent.
    """

    def __init__(self, state: _State, members: np.ndarray, group_ids: np.ndarray, tau: float):
        self.members = members
        self.group_ids = group_ids  # [G]
        self.valid = members >= 0  # [G, P]
        self.slots = np.where(self.valid, members, 0)
        self.coords = state.coords[self.slots]  # [G, P, 4]
        self.weights = state.weights[self.slots]  # [G, P]
        self.totals = state.totals[self.slots]
        merged_from, merged_into, produced, produced_group = [], [], [], []
        count, size = members.shape
        dw = state.distance_weight
        coords, weights, totals, valid = self.coords, self.weights, self.totals, self.valid
        scores = _match_elementwise(coords[:, :, None], coords[:, None, :], dw)  # [G, P, P]
        scores[~(valid[:, :, None] & valid[:, None, :]) | np.eye(size, dtype=bool)] = np.inf
        best = scores.min(axis=2)  # [G, P]
        partner = scores.argmin(axis=2)
        active = np.ones(count, bool)
        while True:
            first = best.argmin(axis=1)  # [G]: the lowest slot in a best pair (the tie rule)
            active &= best[np.arange(count), first] <= tau
            g = np.flatnonzero(active)
            if len(g) == 0:
                break
            i = first[g]
            j = partner[g, i]  # > i by the tie rule
            coords[g, i] = box_merge_xyxy(coords[g, i], weights[g, i], coords[g, j], weights[g, j])
            weights[g, i] += weights[g, j]
            totals[g, i] += totals[g, j]
            valid[g, j] = False
            merged_from.append(self.slots[g, j])
            merged_into.append(self.slots[g, i])
            produced.append(coords[g, i])
            produced_group.append(group_ids[g])
            row = _match_elementwise(coords[g, i][:, None, :], coords[g], dw)  # [g, P]
            row[~valid[g]] = np.inf
            row[np.arange(len(g)), i] = np.inf
            scores[g, i, :] = row
            scores[g, :, i] = row
            scores[g, j, :] = np.inf
            scores[g, :, j] = np.inf
            stale = (partner[g] == i[:, None]) | (partner[g] == j[:, None]) | (row <= best[g])
            stale[np.arange(len(g)), i] = True
            stale &= valid[g]
            rows_g, rows_p = np.nonzero(stale)
            recomputed = scores[g[rows_g], rows_p]  # [R, P]
            best[g[rows_g], rows_p] = recomputed.min(axis=1)
            partner[g[rows_g], rows_p] = recomputed.argmin(axis=1)
            best[g, j] = np.inf
        self.merged_from = np.concatenate(merged_from) if merged_from else np.zeros(0, int)
        self.merged_into = np.concatenate(merged_into) if merged_into else np.zeros(0, int)
        self.produced = np.concatenate(produced) if produced else np.zeros((0, 4))
        self.produced_group = np.concatenate(produced_group) if produced_group else np.zeros(0, int)

    def commit(self, state: _State, live: np.ndarray) -> None:
        """Write the runs of the groups still ``live`` (indexed by group id) to ``state``."""
        rows = live[self.group_ids][:, None]  # [G, 1]
        keep = self.valid & rows
        state.coords[self.slots[keep]] = self.coords[keep]
        state.weights[self.slots[keep]] = self.weights[keep]
        state.totals[self.slots[keep]] = self.totals[keep]
        state.alive[self.members[(self.members >= 0) & ~self.valid & rows]] = False
        merges = live[self.produced_group]
        state.parent[self.merged_from[merges]] = self.merged_into[merges]


def _run_groups(state: _State, level: _Level, group: np.ndarray, run: np.ndarray, tau: float):
    """``_GroupRuns`` for the groups of two or more boxes whose id is set in ``run``, bucketed
    by size (padded to a power of two up to ``_MAX_GROUP``)."""
    sizes = np.bincount(group, minlength=len(run))
    order = np.argsort(group, kind="stable")  # level indices by group, slot order inside
    starts = np.concatenate([[0], np.cumsum(sizes)])
    position = np.arange(len(group)) - starts[group[order]]
    padded = 2 ** np.ceil(np.log2(np.maximum(sizes, 2))).astype(int)
    padded = np.where(sizes > _MAX_GROUP, sizes, padded)  # rare big groups: no padding
    runs = []
    for width in np.unique(padded[run & (sizes > 1)]):
        chosen = np.flatnonzero(run & (padded == width) & (sizes > 1))
        row = np.full(len(sizes), -1)
        row[chosen] = np.arange(len(chosen))
        members = np.full((len(chosen), width), -1)
        in_bucket = row[group[order]] >= 0
        members[row[group[order]][in_bucket], position[in_bucket]] = level.slots[order[in_bucket]]
        runs.append(_GroupRuns(state, members, chosen, tau))
    return runs


def _clashes(level: _Level, group, made, made_group, every_made, every_made_group, tau, dw):
    """Pairs of groups (``g1, g2``) where a box one group's run ``made`` scores ``<= tau``
    with a box of another group, original or made by its run (``every_made``): their runs
    were not independent."""
    if len(made) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    label_rank = np.zeros(max(group.max(), made_group.max(), every_made_group.max()) + 1, int)
    label_rank[group] = level.label_rank
    made_points = _with_class(made, label_rank[made_group], level.span)  # [M, 5]
    made_side = _max_side(made)
    reach = _reach(tau)
    # against the level's boxes (their trees are reused), then against every made box
    a, b = level.trees.close_pairs(made_points, made_side, reach, level.span)
    every_points = _with_class(every_made, label_rank[every_made_group], level.span)
    every = _BucketTrees(every_points, _max_side(every_made))
    a2, b2 = every.close_pairs(made_points, made_side, reach, level.span)
    a = np.concatenate([a, a2])
    other_group = np.concatenate([group[b], every_made_group[b2]])
    other = np.concatenate([level.coords[b], every_made[b2]])
    differ = made_group[a] != other_group
    a, other_group, other = a[differ], other_group[differ], other[differ]
    clash = _match_elementwise(made[a], other, dw) <= tau
    return made_group[a[clash]], other_group[clash]


def _merge_level(state: _State, level: _Level, group: np.ndarray, tau: float) -> None:
    """Run the greedy merge at ``tau`` in every group as if it were alone; where the runs turn
    out to interact, join those groups and run them again; then commit every run.

    ``group [n]``: each level box's group id. ``live [ids]``: ids in use (joined groups get
    fresh ids, their old runs are dropped).
    """
    live = np.ones(group.max() + 1, bool)
    run = live.copy()
    runs: list[_GroupRuns] = []
    every_made, every_made_group = np.zeros((0, 4)), np.zeros(0, int)
    while True:
        new_runs = _run_groups(state, level, group, run, tau)
        runs += new_runs
        made = np.concatenate([r.produced for r in new_runs] + [np.zeros((0, 4))])
        made_group = np.concatenate([r.produced_group for r in new_runs] + [np.zeros(0, int)])
        still = live[every_made_group]
        every_made = np.concatenate([every_made[still], made])
        every_made_group = np.concatenate([every_made_group[still], made_group])
        g1, g2 = _clashes(
            level,
            group,
            made,
            made_group,
            every_made,
            every_made_group,
            tau,
            state.distance_weight,
        )
        if len(g1) == 0:
            break
        component = _components(len(live), g1, g2)
        joined = np.bincount(component)[component] > 1  # [ids]
        fresh = len(live) + component  # the id a joined group gets
        group = np.where(joined[group], fresh[group], group)
        live = np.concatenate([live & ~joined, np.zeros(component.max() + 1, bool)])
        live[fresh[joined]] = True
        run = np.zeros(len(live), bool)
        run[fresh[joined]] = True
    for r in runs:
        r.commit(state, live)


def _next_level(tau: float, threshold: float, pairs: int, boxes: int) -> float:
    """The next level: straight to ``threshold`` when the pairs found at ``tau``, scaled by
    the fourth power of the reach (pairs within a 4-d radius), promise at most
    ``_JUMP_PAIRS`` pairs a box there;
    else ``_LEVEL_GROWTH`` times higher (from a small floor, so that a level cut down to
    ties at score 0 moves on)."""
    if tau > 0 and pairs * (_reach(threshold) / _reach(tau)) ** 4 <= _JUMP_PAIRS * boxes:
        return threshold
    return min(threshold, max(tau, threshold * _FIRST_LEVEL / 64) * _LEVEL_GROWTH)


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

    Equal to ``greedy_merge_naive`` (same boxes, scores and assignment); thresholds ``>= 1``
    (merging disjoint boxes) are allowed but leave nothing for the k-d tree to prune.
    """
    coords, totals, labels = _prepare(boxes, scores, labels)
    _check_threshold(threshold, distance_weight)
    state = _State(coords, totals, _merge_weights(totals, weighting), labels, distance_weight)
    tau = threshold * _FIRST_LEVEL
    while state.alive.sum() >= 2:
        level = _Level(state)
        a, b, pair_scores = level.edges(tau, distance_weight)
        tau, a, b = _limit_group_size(len(level.slots), a, b, pair_scores, tau)
        if len(a):
            _merge_level(state, level, _components(len(level.slots), a, b), tau)
        if tau >= threshold:  # the whole run at threshold is done
            break
        tau = _next_level(tau, threshold, len(a), len(level.slots))
    return _finish(
        state.coords, state.totals, labels, state.alive, _roots(state.parent), return_assignment
    )


# --- Baselines: non-maximum suppression and merging ----------------------------------------


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
