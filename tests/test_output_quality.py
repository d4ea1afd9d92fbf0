"""``overfeat.evaluation.output_quality``: the images with no object are what they say, and
false boxes, duplicates and objects found are counted right on a fake detector whose boxes
are set by hand."""

from __future__ import annotations

import numpy as np
import pytest

from overfeat.evaluation.output_quality import (
    duplicate_rate,
    empty_images,
    false_boxes_per_empty_image,
    object_recall,
    output_quality,
)


def test_empty_images_are_noise_flat_and_smooth_and_repeatable():
    images = empty_images(per_kind=3, size=(40, 60), seed=5)
    assert sorted(images) == ["flat", "gradient", "noise", "photo"]
    for kind, group in images.items():
        assert len(group) == 3
        for image in group:
            assert image.shape == (40, 60, 3) and image.dtype == np.uint8
        steps = [np.abs(np.diff(image.astype(int), axis=1)).max() for image in group]
        if kind == "flat":
            assert all((image == image[0, 0]).all() for image in group) and max(steps) == 0
        elif kind == "gradient":  # smooth: at most ~255/60 per pixel along a row
            assert max(steps) <= 6 and all(np.ptp(image) > 0 for image in group)
        elif kind == "photo":  # a photograph's crops: varied, mostly smooth, each different
            assert all(np.ptp(image) > 60 for image in group)
            assert all(np.median(np.abs(np.diff(image.astype(int), axis=1))) < 20
                       for image in group)
            assert not np.array_equal(group[0], group[1])
        else:
            assert min(steps) > 200 and all(np.ptp(image) >= 250 for image in group)
    again = empty_images(per_kind=3, size=(40, 60), seed=5)
    other = empty_images(per_kind=3, size=(40, 60), seed=6)
    assert all(np.array_equal(a, b)
               for k in images for a, b in zip(images[k], again[k], strict=True))
    assert not np.array_equal(images["noise"][0], other["noise"][0])
    with pytest.raises(ValueError, match="per_kind must be at least 1"):
        empty_images(per_kind=0)


class FakeDetector:
    """A detector whose boxes are set by hand: ``answers`` pairs each image (the object
    itself) with ``(boxes, labels, scores)``; it returns those scoring at least the
    threshold."""

    def __init__(self, answers):
        self.answers = answers  # [(image, (boxes, labels, scores))]
        self.options = []

    def detect(self, images, *, score_threshold, **options):
        self.options.append(options)
        results = []
        for image in images:
            (answer,) = [answer for known, answer in self.answers if known is image]
            boxes, labels, scores = answer
            keep = np.asarray(scores, np.float64) >= score_threshold
            results.append({"boxes": np.asarray(boxes, np.float32).reshape(-1, 4)[keep],
                            "labels": np.asarray(labels, np.int32)[keep]})
        return results


BOX = [0, 0, 10, 10]
EMPTY_ANSWERS = {  # noise: boxes at 0.9 and 0.4; gradients: one at 0.6; flat colours: none
    "noise": ([BOX, [20, 20, 30, 30]], [0, 1], [0.9, 0.4]),
    "flat": ([], [], []),
    "gradient": ([BOX], [0], [0.6]),
    "photo": ([], [], []),
}


def _answers_for(images):
    return [(image, EMPTY_ANSWERS[kind]) for kind, group in images.items() for image in group]


def test_false_boxes_per_empty_image_counts_by_kind_at_the_threshold():
    images = empty_images(per_kind=3, size=(32, 32), seed=1)
    detector = FakeDetector(_answers_for(images))
    strict = false_boxes_per_empty_image(detector, 0.5, images=images, scales=(1, 2))
    assert strict == {"overall": 6 / 12, "by_kind": {"noise": 1.0, "flat": 0.0, "gradient": 1.0,
                                                     "photo": 0.0},
                      "images": 12, "images_with_boxes": 6}
    assert detector.options[-1] == {"scales": (1, 2)}  # detect's options passed through
    loose = false_boxes_per_empty_image(detector, 0.3, images=images)
    assert loose["overall"] == 9 / 12 and loose["by_kind"]["noise"] == 2.0
    assert false_boxes_per_empty_image(detector, 0.95, images=images)["overall"] == 0.0


def test_duplicates_are_same_class_boxes_overlapping_by_more_than_half():
    first = {
        "boxes": [BOX,
                  [1, 0, 11, 10],    # IoU with BOX 90/110 = 0.82: both duplicates
                  BOX,               # the same box, another class: not a duplicate
                  [0, 0, 10, 20]],   # IoU 100/200 = 0.5 with BOX, 90/210 with the 2nd: not
        "labels": [0, 0, 1, 0],
    }
    second = {"boxes": [[5, 5, 9, 9]], "labels": [0]}
    assert duplicate_rate([first, second]) == {"rate": 2 / 5, "duplicates": 2, "boxes": 5}
    empty = {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, int)}
    assert duplicate_rate([empty]) == {"rate": 0.0, "duplicates": 0, "boxes": 0}


def test_recall_and_the_whole_report_on_examples():
    examples = [
        # one object found by a box of its class (IoU 1), one not found at all
        {"image": np.zeros((32, 32, 3), np.uint8), "boxes": np.array([BOX, [40, 40, 60, 60]]),
         "labels": np.array([0, 1])},
        # found only by a box of the wrong class; an ignored object and padding never count
        {"image": np.zeros((32, 32, 3), np.uint8),
         "boxes": np.array([[20, 20, 30, 30], BOX, [0, 0, 0, 0]]), "labels": np.array([2, 0, 0]),
         "ignore": np.array([False, True, False]), "num_boxes": 2},
    ]
    empty = empty_images(per_kind=2, size=(32, 32))
    detector = FakeDetector(_answers_for(empty) + [
        (examples[0]["image"], ([BOX, [1, 0, 11, 10], [40, 40, 50, 50]], [0, 0, 1],
                                [0.9, 0.8, 0.7])),
        (examples[1]["image"], ([[20, 20, 30, 30]], [1], [0.95])),
    ])
    predictions = detector.detect([e["image"] for e in examples], score_threshold=0.0)
    # [40, 40, 50, 50] covers a quarter of [40, 40, 60, 60]: IoU 0.25, not found
    assert object_recall(predictions, examples) == {"recall": 1 / 3, "found": 1, "objects": 3}
    report = output_quality(detector, examples, 0.85, empty=empty)
    assert report["score_threshold"] == 0.85
    assert report["false_boxes_per_empty_image"]["by_kind"] == {"noise": 1.0, "flat": 0.0,
                                                               "gradient": 0.0, "photo": 0.0}
    # at 0.85 only BOX (class 0) and the wrong-class box of the second image remain
    assert report["duplicates"] == {"rate": 0.0, "duplicates": 0, "boxes": 2}
    assert report["objects"] == {"recall": 1 / 3, "found": 1, "objects": 3}
    at_half = output_quality(detector, examples, 0.5, empty=empty)
    assert at_half["duplicates"] == {"rate": 2 / 4, "duplicates": 2, "boxes": 4}
