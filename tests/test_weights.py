"""Release weight files (layout, transposition, size errors) and our checkpoint format."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx
from random_models import random_model

from overfeat import dense, weights
from overfeat.architectures import FAST_SMALL, Conv, MaxPool
from overfeat.models import RELEASE_MEAN, RELEASE_STD, create_model

REPO = pathlib.Path(__file__).resolve().parents[1]

# weight_format.md's table: (layer, W shape, W offset, b offset).
DOCUMENTED_LAYOUT = {
    "fast": [
        ("conv1", (96, 3, 11, 11), 0, 34848), ("conv2", (256, 96, 5, 5), 34944, 649344),
        ("conv3", (512, 256, 3, 3), 649600, 1829248),
        ("conv4", (1024, 512, 3, 3), 1829760, 6548352),
        ("conv5", (1024, 1024, 3, 3), 6549376, 15986560),
        ("fc6", (3072, 1024, 6, 6), 15987584, 129233792),
        ("fc7", (4096, 3072, 1, 1), 129236864, 141819776),
        ("fc8", (1000, 4096, 1, 1), 141823872, 145919872),
    ],
    "accurate": [
        ("conv1", (96, 3, 7, 7), 0, 14112), ("conv2", (256, 96, 7, 7), 14208, 1218432),
        ("conv3", (512, 256, 3, 3), 1218688, 2398336),
        ("conv4", (512, 512, 3, 3), 2398848, 4758144),
        ("conv5", (1024, 512, 3, 3), 4758656, 9477248),
        ("conv6", (1024, 1024, 3, 3), 9478272, 18915456),
        ("fc7", (4096, 1024, 5, 5), 18916480, 123774080),
        ("fc8", (4096, 4096, 1, 1), 123778176, 140555392),
        ("fc9", (1000, 4096, 1, 1), 140559488, 144655488),
    ],
}


@pytest.mark.parametrize("arch", ["fast", "accurate"])
def test_release_layout_is_the_documented_table(arch):
    layout = [(t.layer, t.shape, t.weight_offset, t.bias_offset)
              for t in weights.release_layout(arch)]
    assert layout == DOCUMENTED_LAYOUT[arch]


def test_release_file_sizes():
    assert weights.release_file_size("fast") == 583_683_488
    assert weights.release_file_size("accurate") == 578_625_952
    assert weights.release_arch_for_size(583_683_488) == "fast"
    assert weights.release_arch_for_size(578_625_952) == "accurate"
    assert weights.release_arch_for_size(1234) is None


def sparse_file(path, size: int):
    """A file of ``size`` bytes that allocates no disk (a hole): enough for size checks."""
    with open(path, "wb") as file:
        file.truncate(size)
    return path


@pytest.fixture
def no_reading(monkeypatch):
    """Fail the test if a weight file is mapped: size errors must come before reading."""
    def refuse(*args, **kwargs):
        raise AssertionError("the file was read before its size was checked")

    monkeypatch.setattr(np, "memmap", refuse)


def test_the_other_nets_file_is_named(tmp_path, no_reading):
    path = sparse_file(tmp_path / "net_weight_1", weights.release_file_size("accurate"))
    with pytest.raises(weights.WeightFileError) as error:
        weights.load_release("fast", path)
    message = str(error.value)
    assert str(path) in message and "accurate net's file (net_weight_1)" in message
    assert "583,683,488" in message and "578,625,952" in message


def test_a_truncated_file_says_how_short_it_is(tmp_path, no_reading):
    expected = weights.release_file_size("accurate")
    path = sparse_file(tmp_path / "net_weight_1", expected - 4096)
    with pytest.raises(weights.WeightFileError, match="truncated: .* 4,096 short of 578,625,952"):
        weights.load_release("accurate", path)


@pytest.mark.parametrize("size", [10, weights.release_file_size("fast") + 4])
def test_a_file_of_any_other_size_is_refused(tmp_path, no_reading, size):
    path = sparse_file(tmp_path / "weights.bin", size)
    with pytest.raises(weights.WeightFileError, match="the fast net's file \\(net_weight_0\\)"):
        weights.load_release("fast", path)


def test_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        weights.load_release("fast", tmp_path / "nowhere")


def write_release_layout(path, arch, num_classes, rng) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A release-layout file of random tensors; returns ``{layer: (W[o, i, kh, kw], b)}``."""
    tensors = {}
    with open(path, "wb") as file:
        for place in weights.release_layout(arch, num_classes):
            weight = rng.standard_normal(place.shape).astype("<f4")
            bias = rng.standard_normal(place.shape[0]).astype("<f4")
            weight.tofile(file)
            bias.tofile(file)
            tensors[place.layer] = (weight, bias)
    return tensors


def test_load_release_transposes_every_layer_to_hwio(tmp_path):
    tensors = write_release_layout(tmp_path / "w", "fast_small", 7, np.random.default_rng(0))
    model = weights.load_release("fast_small", tmp_path / "w", num_classes=7)
    for layer, (weight, bias) in tensors.items():
        module = model.trunk if layer.startswith("conv") else model.classifier
        conv = getattr(module, layer)
        kernel = np.asarray(conv.kernel[...])  # [kh, kw, in, out]
        o, i, h, w = 3 % weight.shape[0], 1 % weight.shape[1], 0, weight.shape[3] - 1
        assert kernel[h, w, i, o] == weight[o, i, h, w]  # one entry by hand ...
        np.testing.assert_array_equal(kernel, weight.transpose(2, 3, 1, 0))  # ... then all
        np.testing.assert_array_equal(np.asarray(conv.bias[...]), bias)
    np.testing.assert_allclose(np.asarray(model.trunk.mean[...]), [RELEASE_MEAN] * 3)
    np.testing.assert_allclose(np.asarray(model.trunk.std[...]), [RELEASE_STD] * 3)


def test_non_finite_values_are_reported(tmp_path):
    write_release_layout(tmp_path / "w", "fast_small", 7, np.random.default_rng(0))
    conv2 = weights.release_layout("fast_small", 7)[1]
    with open(tmp_path / "w", "r+b") as file:
        file.seek((conv2.weight_offset + 5) * 4)
        file.write(np.float32(np.nan).tobytes())
    with pytest.raises(weights.WeightFileError, match="conv2 holds NaN"):
        weights.load_release("fast_small", tmp_path / "w", num_classes=7)


def test_reorder_classes_permutes_logits_and_per_class_boxes():
    model = random_model("fast_small", num_classes=5, regressor="per_class", seed=1)
    images = np.random.default_rng(0).uniform(0, 255, (1, 75, 67, 3)).astype(np.float32)
    forward = nnx.jit(lambda model, images: dense.dense_outputs(model, images, stride="coarse"))
    before = forward(model, images)
    order = np.array([3, 0, 4, 1, 2])
    weights.reorder_classes(model, order)
    after = forward(model, images)
    np.testing.assert_allclose(after["logits"], before["logits"][..., order], rtol=1e-5, atol=1e-5)
    boxes_before = np.asarray(before["boxes"]).reshape(*before["boxes"].shape[:3], 5, 4)
    boxes_after = np.asarray(after["boxes"]).reshape(*after["boxes"].shape[:3], 5, 4)
    np.testing.assert_allclose(boxes_after, boxes_before[..., order, :], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="permutation"):
        weights.reorder_classes(model, [0, 0, 1, 2, 3])


# --- Checkpoints ------------------------------------------------------------------------------


def leaves(model) -> dict[str, np.ndarray]:
    state = nnx.to_pure_dict(nnx.state(model))
    return {jax.tree_util.keystr(path): np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_leaves_with_path(state)}


@pytest.fixture
def small_model():
    return random_model("fast_small", num_classes=4, regressor="per_class", seed=3,
                        mean=(120.0, 110.0, 100.0), std=(60.0, 55.0, 50.0), dropout=0.25)


def test_checkpoint_round_trip(tmp_path, small_model):
    names, ids = ["cat", "dog", "crane", "background"], ["c", "d", "n02012849", "bg"]
    metadata = {"dataset": "synthetic", "epochs": 3, "top1": 0.5}
    out = weights.save_model(small_model, tmp_path / "ckpt", class_names=names, class_ids=ids,
                             background_class=True, metadata=metadata)
    assert sorted(os.listdir(out)) == [weights.INFO_FILE, weights.PARAMS_DIR]
    model, info = weights.load_model(out)
    assert info.arch is FAST_SMALL and info.num_classes == 4 and info.regressor == "per_class"
    assert info.class_names == tuple(names) and info.class_ids == tuple(ids)
    assert info.background_class and info.metadata == metadata and info.dropout == 0.25
    assert info.mean == (120.0, 110.0, 100.0) and info.std == (60.0, 55.0, 50.0)
    expected, restored = leaves(small_model), leaves(model)
    assert expected.keys() == restored.keys()
    for key in expected:
        np.testing.assert_array_equal(restored[key], expected[key], err_msg=key)
    images = np.random.default_rng(1).uniform(0, 255, (1, 75, 75, 3)).astype(np.float32)
    forward = nnx.jit(dense.dense_outputs)
    for key, value in forward(small_model, images).items():
        np.testing.assert_array_equal(forward(model, images)[key], value)


def test_checkpoint_keeps_compute_dtype_and_custom_architectures(tmp_path):
    custom = dataclasses.replace(
        FAST_SMALL, name="my_net",
        trunk=(Conv("conv1", 8, 5, stride=2), MaxPool("pool1", 2), Conv("conv2", 8, 3),
               MaxPool("pool2", 2), Conv("conv3", 8, 3, padding=1), Conv("conv4", 8, 3, padding=1),
               Conv("conv5", 16, 3, padding=1), MaxPool("pool5", 2)),
        classifier=(32, 32),
    )
    model = random_model(custom, num_classes=3, dtype=jnp.bfloat16)
    model2, info = weights.load_model(weights.save_model(model, tmp_path / "c"))
    assert info.arch == custom and info.compute_dtype == "bfloat16"
    assert model2.trunk.conv1.dtype == jnp.bfloat16


def test_save_refuses_to_clobber(tmp_path, small_model):
    out = weights.save_model(small_model, tmp_path / "ckpt")
    with pytest.raises(FileExistsError, match="overwrite"):
        weights.save_model(small_model, out)
    other = random_model("fast_small", num_classes=2)
    weights.save_model(other, out, overwrite=True)
    assert weights.load_model(out)[1].num_classes == 2
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]  # no staging or old copies left
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an overfeat checkpoint"):
        weights.save_model(other, tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"


def test_a_failed_save_leaves_nothing(tmp_path, small_model, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ocp.StandardCheckpointer, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        weights.save_model(small_model, tmp_path / "ckpt")
    assert os.listdir(tmp_path) == []


def test_save_validates_its_description(tmp_path, small_model):
    with pytest.raises(ValueError, match="class_names has 2 entries for 4 classes"):
        weights.save_model(small_model, tmp_path / "a", class_names=["a", "b"])
    with pytest.raises(ValueError, match="plain JSON"):
        weights.save_model(small_model, tmp_path / "b", metadata={"when": object()})
    assert os.listdir(tmp_path) == []


@pytest.fixture
def saved(tmp_path, small_model):
    return weights.save_model(small_model, tmp_path / "ckpt", class_names=list("abcd"))


def edit_info(directory, **changes):
    path = directory / weights.INFO_FILE
    data = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None and key.startswith("drop_"):
            del data[key[5:]]
        else:
            data[key] = value
    path.write_text(json.dumps(data))


def test_load_errors_name_the_problem(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="checkpoint directory not found"):
        weights.load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no overfeat.json"):
        weights.load_model(tmp_path / "empty")
    (saved / weights.INFO_FILE).write_text('{"format": "overfeat-checkpoint", ')
    with pytest.raises(ValueError, match="overfeat.json: malformed JSON"):
        weights.load_model(saved)


@pytest.mark.parametrize("changes, message", [
    ({"drop_num_classes": None}, "missing field 'num_classes'"),
    ({"format": "something-else"}, '"format": "overfeat-checkpoint"'),
    ({"format_version": 99}, "version 99.*upgrade overfeat"),
    ({"class_names": ["a"]}, "class_names must be null or a list of 4 strings"),
    ({"regressor": "boxes"}, "regressor must be"),
    ({"mean": [1, 2]}, "mean must be a list of 3 numbers"),
])
def test_malformed_descriptions(saved, changes, message):
    edit_info(saved, **changes)
    with pytest.raises(ValueError, match=message):
        weights.load_model(saved)


@pytest.mark.parametrize("changes, message", [
    ({"num_classes": 6, "class_names": None},
     r"classifier/fc8/kernel has shape \(1, 1, 256, 4\), expected \(1, 1, 256, 6\)"),
    ({"regressor": None}, "unexpected regressor/reg1/bias"),
    ({"regressor": "shared"}, r"regressor/reg3/kernel has shape \(1, 1, 128, 16\)"),
])
def test_a_tree_that_does_not_fit_the_description(saved, changes, message):
    edit_info(saved, **changes)
    with pytest.raises(ValueError, match=message):
        weights.load_model(saved)


def test_description_and_tree_must_agree_on_statistics(saved):
    edit_info(saved, mean=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="says mean"):
        weights.load_model(saved)


SAVE_ON_FOUR_DEVICES = """
import sys, jax, numpy as np
from flax import nnx
sys.path.insert(0, {tests!r})
from random_models import random_model
from overfeat.weights import save_model
model = random_model("fast_small", num_classes=3, seed=4)
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("data",))
replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
nnx.update(model, jax.device_put(nnx.state(model), replicated))
assert len(model.trunk.conv1.kernel[...].sharding.device_set) == 4
save_model(model, {out!r})
"""


def test_a_checkpoint_saved_on_several_devices_loads_on_one(tmp_path):
    """A model trained on 8 accelerators must load on a laptop: the stored shardings name
    devices this process does not have."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    script = SAVE_ON_FOUR_DEVICES.format(tests=str(REPO / "tests"), out=str(tmp_path / "c"))
    subprocess.run([sys.executable, "-W", "error", "-c", script], env=env, check=True)
    model, info = weights.load_model(tmp_path / "c")
    expected = random_model("fast_small", num_classes=3, seed=4)
    np.testing.assert_array_equal(model.classifier.fc8.kernel[...],
                                  expected.classifier.fc8.kernel[...])
    assert len(model.classifier.fc8.kernel[...].sharding.device_set) == 1


def test_checkpoint_keeps_input_norm_and_scale_sides(tmp_path):
    from overfeat.predict import Predictor

    sides = (83, 99, 115, 131, 147, 163)
    model = create_model("fast_small", num_classes=3, regressor="shared", input_norm="image",
                         scale_sides=sides)
    out = weights.save_model(model, tmp_path / "ckpt")
    restored, info = weights.load_model(out)
    assert info.input_norm == "image" and info.scale_sides == sides
    assert restored.trunk.input_norm == "image" and restored.scale_sides == sides
    predictor = Predictor.from_checkpoint(out)
    assert [scaled.height for scaled in predictor.plan(64, 80)] == list(sides)
    # the paper's plan on request
    paper = Predictor.from_checkpoint(out, rule="table5")
    assert paper.plan(64, 80)[0].height != sides[0]
    # an older file without the keys: the paper's normalization and plan
    description = json.loads((out / weights.INFO_FILE).read_text())
    del description["input_norm"], description["scale_sides"]
    (out / weights.INFO_FILE).write_text(json.dumps(description))
    info = weights.read_checkpoint_info(out)
    assert info.input_norm == "dataset" and info.scale_sides is None


def test_image_normalization_ignores_each_channels_brightness_and_contrast():
    model = create_model("fast_small", num_classes=3, input_norm="image")
    images = np.random.default_rng(0).uniform(0, 255, (2, 59, 59, 3)).astype(np.float32)
    # per channel: gain 0.5 .. 1.5, offset -40 .. 40 (a colour cast, a dimmer photo)
    changed = images * np.array([0.5, 1.0, 1.5]) + np.array([40.0, -40.0, 0.0])
    same = model.trunk.normalize(images), model.trunk.normalize(changed)
    # equal up to the deviation's epsilon (1 grey level against deviations of ~70)
    np.testing.assert_allclose(same[0], same[1], atol=0.03)
    flat = np.full((1, 59, 59, 3), 97.0, np.float32)
    np.testing.assert_array_equal(model.trunk.normalize(flat), 0.0)
