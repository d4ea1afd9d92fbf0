"""``overfeat evaluate`` end to end on synthetic data with small random checkpoints: the files
it writes, its metrics equal to the evaluators' on the ``Predictor``'s own outputs, and the
errors for checkpoints that cannot do the task or whose classes are not the dataset's."""

from __future__ import annotations

import json

import numpy as np
import pytest
from random_models import random_model

from overfeat import cli, weights
from overfeat.data.sources import open_source
from overfeat.evaluation import (
    ClassificationEvaluator,
    DetectionEvaluator,
    LocalizationEvaluator,
    read_classification,
    read_detection,
    read_localization,
)
from overfeat.predict import Predictor

SIZE, COUNT = 64, 3
OPTIONS = ["--scales", "1,2", "--limit", str(COUNT), "--quiet"]


def data(task: str) -> str:
    return f"synthetic/{task}?size={SIZE}&examples=5:validation"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    names = list(open_source("synthetic/detect", "validation").class_names)
    made = {}
    specs = {
        "localizer": (dict(num_classes=len(names), regressor="shared"), names, False),
        "classifier": (dict(num_classes=len(names)), names, False),
        "detector": (dict(num_classes=len(names) + 1, regressor="per_class"),
                     names + ["background"], True),
        "shuffled": (dict(num_classes=len(names), regressor="shared"), names[::-1], False),
    }
    for seed, (name, (kwargs, class_names, background)) in enumerate(specs.items()):
        model = random_model("fast_small", seed=seed, **kwargs)
        made[name] = weights.save_model(model, root / name, class_names=class_names,
                                        background_class=background)
    return made


def evaluate(checkpoint, task, out, *extra) -> dict:
    code = cli.main(["evaluate", "--task", task, "--checkpoint", str(checkpoint),
                     "--data", data(task), "--out", str(out), *OPTIONS, *extra])
    assert code == 0
    for name in ("metrics.json", "metrics.md"):
        assert (out / name).is_file()
    return json.loads((out / "metrics.json").read_text())


def direct(checkpoint, task, evaluator, **options):
    """The metrics computed here from the Predictor's outputs (inverted boxes made empty, as
    documented), and the examples."""
    predictor = Predictor.from_checkpoint(checkpoint)
    source = open_source(f"synthetic/{task}?size={SIZE}&examples=5", "validation")
    examples = [source[i] for i in range(COUNT)]
    predictions = getattr(predictor, task)([e["image"] for e in examples], scales=(1, 2),
                                           **options)
    for prediction, example in zip(predictions, examples, strict=True):
        if "boxes" in prediction:
            boxes = prediction["boxes"].copy()
            boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
            prediction = prediction | {"boxes": boxes}
        evaluator.add(prediction, example)
    return evaluator.compute(), examples


def test_classify_metrics_equal_the_evaluator(checkpoints, tmp_path):
    record = evaluate(checkpoints["localizer"], "classify", tmp_path)
    expected, examples = direct(checkpoints["localizer"], "classify", ClassificationEvaluator())
    assert record["metrics"] == expected
    assert record["task"] == "classify" and record["options"]["scales"] == [1, 2]
    # The submission file (class ids label + 1, read back as labels) scores the same.
    from_file = ClassificationEvaluator()
    for labels, example in zip(read_classification(tmp_path / "classification.txt"), examples,
                               strict=True):
        from_file.add(np.asarray(labels), example)
    assert from_file.compute() == expected
    assert "| top-5 error |" in (tmp_path / "metrics.md").read_text()


def test_localize_metrics_equal_the_evaluator(checkpoints, tmp_path):
    record = evaluate(checkpoints["localizer"], "localize", tmp_path, "--merge", "nms")
    expected, examples = direct(checkpoints["localizer"], "localize", LocalizationEvaluator(),
                                merge="nms", max_boxes=5)
    assert record["metrics"] == expected
    guesses = read_localization(tmp_path / "localization.txt")
    assert len(guesses) == COUNT and all(len(g["labels"]) <= 5 for g in guesses)
    from_file = LocalizationEvaluator()
    for guess, example in zip(guesses, examples, strict=True):
        from_file.add(guess, example)
    assert from_file.compute() == expected


def test_detect_on_a_detector(checkpoints, tmp_path):
    record = evaluate(checkpoints["detector"], "detect", tmp_path)
    names = open_source("synthetic/detect", "validation").class_names
    expected, _ = direct(checkpoints["detector"], "detect", DetectionEvaluator(names),
                         score_threshold=0.0)
    assert record["metrics"] == expected
    detections = read_detection(tmp_path / "detection.txt")
    labels = np.concatenate([d["labels"] for d in detections])
    assert labels.max() < len(names)  # the background (label 10) never written
    table = (tmp_path / "metrics.md").read_text()
    assert "| mAP |" in table and "| class | AP |" in table


def test_classify_a_detector_ranks_objects_only(checkpoints, tmp_path):
    evaluate(checkpoints["detector"], "classify", tmp_path)
    rows = read_classification(tmp_path / "classification.txt")
    names = open_source("synthetic/detect", "validation").class_names
    assert all(0 <= label < len(names) for row in rows for label in row)


@pytest.mark.parametrize("name, task, message", [
    ("classifier", "localize", "box regressor"),
    ("localizer", "detect", "detector checkpoint"),
    ("shuffled", "classify", "order their 10 classes differently"),
])
def test_errors(checkpoints, tmp_path, capsys, name, task, message):
    code = cli.main(["evaluate", "--task", task, "--checkpoint", str(checkpoints[name]),
                     "--data", data(task), "--out", str(tmp_path), *OPTIONS])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "metrics.json").exists()
