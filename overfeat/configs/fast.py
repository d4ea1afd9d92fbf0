"""The fast network's classifier on ImageNet, as in section 3.1 and Table 1.

    overfeat train --config configs/fast.py --workdir runs/fast
    overfeat train --config configs/fast.py:bf16 --workdir runs/fast   # bf16 compute

Needs the prepared ``imagenet2012`` TFDS dataset (``overfeat data prepare imagenet2012``).
Expected cost: 90 epochs of 1.28M images = 900k steps of 128 crops of 231x231; 5.6 GFLOPs
forward per crop (Table 4's 2.8G multiply-adds), x3 with the backward pass: 1.9e18 FLOPs in
all, about 12 minutes of compute on 8 H100s at 35% MFU in bf16, so the job is bound by
decoding 115M JPEGs (about 1 hour with ~80 cores at 400 images/s each: input.workers).
"""

from overfeat.train.config import base_config


def get_config(arg=None):
    config = base_config()
    config.task = "classify"
    config.arch = "fast"
    config.dataset = "imagenet2012"
    config.batch_size = 128
    config.num_epochs = 90.0
    config.input.resize_size = 256
    config.input.crop_size = 231
    config.input.workers = 8
    config.model.init = "normal"
    config.model.init_std = 0.01
    config.model.dropout = 0.5
    config.checkpoint.every_steps = 5000
    config.eval_every = 10000
    config.eval_batches = 100
    if arg == "bf16":
        config.model.dtype = "bfloat16"
    elif arg not in (None, ""):
        raise ValueError(f"configs/fast.py: unknown variant {arg!r} (known: bf16)")
    return config
