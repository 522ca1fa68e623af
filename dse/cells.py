"""Stacked LSTM and GRU layers in numpy, with a dense head on the last timestep.

Forward and backward through time, in the weights' dtype (float32; float64 for the
finite-difference tests), each cell's two passes side by side. The
parameter layout is PyTorch's (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``; gate
order LSTM i, f, g, o and GRU r, z, n), so tests compare against ``torch.nn.LSTM``/``GRU``
weight for weight. The GRU is the ``reset_after`` form (PyTorch's and Keras' default):
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).

The input projection of all timesteps is one matrix product per layer (hoisted out of the
time loop); the loop does only the recurrent product and point-wise work. Arrays are
time-major inside: (T, B, .). The integer network a dtype deploys is ``dse.quantize``'s.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

GATES = {"lstm": 4, "gru": 3}


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


FORGET_BIAS = 1.0  # LSTM forget-gate bias at start (Keras' unit_forget_bias)


def init_network(cell: str, features: int, cells: tuple[int, ...], classes: int,
                 rng: np.random.Generator) -> Network:
    """PyTorch's initialization (uniform in +-1/sqrt(C) for every recurrent parameter), but
    with the LSTM forget gate's bias at 1 as Keras does: the cell then remembers from the
    first step, and LSTMs learn as early in training as GRUs (Jozefowicz et al., 2015),
    which a short proxy budget needs to rank them fairly against GRUs."""
    gates, layers, inputs = GATES[cell], [], features
    for width in cells:
        bound = 1.0 / np.sqrt(width)

        def uniform(*shape: int, bound: float = bound) -> np.ndarray:
            return rng.uniform(-bound, bound, size=shape).astype(np.float32)

        layer = Layer(uniform(gates * width, inputs), uniform(gates * width, width),
                      uniform(gates * width), uniform(gates * width))
        if cell == "lstm":  # gates i, f, g, o: the two biases of f sum to FORGET_BIAS
            layer.bias_ih[width: 2 * width] = FORGET_BIAS
            layer.bias_hh[width: 2 * width] = 0.0
        layers.append(layer)
        inputs = width
    bound = 1.0 / np.sqrt(inputs)
    head_w = rng.uniform(-bound, bound, size=(classes, inputs)).astype(np.float32)
    head_b = rng.uniform(-bound, bound, size=classes).astype(np.float32)
    return Network(cell, layers, head_w, head_b)


_LOCAL = threading.local()
POOL_BYTES = 64 * 2**20


def _buffer(tag: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A scratch array reused from batch to batch (per thread). Fresh multi-megabyte arrays
    cost page faults on every batch: about a third of the training time without this."""
    pool = _LOCAL.__dict__.setdefault("pool", {})
    key = (tag, shape, np.dtype(dtype).str)
    if key not in pool:
        if sum(array.nbytes for array in pool.values()) > POOL_BYTES:
            pool.clear()  # another network's shapes: start over rather than grow without end
        pool[key] = np.empty(shape, dtype)
    return pool[key]


@dataclass
class Cache:
    """What backward needs of one layer's forward pass."""

    x: np.ndarray  # (T, B, I) layer input
    h: np.ndarray  # (T + 1, B, C) hidden states, h[0] = 0
    acts: np.ndarray  # (T, B, G*C) gate activations
    extra: np.ndarray  # LSTM: (T + 1, B, C) cell states; GRU: (T, B, C) W_hn h + b_hn
    tanh_c: np.ndarray = field(default_factory=lambda: np.empty(0, np.float32))  # LSTM (T, B, C)


# --- LSTM --------------------------------------------------------------------------------


def lstm_forward(layer: Layer, x: np.ndarray, slot: int = 0) -> Cache:
    """One layer over all steps. ``slot`` names the layer's reused buffers (its depth)."""
    T, B, _ = x.shape
    C = layer.weight_hh.shape[1]
    # sigmoid(a) = 0.5 * tanh(a / 2) + 0.5: halve the i, f, o columns once, then one tanh
    # and one multiply-add give all four gates of a step (fewer numpy calls per step).
    half = np.full(4 * C, 0.5, x.dtype)  # (4C,)
    half[2 * C: 3 * C] = 1.0  # g is a plain tanh
    offset = np.where(half == 0.5, 0.5, 0.0).astype(x.dtype)  # (4C,)
    xp = _input_projection(x, layer.weight_ih.T * half, (layer.bias_ih + layer.bias_hh) * half,
                           f"xp{slot}")  # (T, B, 4C)
    w_hh_t = layer.weight_hh.T * half  # (C, 4C)
    h = _buffer(f"h{slot}", (T + 1, B, C), x.dtype)  # (T+1, B, C)
    c = _buffer(f"c{slot}", (T + 1, B, C), x.dtype)  # (T+1, B, C)
    h[0], c[0] = 0.0, 0.0
    acts = _buffer(f"acts{slot}", (T, B, 4 * C), x.dtype)  # (T, B, 4C) i, f, g, o
    tanh_c = _buffer(f"tanh_c{slot}", (T, B, C), x.dtype)  # (T, B, C)
    for t in range(T):
        a = acts[t]  # (B, 4C)
        np.matmul(h[t], w_hh_t, out=a)
        a += xp[t]
        np.tanh(a, out=a)
        a *= half
        a += offset
        i, f, g, o = (acts[t, :, k * C: (k + 1) * C] for k in range(4))  # (B, C) each
        np.multiply(f, c[t], out=c[t + 1])  # (B, C)
        c[t + 1] += i * g
        np.tanh(c[t + 1], out=tanh_c[t])  # (B, C)
        np.multiply(o, tanh_c[t], out=h[t + 1])  # (B, C)
    return Cache(x, h, acts, c, tanh_c)


def _input_projection(x: np.ndarray, w_t: np.ndarray, bias: np.ndarray, tag: str) -> np.ndarray:
    """x @ w_t + bias for all steps at once (hoisted out of the time loop), as one 2-D
    product into a reused buffer: (T, B, I) @ (I, G*C) -> (T, B, G*C)."""
    T, B, I = x.shape
    out = _buffer(tag, (T, B, w_t.shape[1]), x.dtype)
    np.matmul(x.reshape(T * B, I), w_t, out=out.reshape(T * B, -1))
    out += bias
    return out


def lstm_backward(layer: Layer, cache: Cache, dh_out: np.ndarray,
                  input_grad: bool = True) -> tuple[np.ndarray | None, list]:
    """Gradients of the layer's parameters and of its input (if ``input_grad``), given dL/dh
    for every step.

    Every factor that does not depend on the recurrence is computed for all steps at once
    before the loop, which then does three products, two sums and one matmul per step.
    """
    T, B, C = dh_out.shape
    acts, c, tanh_c = cache.acts, cache.extra, cache.tanh_c
    i, f, g, o = (acts[..., k * C: (k + 1) * C] for k in range(4))  # (T, B, C) each
    coef = _buffer("coef", (T, B, 4, C), dh_out.dtype)  # (T, B, 4, C) d(pre-act)/d(dc or dh)
    coef[:, :, 0] = g * i * (1.0 - i)  # di = dc * this
    coef[:, :, 1] = c[:-1] * f * (1.0 - f)  # df = dc * this
    coef[:, :, 2] = i * (1.0 - g**2)  # dg = dc * this
    coef[:, :, 3] = tanh_c * o * (1.0 - o)  # do = dh * this
    dc_from_dh = o * (1.0 - tanh_c**2)  # (T, B, C)
    da = _buffer("da", (T, B, 4, C), dh_out.dtype)  # (T, B, 4, C) pre-activation gradients
    dh_next = np.zeros((B, C), dh_out.dtype)  # (B, C)
    dc_next = np.zeros((B, C), dh_out.dtype)  # (B, C)
    w_hh = layer.weight_hh  # (4C, C)
    for t in reversed(range(T)):
        dh = dh_out[t] + dh_next  # (B, C)
        dc = dc_next + dh * dc_from_dh[t]  # (B, C)
        np.multiply(dc[:, None, :], coef[t, :, :3], out=da[t, :, :3])  # di, df, dg
        np.multiply(dh, coef[t, :, 3], out=da[t, :, 3])  # do
        dc_next = dc * f[t]  # (B, C)
        dh_next = da[t].reshape(B, 4 * C) @ w_hh  # (B, C)
        if t % FLUSH_EVERY == 0:
            _flush_tiny(dh_next, dc_next)
    da = da.reshape(T, B, 4 * C)  # (T, B, 4C)
    return _input_grads(layer, cache, da, da, input_grad)


# --- GRU ---------------------------------------------------------------------------------


def gru_forward(layer: Layer, x: np.ndarray, slot: int = 0) -> Cache:
    """One layer over all steps. ``slot`` names the layer's reused buffers (its depth)."""
    T, B, _ = x.shape
    C = layer.weight_hh.shape[1]
    # sigmoid(a) = 0.5 * tanh(a / 2) + 0.5, as for the LSTM: the r, z columns are halved once.
    half = np.ones(3 * C, x.dtype)  # (3C,)
    half[: 2 * C] = 0.5
    xp = _input_projection(x, layer.weight_ih.T * half, layer.bias_ih * half,
                           f"xp{slot}")  # (T, B, 3C)
    w_hh_t, b_hh = layer.weight_hh.T * half, layer.bias_hh * half  # (C, 3C), (3C,)
    h = _buffer(f"h{slot}", (T + 1, B, C), x.dtype)  # (T+1, B, C)
    h[0] = 0.0
    acts = _buffer(f"acts{slot}", (T, B, 3 * C), x.dtype)  # (T, B, 3C) r, z, n
    hn = _buffer(f"hn{slot}", (T, B, C), x.dtype)  # (T, B, C) W_hn h + b_hn, for r's gradient
    hp = np.empty((B, 3 * C), x.dtype)  # (B, 3C) recurrent projection of one step
    for t in range(T):
        np.matmul(h[t], w_hh_t, out=hp)
        hp += b_hh
        rz = acts[t, :, : 2 * C]  # (B, 2C)
        np.add(xp[t, :, : 2 * C], hp[:, : 2 * C], out=rz)
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        hn[t] = hp[:, 2 * C:]  # (B, C)
        r, z, n = (acts[t, :, k * C: (k + 1) * C] for k in range(3))  # (B, C) each
        np.multiply(r, hn[t], out=n)
        n += xp[t, :, 2 * C:]
        np.tanh(n, out=n)
        np.subtract(h[t], n, out=h[t + 1])  # h' = (1 - z) * n + z * h = n + z * (h - n)
        h[t + 1] *= z
        h[t + 1] += n
    return Cache(x, h, acts, hn)


def gru_backward(layer: Layer, cache: Cache, dh_out: np.ndarray,
                 input_grad: bool = True) -> tuple[np.ndarray | None, list]:
    """Gradients of the layer's parameters and of its input (if ``input_grad``), given dL/dh
    for every step.

    As for the LSTM, factors independent of the recurrence are computed for all steps first.
    """
    T, B, C = dh_out.shape
    acts, hn, h = cache.acts, cache.extra, cache.h
    r, z, n = (acts[..., k * C: (k + 1) * C] for k in range(3))  # (T, B, C) each
    coef = _buffer("coef", (T, B, 3, C), dh_out.dtype)  # (T, B, 3, C)
    coef[:, :, 2] = (1.0 - z) * (1.0 - n**2)  # dan = dh * this
    coef[:, :, 0] = coef[:, :, 2] * hn * r * (1.0 - r)  # dar = dh * this
    coef[:, :, 1] = (h[:-1] - n) * z * (1.0 - z)  # daz = dh * this
    dxp = _buffer("dxp", (T, B, 3, C), dh_out.dtype)  # (T, B, 3, C) d(input projection)
    dhp = _buffer("dhp", (T, B, 3, C), dh_out.dtype)  # (T, B, 3, C) d(recurrent projection)
    dh_next = np.zeros((B, C), dh_out.dtype)  # (B, C)
    w_hh = layer.weight_hh  # (3C, C)
    for t in reversed(range(T)):
        dh = dh_out[t] + dh_next  # (B, C)
        np.multiply(dh[:, None, :], coef[t], out=dxp[t])  # dar, daz, dan
        dhp[t, :, :2] = dxp[t, :, :2]
        np.multiply(dxp[t, :, 2], r[t], out=dhp[t, :, 2])  # r * dan: through r * (W_hn h + b)
        dh_next = dh * z[t] + dhp[t].reshape(B, 3 * C) @ w_hh  # (B, C)
        if t % FLUSH_EVERY == 0:
            _flush_tiny(dh_next)
    return _input_grads(layer, cache, dxp.reshape(T, B, 3 * C), dhp.reshape(T, B, 3 * C),
                        input_grad)


FLUSH_EVERY = 8  # steps between flushes of vanishing gradients
TINY = 1e-30


def _flush_tiny(*arrays: np.ndarray) -> None:
    """Zero gradient entries that have vanished below 1e-30 on their way back in time.

    They change no sum at float32 precision, but as subnormal numbers (below 1.2e-38)
    they make every later product several times slower on x86. The gate factors of
    backward need no flush: a gate is 0, 1 or at least 2**-25 away from both (the sigmoid
    is computed through tanh), so their products stay far above that range (not one
    subnormal in 5e9 factors over trainings on the three built-in tasks).
    """
    for array in arrays:
        np.copyto(array, 0, where=np.abs(array) < TINY)


def _input_grads(layer: Layer, cache: Cache, dxp: np.ndarray, dhp: np.ndarray,
                 input_grad: bool) -> tuple[np.ndarray | None, list]:
    """Parameter gradients as one matrix product over all steps, and dL/d(layer input)
    (not needed for the bottom layer, whose input is the data)."""
    T, B, GC = dxp.shape
    x2 = cache.x.reshape(T * B, -1)  # (T*B, I)
    h_prev = cache.h[:-1].reshape(T * B, -1)  # (T*B, C)
    dxp2, dhp2 = dxp.reshape(T * B, GC), dhp.reshape(T * B, GC)  # (T*B, G*C)
    db_ih = dxp2.sum(axis=0)  # (G*C,)
    db_hh = db_ih.copy() if dhp is dxp else dhp2.sum(axis=0)  # LSTM: the same gradient
    grads = [dxp2.T @ x2, dhp2.T @ h_prev, db_ih, db_hh]
    if not input_grad:
        return None, grads
    return (dxp2 @ layer.weight_ih).reshape(T, B, -1), grads  # (T, B, I)


FORWARD = {"lstm": lstm_forward, "gru": gru_forward}
BACKWARD = {"lstm": lstm_backward, "gru": gru_backward}


# --- the whole network -------------------------------------------------------------------


def forward(net: Network, x_btf: np.ndarray):
    """Logits (B, K) for inputs (B, T, F), and the caches for backward."""
    x = np.ascontiguousarray(x_btf.transpose(1, 0, 2))  # (T, B, F)
    caches = []
    for slot, layer in enumerate(net.layers):
        cache = FORWARD[net.cell](layer, x, slot)
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
    for depth in reversed(range(len(net.layers))):
        dx, grads = BACKWARD[net.cell](net.layers[depth], caches[depth], dh, depth > 0)
        layer_grads.insert(0, grads)
        if dx is not None:  # None for the bottom layer: the data needs no gradient
            dh = dx
    return loss, [g for grads in layer_grads for g in grads] + head_grads
