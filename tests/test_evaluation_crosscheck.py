"""Detection AP cross-checked against independent implementations on random scenes.

1. A literal, loop-by-loop transcription of the ILSVRC devkit's procedure (eval_detection.m:
   inclusive pixel boxes with +1 widths, per-object thresholds, matching per image in
   descending confidence, VOCap), written here from the devkit's description, against
   ``DetectionEvaluator(protocol="ilsvrc")`` on the same inclusive boxes AND on the same
   boxes converted to our continuous convention (which must not change anything).
2. pycocotools (COCOeval, bbox, IoU 0.5, one area range covering everything, no cap on
   detections per image) where its definition coincides with ours: the same matching as
   ILSVRC's at a fixed 0.5, a 101-point interpolation. Compared with COCO's own recall
   thresholds, and with area-range-ignored objects standing in for our ``ignore`` flags.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from overfeat.evaluation import DetectionEvaluator, DetectionProtocol, iou_xyxy, match_detections
from overfeat.evaluation.average_precision import interpolated_ap
from overfeat.evaluation.matching import IGNORED
from overfeat.evaluation.submission import inclusive_to_xyxy

NUM_CLASSES = 3


def _random_scene(rng, num_images, integer=False, min_size=4, max_size=90, extent=200):
    """Ground truth and detections around it: jittered hits, duplicates, strays."""
    truths, predictions = [], []
    for _ in range(num_images):
        count = int(rng.integers(0, 6))
        corner = rng.uniform(0, extent, (count, 2))
        size = rng.uniform(min_size, max_size, (count, 2))
        gt_boxes = np.concatenate([corner, corner + size], 1)
        gt_labels = rng.integers(0, NUM_CLASSES, count)
        # Crowds: near-twins of the same class, where the matching rules part ways.
        twins = rng.uniform(size=count) < 0.4
        shift = rng.normal(0, 0.15, (int(twins.sum()), 2)) * size[twins]
        gt_boxes = np.concatenate([gt_boxes, gt_boxes[twins] + np.tile(shift, 2)])
        gt_labels = np.concatenate([gt_labels, gt_labels[twins]])
        boxes, labels = [], []
        for box, label in zip(gt_boxes, gt_labels, strict=True):
            for _ in range(int(rng.choice([0, 1, 1, 2, 3]))):  # misses, hits, duplicates
                jitter = rng.normal(0, 0.12, 4) * np.tile(box[2:] - box[:2], 2)
                boxes.append(box + jitter)
                labels.append(label if rng.uniform() < 0.85 else rng.integers(NUM_CLASSES))
        for _ in range(int(rng.integers(0, 4))):  # strays
            corner = rng.uniform(0, 250, 2)
            boxes.append(np.concatenate([corner, corner + rng.uniform(min_size, 60, 2)]))
            labels.append(rng.integers(NUM_CLASSES))
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)  # keep boxes proper
        if integer:
            gt_boxes, boxes = np.round(gt_boxes), np.round(boxes)
        truths.append({"boxes": gt_boxes, "labels": gt_labels.astype(np.int64)})
        predictions.append(
            {
                "boxes": boxes,
                "labels": np.asarray(labels, np.int64),
                "scores": np.round(rng.uniform(0, 1, len(boxes)), 2),  # rounding makes ties
            }
        )
    return truths, predictions


def _devkit_reference(truths, predictions):
    """The ILSVRC devkit's detection AP, one loop at a time, on inclusive pixel boxes."""

    def overlap(bb, gt):
        iw = min(bb[2], gt[2]) - max(bb[0], gt[0]) + 1
        ih = min(bb[3], gt[3]) - max(bb[1], gt[1]) + 1
        if iw <= 0 or ih <= 0:
            return None
        union = (
            (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1)
            + (gt[2] - gt[0] + 1) * (gt[3] - gt[1] + 1)
            - iw * ih
        )
        return iw * ih / union

    positives = [0] * NUM_CLASSES
    all_labels, all_scores, all_tp = [], [], []
    for truth, prediction in zip(truths, predictions, strict=True):
        thresholds = []
        for gt in truth["boxes"]:
            w, h = gt[2] - gt[0] + 1, gt[3] - gt[1] + 1
            thresholds.append(min(0.5, w * h / ((w + 10) * (h + 10))))
        for label in truth["labels"]:
            positives[label] += 1
        detected = [False] * len(truth["boxes"])
        order = sorted(range(len(prediction["scores"])), key=lambda j: -prediction["scores"][j])
        for j in order:
            best, best_k = -np.inf, -1
            for k, gt in enumerate(truth["boxes"]):
                if prediction["labels"][j] != truth["labels"][k] or detected[k]:
                    continue
                ov = overlap(prediction["boxes"][j], gt)
                if ov is not None and ov >= thresholds[k] and ov > best:
                    best, best_k = ov, k
            if best_k >= 0:
                detected[best_k] = True
            all_labels.append(prediction["labels"][j])
            all_scores.append(prediction["scores"][j])
            all_tp.append(best_k >= 0)
    ranked = sorted(range(len(all_scores)), key=lambda i: -all_scores[i])  # stable
    aps = {}
    for c in range(NUM_CLASSES):
        if positives[c] == 0:
            continue
        tp = fp = 0
        recall, precision = [], []
        for i in ranked:
            if all_labels[i] != c:
                continue
            tp, fp = tp + all_tp[i], fp + (not all_tp[i])
            recall.append(tp / positives[c])
            precision.append(tp / (tp + fp))
        mrec, mpre = [0.0, *recall, 1.0], [0.0, *precision, 0.0]
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        aps[c] = sum(
            (mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1]
        )
    return aps


def _ours(truths, predictions, protocol="ilsvrc", box_convention="continuous"):
    evaluator = DetectionEvaluator(protocol=protocol, box_convention=box_convention)
    for truth, prediction in zip(truths, predictions, strict=True):
        evaluator.add(prediction, truth)
    return evaluator


@pytest.mark.parametrize("seed", range(4))
def test_matches_the_devkit_procedure(seed):
    truths, predictions = _random_scene(np.random.default_rng(seed), 25, integer=True, min_size=2)
    reference = _devkit_reference(truths, predictions)
    assert reference and max(reference.values()) > 0  # a scene where AP means something
    metrics = _ours(truths, predictions, box_convention="inclusive").compute()
    ours = {int(key[3:]): value for key, value in metrics.items() if key.startswith("AP/")}
    assert ours == pytest.approx(reference, abs=1e-12)
    # The same pixels as continuous boxes ([a, b] -> [a - 1, b)): identical metrics.
    converted = [
        {**item, "boxes": inclusive_to_xyxy(item["boxes"])} for item in truths + predictions
    ]
    continuous = _ours(converted[: len(truths)], converted[len(truths) :]).compute()
    assert continuous == pytest.approx(metrics, abs=1e-12)


def _coco_ap50(truths, predictions, ignore_below_area=0.0):
    """Per-class AP at IoU 0.5 from COCOeval, and COCO's recall thresholds."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box):
        return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]

    dataset = {
        "images": [{"id": i + 1} for i in range(len(truths))],
        "categories": [{"id": c + 1} for c in range(NUM_CLASSES)],
        "annotations": [],
    }
    results = []
    for i, (truth, prediction) in enumerate(zip(truths, predictions, strict=True)):
        for box, label in zip(truth["boxes"], truth["labels"], strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            annotation = {"id": len(dataset["annotations"]) + 1, "image_id": i + 1, "iscrowd": 0}
            annotation |= {"category_id": int(label) + 1, "bbox": xywh(box), "area": w * h}
            dataset["annotations"].append(annotation)
        fields = (prediction[key] for key in ("boxes", "labels", "scores"))
        for box, label, score in zip(*fields, strict=True):
            results.append(
                {"image_id": i + 1, "category_id": int(label) + 1, "bbox": xywh(box),
                 "score": float(score)}
            )  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # COCO prints its progress
        coco = COCO()
        coco.dataset = dataset
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.params.iouThrs = np.array([0.5])
        evaluation.params.maxDets = [10_000]
        evaluation.params.areaRng = [[ignore_below_area, 1e10]]
        evaluation.params.areaRngLbl = ["all"]
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, :, 0, 0]  # [recall thresholds, classes]
    aps = {
        c: float(np.mean(precision[:, c]))
        for c in range(NUM_CLASSES)
        if np.all(precision[:, c] > -1)
    }
    return aps, evaluation.params.recThrs


PROTOCOL_AP50 = DetectionProtocol(0.5, "ilsvrc", "101_point")


def _ours_with_coco_thresholds(evaluator, recall_thresholds):
    return {
        label: interpolated_ap(recall, precision, recall_thresholds)
        for label, (recall, precision) in evaluator.precision_recall_curves().items()
    }


@pytest.mark.parametrize("seed", range(3))
def test_matches_pycocotools_at_iou_half(seed):
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(100 + seed)
    # Equal overlaps are left out: the devkit takes the first object, COCO the last.
    truths, predictions = _scene_where(rng, 30, _random_image, _has_no_equal_overlaps)
    coco, recall_thresholds = _coco_ap50(truths, predictions)
    evaluator = _ours(truths, predictions, protocol=PROTOCOL_AP50)
    ours = _ours_with_coco_thresholds(evaluator, recall_thresholds)
    assert set(ours) == set(coco) and max(coco.values()) > 0
    # COCO divides by tp + fp + eps (np.spacing(1)): equal to ~1e-15.
    assert ours == pytest.approx(coco, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_matches_pycocotools_with_ignored_objects(seed):
    """Objects below an area are ignored by COCO's area range and by our ``ignore`` flags.

    The definitions coincide when every detection lies inside the area range (COCO also
    ignores unmatched detections outside it) and no ignored object is claimed by two
    detections (COCO lets a non-crowd object absorb only one; VOC's rule, ours, any number):
    images are drawn until they satisfy both.
    """
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(200 + seed)

    def agrees(truth, prediction):
        return _has_no_equal_overlaps(truth, prediction) and _no_ignored_object_claimed_twice(
            truth, prediction
        )

    truths, predictions = _scene_where(rng, 30, _image_with_small_objects_ignored, agrees)
    assert _count_ignored_detections(truths, predictions) >= 10
    coco, recall_thresholds = _coco_ap50(truths, predictions, ignore_below_area=MIN_AREA)
    evaluator = _ours(truths, predictions, protocol=PROTOCOL_AP50)
    ours = _ours_with_coco_thresholds(evaluator, recall_thresholds)
    assert set(ours) == set(coco)
    assert ours == pytest.approx(coco, abs=1e-12)


def _scene_where(rng, num_images, draw, accept):
    """``num_images`` images from ``draw(rng)``, each drawn again until ``accept``s it."""
    truths, predictions = [], []
    for _ in range(num_images):
        while True:
            truth, prediction = draw(rng)
            if accept(truth, prediction):
                break
        truths.append(truth)
        predictions.append(prediction)
    return truths, predictions


def _random_image(rng):
    truths, predictions = _random_scene(rng, 1)
    return truths[0], predictions[0]


MIN_AREA = 400.0  # objects smaller than this are ignored in the ignore cross-check


def _image_with_small_objects_ignored(rng):
    """An image whose objects under ``MIN_AREA`` are ignored, and whose detections are all
    over it, some of them enlarged copies of small objects (IoU = area / 1.02 MIN_AREA)."""
    truths, predictions = _random_scene(rng, 1, min_size=12, max_size=36)
    truth, prediction = truths[0], predictions[0]
    truth["ignore"] = _area(truth["boxes"]) < MIN_AREA
    small = truth["ignore"] & (_area(truth["boxes"]) > 0.55 * MIN_AREA)
    center = (truth["boxes"][small, :2] + truth["boxes"][small, 2:]) / 2
    half = (truth["boxes"][small, 2:] - truth["boxes"][small, :2]) / 2
    half *= np.sqrt(1.02 * MIN_AREA / _area(truth["boxes"][small]))[:, None]
    keep = _area(prediction["boxes"]) >= MIN_AREA
    scores = np.round(rng.uniform(0, 1, int(small.sum())), 2)
    enlarged = np.concatenate([center - half, center + half], 1)
    prediction["boxes"] = np.concatenate([prediction["boxes"][keep], enlarged])
    prediction["labels"] = np.concatenate([prediction["labels"][keep], truth["labels"][small]])
    prediction["scores"] = np.concatenate([prediction["scores"][keep], scores])
    return truth, prediction


def _has_no_equal_overlaps(truth, prediction):
    """No detection reaches two objects of its class at exactly the same IoU >= 0.5."""
    for label in range(NUM_CLASSES):
        mine, theirs = prediction["labels"] == label, truth["labels"] == label
        for row in iou_xyxy(prediction["boxes"][mine], truth["boxes"][theirs]):
            reached = row[row >= 0.5]
            if len(reached) != len(np.unique(reached)):
                return False
    return True


def _area(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _ignored_claims(truth, prediction):
    """Per class, the ignored objects on which detections were left out."""
    for label in range(NUM_CLASSES):
        mine, theirs = prediction["labels"] == label, truth["labels"] == label
        status, matched = match_detections(
            prediction["boxes"][mine],
            prediction["scores"][mine],
            truth["boxes"][theirs],
            truth["ignore"][theirs],
            iou_threshold=0.5,
        )
        yield matched[status == IGNORED]


def _no_ignored_object_claimed_twice(truth, prediction):
    claims = _ignored_claims(truth, prediction)
    return all(len(claimed) == len(np.unique(claimed)) for claimed in claims)


def _count_ignored_detections(truths, predictions):
    pairs = zip(truths, predictions, strict=True)
    return sum(len(claimed) for pair in pairs for claimed in _ignored_claims(*pair))


def test_cocos_recall_thresholds_differ_from_exact_hundredths():
    """Why our 101-point AP uses exact i/100: COCO's ``np.linspace(0, 1, 101)`` holds
    0.35000000000000003 for 0.35, so a recall of exactly 7/20 misses that threshold there."""
    pytest.importorskip("pycocotools")
    # 20 objects, 7 found by the 7 best detections, nothing else: recall 0.35 at precision 1.
    truths = [{"boxes": np.array([[0.0, 0, 10, 10]]), "labels": np.array([0])} for _ in range(20)]
    predictions = [
        {"boxes": np.array([[0.0, 0, 10, 10]]), "labels": np.array([0]), "scores": np.array([1.0])}
        if i < 7
        else {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int), "scores": np.zeros(0)}
        for i in range(20)
    ]
    coco, _ = _coco_ap50(truths, predictions)
    assert coco[0] == pytest.approx(35 / 101)  # t = 0 .. 0.34
    ours = _ours(truths, predictions, protocol=PROTOCOL_AP50).compute()["AP/0"]
    assert ours == pytest.approx(36 / 101)  # t = 0 .. 0.35
