"""The integer network: post-training quantization as the deployed int kernels do it, and the
one numpy definition of its arithmetic that the exported C must match bit for bit.

Conventions (those of TFLite Micro's and CMSIS-NN's integer LSTM, docs/export.md):

* int8 weights, symmetric, one scale per gate and matrix (input W_x, recurrent W_h);
* activations int8 (dtype ``int8``) or int16 (``int16``, the 16x8 kernels), symmetric; the
  network input has a calibrated scale, each layer's hidden state a power-of-two one;
* gate pre-activations int16 in Q3.12 (the input and recurrent products are requantized to
  it separately, then added with saturation), gate outputs int16 in Q0.15 from 257-entry
  sigmoid/tanh tables with linear interpolation (no libm);
* the LSTM cell state int16 with a calibrated power-of-two scale;
* requantization by an integer multiplier and a rounding right shift (31-bit multipliers on
  int32 accumulators for int8, 15-bit on int64 accumulators for int16);
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
MULTIPLIER_BITS = {"int8": 31, "int16": 15}  # int32 x 31 bits and int48 x 15 bits fit int64
BIAS_LIMIT = {"int8": 2**30, "int16": 2**46}  # headroom: bias + products never overflow
CALIBRATION_WINDOWS = 1024


def _table(function) -> np.ndarray:
    """257 samples of ``function`` on [-8, 8] (steps of 1/16) in Q0.15, as int64."""
    x = np.linspace(-8.0, 8.0, 257)
    return np.clip(np.round(function(x) * 2**OUT_FRAC), -(2**15), 2**15 - 1).astype(np.int64)


SIGMOID_TABLE = _table(lambda x: 1.0 / (1.0 + np.exp(-x)))
TANH_TABLE = _table(np.tanh)


@dataclass(frozen=True)
class Requant:
    """A real multiplier M as ``multiplier * 2**-shift``: x -> round(x * M)."""

    multiplier: int
    shift: int


def requant_of(real: float, bits: int) -> Requant:
    """``real`` (> 0) with a ``bits``-bit multiplier in [2**(bits-1), 2**bits)."""
    if not real > 0:
        return Requant(0, 1)
    exponent = int(np.floor(np.log2(real)))
    shift = bits - 1 - exponent
    multiplier = int(round(real * 2.0**shift))
    if multiplier == 2**bits:  # rounding up to the next power of two
        multiplier, shift = multiplier // 2, shift - 1
    if not 1 <= shift <= 62:
        raise ValueError(f"multiplier {real:g} is out of the representable range")
    return Requant(multiplier, shift)


@dataclass(frozen=True)
class IntLayer:
    """One quantized recurrent layer. Gates in PyTorch order (LSTM i, f, g, o; GRU r, z, n)."""

    w_x: np.ndarray  # (G, C, I) int8
    w_h: np.ndarray  # (G, C, C) int8
    bias_x: np.ndarray  # (G, C) int64, at the input product's scale; GRU n: b_in only
    bias_h: np.ndarray  # (C,) int64: the GRU n gate's recurrent bias b_hn (zeros for LSTM)
    requant_x: tuple[Requant, ...]  # per gate: input product -> Q3.12
    requant_h: tuple[Requant, ...]  # per gate: recurrent product -> Q3.12
    h_frac: int  # the hidden state is h_q * 2**-h_frac
    c_frac: int  # LSTM: the cell state is c_q * 2**-c_frac (unused for GRU)
    w_scale_x: tuple[float, ...]  # per gate, for the report
    w_scale_h: tuple[float, ...]

    @property
    def cells(self) -> int:
        return self.w_h.shape[1]


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


def _weights(w: np.ndarray) -> tuple[np.ndarray, float]:
    scale = float(np.abs(w).max()) / 127 or 1.0
    return np.clip(np.round(w / scale), -127, 127).astype(np.int8), scale


def _power_of_two_frac(largest: float, bits: int, cap: int) -> int:
    """Fraction bits f of a power-of-two scale 2**-f whose range covers ``largest`` (to
    within the last step: a hidden state that reaches 0.999 keeps Q0.7, saturating at
    127/128, rather than losing a bit of resolution to Q1.6)."""
    frac = bits - 1 if largest <= 0 else int(np.floor(np.log2(2 ** (bits - 1) / largest)))
    return int(np.clip(frac, 0, cap))


def quantize_network(net: Network, dtype: str, X_calibration: np.ndarray, *,
                     mean: np.ndarray | None = None, std: np.ndarray | None = None) -> IntNetwork:
    """Quantize ``net`` for ``dtype`` (int8 or int16). ``X_calibration`` (N, T, F) holds
    standardized training windows; ``mean``/``std`` turn raw features into standardized ones
    (zeros and ones: the network reads standardized features, as the search's proxy does)."""
    bits, m_bits = ACT_BITS[dtype], MULTIPLIER_BITS[dtype]
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
        gates, cells = GATES[net.cell], layer.weight_hh.shape[1]
        h_frac = _power_of_two_frac(float(np.abs(cache.h).max()), bits, 15)
        c_frac = (_power_of_two_frac(float(np.abs(cache.extra).max()), 16, 15)
                  if net.cell == "lstm" else 0)
        h_scale = 2.0**-h_frac
        w_x, w_h, scales_x, scales_h = [], [], [], []
        for g in range(gates):
            rows = slice(g * cells, (g + 1) * cells)
            qx, sx = _weights(layer.weight_ih[rows])
            qh, sh = _weights(layer.weight_hh[rows])
            w_x.append(qx)
            w_h.append(qh)
            scales_x.append(sx)
            scales_h.append(sh)
        b_ih = layer.bias_ih.astype(np.float64).reshape(gates, cells)
        b_hh = layer.bias_hh.astype(np.float64).reshape(gates, cells)
        folded = b_ih + b_hh if net.cell == "lstm" else np.concatenate([b_ih[:2] + b_hh[:2],
                                                                        b_ih[2:]])
        limit = BIAS_LIMIT[dtype]
        bias_x = np.clip(np.round(folded / (np.array(scales_x)[:, None] * x_scale)),
                         -limit, limit).astype(np.int64)
        bias_h = (np.clip(np.round(b_hh[2] / (scales_h[2] * h_scale)), -limit, limit)
                  .astype(np.int64) if net.cell == "gru" else np.zeros(cells, np.int64))
        layers.append(IntLayer(
            w_x=np.stack(w_x), w_h=np.stack(w_h), bias_x=bias_x, bias_h=bias_h,
            requant_x=tuple(requant_of(s * x_scale * 2**GATE_FRAC, m_bits) for s in scales_x),
            requant_h=tuple(requant_of(s * h_scale * 2**GATE_FRAC, m_bits) for s in scales_h),
            h_frac=h_frac, c_frac=c_frac, w_scale_x=tuple(scales_x), w_scale_h=tuple(scales_h)))
        x_scale = h_scale
    w_out, s_out = _weights(net.head_weight)
    bias_out = np.clip(np.round(net.head_bias.astype(np.float64) / (s_out * x_scale)),
                       -BIAS_LIMIT[dtype], BIAS_LIMIT[dtype]).astype(np.int64)
    return IntNetwork(
        cell=net.cell, dtype=dtype, mean=mean.astype(np.float32),
        input_multiplier=(1.0 / (std * input_scale)).astype(np.float32), layers=tuple(layers),
        w_out=w_out, bias_out=bias_out, out_scale=np.float32(s_out * x_scale),
        input_scale=input_scale)


# --- the integer arithmetic (what the C does, one operation for one) -----------------------


def _rshift(value: np.ndarray, shift: int) -> np.ndarray:
    """Rounding arithmetic right shift: round half up of value / 2**shift (shift >= 0)."""
    return (value + (1 << (shift - 1))) >> shift if shift > 0 else value


def _saturate(value: np.ndarray, bits: int) -> np.ndarray:
    return np.clip(value, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def _requantize(acc: np.ndarray, requants: tuple[Requant, ...]) -> np.ndarray:
    """Per gate g: acc[:, g] * multiplier, rounding-shifted right; int64 (B, G, C) in,
    int32 out (a requantized value is a Q3.12 number plus headroom)."""
    out = np.empty(acc.shape, np.int32)
    for g, r in enumerate(requants):
        out[:, g] = _rshift(acc[:, g] * r.multiplier, r.shift)
    return out


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


def _lstm_step(layer: IntLayer, x_q: np.ndarray, h_q: np.ndarray, c_q: np.ndarray, bits: int):
    acc_x = _products(x_q, layer.w_x) + layer.bias_x  # (B, 4, C)
    acc_h = _products(h_q, layer.w_h)  # (B, 4, C)
    pre = _saturate(_requantize(acc_x, layer.requant_x) + _requantize(acc_h, layer.requant_h), 16)
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
    acc_x = _products(x_q, layer.w_x) + layer.bias_x  # (B, 3, C)
    acc_h = _products(h_q, layer.w_h)  # (B, 3, C)
    acc_h[:, 2] += layer.bias_h
    part_x = _requantize(acc_x, layer.requant_x)  # (B, 3, C)
    part_h = _requantize(acc_h, layer.requant_h)  # (B, 3, C)
    r, z = _lookup(SIGMOID_TABLE, _saturate(part_x[:, :2] + part_h[:, :2], 16)).transpose(
        1, 0, 2)  # (B, C) Q0.15 each
    n_pre = _saturate(part_x[:, 2] + _rshift(r * _saturate(part_h[:, 2], 16), OUT_FRAC), 16)
    n = _lookup(TANH_TABLE, n_pre)  # (B, C) Q0.15
    h15 = n + _rshift(z.astype(np.int64) * (_to_q15(h_q, layer.h_frac) - n), OUT_FRAC)  # z h + (1 - z) n
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
