"""The pieces under the dataset builders: VOC XML, box conversions and the box rule, image
checks, tar reading, the problem report and the manual-directory checks of ``data prepare``."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
import tfds_fakes
from PIL import Image

from overfeat import cli
from overfeat.boxes import tfds_yxyx_normalized_from_xyxy, xyxy_from_tfds_yxyx_normalized
from overfeat.data import box_formats, prepare
from overfeat.data.archives import file_stem, iter_tar_files
from overfeat.data.image_files import BadImageError, check_encoded_image, decode_rgb
from overfeat.data.problems import CORRECTED, SKIPPED, DataProblems
from overfeat.data.voc_xml import parse_voc_xml

# ---------------------------------------------------------------------------------- VOC XML


def test_voc_xml_is_parsed_as_written():
    data = tfds_fakes.voc_xml("000005.jpg", 48, 32, [("chair", 10, 20, 30, 32),
                                                      ("person", 1.5, 1, 48, 32, 1)])
    annotation = parse_voc_xml(data, "a.xml")
    assert (annotation.filename, annotation.width, annotation.height) == ("000005.jpg", 48, 32)
    chair, person = annotation.objects
    assert (chair.name, chair.xmin, chair.ymin, chair.xmax, chair.ymax) == (
        "chair", 10, 20, 30, 32)
    assert not chair.difficult and person.difficult and person.xmin == 1.5
    assert chair.pose == "unspecified"


@pytest.mark.parametrize("text, message", [
    ("<annotation><object>", "x.xml: not valid XML"),
    ("<root/>", "x.xml: root element is <root>"),
    ("<annotation><object><name>dog</name></object></annotation>", "dog.*no <bndbox>"),
    ("<annotation><object><name>dog</name><bndbox><xmin>a</xmin><ymin>1</ymin><xmax>2</xmax>"
     "<ymax>3</ymax></bndbox></object></annotation>", "<xmin> is 'a', not a number"),
    ("<annotation><object><name>dog</name><difficult>2</difficult><bndbox><xmin>1</xmin>"
     "<ymin>1</ymin><xmax>2</xmax><ymax>3</ymax></bndbox></object></annotation>",
     "<difficult> is '2'"),
])
def test_malformed_voc_xml_is_a_clear_error(text, message):
    with pytest.raises(ValueError, match=message):
        parse_voc_xml(text, "x.xml")


def test_voc_xml_without_size_has_none():
    annotation = parse_voc_xml("<annotation><size><width>0</width></size></annotation>", "x")
    assert annotation.width is None and annotation.height is None and annotation.objects == ()


# ------------------------------------------------------------------------------------- boxes


def test_normalized_round_trip_is_within_float32():
    rng = np.random.default_rng(0)
    for height, width in ((375, 500), (4000, 3000), (17, 23)):
        corners = np.sort(rng.uniform(0, 1, (64, 2, 2)), axis=1)
        boxes = np.stack([corners[:, 0, 0] * width, corners[:, 0, 1] * height,
                          corners[:, 1, 0] * width, corners[:, 1, 1] * height], axis=1)
        # as prepare writes them (TFDS stores float32) and reading turns them back
        normalized = tfds_yxyx_normalized_from_xyxy(boxes, height, width).astype(np.float32)
        assert normalized.min() >= 0 and normalized.max() <= 1
        back = xyxy_from_tfds_yxyx_normalized(normalized.astype(np.float64), height, width)
        assert back.shape == (64, 4)
        np.testing.assert_allclose(back, boxes, atol=max(height, width) * 1.2e-7)


def test_conversions_by_hand():
    # TFDS order is [ymin, xmin, ymax, xmax]; a 100x50 (W x H) image.
    np.testing.assert_array_equal(
        xyxy_from_tfds_yxyx_normalized(np.array([[0.1, 0.2, 0.5, 1.0]]), 50, 100),
        [[20, 5, 100, 25]])
    assert box_formats.xyxy_from_voc_pixels(1, 1, 500, 375) == (0, 0, 500, 375)   # whole image
    assert box_formats.xyxy_from_voc_pixels(7, 7, 7, 7) == (6, 6, 7, 7)           # one pixel
    assert box_formats.xyxy_from_xywh(2.5, 3.25, 10, 20.5) == (2.5, 3.25, 12.5, 23.75)


@pytest.mark.parametrize("box, fitted, problem", [
    ((1, 2, 3, 4), (1, 2, 3, 4), None),
    ((0, 0, 10, 8), (0, 0, 10, 8), None),
    ((-2, 1, 12, 9), (0, 1, 10, 8), box_formats.BOX_CLIPPED),
    ((5, 1, 3, 4), None, box_formats.BOX_INVERTED),
    ((5, 1, 5, 4), None, box_formats.BOX_EMPTY),
    ((10, 1, 15, 4), None, box_formats.BOX_OUTSIDE),
    ((1, -5, 3, 0), None, box_formats.BOX_OUTSIDE),
    ((1, float("nan"), 3, 4), None, box_formats.BOX_NOT_FINITE),
])
def test_fit_box_rule(box, fitted, problem):
    assert box_formats.fit_box_xyxy(box, 10, 8) == (fitted, problem)


# ------------------------------------------------------------------------------------ images


def test_clean_jpegs_are_kept_byte_for_byte():
    for data in (tfds_fakes.jpeg(20, 10), tfds_fakes.jpeg(20, 10, mode="L")):
        checked = check_encoded_image(data, "a.jpg")
        assert checked.data == data and checked.corrections == ()
        assert (checked.height, checked.width) == (10, 20)
    gray = decode_rgb(tfds_fakes.jpeg(20, 10, tfds_fakes.GRAY, mode="L"))
    assert gray.shape == (10, 20, 3) and gray.dtype == np.uint8 and gray.flags.writeable
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


@pytest.mark.parametrize("data, correction", [
    (tfds_fakes.jpeg(24, 16, tfds_fakes.RED, mode="CMYK"), "CMYK JPEG converted to RGB"),
    (tfds_fakes.png(24, 16, tfds_fakes.RED), "PNG RGB image re-encoded as RGB JPEG"),
])
def test_cmyk_and_disguised_png_become_rgb_jpegs(data, correction):
    checked = check_encoded_image(data, "x.JPEG")
    assert checked.corrections == (correction,)
    with Image.open(io.BytesIO(checked.data)) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (24, 16))
    np.testing.assert_allclose(decode_rgb(checked.data).mean(axis=(0, 1)), tfds_fakes.RED,
                               atol=6)


@pytest.mark.parametrize("data, kind", [
    (tfds_fakes.truncated_jpeg(40, 30), "truncated image"),
    (b"<html>not found</html>", "unreadable image"),
    (b"", "empty image file"),
])
def test_bad_images_are_errors_naming_the_file(data, kind):
    with pytest.raises(BadImageError, match="n0_1.JPEG") as caught:
        check_encoded_image(data, "n0_1.JPEG")
    assert caught.value.kind == kind


# ---------------------------------------------------------------------------------- archives


def test_nested_tars_are_streamed_in_order(tmp_path):
    inner = tfds_fakes.tar_bytes({"n1/n1_2.xml": b"two"}, compress=True)
    outer = tmp_path / "outer.tar.gz"
    outer.write_bytes(tfds_fakes.tar_bytes({"n0/n0_1.xml": b"one", "n1.tar.gz": inner,
                                            "./n2.JPEG": b"three"}, compress=True))
    assert list(iter_tar_files(outer)) == [("n0/n0_1.xml", b"one"),
                                           ("n1.tar.gz/n1/n1_2.xml", b"two"),
                                           ("n2.JPEG", b"three")]
    assert [path for path, _ in iter_tar_files(outer, nested=False)][1] == "n1.tar.gz"
    assert file_stem("n1.tar/n1_10026.JPEG") == "n1_10026"


def test_damaged_or_missing_archives(tmp_path):
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(tfds_fakes.tar_bytes({"a": b"x" * 5000})[:1000])
    with pytest.raises(ValueError, match="damaged.tar: not a readable tar"):
        list(iter_tar_files(damaged))
    with pytest.raises(FileNotFoundError):
        list(iter_tar_files(tmp_path / "missing.tar"))


# ---------------------------------------------------------------------------------- problems


def test_problems_are_counted_logged_and_summarised(caplog):
    problems = DataProblems(examples_per_kind=2)
    with caplog.at_level(logging.WARNING, logger="overfeat.data.prepare"):
        for index in range(3):
            problems.skipped("train", "truncated image", f"n0_{index}.JPEG")
        problems.corrected("validation", "box clipped to the image", "v.JPEG", "(1, 2)")
    assert problems.count() == 4 and problems.count(SKIPPED) == 3
    assert problems.count(CORRECTED, "validation") == 1 and problems.count(split="test") == 0
    assert problems.as_dict()[SKIPPED]["train"]["truncated image"] == {
        "count": 3, "examples": ["n0_0.JPEG", "n0_1.JPEG"]}
    assert len(caplog.records) == 3   # the third truncated file is logged at debug level only
    assert problems.summary_lines() == [
        "train: 3 skipped (truncated image): n0_0.JPEG, n0_1.JPEG, ... (1 more)",
        "validation: 1 corrected (box clipped to the image): v.JPEG"]
    assert DataProblems().summary_lines() == ["no data problems found"]


# --------------------------------------------------------------------------- manual directory


def test_missing_manual_files_are_named_before_any_work(tmp_path, capsys):
    status = cli.main(["data", "prepare", "voc/2007", "--manual-dir", str(tmp_path)])
    assert status == 2
    error = capsys.readouterr().err
    assert "VOCtrainval_06-Nov-2007.tar" in error and "VOCtest_06-Nov-2007.tar" in error

    loc = prepare.DATASETS["ilsvrc2012_loc"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        prepare.check_manual_dir(loc, tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="nothing to prepare .* needs "
                       "ILSVRC2012_img_train.tar with ILSVRC2012_bbox_train_v2.tar.gz"):
        prepare.check_manual_dir(loc, tmp_path)
    (tmp_path / "ILSVRC2012_img_val.tar").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="missing in .*: ILSVRC2012_bbox_val_v3.tgz"):
        prepare.check_manual_dir(loc, tmp_path)
    (tmp_path / "ILSVRC2012_bbox_val_v3.tgz").write_bytes(b"")
    prepare.check_manual_dir(loc, tmp_path)   # one complete split is enough
    with pytest.raises(ValueError, match="unknown dataset 'voc/2099'"):
        prepare.prepare_dataset("voc/2099", tmp_path)


def test_imagenet_validation_archive_with_a_gap_is_refused(tmp_path):
    def archive(numbers):
        (tmp_path / "ILSVRC2012_img_val.tar").write_bytes(tfds_fakes.tar_bytes(
            {f"ILSVRC2012_val_{number:08d}.JPEG": b"x" for number in numbers}))

    archive([3, 1, 2])
    prepare.check_imagenet_validation_names(tmp_path)
    archive([1, 2, 4])
    with pytest.raises(ValueError, match="image 3 in sorted order is "
                       "'ILSVRC2012_val_00000004.JPEG', expected 'ILSVRC2012_val_00000003.JPEG'"):
        prepare.check_imagenet_validation_names(tmp_path)
