"""The accurate network's classifier on ImageNet, as in section 3.1 and Table 3; and its box
regressor (section 4.2) on the ILSVRC2012 localization boxes.

    overfeat train --config configs/accurate.py --workdir runs/accurate
    overfeat train --config configs/accurate.py:bf16 --workdir runs/accurate
    overfeat train --config configs/accurate.py:localize --workdir runs/accurate_loc \
        --config.model.init_from=runs/accurate

Needs the prepared ``imagenet2012`` TFDS dataset (``overfeat data prepare imagenet2012``;
``ilsvrc2012_loc`` for the regressor). Expected cost (classifier): 90 epochs = 900k steps of
128 crops of 221x221; 10.7 GFLOPs forward per crop (Table 4's 5.4G multiply-adds), x3 with
the backward pass: 3.7e18 FLOPs, about 22 minutes of compute on 8 H100s at 35% MFU in bf16;
decoding the 115M JPEGs (about 1 hour on ~80 cores) bounds it. The regressor trains only
its head on frozen features, at larger images: 10 epochs of the ~0.5M boxed images.
"""

from overfeat.train.config import base_config


def get_config(arg=None):
    config = base_config()
    config.task = "classify"
    config.arch = "accurate"
    config.dataset = "imagenet2012"
    config.batch_size = 128
    config.num_epochs = 90.0
    config.input.resize_size = 256
    config.input.crop_size = 221
    config.input.workers = 8
    config.model.init = "normal"
    config.model.init_std = 0.01
    config.model.dropout = 0.5
    config.checkpoint.every_steps = 5000
    config.eval_every = 10000
    config.eval_batches = 100
    if arg == "bf16":
        config.model.dtype = "bfloat16"
    elif arg == "localize":
        config.task = "localize"
        config.dataset = "ilsvrc2012_loc"
        config.model.regressor = "shared"  # section 4.4: shared beat per-class (31.3% vs 44.1%)
        config.model.init_from = "runs/accurate"
        # Training scales: the six inference scales of the paper's Table 5 are 245..461 on
        # the short side; a square of each of four of them, snapped to the fine stride.
        config.regressor.scales = (245, 281, 317, 389)
        config.input.image_size = 389
        config.num_epochs = 10.0
        config.optimizer.decay_epochs = (5.0, 8.0)
        config.eval_every = 5000
    elif arg not in (None, ""):
        raise ValueError(f"configs/accurate.py: unknown variant {arg!r} (known: bf16, localize)")
    return config
