"""The proxy score: deterministic in any process, quantization measured, divergence handled."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from dse import proxy
from dse.architecture import Architecture
from dse.proxy import DEFAULT_BUDGET, evaluate
from dse.tasks import Dataset, load_task
from dse.training import MIN_STEPS, MIN_STEPS_PER_EPOCH, MIN_VALIDATION, sized_for

QUICK = replace(DEFAULT_BUDGET, epochs=2)


@pytest.fixture(scope="module")
def motion():
    return load_task("motion")


def arch(data, text: str = "lstm:16", dtype: str = "int8") -> Architecture:
    cell, cells = text.split(":")
    return Architecture(cell, tuple(map(int, cells.split(","))), dtype, data.features,
                        data.timesteps, data.classes)


def test_score_is_deterministic_and_order_free(motion) -> None:
    a, b = arch(motion, "gru:8"), arch(motion, "lstm:8")
    first = evaluate(a, motion, budget=QUICK, seed=3)
    evaluate(b, motion, budget=QUICK, seed=3)  # another candidate in between changes nothing
    again = evaluate(a, motion, budget=QUICK, seed=3)
    assert (first.accuracy, first.accuracy_quantized) == (again.accuracy, again.accuracy_quantized)
    other_seed = evaluate(a, motion, budget=QUICK, seed=4)
    assert other_seed.accuracy != first.accuracy or other_seed.epochs_run != first.epochs_run


def test_score_is_identical_in_another_process(motion) -> None:
    result = evaluate(arch(motion, "gru:8"), motion, budget=QUICK, seed=1)
    code = (
        "import json; from dataclasses import replace; from dse.architecture import parse_arch;"
        "from dse.proxy import DEFAULT_BUDGET, evaluate; from dse.tasks import load_task;"
        "d = load_task('motion'); a = parse_arch('gru:8', features=d.features, "
        "timesteps=d.timesteps, classes=d.classes);"
        "r = evaluate(a, d, budget=replace(DEFAULT_BUDGET, epochs=2), seed=1);"
        "print(json.dumps([r.accuracy, r.accuracy_quantized]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [result.accuracy, result.accuracy_quantized]


def test_score_does_not_depend_on_blas_threads(motion) -> None:
    # OpenBLAS splits a product differently for each thread count (the last bits differ), so
    # `dse evaluate` on all cores would not give the search's one-thread-per-worker numbers.
    trained = []
    for threads in (1, 2):
        proxy._RECENT.clear()
        with threadpool_limits(threads, user_api="blas"):
            evaluate(arch(motion, "lstm:32"), motion, budget=QUICK)
        [run] = proxy._RECENT.values()
        trained.append(run.network.arrays())
    assert all(np.array_equal(a, b) for a, b in zip(*trained))


def test_bigger_networks_learn_more(motion) -> None:
    budget = replace(DEFAULT_BUDGET, epochs=5)
    small = evaluate(arch(motion, "gru:4"), motion, budget=budget)
    big = evaluate(arch(motion, "gru:48"), motion, budget=budget)
    assert big.accuracy > small.accuracy + 0.1
    assert 1 / motion.classes < big.accuracy <= 1


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_quantization_is_measured_not_assumed(motion, dtype: str) -> None:
    # accuracy_quantized is the integer network's accuracy, computed here independently from
    # the same float training; a proxy that returned the float accuracy would fail both.
    from dse import quantize

    candidate = arch(motion, "lstm:12", dtype)
    result = evaluate(candidate, motion, budget=QUICK, seed=1)
    trained = proxy._trained(candidate, motion, QUICK, 1)
    network = quantize.quantize_network(trained.network, dtype, motion.X_train)
    logits = quantize.run(network, motion.X_test)
    assert result.accuracy_quantized == np.mean(logits.argmax(axis=1) == motion.y_test)
    assert result.accuracy_quantized != result.accuracy  # small and briefly trained: they differ
    assert abs(result.accuracy - result.accuracy_quantized) < 0.05
    float_result = evaluate(arch(motion, "lstm:12", "float32"), motion, budget=QUICK, seed=1)
    assert float_result.accuracy == float_result.accuracy_quantized == result.accuracy


def test_divergence_is_reported_not_raised(motion) -> None:
    wild = replace(QUICK, learning_rate=1e38, clip_norm=1e38)
    result = evaluate(arch(motion, "lstm:8"), motion, budget=wild)
    assert result.diverged is not None and "loss became" in result.diverged
    assert result.accuracy == pytest.approx(1 / motion.classes, abs=0.05)


def test_training_runs_in_float32(motion) -> None:
    from dse.cells import init_network, loss_and_grads

    net = init_network("gru", motion.features, (8,), motion.classes, np.random.default_rng(0))
    _, grads = loss_and_grads(net, motion.X_train[:8], motion.y_train[:8])
    assert {g.dtype for g in grads} == {np.dtype(np.float32)}


@pytest.mark.parametrize("windows", [1200, 2000, 3200])
def test_the_built_in_tasks_keep_the_default_budget(windows: int) -> None:
    assert sized_for(DEFAULT_BUDGET, windows) == DEFAULT_BUDGET


@pytest.mark.parametrize("windows", [12, 40, 100, 300])
def test_a_small_data_set_gets_a_budget_that_trains(windows: int) -> None:
    budget = sized_for(DEFAULT_BUDGET, windows)
    validation = round(windows * budget.validation_fraction)
    fit = windows - validation
    steps = budget.epochs * -(-fit // budget.batch_size)
    assert validation >= min(MIN_VALIDATION, 0.3 * windows - 0.5)  # not a handful of windows
    assert -(-fit // budget.batch_size) >= min(MIN_STEPS_PER_EPOCH, fit // 4)
    assert steps >= MIN_STEPS
    assert budget.patience / budget.epochs == pytest.approx(  # patience in proportion
        DEFAULT_BUDGET.patience / DEFAULT_BUDGET.epochs, abs=0.05)


def test_a_small_data_set_learns_with_its_budget() -> None:
    # 40 training windows at batch 64 took one Adam step per epoch and scored at chance
    rng = np.random.default_rng(0)
    y = np.arange(80) % 2
    X = rng.normal(size=(80, 16, 2)).astype(np.float32)
    X[y == 1, :, 0] += 1.0  # a clear signal on one feature
    data = Dataset("few", X[:40], y[:40], X[40:], y[40:], 2, np.zeros(2), np.ones(2))
    arch = Architecture("gru", (8,), "float32", 2, 16, 2)
    fitted = evaluate(arch, data, seed=0).accuracy
    unfitted = evaluate(arch, data, budget=DEFAULT_BUDGET, seed=0).accuracy
    assert fitted >= 0.9 and fitted > unfitted


def test_a_test_split_too_coarse_to_rank_is_named() -> None:
    data = load_task("motion")
    assert proxy.too_small_to_rank(data) is None  # 600 test windows
    few = Dataset("few", data.X_train, data.y_train, data.X_test[:30], data.y_test[:30],
                  data.classes, data.mean, data.std)
    message = proxy.too_small_to_rank(few, "Data file few.npz")
    assert message.startswith("Data file few.npz has 30 test windows")
    assert "steps of 3.3 points" in message and "at least 100" in message
