"""Standalone C for a trained network: ``model.h`` and ``model.c`` from small templates.

The generator decides (names, types, every number); the templates only format. The integer
C (int8, int16) is the arithmetic of :mod:`dse.quantize` operation for operation; the float32
C is the float network with sigmoid and tanh from an exponential of its own. No export
needs libm, and each gives the same bits on every machine (IEEE-754 single precision).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from string import Template

import numpy as np

from dse.cells import Network
from dse.errors import DseError
from dse.quantize import SIGMOID_TABLE, TANH_TABLE, IntNetwork

GATE_ORDER = {"lstm": "i, f, g, o", "gru": "r, z, n"}
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")


@dataclass(frozen=True)
class ModelInfo:
    """What the generated files say about themselves."""

    title: str
    version: str
    arch: str
    dtype: str
    task: str
    timesteps: int
    features: int
    classes: int


@dataclass(frozen=True)
class CSource:
    header: str  # model.h
    source: str  # model.c


def check_prefix(prefix: str) -> str:
    """A prefix for the C names (``dse_`` gives ``dse_predict`` and ``DSE_TIMESTEPS``)."""
    if not _PREFIX.fullmatch(prefix):
        raise DseError(f"--prefix {prefix!r} is not the start of a C identifier: use up to 32 "
                       f"letters, digits and '_', not starting with a digit (e.g. 'kws_').")
    return prefix


def _template(name: str) -> Template:
    return Template(resources.files("dse.export").joinpath("templates", name).read_text())


def _common(info: ModelInfo, prefix: str) -> dict[str, object]:
    macro = prefix.upper()
    return {"title": info.title, "version": info.version, "arch": info.arch,
            "dtype": info.dtype, "task": info.task, "timesteps": info.timesteps,
            "features": info.features, "classes": info.classes, "prefix": prefix,
            "MACRO": macro, "guard": f"{macro}MODEL_H", "header_name": "model.h",
            "predict_indent": " " * len(f"int {prefix}predict(")}


def _header(info: ModelInfo, prefix: str) -> str:
    floating = info.dtype == "float32"
    return _template("model.h.tmpl").substitute(
        _common(info, prefix),
        libm_note=" No libm: sigmoid and tanh come from an exponential of its own." if floating
        else " No libm: sigmoid and tanh come from tables.",
        quantization_note="" if floating else " and input quantization")


def _array(name: str, ctype: str, values: np.ndarray, *, const: bool = True) -> str:
    """A C array definition, about 100 columns wide."""
    flat = np.asarray(values).ravel()
    items = [float_literal(v) if flat.dtype.kind == "f" else str(int(v)) for v in flat]
    lines, line = [], "   "
    for item in items:
        if len(line) + len(item) + 2 > 100:
            lines.append(line)
            line = "   "
        line += f" {item},"
    lines.append(line)
    qualifier = "static const" if const else "static"
    return f"{qualifier} {ctype} {name}[{len(items)}] = {{\n" + "\n".join(lines) + "\n};\n"


def float_literal(value: float) -> str:
    """A float32 literal that reads back as exactly the same float."""
    text = np.format_float_positional(np.float32(value), unique=True, trim="0")
    if "e" not in text and len(text.replace("-", "").replace(".", "").lstrip("0")) > 12:
        text = np.format_float_scientific(np.float32(value), unique=True, trim="0")
    return (text + "0" if text.endswith(".") else text) + "f"


def _layer_arrays(index: int, cell: str, cells: int, parts: dict[str, tuple[str, np.ndarray]],
                  act_type: str) -> tuple[str, dict[str, str]]:
    """The arrays of one layer and the names its struct points at."""
    prefix = f"L{index + 1}_"
    text, names = [], {}
    for key, (ctype, values) in parts.items():
        name = prefix + key.upper()
        text.append(_array(name, ctype, values))
        names[key] = name
    names["h"], names["c"] = f"{prefix}H", f"{prefix}C" if cell == "lstm" else "0"
    text.append(f"static {act_type} {prefix}H[{cells}];\n")
    if cell == "lstm":
        state_type = "float" if act_type == "float" else "int16_t"
        text.append(f"static {state_type} {prefix}C[{cells}];\n")
    return "".join(text), names


# One line per gate row in dot_gates (the generator writes them out: a loop over the rows
# would keep the accumulators in memory). {g} is the gate, {row} its row's offset.
_GATE_LINES = {
    8: ("memcpy(&wv, w + {row}k, 4);",
        "a{g} = __smlad(__sxtb16(wv), x02, a{g});",
        "a{g} = __smlad(__sxtb16((wv >> 8) | (wv << 24)), x13, a{g});"),
    16: ("memcpy(&wv, w + {row}k, 4);",
         "w02 = (uint32_t)__sxtb16(wv); /* weights 0 and 2 as halfwords */",
         "w13 = (uint32_t)__sxtb16((wv >> 8) | (wv << 24)); /* weights 1 and 3 */",
         "a{g} = __smlald((w02 & 0xFFFFu) | (w13 << 16), x01, a{g}); /* w0 x0 + w1 x1 */",
         "a{g} = __smlald((w02 >> 16) | (w13 & 0xFFFF0000u), x23, a{g}); /* w2 x2 + w3 x3 */"),
}


ROWS_PER_PASS = {8: 4, 16: 2}  # gate rows whose sums stay in registers (int64 take two)


def _dot_gates(bits: int, gates: int) -> str:
    """The dot functions for ``bits``-bit activations (32: float) and ``gates`` rows."""
    rows = ["", "stride + ", *(f"{g} * stride + " for g in range(2, gates))]
    # an int8 x int16 product fits 32 bits: multiplied there, added to the (64-bit) sum
    acc_type, cast = ("float", "") if bits == 32 else ("acc_t", "(int32_t)")

    def products(gate_range: range) -> str:
        return "\n".join(" " * 8 + line.format(g=g, row=rows[g]) for g in gate_range
                         for line in _GATE_LINES[bits])

    per_pass = ROWS_PER_PASS.get(bits, gates)
    passes = [range(first, min(first + per_pass, gates)) for first in range(0, gates, per_pass)]
    name = "dot_f32.c.tmpl" if bits == 32 else f"dot_s{bits}.c.tmpl"
    values = {
        "accumulators": f"{acc_type} {', '.join(f'a{g} = acc[{g}]' for g in range(gates))};",
        "products": "\n".join(" " * 8 + f"a{g} += {cast}w[{rows[g]}k] * x[k];"
                              for g in range(gates)),
        "results": "\n".join(f"    acc[{g}] = a{g};" for g in range(gates)),
    }
    if bits == 8:
        values["dsp_products"] = products(range(gates))
    if bits == 16:
        values["dsp_passes"] = "\n".join(_template("dot_s16_pass.c.tmpl").substitute(
            rows=" and ".join(map(str, group)), dsp_products=products(group))
            for group in passes)
    return _template(name).substitute(values)


def integer_c(net: IntNetwork, info: ModelInfo, prefix: str) -> CSource:
    """``model.h``/``model.c`` of the integer network."""
    act_type, acc_type = ("int8_t", "int32_t") if net.dtype == "int8" else ("int16_t", "int64_t")
    blocks, structs = [], []
    for index, layer in enumerate(net.layers):
        parts = {"w_x": ("int8_t", layer.w_x), "w_h": ("int8_t", layer.w_h),
                 "bias_x": ("acc_t", layer.bias_x)}
        if net.cell == "gru":
            parts["bias_h"] = ("acc_t", layer.bias_h)
        text, names = _layer_arrays(index, net.cell, layer.cells, parts, "act_t")
        blocks.append(text)
        requants = [", ".join(f"{{{r.multiplier}, {r.shift}}}" for r in rq)
                    for rq in (layer.requant_x, layer.requant_h)]
        structs.append(
            f"    {{.inputs = {layer.w_x.shape[2]}, .cells = {layer.cells}, .w_x = {names['w_x']}, "
            f".w_h = {names['w_h']}, .bias_x = {names['bias_x']},\n"
            f"     .bias_h = {names.get('bias_h', '0')}, .requant_x = {{{requants[0]}}},\n"
            f"     .requant_h = {{{requants[1]}}},\n"
            f"     .h_frac = {layer.h_frac}, .c_frac = {layer.c_frac}, .h = {names['h']}, "
            f".c = {names['c']}}},")
    constants = "".join([
        _array("INPUT_MEAN", "float", net.mean),
        _array("INPUT_MULTIPLIER", "float", net.input_multiplier),
        _array("SIGMOID_TABLE", "int16_t", SIGMOID_TABLE),
        _array("TANH_TABLE", "int16_t", TANH_TABLE),
        *blocks,
        "static const struct layer LAYERS[LAYER_COUNT] = {\n" + "\n".join(structs) + "\n};\n",
        _array("OUT_WEIGHTS", "int8_t", net.w_out),
        _array("OUT_BIAS", "acc_t", net.bias_out),
        f"static const float OUT_SCALE = {float_literal(float(net.out_scale))}; /* logits = acc * scale */\n",
    ])
    bits = net.bits
    source = _template("int_model.c.tmpl").substitute(
        _common(info, prefix), act_type=act_type, acc_type=acc_type, act_bits=bits,
        act_min=-(2 ** (bits - 1)), act_max=2 ** (bits - 1) - 1,
        layer_count=len(net.layers), max_cells=max(layer.cells for layer in net.layers),
        gates=len(net.layers[0].requant_x), gate_order=GATE_ORDER[net.cell],
        constants=constants, step_name=f"{net.cell}_step",
        dot_function=_dot_gates(bits, len(net.layers[0].requant_x)),
        step_function=_template(f"{net.cell}_step.c.tmpl").template)
    return CSource(_header(info, prefix), source)


def float_c(net: Network, mean: np.ndarray, std: np.ndarray, info: ModelInfo,
            prefix: str) -> CSource:
    """``model.h``/``model.c`` of the float network; raw features are standardized inside."""
    gates = len(net.layers[0].bias_ih) // net.layers[0].weight_hh.shape[1]
    blocks, structs = [], []
    for index, layer in enumerate(net.layers):
        cells = layer.weight_hh.shape[1]
        b_ih = layer.bias_ih.reshape(gates, cells).astype(np.float32)
        b_hh = layer.bias_hh.reshape(gates, cells).astype(np.float32)
        bias_x = b_ih + b_hh if net.cell == "lstm" else np.concatenate([b_ih[:2] + b_hh[:2],
                                                                        b_ih[2:]])
        parts = {"w_x": ("float", layer.weight_ih), "w_h": ("float", layer.weight_hh),
                 "bias_x": ("float", bias_x)}
        if net.cell == "gru":
            parts["bias_h"] = ("float", b_hh[2])
        text, names = _layer_arrays(index, net.cell, cells, parts, "float")
        blocks.append(text)
        structs.append(
            f"    {{.inputs = {layer.weight_ih.shape[1]}, .cells = {cells}, .w_x = {names['w_x']}, "
            f".w_h = {names['w_h']},\n     .bias_x = {names['bias_x']}, "
            f".bias_h = {names.get('bias_h', '0')}, .h = {names['h']}, .c = {names['c']}}},")
    constants = "".join([
        _array("INPUT_MEAN", "float", mean.astype(np.float32)),
        _array("INPUT_MULTIPLIER", "float", (1.0 / std).astype(np.float32)),
        *blocks,
        "static const struct layer LAYERS[LAYER_COUNT] = {\n" + "\n".join(structs) + "\n};\n",
        _array("OUT_WEIGHTS", "float", net.head_weight),
        _array("OUT_BIAS", "float", net.head_bias),
    ])
    source = _template("float_model.c.tmpl").substitute(
        _common(info, prefix), layer_count=len(net.layers),
        max_cells=max(layer.weight_hh.shape[1] for layer in net.layers), gates=gates,
        gate_order=GATE_ORDER[net.cell], constants=constants, step_name=f"{net.cell}_step",
        dot_function=_dot_gates(32, gates),
        step_function=_template(f"float_{net.cell}_step.c.tmpl").template)
    return CSource(_header(info, prefix), source)
