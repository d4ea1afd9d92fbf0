"""Hand-worked cases for every rule of the ILSVRC/VOC metrics (overfeat.evaluation).

Each expected value is worked out in the comment beside it, from the definitions in NOTES.md
("Evaluation"), not read off the code.
"""

from __future__ import annotations

import numpy as np
import pytest

from overfeat.evaluation import (
    ClassificationEvaluator,
    DetectionEvaluator,
    DetectionProtocol,
    LocalizationEvaluator,
    all_point_ap,
    average_precision,
    ilsvrc_iou_threshold,
    interpolated_ap,
    iou_xyxy,
    match_detections,
    precision_recall,
)
from overfeat.evaluation.matching import FALSE_POSITIVE, IGNORED, TRUE_POSITIVE

TP, FP, IG = TRUE_POSITIVE, FALSE_POSITIVE, IGNORED


# --- IoU and the per-object threshold ---------------------------------------------------


def test_iou_continuous_and_inclusive_conventions():
    # Continuous [0,10)x[0,10) and [5,15)x[0,10): intersection 5*10 = 50, union 150 -> 1/3.
    assert iou_xyxy([[0, 0, 10, 10]], [[5, 0, 15, 10]])[0, 0] == pytest.approx(1 / 3)
    # The same pixels written inclusively ([0, 9] and [5, 14]) give the same IoU.
    inclusive = iou_xyxy([[0, 0, 9, 9]], [[5, 0, 14, 9]], box_convention="inclusive")
    assert inclusive[0, 0] == pytest.approx(1 / 3)
    # Boxes that touch at x = 10: apart in the continuous plane ...
    assert iou_xyxy([[0, 0, 10, 10]], [[10, 0, 20, 10]])[0, 0] == 0.0
    # ... but sharing pixel column 10 when inclusive: 1*11 / (121 + 121 - 11) = 11/231.
    touching = iou_xyxy([[0, 0, 10, 10]], [[10, 0, 20, 10]], box_convention="inclusive")
    assert touching[0, 0] == pytest.approx(11 / 231)


def test_iou_matrix_shape_and_disjoint_pairs():
    a = np.array([[0, 0, 4, 4], [10, 10, 12, 12]], np.float32)
    b = np.array([[2, 2, 6, 6], [0, 0, 4, 4], [50, 50, 60, 60]], np.float32)
    overlap = iou_xyxy(a, b)
    assert overlap.shape == (2, 3)
    # [0,4)^2 vs [2,6)^2: 4 / (16 + 16 - 4) = 1/7; identical boxes: 1; apart: 0.
    np.testing.assert_allclose(overlap, [[1 / 7, 1.0, 0.0], [0.0, 0.0, 0.0]])


def test_zero_area_boxes_never_overlap():
    # A degenerate box has no positive intersection with anything, so IoU 0 (not 0/0).
    assert iou_xyxy([[5, 5, 5, 9]], [[0, 0, 10, 10]])[0, 0] == 0.0


def test_bad_boxes_are_named():
    with pytest.raises(ValueError, match=r"boxes_a\[1\].*x2 < x1"):
        iou_xyxy([[0, 0, 1, 1], [5, 0, 4, 1]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match=r"shape \[N, 4\]"):
        iou_xyxy([[0, 0, 1]], [[0, 0, 1, 1]])


def test_ilsvrc_threshold_values():
    boxes = [[0, 0, 10, 10], [0, 0, 24, 24], [0, 0, 25, 25], [0, 0, 100, 100], [0, 0, 10, 40]]
    expected = [
        100 / 400,  # 10x10: 100 / (20*20) = 0.25
        576 / 1156,  # 24x24: 576 / (34*34) = 0.498..., just under 0.5
        0.5,  # 25x25: 625 / 1225 = 0.510 -> capped at 0.5
        0.5,  # large objects: the PASCAL 0.5
        400 / 1000,  # 10x40: 400 / (20*50) = 0.4
    ]
    np.testing.assert_allclose(ilsvrc_iou_threshold(boxes), expected)
    # Inclusive pixel indices [0, 9] are the same 10 pixels: same threshold.
    inclusive = ilsvrc_iou_threshold([[0, 0, 9, 9]], box_convention="inclusive")
    assert inclusive[0] == pytest.approx(0.25)


# --- matching -----------------------------------------------------------------------------


def test_small_object_threshold_decides_a_match():
    # The devkit readme's own example: a 10x10 object inside a 20x20 detection, IoU 100/400.
    gt = [[10, 10, 20, 20]]
    inside = [[5, 5, 25, 25]]
    status, matched = match_detections(inside, [1.0], gt, iou_threshold="ilsvrc")
    assert status.tolist() == [TP] and matched.tolist() == [0]  # 0.25 >= 0.25
    status, _ = match_detections(inside, [1.0], gt, iou_threshold=0.5)
    assert status.tolist() == [FP]  # PASCAL's 0.5 rejects it
    wider = [[5, 5, 26, 25]]  # 21x20: IoU 100/420 < 0.25
    status, _ = match_detections(wider, [1.0], gt, iou_threshold="ilsvrc")
    assert status.tolist() == [FP]


@pytest.mark.parametrize("matching", ["ilsvrc", "voc"])
def test_duplicates_are_false_positives_in_score_order(matching):
    gt = [[0, 0, 100, 100]]
    # Input order is not rank order: the 0.9 detection is visited first and takes the object.
    boxes = [[0, 0, 98, 100], [0, 0, 100, 100], [2, 0, 100, 100]]
    scores = [0.5, 0.9, 0.7]
    status, matched = match_detections(boxes, scores, gt, matching=matching)
    assert status.tolist() == [FP, TP, FP]
    assert matched.tolist() == [-1, 0, -1]


def test_equal_scores_keep_input_order():
    gt = [[0, 0, 100, 100]]
    boxes = [[0, 0, 90, 100], [0, 0, 100, 100]]  # the worse box comes first
    status, _ = match_detections(boxes, [0.5, 0.5], gt)
    assert status.tolist() == [TP, FP]


def test_ilsvrc_takes_the_best_free_object_voc_the_best_object():
    # Objects A = [0,100)x[0,100) and B = [20,120)x[0,100). d1 is A exactly (0.9). d2 =
    # [10,110)x[0,100) overlaps A and B alike (90*100 / 110*100 = 0.818), and is listed
    # against A first; A being taken, ILSVRC gives d2 the free B; VOC looks at A only (the
    # first of the equal best overlaps) and calls d2 a duplicate.
    gt = [[0, 0, 100, 100], [20, 0, 120, 100]]
    boxes = [[0, 0, 100, 100], [10, 0, 110, 100]]
    status, matched = match_detections(boxes, [0.9, 0.8], gt, matching="ilsvrc")
    assert status.tolist() == [TP, TP] and matched.tolist() == [0, 1]
    status, matched = match_detections(boxes, [0.9, 0.8], gt, matching="voc")
    assert status.tolist() == [TP, FP] and matched.tolist() == [0, -1]


def test_equal_overlaps_go_to_the_first_listed_object():
    # Objects A = [0,100)x[0,12) and B = [0,100)x[-2,10). d1 = [0,100)x[0,10) overlaps each
    # at 1000/1200: the devkit (`ov > ovmax`) keeps the first listed, A. d2 = [0,100)x[3,14)
    # reaches A (900/1400 = 0.64) but not B (700/1600 = 0.44): a duplicate. (COCO keeps the
    # last of equal overlaps, B, and then counts d2 as a hit on A.)
    gt = [[0, 0, 100, 12], [0, -2, 100, 10]]
    boxes = [[0, 0, 100, 10], [0, 3, 100, 14]]
    status, matched = match_detections(boxes, [0.9, 0.8], gt, iou_threshold=0.5)
    assert matched.tolist() == [0, -1] and status.tolist() == [TP, FP]


def test_ilsvrc_picks_highest_overlap_among_free_objects():
    gt = [[0, 0, 100, 100], [0, 0, 80, 100]]
    # IoU with the first = 90/100, with the second = 80/90: the first wins.
    status, matched = match_detections([[0, 0, 90, 100]], [1.0], gt)
    assert status.tolist() == [TP] and matched.tolist() == [0]


def test_ignored_objects_absorb_any_number_of_detections():
    gt = [[0, 0, 50, 50], [100, 100, 150, 150]]
    ignore = [True, False]
    boxes = [[0, 0, 50, 50], [1, 0, 50, 50], [100, 100, 150, 150], [200, 200, 240, 240]]
    for matching in ("ilsvrc", "voc"):
        status, matched = match_detections(
            boxes, [0.9, 0.8, 0.7, 0.6], gt, ignore, matching=matching
        )
        # Two detections on the ignored object: neither counts; the regular one is found;
        # the detection on nothing is a false positive.
        assert status.tolist() == [IG, IG, TP, FP]
        assert matched.tolist() == [0, 0, 1, -1]


def test_free_regular_object_beats_ignored_one_under_ilsvrc_not_voc():
    # The detection overlaps an ignored object best (IoU 1) and a regular one at 0.6:
    # ILSVRC-style matching prefers the free regular object; VOC goes by best overlap.
    gt = [[0, 0, 100, 100], [0, 0, 60, 100]]
    ignore = [True, False]
    status, _ = match_detections([[0, 0, 100, 100]], [1.0], gt, ignore, matching="ilsvrc")
    assert status.tolist() == [TP]
    status, _ = match_detections([[0, 0, 100, 100]], [1.0], gt, ignore, matching="voc")
    assert status.tolist() == [IG]


def test_no_ground_truth_or_no_detections():
    status, matched = match_detections([[0, 0, 1, 1]], [1.0], np.zeros((0, 4)))
    assert status.tolist() == [FP] and matched.tolist() == [-1]
    status, matched = match_detections(np.zeros((0, 4)), [], [[0, 0, 1, 1]])
    assert status.shape == (0,) and matched.shape == (0,)


# --- precision/recall and AP --------------------------------------------------------------

# Ranked outcomes TP FP TP FP FP TP with 3 objects:
#   recall    1/3 1/3 2/3 2/3 2/3  1
#   precision  1  1/2 2/3 1/2 2/5 1/2
#   envelope   1  2/3 2/3 1/2 1/2 1/2   (best precision at or after each point)
HITS = np.array([1, 0, 1, 0, 0, 1], bool)
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_precision_recall_curve_by_hand():
    # Shuffle the input: the curve follows the score ranking, not the input order.
    order = np.array([3, 0, 5, 1, 4, 2])
    recall, precision = precision_recall(SCORES[order], HITS[order], 3)
    np.testing.assert_allclose(recall, [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 1])
    np.testing.assert_allclose(precision, [1, 1 / 2, 2 / 3, 1 / 2, 2 / 5, 1 / 2])


def test_all_point_ap_by_hand():
    recall, precision = precision_recall(SCORES, HITS, 3)
    # Recall steps of 1/3 at envelope precisions 1, 2/3, 1/2: (1 + 2/3 + 1/2) / 3 = 13/18.
    assert all_point_ap(recall, precision) == pytest.approx(13 / 18)


def test_voc07_eleven_point_ap_by_hand():
    recall, precision = precision_recall(SCORES, HITS, 3)
    # t = 0, .1, .2, .3 (<= 1/3): 1; t = .4, .5, .6 (<= 2/3): 2/3; t = .7 ... 1: 1/2.
    # (4*1 + 3*2/3 + 4*1/2) / 11 = 8/11.
    assert average_precision(recall, precision, "11_point") == pytest.approx(8 / 11)


def test_101_point_ap_by_hand():
    recall, precision = precision_recall(SCORES, HITS, 3)
    # t = 0 .. .33: 34 points at 1; .34 .. .66: 33 at 2/3; .67 .. 1: 34 at 1/2.
    # (34 + 22 + 17) / 101 = 73/101.
    assert average_precision(recall, precision, "101_point") == pytest.approx(73 / 101)


def test_interpolation_thresholds_are_exact_fractions():
    # 3 hits out of 10 objects: recall reaches exactly 0.3 at precision 1. VOC07 counts
    # t = 0, .1, .2, .3 -> 4/11 (np.arange(0, 1.1, 0.1)[3] = 0.30000000000000004 would drop
    # the last one: 3/11).
    recall, precision = precision_recall([3, 2, 1], [True, True, True], 10)
    assert recall[-1] == 0.3
    assert average_precision(recall, precision, "11_point") == pytest.approx(4 / 11)
    # 7 of 20 (recall 0.35): 101-point counts t = 0 .. .35, 36 points -> 36/101.
    recall, precision = precision_recall(np.arange(7.0), np.ones(7, bool), 20)
    assert average_precision(recall, precision, "101_point") == pytest.approx(36 / 101)


def test_ap_edge_cases():
    assert all_point_ap(np.zeros(0), np.zeros(0)) == 0.0  # no detections
    assert interpolated_ap(np.zeros(0), np.zeros(0), [0.0, 0.5, 1.0]) == 0.0
    recall, precision = precision_recall([1, 2], [False, False], 4)  # all wrong
    assert all_point_ap(recall, precision) == 0.0
    recall, precision = precision_recall([2, 1], [True, True], 2)  # perfect
    for interpolation in ("all_points", "11_point", "101_point"):
        assert average_precision(recall, precision, interpolation) == pytest.approx(1.0)
    # Half the objects found at precision 1, nothing else: all-point 1/2; 11-point 6/11.
    recall, precision = precision_recall([1.0], [True], 2)
    assert all_point_ap(recall, precision) == pytest.approx(0.5)
    assert average_precision(recall, precision, "11_point") == pytest.approx(6 / 11)
    with pytest.raises(ValueError, match="undefined"):
        precision_recall([1.0], [True], 0)
    with pytest.raises(ValueError, match="interpolation"):
        average_precision(recall, precision, "12_point")


# --- classification -----------------------------------------------------------------------


def test_classification_top1_top5_from_ranked_labels():
    evaluator = ClassificationEvaluator()
    evaluator.add(np.array([3, 1, 4, 1, 5]), {"label": 3})  # right at guess 1
    evaluator.add(np.array([2, 7, 1, 8, 2]), {"label": 8})  # right at guess 4
    evaluator.add(np.array([2, 7, 1, 8, 2, 6]), {"label": 6})  # guess 6: beyond 5, a miss
    evaluator.add(np.array([9]), 0)  # one guess, wrong (and a bare int as ground truth)
    metrics = dict(evaluator)
    assert metrics == {"top1_error": 3 / 4, "top5_error": 2 / 4, "num_images": 4}


def test_classification_top5_with_tied_scores():
    # Five classes tie at 0.5 for places 2..6: ties go to the lower class index, so the five
    # guesses are classes 0, 1, 2, 3, 4 (what a submission file would hold).
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1], np.float32)
    cases = {0: (0, 0), 4: (1, 0), 5: (1, 1), 7: (1, 1)}  # label -> (top1 err, top5 err)
    for label, (top1, top5) in cases.items():
        evaluator = ClassificationEvaluator()
        evaluator.add(scores, {"label": np.int32(label)})
        assert evaluator.compute()["top1_error"] == top1, label
        assert evaluator.compute()["top5_error"] == top5, label


def test_classification_from_a_detection_dict_ranks_by_score():
    prediction = {"labels": np.array([4, 2, 9]), "scores": np.array([0.1, 0.7, 0.7])}
    # Ranked by score: 2 (0.7), 9 (0.7, after 2 in input order), 4 (0.1).
    evaluator = ClassificationEvaluator(top_k=(1, 2))
    evaluator.add(prediction, {"label": 9})
    assert evaluator.compute() == {"top1_error": 1.0, "top2_error": 0.0, "num_images": 1}


def test_classification_rejects_bad_input():
    evaluator = ClassificationEvaluator()
    with pytest.raises(ValueError, match="no images"):
        evaluator.compute()
    with pytest.raises(ValueError, match="classification prediction"):
        evaluator.add(np.zeros((2, 3)), {"label": 0})
    with pytest.raises(ValueError, match="one integer"):
        evaluator.add(np.array([0, 1]), {"label": 1.5})
    with pytest.raises(ValueError, match="no 'label'"):
        evaluator.add(np.array([0, 1]), {"labels": np.array([1])})


# --- localization -------------------------------------------------------------------------


def _localization_ground_truth():
    # The true class 3 has two boxes; a box of class 7 is also in the image.
    return {
        "label": np.int32(3),
        "boxes": np.array([[0, 0, 100, 100], [200, 0, 300, 100], [0, 200, 100, 300]], np.float32),
        "labels": np.array([3, 3, 7], np.int32),
    }


def test_localization_any_box_of_the_true_class_counts():
    gt = _localization_ground_truth()
    prediction = {
        "labels": np.array([7, 3, 3]),
        "scores": np.array([0.9, 0.8, 0.7]),
        "boxes": np.array(
            [
                [0, 200, 100, 300],  # class 7 on the class-7 box: wrong label
                [0, 200, 100, 300],  # class 3 on the class-7 box: wrong place
                [200, 0, 300, 60],  # class 3 on the SECOND class-3 box: IoU 60/100 >= 0.5
            ],
            np.float32,
        ),
    }
    evaluator = LocalizationEvaluator()
    evaluator.add(prediction, gt)
    assert evaluator.compute() == {
        "top1_error": 1.0,
        "top5_error": 0.0,  # the third guess localizes
        "classification_top1_error": 1.0,
        "classification_top5_error": 0.0,  # the second guess has the label
        "num_images": 1,
    }


def test_localization_iou_exactly_half_is_correct():
    gt = _localization_ground_truth()
    half = {"labels": np.array([3]), "boxes": np.array([[0, 0, 50, 100]])}  # IoU 50/100
    below = {"labels": np.array([3]), "boxes": np.array([[0, 0, 49, 100]])}  # IoU 49/100
    evaluator = LocalizationEvaluator()
    evaluator.add(half, gt)
    evaluator.add(below, gt)
    assert evaluator.compute()["top1_error"] == 0.5


def test_localization_ranks_by_score_then_takes_five():
    gt = {"label": 1, "boxes": np.array([[0, 0, 10, 10]]), "labels": np.array([1])}
    # Six guesses; the right one has the lowest score, so it is the sixth: no credit.
    labels = np.array([1, 2, 2, 2, 2, 2])
    boxes = np.tile([[0.0, 0, 10, 10]], (6, 1))
    scores = np.array([0.0, 0.5, 0.4, 0.3, 0.2, 0.1])
    evaluator = LocalizationEvaluator()
    evaluator.add({"labels": labels, "boxes": boxes, "scores": scores}, gt)
    assert evaluator.compute()["top5_error"] == 1.0
    # Without scores the given order is the ranking: first guess right.
    evaluator = LocalizationEvaluator()
    evaluator.add({"labels": labels, "boxes": boxes}, gt)
    assert evaluator.compute()["top1_error"] == 0.0


def test_localization_padded_ground_truth():
    gt = {
        "label": 0,
        "boxes": np.array([[0, 0, 10, 10], [50, 50, 60, 60]], np.float32),
        "labels": np.array([0, 0]),
        "num_boxes": 1,  # the second box is padding
    }
    evaluator = LocalizationEvaluator()
    evaluator.add({"labels": np.array([0]), "boxes": np.array([[50, 50, 60, 60]])}, gt)
    assert evaluator.compute()["top1_error"] == 1.0


# --- detection ----------------------------------------------------------------------------


def _detection(boxes, scores, labels):
    return {
        "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
        "scores": np.asarray(scores, np.float32),
        "labels": np.asarray(labels, np.int32),
    }


def test_detection_ignored_object_changes_ap_as_worked_by_hand():
    # One regular object (class 0), one ignored object (class 0). Detections: on the
    # ignored object (0.9), on nothing (0.8), on the regular object (0.7).
    gt = {
        "boxes": np.array([[0, 0, 50, 50], [100, 100, 150, 150]], np.float32),
        "labels": np.array([0, 0], np.int32),
        "ignore": np.array([False, True]),
    }
    prediction = _detection(
        [[100, 100, 150, 150], [300, 300, 350, 350], [0, 0, 50, 50]], [0.9, 0.8, 0.7], [0, 0, 0]
    )
    # Ignored: the 0.9 detection is left out; ranked FP, TP with 1 object:
    # precision 0, 1/2 at recall 0, 1 -> AP = 1 * 1/2.
    evaluator = DetectionEvaluator()
    evaluator.add(prediction, gt)
    assert evaluator.compute()["mAP"] == pytest.approx(0.5)
    # Not ignored (2 objects): TP FP TP, precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 ->
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
    evaluator = DetectionEvaluator()
    evaluator.add(prediction, {**gt, "ignore": np.array([False, False])})
    assert evaluator.compute()["mAP"] == pytest.approx(5 / 6)
    # The ignored object deleted instead: FP FP TP -> AP = 1 * 1/3.
    evaluator = DetectionEvaluator()
    evaluator.add(prediction, {"boxes": gt["boxes"][:1], "labels": gt["labels"][:1]})
    assert evaluator.compute()["mAP"] == pytest.approx(1 / 3)


def test_detection_map_over_classes_and_images():
    names = ["cat", "dog", "bird"]
    evaluator = DetectionEvaluator(class_names=names)
    # Image 1: a cat found (0.9) and a dog missed; a bird detection on nothing (0.8).
    evaluator.add(
        _detection([[0, 0, 40, 40], [100, 0, 140, 40]], [0.9, 0.8], [0, 2]),
        {"boxes": [[0, 0, 40, 40], [60, 60, 100, 100]], "labels": [0, 1]},
    )
    # Image 2: the dog found twice (0.6, then a duplicate 0.95 ranks first and takes it).
    evaluator.add(
        _detection([[10, 10, 50, 50], [10, 10, 50, 52]], [0.6, 0.95], [1, 1]),
        {"boxes": [[10, 10, 50, 50]], "labels": [1]},
    )
    metrics = evaluator.compute()
    # cat: 1 object, TP -> AP 1. dog: 2 objects, ranked TP (0.95), FP (0.6) -> recall 1/2 at
    # precision 1 -> AP 1/2. bird: no objects -> no AP, not averaged.
    assert metrics == pytest.approx(
        {"mAP": 0.75, "AP/cat": 1.0, "AP/dog": 0.5, "num_images": 2, "num_classes": 2}
    )
    assert set(evaluator.precision_recall_curves()) == {0, 1}


def test_detection_excluded_classes_are_left_out_of_an_image():
    # The devkit's DET blacklist: class 1 is not judged on image 1, so its stray detection
    # (0.9) and missed object do not count there; class 1 is still judged on image 2.
    def evaluate(excluded_classes):
        evaluator = DetectionEvaluator()
        evaluator.add(
            _detection([[0, 0, 10, 10], [50, 50, 60, 60]], [0.5, 0.9], [0, 1]),
            {"boxes": [[0, 0, 10, 10], [20, 20, 30, 30]], "labels": [0, 1]},
            excluded_classes=excluded_classes,
        )
        evaluator.add(
            _detection([[0, 0, 10, 10], [0, 0, 10, 10]], [0.8, 0.3], [1, 1]),
            {"boxes": [[0, 0, 10, 10]], "labels": [1]},
        )
        return evaluator.compute()

    # Class 0: 1 object, found -> 1. Class 1: 1 object (image 2), found at 0.8, then a
    # duplicate -> 1.
    assert evaluate([1]) == pytest.approx(
        {"mAP": 1.0, "AP/0": 1.0, "AP/1": 1.0, "num_images": 2, "num_classes": 2}
    )
    # Judged everywhere, class 1 ranks FP (0.9), TP (0.8), FP over 2 objects: 1/2 * 1/2.
    assert evaluate([])["AP/1"] == pytest.approx(1 / 4)


def test_detection_protocols_differ_where_they_should():
    # A 10x10 object and a 20x20 detection around it (IoU 0.25): found under ILSVRC's
    # per-object threshold, missed under VOC's 0.5.
    gt = {"boxes": [[10, 10, 20, 20]], "labels": [0]}
    prediction = _detection([[5, 5, 25, 25]], [1.0], [0])
    for protocol, expected in [("ilsvrc", 1.0), ("voc07", 0.0), ("voc", 0.0)]:
        evaluator = DetectionEvaluator(protocol=protocol)
        evaluator.add(prediction, gt)
        assert evaluator.compute()["mAP"] == expected, protocol
    custom = DetectionEvaluator(protocol=DetectionProtocol(0.2, "voc", "11_point"))
    custom.add(prediction, gt)
    assert custom.compute()["mAP"] == 1.0


def test_detection_rejects_bad_input():
    evaluator = DetectionEvaluator(class_names=["a", "b"])
    with pytest.raises(ValueError, match="mAP is undefined"):
        evaluator.compute()
    with pytest.raises(ValueError, match="needs boxes, scores and labels"):
        evaluator.add({"boxes": np.zeros((0, 4))}, {"boxes": [], "labels": []})
    with pytest.raises(ValueError, match="class 2 but there are 2 class names"):
        evaluator.add(_detection([[0, 0, 1, 1]], [1.0], [2]), {"boxes": [], "labels": []})
    with pytest.raises(ValueError, match="needs 'labels'"):
        evaluator.add(_detection([[0, 0, 1, 1]], [1.0], [0]), {"boxes": [[0, 0, 1, 1]]})
    with pytest.raises(ValueError, match="non-finite score"):
        evaluator.add(_detection([[0, 0, 1, 1]], [np.nan], [0]), {"boxes": [], "labels": []})
    with pytest.raises(ValueError, match="unknown detection protocol"):
        DetectionEvaluator(protocol="coco")
    with pytest.raises(ValueError, match="matching"):
        DetectionProtocol(0.5, "hungarian", "all_points")
