"""Section 3.1's optimizer: SGD, momentum 0.6, l2 decay 1e-5 on kernels, lr halved at epochs."""

import jax.numpy as jnp
import numpy as np
import optax

from overfeat.train import optim
from overfeat.train.config import base_config


def test_schedule_halves_after_each_decay_epoch():
    config = base_config()
    schedule = optim.learning_rate_schedule(config, steps_per_epoch=10)
    # Epoch e covers steps 10e .. 10e + 9; the rate drops after epochs 30, 50, 60, 70, 80.
    expected = {
        0: 0.05,
        299: 0.05,
        300: 0.025,
        499: 0.025,
        500: 0.0125,
        600: 0.00625,
        700: 0.003125,
        800: 0.0015625,
        899: 0.0015625,
    }
    for step, rate in expected.items():
        np.testing.assert_allclose(float(schedule(step)), rate, rtol=1e-6, err_msg=f"step {step}")


def test_warmup_ramps_linearly_then_follows_the_schedule():
    config = base_config()
    config.optimizer.warmup_epochs = 1.0
    schedule = optim.learning_rate_schedule(config, steps_per_epoch=10)
    np.testing.assert_allclose(
        [float(schedule(s)) for s in (0, 5, 10, 299, 300)],
        [0.005, 0.005 + 0.5 * 0.045, 0.05, 0.05, 0.025],
        rtol=1e-6,
    )


def test_two_steps_match_the_update_rule_by_hand():
    config = base_config()
    tx = optim.make_optimizer(config, steps_per_epoch=1000)
    params = {"conv": {"kernel": jnp.full((1, 1, 1, 2), 2.0), "bias": jnp.full((2,), 3.0)}}
    grads = {"conv": {"kernel": jnp.full((1, 1, 1, 2), 0.5), "bias": jnp.full((2,), 0.25)}}
    state = tx.init(params)
    lr, m, wd = 0.05, 0.6, 1e-5
    w, b, vw, vb = 2.0, 3.0, 0.0, 0.0
    for _ in range(2):
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        vw = m * vw + (0.5 + wd * w)  # decay on the kernel
        vb = m * vb + 0.25  # none on the bias
        w, b = w - lr * vw, b - lr * vb
    np.testing.assert_allclose(np.asarray(params["conv"]["kernel"]).ravel(), [w, w], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(params["conv"]["bias"]), [b, b], rtol=1e-6)
