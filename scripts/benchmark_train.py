"""Speed of one training step of the classifier: images/s and MFU, fast and accurate nets.

    python scripts/benchmark_train.py                       # batch 128 on every device present
    python scripts/benchmark_train.py --batch 8 --steps 2   # a 2-core CPU: ~3 min
    python scripts/benchmark_train.py --dtype bfloat16      # GPUs/TPUs: bf16 compute

The step is the training job's own (``overfeat.train.steps.make_train_step``: forward,
backward, SGD with momentum and weight decay, sharded over a mesh of all devices) at the
network's field of view, on random crops already on the device (the input pipeline is
``scripts/benchmark_input.py``'s business).

FLOPs per step come from XLA's cost analysis of the compiled step (summed over devices),
checked against the layer table's count (2 x multiply-adds x 3 for forward and backward).
MFU = achieved FLOP/s / peak FLOP/s of the devices: on CPU the peak is MEASURED in this run
(a large float32 matmul), on GPUs/TPUs it is the vendor's dense peak for the dtype (table
below; the measured matmul is printed beside it). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import overfeat  # noqa: F401  (CPU XLA flags before the backend starts)
from overfeat.architectures import Architecture, Conv, get_architecture
from overfeat.train import config as config_lib
from overfeat.train import loop, optim, sharding, steps

# Dense peak TFLOP/s per device by dtype (vendor figures, no sparsity). Matched on
# jax.Device.device_kind, first substring that fits.
PEAK_TFLOPS = {
    "H200": {"bfloat16": 989.0, "float32": 67.0},
    "H100": {"bfloat16": 989.0, "float32": 67.0},  # SXM; PCIe is ~756 bf16
    "A100": {"bfloat16": 312.0, "float32": 19.5},
    "L4": {"bfloat16": 121.0, "float32": 30.3},
    "V100": {"bfloat16": 125.0, "float32": 15.7},  # fp16 tensor cores
    "TPU v6": {"bfloat16": 918.0, "float32": 918.0},
    "TPU v5p": {"bfloat16": 459.0, "float32": 459.0},
    "TPU v5 lite": {"bfloat16": 197.0, "float32": 197.0},
    "TPU v5e": {"bfloat16": 197.0, "float32": 197.0},
    "TPU v4": {"bfloat16": 275.0, "float32": 275.0},
}


def vendor_peak(device, dtype: str) -> float | None:
    for name, peaks in PEAK_TFLOPS.items():
        if name.lower() in device.device_kind.lower():
            return peaks[dtype] * 1e12
    return None


def measured_matmul_peak(dtype: str) -> float:
    """FLOP/s of a large square matmul on one device: the practical peak."""
    n = 2048 if jax.default_backend() == "cpu" else 16384
    a = jnp.ones((n, n), jnp.dtype(dtype))
    matmul = jax.jit(lambda x, y: x @ y)
    jax.block_until_ready(matmul(a, a))
    best = float("inf")
    for _ in range(3 if jax.default_backend() == "cpu" else 10):
        start = time.perf_counter()
        jax.block_until_ready(matmul(a, a))
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def table_flops_per_image(arch: Architecture, num_classes: int) -> float:
    """2 x multiply-adds of one forward pass at the field of view, times 3 (backward: the
    gradients with respect to inputs and weights)."""
    size, channels, macs = arch.field_of_view, 3, 0
    for layer in arch.trunk:
        if isinstance(layer, Conv):
            size = (size + 2 * layer.padding - layer.kernel) // layer.stride + 1
            macs += size * size * layer.kernel**2 * channels * layer.features
            channels = layer.features
        else:
            size //= layer.window
    fan_in = arch.head_kernel**2 * channels
    for width in (*arch.classifier, num_classes):
        macs += fan_in * width
        fan_in = width
    return 3 * 2 * macs


def benchmark(arch_name: str, batch: int, steps_timed: int, dtype: str, num_classes: int) -> dict:
    config = config_lib.base_config()
    config.arch, config.batch_size, config.num_classes = arch_name, batch, num_classes
    config.model.dtype = dtype
    config_lib.validate(config)
    mesh = sharding.make_mesh()
    task = loop.get_task(config)
    arch = get_architecture(arch_name)
    optimizer = optim.make_optimizer(config, steps_per_epoch=10_000)
    model = task.build_model(config, num_classes)
    graphdef, params, frozen = steps.split_model(model, task.trainable(config))
    state = sharding.replicate(steps.init_state(params, frozen, optimizer, 0), mesh)
    train_step = steps.make_train_step(
        task, graphdef, optimizer, optim.learning_rate_schedule(config, 10_000), mesh
    )
    rng = np.random.default_rng(0)
    size = arch.field_of_view
    local = batch // jax.process_count()
    data = sharding.global_batch(
        {
            "image": rng.integers(0, 256, (local, size, size, 3), dtype=np.uint8),
            "label": rng.integers(0, num_classes, (local,), dtype=np.int32),
        },
        mesh,
    )

    start = time.perf_counter()
    compiled = train_step.lower(state, data, None).compile()
    compile_s = time.perf_counter() - start
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    xla_flops = float(analysis["flops"]) * mesh.devices.size  # per-device program, all devices
    state, _ = train_step(state, data, None)  # warm up
    jax.block_until_ready(state)
    times = []
    for _ in range(steps_timed):
        start = time.perf_counter()
        state, metrics = train_step(state, data, None)
        jax.block_until_ready(metrics["loss"])
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))
    return {
        "arch": arch_name,
        "batch": batch,
        "dtype": dtype,
        "compile_s": round(compile_s, 2),
        "step_s": seconds,
        "images_per_s": batch / seconds,
        "xla_flops_per_step": xla_flops,
        "table_flops_per_step": table_flops_per_image(arch, num_classes) * batch,
        "achieved_tflops": xla_flops / seconds / 1e12,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["fast", "accurate"])
    parser.add_argument("--batch", type=int, default=128, help="global batch (default 128)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (median reported)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--num-classes", type=int, default=1000)
    args = parser.parse_args()

    devices = jax.devices()
    count = len(devices)
    per_device_vendor = vendor_peak(devices[0], args.dtype)
    measured = measured_matmul_peak(args.dtype)
    if jax.default_backend() == "cpu" or per_device_vendor is None:
        peak, peak_source = measured * count, "measured matmul"
    else:
        peak, peak_source = per_device_vendor * count, "vendor dense peak"
    print(
        f"devices: {count} x {devices[0].device_kind} ({jax.default_backend()}); "
        f"matmul {args.dtype}: {measured / 1e12:.3f} TFLOP/s measured per device"
        + (f", {per_device_vendor / 1e12:.0f} vendor" if per_device_vendor else "")
    )
    results = []
    for arch in args.arch:
        row = benchmark(arch, args.batch, args.steps, args.dtype, args.num_classes)
        row["mfu"] = row["achieved_tflops"] * 1e12 / peak
        results.append(row)
        print(
            f"{arch:>9}: batch {row['batch']} {row['dtype']}: {row['step_s'] * 1e3:8.1f} ms/step "
            f"{row['images_per_s']:9.1f} images/s  {row['achieved_tflops']:8.3f} TFLOP/s  "
            f"MFU {100 * row['mfu']:5.1f}%  (XLA {row['xla_flops_per_step'] / 1e9:.1f} "
            f"GFLOP/step, layer table {row['table_flops_per_step'] / 1e9:.1f}; "
            f"compile {row['compile_s']} s)"
        )
    print(
        json.dumps(
            {
                "benchmark": "train_step",
                "backend": jax.default_backend(),
                "device_kind": devices[0].device_kind,
                "devices": count,
                "peak_tflops": peak / 1e12,
                "peak_source": peak_source,
                "measured_matmul_tflops_per_device": measured / 1e12,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
