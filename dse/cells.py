"""Stacked LSTM and GRU layers in numpy, with a dense head on the last timestep.

Forward and backward through time, in the weights' dtype (float32; float64 for the
finite-difference tests), each cell's two passes side by side. The
parameter layout is PyTorch's (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``; gate
order LSTM i, f, g, o and GRU r, z, n), so tests compare against ``torch.nn.LSTM``/``GRU``
weight for weight. The GRU is the ``reset_after`` form (PyTorch's and Keras' default):
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).

The input projection of all timesteps is one matrix product per layer (hoisted out of the
time loop); the loop does only the recurrent product and point-wise work. Arrays are
time-major inside: (T, B, .).

Quantized evaluation (``Quant``) fake-quantizes where the deployed int kernels round:
layer inputs and outputs to int8 (or int16), gates to int16 and the LSTM cell state to
int16 in Q3.12, as CMSIS-NN's LSTM does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GATES = {"lstm": 4, "gru": 3}
CELL_STATE_SCALE = 2.0**-12  # CMSIS-NN / TFLM int16 cell state in Q3.12: range +-8
GATE_SCALE = 2.0**-15  # int16 gate outputs of sigmoid/tanh in (-1, 1)


@dataclass
class Layer:
    """One recurrent layer's parameters, PyTorch layout: (G*C, I), (G*C, C), (G*C,), (G*C,)."""

    weight_ih: np.ndarray
    weight_hh: np.ndarray
    bias_ih: np.ndarray
    bias_hh: np.ndarray


@dataclass
class Network:
    """A stack of recurrent layers of one cell type and a dense head (K, C_L), (K,)."""

    cell: str
    layers: list[Layer]
    head_weight: np.ndarray
    head_bias: np.ndarray

    def arrays(self) -> list[np.ndarray]:
        """Every parameter array, in a fixed order (the optimizer's view)."""
        out = []
        for layer in self.layers:
            out += [layer.weight_ih, layer.weight_hh, layer.bias_ih, layer.bias_hh]
        return out + [self.head_weight, self.head_bias]


def init_network(cell: str, features: int, cells: tuple[int, ...], classes: int,
                 rng: np.random.Generator) -> Network:
    """PyTorch's initialization: uniform in +-1/sqrt(C) for every recurrent parameter."""
    gates, layers, inputs = GATES[cell], [], features
    for width in cells:
        bound = 1.0 / np.sqrt(width)

        def uniform(*shape: int, bound: float = bound) -> np.ndarray:
            return rng.uniform(-bound, bound, size=shape).astype(np.float32)

        layers.append(Layer(uniform(gates * width, inputs), uniform(gates * width, width),
                            uniform(gates * width), uniform(gates * width)))
        inputs = width
    bound = 1.0 / np.sqrt(inputs)
    head_w = rng.uniform(-bound, bound, size=(classes, inputs)).astype(np.float32)
    head_b = rng.uniform(-bound, bound, size=classes).astype(np.float32)
    return Network(cell, layers, head_w, head_b)


@dataclass(frozen=True)
class Quant:
    """Fake quantization of activations: ``io_bits`` for layer inputs and outputs (8 for
    int8, 16 for the 16x8 kernels); ``input_scale`` for the network's input features."""

    io_bits: int
    input_scale: float


def fake_quant(x: np.ndarray, scale: float, bits: int) -> np.ndarray:
    """Round to a signed ``bits``-bit grid of step ``scale``, saturating."""
    top = 2 ** (bits - 1)
    return (np.clip(np.round(x / scale), -top, top - 1) * scale).astype(x.dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # stable for large |x|, no overflow warnings


@dataclass
class Cache:
    """What backward needs of one layer's forward pass."""

    x: np.ndarray  # (T, B, I) layer input
    h: np.ndarray  # (T + 1, B, C) hidden states, h[0] = 0
    acts: np.ndarray  # (T, B, G*C) gate activations
    extra: np.ndarray  # LSTM: (T + 1, B, C) cell states; GRU: (T, B, C) W_hn h + b_hn
    tanh_c: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))  # LSTM (T, B, C)


# --- LSTM --------------------------------------------------------------------------------


def lstm_forward(layer: Layer, x: np.ndarray, quant: Quant | None = None) -> Cache:
    T, B, _ = x.shape
    C = layer.weight_hh.shape[1]
    xp = x @ layer.weight_ih.T + (layer.bias_ih + layer.bias_hh)  # (T, B, 4C) hoisted
    h = np.zeros((T + 1, B, C), x.dtype)  # (T+1, B, C)
    c = np.zeros((T + 1, B, C), x.dtype)  # (T+1, B, C)
    acts = np.empty((T, B, 4 * C), x.dtype)  # (T, B, 4C) i, f, g, o
    tanh_c = np.empty((T, B, C), x.dtype)  # (T, B, C)
    w_hh_t = layer.weight_hh.T.copy()  # (C, 4C)
    for t in range(T):
        a = xp[t] + h[t] @ w_hh_t  # (B, 4C)
        acts[t, :, : 2 * C] = _sigmoid(a[:, : 2 * C])  # i, f
        acts[t, :, 2 * C: 3 * C] = np.tanh(a[:, 2 * C: 3 * C])  # g
        acts[t, :, 3 * C:] = _sigmoid(a[:, 3 * C:])  # o
        if quant:
            acts[t] = fake_quant(acts[t], GATE_SCALE, 16)
        i, f, g, o = (acts[t, :, k * C: (k + 1) * C] for k in range(4))  # (B, C) each
        c[t + 1] = f * c[t] + i * g  # (B, C)
        if quant:
            c[t + 1] = fake_quant(c[t + 1], CELL_STATE_SCALE, 16)
        tanh_c[t] = np.tanh(c[t + 1])  # (B, C)
        h[t + 1] = o * tanh_c[t]  # (B, C)
        if quant:
            h[t + 1] = fake_quant(h[t + 1], 2.0 ** -(quant.io_bits - 1), quant.io_bits)
    return Cache(x, h, acts, c, tanh_c)


def lstm_backward(layer: Layer, cache: Cache, dh_out: np.ndarray) -> tuple[np.ndarray, list]:
    """Gradients of the layer's parameters and of its input, given dL/dh for every step."""
    T, B, C = dh_out.shape
    acts, c, tanh_c = cache.acts, cache.extra, cache.tanh_c
    da = np.empty((T, B, 4 * C), dh_out.dtype)  # (T, B, 4C) pre-activation gradients
    dh_next = np.zeros((B, C), dh_out.dtype)  # (B, C)
    dc_next = np.zeros((B, C), dh_out.dtype)  # (B, C)
    w_hh = layer.weight_hh  # (4C, C)
    for t in reversed(range(T)):
        i, f, g, o = (acts[t, :, k * C: (k + 1) * C] for k in range(4))  # (B, C) each
        dh = dh_out[t] + dh_next  # (B, C)
        dc = dc_next + dh * o * (1.0 - tanh_c[t] ** 2)  # (B, C)
        da[t, :, :C] = dc * g * i * (1.0 - i)  # di
        da[t, :, C: 2 * C] = dc * c[t] * f * (1.0 - f)  # df
        da[t, :, 2 * C: 3 * C] = dc * i * (1.0 - g**2)  # dg
        da[t, :, 3 * C:] = dh * tanh_c[t] * o * (1.0 - o)  # do
        dc_next = dc * f  # (B, C)
        dh_next = da[t] @ w_hh  # (B, C)
    return _input_grads(layer, cache, da, da)


# --- GRU ---------------------------------------------------------------------------------


def gru_forward(layer: Layer, x: np.ndarray, quant: Quant | None = None) -> Cache:
    T, B, _ = x.shape
    C = layer.weight_hh.shape[1]
    xp = x @ layer.weight_ih.T + layer.bias_ih  # (T, B, 3C) hoisted
    h = np.zeros((T + 1, B, C), x.dtype)  # (T+1, B, C)
    acts = np.empty((T, B, 3 * C), x.dtype)  # (T, B, 3C) r, z, n
    hn = np.empty((T, B, C), x.dtype)  # (T, B, C) W_hn h + b_hn, kept for r's gradient
    w_hh_t = layer.weight_hh.T.copy()  # (C, 3C)
    for t in range(T):
        hp = h[t] @ w_hh_t + layer.bias_hh  # (B, 3C)
        acts[t, :, : 2 * C] = _sigmoid(xp[t, :, : 2 * C] + hp[:, : 2 * C])  # r, z
        hn[t] = hp[:, 2 * C:]  # (B, C)
        r, z = acts[t, :, :C], acts[t, :, C: 2 * C]  # (B, C) each
        acts[t, :, 2 * C:] = np.tanh(xp[t, :, 2 * C:] + r * hn[t])  # n
        if quant:
            acts[t] = fake_quant(acts[t], GATE_SCALE, 16)
        n = acts[t, :, 2 * C:]  # (B, C)
        h[t + 1] = (1.0 - z) * n + z * h[t]  # (B, C)
        if quant:
            h[t + 1] = fake_quant(h[t + 1], 2.0 ** -(quant.io_bits - 1), quant.io_bits)
    return Cache(x, h, acts, hn)


def gru_backward(layer: Layer, cache: Cache, dh_out: np.ndarray) -> tuple[np.ndarray, list]:
    """Gradients of the layer's parameters and of its input, given dL/dh for every step."""
    T, B, C = dh_out.shape
    acts, hn, h = cache.acts, cache.extra, cache.h
    dxp = np.empty((T, B, 3 * C), dh_out.dtype)  # (T, B, 3C) d(input projection)
    dhp = np.empty((T, B, 3 * C), dh_out.dtype)  # (T, B, 3C) d(recurrent projection)
    dh_next = np.zeros((B, C), dh_out.dtype)  # (B, C)
    w_hh = layer.weight_hh  # (3C, C)
    for t in reversed(range(T)):
        r, z, n = (acts[t, :, k * C: (k + 1) * C] for k in range(3))  # (B, C) each
        dh = dh_out[t] + dh_next  # (B, C)
        dan = dh * (1.0 - z) * (1.0 - n**2)  # (B, C) n's pre-activation
        dar = dan * hn[t] * r * (1.0 - r)  # (B, C)
        daz = dh * (h[t] - n) * z * (1.0 - z)  # (B, C)
        dxp[t, :, :C], dxp[t, :, C: 2 * C], dxp[t, :, 2 * C:] = dar, daz, dan
        dhp[t, :, :C], dhp[t, :, C: 2 * C], dhp[t, :, 2 * C:] = dar, daz, dan * r
        dh_next = dh * z + dhp[t] @ w_hh  # (B, C)
    return _input_grads(layer, cache, dxp, dhp)


def _input_grads(layer: Layer, cache: Cache, dxp: np.ndarray, dhp: np.ndarray):
    """Parameter gradients as one matrix product over all steps, and dL/d(layer input)."""
    T, B, GC = dxp.shape
    x2 = cache.x.reshape(T * B, -1)  # (T*B, I)
    h_prev = cache.h[:-1].reshape(T * B, -1)  # (T*B, C)
    dxp2, dhp2 = dxp.reshape(T * B, GC), dhp.reshape(T * B, GC)  # (T*B, G*C)
    grads = [dxp2.T @ x2, dhp2.T @ h_prev, dxp2.sum(axis=0), dhp2.sum(axis=0)]
    dx = dxp @ layer.weight_ih  # (T, B, I)
    return dx, grads


FORWARD = {"lstm": lstm_forward, "gru": gru_forward}
BACKWARD = {"lstm": lstm_backward, "gru": gru_backward}


# --- the whole network -------------------------------------------------------------------


def forward(net: Network, x_btf: np.ndarray, quant: Quant | None = None):
    """Logits (B, K) for inputs (B, T, F), and the caches for backward."""
    x = np.ascontiguousarray(x_btf.transpose(1, 0, 2))  # (T, B, F)
    if quant:
        x = fake_quant(x, quant.input_scale, quant.io_bits)
    caches = []
    for layer in net.layers:
        cache = FORWARD[net.cell](layer, x, quant)
        caches.append(cache)
        x = cache.h[1:]  # (T, B, C) next layer's input
    logits = x[-1] @ net.head_weight.T + net.head_bias  # (B, K)
    return logits, caches


def loss_and_grads(net: Network, x_btf: np.ndarray, y: np.ndarray):
    """Mean cross-entropy of the batch and the gradient of every parameter (arrays order)."""
    logits, caches = forward(net, x_btf)
    B = len(y)
    shifted = logits - logits.max(axis=1, keepdims=True)  # (B, K)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (B, K)
    loss = float(-log_probs[np.arange(B), y].mean())
    dlogits = np.exp(log_probs)  # (B, K) softmax
    dlogits[np.arange(B), y] -= 1.0
    dlogits /= B
    h_last = caches[-1].h[-1]  # (B, C_L)
    head_grads = [dlogits.T @ h_last, dlogits.sum(axis=0)]
    T = x_btf.shape[1]
    dh = np.zeros((T, B, h_last.shape[1]), h_last.dtype)  # (T, B, C_L)
    dh[-1] = dlogits @ net.head_weight
    layer_grads: list[list[np.ndarray]] = []
    for layer, cache in zip(reversed(net.layers), reversed(caches)):
        dh, grads = BACKWARD[net.cell](layer, cache, dh)
        layer_grads.insert(0, grads)
    return loss, [g for grads in layer_grads for g in grads] + head_grads
