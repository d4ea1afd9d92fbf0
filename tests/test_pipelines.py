"""grain pipelines: shapes, determinism, exact resumption, sharding, padding, bad examples."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from overfeat.data import pipelines
from overfeat.data.checks import BadExampleError
from overfeat.data.pipelines import InputSizes, make_pipeline
from overfeat.data.synthetic import SyntheticSource

SMALL = InputSizes(crop_size=40, resize_size=48, image_size=48, scales=(48, 56))


def _source(task="localize", count=40, size=64):
    return SyntheticSource(task, num_examples=count, image_size=size)


def _take(iterator, count):
    return [next(iterator) for _ in range(count)]


def _assert_batches_equal(first, second):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def _pipeline(source, **kwargs):
    options = {"task": "localize", "train": True, "batch_size": 8, "sizes": SMALL,
               "shard": (0, 1), "seed": 1, **kwargs}
    return make_pipeline(source, **options)


@pytest.mark.parametrize(("task", "train", "side"), [
    ("classify", True, 40), ("classify", False, 40), ("localize", True, 48),
    ("detect", True, 48), ("detect", False, 48)])
def test_batch_layout(task, train, side):
    batch = next(iter(_pipeline(_source(task), task=task, train=train, max_boxes=6)))
    assert batch["image"].shape == (8, side, side, 3) and batch["image"].dtype == np.uint8
    assert batch["boxes"].shape == (8, 6, 4) and batch["labels"].shape == (8, 6)
    assert batch["valid"].all() and batch["index"].dtype == np.int64
    for row in range(8):
        count = batch["num_boxes"][row]
        assert (batch["labels"][row, count:] == -1).all()
        assert (batch["labels"][row, :count] >= 0).all()
        assert (batch["boxes"][row, count:] == 0).all()
        boxes = batch["boxes"][row, :count]
        assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
        assert (boxes >= 0).all() and (boxes <= side).all()
    assert ("label" in batch) == (task != "detect")
    assert ("scale" in batch) == (task != "classify" and not train)
    if task != "detect" and train:
        # Crops never lose the labelled object (the source has its box).
        assert all((batch["labels"][r, :batch["num_boxes"][r]] == batch["label"][r]).any()
                   for r in range(8))


def test_training_is_deterministic_and_seeded():
    first = _take(iter(_pipeline(_source())), 3)
    _assert_batches_equal(first, _take(iter(_pipeline(_source())), 3))
    other = _take(iter(_pipeline(_source(), seed=2)), 1)
    assert not np.array_equal(first[0]["index"], other[0]["index"])


def test_epochs_cover_the_data_and_reshuffle():
    iterator = iter(_pipeline(_source(count=32), num_epochs=2))
    epochs = [np.concatenate([b["index"] for b in _take(iterator, 4)]) for _ in range(2)]
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(32))
    assert not np.array_equal(epochs[0], epochs[1])
    with pytest.raises(StopIteration):
        next(iterator)


def test_resuming_mid_epoch_yields_the_identical_remaining_batches():
    # 40 examples, batches of 8: 5 per epoch; stop after 3, compare the next 6 (into epoch 2).
    iterator = iter(_pipeline(_source()))
    _take(iterator, 3)
    state = json.loads(json.dumps(iterator.get_state()))  # checkpoints store it as JSON
    expected = _take(iterator, 6)
    resumed = iter(_pipeline(_source()))
    resumed.set_state(state)
    _assert_batches_equal(_take(resumed, 6), expected)


def test_hosts_read_disjoint_shards():
    source = _source(count=43)
    train = [np.concatenate([b["index"] for b in _take(iter(_pipeline(source, shard=(i, 3))), 1)])
             for i in range(3)]
    for i in range(3):  # shard i holds the examples i, i + 3, ...; 43 // 3 = 14 each
        assert set(train[i]) <= set(range(i, 42, 3))
    evaluation = [list(_pipeline(source, train=False, shard=(i, 3))) for i in range(3)]
    # Every host yields the same number of batches; together they hold every example once.
    assert {len(batches) for batches in evaluation} == {2}
    indices = np.concatenate([b["index"][b["valid"]] for shard in evaluation for b in shard])
    assert sorted(indices) == list(range(43))
    assert pipelines.num_batches(43, 8, 3, train=False) == 2
    assert pipelines.num_batches(43, 8, 3, train=True) == 1


def test_evaluation_reads_everything_once_in_order_and_pads_the_last_batch():
    batches = list(_pipeline(_source(count=19), train=False, task="detect"))
    assert len(batches) == 3
    assert np.concatenate([b["index"] for b in batches]).tolist() == list(range(19)) + [-1] * 5
    assert batches[-1]["valid"].tolist() == [True] * 3 + [False] * 5
    assert (batches[-1]["image"][3:] == 0).all() and (batches[-1]["num_boxes"][3:] == 0).all()
    # No augmentation: the same twice, and the scale maps back to the source's boxes.
    _assert_batches_equal(batches, list(_pipeline(_source(count=19), train=False, task="detect")))
    source = _source(count=19)
    row = batches[0]
    count = row["num_boxes"][1]
    np.testing.assert_allclose(row["boxes"][1, :count] / row["scale"][1], source[1]["boxes"],
                               rtol=1e-5)


class _Broken:
    """A source whose example 5 has an inverted box."""

    name = "broken"

    def __init__(self):
        self.inner = _source(count=24)

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, index):
        example = self.inner[index]
        if index == 5:
            example["boxes"] = example["boxes"][:, [2, 1, 0, 3]]
        return example


def test_a_bad_example_is_an_error_naming_it_or_a_counted_skip(caplog):
    with pytest.raises(BadExampleError, match=r"broken\[5\]: box 0 is empty or inverted"):
        list(_pipeline(_Broken(), train=False))
    with caplog.at_level(logging.WARNING, logger="overfeat.data"):
        batches = list(_pipeline(_Broken(), train=False, on_bad_example="skip"))
    indices = np.concatenate([b["index"][b["valid"]] for b in batches])
    assert sorted(indices) == [i for i in range(24) if i != 5]
    assert "skipping example 5 of broken (1 skipped" in caplog.text
    train = _take(iter(_pipeline(_Broken(), on_bad_example="skip", num_epochs=1)), 2)
    seen = np.concatenate([b["index"] for b in train])
    assert 5 not in seen and len(seen) == 16  # batches stay full


def test_too_many_boxes_is_an_error():
    with pytest.raises(ValueError, match="more than max_boxes=1"):
        next(iter(_pipeline(_source("detect", count=16), task="detect", train=False,
                            max_boxes=1)))


def test_classification_scale_jitter_draws_the_shorter_side_up_to_resize_max():
    # A horizontal ramp of 4 grey levels per pixel: resized to shorter side s, a row of the
    # window climbs 4 * 64 / s per pixel, which tells the side each draw used.
    ramp = np.broadcast_to((np.arange(64) * 4).astype(np.uint8)[None, :, None], (64, 64, 3))
    example = {"image": np.ascontiguousarray(ramp), "label": np.int32(0)}

    def sides(sizes):
        augment = pipelines.Preprocess("classify", train=True, sizes=sizes, flip=False)
        rng = np.random.default_rng(0)
        rows = [augment(example, rng)["image"][20, :, 0].astype(float) for _ in range(200)]
        return np.array([4 * 64 / np.polyfit(np.arange(10, 30), row[10:30], 1)[0]
                         for row in rows])

    np.testing.assert_allclose(sides(SMALL), 48, atol=0.5)  # no jitter: always resize_size
    jittered = InputSizes(crop_size=40, resize_size=48, image_size=48, scales=(48,),
                          resize_max=96)
    drawn = sides(jittered)
    assert drawn.min() > 47.5 and drawn.max() < 96.5
    assert np.percentile(drawn, 10) < 56 and np.percentile(drawn, 90) > 88  # uniform
    assert pipelines.training_shorter_side("classify", jittered) == 96
    with pytest.raises(ValueError, match="resize_max 40 is below resize_size 48"):
        InputSizes(crop_size=40, resize_size=48, image_size=48, scales=(48,), resize_max=40)


def test_defaults_follow_the_architecture():
    sizes = pipelines.input_sizes("accurate_small")
    assert (sizes.crop_size, sizes.resize_size) == (87, 101)
    assert sizes.image_size == 87 + 2 * 36 and sizes.scales[0] == sizes.image_size
    assert pipelines.input_sizes("accurate").crop_size == 221
    assert pipelines.input_sizes("fast").resize_size == 256


@pytest.mark.slow  # starts worker processes (a few seconds on a busy 2-core machine)
def test_worker_processes_give_the_same_batches_as_in_process():
    # Batches are formed inside each worker, so compare with the same worker count twice and
    # check the multiset of examples against the in-process pipeline.
    with_workers = _take(iter(_pipeline(_source(), num_workers=2)), 4)
    _assert_batches_equal(with_workers, _take(iter(_pipeline(_source(), num_workers=2)), 4))
    in_process = _take(iter(_pipeline(_source())), 4)
    assert sorted(np.concatenate([b["index"] for b in with_workers])) == sorted(
        np.concatenate([b["index"] for b in in_process]))
