"""One's own data: folders in COCO, PASCAL VOC and class-folder layouts (``folder_fakes``), with
every messy case of real exports, are prepared with ``overfeat data prepare coco-folder |
voc-folder | image-folder`` and read back with ``open_tfds_source``; labels, pixel boxes, ignore
flags, pixels and the problem summary must be exactly as worked out by hand.

Everything runs in this process: preparing a folder dataset needs no TensorFlow either.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import shutil
import sys
from types import SimpleNamespace

import folder_fakes
import numpy as np
import pytest
import tfds_fakes
from PIL import Image

from overfeat import cli
from overfeat.data import box_formats
from overfeat.data.builders.folder_dataset import hashed_split, split_hash
from overfeat.data.image_files import check_encoded_image, decode_rgb
from overfeat.data.prepare_folders import prepare_folder_dataset
from overfeat.data.tfds_sources import dataset_splits, open_tfds_source


def _prepare(kind: str, name: str, data_dir, *args: str) -> dict:
    """Runs ``overfeat data prepare KIND ... --json`` in-process and returns its JSON."""
    out = io.StringIO()
    saved, sys.stdout = sys.stdout, out
    try:
        status = cli.main(["data", "prepare", kind, *args, "--name", name,
                           "--data-dir", str(data_dir), "--json"])
    finally:
        sys.stdout = saved
    assert status == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    data = root / "data"
    coco = folder_fakes.make_coco_folder(root / "coco")
    voc = folder_fakes.make_voc_folder(root / "voc")
    classes = folder_fakes.make_image_folder(root / "classes", val_fraction=0.5)
    results = {
        "my_coco": _prepare("coco-folder", "my_coco", data, "--images", str(coco["images"]),
                            "--annotations", str(coco["annotations"]),
                            "--val-fraction", str(folder_fakes.COCO_VAL_FRACTION)),
        "my_voc": _prepare("voc-folder", "my_voc", data, "--root", str(voc["root"])),
        "my_classes": _prepare("image-folder", "my_classes", data, "--root",
                               str(classes["root"]), "--val-fraction", "0.5"),
    }
    return SimpleNamespace(data=data, root=root, results=results,
                           expected={"my_coco": coco, "my_voc": voc, "my_classes": classes})


NAMES = ("my_coco", "my_voc", "my_classes")


def _read_all(name: str, data_dir) -> dict[str, dict[str, dict]]:
    read = {}
    for split in dataset_splits(name, data_dir):
        source = open_tfds_source(name, split, data_dir)
        read[split] = {example["filename"]: example for example in source}
        assert len(read[split]) == len(source), "file names are unique"
    return read


@pytest.mark.parametrize("name", NAMES)
def test_read_back_gives_the_examples_worked_out_by_hand(prepared, name):
    expected = prepared.expected[name]
    read = _read_all(name, prepared.data)
    assert {split: sorted(examples) for split, examples in read.items()} == {
        split: sorted(examples) for split, examples in expected["splits"].items()}
    for split, examples in expected["splits"].items():
        for filename, want in examples.items():
            got, where = read[split][filename], f"{name}:{split}:{filename}"
            assert got["image"].dtype == np.uint8 and list(got["image"].shape) == want["shape"]
            if want["label"] is not None:
                assert got["label"] == want["label"], where
            assert got["labels"].tolist() == want["labels"], where
            assert got["ignore"].tolist() == want["ignore"], where
            assert got["boxes"].dtype == np.float32, where
            # float32 normalized coordinates: a few 1e-5 pixels at these sizes.
            np.testing.assert_allclose(got["boxes"], np.reshape(want["boxes"], (-1, 4)),
                                       atol=1e-4, err_msg=where)
            for (row, column), color in want["colors"].items():   # JPEG's error: a few levels
                np.testing.assert_allclose(got["image"][row, column], color, atol=8,
                                           err_msg=f"{where} pixel {(row, column)}")


@pytest.mark.parametrize("name", NAMES)
def test_every_problem_is_counted_and_named_in_the_summary(prepared, name):
    result, expected = prepared.results[name], prepared.expected[name]
    found = {(outcome, split, kind): sorted(posixpath.basename(where)
                                            for where in tally["examples"])
             for outcome, splits in result["problems"].items()
             for split, kinds in splits.items() for kind, tally in kinds.items()}
    want = {("skipped", *key): sorted(posixpath.basename(n) for n in names)
            for key, names in expected["skipped"].items()}
    want.update({("corrected", *key): sorted(posixpath.basename(n) for n in names)
                 for key, names in expected["corrected"].items()})
    assert found == want
    assert result["skipped"] == sum(len(names) for names in expected["skipped"].values())
    assert result["corrected"] == sum(len(names) for names in expected["corrected"].values())
    assert result["reused"] is False
    assert result["splits"] == {split: len(examples)
                                for split, examples in expected["splits"].items()}


@pytest.mark.parametrize("name", NAMES)
def test_class_names_come_from_the_annotations(prepared, name):
    expected = prepared.expected[name]
    for split in expected["splits"]:
        assert open_tfds_source(name, split, prepared.data).class_names == expected["classes"]
    counts = prepared.results[name]["classes"]
    assert tuple(counts) == expected["classes"]
    per_class = [0] * len(expected["classes"])
    for examples in expected["splits"].values():
        for want in examples.values():
            for label in want["labels"] or ([want["label"]] if want["label"] is not None
                                            else []):
                per_class[label] += 1
    assert list(counts.values()) == per_class


def test_coco_category_ids_and_statistics_are_in_the_metadata(prepared):
    source = open_tfds_source("my_coco", "train", prepared.data)
    metadata = source.metadata
    assert metadata["category_ids"] == prepared.expected["my_coco"]["category_ids"]
    assert metadata["format"] == "coco-folder"
    statistics = metadata["statistics"]
    negatives = sum(counts["negatives"] for counts in statistics["splits"].values())
    assert negatives == 1   # c_negative.jpg
    assert statistics["image_width"]["max"] == 64 and statistics["image_height"]["max"] == 48
    assert statistics["image_width"]["min"] == 20 and statistics["image_height"]["min"] == 10
    # Object size: the side of a box's square over the image's shorter side, every split.
    sizes = [float(np.sqrt((box[2] - box[0]) * (box[3] - box[1]))) / min(ex["image"].shape[:2])
             for split in dataset_splits("my_coco", prepared.data)
             for ex in open_tfds_source("my_coco", split, prepared.data) for box in ex["boxes"]]
    assert statistics["object_size"]["min"] == pytest.approx(min(sizes), abs=1e-4)
    assert statistics["object_size"]["max"] == pytest.approx(max(sizes), abs=1e-4)
    example = next(example for example in source if example["filename"] == "a_plain.jpg")
    assert example["image_id"] == 1


def test_split_is_a_hash_of_the_file_name():
    digest = hashlib.sha256(b"b_messy.jpg").digest()
    assert split_hash("b_messy.jpg") == int.from_bytes(digest[:8], "big") / 2**64
    # Pinned values: datasets prepared earlier must keep their splits.
    assert split_hash("b_messy.jpg") == pytest.approx(0.2346521, abs=1e-7)
    assert split_hash("a_plain.jpg") == pytest.approx(0.5442379, abs=1e-7)
    assert hashed_split("b_messy.jpg", 0.3) == "validation"
    assert hashed_split("a_plain.jpg", 0.5) == "train"
    names = [f"image_{i:04d}.jpg" for i in range(2000)]
    validation = [name for name in names if hashed_split(name, 0.2) == "validation"]
    assert 0.17 < len(validation) / len(names) < 0.23
    # Raising the fraction only moves images from train to validation.
    assert set(validation) <= {name for name in names if hashed_split(name, 0.3) == "validation"}
    assert all(hashed_split(name, 0.0) == "train" for name in names)
    with pytest.raises(ValueError, match="val-fraction"):
        hashed_split("x.jpg", 1.0)


def test_exif_orientations_turn_pixels_and_boxes_alike():
    """A white rectangle on black, stored with each EXIF orientation: where the rectangle is
    after check_encoded_image turns the pixels is where xyxy_after_exif_orientation puts its
    box (PNG, so that pixels compare exactly)."""
    width, height, box = 40, 30, (5, 3, 17, 10)   # stored grid; xyxy
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[box[1]:box[3], box[0]:box[2]] = 255
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[folder_fakes.EXIF_ORIENTATION] = orientation
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", exif=exif.tobytes())
        checked = check_encoded_image(buffer.getvalue(), "x.png",
                                      apply_exif_orientation=True, lossless=True)
        assert checked.orientation == orientation
        shown = decode_rgb(checked.data)[..., 0]
        assert shown.shape == (checked.height, checked.width)
        rows, columns = np.nonzero(shown)
        found = (columns.min(), rows.min(), columns.max() + 1, rows.max() + 1)
        assert box_formats.xyxy_after_exif_orientation(box, orientation, width, height) == (
            found), orientation
        ignored = check_encoded_image(buffer.getvalue(), "x.png", lossless=True)
        assert ignored.orientation == 1 and (ignored.width, ignored.height) == (width, height)


def test_annotation_frame_by_hand():
    frame = box_formats.annotation_frame(None, 20, 40, orientation=6)
    assert frame.problem is None and frame.to_image((1, 2, 3, 4)) == (1, 2, 3, 4)
    frame = box_formats.annotation_frame((20, 40), 20, 40, orientation=6)   # displayed size
    assert frame.problem is None and frame.to_image((1, 2, 3, 4)) == (1, 2, 3, 4)
    frame = box_formats.annotation_frame((40, 20), 20, 40, orientation=6)   # stored size
    assert frame.problem == box_formats.BOXES_ORIENTED
    assert frame.to_image((0, 0, 10, 20)) == (0, 0, 20, 10)
    frame = box_formats.annotation_frame((64, 48), 32, 24)                  # resized
    assert frame.problem == box_formats.BOXES_SCALED
    assert frame.to_image((8, 8, 40, 24)) == (4, 4, 20, 12)


def test_sixteen_bit_and_lossless_images():
    checked = check_encoded_image(folder_fakes.png(4, 2, 0xFFFF, mode="I;16"), "a.png",
                                  lossless=True)
    assert checked.corrections == ("PNG 16-bit grayscale scaled to 8 bits",)
    assert decode_rgb(checked.data).tolist() == [[[255] * 3] * 4] * 2
    rgb = folder_fakes.png(4, 2, (1, 2, 3))
    assert check_encoded_image(rgb, "b.png", lossless=True).data == rgb    # kept as is
    assert check_encoded_image(rgb, "b.png").corrections == (
        "PNG RGB image re-encoded as RGB JPEG",)


# --------------------------------------------------------------------- the command's behaviour

def test_preparing_again_reuses_or_refuses_changed_files(prepared, tmp_path):
    coco = prepared.expected["my_coco"]
    args = ("--images", str(coco["images"]), "--annotations", str(coco["annotations"]),
            "--val-fraction", str(folder_fakes.COCO_VAL_FRACTION))
    again = _prepare("coco-folder", "my_coco", prepared.data, *args)
    assert again["reused"] is True and again["splits"] == prepared.results["my_coco"]["splits"]

    # Another folder under the same name: refused without --overwrite.
    images = tmp_path / "images"
    images.mkdir()
    (images / "one.jpg").write_bytes(tfds_fakes.jpeg(20, 10))
    annotations = tmp_path / "one.json"
    annotations.write_text(json.dumps({
        "images": [{"id": 5, "file_name": "one.jpg", "width": 20, "height": 10}],
        "annotations": [{"id": 1, "image_id": 5, "category_id": 3, "bbox": [1, 1, 4, 4]}],
        "categories": [{"id": 3, "name": "thing"}]}))
    with pytest.raises(ValueError, match="already prepared.*--overwrite"):
        prepare_folder_dataset("coco-folder", "my_coco", {"images": images,
                                                          "annotations": annotations},
                               prepared.data,
                               val_fraction=0.0)
    data_copy = tmp_path / "data"
    shutil.copytree(prepared.data / "my_coco", data_copy / "my_coco")
    result = prepare_folder_dataset("coco-folder", "my_coco",
                                    {"images": images, "annotations": annotations}, data_copy,
                                    val_fraction=0.0, overwrite=True)
    assert result.splits == {"train": 1} and result.classes == {"thing": 1}
    source = open_tfds_source("my_coco", "train", data_copy)
    assert source.class_names == ("thing",) and source[0]["boxes"].tolist() == [[1, 1, 5, 5]]


@pytest.mark.parametrize("name, message", [
    ("My-Data", "lower-case letters"), ("voc", "taken by a dataset of the project"),
    ("2cells", "starting with a letter")])
def test_bad_dataset_names_are_refused(prepared, name, message, capsys):
    coco = prepared.expected["my_coco"]
    status = cli.main(["data", "prepare", "coco-folder", "--images", str(coco["images"]),
                       "--annotations", str(coco["annotations"]), "--name", name,
                       "--data-dir", str(prepared.data)])
    assert status == 2
    assert message in capsys.readouterr().err


def test_broken_annotation_files_are_clear_errors(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    bad = tmp_path / "bad.json"
    cases = [
        ("{not json", "not valid JSON"),
        ('{"images": []}', "not a COCO annotation file"),
        ('{"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}, '
         '{"id": 1, "name": "b"}]}', "category id 1 is used twice"),
        ('{"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}, '
         '{"id": 2, "name": "a"}]}', "category name 'a' is used by two ids"),
        ('{"images": [{"file_name": "x.jpg"}], "annotations": [], '
         '"categories": [{"id": 1, "name": "a"}]}', "needs an integer 'id'"),
    ]
    for text, message in cases:
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            prepare_folder_dataset("coco-folder", "bad", {"images": images, "annotations": bad},
                                   tmp_path / "data")
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        prepare_folder_dataset("voc-folder", "bad", {"root": images}, tmp_path / "data")


def test_voc_zero_coordinates_are_pointed_out_and_zero_based_files_read_as_written(
        prepared, tmp_path):
    note, = (note for note in prepared.results["my_voc"]["notes"] if "--zero-based" in note)
    assert note.startswith("1 boxes start at a coordinate below 1")   # 000003's first car
    root = prepared.expected["my_voc"]["root"]
    result = _prepare("voc-folder", "voc_zero_based", tmp_path, "--root", str(root),
                      "--zero-based")
    assert not any("--zero-based" in note for note in result["notes"])
    corrected = result["problems"]["corrected"]
    assert corrected["validation"]["box clipped to the image"]["count"] == 1   # x 40..60 only
    assert corrected["train"]["box dropped: empty (zero width or height)"]["examples"] == [
        "000001.jpg"]   # the bike 5..5: one pixel in VOC's indices, empty as 0-based
    train = {example["filename"]: example
             for example in open_tfds_source("voc_zero_based", "train", tmp_path)}
    assert train["000001.jpg"]["boxes"].tolist() == [[1, 1, 48, 32], [10, 10, 20, 20]]


def test_voc_folder_without_lists_is_split_by_hash(tmp_path):
    root = tmp_path / "voc"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    ids = [f"img{i}" for i in range(12)]
    for image_id in ids:
        (root / "JPEGImages" / f"{image_id}.jpg").write_bytes(tfds_fakes.jpeg(20, 10))
        (root / "Annotations" / f"{image_id}.xml").write_bytes(
            tfds_fakes.voc_xml(f"{image_id}.jpg", 20, 10, [("thing", 2, 2, 8, 8)]))
    result = prepare_folder_dataset("voc-folder", "voc_hashed", {"root": root},
                                    tmp_path / "data", val_fraction=0.4)
    want = {split: sum(hashed_split(image_id, 0.4) == split for image_id in ids)
            for split in ("train", "validation")}
    assert result.splits == want and min(want.values()) > 0
    validation = open_tfds_source("voc_hashed", "val", tmp_path / "data")
    assert sorted(example["filename"] for example in validation) == sorted(
        f"{i}.jpg" for i in ids if hashed_split(i, 0.4) == "validation")
    assert validation[0]["boxes"].tolist() == [[1, 1, 8, 8]]


def test_image_folder_with_split_folders(tmp_path):
    root = tmp_path / "classes"
    for split, names in (("train", ("a", "b")), ("val", ("a", "b")), ("test", ("b",))):
        for name in names:
            (root / split / name).mkdir(parents=True)
            (root / split / name / f"{split}_{name}.jpg").write_bytes(tfds_fakes.jpeg(12, 10))
    with pytest.raises(ValueError, match="val/ folder"):
        prepare_folder_dataset("image-folder", "split_folders", {"root": root},
                               tmp_path / "data", val_fraction=0.2)
    result = prepare_folder_dataset("image-folder", "split_folders", {"root": root},
                                    tmp_path / "data")
    assert result.splits == {"train": 2, "validation": 2, "test": 1}
    test = open_tfds_source("split_folders", "test", tmp_path / "data")
    assert test.class_names == ("a", "b")
    assert (test[0]["filename"], int(test[0]["label"])) == ("test/b/test_b.jpg", 1)


def test_a_split_left_empty_by_bad_files_is_a_clear_error(tmp_path):
    root = tmp_path / "classes"
    (root / "a").mkdir(parents=True)
    (root / "a" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="every image of the split was skipped.*unreadable"):
        prepare_folder_dataset("image-folder", "all_bad", {"root": root}, tmp_path / "data",
                               val_fraction=0.0)


def test_no_tensorflow_was_imported():
    assert "tensorflow" not in sys.modules
