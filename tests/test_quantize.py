"""The integer network against closed forms and the float network it quantizes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dse import quantize
from dse.architecture import parse_arch
from dse.proxy import DEFAULT_BUDGET
from dse.tasks import load_task
from dse.training import train


@pytest.fixture(scope="module")
def motion():
    return load_task("motion")


@pytest.fixture(scope="module")
def trained(motion):
    """A few networks trained briefly on motion, by (cell, cells)."""
    budget = replace(DEFAULT_BUDGET, epochs=3)
    return {text: train(parse_arch(text, features=6, timesteps=48, classes=6), motion, budget, 0)
            for text in ("lstm:24", "gru:24", "lstm:16,8", "gru:8,16,8")}


def test_tables_are_sigmoid_and_tanh_to_the_last_bit() -> None:
    x = np.linspace(-8, 8, 257)
    assert quantize.SIGMOID_TABLE.tolist() == np.round(32768 / (1 + np.exp(-x))).clip(
        -32768, 32767).astype(int).tolist()
    inputs = np.arange(-32768, 32768, dtype=np.int64)  # every Q3.12 value
    # linear interpolation on a 1/16 grid errs by at most h**2/8 * max|f''|: 4.7e-5 for the
    # sigmoid (|f''| <= 0.096), 3.8e-4 for tanh (0.77), plus rounding to Q0.15
    for table, exact, bound in ((quantize.SIGMOID_TABLE, lambda v: 1 / (1 + np.exp(-v)), 7e-5),
                                (quantize.TANH_TABLE, np.tanh, 4e-4)):
        out = quantize._lookup(table, inputs)
        assert np.all(np.diff(out) >= 0)  # monotone
        assert np.abs(out / 32768 - exact(inputs / 4096)).max() < bound


@pytest.mark.parametrize("real", [1.7e-5, 0.031, 0.75, 1.0, 3.3, 1234.5])
@pytest.mark.parametrize("bits", [15, 31])
def test_requant_multiplier_and_shift(real: float, bits: int) -> None:
    r = quantize.requant_of(real, bits)
    assert 2 ** (bits - 1) <= r.multiplier < 2**bits
    assert r.multiplier * 2.0**-r.shift == pytest.approx(real, rel=2.0 ** -(bits - 1))
    acc = np.array([-(2**20) - 7, -3, 0, 5, 2**20 + 11], np.int64)
    result = quantize._rshift(acc * r.multiplier, r.shift)
    assert np.all(np.abs(result - acc * real) <= 0.5 + np.abs(acc) * real * 2.0 ** -(bits - 2))


def test_rounding_shift_rounds_half_up() -> None:
    values = np.array([-6, -5, -3, -2, -1, 0, 1, 2, 3, 5, 6], np.int64)
    assert quantize._rshift(values, 1).tolist() == [-3, -2, -1, -1, 0, 0, 1, 1, 2, 3, 3]
    assert quantize._rshift(values, 0).tolist() == values.tolist()


def test_input_quantization_rounds_half_away_and_saturates() -> None:
    net = replace(_any_network(), mean=np.zeros(2, np.float32),
                  input_multiplier=np.ones(2, np.float32))
    x = np.array([[0.5, -0.5], [1.49, -2.5], [300.0, -300.0], [np.nan, np.inf]], np.float32)
    assert quantize.quantize_input(net, x).tolist() == [[1, -1], [1, -3], [127, -127],
                                                        [-127, 127]]


def _any_network() -> quantize.IntNetwork:
    from dse.cells import init_network

    net = init_network("gru", 2, (4,), 3, np.random.default_rng(0))
    return quantize.quantize_network(net, "int8", np.random.default_rng(1).normal(size=(8, 5, 2)))


@pytest.mark.parametrize("text", ["lstm:24", "gru:24", "lstm:16,8", "gru:8,16,8"])
def test_integer_logits_follow_the_float_network(motion, trained, text: str) -> None:
    from dse.cells import forward

    network = trained[text].network
    exact, _ = forward(network, motion.X_test)
    spread = np.abs(exact).max()
    errors = {}
    for dtype in ("int8", "int16"):
        q = quantize.quantize_network(network, dtype, motion.X_train)
        logits = quantize.run(q, motion.X_test)
        assert logits.dtype == np.float32
        errors[dtype] = np.median(np.abs(logits - exact)) / spread
        assert np.abs(logits - exact).max() / spread < 0.15
        agree = np.mean(logits.argmax(axis=1) == exact.argmax(axis=1))
        assert agree > 0.95, (dtype, agree)
    # both carry the int8 weights' error; 16-bit activations add less of their own
    assert errors["int16"] < errors["int8"] < 0.01


def test_scales_are_powers_of_two_where_the_kernels_need_them(trained, motion) -> None:
    q = quantize.quantize_network(trained["lstm:16,8"].network, "int8", motion.X_train)
    for layer in q.layers:
        assert 0 <= layer.h_frac <= 15 and 0 <= layer.c_frac <= 15
        assert layer.w_x.dtype == layer.w_h.dtype == np.int8
        assert np.abs(layer.w_x).max() == 127  # each gate's matrix uses its full range
    assert q.layers[0].h_frac == 7  # |h| < 1 in Q0.7
