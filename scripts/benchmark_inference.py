"""Speed of inference (issue 6), in one run: six scales with flips per image, dense against
crop-per-window, and the greedy merge against the naive loop.

    python scripts/benchmark_inference.py                  # full: accurate net (slow on a CPU)
    python scripts/benchmark_inference.py --small          # < 2 min on a 2-core CPU
    python scripts/benchmark_inference.py --batch 32       # on a GPU: bf16 by default there

1. **Six scales with flips** (Table 5's sizes: a 400x500 image, ``rule="table5"``), fine
   stride, random weights, through ``Predictor.classify``: seconds per image end to end
   (host resizing included) and of the network alone (the six compiled programs on batches
   already resized), and the network's fraction of the machine's matmul peak: FLOPs from XLA's
   cost analysis of those programs over the peak of a large matmul in the same dtype, measured
   in the same run, sampled between the network's runs (the best sample kept).
2. **Dense vs crop-per-window** on one image at one scale's size: the network applied once
   at fine stride, against the network run on every fine-stride window's crop (batched),
   timed on the real network. Zero padding inside the trunk makes a crop's border see zeros
   where the image has neighbours (NOTES.md, "Dense output vs the network run window by
   window"), so the outputs are compared on the same network with its padding removed (a
   larger view), where they must be equal; that variant is timed too.
3. **Greedy merge vs naive** at 10,000 boxes: ``scripts/benchmark_merge.py`` run as a child
   process on its ``dense`` boxes (the naive O(n^3) loop measured at small sizes and
   extrapolated, checked equal there).

Times are the best of ``--repeats`` wall-clock runs after a warm-up (compilation excluded).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import overfeat  # sets the CPU XLA flags before JAX starts its backend
from overfeat import dense
from overfeat.architectures import Conv, get_architecture
from overfeat.images import resize_image
from overfeat.predict import Predictor
from overfeat.scales import ALL_SCALES, scale_plan

GPU_GOAL_SECONDS = 0.005  # six scales with flips per image, bf16, batched
DENSE_GOAL_RATIO = 10.0
IMAGE_SIZE = (400, 500)  # a 5:4 image gets exactly Table 5's sizes under rule="table5"


def best_seconds(function, *args, repeats: int, warm_up: bool = True) -> float:
    if warm_up:  # compile and warm up
        jax.block_until_ready(function(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        times.append(time.perf_counter() - start)
    return min(times)


class MatmulPeak:
    """Achieved FLOP/s of a large square matmul in ``dtype``: the machine's practical peak,
    sampled between the network's runs and reported as the best sample."""

    def __init__(self, dtype, repeats: int):
        self.n = 4096 if jax.default_backend() == "cpu" else 16384
        self.a = jax.random.normal(jax.random.key(0), (self.n, self.n), jnp.float32).astype(dtype)
        self.matmul = jax.jit(lambda x: x @ x)
        self.repeats = repeats
        self.best = 0.0

    def sample(self) -> float:
        seconds = best_seconds(self.matmul, self.a, repeats=self.repeats,
                               warm_up=self.best == 0.0)
        self.best = max(self.best, 2 * self.n**3 / seconds)
        return self.best


def flops_of(program) -> float:
    analysis = program.cost_analysis()
    if isinstance(analysis, list):  # older jax: one dict per device
        analysis = analysis[0]
    return float(analysis["flops"])


def random_images(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def six_scales(args, peak: MatmulPeak) -> dict:
    model = overfeat.create_model(args.arch, num_classes=1000)
    predictor = Predictor(model, rule="table5", aspect_buckets=None, batch_size=args.batch,
                          compute_dtype=args.dtype)
    images = random_images(args.batch, *IMAGE_SIZE)
    plan = predictor.plan(*IMAGE_SIZE, ALL_SCALES)
    end_to_end = best_seconds(lambda: predictor.classify(images), repeats=args.repeats)
    peak.sample()
    batches = [np.stack([resize_image(image, *scaled.size) for image in images])
               for scaled in plan]
    flops = sum(flops_of(predictor.program(batch)) for batch in batches)  # compiled by classify

    def network():  # the six programs alone, on batches already resized
        return [predictor.run_scale(batch) for batch in batches]

    network_seconds = []
    for _ in range(args.repeats):  # the peak sampled between the network's runs
        network_seconds.append(best_seconds(network, repeats=1, warm_up=False))
        peak.sample()
    network = min(network_seconds)
    per_image = network / args.batch
    result = {
        "arch": args.arch,
        "dtype": args.dtype or "float32",
        "batch": args.batch,
        "sizes": ["x".join(map(str, scaled.size)) for scaled in plan],
        "programs_compiled": predictor.program_count,
        "seconds_per_image": round(per_image, 4),
        "end_to_end_seconds_per_image": round(end_to_end / args.batch, 4),
        "gflop_per_image": round(flops / args.batch / 1e9, 2),
        "achieved_gflops": round(flops / network / 1e9, 1),
    }
    if jax.default_backend() == "gpu":
        result["gpu_goal_met"] = per_image <= GPU_GOAL_SECONDS
    print(f"\n[six scales + flips] {args.arch}, fine stride, {result['dtype']}, batch "
          f"{args.batch}, sizes {' '.join(result['sizes'])}")
    print(f"  network      {per_image:9.4f} s/image  {result['achieved_gflops']:9.1f} GFLOP/s  "
          f"{result['gflop_per_image']} GFLOP/image")
    print(f"  end to end   {end_to_end / args.batch:9.4f} s/image  (host resizing, transfers, "
          "softmax maxima included)")
    return result | {"_flops_per_second": flops / network}


def without_padding(name: str):
    """The architecture with its padded convolutions made valid ones (tests/test_dense.py
    explains why): dense and window-by-window outputs are then equal."""
    arch = get_architecture(name)
    trunk = tuple(dataclasses.replace(layer, padding=0) if isinstance(layer, Conv) else layer
                  for layer in arch.trunk)
    return dataclasses.replace(arch, name=f"{arch.name}_unpadded", trunk=trunk)


def windows_timing(arch, height: int, width: int, args) -> dict:
    """The network over one ``height x width`` image: dense at fine stride (one pass) and
    on every fine-stride window's crop (batched); seconds of each and the outputs' relative
    difference."""
    model = overfeat.create_model(arch, num_classes=1000)
    view, step = arch.field_of_view, arch.fine_stride
    rows, cols = (arch.output_size(side) for side in (height, width))
    image = random_images(1, height, width, seed=1)[0].astype(np.float32)  # [H, W, 3]
    graphdef, state = nnx.split(model)

    @jax.jit
    def dense_pass(state, images):  # [1, H, W, 3] -> [1, rows, cols, C]
        return dense.dense_outputs(nnx.merge(graphdef, state), images, stride="fine")["logits"]

    @jax.jit
    def window_pass(state, crops):  # [n, view, view, 3] -> [n, 1, 1, C]
        return dense.dense_outputs(nnx.merge(graphdef, state), crops, stride="coarse")["logits"]

    tops, lefts = np.meshgrid(np.arange(rows) * step, np.arange(cols) * step, indexing="ij")
    crops = np.stack([image[t : t + view, s : s + view]
                      for t, s in zip(tops.ravel(), lefts.ravel(), strict=True)])
    count = len(crops)
    padded = -(-count // args.crop_batch) * args.crop_batch
    crops = np.concatenate([crops, np.repeat(crops[-1:], padded - count, axis=0)])
    chunks = [jnp.asarray(chunk) for chunk in crops.reshape(-1, args.crop_batch, view, view, 3)]
    whole = jnp.asarray(image[None])

    def all_windows(state):
        return [window_pass(state, chunk) for chunk in chunks]

    dense_map = np.asarray(dense_pass(state, whole))[0]  # [rows, cols, C]
    by_window = np.concatenate([np.asarray(x) for x in all_windows(state)])[:count]
    by_window = by_window.reshape(rows, cols, -1)
    error = float(np.abs(dense_map - by_window).max() / np.abs(by_window).max())
    dense_s = best_seconds(dense_pass, state, whole, repeats=args.repeats)
    windows_s = best_seconds(all_windows, state, repeats=args.repeats)
    return {"arch": arch.name, "windows": count, "view": view, "dense_seconds": dense_s,
            "windows_seconds": windows_s, "relative_difference": error}


def dense_vs_windows(args) -> dict:
    """Timed on the real network; outputs compared on its unpadded variant, where they must
    be equal (with padding the windows' borders differ by design)."""
    arch = get_architecture(args.window_arch)
    unpadded = without_padding(args.window_arch)
    (scaled,) = scale_plan(arch, *IMAGE_SIZE, (args.window_scale,), rule="table5")
    height, width = scaled.size  # valid for the unpadded net too: same strides, larger view
    if not (unpadded.is_valid_size(height) and unpadded.is_valid_size(width)):
        raise SystemExit(f"scale {args.window_scale} ({height}x{width}) is smaller than the "
                         f"unpadded {unpadded.name}'s view {unpadded.field_of_view}: pick a "
                         "larger --window-scale")
    real = windows_timing(arch, height, width, args)
    check = windows_timing(unpadded, height, width, args)
    equal = check["relative_difference"] <= 1e-4
    ratio = real["windows_seconds"] / real["dense_seconds"]
    print(f"\n[dense vs crop-per-window] {height}x{width} (scale {args.window_scale}), crops "
          f"in batches of {args.crop_batch}")
    for name, run in ((arch.name, real), (unpadded.name, check)):
        print(f"  {name:<26} {run['windows']} windows of {run['view']}: dense "
              f"{run['dense_seconds']:.4f} s, crop per window {run['windows_seconds']:.4f} s "
              f"({run['windows_seconds'] / run['dense_seconds']:.1f}x), max |difference| / "
              f"max |output| = {run['relative_difference']:.1e}")
    print(f"  outputs equal where padding cannot differ ({unpadded.name}): {equal}; speedup of "
          f"{arch.name} {ratio:.1f}x, goal >= {DENSE_GOAL_RATIO:.0f}x: "
          f"{'met' if ratio >= DENSE_GOAL_RATIO else 'NOT met'}")
    return {
        "arch": arch.name,
        "size": f"{height}x{width}",
        "windows": real["windows"],
        "dense_seconds": round(real["dense_seconds"], 4),
        "windows_seconds": round(real["windows_seconds"], 4),
        "speedup": round(ratio, 1),
        "goal_met": ratio >= DENSE_GOAL_RATIO,
        "unpadded_speedup": round(check["windows_seconds"] / check["dense_seconds"], 1),
        "unpadded_outputs_equal": equal,
        "unpadded_relative_difference": float(f"{check['relative_difference']:.2e}"),
        "padded_relative_difference": float(f"{real['relative_difference']:.2e}"),
    }


def merge_benchmark(args) -> dict:
    script = Path(__file__).resolve().parent / "benchmark_merge.py"
    command = [sys.executable, str(script), "--boxes", str(args.merge_boxes), "--inputs", "dense",
               "--naive-boxes", *map(str, args.naive_boxes), "--repeats", str(args.merge_repeats)]
    child = subprocess.run(command, capture_output=True, text=True, check=True)
    report = json.loads(child.stdout.strip().splitlines()[-1])["dense"]
    print(f"\n[greedy merge] {args.merge_boxes} boxes ({script.name}, dense input)")
    print(f"  fast exact greedy  {report['greedy_s']:9.4f} s (CPU)")
    print(f"  naive loop         {report['naive_s_extrapolated']:9.2f} s (extrapolated as "
          f"n^{report['naive_exponent']}; equal results where run: {report['equal_to_naive']})")
    print(f"  speedup {report['naive_over_greedy']}x; goal <= 0.1 s: "
          f"{'met' if report['goal_met'] else 'NOT met'}")
    return report


def main(argv=None) -> int:
    on_gpu = jax.default_backend() == "gpu"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true",
                        help="short run for a CPU: one repeat, accurate_small windows, the "
                             "naive merge measured at 100 and 200 boxes")
    parser.add_argument("--arch", default="accurate")
    parser.add_argument("--batch", type=int, default=32 if on_gpu else 1)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"),
                        default="bfloat16" if on_gpu else "float32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window-arch", default=None, help="default: --arch")
    parser.add_argument("--window-scale", type=int, default=4, choices=ALL_SCALES)
    parser.add_argument("--crop-batch", type=int, default=64)
    parser.add_argument("--merge-boxes", type=int, default=10_000)
    parser.add_argument("--naive-boxes", type=int, nargs=2, default=(200, 400))
    parser.add_argument("--merge-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.small:
        args.repeats = 1
        args.merge_repeats = 1
        args.window_arch = args.window_arch or "accurate_small"
        args.window_scale = 6
        args.naive_boxes = (100, 200)
    args.window_arch = args.window_arch or args.arch
    args.dtype = None if args.dtype == "float32" else args.dtype
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")

    peak = MatmulPeak(jnp.bfloat16 if args.dtype else jnp.float32, repeats=1)
    peak.sample()
    scales_result = six_scales(args, peak)
    flops_per_second = scales_result.pop("_flops_per_second")
    peak_flops = peak.sample()
    scales_result["matmul_peak_gflops"] = round(peak_flops / 1e9, 1)
    scales_result["fraction_of_peak"] = round(flops_per_second / peak_flops, 3)
    print(f"  matmul peak  {peak_flops / 1e9:9.1f} GFLOP/s ({args.dtype or 'float32'}): the "
          f"network reaches {scales_result['fraction_of_peak']:.1%} of it")
    windows_result = dense_vs_windows(args)
    merge_result = merge_benchmark(args)
    print(json.dumps({
        "benchmark": "inference",
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "cpus": os.cpu_count(),
        "load": round(load, 1),
        "six_scales_flips": scales_result,
        "dense_vs_windows": windows_result,
        "merge": {key: merge_result[key] for key in (
            "boxes", "greedy_s", "naive_s_extrapolated", "naive_over_greedy", "equal_to_naive",
            "goal_met")},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
