"""Input pipeline throughput on ImageNet-sized JPEGs, against Pillow decoding alone.

Makes ``--images`` JPEGs of 500x375 pixels (ImageNet's most common size; quality 90) in a
temporary directory, then measures, each for ``--seconds``:

* ``decode``: Pillow decoding alone (open, load, RGB), one core: the baseline;
* ``decode+augment``: decoding and the paper's classification augmentation (shorter side 256,
  random 221x221 crop, flip; ``overfeat.data.pipelines.Preprocess``), one core;
* ``pipeline``: ``make_pipeline`` end to end (grain, ``--workers`` processes, batches of 128)
  reading the files from disk;
* ``synthetic``: ``SyntheticSource`` examples (128x128) drawn per second, one core;
* ``photo``: ``--photos`` phone-sized JPEGs (4000x3000) through the small net's detection
  training transform, decoded at full size and at the reduced size a training pipeline over
  a TFDS source uses (``pipelines.training_shorter_side``), side by side, one core.

Prints a table with each figure's ratio to ``decode``; the last line is one JSON object.

    python scripts/benchmark_input.py                  # full (about a minute)
    python scripts/benchmark_input.py --seconds 2 --images 64 --workers 2   # short
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import platform
import tempfile
import time

import numpy as np
from PIL import Image

from overfeat.data import pipelines
from overfeat.data.checks import decode_image
from overfeat.data.synthetic import SyntheticSource


class JpegFiles:
    """A random-access source of JPEG files, decoded with ``decode_image`` on access."""

    def __init__(self, paths: list[str]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        data = pathlib.Path(path).read_bytes()
        return {"image": decode_image(data, name=path), "label": np.int32(index % 1000)}


def make_jpegs(directory: pathlib.Path, count: int, width: int = 500, height: int = 375
               ) -> list[str]:
    """Photographs they are not, but shapes, gradients and noise give JPEGs of about the
    size and entropy of ImageNet's (~110 KB at 500x375)."""
    source = SyntheticSource("detect", image_size=width, num_examples=count, seed=7)
    paths = []
    for index in range(count):
        image = source[index]["image"][:height]
        path = directory / f"image_{index:05d}.JPEG"
        Image.fromarray(image).save(path, quality=90)
        paths.append(str(path))
    return paths


def make_photos(count: int, width: int = 4000, height: int = 3000) -> list[bytes]:
    """JPEGs (quality 90) of a phone photo's size and about its entropy (~3 MB): synthetic
    scenes enlarged, with sensor-like noise."""
    source = SyntheticSource("detect", image_size=500, num_examples=count, seed=11)
    rng = np.random.default_rng(0)
    blobs = []
    for index in range(count):
        scene = Image.fromarray(source[index]["image"][:375]).resize((width, height))
        noisy = np.asarray(scene, np.int16) + rng.normal(0, 6, (height, width, 3))
        buffer = io.BytesIO()
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(buffer, "JPEG",
                                                                      quality=90)
        blobs.append(buffer.getvalue())
    return blobs


def rate(step, seconds: float, items_per_step: int = 1) -> float:
    """Items per second of calling ``step()`` repeatedly for about ``seconds``."""
    step()  # warm up
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        step()
        count += items_per_step
    return count / elapsed


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="JPEGs to make (256)")
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (5)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help="pipeline worker processes (default: the cores)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--arch", default="accurate", help="sizes of this architecture")
    parser.add_argument("--photos", type=int, default=4,
                        help="4000x3000 JPEGs for the photo rows (4; 0: skip them)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        paths = make_jpegs(pathlib.Path(folder), args.images)
        blobs = [pathlib.Path(p).read_bytes() for p in paths]
        cycle = iter(range(10**12))

        def decode_alone():
            with Image.open(io.BytesIO(blobs[next(cycle) % len(blobs)])) as image:
                image.convert("RGB").load()

        sizes = pipelines.input_sizes(args.arch)
        augment = pipelines.Preprocess("classify", train=True, sizes=sizes)
        rng = np.random.default_rng(0)

        def decode_and_augment():
            index = next(cycle) % len(blobs)
            augment({"image": decode_image(blobs[index]), "label": np.int32(0)}, rng)

        source = SyntheticSource("classify", image_size=128, num_examples=10**6)
        detect = SyntheticSource("detect", image_size=128, num_examples=10**6)
        results = {
            "decode": rate(decode_alone, args.seconds),
            "decode+augment": rate(decode_and_augment, args.seconds),
            "synthetic/classify": rate(lambda: source[next(cycle) % 10**6], args.seconds),
            "synthetic/detect": rate(lambda: detect[next(cycle) % 10**6], args.seconds),
        }
        loader = iter(pipelines.make_pipeline(
            JpegFiles(paths), task="classify", train=True, batch_size=args.batch_size,
            arch=args.arch, shard=(0, 1), num_workers=args.workers, num_threads=1))
        results["pipeline"] = rate(lambda: next(loader), args.seconds, args.batch_size)
        loader.close()  # stops the workers and frees the batches still in shared memory
        if args.photos:
            results.update(photo_rates(make_photos(args.photos), args.seconds))

    kilobytes = sum(len(b) for b in blobs) / len(blobs) / 1024
    print(f"{args.images} JPEGs of 500x375 (quality 90, {kilobytes:.0f} KB average); "
          f"{os.cpu_count()} cores; {platform.processor() or platform.machine()}")
    print(f"{'measurement':<22}{'images/s':>10}{'vs decode':>11}")
    for name, value in results.items():
        per = " (per core)" if name != "pipeline" else f" ({args.workers} workers)"
        print(f"{name:<22}{value:>10.0f}{value / results['decode']:>10.2f}x{per}")
    if args.photos:
        print(f"photos: {args.photos} JPEGs of 4000x3000; reduced decoding is "
              f"{results['photo, reduced'] / results['photo, full']:.2f}x faster")
    summary = {
        "benchmark": "input",
        "arch": args.arch,
        "crop": sizes.crop_size,
        "resize": sizes.resize_size,
        "cores": os.cpu_count(),
        "workers": args.workers,
        "decode_per_core": round(results["decode"], 1),
        "decode_augment_per_core": round(results["decode+augment"], 1),
        "augment_vs_decode": round(results["decode+augment"] / results["decode"], 3),
        "pipeline": round(results["pipeline"], 1),
        "pipeline_per_worker": round(results["pipeline"] / max(args.workers, 1), 1),
        "synthetic_classify_per_core": round(results["synthetic/classify"], 1),
        "synthetic_detect_per_core": round(results["synthetic/detect"], 1),
        "jpeg_kb": round(kilobytes, 1),
    }
    if args.photos:
        summary |= {"photo_full_per_core": round(results["photo, full"], 2),
                    "photo_reduced_per_core": round(results["photo, reduced"], 2),
                    "photo_reduced_speedup": round(results["photo, reduced"] /
                                                   results["photo, full"], 2)}
    print(json.dumps(summary))
    return summary


def photo_rates(blobs: list[bytes], seconds: float) -> dict[str, float]:
    """Photos per second through fast_small's detection training transform (shorter side to
    91-136, a 91x91 window, a flip), decoded at full size and reduced."""
    sizes = pipelines.input_sizes("fast_small")
    augment = pipelines.Preprocess("detect", train=True, sizes=sizes)
    smallest = pipelines.training_shorter_side("detect", sizes)
    rng = np.random.default_rng(0)
    cycle = iter(range(10**12))

    def step(min_shorter_side):
        data = blobs[next(cycle) % len(blobs)]
        image = decode_image(data, min_shorter_side=min_shorter_side)
        augment({"image": image, "boxes": np.zeros((0, 4), np.float32),
                 "labels": np.zeros(0, np.int32)}, rng)

    return {"photo, full": rate(lambda: step(None), seconds),
            "photo, reduced": rate(lambda: step(smallest), seconds)}


if __name__ == "__main__":
    main()
