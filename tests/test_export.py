"""The export: C compiled here and held to the numpy networks (bit for bit for the integer
dtypes), the streaming API, ONNX through onnxruntime, the PyTorch module, the Cortex-M
cross-compilers, and `dse export` as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dse import quantize
from dse.architecture import parse_arch
from dse.cells import forward
from dse.export import c, verify
from dse.export.bundle import raw_windows, standardize_like_c
from dse.proxy import DEFAULT_BUDGET
from dse.training import train

NETWORKS = ["lstm:12", "gru:12", "lstm:10,6", "gru:7,9", "lstm:6,5,8", "gru:9,4,6"]
ARM = shutil.which("arm-none-eabi-gcc")
CORES = {"cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
         "cortex-m0plus": ["-mcpu=cortex-m0plus", "-mthumb"]}


@pytest.fixture(scope="module")
def trained(motion):
    budget = replace(DEFAULT_BUDGET, epochs=1)
    return {text: train(parse_arch(text, features=6, timesteps=48, classes=6), motion, budget,
                        0).network for text in NETWORKS}


def write(folder: Path, source: c.CSource) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.h").write_text(source.header)
    (folder / "model.c").write_text(source.source)
    return folder


def info(text: str, dtype: str) -> c.ModelInfo:
    return c.ModelInfo("test_model", "test", text, dtype, "motion", 48, 6, 6)


def generate(network, motion, text: str, dtype: str, prefix: str = "dse_"):
    """The C source and the numpy reference logits on the raw test windows."""
    raw = raw_windows(motion)
    if dtype == "float32":
        reference, _ = forward(network, standardize_like_c(motion, raw))
        return c.float_c(network, motion.mean, motion.std, info(text, dtype), prefix), reference
    integer = quantize.quantize_network(network, dtype, motion.X_train, mean=motion.mean,
                                        std=motion.std)
    return c.integer_c(integer, info(text, dtype), prefix), quantize.run(integer, raw)


@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
@pytest.mark.parametrize("text", NETWORKS)
def test_c_equals_the_numpy_network_on_every_test_window(tmp_path, motion, trained, text: str,
                                                         dtype: str) -> None:
    compiler = verify.host_compiler()
    if compiler is None:
        pytest.skip("no C compiler")
    source, reference = generate(trained[text], motion, text, dtype)
    folder = write(tmp_path / "out", source)
    run = verify.run_on_host(folder, "dse_", raw_windows(motion), compiler=compiler)
    assert len(run.logits) == len(motion.y_test) == 600
    if dtype == "float32":
        scale = np.maximum(np.abs(reference).max(axis=1, keepdims=True), 1.0)
        assert np.all(np.abs(run.logits - reference) <= 1e-5 * scale)
    else:  # the same 32 bits, every logit of every window
        assert np.array_equal(run.logits.view(np.uint32), reference.view(np.uint32))
    assert np.array_equal(run.streamed.view(np.uint32), run.logits.view(np.uint32))
    # two streams stepped in turn: each state is its own (no hidden globals)
    assert np.array_equal(run.interleaved.view(np.uint32), run.logits.view(np.uint32))
    assert np.array_equal(run.classes[:, 0], run.logits.argmax(axis=1))
    assert np.array_equal(run.classes[:, 1], run.logits.argmax(axis=1))


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_c_equals_numpy_where_the_sums_reach_their_widest(tmp_path, dtype: str) -> None:
    """A GRU whose weights the quantizer must coarsen to keep every sum in 32 bits, with
    inputs at the clamp: the int32 C still gives numpy's bits (nothing overflowed)."""
    from dse.cells import init_network

    compiler = verify.host_compiler()
    if compiler is None:
        pytest.skip("no C compiler")
    rng = np.random.default_rng(3)
    net = init_network("gru", 4, (600, 5), 3, rng)
    net.layers[0].weight_hh *= 400.0
    net.layers[0].bias_ih[:] = 1e4
    windows = (rng.normal(size=(24, 6, 4)) * 50).astype(np.float32)  # beyond the calibration
    integer = quantize.quantize_network(net, dtype, windows / 50)
    folder = write(tmp_path / "out", c.integer_c(integer, c.ModelInfo(
        "wide", "test", "gru:600,5", dtype, "synthetic", 6, 4, 3), "dse_"))
    run = verify.run_on_host(folder, "dse_", windows, compiler=compiler)
    assert np.array_equal(run.logits.view(np.uint32), quantize.run(integer, windows).view(
        np.uint32))


def test_a_wrong_reference_is_caught(tmp_path, motion, trained) -> None:
    source, reference = generate(trained["gru:12"], motion, "gru:12", "int8")
    folder = write(tmp_path / "out", source)
    run = verify.run_on_host(folder, "dse_", raw_windows(motion), compiler="gcc")
    nudged = reference.copy()
    nudged[17, 3] = np.nextafter(nudged[17, 3], np.float32(np.inf))  # one bit of one logit
    assert verify.compare(run, reference, exact=True, compiler="gcc").identical
    assert not verify.compare(run, nudged, exact=True, compiler="gcc").identical


@pytest.mark.skipif(ARM is None and not os.environ.get("CI"), reason="no arm-none-eabi-gcc")
@pytest.mark.parametrize("core", sorted(CORES))
@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_c_compiles_for_cortex_m_without_a_warning(tmp_path, motion, trained, core: str,
                                                   dtype: str) -> None:
    assert ARM, ".ci/run must apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
    for text in ("lstm:10,6", "gru:7,9"):
        source, _ = generate(trained[text], motion, text, dtype, prefix="kws_")
        folder = write(tmp_path / text.replace(":", "-"), source)
        done = subprocess.run([ARM, *CORES[core], "-std=c99", "-O2", "-Wall", "-Wextra",
                               "-pedantic", "-c", str(folder / "model.c"), "-o",
                               str(folder / "model.o")], capture_output=True, text=True)
        assert done.returncode == 0 and done.stderr == "", done.stderr


def test_the_prefix_names_every_public_symbol(tmp_path, motion, trained) -> None:
    source, _ = generate(trained["lstm:12"], motion, "lstm:12", "int8", prefix="kws_")
    for name in ("kws_predict", "kws_reset", "kws_step", "kws_result", "KWS_TIMESTEPS 48",
                 "KWS_FEATURES 6", "KWS_CLASSES 6"):
        assert name in source.header
    assert "dse_" not in source.header + source.source.split("*/", 1)[1]
    with pytest.raises(Exception, match="not the start of a C identifier"):
        c.check_prefix("9lives")


def test_c_uses_no_libm_and_no_allocation(motion, trained) -> None:
    for dtype in ("int8", "int16", "float32"):
        source, _ = generate(trained["gru:7,9"], motion, "gru:7,9", dtype)
        for word in ("math.h", "expf", "tanhf", "malloc", "free("):
            assert word not in source.source
        weight_type = "float" if dtype == "float32" else "int8_t"
        assert f"static const {weight_type} L1_W[" in source.source  # const: in flash


def test_onnx_and_torch_equal_the_float_network(tmp_path, motion, trained) -> None:
    pytest.importorskip("onnxruntime")
    torch = pytest.importorskip("torch")
    import importlib.util

    from dse.export import onnx as onnx_export
    from dse.export import torch as torch_export

    raw = raw_windows(motion)
    for text in ("lstm:10,6", "gru:9,4,6"):
        network = trained[text]
        reference, _ = forward(network, standardize_like_c(motion, raw))
        scale = np.maximum(np.abs(reference).max(axis=1, keepdims=True), 1.0)
        path = onnx_export.write_onnx(network, motion.mean, motion.std, tmp_path / "m.onnx",
                                      timesteps=48)
        import onnx

        kinds = [node.op_type for node in onnx.load(str(path)).graph.node]
        assert kinds.count(text[:4].rstrip(":").upper()) == text.count(",") + 1
        if text.startswith("gru"):
            grus = [n for n in onnx.load(str(path)).graph.node if n.op_type == "GRU"]
            assert all(a.i == 1 for n in grus for a in n.attribute if a.name == "linear_before_reset")
        assert np.all(np.abs(onnx_export.run_onnx(path, raw) - reference) <= 1e-5 * scale)
        folder = tmp_path / text.replace(":", "-")
        folder.mkdir()
        torch_export.write_torch(network, motion.mean, motion.std, info(text, "float32"), folder)
        spec = importlib.util.spec_from_file_location("exported", folder / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with torch.no_grad():
            logits = module.load().double()(torch.from_numpy(raw).double()).numpy()
        assert np.all(np.abs(logits - reference) <= 1e-5 * scale)


# --- dse export as a user runs it ----------------------------------------------------------

QUICK = ["--epochs", "2", "--seeds", "1"]


def dse(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_export_from_a_study_row_writes_a_checked_folder(small_study: Path, tmp_path) -> None:
    done = dse("export", "--study", "s", "--runs", str(small_study / "runs"), "--row", "1",
               "--out", "out", *QUICK, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    import pandas as pd

    first = pd.read_csv(small_study / "runs" / "s" / "pareto.csv").iloc[0]
    assert (report["arch"], report["dtype"]) == (first["arch"], first["dtype"])
    assert report["source"]["study"] == "s" and report["search"]["trial"] == first["number"]
    assert report["search"]["accuracy_quantized"] == first["accuracy_quantized"]
    assert report["cost"]["profile"] == "stm32l4" and report["cost"]["estimate"] is True
    # priced as the search priced it: the profile's default, the C this export writes
    assert (report["cost"]["runtime"], report["cost"]["basis"]) == ("dse-c", "fitted to emulation")
    assert report["cost"]["latency_ms"] == pytest.approx(first["latency_ms"])
    assert report["cost_generated"] is None
    assert report["checks"]["c_host"]["checked"] and report["checks"]["c_host"]["identical"]
    for name, digest in report["files"].items():
        import hashlib

        assert hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest() == digest
    make = subprocess.run(["make"], cwd=tmp_path / "out", capture_output=True, text=True)
    assert make.returncode == 0 and "warning" not in make.stderr, make.stderr
    example = subprocess.run(["./model"], cwd=tmp_path / "out", capture_output=True, text=True)
    assert example.returncode == 0 and example.stdout.startswith("class ")


@pytest.mark.slow
def test_an_export_from_a_study_prices_as_the_study_did(tmp_path) -> None:
    """A study priced for TFLite Micro (an estimate) and under a latency budget: the export
    reports that runtime with the study's budget, and the C it writes (dse-c) beside it."""
    run = dse("run", "--profile", "stm32l4", "--space", "small", "--trainings", "3", "--epochs",
              "1", "--train-seeds", "1", "--runtime", "tflm-cmsis-nn", "--max-latency-ms",
              "4", "--study", "t", "--no-progress", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "cost model of tflm-cmsis-nn, estimate" in run.stdout
    import pandas as pd

    trials = pd.read_csv(tmp_path / "runs" / "t" / "trials.csv")
    assert set(trials["runtime"]) == {"tflm-cmsis-nn"} and set(trials["cost_basis"]) == {"estimate"}
    done = dse("export", "--study", "t", "--row", "1", "--out", "out", *QUICK, "--format", "c",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "export.json").read_text())
    first = pd.read_csv(tmp_path / "runs" / "t" / "pareto.csv").iloc[0]
    cost, generated = report["cost"], report["cost_generated"]
    assert (cost["runtime"], cost["basis"]) == ("tflm-cmsis-nn", "estimate")
    assert cost["latency_ms"] == pytest.approx(first["latency_ms"])
    assert cost["constraints"]["latency_ms"] == pytest.approx(first["latency_ms"] - 4)
    assert (generated["runtime"], generated["basis"]) == ("dse-c", "fitted to emulation")
    assert generated["latency_ms"] != cost["latency_ms"]
    note = [line for line in done.stdout.splitlines() if line.startswith("note: priced for")]
    assert len(note) == 1 and f"{generated['latency_ms']:.2f} ms" in note[0]


@pytest.mark.slow
def test_direct_export_and_its_text_output(tmp_path) -> None:
    done = dse("export", "--arch", "gru:8", "--dtype", "int16", "--task", "anomaly", "--out",
               "g", "--format", "c", "--prefix", "vib_", *QUICK, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "equal to the numpy network bit for bit on 2000 test windows" in done.stdout
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        "Makefile", "export.json", "golden.npz", "main.c", "model.c", "model.h"]
    golden = np.load(tmp_path / "g" / "golden.npz")
    assert golden["windows"].shape == (16, 60, 3) and golden["logits"].shape == (16, 5)
    assert np.array_equal(golden["classes"], golden["logits"].argmax(axis=1))
    assert "vib_predict" in (tmp_path / "g" / "model.h").read_text()


@pytest.fixture(scope="module")
def int8_study(tmp_path_factory) -> Path:
    """Study 's' of an int8-only GRU space, run once for the bad-input cases (which only
    read it): the folder ``dse run`` ran in."""
    folder = tmp_path_factory.mktemp("int8-study")
    space = folder / "int8.toml"
    space.write_text('layers = [1, 1]\ncells = [4, 8]\ncell_types = ["gru"]\ndtypes = ["int8"]\n')
    made = dse("run", "--profile", "stm32l4", "--space", str(space), "--trainings", "2",
               "--epochs", "1", "--study", "s", "--no-progress", cwd=folder)
    assert made.returncode == 0, made.stderr
    return folder


@pytest.mark.parametrize(("args", "message"), [
    (["--study", "nope", "--row", "1"], "no such file"),
    (["--study", "s", "--row", "99"], "rows in its pareto.csv; --row must be 1.."),
    (["--study", "s", "--arch", "lstm:512"], "lstm:512 (int8) is not among the trained networks"),
    (["--study", "s", "--arch", "gru:8", "--dtype", "float32"], "dtype 'float32' is not in study"),
    (["--study", "s", "--row", "1", "--task", "motion"], "--study reuses the study's task"),
    (["--arch", "lstm:8"], "either a built-in task"),
    (["--arch", "lstm:8", "--task", "motion", "--prefix", "a-b"], "is not the start of a C"),
])
@pytest.mark.slow
def test_bad_export_input_is_one_line(int8_study: Path, tmp_path, args: list[str],
                                     message: str) -> None:
    done = dse("export", *args, "--out", str(tmp_path / "x"), *QUICK, cwd=int8_study)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_non_empty_folder_needs_force_and_keeps_other_files(tmp_path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    args = ["export", "--arch", "gru:4", "--task", "motion", "--format", "c", "--out", "out",
            *QUICK]
    refused = dse(*args, cwd=tmp_path)
    assert refused.returncode == 2 and "is not empty" in refused.stderr
    assert dse(*args, "--force", cwd=tmp_path).returncode == 0
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "model.c").is_file()


def test_onnx_without_its_extra_says_what_to_install(tmp_path) -> None:
    hidden = tmp_path / "hidden" / "onnx"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("hidden by the test")\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "hidden"))
    done = subprocess.run([sys.executable, "-m", "dse.cli", "export", "--arch", "gru:4",
                           "--task", "motion", "--format", "onnx", "--out", "o", *QUICK],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip() == ('dse: error: ONNX export needs the onnx package: pip install '
                                   '"dse[export]" (or export the other formats with --format c '
                                   'torch).')
    assert not (tmp_path / "o").exists()  # refused before the folder or any training
