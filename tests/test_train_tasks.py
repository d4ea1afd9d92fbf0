"""The regressor and detector objectives on hand-made batches (the jobs themselves run in
test_train_learning.py)."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from overfeat.train import config as config_lib
from overfeat.train.detector import DetectorTask
from overfeat.train.regressor import RegressorTask, class_boxes


class Squares:
    """A bright square (class = which colour channel) on noise, with its box; 64x64."""

    class_names = ("red", "green", "blue")

    def __init__(self, n, seed):
        self.n, self.seed = n, seed

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        rng = np.random.default_rng([self.seed, i])
        label = int(rng.integers(3))
        side = int(rng.integers(18, 40))
        x, y = rng.integers(0, 64 - side, 2)
        image = rng.integers(0, 70, (64, 64, 3)).astype(np.uint8)
        image[y : y + side, x : x + side, label] = 230
        box = np.array([[x, y, x + side, y + side]], np.float32)
        return {
            "image": image,
            "label": np.int32(label),
            "boxes": box,
            "labels": np.array([label], np.int32),
        }


def tiny_config(task, **changes):
    c = config_lib.base_config()
    c.task, c.arch = task, "fast_small"
    c.batch_size, c.num_train_steps = 4, 4
    c.input.resize_size = 64
    c.model.init, c.model.dropout = "he", 0.0
    c.optimizer.learning_rate = 1e-3
    c.checkpoint.every_steps, c.log_every, c.eval_every = 0, 2, 0
    c.eval_batches = 1
    c.progress_bar = False
    c.regressor.scales = (59, 75)  # fast_small: view 59, fine stride 8
    c.detector.scales = (59, 75)
    for key, value in changes.items():
        node = c
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    config_lib.validate(c)
    return c


def test_per_class_regressor_learns_only_the_true_class():
    config = tiny_config("localize", **{"model.regressor": "per_class", "model.init_from": "x"})
    task = RegressorTask(config)
    from overfeat.models import create_model

    model = create_model("fast_small", num_classes=3, regressor="per_class", seed=0)
    example = Squares(1, 0)[0]
    batch = {
        "image": jnp.asarray(example["image"][None, :59, :59], jnp.float32),
        "boxes": jnp.asarray(np.clip(example["boxes"], 0, 59))[None],
        "labels": jnp.asarray(example["labels"])[None],
        "ignore": jnp.zeros((1, 1), bool),
    }
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss(params):
        return task.loss(nnx.merge(graphdef, params, rest), batch, jax.random.key(0), None)[0]

    grads = jax.grad(loss)(params)
    last = np.asarray(grads["regressor"]["reg3"]["kernel"][...]).reshape(-1, 3, 4)  # [in, C, 4]
    label = int(example["label"])
    assert np.any(last[:, label] != 0)
    others = [c for c in range(3) if c != label]
    assert not np.any(last[:, others])


def test_class_boxes_picks_each_cells_class():
    outputs = jnp.arange(2 * 3 * 4, dtype=jnp.float32).reshape(1, 1, 2, 12)  # 2 cells, C=3
    labels = jnp.array([[[2, 0]]])
    np.testing.assert_array_equal(
        class_boxes(outputs, labels, True)[0, 0], [[8, 9, 10, 11], [12, 13, 14, 15]]
    )
    assert class_boxes(outputs, labels, False).shape == outputs.shape


def test_detector_loss_counts_only_chosen_cells():
    from overfeat.models import create_model

    model = create_model("fast_small", num_classes=4, seed=0, dropout=0.0)
    empty = {
        "image": jnp.zeros((1, 75, 75, 3)),
        "boxes": jnp.zeros((1, 1, 4)),
        "labels": jnp.full((1, 1), -1, jnp.int32),
        "ignore": jnp.zeros((1, 1), bool),
    }
    # An empty image has 9 background cells at 75x75 (3x3 at fine stride); choosing none
    # gives no loss, choosing k gives the mean over k cells.
    none = tiny_config("detect", **{"detector.hard_negatives": 0, "detector.random_negatives": 0})
    loss, metrics = DetectorTask(none).loss(model, empty, jax.random.key(0), None)
    assert float(loss) == 0.0 and float(metrics["positive_cells"]) == 0.0
    hard = tiny_config("detect", **{"detector.hard_negatives": 2, "detector.random_negatives": 0})
    loss_hard, _ = DetectorTask(hard).loss(model, empty, jax.random.key(0), None)
    logits = model.classifier(
        jax.lax.reduce_window(
            model.trunk(empty["image"]), -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 1, 1, 1), "VALID"
        ),
        dilation=2,
    )
    cell_losses = -jax.nn.log_softmax(logits)[..., 3].reshape(-1)
    np.testing.assert_allclose(
        float(loss_hard), float(jnp.sort(cell_losses)[-2:].mean()), rtol=1e-5
    )
