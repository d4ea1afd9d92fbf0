"""The three training jobs learn: the small net on synthetic shapes, classify -> localize ->
detect, each from the previous one's exported model, in seconds on a 2-core CPU.

Bars (the data: 4 shape classes on 64x64 images, no clutter, upright; chance 25%), measured
on this machine in NOTES.md, "Training":

* classifier: validation top-1 error <= 0.55 after 500 steps of 32, and at least 10 points
  below a linear classifier on the same pixels (ridge regression to one-hot targets, its
  strength chosen on the validation set itself: the most favourable linear baseline);
* regressor: more output cells whose decoded box has IoU >= 0.5 with the true box than when
  every cell predicts its own window (what a regressor outputting zeros gets);
* detector: balanced cell accuracy (mean of positive-cell and background-cell accuracy) above
  0.6; always answering background scores 0.5.

Along the way the chain checks the jobs' mechanics: the regressor's trunk and classifier are
bit-identical to the classifier's, the detector's export has a background class, every
export loads with ``overfeat.weights.load_model``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from PIL import Image

from overfeat import weights
from overfeat.boxes import cell_windows_xyxy
from overfeat.data.sources import open_source
from overfeat.train import config as config_lib
from overfeat.train import inputs, loop, targets
from overfeat.train.metrics_log import read_metrics
from overfeat.train.regressor import pairwise_iou

DATA = "size=64&classes=4&clutter=0&rotation=0&min_scale=0.4"


def source(task, split, examples):
    return open_source(f"synthetic/{task}?{DATA}&examples={examples}", split)


def job_config(task, steps, **changes):
    c = config_lib.base_config()
    c.task, c.arch, c.seed = task, "fast_small", 0
    c.batch_size, c.num_train_steps = 32, steps
    c.model.init, c.model.dropout = "he", 0.0
    c.optimizer.name, c.optimizer.learning_rate = "adam", 1e-3
    c.optimizer.decay_epochs = ()
    c.checkpoint.every_steps, c.log_every, c.eval_every = 0, 50, 0
    c.progress_bar = False
    for key, value in changes.items():
        node = c
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    config_lib.validate(c)
    return c


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("learning")
    results = {}
    results["classify"] = loop.train(
        job_config("classify", 500),
        root / "classify",
        train_source=source("classify", "train", 4000),
        eval_source=source("classify", "validation", 400),
    )
    results["localize"] = loop.train(
        job_config(
            "localize",
            150,
            **{"model.regressor": "shared", "model.init_from": str(root / "classify")},
        ),
        root / "localize",
        train_source=source("localize", "train", 4000),
        eval_source=source("localize", "validation", 200),
    )
    results["detect"] = loop.train(
        job_config(
            "detect",
            120,
            **{
                "model.regressor": "shared",
                "model.init_from": str(root / "localize"),
                "optimizer.learning_rate": 3e-4,
                "input.image_size": 75,
            },
        ),  # 3x3 cells at fine stride
        root / "detect",
        train_source=source("detect", "train", 4000),
        eval_source=source("detect", "validation", 200),
    )
    return root, results


def pixels(src, count):
    """Images averaged 2x2 to 32x32x3 and flattened, with their labels."""
    examples = [src[i] for i in range(count)]
    images = (
        np.stack(
            [np.asarray(Image.fromarray(e["image"]).resize((32, 32), Image.BOX)) for e in examples]
        )
        .reshape(count, -1)
        .astype(np.float64)
        / 255.0
    )
    return images, np.array([e["label"] for e in examples])


def best_linear_accuracy(train, validation) -> float:
    (x, y), (vx, vy) = train, validation
    mean, std = x.mean(0), x.std(0) + 1e-3
    x, vx = (x - mean) / std, (vx - mean) / std
    x, vx = np.hstack([x, np.ones((len(x), 1))]), np.hstack([vx, np.ones((len(vx), 1))])
    onehot = np.eye(4)[y]
    accuracies = []
    for strength in (1e-1, 1e1, 1e2, 1e3, 1e4):
        w = np.linalg.solve(x.T @ x + strength * np.eye(x.shape[1]), x.T @ onehot)
        accuracies.append(float(np.mean((vx @ w).argmax(1) == vy)))
    return max(accuracies)


def test_classifier_beats_chance_and_a_linear_classifier(chain):
    _, results = chain
    error = results["classify"].final_metrics["top1_error"]
    linear = best_linear_accuracy(
        pixels(source("classify", "train", 4000), 1200),
        pixels(source("classify", "validation", 400), 400),
    )
    print(f"classifier top-1 accuracy {1 - error:.3f}, best linear on pixels {linear:.3f}")
    assert error <= 0.55
    assert 1 - error >= linear + 0.10


def window_baseline(config) -> tuple[float, int]:
    """The rate of trained cells with IoU >= 0.5 when each cell predicts its own window (a
    regressor outputting zeros), on the regressor's evaluation batches; and their count."""
    task = loop.get_task(config)
    hits = cells = 0
    for batch in inputs.eval_batches(
        source("localize", "validation", 200),
        config,
        task="localize",
        arch=task.arch,
        local_batch_size=32,
        num_classes=4,
    ):
        side = task.arch.output_size(batch["image"].shape[1], "fine")
        windows = jnp.asarray(cell_windows_xyxy(task.arch, side, side, "fine"))
        trained, boxes, _ = targets.regression_targets(
            jnp.asarray(batch["boxes"]),
            jnp.asarray(batch["labels"]),
            jnp.asarray(batch["ignore"]),
            windows,
            config.regressor.min_box_coverage,
        )
        trained = trained & jnp.asarray(batch["valid"])[:, None, None]
        iou = pairwise_iou(jnp.broadcast_to(windows, boxes.shape), boxes)
        hits += int(jnp.sum(trained & (iou >= 0.5)))
        cells += int(jnp.sum(trained))
    return hits / cells, cells


def test_regressor_beats_predicting_the_window(chain):
    _, results = chain
    metrics = results["localize"].final_metrics
    rate, cells = window_baseline(
        job_config("localize", 1, **{"model.regressor": "shared", "model.init_from": "x"})
    )
    print(f"cells with IoU >= 0.5: regressor {metrics['cell_iou50']:.3f}, windows {rate:.3f}")
    assert metrics["cells"] == cells  # the same cells
    assert metrics["cell_iou50"] >= rate + 0.15


def test_regressor_kept_the_classifiers_trunk_bit_identical(chain):
    root, _ = chain
    classifier, _ = weights.load_model(root / "classify" / "model")
    localizer, info = weights.load_model(root / "localize" / "model")
    assert info.regressor == "shared" and info.class_names == ("disc", "ring", "square", "triangle")

    def params(model, part):
        return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model, nnx.Param))[part])

    for part in ("trunk", "classifier"):
        jax.tree.map(
            np.testing.assert_array_equal, params(localizer, part), params(classifier, part)
        )


def test_detector_learns_cells_and_exports_a_background_class(chain):
    root, results = chain
    metrics = results["detect"].final_metrics
    print("detector", metrics)
    assert metrics["balanced_accuracy"] >= 0.6
    _, info = weights.load_model(root / "detect" / "model")
    assert info.background_class and info.num_classes == 5
    assert info.class_names[-1] == "background"
    assert read_metrics(root / "detect", "train")[-1]["positive_cells"] > 0
