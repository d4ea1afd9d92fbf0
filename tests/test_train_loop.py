"""Pieces of the training loop that need no training: loss tracking, scales, batches."""

import json

import numpy as np
import pytest

from overfeat.architectures import get_architecture
from overfeat.train import inputs, loop, task
from overfeat.train.config import base_config
from overfeat.train.metrics_log import MetricsLog, Progress, read_metrics


def test_non_finite_loss_is_named_by_its_step(tmp_path):
    with MetricsLog(tmp_path) as log:
        progress = Progress(10, 0, enabled=False, description="test")
        tracker = loop.LossTracker("classify", 4, log, progress)
        for step in range(1, 9):
            loss = np.float32(np.inf if step in (6, 8) else 1.0 / step)
            tracker.add(step, {"loss": loss, "accuracy": np.float32(0.5)})
        with pytest.raises(loop.NonFiniteLossError, match=r"loss is inf at step 6;"):
            tracker.flush()
    assert read_metrics(tmp_path) == []  # nothing logged from the failed group


def test_tracker_logs_means_of_each_group(tmp_path):
    with MetricsLog(tmp_path) as log:
        tracker = loop.LossTracker(
            "classify", 4, log, Progress(4, 0, enabled=False, description="")
        )
        for step, loss in ((1, 1.0), (2, 3.0)):
            tracker.add(step, {"loss": np.float32(loss)})
        tracker.flush()
        tracker.add(3, {"loss": np.float32(5.0)})
        tracker.flush()
    rows = read_metrics(tmp_path, "train")
    assert [(row["step"], row["loss"]) for row in rows] == [(2, 2.0), (3, 5.0)]
    assert all(row["images_per_s"] > 0 for row in rows)


def test_read_metrics_keeps_the_last_row_of_a_replayed_step(tmp_path):
    lines = [
        {"step": 4, "split": "train", "loss": 2.0},
        {"step": 8, "split": "train", "loss": 1.0},
        {"step": 4, "split": "train", "loss": 3.0},
    ]  # a resumed job replays step 4
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in lines))
    assert [row["loss"] for row in read_metrics(tmp_path)] == [3.0, 1.0]


def test_training_sizes_snap_to_valid_fine_sizes():
    arch = get_architecture("accurate_small")  # view 87, fine stride 12
    # 110 -> 87 + 2*12, 140 -> 87 + 4*12, 0 -> the image size 128 -> 87 + 3*12; sorted.
    assert task.training_sizes(arch, (87, 110, 140, 0), "fine", 128) == (87, 111, 123, 135)
    for size in task.training_sizes(arch, (90, 200), "coarse", 0):
        assert arch.is_valid_size(size, "coarse")


def test_scale_of_a_step_is_a_function_of_seed_and_step():
    sizes = (87, 111, 135)
    draws = [task.size_for_step(sizes, 0, step) for step in range(60)]
    assert draws == [task.size_for_step(sizes, 0, step) for step in range(60)]
    assert set(draws) == set(sizes)
    assert draws != [task.size_for_step(sizes, 1, step) for step in range(60)]


class Boxes:
    """Two examples with boxes, the second with none."""

    def __len__(self):
        return 3

    def __getitem__(self, i):
        image = np.full((40, 80, 3), i, np.uint8)
        if i == 1:
            return {
                "image": image,
                "label": np.int32(-1),
                "boxes": np.zeros((0, 4), np.float32),
                "labels": np.zeros((0,), np.int32),
            }
        return {
            "image": image,
            "label": np.int32(2),
            "boxes": np.array([[8, 4, 40, 20]], np.float32),
            "labels": np.array([2], np.int32),
        }


def test_whole_image_batches_scale_and_flip_boxes():
    example = Boxes()[0]
    out = inputs.whole_example(example, None, size=20, flip=True)
    # 80x40 -> 20x20: x scales by 1/4, y by 1/2; no rng: no flip.
    np.testing.assert_allclose(out["boxes"][0], [2, 2, 10, 10])
    assert out["labels"].tolist() == [2] + [-1] * (inputs.MAX_BOXES - 1)
    flips = [
        inputs.whole_example(example, np.random.default_rng(seed), size=20, flip=True)
        for seed in range(8)
    ]
    flipped = [o for o in flips if o["boxes"][0, 0] != 2]
    assert flipped, "some of 8 draws flip"
    np.testing.assert_allclose(flipped[0]["boxes"][0], [10, 2, 18, 10])
    np.testing.assert_array_equal(flipped[0]["image"], out["image"][:, ::-1])


def test_eval_batches_pad_the_last_batch_and_mark_it():
    config = base_config()
    batches = list(
        inputs.eval_batches(Boxes(), config, mode="whole", input_size=16, local_batch_size=2)
    )
    assert len(batches) == 2
    assert batches[0]["valid"].tolist() == [True, True]
    assert batches[1]["valid"].tolist() == [True, False]
    assert batches[1]["image"].shape == (2, 16, 16, 3)
    assert batches[0]["labels"][1].tolist() == [-1] * inputs.MAX_BOXES  # the empty image


def test_classification_crops_are_deterministic_per_seed():
    config = base_config()
    source = [
        {
            "image": np.arange(64 * 48 * 3, dtype=np.uint32).reshape(64, 48, 3).astype(np.uint8),
            "label": np.int32(1),
        }
    ] * 16
    first = next(
        iter(inputs.train_dataset(source, config, mode="crop", input_size=32, local_batch_size=4))
    )
    again = next(
        iter(inputs.train_dataset(source, config, mode="crop", input_size=32, local_batch_size=4))
    )
    np.testing.assert_array_equal(first["image"], again["image"])
    assert first["image"].shape == (4, 32, 32, 3) and first["label"].tolist() == [1] * 4
