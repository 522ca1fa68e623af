"""The integer network against closed forms and the float network it quantizes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from dse import quantize
from dse.architecture import parse_arch
from dse.proxy import DEFAULT_BUDGET
from dse.training import train


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


@pytest.mark.parametrize("real", [1.7e-9, 1.7e-5, 0.031, 0.49999, 0.75, 1.0, 3.3, 1234.5])
def test_requantization_is_one_rounding_multiply_high(real: float) -> None:
    """SMMULR of the left-shifted sum: within 3/4 of a unit of sum * real for every int32 sum
    the shift allows, with the smallest shift that keeps the multiplier below 2**31."""
    r = quantize.requant_of(real)
    assert 0 <= r.multiplier < 2**31
    assert r.shift == max(0, int(np.floor(np.log2(real))) + 1 + (real * 2 ** (32 - (
        max(0, int(np.floor(np.log2(real))) + 1))) >= 2**31 - 0.5))
    top = 2 ** (31 - r.shift) - 1  # the largest |sum| the quantizer lets through
    acc = np.array([-top, -(2**20) - 7, -3, -1, 0, 1, 5, 2**20 + 11, top], np.int64)
    result = quantize._requantize(acc, r)
    assert np.all(np.abs(result - acc * real) <= 0.75)
    # the C: (int32)(((int64)(sum * 2^shift) * multiplier + 2^31) >> 32), here by Python ints
    assert result.tolist() == [((int(a) << r.shift) * r.multiplier + 2**31) >> 32 for a in acc]


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
        worst = np.abs(logits - exact).max(axis=1) / spread  # (N,) each window's largest
        assert np.percentile(worst, 99) < 0.06 and worst.max() < 0.2
        agree = np.mean(logits.argmax(axis=1) == exact.argmax(axis=1))
        assert agree > 0.95, (dtype, agree)
    # both carry the int8 weights' error; 16-bit activations add less of their own
    assert errors["int16"] < errors["int8"] < 0.01


def test_scales_are_powers_of_two_where_the_kernels_need_them(trained, motion) -> None:
    q = quantize.quantize_network(trained["lstm:16,8"].network, "int8", motion.X_train)
    for layer in q.layers:
        assert 0 <= layer.h_frac <= 15 and 0 <= layer.c_frac <= 15
        assert layer.w_x.dtype == layer.w_h.dtype == np.int8
    assert q.layers[0].h_frac == 7  # |h| < 1 in Q0.7


@pytest.mark.parametrize("text", ["lstm:24", "gru:24", "lstm:16,8", "gru:8,16,8"])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_each_gate_is_one_sum_where_its_parts_can_share_a_scale(trained, motion, text: str,
                                                                dtype: str) -> None:
    """int8: the input and recurrent products of a gate meet at one unit (a power of two
    apart before the shifts), one of the two matrices at its full range and the other
    within a factor 2 of it; the GRU's n gate and every int16 gate keep two sums, each
    matrix at full range."""
    q = quantize.quantize_network(trained[text].network, dtype, motion.X_train)
    x_scale = q.input_scale
    for layer in q.layers:
        h_scale = 2.0**-layer.h_frac
        assert (layer.x_shift, layer.h_shift) == (0, 0) or dtype == "int8"
        for g in range(len(layer.requant)):
            full = [int(np.abs(layer.w_x[g]).max()), int(np.abs(layer.w_h[g]).max())]
            shared = dtype == "int8" and not (text.startswith("gru") and g == 2)
            assert layer.shared(g) == shared
            if shared:
                unit_x = layer.w_scale_x[g] * x_scale * 2.0**-layer.x_shift
                unit_h = layer.w_scale_h[g] * h_scale * 2.0**-layer.h_shift
                assert unit_x == pytest.approx(unit_h, rel=1e-12)
                assert max(full) == 127 and min(full) >= 63
            else:
                assert full == [127, 127]
        x_scale = h_scale


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_no_sum_can_overflow_32_bits_even_with_huge_weights(dtype: str) -> None:
    """The quantizer's bound, worst case over every input, holds with weights and biases far
    outside a trained network's; the integer model still follows the float one."""
    from dse.cells import forward, init_network

    rng = np.random.default_rng(3)
    net = init_network("gru", 4, (600, 5), 3, rng)
    net.layers[0].weight_hh *= 400.0  # every sum at its widest
    net.layers[0].bias_ih[:] = 1e4
    windows = rng.normal(size=(16, 6, 4))
    q = quantize.quantize_network(net, dtype, windows)
    bits = quantize.ACT_BITS[dtype]
    for layer in q.layers:
        x_top, h_top = 2 ** (bits - 1) << layer.x_shift, 2 ** (bits - 1) << layer.h_shift
        reach_x = np.abs(layer.w_x.astype(np.int64)).sum(axis=2) * x_top + np.abs(layer.bias)
        reach_h = np.abs(layer.w_h.astype(np.int64)).sum(axis=2) * h_top
        reach_h[2] += np.abs(layer.bias_hn)
        for g, (r, r_h) in enumerate(zip(layer.requant, layer.requant_h)):
            if r_h is None:
                assert int((reach_x[g] + reach_h[g]).max()) << r.shift < 2**31
            else:
                assert int(reach_x[g].max()) << r.shift < 2**31
                assert int(reach_h[g].max()) << r_h.shift < 2**31
    exact, _ = forward(net, windows)
    logits = quantize.run(q, windows.astype(np.float32))
    assert np.all(np.isfinite(logits)) and logits.shape == exact.shape
