"""The paper's optimizer (section 3.1): SGD with momentum, l2 weight decay, a learning rate
halved after given epochs. Adam (same decay and schedule) is an option for the small nets'
short CPU runs, which plain SGD starts too slowly (NOTES.md, "Training")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax


def learning_rate_schedule(
    config: ml_collections.ConfigDict, steps_per_epoch: int
) -> optax.Schedule:
    """Constant ``learning_rate``, times ``decay_factor`` after each of ``decay_epochs``, with an
    optional linear warmup over ``warmup_epochs`` (the paper has none)."""
    opt = config.optimizer
    boundaries = {
        int(round(epoch * steps_per_epoch)): opt.decay_factor for epoch in opt.decay_epochs
    }
    schedule = optax.piecewise_constant_schedule(opt.learning_rate, boundaries)
    warmup_steps = int(round(opt.warmup_epochs * steps_per_epoch))
    if warmup_steps <= 0:
        return schedule
    # Not optax.join_schedules: it restarts the second schedule's step count at the boundary,
    # which would shift the decay epochs by the warmup.
    warmup = optax.linear_schedule(
        opt.learning_rate / warmup_steps, opt.learning_rate, warmup_steps
    )
    return lambda step: jnp.where(step < warmup_steps, warmup(step), schedule(step))


def decay_mask(params):
    """Weight decay applies to kernels (``ndim > 1``), not to biases, as in Krizhevsky et al."""
    return jax.tree.map(lambda x: x.ndim > 1, params)


def make_optimizer(
    config: ml_collections.ConfigDict, steps_per_epoch: int
) -> optax.GradientTransformation:
    """``g + wd * w`` on kernels, then heavy-ball momentum: ``v = g + m v``, ``w -= lr v``."""
    opt = config.optimizer
    parts = []
    if opt.clip_grad_norm > 0:
        parts.append(optax.clip_by_global_norm(opt.clip_grad_norm))
    if opt.weight_decay > 0:
        parts.append(optax.add_decayed_weights(opt.weight_decay, mask=decay_mask))
    schedule = learning_rate_schedule(config, steps_per_epoch)
    if opt.name == "adam":  # not the paper's: for the small nets' short runs (configs/synthetic.py)
        parts.append(optax.adam(schedule))
    else:
        parts.append(optax.sgd(schedule, momentum=opt.momentum or None, nesterov=opt.nesterov))
    return optax.chain(*parts)
