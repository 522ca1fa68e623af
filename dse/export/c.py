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


def _header(info: ModelInfo, prefix: str, state: State) -> str:
    floating = info.dtype == "float32"
    return _template("model.h.tmpl").substitute(
        _common(info, prefix), state_bytes=state.bytes, state_fields=state.fields,
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


# --- the layout of the weights and the state ----------------------------------------------

BLOCK = 4  # integer kernels read the columns in blocks of 4 (one word of int8 weights)
SXTB16_ORDER = [0, 2, 1, 3]  # a block's bytes: SXTB16 unpacks bytes 0, 2 then (ROR 8) 1, 3


def padded(n: int, block: int) -> int:
    """``n`` rounded up to whole blocks."""
    return -(-n // block) * block


def interleaved(w_x: np.ndarray, w_h: np.ndarray, block: int) -> np.ndarray:
    """The weights of one layer in the order its gate sums read them: (G, C, I) and (G, C, C)
    -> (C, blocks, G, block). Cell by cell; within a cell, column block by column block
    (the input's, zero-padded to whole blocks, then the hidden state's); within a block,
    the G gate rows one after the other. Integer blocks hold their columns in SXTB16 order."""
    def blocks(w: np.ndarray) -> np.ndarray:  # (G, C, N) -> (G, C, N / block, block)
        G, C, N = w.shape
        full = np.zeros((G, C, padded(N, block)), w.dtype)
        full[:, :, :N] = w
        return full.reshape(G, C, -1, block)

    out = np.concatenate([blocks(w_x), blocks(w_h)], axis=2).transpose(1, 2, 0, 3)
    return out[..., SXTB16_ORDER] if block == BLOCK else out


@dataclass(frozen=True)
class State:
    """The caller-owned state struct: its fields (C declarations) and its size in bytes."""

    fields: str
    bytes: int


def state_of(cell: str, cells: list[int], vector_lengths: list[int], element: str) -> State:
    """Per layer: ``layerK_v[2][length]``, its [x | h] vector of this step and the next, and
    an LSTM's ``layerK_c[cells]``. ``element`` is ``int16_t`` or ``float``."""
    size = 2 if element == "int16_t" else 4
    lines, count = [], 0
    for index, (width, length) in enumerate(zip(cells, vector_lengths)):
        lines.append(f"    {element} layer{index + 1}_v[2][{length}]; /* layer {index + 1}: "
                     f"[x | h] of this step and the next */")
        count += 2 * length
        if cell == "lstm":
            lines.append(f"    {element} layer{index + 1}_c[{width}]; /* layer {index + 1}: "
                         f"the cell state */")
            count += width
    return State("\n".join(lines), padded(4 + size * count, 4))


def _offsets(prefix: str, cell: str, index: int) -> str:
    """The struct layer fields that locate a layer's state."""
    c = f"offsetof({prefix}state, layer{index + 1}_c)" if cell == "lstm" else "0"
    return f".v = offsetof({prefix}state, layer{index + 1}_v), .c = {c}"


# --- the gate sums ---------------------------------------------------------------------------

def _dsp_block(gates: int) -> list[str]:
    """Thumb-2 assembly of one block for ``gates`` rows: the loads back to back (they
    pipeline), the pointers advanced by the first load of each, then per row SXTB16 of
    bytes 0 and 2 and of 1 and 3 (ROR 8), each into SMLAD with its pair of inputs."""
    size = 4 * gates
    lines = ["ldr %[v01], [%[v]], #8", "ldr %[v23], [%[v], #-4]",
             f"ldr %[w0], [%[w]], #{size}",
             *(f"ldr %[w{g}], [%[w], #-{size - 4 * g}]" for g in range(1, gates))]
    for g in range(gates):
        lines += [f"sxtb16 %[unpacked], %[w{g}]",
                  f"smlad %[a{g}], %[unpacked], %[v01], %[a{g}]",
                  f"sxtb16 %[w{g}], %[w{g}], ror #8",
                  f"smlad %[a{g}], %[w{g}], %[v23], %[a{g}]"]
    return lines


def kernel_block_bytes(gates: int) -> int:
    """The code of one block of the DSP gate-sum kernel: its instructions are all 32-bit
    Thumb-2 (the cost model counts the blocks each layer's calls instantiate)."""
    return 4 * len(_dsp_block(gates))


def _asm(lines: list[str]) -> str:
    """The lines as the string literals of an __asm__ statement."""
    return ("\n" + " " * 16).join(f'"{line}\\n\\t"' for line in lines)


def _dot_int(gates: int) -> str:
    """dot_gates for ``gates`` rows: the generator writes every row out, so the sums stay in
    registers (a loop over the rows would keep them in memory)."""
    rows = range(gates)
    portable = [" " * 8 + f"a{g} += " + " + ".join(
        f"w[{4 * g + SXTB16_ORDER[k]}] * v[{k}]" for k in range(BLOCK)) + ";" for g in rows]
    outputs = ", ".join([*(f'[a{g}] "+r"(a{g})' for g in rows), '[v] "+r"(v)', '[w] "+r"(w)',
                         '[v01] "=&r"(v01)', '[v23] "=&r"(v23)',
                         *(f'[w{g}] "=&r"(w{g})' for g in rows), '[unpacked] "=&r"(unpacked)'])
    return _template("dot_int.c.tmpl").substitute(
        accumulators=f"int32_t {', '.join(f'a{g} = acc[{g}]' for g in rows)};",
        weight_words=", ".join(f"w{g}" for g in rows),
        four_blocks=_asm(_dsp_block(gates) * 4), two_blocks=_asm(_dsp_block(gates) * 2),
        one_block=_asm(_dsp_block(gates)),
        asm_outputs=outputs, products="\n".join(portable),
        results="\n".join(f"    acc[{g}] = a{g};" for g in rows))


def _lines(*lines: str) -> str:
    return "\n".join(" " * 8 + line for line in lines)


def _gate_sums(cell: str, shared: bool) -> str:
    """The part of a step that turns one cell's gate sums into what its gates need: ``pre``
    (LSTM, saturated Q3.12) or ``reset``, ``update``, ``n_x``, ``n_h`` (GRU). Shared sums run
    over [x | h] at once; separate ones over x, then over h."""
    gates = 4 if cell == "lstm" else 3
    start = ["memcpy(acc, L->bias + GATES * j, sizeof acc);"]
    over_x = "dot_gates(w, v, L->x_blocks, acc);"
    over_h = "dot_gates(w + 4 * GATES * L->x_blocks, v + x_columns, L->h_blocks, acc);"
    rq = "requantize(acc[{g}], L->requant[{g}])"
    rq_h = "requantize(acc[{g}], L->requant_h[{g}])"
    if cell == "lstm" and shared:
        return _lines(*start, "dot_gates(w, v, L->x_blocks + L->h_blocks, acc);",
                      *(f"pre[{g}] = saturate16({rq.format(g=g)});" for g in range(gates)))
    if cell == "lstm":
        return _lines(*start, over_x,
                      *(f"pre[{g}] = {rq.format(g=g)};" for g in range(gates)),
                      "memset(acc, 0, sizeof acc);", over_h,
                      *(f"pre[{g}] = saturate16(pre[{g}] + {rq_h.format(g=g)});"
                        for g in range(gates)))
    if shared:  # r and z sum on over h; n's input sum is requantized before its recurrent one
        return _lines(*start, over_x, f"n_x = {rq.format(g=2)};", "acc[2] = L->bias_hn[j];",
                      over_h, f"reset = lookup(SIGMOID_TABLE + 128, saturate16({rq.format(g=0)}));",
                      f"update = lookup(SIGMOID_TABLE + 128, saturate16({rq.format(g=1)}));",
                      f"n_h = saturate16({rq_h.format(g=2)});")
    return _lines(*start, over_x, f"reset = {rq.format(g=0)};", f"update = {rq.format(g=1)};",
                  f"n_x = {rq.format(g=2)};", "acc[0] = 0;", "acc[1] = 0;",
                  "acc[2] = L->bias_hn[j];", over_h,
                  f"reset = lookup(SIGMOID_TABLE + 128, saturate16(reset + {rq_h.format(g=0)}));",
                  f"update = lookup(SIGMOID_TABLE + 128, saturate16(update + {rq_h.format(g=1)}));",
                  f"n_h = saturate16({rq_h.format(g=2)});")


def _layer_calls(cell: str, layers: int, element: str) -> str:
    """The body of ``step`` after the input: one call per layer, written out so that each
    call, inlined, is compiled with its own layer's constants."""
    lines = []
    for k in range(layers):
        x_next = (f"state_v(state, &LAYERS[{k + 1}], now), LAYERS[{k + 1}].x_shift"
                  if k + 1 < layers else
                  f"state_v(state, &LAYERS[{k}], 1 - now) + 4 * LAYERS[{k}].x_blocks, "
                  f"LAYERS[{k}].h_shift")
        lines.append(f"    {cell}_step(&LAYERS[{k}], state_v(state, &LAYERS[{k}], now),\n"
                     f"              state_v(state, &LAYERS[{k}], 1 - now), {x_next},\n"
                     f"              ({element} *)((char *)state + LAYERS[{k}].c));")
    return "\n".join(lines)


def _packed_table(table: np.ndarray) -> np.ndarray:
    """A 257-entry Q0.15 table as 256 int32 words: entry k << 16 | the slope to entry k + 1."""
    low, slope = table[:-1].astype(np.int64), np.diff(table).astype(np.int64)
    return ((low << 16) | (slope & 0xFFFF)).astype(np.int64).astype(np.uint32).view(np.int32)


def _requants(requants: tuple) -> str:
    return "{" + ", ".join(f"{{{r.multiplier}, {r.shift}}}" if r else "{0, 0}"
                           for r in requants) + "}"


def integer_c(net: IntNetwork, info: ModelInfo, prefix: str) -> CSource:
    """``model.h``/``model.c`` of the integer network."""
    gates = len(net.layers[0].requant)
    blocks, structs, lengths = [], [], []
    for index, layer in enumerate(net.layers):
        name = f"L{index + 1}_"
        x_blocks, h_blocks = padded(layer.inputs, BLOCK) // BLOCK, padded(layer.cells, BLOCK) // BLOCK
        lengths.append(BLOCK * (x_blocks + h_blocks))
        blocks += [_array(name + "W", "int8_t", interleaved(layer.w_x, layer.w_h, BLOCK)),
                   _array(name + "BIAS", "int32_t", layer.bias.T)]
        if net.cell == "gru":
            blocks.append(_array(name + "BIAS_HN", "int32_t", layer.bias_hn))
        structs.append(
            f"    {{.inputs = {layer.inputs}, .cells = {layer.cells}, .x_blocks = {x_blocks}, "
            f".h_blocks = {h_blocks}, .w = {name}W, .bias = {name}BIAS,\n"
            f"     .bias_hn = {name + 'BIAS_HN' if net.cell == 'gru' else '0'}, "
            f".requant = {_requants(layer.requant)},\n"
            f"     .requant_h = {_requants(layer.requant_h)},\n"
            f"     .x_shift = {layer.x_shift}, .h_shift = {layer.h_shift}, "
            f".h_frac = {layer.h_frac}, .c_frac = {layer.c_frac}, "
            f"{_offsets(prefix, net.cell, index)}}},")
    constants = "".join([
        _array("INPUT_MEAN", "float", net.mean),
        _array("INPUT_MULTIPLIER", "float", net.input_multiplier),
        _array("SIGMOID_TABLE", "int32_t", _packed_table(SIGMOID_TABLE)),
        _array("TANH_TABLE", "int32_t", _packed_table(TANH_TABLE)),
        *blocks,
        "static const struct layer LAYERS[LAYER_COUNT] = {\n" + "\n".join(structs) + "\n};\n",
        _array("OUT_WEIGHTS", "int8_t", net.w_out),
        _array("OUT_BIAS", "head_acc_t", net.bias_out),
        f"static const float OUT_SCALE = {float_literal(float(net.out_scale))}; /* logits = acc * scale */\n",
    ])
    bits = net.bits
    shared = net.layers[0].shared(0)
    source = _template("int_model.c.tmpl").substitute(
        _common(info, prefix), layer_calls=_layer_calls(net.cell, len(net.layers), "int16_t"),
        act_type=f"int{bits}_t",
        head_acc_type="int32_t" if bits == 8 else "int64_t", act_bits=bits,
        act_min=-(2 ** (bits - 1)), act_max=2 ** (bits - 1) - 1,
        layer_count=len(net.layers), gates=gates, gate_order=GATE_ORDER[net.cell],
        constants=constants, step_name=f"{net.cell}_step", dot_function=_dot_int(gates),
        step_function=_template(f"{net.cell}_step.c.tmpl").substitute(
            gate_sums=_gate_sums(net.cell, shared)))
    state = state_of(net.cell, [layer.cells for layer in net.layers], lengths, "int16_t")
    return CSource(_header(info, prefix, state), source)


def _float_columns(gates: int) -> list[str]:
    """VFP assembly of four columns for ``gates`` rows: inputs in s12-s15, each column's
    weights in s8 up, multiplied in place, then added to the accumulators."""
    weights = [f"s{8 + g}" for g in range(gates)]
    lines = ["vldmia %[v]!, {s12-s15}"]
    for column in range(4):
        lines.append(f"vldmia %[w]!, {{s8-s{7 + gates}}}")
        lines += [f"vmul.f32 {r}, {r}, s{12 + column}" for r in weights]
        lines += [f"vadd.f32 %[a{g}], %[a{g}], {r}" for g, r in enumerate(weights)]
    return lines


def _dot_float(gates: int) -> str:
    rows = range(gates)
    return _template("dot_f32.c.tmpl").substitute(
        accumulators=f"float {', '.join(f'a{g} = acc[{g}]' for g in rows)};",
        four_columns=_asm(_float_columns(gates)),
        asm_outputs=", ".join([*(f'[a{g}] "+t"(a{g})' for g in rows), '[v] "+r"(v)',
                               '[w] "+r"(w)']),
        clobbers=", ".join(f'"s{r}"' for r in (*range(8, 8 + gates), 12, 13, 14, 15)),
        products="\n".join(" " * 8 + f"a{g} += w[{g}] * x;" for g in rows),
        results="\n".join(f"    acc[{g}] = a{g};" for g in rows))


def float_c(net: Network, mean: np.ndarray, std: np.ndarray, info: ModelInfo,
            prefix: str) -> CSource:
    """``model.h``/``model.c`` of the float network; raw features are standardized inside."""
    gates = len(net.layers[0].bias_ih) // net.layers[0].weight_hh.shape[1]
    blocks, structs, cells = [], [], []
    for index, layer in enumerate(net.layers):
        width, inputs = layer.weight_hh.shape[1], layer.weight_ih.shape[1]
        cells.append(width)
        name = f"L{index + 1}_"
        b_ih = layer.bias_ih.reshape(gates, width).astype(np.float32)
        b_hh = layer.bias_hh.reshape(gates, width).astype(np.float32)
        bias = b_ih + b_hh if net.cell == "lstm" else np.concatenate([b_ih[:2] + b_hh[:2],
                                                                      b_ih[2:]])
        w = interleaved(layer.weight_ih.reshape(gates, width, inputs),
                        layer.weight_hh.reshape(gates, width, width), 1)
        blocks += [_array(name + "W", "float", w), _array(name + "BIAS", "float", bias.T)]
        if net.cell == "gru":
            blocks.append(_array(name + "BIAS_HN", "float", b_hh[2]))
        structs.append(
            f"    {{.inputs = {inputs}, .cells = {width}, .w = {name}W, .bias = {name}BIAS, "
            f".bias_hn = {name + 'BIAS_HN' if net.cell == 'gru' else '0'},\n"
            f"     {_offsets(prefix, net.cell, index)}}},")
    constants = "".join([
        _array("INPUT_MEAN", "float", mean.astype(np.float32)),
        _array("INPUT_MULTIPLIER", "float", (1.0 / std).astype(np.float32)),
        *blocks,
        "static const struct layer LAYERS[LAYER_COUNT] = {\n" + "\n".join(structs) + "\n};\n",
        _array("OUT_WEIGHTS", "float", net.head_weight),
        _array("OUT_BIAS", "float", net.head_bias),
    ])
    source = _template("float_model.c.tmpl").substitute(
        _common(info, prefix), layer_count=len(net.layers), gates=gates,
        gate_order=GATE_ORDER[net.cell], constants=constants, step_name=f"{net.cell}_step",
        dot_function=_dot_float(gates),
        step_function=_template(f"float_{net.cell}_step.c.tmpl").template)
    lengths = [layer.weight_ih.shape[1] + width for layer, width in zip(net.layers, cells)]
    return CSource(_header(info, prefix, state_of(net.cell, cells, lengths, "float")), source)
