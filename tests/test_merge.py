"""The greedy accumulator (section 4.3), its fast exact implementation, and NMS / NMM."""

import numpy as np
import pytest

from overfeat import merge

# --- match_score and box_merge -------------------------------------------------------------


def test_match_score_hand_worked():
    a = np.array([[0.0, 0, 10, 10]])
    shifted = np.array([[5.0, 0, 15, 10]])  # IoU 50/150; centres 5 apart; enclosing 15 x 10
    far = np.array([[30.0, 30, 40, 40]])
    assert merge.match_score_xyxy(a, a)[0, 0] == 0
    expected = (1 - 1 / 3) + 25 / (15**2 + 10**2)
    assert merge.match_score_xyxy(a, shifted)[0, 0] == pytest.approx(expected)
    assert merge.match_score_xyxy(a, shifted, distance_weight=0)[0, 0] == pytest.approx(2 / 3)
    assert merge.match_score_xyxy(a, far)[0, 0] >= 1  # disjoint boxes never reach 1
    # closer and more overlapping matches better
    nearer = np.array([[2.0, 0, 12, 10]])
    assert merge.match_score_xyxy(a, nearer)[0, 0] < merge.match_score_xyxy(a, shifted)[0, 0]


def test_match_score_symmetric_and_scale_free():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 100, (20, 2))
    sizes = rng.uniform(5, 60, (20, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    scores = merge.match_score_xyxy(boxes, boxes)
    np.testing.assert_array_equal(scores, scores.T)  # bit-identical both ways
    np.testing.assert_allclose(merge.match_score_xyxy(boxes * 3.7 + 11, boxes * 3.7 + 11), scores)


def test_box_merge_is_the_member_mean():
    a, b, c = np.array([0.0, 0, 10, 10]), np.array([2.0, 2, 12, 12]), np.array([4.0, 1, 9, 20])
    ab = merge.box_merge_xyxy(a, 1, b, 1)
    np.testing.assert_array_equal(ab, [1, 1, 11, 11])
    np.testing.assert_allclose(merge.box_merge_xyxy(ab, 2, c, 1), (a + b + c) / 3)
    np.testing.assert_allclose(merge.box_merge_xyxy(a, 1, b, 3), [1.5, 1.5, 11.5, 11.5])


# --- The greedy merge, hand-worked ---------------------------------------------------------


def test_greedy_merge_tiny_hand_worked():
    """A and B (class 0) match at 0.186 and merge; C is far; D equals A but is class 1."""
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [30, 30, 40, 40], [0, 0, 10, 10]], float)
    scores = np.array([0.5, 0.25, 0.6, 0.3])
    labels = np.array([0, 0, 0, 1])
    assert merge.match_score_xyxy(boxes[:1], boxes[1:2])[0, 0] == pytest.approx(
        (1 - 90 / 110) + 1 / (11**2 + 10**2)
    )
    for function in (merge.greedy_merge, merge.greedy_merge_naive):
        out, out_scores, out_labels, assignment = function(
            boxes, scores, labels, threshold=0.5, return_assignment=True
        )
        np.testing.assert_allclose(out, [[0.5, 0, 10.5, 10], [30, 30, 40, 40], [0, 0, 10, 10]])
        np.testing.assert_allclose(out_scores, [0.75, 0.6, 0.3])  # summed confidences
        np.testing.assert_array_equal(out_labels, [0, 0, 1])
        np.testing.assert_array_equal(assignment, [0, 0, 1, 2])
        assert out.dtype == np.float32 and out_labels.dtype == np.int32
        nothing = function(boxes, scores, labels, threshold=0.1)
        assert len(nothing[0]) == 4  # 0.186 > 0.1: no merge


def test_greedy_merge_order_and_weighting_hand_worked():
    """A-B (0.350) merge first; their mean then scores 0.851 with C, above t = 0.5, although
    B alone would... not either (0.744): C stays. Confidence weighting moves the mean."""
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [7, 0, 17, 10]], float)
    scores = np.array([0.9, 0.3, 0.8])
    labels = np.zeros(3, int)
    out, out_scores, _ = merge.greedy_merge(boxes, scores, labels, threshold=0.5)
    np.testing.assert_allclose(out, [[1, 0, 11, 10], [7, 0, 17, 10]])
    np.testing.assert_allclose(out_scores, [1.2, 0.8])
    weighted, _, _ = merge.greedy_merge(boxes, scores, labels, threshold=0.5, weighting="score")
    np.testing.assert_allclose(weighted[0], [0.5, 0, 10.5, 10])  # (0.9*0 + 0.3*2) / 1.2
    everything, total, _ = merge.greedy_merge(boxes, scores, labels, threshold=0.9)
    np.testing.assert_allclose(everything, [[3, 0, 13, 10]])  # mean of all three members
    np.testing.assert_allclose(total, [2.0])


def test_greedy_merge_tie_at_exactly_the_threshold_hand_worked():
    """B (slot 0) and C (slot 2) are A (slot 1) moved 1 pixel right and left: both pairs with
    A score the same, exactly the threshold. The tie goes to the pair with the lower first
    slot, (B, A); their mean is 1.5 pixels from C, above the threshold: two boxes remain."""
    a, b, c = [0.0, 0, 100, 100], [1.0, 0, 101, 100], [-1.0, 0, 99, 100]
    boxes, scores, labels = np.array([b, a, c]), np.array([0.2, 0.3, 0.4]), np.zeros(3, int)
    threshold = (1 - 99 / 101) + 1 / (101**2 + 100**2)
    pair = merge.match_score_xyxy(boxes, boxes)
    assert pair[0, 1] == pair[1, 2] == pytest.approx(threshold) and pair[0, 1] < pair[0, 2]
    for function in (merge.greedy_merge, merge.greedy_merge_naive):
        out, out_scores, _, assignment = function(
            boxes, scores, labels, threshold=float(pair[0, 1]), return_assignment=True
        )
        np.testing.assert_array_equal(out, [[0.5, 0, 100.5, 100], c])
        np.testing.assert_allclose(out_scores, [0.5, 0.4])
        np.testing.assert_array_equal(assignment, [0, 0, 1])
        assert len(function(boxes, scores, labels, threshold=float(pair[0, 1]) * 0.999)[0]) == 3


def test_empty_and_single_inputs():
    for method in ("greedy", "nms", "nmm"):
        out, out_scores, out_labels = merge.merge_boxes(np.zeros((0, 4)), [], [], method)
        assert out.shape == (0, 4) and out_scores.shape == (0,) and out_labels.shape == (0,)
        one = merge.merge_boxes([[1, 2, 3, 4]], [0.5], [7], method)
        np.testing.assert_array_equal(one[0], [[1, 2, 3, 4]])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        merge.greedy_merge(np.zeros((3, 3)), np.zeros(3), np.zeros(3, int))
    with pytest.raises(ValueError, match="finite"):
        merge.greedy_merge([[0, 0, np.nan, 1]], [1.0], [0])
    with pytest.raises(ValueError, match="integers"):
        merge.greedy_merge([[0, 0, 1, 1]], [1.0], [0.5])
    with pytest.raises(ValueError, match="method"):
        merge.merge_boxes([[0, 0, 1, 1]], [1.0], [0], method="soft-nms")
    with pytest.raises(ValueError, match="positive"):
        merge.greedy_merge([[0, 0, 1, 1]], [0.0], [0], weighting="score")


def test_inputs_are_not_modified():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], float)
    scores = np.array([0.5, 0.25])
    merge.greedy_merge(boxes, scores, np.zeros(2, int))
    np.testing.assert_array_equal(boxes, [[0, 0, 10, 10], [1, 0, 11, 10]])
    np.testing.assert_array_equal(scores, [0.5, 0.25])


# --- The fast merge equals the naive one ---------------------------------------------------


def _random_boxes(rng, n, classes, clustered):
    if clustered:  # boxes around a few objects, as the regressor's outputs gather
        objects = max(n // 12, 1)
        centre = rng.uniform(0, 300, (objects, 2))
        size = rng.uniform(30, 120, (objects, 2))
        pick = rng.integers(0, objects, n)
        centres = centre[pick] + rng.normal(0, 12, (n, 2))
        sizes = size[pick] * rng.uniform(0.8, 1.25, (n, 2))
    else:
        centres = rng.uniform(0, 300, (n, 2))
        sizes = rng.uniform(5, 150, (n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    return boxes, rng.uniform(0.01, 1, n), rng.integers(0, classes, n)


def _assert_same(fast, naive):
    for got, expected in zip(fast, naive, strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("seed", range(24))
def test_fast_equals_naive_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 150))
    boxes, scores, labels = _random_boxes(rng, n, int(rng.integers(1, 4)), seed % 3 != 0)
    params = dict(
        threshold=float(rng.choice([0.05, 0.2, 0.5, 0.8, 1.3])),
        distance_weight=float(rng.choice([0.0, 1.0, 3.0])),
        weighting=str(rng.choice(["count", "score"])),
        return_assignment=True,
    )
    _assert_same(
        merge.greedy_merge(boxes, scores, labels, **params),
        merge.greedy_merge_naive(boxes, scores, labels, **params),
    )


@pytest.mark.parametrize("boxes_per_cell", [0.01, 4.0, 1e9])
def test_fast_equals_naive_whatever_the_grid(monkeypatch, boxes_per_cell):
    """Grid cells far smaller than the boxes (searches over many rings of cells), the default,
    and one cell for everything: the grid decides only what is looked at, never the result.
    Dense clusters in one class merge hundreds of times, which refits the grid, moves boxes
    through its lists and compacts the heap."""
    monkeypatch.setattr(merge, "_BOXES_PER_CELL", boxes_per_cell)
    rng = np.random.default_rng(100)
    boxes, scores, labels = _random_boxes(rng, 240, 2, clustered=True)
    for threshold in (0.3, 0.6):
        params = dict(threshold=threshold, return_assignment=True)
        _assert_same(
            merge.greedy_merge(boxes, scores, labels, **params),
            merge.greedy_merge_naive(boxes, scores, labels, **params),
        )


@pytest.mark.parametrize("boxes_per_cell", [0.01, 4.0])
def test_fast_equals_naive_with_ties_and_degenerate_boxes(monkeypatch, boxes_per_cell):
    """Exact duplicates (ties at score 0, broken by slot order), zero-area and inverted
    boxes, at thresholds 0 (only duplicates merge), inside (0, 1) and above 1 (no bound)."""
    monkeypatch.setattr(merge, "_BOXES_PER_CELL", boxes_per_cell)
    rng = np.random.default_rng(7)
    base, scores, labels = _random_boxes(rng, 40, 2, clustered=True)
    odd = [[5, 5, 5, 30], [5, 5, 5, 30], [0, 0, 0, 0], [20, 20, 10, 40], [20, 20, 10, 40]]
    boxes = np.concatenate([base, base[:15], odd])
    scores = np.concatenate([scores, scores[:15], [0.1, 0.2, 0.3, 0.4, 0.5]])
    labels = np.concatenate([labels, labels[:15], [0, 0, 1, 0, 0]])
    for threshold in (0.0, 0.4, 1.2):
        params = dict(threshold=threshold, return_assignment=True)
        _assert_same(
            merge.greedy_merge(boxes, scores, labels, **params),
            merge.greedy_merge_naive(boxes, scores, labels, **params),
        )


def test_fast_merges_a_pair_scoring_exactly_the_threshold():
    """``<= t``: a pair whose score is exactly the threshold merges, in both implementations,
    for pairs at every score in the run (the pruning bounds are padded, never short)."""
    rng = np.random.default_rng(11)
    boxes, scores, labels = _random_boxes(rng, 60, 1, clustered=True)
    pair_scores = merge.match_score_xyxy(boxes, boxes)[np.triu_indices(len(boxes), 1)]
    for threshold in np.quantile(pair_scores[pair_scores < 1], [0.001, 0.01, 0.1], method="lower"):
        params = dict(threshold=float(threshold), return_assignment=True)
        fast = merge.greedy_merge(boxes, scores, labels, **params)
        _assert_same(fast, merge.greedy_merge_naive(boxes, scores, labels, **params))
        assert len(fast[0]) < len(boxes)  # the pair at the threshold (at least) merged


@pytest.mark.parametrize("clustered", [True, False])
def test_fast_equals_naive_on_larger_inputs(clustered):
    """Hundreds of boxes per class: as the pipeline gives them (clusters, almost all merging
    away), and spread out (few merges)."""
    rng = np.random.default_rng(21)
    n = 450 if clustered else 500
    boxes, scores, labels = _random_boxes(rng, n, 2, clustered=clustered)
    params = dict(threshold=0.5, weighting="score", return_assignment=True)
    _assert_same(
        merge.greedy_merge(boxes, scores, labels, **params),
        merge.greedy_merge_naive(boxes, scores, labels, **params),
    )


# --- Steps (a)-(c) -------------------------------------------------------------------------


def test_top_k_classes_and_selection():
    class_maxima = np.array([[0.1, 0.7, 0.2, 0.7], [0.5, 0.1, 0.3, 0.0]])
    top = merge.top_k_classes_per_scale(class_maxima, 2)
    np.testing.assert_array_equal(top, [[1, 3], [0, 2]])  # ties: lower class first
    scale_index = np.array([0, 0, 1, 1, 1])
    labels = np.array([1, 0, 0, 1, 2])
    np.testing.assert_array_equal(
        merge.in_top_classes(scale_index, labels, top), [True, False, True, False, True]
    )
    with pytest.raises(ValueError, match="k must be"):
        merge.top_k_classes_per_scale(class_maxima, 5)


def test_accumulate_selects_then_merges():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]], float)
    scores = np.array([0.4, 0.3, 0.9, 0.2])
    labels = np.array([1, 1, 2, 1])
    scale_index = np.array([0, 1, 1, 1])
    class_maxima = np.array([[0.0, 0.4, 0.1], [0.0, 0.3, 0.1]])  # top-1: class 1 at both
    out, out_scores, out_labels, assignment = merge.accumulate(
        boxes, scores, labels, scale_index, class_maxima, top_k=1, return_assignment=True
    )
    np.testing.assert_allclose(out, [[0.5, 0, 10.5, 10], [50, 50, 60, 60]])
    np.testing.assert_allclose(out_scores, [0.7, 0.2])
    np.testing.assert_array_equal(out_labels, [1, 1])
    np.testing.assert_array_equal(assignment, [0, 0, -1, 1])  # class 2 not in the top 1


# --- Baselines -----------------------------------------------------------------------------


def test_nms_hand_worked():
    """B overlaps A at IoU 0.68 and is dropped; C overlaps A at IoU 1/3 and stays; D is of
    another class and stays."""
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [5, 0, 15, 10], [0, 0, 10, 10]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    labels = np.array([0, 0, 0, 1])
    out, out_scores, out_labels, assignment = merge.nms(
        boxes, scores, labels, iou_threshold=0.5, return_assignment=True
    )
    np.testing.assert_array_equal(out, boxes[[0, 2, 3]])
    np.testing.assert_allclose(out_scores, [0.9, 0.7, 0.6])
    np.testing.assert_array_equal(out_labels, [0, 0, 1])
    np.testing.assert_array_equal(assignment, [0, 0, 1, 2])
    strict = merge.nms(boxes, scores, labels, iou_threshold=0.3)
    assert len(strict[0]) == 2  # C (IoU 1/3 > 0.3) goes too


@pytest.mark.parametrize("probe", [0, 10**9])  # k-d tree pairs at once / box by box
def test_nms_equals_a_brute_force_reference(monkeypatch, probe):
    monkeypatch.setattr(merge, "_PROBE_CLAIMS", probe)
    rng = np.random.default_rng(3)
    boxes, scores, labels = _random_boxes(rng, 200, 3, clustered=True)
    out, out_scores, out_labels = merge.nms(boxes, scores, labels, iou_threshold=0.45)
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        same = [k for k in keep if labels[k] == labels[i]]
        ious = merge.match_score_xyxy(boxes[[i]], boxes[same], distance_weight=0)
        if not same or (1 - ious).max() <= 0.45:
            keep.append(i)
    np.testing.assert_allclose(out, boxes[keep].astype(np.float32))
    np.testing.assert_array_equal(out_labels, labels[keep])


def test_nmm_hand_worked():
    """A claims B (IoU 0.82) and grows to their enclosing box, keeping A's score; C (IoU with
    A 0.18) is left; by intersection over the smaller box C is claimed too."""
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 7, 10, 17]], float)
    scores = np.array([0.9, 0.8, 0.7])
    labels = np.zeros(3, int)
    out, out_scores, _, assignment = merge.nmm(
        boxes, scores, labels, match_threshold=0.5, return_assignment=True
    )
    np.testing.assert_array_equal(out, [[0, 0, 11, 10], [0, 7, 10, 17]])
    np.testing.assert_allclose(out_scores, [0.9, 0.7])
    np.testing.assert_array_equal(assignment, [0, 0, 1])
    ios = merge.nmm(boxes, scores, labels, match_threshold=0.25, match_metric="ios")
    np.testing.assert_array_equal(ios[0], [[0, 0, 11, 17]])


@pytest.mark.parametrize("metric", ["iou", "ios"])
@pytest.mark.parametrize("probe", [0, 10**9])  # k-d tree pairs at once (IoU) / box by box
def test_nmm_equals_a_brute_force_reference(monkeypatch, metric, probe):
    """SAHI's greedy NMM written out box by box."""
    monkeypatch.setattr(merge, "_PROBE_CLAIMS", probe)
    rng = np.random.default_rng(5)
    boxes, scores, labels = _random_boxes(rng, 150, 2, clustered=True)

    def overlap(a, b):
        inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(
            min(a[3], b[3]) - max(a[1], b[1]), 0
        )
        area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
        return inter / (area_a + area_b - inter) if metric == "iou" else inter / min(area_a, area_b)

    free, expected = set(range(len(boxes))), []
    for i in np.argsort(-scores, kind="stable"):
        if i not in free:
            continue
        free.discard(i)
        claimed = [
            j
            for j in np.argsort(-scores, kind="stable")
            if j in free and labels[j] == labels[i] and overlap(boxes[i], boxes[j]) >= 0.4
        ]
        free -= set(claimed)
        grown = boxes[i].copy()
        for j in claimed:
            if overlap(grown, boxes[j]) >= 0.4:
                grown = np.concatenate(
                    [np.minimum(grown[:2], boxes[j, :2]), np.maximum(grown[2:], boxes[j, 2:])]
                )
        expected.append(grown)
    out, _, _ = merge.nmm(boxes, scores, labels, match_threshold=0.4, match_metric=metric)
    np.testing.assert_allclose(out, np.array(expected, np.float32))
