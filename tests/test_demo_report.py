"""The demo report's pieces that need no training: which boxes are drawn, which metric series
are plotted, and both curve renderers."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from overfeat import demo_report, draw


def test_confident_keeps_boxes_above_the_threshold_in_order():
    prediction = {"boxes": np.arange(16, dtype=np.float32).reshape(4, 4),
                  "scores": np.array([0.8, 0.3, 0.19, 0.2]), "labels": np.array([1, 2, 3, 4])}
    boxes, labels, scores = draw.confident(prediction, 0.2)
    assert labels.tolist() == [1, 2, 4]  # 0.19 < 0.2
    np.testing.assert_array_equal(boxes, prediction["boxes"][[0, 1, 3]])
    assert draw.confident(prediction, 0.0, most=2)[1].tolist() == [1, 2]
    empty = {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "labels": np.zeros(0)}
    assert len(draw.confident(empty, 0.5)[0]) == 0


def test_curve_series_and_kinds(tmp_path):
    rows = [{"step": 10, "split": "train", "loss": 2.0, "learning_rate": 0.1, "time": 1.0},
            {"step": 20, "split": "train", "loss": 1.5, "learning_rate": 0.1, "time": 2.0},
            {"step": 20, "split": "eval", "loss": 1.7, "top1_error": 0.4, "examples": 100.0,
             "time": 3.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    series = demo_report.curve_series(tmp_path)
    assert set(series) == {"train loss", "eval loss", "eval top1_error", "eval examples"}
    np.testing.assert_array_equal(series["train loss"][0], [10, 20])
    np.testing.assert_array_equal(series["train loss"][1], [2.0, 1.5])
    kinds = {name: demo_report.curve_kind(name) for name in series}
    assert kinds == {"train loss": "loss", "eval loss": "loss", "eval top1_error": "metric",
                     "eval examples": None}

    demo_report.curves_figure({"classify": tmp_path}, tmp_path / "curves.png")
    demo_report._curves_pillow({"classify": series}, tmp_path / "pillow.png")
    for name in ("curves.png", "pillow.png"):
        with Image.open(tmp_path / name) as picture:
            assert min(picture.size) >= 200
