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


def test_input_sizes_default_to_the_datas_and_follow_the_config():
    arch = get_architecture("accurate_small")
    config = base_config()
    default = inputs.input_sizes(config, arch)
    assert default.crop_size == 87 and default.image_size == 87 + 2 * 36
    config.input.image_size, config.input.scales = 123, (123, 150)
    sizes = inputs.input_sizes(config, arch)
    assert (sizes.image_size, sizes.scales, sizes.crop_size) == (123, (123, 150), 87)


def test_classifier_refuses_crops_that_are_not_the_view():
    config = base_config()
    config.arch, config.input.crop_size = "accurate_small", 99
    with pytest.raises(ValueError, match="config.input.crop_size=99.*field of view \\(87\\)"):
        loop.get_task(config)


def test_only_the_fields_a_step_reads_reach_the_device():
    batch = {"image": 1, "label": 2, "index": np.arange(2, dtype=np.int64), "num_boxes": 3}
    assert inputs.device_fields(batch, ("image", "label", "valid")) == {"image": 1, "label": 2}


@pytest.mark.parametrize("task_name", ["localize", "detect"])
def test_whole_image_tasks_train_at_the_pipelines_image_size_by_default(task_name):
    config = base_config()
    config.task, config.arch = task_name, "fast_small"
    config.model.regressor, config.model.init_from = "shared", "unused"
    task_object = loop.get_task(config)
    image_size = inputs.input_sizes(config, get_architecture("fast_small")).image_size
    assert task_object.sizes == (image_size,) and task_object.eval_size() == image_size
    config.regressor.scales = config.detector.scales = (59, 0, 100)
    assert loop.get_task(config).sizes == (59, 91, 99)  # 100 snaps to 59 + 5 * 8
