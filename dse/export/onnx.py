"""``model.onnx``: the float network with the standard ONNX ``LSTM``/``GRU`` operators, what ST
Edge AI, onnx2c, TVM and the converters to TFLite read. Raw features in (standardization
is inside the graph), logits out; the batch dimension is free.

Gate orders differ by framework: ours are PyTorch's (LSTM i, f, g, o; GRU r, z, n), ONNX
wants LSTM i, o, f, c and GRU z, r, h. The GRU is ``linear_before_reset=1``, the reset_after
form PyTorch and Keras use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dse.cells import Network
from dse.errors import DseError

OPSET = 17  # within what ST Edge AI Core (7-20) and onnxruntime read
IR_VERSION = 8
ONNX_GATES = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}  # our gate index for each ONNX slot


def require_onnx():
    """The onnx package, or one line saying how to get it."""
    try:
        import onnx
    except ImportError:
        raise DseError('ONNX export needs the onnx package: pip install "dse[export]" (or '
                       'export the other formats with --format c torch).') from None
    return onnx


def _reordered(array: np.ndarray, cell: str, cells: int) -> np.ndarray:
    """Rows of a (G*C, ...) array from our gate order into ONNX's."""
    blocks = [array[g * cells: (g + 1) * cells] for g in ONNX_GATES[cell]]
    return np.concatenate(blocks).astype(np.float32)


def write_onnx(net: Network, mean: np.ndarray, std: np.ndarray, path: Path, *,
               timesteps: int) -> Path:
    """Write the float network as ONNX; input ``input`` [N, T, F], output ``logits`` [N, K]."""
    onnx = require_onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    features, classes = net.layers[0].weight_ih.shape[1], net.head_weight.shape[0]
    initializers = [numpy_helper.from_array(mean.astype(np.float32), "mean"),
                    numpy_helper.from_array((1.0 / std).astype(np.float32), "inv_std"),
                    numpy_helper.from_array(np.array([0], np.int64), "axis0"),
                    numpy_helper.from_array(np.array([1], np.int64), "axis1")]
    nodes = [helper.make_node("Sub", ["input", "mean"], ["centred"]),
             helper.make_node("Mul", ["centred", "inv_std"], ["standardized"]),
             helper.make_node("Transpose", ["standardized"], ["x0"], perm=[1, 0, 2])]
    op = {"lstm": "LSTM", "gru": "GRU"}[net.cell]
    for k, layer in enumerate(net.layers):
        cells = layer.weight_hh.shape[1]
        w = _reordered(layer.weight_ih, net.cell, cells)[None]  # (1, G*C, I)
        r = _reordered(layer.weight_hh, net.cell, cells)[None]  # (1, G*C, C)
        b = np.concatenate([_reordered(layer.bias_ih, net.cell, cells),
                            _reordered(layer.bias_hh, net.cell, cells)])[None]  # (1, 2*G*C)
        initializers += [numpy_helper.from_array(w, f"W{k}"), numpy_helper.from_array(r, f"R{k}"),
                         numpy_helper.from_array(b, f"B{k}")]
        extra = {"linear_before_reset": 1} if net.cell == "gru" else {}
        nodes.append(helper.make_node(op, [f"x{k}", f"W{k}", f"R{k}", f"B{k}"],
                                      [f"y{k}", f"h{k}"], hidden_size=cells, **extra))
        nodes.append(helper.make_node("Squeeze", [f"y{k}", "axis1"], [f"x{k + 1}"]))  # (T, N, C)
    last = len(net.layers) - 1
    nodes.append(helper.make_node("Squeeze", [f"h{last}", "axis0"], ["h_last"]))  # (N, C)
    initializers += [numpy_helper.from_array(net.head_weight.astype(np.float32), "head_w"),
                     numpy_helper.from_array(net.head_bias.astype(np.float32), "head_b")]
    nodes.append(helper.make_node("Gemm", ["h_last", "head_w", "head_b"], ["logits"], transB=1))
    graph = helper.make_graph(
        nodes, "dse_network",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                       ["N", timesteps, features])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", classes])],
        initializers)
    model = helper.make_model(graph, producer_name="dse",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def run_onnx(path: Path, windows: np.ndarray) -> np.ndarray:
    """Logits of ``model.onnx`` for raw windows, through onnxruntime's CPU provider."""
    try:
        import onnxruntime
    except ImportError:
        raise DseError('Checking the ONNX file needs onnxruntime: pip install "dse[export]".'
                       ) from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": windows.astype(np.float32)})[0]
