"""Real datasets end to end: fake archives of ImageNet, the ILSVRC boxes, VOC 2007/2012 and COCO
2017 (``tfds_fakes``) are prepared with ``overfeat.data.prepare`` and read back with
``overfeat.data.tfds_sources``; labels and pixel boxes must come back exactly as worked out by hand.

TensorFlow never enters this process: TFDS's builders run in one subprocess (with the fake
archives' checksums registered), and our builder plus all reading run in another where
TensorFlow is hidden as if not installed, which proves that training-side reading needs none.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pickle
import posixpath
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import grain
import numpy as np
import pytest
import tfds_fakes
from PIL import Image

from overfeat import cli
from overfeat.data.tfds_sources import dataset_directory, open_tfds_source

REPO = Path(__file__).resolve().parents[1]
HAVE_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
needs_tensorflow = pytest.mark.skipif(not HAVE_TENSORFLOW,
                                      reason="TFDS's builders need TensorFlow ('.[prepare]')")


def _run_driver(mode: str, manual: Path, data: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    completed = subprocess.run(
        [sys.executable, str(REPO / "tests" / "tfds_fakes.py"), mode, str(manual), str(data),
         str(out)], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    manual, data = root / "manual", root / "data"
    expected = {name: make(tfds_fakes.manual_dir_of(manual, name))
                for name, make in tfds_fakes.MAKERS.items()}
    with_tensorflow = {"prepared": {}}
    if HAVE_TENSORFLOW:
        with_tensorflow = _run_driver("prepare-tfds", manual, data, root / "tfds.json")
    without = _run_driver("without-tensorflow", manual, data, root / "no_tf.json")
    return SimpleNamespace(expected=expected, manual=manual, data=data,
                           prepared={**with_tensorflow["prepared"], **without["prepared"]},
                           with_tensorflow=with_tensorflow, without_tensorflow=without)


def _available(prepared, name: str) -> None:
    if name not in prepared.prepared:
        pytest.skip(f"{name} is prepared by TFDS's builder, which needs TensorFlow")


@pytest.mark.parametrize("name", list(tfds_fakes.MAKERS))
def test_read_back_gives_the_examples_worked_out_by_hand(prepared, name):
    _available(prepared, name)
    read = prepared.without_tensorflow["read"][name]["splits"]
    expected = prepared.expected[name]["splits"]
    assert set(read) == set(expected)
    for split, examples in expected.items():
        assert set(read[split]) == set(examples), split
        for filename, want in examples.items():
            got = read[split][filename]
            where = f"{name}:{split}:{filename}"
            assert got["label"] == want["label"], where
            assert got["labels"] == want["labels"], where
            assert got["ignore"] == want["ignore"], where
            assert got["boxes_dtype"] == "float32" and got["dtype"] == "uint8", where
            # float32 normalized coordinates: a few 1e-5 pixels at these sizes.
            np.testing.assert_allclose(np.reshape(got["boxes"], (-1, 4)),
                                       np.reshape(want["boxes"], (-1, 4)), atol=1e-4,
                                       err_msg=where)
            assert got["shape"] == want["shape"], where
            if want["color"] is not None:   # solid-colour JPEGs: within JPEG's error
                np.testing.assert_allclose(got["color"], want["color"], atol=6, err_msg=where)


@pytest.mark.parametrize("name", list(tfds_fakes.MAKERS))
def test_every_bad_file_is_counted_and_named_in_the_summary(prepared, name):
    _available(prepared, name)
    problems = prepared.prepared[name]["problems"]
    found = {(outcome, split, kind): sorted(posixpath.basename(where)
                                            for where in tally["examples"])
             for outcome, splits in problems.items() for split, kinds in splits.items()
             for kind, tally in kinds.items()}
    counts = {(outcome, split, kind): tally["count"]
              for outcome, splits in problems.items() for split, kinds in splits.items()
              for kind, tally in kinds.items()}
    expected = {("skipped", *key): sorted(names)
                for key, names in prepared.expected[name]["skipped"].items()}
    expected.update({("corrected", *key): sorted(names)
                     for key, names in prepared.expected[name]["corrected"].items()})
    assert found == expected
    assert counts == {key: len(names) for key, names in expected.items()}
    assert prepared.prepared[name]["reused"] is False


def test_prepare_leaves_no_scratch_files(prepared):
    assert not (prepared.data / "downloads").exists() or not any(
        (prepared.data / "downloads").iterdir())


def test_reading_and_our_builder_need_no_tensorflow(prepared):
    assert prepared.without_tensorflow["tensorflow_imported"] is False
    assert set(prepared.without_tensorflow["read"]) == set(prepared.prepared)
    assert "tensorflow" not in sys.modules   # nor did this process import it


@needs_tensorflow
def test_archives_that_differ_from_tfds_checksums_are_refused(prepared):
    message = prepared.with_tensorflow["unregistered_checksums"]
    assert "VOC" in message and "not the file TFDS expects" in message


def test_class_orders_are_tfds_orders(prepared):
    loc = open_tfds_source("ilsvrc2012_loc", "train", prepared.data)
    assert len(loc.class_names) == 1000 and list(loc.class_names) == sorted(loc.class_names)
    assert loc.class_names[0] == "n01440764"
    if "imagenet2012" in prepared.prepared:
        assert open_tfds_source("imagenet2012", "train", prepared.data).class_names == (
            loc.class_names)
    if "coco/2017" in prepared.prepared:   # COCO's 80 categories in file order, ids 1..90
        coco = open_tfds_source("coco/2017", "train", prepared.data)
        assert coco.class_names == tuple(f"category{i}" for i in tfds_fakes.COCO_CATEGORY_IDS)
    if "voc/2007" in prepared.prepared:
        voc = open_tfds_source("voc/2007", "train", prepared.data)
        assert voc.num_classes == 20 and voc.class_names[14] == "person"


def test_source_api(prepared):
    source = open_tfds_source("ilsvrc2012_loc", "val", prepared.data)   # "val": validation
    assert source.split == "validation" and len(source) == 2
    assert source.has_boxes and source.has_label
    example = source[0]
    assert set(example) == {"image", "label", "boxes", "labels", "ignore", "filename"}
    assert example["image"].flags.writeable
    assert example["label"].dtype == np.int32 and example["labels"].dtype == np.int32
    assert example["ignore"].dtype == bool

    clone = pickle.loads(pickle.dumps(source))   # loader worker processes hold a copy
    np.testing.assert_array_equal(clone[1]["image"], source[1]["image"])
    batch = source.__getitems__([1, 0])
    assert [item["filename"] for item in batch] == [source[1]["filename"], example["filename"]]

    encoded = open_tfds_source("ilsvrc2012_loc", "validation", prepared.data,
                               decode_image=False)[0]
    assert isinstance(encoded["image"], bytes)
    np.testing.assert_array_equal(encoded["boxes"], example["boxes"])
    assert np.asarray(Image.open(io.BytesIO(encoded["image"])).convert("RGB")).shape == (
        example["image"].shape)

    sliced = open_tfds_source("ilsvrc2012_loc", "train[:2]", prepared.data)
    assert len(sliced) == 2

    # The source plugs into grain as it is.
    names = grain.MapDataset.source(source).map(lambda example: example["filename"])
    assert [names[0], names[1]] == [source[0]["filename"], source[1]["filename"]]


def test_unknown_split_or_dataset_errors_say_what_to_do(prepared, tmp_path):
    with pytest.raises(ValueError, match="no split 'test'.*train, validation"):
        open_tfds_source("ilsvrc2012_loc", "test", prepared.data)
    with pytest.raises(FileNotFoundError, match="overfeat data prepare voc/2007"):
        open_tfds_source("voc/2007", "train", tmp_path)
    with pytest.raises(FileNotFoundError, match="version 9.9.9 is not prepared"):
        dataset_directory("ilsvrc2012_loc:9.9.9", prepared.data)
    if "voc/2007" in prepared.prepared:
        with pytest.raises(FileNotFoundError, match="has configs .*2007"):
            dataset_directory("voc", prepared.data)


def test_prepare_again_reuses_the_dataset(prepared, capsys):
    manual = tfds_fakes.manual_dir_of(prepared.manual, "ilsvrc2012_loc")
    status = cli.main(["data", "prepare", "ilsvrc2012_loc", "--manual-dir", str(manual),
                       "--data-dir", str(prepared.data), "--json"])
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert result["reused"] is True
    assert result["splits"] == {"train": 5, "validation": 2}
