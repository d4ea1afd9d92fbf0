"""One's own detection data from folder to ``overfeat detect``: object crops (how classify and
localize read a detection dataset), ``overfeat data export`` (a COCO folder the project
makes), ``configs/custom.py``'s defaults, and the README's walk-through end to end.
"""

from __future__ import annotations

import contextlib
import io
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from overfeat import cli
from overfeat.data import object_crops
from overfeat.data.sources import open_source
from overfeat.data.tfds_sources import open_tfds_source
from overfeat.scales import sides_for_objects
from overfeat.train import config as config_lib

REPO = Path(__file__).resolve().parents[1]
CUSTOM = str(REPO / "configs" / "custom.py")
# 64x64 shapes, each at least 40% of the side: what the small net learns in minutes.
SHAPES = "synthetic/detect?size=64&classes=4&min_scale=0.4&clutter=0"


class ListSource:
    """Examples given as a list: a source as the data contract says."""

    class_names = ("cat", "dog", "bird")
    name = "listed"

    def __init__(self, examples):
        self.examples = examples

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, index):
        return dict(self.examples[index])


def _hand_worked_image() -> dict:
    """A 60x100 image: A an object, B a crowd region, C too small, D against the right edge."""
    image = np.random.default_rng(0).integers(0, 255, (60, 100, 3), np.uint8)
    return {"image": image,
            "boxes": np.array([[10, 10, 30, 20], [50, 20, 70, 40], [80, 50, 84, 54],
                               [85, 5, 100, 35]], np.float32),
            "labels": np.array([1, 0, 0, 2], np.int32),
            "ignore": np.array([False, True, False, False]),
            "filename": "photo.jpg"}


def test_object_crops_worked_out_by_hand():
    example = _hand_worked_image()
    crops = object_crops.ObjectCrops(ListSource([example]))
    assert len(crops) == 2  # B is ignored, C under 8 pixels
    # A: 20x10, window side 20 * 1.5 = 30 centred on x 20 -> [5, 35]; on y 15 -> [0, 30].
    first = crops[0]
    assert first["label"] == 1 and first["filename"] == "photo.jpg#0"
    np.testing.assert_array_equal(first["image"], example["image"][0:30, 5:35])
    np.testing.assert_allclose(first["boxes"], [[5, 10, 25, 20]])
    # D: 15x30, side 45: x centred at 92.5 is shifted inside to [55, 100]; y [0, 45]. The
    # crowd region B keeps 15 of its 20 columns (>= 30% visible) and its ignore flag.
    second = crops[1]
    assert second["label"] == 2
    np.testing.assert_array_equal(second["image"], example["image"][0:45, 55:100])
    np.testing.assert_allclose(second["boxes"], [[0, 20, 15, 40], [30, 5, 45, 35]])
    np.testing.assert_array_equal(second["labels"], [0, 2])
    np.testing.assert_array_equal(second["ignore"], [True, False])


def test_object_crops_of_a_large_object_are_the_whole_image_side():
    example = _hand_worked_image() | {"boxes": np.array([[0, 5, 90, 50]], np.float32),
                                      "labels": np.array([0]), "ignore": np.array([False])}
    crop = object_crops.ObjectCrops(ListSource([example]))[0]
    assert crop["image"].shape == (60, 100, 3)  # 90 * 1.5 clipped to the image
    np.testing.assert_allclose(crop["boxes"], [[0, 5, 90, 50]])


def test_a_dataset_without_objects_to_crop_is_a_clear_error():
    example = _hand_worked_image() | {"ignore": np.ones(4, bool)}
    with pytest.raises(ValueError, match="none of its 1 images has an object to crop"):
        object_crops.ObjectCrops(ListSource([example]))


def test_tasks_that_need_a_label_read_detection_data_as_crops():
    detect = open_source(SHAPES, "validation")
    classify = open_source("synthetic/classify?size=64", "validation")
    for task in ("classify", "localize"):
        assert isinstance(object_crops.for_task(detect, task), object_crops.ObjectCrops)
        assert object_crops.for_task(classify, task) is classify
    assert object_crops.for_task(detect, "detect") is detect
    crops = pickle.loads(pickle.dumps(object_crops.ObjectCrops(detect)))  # worker processes
    again = object_crops.ObjectCrops(detect)
    for index in (0, len(crops) - 1):
        np.testing.assert_array_equal(crops[index]["image"], again[index]["image"])
        assert crops[index]["label"] == again[index]["label"]


def test_export_writes_coco_boxes_crowds_and_categories_by_hand(tmp_path):
    from overfeat.data.export_coco import export_coco_folder

    written = export_coco_folder(ListSource([_hand_worked_image()]), tmp_path, count=5)
    assert (written["images"], written["objects"], written["classes"]) == (1, 4, 3)
    document = json.loads((tmp_path / "annotations.json").read_text())
    assert document["images"] == [{"id": 1, "file_name": "000000.jpg", "width": 100,
                                   "height": 60}]
    assert document["categories"] == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"},
                                       {"id": 3, "name": "bird"}]
    crowd = document["annotations"][1]  # B: xyxy (50, 20, 70, 40), label 0, ignore
    assert crowd == {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50.0, 20.0, 20.0, 20.0],
                     "area": 400.0, "iscrowd": 1}
    assert [a["iscrowd"] for a in document["annotations"]] == [0, 1, 0, 0]
    with Image.open(tmp_path / "images" / "000000.jpg") as image:
        assert image.size == (100, 60)
    for start, count in ((1, 5), (0, 0)):  # past the end; nothing asked for
        with pytest.raises(ValueError, match="nothing to export: 1 examples"):
            export_coco_folder(ListSource([_hand_worked_image()]), tmp_path / "again",
                               count=count, start=start)


def _cli(*argv: str) -> str:
    """``overfeat ARGV`` in this process; its stdout (the exit status must be 0)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main(list(argv))
    assert status == 0, out.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The walk-through's folder: a COCO export of 160 synthetic images, prepared as ``shapes``
    under its own TFDS data directory (``$TFDS_DATA_DIR``, as a user would set it)."""
    root = tmp_path_factory.mktemp("custom")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFDS_DATA_DIR", str(root / "tensorflow_datasets"))
        patch.chdir(root)
        _cli("data", "export", SHAPES, "--count", "160", "--out", "photos")
        _cli("data", "prepare", "coco-folder", "--images", "photos/images",
             "--annotations", "photos/annotations.json", "--name", "shapes")
        yield root


def test_export_reads_back_exactly_through_prepare(workspace, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(workspace / "tensorflow_datasets"))
    document = json.loads((workspace / "photos" / "annotations.json").read_text())
    synthetic = open_source(SHAPES, "train")
    assert [c["name"] for c in document["categories"]] == list(synthetic.class_names)
    prepared = {}
    for split in ("train", "validation"):
        source = open_tfds_source("shapes", split)
        assert source.class_names == synthetic.class_names
        prepared.update({example["filename"]: example for example in source})
    assert len(prepared) == 160
    for index in (0, 1, 2, 3, 57, 159):
        original, read = synthetic[index], prepared[f"{index:06d}.jpg"]
        np.testing.assert_allclose(read["boxes"], original["boxes"], atol=1e-3)
        np.testing.assert_array_equal(read["labels"], original["labels"])
        # JPEG quality 95: the pixels come back within a few levels on average.
        difference = np.abs(read["image"].astype(int) - original["image"].astype(int))
        assert difference.mean() < 4


def test_custom_config_takes_its_defaults_from_the_prepared_data(workspace, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(workspace / "tensorflow_datasets"))
    metadata = open_tfds_source("shapes", "train").metadata["statistics"]["splits"]["train"]
    objects, images = sum(metadata["per_class"]), metadata["images"]
    classify = config_lib.load_config(f"{CUSTOM}:dataset=shapes")
    assert (classify.task, classify.arch, classify.dataset) == ("classify", "fast_small",
                                                                "shapes")
    expected = min(200.0, 2000 * 32 / objects)  # ~2000 steps of the train split's objects
    assert classify.num_epochs == pytest.approx(expected, abs=0.01)
    detect = config_lib.load_config(f"{CUSTOM}:dataset=shapes,task=detect,arch=accurate_small")
    assert detect.num_epochs == pytest.approx(min(200.0, 2400 * 32 / images), abs=0.01)
    assert detect.model.init_from == "runs/shapes/localize"
    assert detect.model.regressor == "shared" and detect.detector.train_regressor
    # The six inference sides (saved with the model) and the training scales come from the
    # objects' sizes that prepare recorded (their 10th and 90th percentiles).
    sizes = open_tfds_source("shapes", "train").metadata["statistics"]["object_size"]
    sides = sides_for_objects("accurate_small", sizes["p10"], sizes["p90"])
    assert detect.model.scale_sides == sides and detect.model.input_norm == "image"
    assert detect.input.scales == tuple(sorted({max(side, 159) for side in sides}))


@pytest.mark.parametrize("argument, message", [
    ("", "needs the dataset"),
    ("dataset=shapes,task=segment", "task must be one of"),
    ("dataset=shapes,tsk=detect", "bad argument 'tsk=detect'"),
    ("dataset=nothing_here", "nothing_here"),
])
def test_custom_config_arguments_are_checked(workspace, monkeypatch, argument, message):
    monkeypatch.setenv("TFDS_DATA_DIR", str(workspace / "tensorflow_datasets"))
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        config_lib.load_config(f"{CUSTOM}:{argument}")


def test_walk_through_from_annotated_folder_to_detect(workspace, monkeypatch):
    """README "Your own data", at a few steps per job: train the three jobs with the custom
    config (each starting from the one before, by the config's default paths), evaluate the
    detector and the regressor (on object crops) and detect on a new image."""
    monkeypatch.setenv("TFDS_DATA_DIR", str(workspace / "tensorflow_datasets"))
    monkeypatch.chdir(workspace)
    small = ["--config.num_train_steps=3", "--config.batch_size=8", "--config.eval_batches=1",
             "--config.progress_bar=False"]
    printed = {}
    for task in ("classify", "localize", "detect"):
        printed[task] = _cli("train", "--config", f"{CUSTOM}:dataset=shapes,task={task}",
                             "--workdir", f"runs/shapes/{task}", *small)
        assert (workspace / "runs" / "shapes" / task / "model" / "overfeat.json").is_file()
    assert "classify reads its objects as crops" in printed["classify"]
    assert "crops" not in printed["detect"]

    _cli("evaluate", "--task", "detect", "--checkpoint", "runs/shapes/detect/model",
         "--data", "shapes:val", "--limit", "4", "--out", "eval/detect", "--quiet")
    metrics = json.loads((workspace / "eval" / "detect" / "metrics.json").read_text())
    assert 0.0 <= metrics["metrics"]["mAP"] <= 1.0 and metrics["metrics"]["num_images"] == 4
    printed = _cli("evaluate", "--task", "localize", "--checkpoint", "runs/shapes/localize/model",
                   "--data", "shapes:val", "--limit", "4", "--out", "eval/localize", "--quiet")
    assert "localize evaluates its objects as crops" in printed

    photo = workspace / "new_photo.jpg"
    Image.fromarray(open_source(SHAPES, "test")[0]["image"]).save(photo)
    _cli("detect", str(photo), "--checkpoint", "runs/shapes/detect/model", "--draw", "found")
    assert any((workspace / "found").iterdir())


def test_no_tensorflow_was_imported():
    assert "tensorflow" not in sys.modules


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Two 800x800 images (COCO folder, prepared): large enough for reduced decoding."""
    root = tmp_path_factory.mktemp("photos")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TFDS_DATA_DIR", str(root / "tensorflow_datasets"))
        patch.chdir(root)
        _cli("data", "export", "synthetic/detect?size=800&classes=4&empty=0", "--count", "2",
             "--out", "big")
        _cli("data", "prepare", "coco-folder", "--images", "big/images",
             "--annotations", "big/annotations.json", "--name", "big", "--val-fraction", "0")
    return open_tfds_source("big", "train", root / "tensorflow_datasets")


def test_reduced_decoding_keeps_boxes_and_pixels_consistent(photos):
    reduced = photos.with_min_shorter_side(100)
    for index in range(len(photos)):
        full, small = photos[index], reduced[index]
        assert small["image"].shape == (100, 100, 3)  # 800 / 8: the decoder's DCT scaling
        np.testing.assert_allclose(small["boxes"], full["boxes"] / 8, atol=1e-3)
        np.testing.assert_array_equal(small["labels"], full["labels"])
        # The same picture: within a few grey levels of an 8x8 box filter of the full image.
        box_filtered = full["image"].reshape(100, 8, 100, 8, 3).mean(axis=(1, 3))
        assert np.abs(small["image"] - box_filtered).mean() < 2  # measured: 0.47
    assert photos.min_shorter_side is None  # a copy: the full-size source is unchanged


def test_training_pipelines_decode_large_photos_reduced_with_the_same_batches(photos):
    from overfeat.data import pipelines

    sizes = pipelines.input_sizes("fast_small")  # windows of 91 from shorter sides 91..136
    assert pipelines.training_shorter_side("detect", sizes) == 136

    def first_batch(source):
        return next(iter(pipelines.make_pipeline(
            source, task="detect", train=True, batch_size=2, sizes=sizes, seed=3,
            shard=(0, 1))))

    reduced = first_batch(photos)  # decodes at 1/4: 200x200 >= 136
    full = first_batch([photos[i] for i in range(len(photos))])  # a list: full decoding
    np.testing.assert_array_equal(reduced["index"], full["index"])
    np.testing.assert_allclose(reduced["boxes"], full["boxes"], atol=0.05)
    difference = np.abs(reduced["image"].astype(int) - full["image"].astype(int))
    assert difference.mean() < 1.5  # measured: 0.39 grey levels
