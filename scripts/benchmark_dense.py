"""Speed of dense application: the network at its view, six scales with flips at fine stride.

    python scripts/benchmark_dense.py                 # accurate net, ~1 min on a 2-core CPU
    python scripts/benchmark_dense.py --arch fast --no-xla-compare

Prints, in one run: the machine's float32 matmul peak; seconds and achieved GFLOP/s (FLOPs
from XLA's cost analysis) for one image at the field of view and for Table 5's six scales
with horizontal flips at fine stride; the fraction of the peak reached; the fused fine-stride
pass against the per-offset reference as a ratio; and (CPU) our XLA flags against XLA's
defaults, run side by side in a child process. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
from flax import nnx

import overfeat  # sets the CPU XLA flags before JAX starts its backend
from overfeat import dense
from overfeat.architectures import Architecture

# Table 5: the accurate net's six input sizes.
TABLE5 = ((245, 245), (281, 317), (317, 389), (389, 461), (425, 497), (461, 569))


def six_scale_sizes(arch: Architecture) -> list[tuple[int, int]]:
    """Table 5's sizes, rescaled to another net's field of view and snapped to its grid."""
    ratio = arch.field_of_view / 221
    return [tuple(arch.snap_size(side * ratio) for side in size) for size in TABLE5]


def best_seconds(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def flops_of(fn, *args) -> float:
    analysis = fn.lower(*args).compile().cost_analysis()
    if isinstance(analysis, list):  # older jax returns one dict per device
        analysis = analysis[0]
    return float(analysis["flops"])


def matmul_peak(repeats: int) -> float:
    """Achieved float32 GFLOP/s of a large square matmul: the machine's practical peak."""
    n = 4096 if jax.default_backend() == "cpu" else 16384
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    matmul = jax.jit(lambda x: x @ x)
    return 2 * n**3 / best_seconds(matmul, a, repeats=repeats) / 1e9


def forward_fn(model, stride: str, impl: str):
    graphdef, state = nnx.split(model)

    @jax.jit
    def forward(state, images):
        return dense.dense_outputs(nnx.merge(graphdef, state), images, stride=stride, impl=impl)[
            "logits"
        ]

    return lambda images: forward(state, images), forward, state


def measure(model, sizes, *, stride, impl, repeats) -> tuple[float, float]:
    """Seconds and FLOPs for one image at each size with its flip (a batch of 2 per size)."""
    seconds = flops = 0.0
    for height, width in sizes:
        images = jax.random.uniform(jax.random.key(height), (1, height, width, 3)) * 255
        batch = jnp.concatenate([images, images[:, :, ::-1]])  # the image and its flip
        run, compiled, state = forward_fn(model, stride, impl)
        seconds += best_seconds(run, batch, repeats=repeats)
        flops += flops_of(compiled, state, batch)
    return seconds, flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="accurate")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-xla-compare",
        action="store_true",
        help="skip the child run with XLA's default CPU flags",
    )
    parser.add_argument("--six-scales-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    model = overfeat.create_model(args.arch, num_classes=1000)
    sizes = six_scale_sizes(model.arch)
    if args.six_scales_only:  # the child process of the XLA comparison
        seconds, flops = measure(model, sizes, stride="fine", impl="fused", repeats=args.repeats)
        print(json.dumps({"seconds": seconds, "flops": flops}))
        return

    peak = matmul_peak(args.repeats)
    view = model.arch.field_of_view
    single = jax.random.uniform(jax.random.key(1), (1, view, view, 3)) * 255
    run, compiled, state = forward_fn(model, "coarse", "fused")
    view_seconds = best_seconds(run, single, repeats=args.repeats)
    view_flops = flops_of(compiled, state, single)

    fused_s, fused_flops = measure(model, sizes, stride="fine", impl="fused", repeats=args.repeats)
    ref_s, _ = measure(model, sizes, stride="fine", impl="reference", repeats=args.repeats)

    result = {
        "arch": args.arch,
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "matmul_peak_gflops": round(peak, 1),
        "view_size": view,
        "view_seconds": round(view_seconds, 4),
        "view_gflops": round(view_flops / view_seconds / 1e9, 1),
        "six_scales": ["x".join(map(str, s)) for s in sizes],
        "six_scales_flips_tflop": round(fused_flops / 1e12, 4),
        "six_scales_flips_seconds": round(fused_s, 3),
        "six_scales_flips_gflops": round(fused_flops / fused_s / 1e9, 1),
        "fraction_of_peak": round(fused_flops / fused_s / 1e9 / peak, 3),
        "reference_fine_seconds": round(ref_s, 3),
        "fused_speedup_vs_reference": round(ref_s / fused_s, 2),
    }
    print(f"matmul peak (float32)        {peak:8.1f} GFLOP/s")
    print(
        f"{args.arch} {view}x{view}            {view_seconds:8.4f} s  "
        f"{result['view_gflops']:8.1f} GFLOP/s"
    )
    print(
        f"six scales + flips, fine     {fused_s:8.3f} s  {result['six_scales_flips_gflops']:8.1f}"
        f" GFLOP/s  {fused_flops / 1e12:.3f} TFLOP  {result['fraction_of_peak']:.1%} of peak"
    )
    print(f"  per-offset reference       {ref_s:8.3f} s  (fused is {ref_s / fused_s:.2f}x faster)")

    if jax.default_backend() == "cpu" and not args.no_xla_compare:
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        env["OVERFEAT_XLA_DEFAULTS"] = "0"
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--arch",
                args.arch,
                "--repeats",
                str(args.repeats),
                "--six-scales-only",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        default_s = json.loads(child.stdout.strip().splitlines()[-1])["seconds"]
        result["xla_default_flags_seconds"] = round(default_s, 3)
        result["speedup_vs_xla_default_flags"] = round(default_s / fused_s, 2)
        print(
            f"  with XLA's default flags   {default_s:8.3f} s  "
            f"(ours is {default_s / fused_s:.2f}x faster)"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
