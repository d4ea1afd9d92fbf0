"""ILSVRC submission files: exact lines for hand-made predictions, round trips, and errors
that name the file and the line (overfeat.evaluation.submission)."""

from __future__ import annotations

import numpy as np
import pytest

from overfeat.evaluation import (
    ClassificationEvaluator,
    DetectionEvaluator,
    LocalizationEvaluator,
    SubmissionFormatError,
    read_classification,
    read_detection,
    read_localization,
    write_classification,
    write_detection,
    write_localization,
)
from overfeat.evaluation.submission import inclusive_to_xyxy, xyxy_to_inclusive


def _random_detections(rng, num_images, num_classes, max_per_image=6):
    predictions = []
    for _ in range(num_images):
        count = int(rng.integers(0, max_per_image + 1))
        corner = rng.uniform(0, 300, (count, 2))
        size = rng.uniform(0.5, 200, (count, 2))
        predictions.append(
            {
                "boxes": np.concatenate([corner, corner + size], 1).astype(np.float32),
                "scores": rng.uniform(0, 1, count).astype(np.float32),
                "labels": rng.integers(0, num_classes, count).astype(np.int32),
            }
        )
    return predictions


def test_pixel_conventions_invert_each_other():
    boxes = np.array([[0, 0, 10, 20], [3.25, 4.5, 3.75, 9]], np.float32)
    # 1-based inclusive: pixels 1..10 by 1..20 for the first box; xmax stays x2.
    np.testing.assert_array_equal(xyxy_to_inclusive(boxes)[0], [1, 1, 10, 20])
    np.testing.assert_array_equal(xyxy_to_inclusive(boxes, pixel_base=0)[0], [0, 0, 9, 19])
    for base in (0, 1):
        np.testing.assert_array_equal(
            inclusive_to_xyxy(xyxy_to_inclusive(boxes, base), base), boxes
        )


def test_classification_file_lines(tmp_path):
    path = tmp_path / "cls.txt"
    scores = np.array([0.1, 0.7, 0.2, 0.9, 0.0, 0.3, 0.5])  # ranking 3 1 6 5 2 0 4
    count = write_classification(path, [scores, np.array([4, 0])])
    assert count == 2
    # 1-based ids, best first, at most 5.
    assert path.read_text() == "4 2 7 6 3\n5 1\n"
    read = read_classification(path, num_images=2)
    assert [labels.tolist() for labels in read] == [[3, 1, 6, 5, 2], [4, 0]]


def test_class_ids_map_our_order_to_the_devkits(tmp_path):
    path = tmp_path / "cls.txt"
    class_ids = [10, 20, 30]
    write_classification(path, [np.array([2, 0])], class_ids=class_ids)
    assert path.read_text() == "30 10\n"
    assert read_classification(path, class_ids=class_ids)[0].tolist() == [2, 0]
    with pytest.raises(SubmissionFormatError, match=r"cls\.txt:1: class id 30 is not one"):
        read_classification(path, class_ids=[10, 20])


def test_localization_file_lines_and_round_trip(tmp_path):
    path = tmp_path / "loc.txt"
    prediction = {
        "labels": np.array([5, 0]),
        "scores": np.array([0.2, 0.8]),
        "boxes": np.array([[10, 20, 30, 40], [0, 0, 100.5, 50]], np.float32),
    }
    write_localization(path, [prediction])
    # Best first (score 0.8): class 1, box pixels 1..100.5 x 1..50; then class 6.
    assert path.read_text() == "1 1 1 100.5 50 6 11 21 30 40\n"
    (read,) = read_localization(path, num_images=1)
    np.testing.assert_array_equal(read["labels"], [0, 5])
    np.testing.assert_array_equal(read["boxes"], prediction["boxes"][[1, 0]])
    assert read["boxes"].dtype == np.float32


def test_detection_file_lines(tmp_path):
    path = tmp_path / "det.txt"
    predictions = [
        {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0, int)},
        {
            "boxes": np.array([[0, 0, 10, 10]], np.float32),
            "scores": np.array([0.25]),
            "labels": np.array([199]),
        },
    ]
    assert write_detection(path, predictions) == 1
    assert path.read_text() == "2 200 0.25 1 1 10 10\n"  # image 2 (1-based), class 200
    write_detection(path, predictions, image_indices=[7, 9])
    assert path.read_text().startswith("9 200 ")


def test_detection_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    predictions = _random_detections(rng, num_images=12, num_classes=5)
    path = tmp_path / "det.txt"
    write_detection(path, predictions)
    read = read_detection(path, num_images=12)
    assert len(read) == 12
    for original, back in zip(predictions, read, strict=True):
        np.testing.assert_array_equal(back["boxes"], original["boxes"])
        np.testing.assert_array_equal(back["scores"].astype(np.float32), original["scores"])
        np.testing.assert_array_equal(back["labels"], original["labels"])


def test_metrics_survive_the_files(tmp_path):
    """Metrics computed from what was read back equal those computed before writing."""
    rng = np.random.default_rng(1)
    predictions = _random_detections(rng, num_images=10, num_classes=3, max_per_image=8)
    truths = []
    for prediction in predictions:
        # Ground truth near some detections so that the metrics are not trivial.
        boxes = prediction["boxes"][::2] + rng.uniform(-3, 3, prediction["boxes"][::2].shape)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        label = int(prediction["labels"][0]) if len(prediction["labels"]) else 0
        truths.append({"label": label, "boxes": boxes, "labels": prediction["labels"][::2]})

    def metrics(evaluator, items):
        for prediction, truth in zip(items, truths, strict=True):
            evaluator.add(prediction, truth)
        return evaluator.compute()

    write_detection(tmp_path / "det.txt", predictions)
    read = read_detection(tmp_path / "det.txt", num_images=len(predictions))
    assert metrics(DetectionEvaluator(), read) == metrics(DetectionEvaluator(), predictions)

    write_localization(tmp_path / "loc.txt", predictions)
    read = read_localization(tmp_path / "loc.txt", num_images=len(predictions))
    assert metrics(LocalizationEvaluator(), read) == metrics(LocalizationEvaluator(), predictions)

    write_classification(tmp_path / "cls.txt", predictions)
    read = read_classification(tmp_path / "cls.txt", num_images=len(predictions))
    before = metrics(ClassificationEvaluator(), predictions)
    assert metrics(ClassificationEvaluator(), read) == before


@pytest.mark.parametrize(
    ("reader", "text", "message"),
    [
        (read_classification, "1 2 3\n4 x 6\n", r"bad\.txt:2: 'x' is not a number"),
        (read_classification, "1 2.5\n", r"bad\.txt:1: class id 2\.5 is not an integer"),
        (read_classification, "0 1\n", r"bad\.txt:1: class id 0 is not >= 1"),
        (read_localization, "1 0 0 5\n", r"bad\.txt:1: 4 numbers; expected groups of 5"),
        (read_localization, "1 1 1 5 5\n2 9 1 5 5\n", r"bad\.txt:2: .*x2 < x1"),
        (read_localization, "1 1 1 nan 5\n", r"bad\.txt:1: 'nan' is not a finite number"),
        (read_detection, "1 1 0.5 1 1 5 5\n\n2 1 0.5 1 1 5\n", r"bad\.txt:3: 6 numbers"),
        (read_detection, "0 1 0.5 1 1 5 5\n", r"bad\.txt:1: image index 0 is not >= 1"),
        (read_detection, "1 1.5 0.5 1 1 5 5\n", r"bad\.txt:1: class id 1\.5 is not an int"),
    ],
)
def test_readers_name_the_file_and_line(tmp_path, reader, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(SubmissionFormatError, match=message):
        reader(path)


def test_readers_check_image_counts(tmp_path):
    path = tmp_path / "few.txt"
    path.write_text("1 2 3\n")
    with pytest.raises(SubmissionFormatError, match=r"few\.txt: 1 lines, expected one per image"):
        read_classification(path, num_images=2)
    path.write_text("3 1 0.5 1 1 5 5\n")
    with pytest.raises(SubmissionFormatError, match=r"few\.txt:1: image index 3 .* <= 2"):
        read_detection(path, num_images=2)
    assert len(read_detection(path)) == 3  # without num_images: up to the highest index
    with pytest.raises(FileNotFoundError, match="no submission file"):
        read_detection(tmp_path / "missing.txt")


def test_writers_reject_what_a_file_cannot_hold(tmp_path):
    nan_score = {"boxes": [[0, 0, 1, 1]], "scores": [np.nan], "labels": [0]}
    with pytest.raises(ValueError, match="non-finite score"):
        write_detection(tmp_path / "d.txt", [nan_score])
    with pytest.raises(ValueError, match="has no 'boxes'"):
        write_localization(tmp_path / "l.txt", [{"labels": np.array([0])}])
    with pytest.raises(ValueError, match="no file id"):
        write_classification(tmp_path / "c.txt", [np.array([3])], class_ids=[1, 2])
