"""The integer network: post-training quantization as the deployed int kernels do it, and the
one numpy definition of its arithmetic that the exported C must match bit for bit.

Conventions (those of TFLite Micro's and CMSIS-NN's integer LSTM, docs/export.md):

* int8 weights, symmetric, one scale per gate and matrix (input W_x, recurrent W_h);
* activations int8 (dtype ``int8``) or int16 (``int16``, the 16x8 kernels), symmetric; the
  network input has a calibrated scale, each layer's hidden state a power-of-two one;
* gate pre-activations int16 in Q3.12, gate outputs int16 in Q0.15 from 257-entry
  sigmoid/tanh tables with linear interpolation (no libm); the LSTM cell state int16 with
  a calibrated power-of-two scale;
* every gate sum is an int32 accumulator, requantized to Q3.12 by one rounding
  multiply-high (Arm's SMMULR: ``(acc * multiplier + 2**31) >> 32``) of the sum, left-shifted
  where the scale asks for it, and saturated to 16 bits;
* with int8 activations the input and recurrent sums of a gate share one scale, so each gate
  is one sum and one requantization: the layer's input and its hidden state enter the sum
  left-shifted (``x_shift``, ``h_shift``) as int16, and each gate's two weight matrices are
  scaled so that their products meet at that power of two (one of the two gives up less
  than a bit of its range). The GRU's n gate keeps its two sums apart (the reset gate
  multiplies the recurrent one), as every gate does with int16 activations, which have no
  room to shift;
* the quantizer proves that no accumulator can overflow 32 bits (it coarsens a gate's
  weights until the bound holds), so the C needs no 64-bit arithmetic and no overflow check;
* the dense head accumulates in integers and scales to float logits once.

The search scores ``accuracy_quantized`` with this very model (``dse.proxy``), so what a
search ranks is what the exported C computes. Its integer dot products run through float64
matrix products, which are exact here (every partial sum is an integer below 2**53).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.cells import GATES, Network, forward

GATE_FRAC = 12  # gate pre-activations in Q3.12: range [-8, 8)
OUT_FRAC = 15  # gate outputs in Q0.15
ACT_BITS = {"int8": 8, "int16": 16}
ACC_LIMIT = 2**31  # every gate sum (and its left shift) stays strictly below this
MAX_SHIFT = 8  # an int8 activation shifted by up to 8 bits still fits int16
CALIBRATION_WINDOWS = 1024


def _table(function) -> np.ndarray:
    """257 samples of ``function`` on [-8, 8] (steps of 1/16) in Q0.15, as int64."""
    x = np.linspace(-8.0, 8.0, 257)
    return np.clip(np.round(function(x) * 2**OUT_FRAC), -(2**15), 2**15 - 1).astype(np.int64)


SIGMOID_TABLE = _table(lambda x: 1.0 / (1.0 + np.exp(-x)))
TANH_TABLE = _table(np.tanh)


@dataclass(frozen=True)
class Requant:
    """A real multiplier m applied to an int32 sum: ``(sum << shift) * multiplier / 2**32``
    rounded half up, as SMMULR computes it (m = multiplier * 2**(shift - 32))."""

    multiplier: int  # in [0, 2**31)
    shift: int  # left shift of the sum before the multiply, >= 0

    @property
    def real(self) -> float:
        return self.multiplier * 2.0 ** (self.shift - 32)


def requant_of(real: float) -> Requant:
    """``real`` (>= 0) as a multiplier below 2**31 and the smallest left shift that needs.
    The multiplier's rounding moves the result by at most a quarter of a unit for any
    int32 sum, so small multipliers need no right shift of their own."""
    shift = 0
    while round(real * 2.0 ** (32 - shift)) >= 2**31:
        shift += 1
    return Requant(int(round(real * 2.0 ** (32 - shift))), shift)


@dataclass(frozen=True)
class IntLayer:
    """One quantized recurrent layer. Gates in PyTorch order (LSTM i, f, g, o; GRU r, z, n)."""

    w_x: np.ndarray  # (G, C, I) int8
    w_h: np.ndarray  # (G, C, C) int8
    bias: np.ndarray  # (G, C) int64 at the gate sum's scale (a separate gate: the input sum's)
    bias_hn: np.ndarray  # (C,) int64: the GRU n gate's recurrent bias b_hn (zeros for LSTM)
    x_shift: int  # the layer's input enters the gate sums as x << x_shift
    h_shift: int  # the hidden state enters them as h << h_shift
    requant: tuple[Requant, ...]  # per gate: the shared sum's, or a separate gate's input sum's
    requant_h: tuple[Requant | None, ...]  # per gate: a separate gate's recurrent sum's
    h_frac: int  # the hidden state is h_q * 2**-h_frac
    c_frac: int  # LSTM: the cell state is c_q * 2**-c_frac (unused for GRU)
    w_scale_x: tuple[float, ...]  # per gate, for the report
    w_scale_h: tuple[float, ...]

    @property
    def cells(self) -> int:
        return self.w_h.shape[1]

    @property
    def inputs(self) -> int:
        return self.w_x.shape[2]

    def shared(self, gate: int) -> bool:
        """Whether ``gate``'s input and recurrent sums are one sum."""
        return self.requant_h[gate] is None


@dataclass(frozen=True)
class IntNetwork:
    """A quantized network: raw float features in, float logits out."""

    cell: str
    dtype: str
    mean: np.ndarray  # (F,) float32: subtracted from the raw features
    input_multiplier: np.ndarray  # (F,) float32: 1 / (std * input scale)
    layers: tuple[IntLayer, ...]
    w_out: np.ndarray  # (K, C_L) int8
    bias_out: np.ndarray  # (K,) int64
    out_scale: np.float32  # logits = accumulator * out_scale
    input_scale: float

    @property
    def bits(self) -> int:
        return ACT_BITS[self.dtype]


# --- quantization: float network + calibration windows -> IntNetwork ----------------------

HEAD_BIAS_LIMIT = {"int8": 2**30, "int16": 2**46}  # the head sums in int32 / int64


def _full_range_scale(w: np.ndarray) -> float:
    """The scale that maps the largest |w| to 127 (1 for an all-zero matrix)."""
    return float(np.abs(w).max()) / 127 or 1.0


def _int8(w: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8)


def _power_of_two_frac(largest: float, bits: int, cap: int) -> int:
    """Fraction bits f of a power-of-two scale 2**-f whose range covers ``largest`` (to
    within the last step: a hidden state that reaches 0.999 keeps Q0.7, saturating at
    127/128, rather than losing a bit of resolution to Q1.6)."""
    frac = bits - 1 if largest <= 0 else int(np.floor(np.log2(2 ** (bits - 1) / largest)))
    return int(np.clip(frac, 0, cap))


def _bound(parts: list[tuple[np.ndarray, int]], bias: np.ndarray) -> int:
    """The largest |sum| a row can reach: sum over the parts of |w| * the largest |input|,
    plus |bias|, for (weights (C, N), largest input) parts."""
    reach = sum(np.abs(w.astype(np.int64)).sum(axis=1) * top for w, top in parts)
    return int((reach + np.abs(bias)).max())


def _sum_scale(parts: list[tuple[np.ndarray, float, int]], bias: np.ndarray,
               unit: float) -> tuple[list[np.ndarray], np.ndarray, Requant, list[float]]:
    """One gate sum: each (float weights, activation scale per unit, largest input) part
    quantized so that one unit of every product is ``unit``, the float bias at that unit,
    and the requantization to Q3.12; the unit doubles until no sum can overflow 32 bits."""
    while True:
        scales = [unit / per_unit for _, per_unit, _ in parts]
        weights = [_int8(w, scale) for (w, _, _), scale in zip(parts, scales)]
        bias_q = np.round(bias / unit).astype(np.int64)
        requant = requant_of(unit * 2**GATE_FRAC)
        reach = _bound([(w, top) for w, (_, _, top) in zip(weights, parts)], bias_q)
        if reach << requant.shift < ACC_LIMIT:
            return weights, bias_q, requant, scales
        unit *= 2


def quantize_network(net: Network, dtype: str, X_calibration: np.ndarray, *,
                     mean: np.ndarray | None = None, std: np.ndarray | None = None) -> IntNetwork:
    """Quantize ``net`` for ``dtype`` (int8 or int16). ``X_calibration`` (N, T, F) holds
    standardized training windows; ``mean``/``std`` turn raw features into standardized ones
    (zeros and ones: the network reads standardized features, as the search's proxy does)."""
    bits = ACT_BITS[dtype]
    features = X_calibration.shape[2]
    mean = np.zeros(features) if mean is None else mean
    std = np.ones(features) if std is None else std
    step = max(1, len(X_calibration) // CALIBRATION_WINDOWS)
    windows = X_calibration[::step][:CALIBRATION_WINDOWS]
    _, caches = forward(net, windows)
    top = 2 ** (bits - 1) - 1
    input_scale = float(np.abs(windows).max()) / top or 1.0
    x_scale, layers = input_scale, []
    for layer, cache in zip(net.layers, caches):
        h_frac = _power_of_two_frac(float(np.abs(cache.h).max()), bits, 15)
        c_frac = (_power_of_two_frac(float(np.abs(cache.extra).max()), 16, 15)
                  if net.cell == "lstm" else 0)
        layers.append(_quantize_layer(net.cell, dtype, layer, x_scale, h_frac, c_frac))
        x_scale = 2.0**-h_frac
    s_out = _full_range_scale(net.head_weight)
    limit = HEAD_BIAS_LIMIT[dtype]
    bias_out = np.clip(np.round(net.head_bias.astype(np.float64) / (s_out * x_scale)),
                       -limit, limit).astype(np.int64)
    return IntNetwork(
        cell=net.cell, dtype=dtype, mean=mean.astype(np.float32),
        input_multiplier=(1.0 / (std * input_scale)).astype(np.float32), layers=tuple(layers),
        w_out=_int8(net.head_weight, s_out), bias_out=bias_out,
        out_scale=np.float32(s_out * x_scale), input_scale=input_scale)


def _quantize_layer(cell: str, dtype: str, layer, x_scale: float, h_frac: int,
                    c_frac: int) -> IntLayer:
    """One layer's integer weights, biases, shifts and requantizations (module docstring)."""
    bits, gates, cells = ACT_BITS[dtype], GATES[cell], layer.weight_hh.shape[1]
    h_scale = 2.0**-h_frac
    rows = [slice(g * cells, (g + 1) * cells) for g in range(gates)]
    w_x = [layer.weight_ih[r].astype(np.float64) for r in rows]
    w_h = [layer.weight_hh[r].astype(np.float64) for r in rows]
    b_ih = layer.bias_ih.astype(np.float64).reshape(gates, cells)
    b_hh = layer.bias_hh.astype(np.float64).reshape(gates, cells)
    separate = {2} if cell == "gru" else set()  # the n gate: r multiplies its recurrent sum
    shared = [g for g in range(gates) if g not in separate] if dtype == "int8" else []
    need_x = [_full_range_scale(w) * x_scale for w in w_x]  # product units at full range
    need_h = [_full_range_scale(w) * h_scale for w in w_h]
    ratios = [np.log2(need_x[g] / need_h[g]) for g in shared]
    k = int(np.clip(np.round(np.median(ratios)), -MAX_SHIFT, MAX_SHIFT)) if ratios else 0
    x_shift, h_shift = max(k, 0), max(-k, 0)
    x_unit, h_unit = x_scale * 2.0**-x_shift, h_scale * 2.0**-h_shift  # per unit of the sum
    x_top, h_top = 2 ** (bits - 1) << x_shift, 2 ** (bits - 1) << h_shift
    qx, qh, bias, requant, requant_h, scales_x, scales_h = [], [], [], [], [], [], []
    bias_hn = np.zeros(cells, np.int64)
    for g in range(gates):
        b = b_ih[g] + (b_hh[g] if g not in separate else 0.0)
        if g in shared:  # both products meet at the coarser of their full-range units
            unit = max(need_x[g] * 2.0**-x_shift, need_h[g] * 2.0**-h_shift)
            (wx, wh), bq, rq, (sx, sh) = _sum_scale(
                [(w_x[g], x_unit, x_top), (w_h[g], h_unit, h_top)], b, unit)
            rq_h = None
        else:
            (wx,), bq, rq, (sx,) = _sum_scale([(w_x[g], x_unit, x_top)], b,
                                              need_x[g] * 2.0**-x_shift)
            b_rec = b_hh[g] if g in separate else np.zeros(cells)
            (wh,), bq_h, rq_h, (sh,) = _sum_scale([(w_h[g], h_unit, h_top)], b_rec,
                                                  need_h[g] * 2.0**-h_shift)
            if g in separate:
                bias_hn = bq_h
        qx.append(wx)
        qh.append(wh)
        bias.append(bq)
        requant.append(rq)
        requant_h.append(rq_h)
        scales_x.append(sx)
        scales_h.append(sh)
    return IntLayer(
        w_x=np.stack(qx), w_h=np.stack(qh), bias=np.stack(bias), bias_hn=bias_hn,
        x_shift=x_shift, h_shift=h_shift, requant=tuple(requant), requant_h=tuple(requant_h),
        h_frac=h_frac, c_frac=c_frac, w_scale_x=tuple(scales_x), w_scale_h=tuple(scales_h))


# --- the integer arithmetic (what the C does, one operation for one) -----------------------


def _rshift(value: np.ndarray, shift: int) -> np.ndarray:
    """Rounding arithmetic right shift: round half up of value / 2**shift (shift >= 0)."""
    return (value + (1 << (shift - 1))) >> shift if shift > 0 else value


def _saturate(value: np.ndarray, bits: int) -> np.ndarray:
    return np.clip(value, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def _requantize(acc: np.ndarray, r: Requant) -> np.ndarray:
    """SMMULR of the left-shifted int32 sum: round half up of (acc << shift) * m / 2**32.
    int64 in (|acc << shift| < 2**31 by construction), int64 out."""
    return ((acc << r.shift) * r.multiplier + (1 << 31)) >> 32


_LOWS_AND_SLOPES = {id(t): (t[:-1].astype(np.int32), np.diff(t).astype(np.int32))
                    for t in (SIGMOID_TABLE, TANH_TABLE)}


def _lookup(table: np.ndarray, x_q12: np.ndarray) -> np.ndarray:
    """Sigmoid or tanh of Q3.12 inputs as Q0.15: table entry plus linear interpolation,
    low + ((high - low) * frac + 128) >> 8."""
    lows, slopes = _LOWS_AND_SLOPES[id(table)]
    u = x_q12.astype(np.int32) + 32768  # 0 .. 65535
    index, frac = u >> 8, u & 255
    return np.take(lows, index) + ((np.take(slopes, index) * frac + 128) >> 8)


def _products(x_q: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact integer products x_q (B, I) x w (G, C, I) -> int64 (B, G, C), through float64
    BLAS: int8 x int8 (or int16 x int8) sums stay far below 2**53, so every one is exact."""
    G, C, I = w.shape
    flat = x_q.astype(np.float64) @ w.reshape(G * C, I).T.astype(np.float64)
    return flat.astype(np.int64).reshape(-1, G, C)


def _to_q15(h_q: np.ndarray, h_frac: int) -> np.ndarray:
    return h_q << (OUT_FRAC - h_frac)


def _sums(layer: IntLayer, x_q: np.ndarray, h_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gate sums (B, G, C) of the shifted input (with the bias) and of the shifted
    hidden state: what the C's int32 accumulators hold before requantization."""
    return (_products(x_q << layer.x_shift, layer.w_x) + layer.bias,
            _products(h_q << layer.h_shift, layer.w_h))


def _requantized(layer: IntLayer, sum_x: np.ndarray,
                 sum_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per gate in Q3.12 (not yet saturated): a shared gate's one requantized sum (its
    recurrent part 0), a separate gate's input and recurrent sums requantized each."""
    part_x, part_h = np.empty_like(sum_x), np.zeros_like(sum_h)
    for g, (r, r_h) in enumerate(zip(layer.requant, layer.requant_h)):
        if r_h is None:
            part_x[:, g] = _requantize(sum_x[:, g] + sum_h[:, g], r)
        else:
            part_x[:, g] = _requantize(sum_x[:, g], r)
            part_h[:, g] = _requantize(sum_h[:, g], r_h)
    return part_x, part_h


def _lstm_step(layer: IntLayer, x_q: np.ndarray, h_q: np.ndarray, c_q: np.ndarray, bits: int):
    part_x, part_h = _requantized(layer, *_sums(layer, x_q, h_q))  # (B, 4, C) each
    pre = _saturate(part_x + part_h, 16)  # (B, 4, C) Q3.12
    i, f, o = _lookup(SIGMOID_TABLE, pre[:, [0, 1, 3]]).transpose(1, 0, 2)  # (B, C) Q0.15 each
    g = _lookup(TANH_TABLE, pre[:, 2])  # (B, C) Q0.15
    c_q = _saturate(_rshift(f * c_q, OUT_FRAC) + _rshift(i * g, 2 * OUT_FRAC - layer.c_frac), 16)
    if layer.c_frac >= GATE_FRAC:
        c_q12 = _rshift(c_q, layer.c_frac - GATE_FRAC)
    else:
        c_q12 = _saturate(c_q << (GATE_FRAC - layer.c_frac), 16)
    h_q = _saturate(_rshift(o * _lookup(TANH_TABLE, c_q12), 2 * OUT_FRAC - layer.h_frac), bits)
    return h_q, c_q


def _gru_step(layer: IntLayer, x_q: np.ndarray, h_q: np.ndarray, bits: int):
    sum_x, sum_h = _sums(layer, x_q, h_q)  # (B, 3, C) each
    sum_h[:, 2] += layer.bias_hn
    part_x, part_h = _requantized(layer, sum_x, sum_h)  # (B, 3, C) each
    r, z = _lookup(SIGMOID_TABLE, _saturate(part_x[:, :2] + part_h[:, :2], 16)).transpose(
        1, 0, 2)  # (B, C) Q0.15 each
    n_pre = _saturate(part_x[:, 2] + _rshift(r * _saturate(part_h[:, 2], 16), OUT_FRAC), 16)
    n = _lookup(TANH_TABLE, n_pre)  # (B, C) Q0.15
    h15 = n + _rshift(z * (_to_q15(h_q, layer.h_frac) - n), OUT_FRAC)  # z h + (1 - z) n
    return _saturate(_rshift(h15, OUT_FRAC - layer.h_frac), bits)


def quantize_input(net: IntNetwork, x: np.ndarray) -> np.ndarray:
    """Raw float32 features (..., F) -> integers, as the C does it: (x - mean) * multiplier
    in float32, clamped (NaN to the lowest value), rounded half away from zero."""
    top = np.float32(2 ** (net.bits - 1) - 1)
    scaled = (x.astype(np.float32) - net.mean) * net.input_multiplier
    scaled = np.where(scaled >= -top, scaled, -top)  # also NaN -> -top
    scaled = np.minimum(scaled, top)
    rounded = scaled + np.where(scaled >= 0, np.float32(0.5), np.float32(-0.5))
    return np.trunc(rounded).astype(np.int64)


def run(net: IntNetwork, X: np.ndarray) -> np.ndarray:
    """Float32 logits (B, K) of the integer network for raw windows X (B, T, F)."""
    bits = net.bits
    B, T, _ = X.shape
    h = [np.zeros((B, layer.cells), np.int32) for layer in net.layers]
    c = [np.zeros((B, layer.cells), np.int32) for layer in net.layers]
    x_all = quantize_input(net, X)  # (B, T, F)
    for t in range(T):
        x = x_all[:, t]
        for k, layer in enumerate(net.layers):
            if net.cell == "lstm":
                h[k], c[k] = _lstm_step(layer, x, h[k], c[k], bits)
            else:
                h[k] = _gru_step(layer, x, h[k], bits)
            x = h[k]
    acc = _products(x, net.w_out[None])[:, 0] + net.bias_out  # (B, K)
    return acc.astype(np.float32) * net.out_scale


def accuracy(net: IntNetwork, X: np.ndarray, y: np.ndarray, batch: int = 1024) -> float:
    """Test accuracy of the integer network (arg-max of the logits, first maximum wins)."""
    correct = 0
    for begin in range(0, len(y), batch):
        logits = run(net, X[begin: begin + batch])
        correct += int((logits.argmax(axis=1) == y[begin: begin + batch]).sum())
    return correct / len(y)
