"""The cost model against closed forms, the seed article, STM32Cube.AI and PyTorch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.architecture import Architecture, parse_arch
from dse.cost import ArchBatch, estimate, estimate_batch
from dse.errors import DseError
from dse.hardware import Budgets, load_profile

# the TFLite Micro layout's formulas (the dse-c runtime, the profile's default, is tested
# against emulation in test_measure.py)
PROFILE = replace(load_profile("stm32l4"), runtime="tflm-cmsis-nn")
RUNTIME = PROFILE.runtime_named()


def arch(text: str, F: int, T: int = 1, K: int = 2, dtype: str = "int8") -> Architecture:
    return parse_arch(text, dtype=dtype, features=F, timesteps=T, classes=K)


architectures = st.builds(
    lambda cell, cells, dtype, F, T, K: Architecture(cell, tuple(cells), dtype, F, T, K),
    st.sampled_from(["lstm", "gru"]),
    st.lists(st.integers(1, 96), min_size=1, max_size=4),
    st.sampled_from(["int8", "int16", "float32"]),
    st.integers(1, 40),
    st.integers(1, 80),
    st.integers(2, 12),
)


def torch_params(a: Architecture) -> int:
    torch = pytest.importorskip("torch")  # only the tests that compare with torch need it
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[a.cell]
    count = 0
    for inputs, cells in zip(a.layer_inputs(), a.cells):
        count += sum(p.numel() for p in rnn(inputs, cells).parameters())
    return count + sum(p.numel() for p in torch.nn.Linear(a.cells[-1], a.classes).parameters())


@settings(max_examples=300, deadline=None)
@given(architectures)
def test_pytorch_convention_equals_torch_numel(a: Architecture) -> None:
    assert estimate(a, PROFILE, convention="pytorch").params == torch_params(a)


def test_pytorch_stacked_module_equals_per_layer_sum() -> None:
    # A stacked torch.nn.LSTM(num_layers=2) counts the same as two single layers.
    torch = pytest.importorskip("torch")
    stacked = torch.nn.LSTM(13, 64, num_layers=2)
    expected = sum(p.numel() for p in stacked.parameters()) + 5 * 64 + 5
    assert estimate(arch("lstm:64,64", 13, K=5), PROFILE, convention="pytorch").params == expected


@settings(max_examples=200, deadline=None)
@given(architectures)
def test_keras_convention_equals_keras_formulas(a: Architecture) -> None:
    expected = 0
    for F, C in zip(a.layer_inputs(), a.cells):
        expected += 4 * (C * (F + C) + C) if a.cell == "lstm" else 3 * (C * (F + C) + 2 * C)
    expected += a.classes * (a.cells[-1] + 1)
    assert estimate(a, PROFILE).params == expected


@settings(max_examples=200, deadline=None)
@given(architectures)
def test_macc_equals_seed_formula(a: Architecture) -> None:
    T, expected = a.timesteps, 0
    for F, C in zip(a.layer_inputs(), a.cells):
        if a.cell == "lstm":
            expected += ((F + C + 1) * 4 * C + C) * T
        else:
            expected += ((F + C + 2) * 3 * C + C) * T
    expected += (a.cells[-1] + 1) * a.classes
    assert estimate(a, PROFILE).macc == expected


def test_worked_examples_by_hand() -> None:
    # Seed article: one LSTM layer, F=6, C=32 -> 4 * (32*6 + 32*32 + 32) = 4,992 parameters;
    # with T=50: ((6 + 32 + 1) * 128 + 32) * 50 = (4,992 + 32) * 50 = 251,200 MACC.
    report = estimate(arch("lstm:32", 6, T=50, K=5), PROFILE)
    assert report.layers[0].params == 4_992
    assert report.layers[0].macc == 251_200
    assert report.layers[1].params == 5 * 33 and report.layers[1].macc == 165
    # docs/cost-model.md, Keras vs PyTorch: two-layer LSTM F=13, C=64: 52,992 vs 53,504 (no head).
    keras = estimate(arch("lstm:64,64", 13), PROFILE)
    pytorch = estimate(arch("lstm:64,64", 13), PROFILE, convention="pytorch")
    assert keras.params - keras.layers[-1].params == 52_992
    assert pytorch.params - pytorch.layers[-1].params == 53_504
    # GRU F=6, C=32: 3 * (32 * 38 + 64) = 3,840 under both conventions.
    assert estimate(arch("gru:32", 6), PROFILE).layers[0].params == 3_840


def test_stm32cubeai_report_macc() -> None:
    # STM32Cube.AI analyze: Bidirectional(LSTM(20)) on T=40, F=1 shows 71,200 MACC per direction.
    assert estimate(arch("lstm:20", 1, T=40), PROFILE).layers[0].macc == 71_200


def test_operation_breakdown_per_step() -> None:
    F, C, T = 10, 16, 7
    lstm = estimate(arch(f"lstm:{C}", F, T=T), PROFILE).layers[0].ops
    assert (lstm.gate_macs, lstm.bias_adds, lstm.pointwise_mults) == (
        4 * C * (F + C) * T, 4 * C * T, 3 * C * T)
    assert (lstm.sigmoid, lstm.tanh) == (3 * C * T, 2 * C * T)
    gru = estimate(arch(f"gru:{C}", F, T=T), PROFILE).layers[0].ops
    assert (gru.gate_macs, gru.bias_adds, gru.pointwise_mults) == (
        3 * C * (F + C) * T, 6 * C * T, 3 * C * T)
    assert (gru.sigmoid, gru.tanh) == (2 * C * T, C * T)


def test_flash_bytes_per_dtype() -> None:
    a = arch("lstm:32", 6, K=5)
    weights, biases = 4 * 32 * 38 + 5 * 32, 4 * 32 + 5
    meta = (12 + 2) * 8  # 8 LSTM weights + 4 biases + dense W, b; scale + zero point each
    reserve = RUNTIME.reserve_flash_bytes
    assert estimate(a, PROFILE).flash_bytes == weights + 4 * biases + meta + reserve
    int16 = estimate(parse_arch("lstm:32", dtype="int16", features=6, classes=5), PROFILE)
    assert int16.flash_bytes == weights + 8 * biases + meta + reserve
    float32 = estimate(parse_arch("lstm:32", dtype="float32", features=6, classes=5), PROFILE)
    assert float32.flash_bytes == 4 * (weights + biases) + reserve


def test_window_ram_by_hand() -> None:
    # int8 lstm:64,32, F=6, T=50, K=5. Feature maps (1 B): input 300, 3,200, 1,600, 5;
    # largest consecutive pair 3,200 + 1,600 (layer 1's output feeds layer 2). Persistent:
    # h (1 B) + c (2 B) per layer, plus 8C int32 kernel sums: 3*96 + 32*96.
    # Scratch: the largest 4C int16 gates = 512.
    expected = (3_200 + 1_600) + 3 * 96 + 32 * 96 + 4 * 64 * 2 + RUNTIME.reserve_ram_bytes
    assert estimate(arch("lstm:64,32", 6, T=50, K=5), PROFILE).ram_bytes == expected
    # Streaming: one step of each map (6, 64, 32, 5); the largest pair is 64 + 32.
    streaming = estimate(arch("lstm:64,32", 6, T=50, K=5), PROFILE, ram_mode="streaming")
    assert streaming.ram_bytes == expected - (3_200 + 1_600) + (64 + 32)


def test_latency_and_energy_follow_profile() -> None:
    a = arch("lstm:16", 4, T=10, dtype="float32")
    report = estimate(a, PROFILE)
    ops = report.layers[0].ops
    cycles = (
        ops.gate_macs / RUNTIME.macs_per_cycle["float32"]
        + ops.elementwise * RUNTIME.cycles_per_elementwise["float32"]
        + ops.activations * RUNTIME.cycles_per_activation["float32"]
        + 10 * RUNTIME.per_step_overhead_cycles["float32"]
    )
    assert report.layers[0].latency_ms == pytest.approx(cycles / PROFILE.clock_hz * 1e3)
    assert report.energy_uj == pytest.approx(report.latency_ms * PROFILE.active_power_mw)


def test_gru_pays_per_op_dispatch_without_fused_kernel() -> None:
    # Same MAC budget, but the GRU runs as gru_ops_per_step separate TFLM ops per step.
    gru = estimate(arch("gru:8", 4, T=100), PROFILE).layers[0]
    dispatch_ms = 100 * RUNTIME.gru_ops_per_step * RUNTIME.per_op_overhead_cycles["int8"] / 80e3
    assert gru.latency_ms > dispatch_ms


def test_violations_name_the_budget_and_amount() -> None:
    big = estimate(arch("lstm:512,512,512", 6, T=50, K=5, dtype="float32"), PROFILE)
    assert not big.fits
    assert big.violations["flash_bytes"] == big.flash_bytes - PROFILE.flash_bytes
    small = estimate(arch("gru:8", 6, T=50), PROFILE, budgets=Budgets(max_latency_ms=0.001))
    assert set(small.violations) == {"latency_ms"}


@settings(max_examples=50, deadline=None)
@given(st.lists(architectures, min_size=1, max_size=20))
def test_vectorized_equals_scalar(archs: list[Architecture]) -> None:
    shape = archs[0]
    archs = [Architecture(a.cell, a.cells, a.dtype, shape.features, shape.timesteps,
                          shape.classes) for a in archs]
    batch = estimate_batch(ArchBatch.from_architectures(archs), PROFILE)
    for row, a in enumerate(archs):
        one = estimate(a, PROFILE)
        assert batch.params[row] == one.params
        assert batch.macc[row] == one.macc
        assert batch.flash_bytes[row] == one.flash_bytes
        assert batch.ram_bytes[row] == one.ram_bytes
        assert batch.latency_ms[row] == pytest.approx(one.latency_ms)
        assert bool(batch.fits[row]) == one.fits


def test_batch_rejects_mixed_task_shapes() -> None:
    with pytest.raises(ValueError, match="one task shape"):
        ArchBatch.from_architectures([arch("lstm:8", 3), arch("lstm:8", 4)])


def test_unknown_convention_lists_choices() -> None:
    with pytest.raises(DseError, match="Unknown convention 'tf'. Available: keras, pytorch"):
        estimate(arch("lstm:8", 3), PROFILE, convention="tf")  # type: ignore[arg-type]


def test_batch_throughput_shape() -> None:
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 65, size=(1000, 3))
    cells[:, 0] = np.maximum(cells[:, 0], 1)
    cells[:, 2] = np.where(cells[:, 1] == 0, 0, cells[:, 2])
    batch = ArchBatch(rng.random(1000) < 0.5, cells, rng.integers(0, 3, 1000), 6, 50, 5)
    out = estimate_batch(batch, PROFILE)
    assert out.params.shape == (1000,) and np.all(out.params > 0)
    assert out.layers.params.shape == (1000, 3) and np.all(out.layers.params[cells == 0] == 0)
