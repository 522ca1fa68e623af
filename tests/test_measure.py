"""The measuring instrument: exports built for Cortex-M4 and M0+, run in unicorn (and QEMU)
to the semihosting exit with the host build's logits; the timing tables against the Arm
manuals' own examples; the calibration's fit recovering known constants."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import need

from dse.architecture import DTYPES, Architecture, parse_arch
from dse.cost import estimate
from dse.errors import DseError
from dse.hardware import CODE_KEYS, load_profile
from dse.resources import data_dir

capstone = need("capstone")
need("unicorn")
ARM = shutil.which("arm-none-eabi-gcc")
needs_toolchain = pytest.mark.skipif(ARM is None and not os.environ.get("CI"),
                                     reason="no arm-none-eabi-gcc")
QUICK = ["--epochs", "1", "--seeds", "1", "--format", "c"]


def dse(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=900, env=env)


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    """A small LSTM and a small GRU, trained briefly and exported as C."""
    root = tmp_path_factory.mktemp("exports")
    made = {}
    for arch in ("lstm:8", "gru:8"):
        out = root / arch.replace(":", "-")
        done = dse("export", "--arch", arch, "--dtype", "int8", "--task", "motion", "--out",
                   str(out), "--profile", "stm32l4", *QUICK, cwd=root)
        assert done.returncode == 0, done.stderr
        made[arch] = out
    return made


@needs_toolchain
@pytest.mark.parametrize("profile", ["stm32l4", "samd21"])  # Cortex-M4F and Cortex-M0+
@pytest.mark.parametrize("arch", ["lstm:8", "gru:8"])
def test_an_export_runs_in_the_emulator_with_the_host_builds_logits(exports, tmp_path,
                                                                   profile: str, arch: str) -> None:
    done = dse("measure", str(exports[arch]), "--profile", profile, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["core"] == {"stm32l4": "cortex-m4", "samd21": "cortex-m0plus"}[profile]
    assert Path(result["elf"]).is_file() and result["runtime"] == "dse-c"
    assert result["logits"] == {"windows": 4, "equal_golden": True, "equal_host_build": True}
    measured, predicted = result["measured"], result["predicted"]
    for key in ("flash_bytes", "ram_bytes", "cycles", "latency_ms", "energy_uj"):
        assert measured[key] > 0 and predicted[key] > 0, key
    assert 0 < measured["instructions"] < measured["instructions_total"]
    assert measured["cycles"] >= measured["instructions"]  # no instruction takes under a cycle
    assert measured["stack_bytes"] > 0 and measured["ram_bytes"] == (
        measured["static_ram_bytes"] + measured["stack_bytes"])
    assert sum(result["instruction_mix"].values()) == measured["instructions"]
    assert result["unclassified_instructions"] == {}  # the timing table knows every one
    assert predicted["estimate"] is True and "not a board measurement" in result["note"]
    # the state struct is exact in the cost model; the stack is the largest the fit saw
    report = estimate(parse_arch(arch, features=6, timesteps=48, classes=6),
                      load_profile(profile), runtime="dse-c")
    stack = load_profile(profile).runtime_named("dse-c").stack_bytes[f"{arch[:-2]}_int8"]
    assert measured["static_ram_bytes"] == report.ram_bytes - stack
    assert measured["stack_bytes"] <= stack
    gates = 4 if arch.startswith("lstm") else 3
    padded_macs = gates * 8 * (8 + 8) * 48  # F = 6 and C = 8 read in blocks of 4 columns
    if profile == "stm32l4":  # the DSP core: every gate sum on SMLAD, two MACs each
        assert 2 * result["instruction_mix"]["smlad"] == padded_macs
    else:
        assert "smlad" not in result["instruction_mix"]


@needs_toolchain
def test_an_export_in_a_folder_with_a_comma_builds_and_measures(exports, tmp_path) -> None:
    """The linker map's path reaches ld whole (``-Wl,`` would split it at the comma)."""
    folder = tmp_path / "motion,lstm 8"
    shutil.copytree(exports["lstm:8"], folder)
    done = dse("measure", str(folder), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert Path(result["elf"]).parent.parent == folder and Path(result["elf"]).is_file()
    assert Path(result["elf"]).with_suffix(".map").is_file()
    assert result["measured"]["flash_bytes"] > 0 and result["logits"]["equal_golden"]


QEMU = shutil.which("qemu-system-arm")
needs_qemu = pytest.mark.skipif(QEMU is None and not os.environ.get("CI"),
                                reason="no qemu-system-arm")


def boot_in_qemu(elf: str, machine: str) -> subprocess.CompletedProcess:
    """An image run in QEMU here, with semihosting, to its exit."""
    return subprocess.run([str(QEMU), "-M", machine, "-nographic", "-monitor", "none", "-serial",
                           "none", "-semihosting-config", "enable=on,target=native", "-kernel",
                           elf], capture_output=True, text=True, timeout=120)


@needs_toolchain
@needs_qemu
def test_the_cortex_m4_image_runs_unchanged_in_qemu(exports, tmp_path) -> None:
    done = dse("measure", str(exports["lstm:8"]), "--qemu", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["qemu"] == {"ran": True, "machine": "mps2-an386", "elf": result["elf"],
                              "exit_code": 0, "equal_emulated": True, "reason": None}
    text = dse("measure", str(exports["gru:8"]), "--qemu", cwd=tmp_path)
    assert "QEMU (mps2-an386): exit 0, logits the same bits as unicorn's" in text.stdout


@needs_toolchain
@needs_qemu
@pytest.mark.slow
def test_a_cortex_m0plus_export_runs_in_qemu_on_the_microbit(tmp_path) -> None:
    from dse.measure.elf import read_elf

    out = tmp_path / "samd21-gru"
    done = dse("export", "--arch", "gru:8", "--dtype", "int8", "--task", "motion", "--out",
               str(out), "--profile", "samd21", *QUICK, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # QEMU behind a script that writes down how it was called, then runs it
    shim, calls = tmp_path / "bin", tmp_path / "qemu-calls"
    shim.mkdir()
    (shim / "qemu-system-arm").write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {QEMU} "$@"\n')
    (shim / "qemu-system-arm").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")
    done = dse("measure", str(out), "--qemu", "--json", cwd=tmp_path, env=env)  # on samd21
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    measured, qemu = result["elf"], result["qemu"]
    assert result["core"] == "cortex-m0plus" and result["logits"]["equal_golden"]
    assert qemu == {"ran": True, "machine": "microbit", "elf": qemu["elf"], "exit_code": 0,
                    "equal_emulated": True, "reason": None}
    called = calls.read_text().split()
    assert called[called.index("-M") + 1] == "microbit"
    assert called[called.index("-kernel") + 1] == qemu["elf"]
    # a second link of the same objects: its stack at the top of the nRF51822's 16 KiB of
    # SRAM, where the measured image's, at the top of 1 MiB, does not boot on that board
    assert qemu["elf"] != measured and Path(qemu["elf"]).parent == Path(measured).parent
    assert read_elf(Path(qemu["elf"])).symbols["__stack_top__"][0] == 0x20000000 + 16 * 1024
    assert read_elf(Path(measured)).symbols["__stack_top__"][0] == 0x20000000 + (1 << 20)
    assert boot_in_qemu(measured, "microbit").returncode != 0
    # what that image prints in QEMU, read here, is the export's golden logits bit for bit
    booted = boot_in_qemu(qemu["elf"], "microbit")
    assert booted.returncode == 0, booted.stdout + booted.stderr
    with np.load(out / "golden.npz") as golden:
        expected = golden["logits"][:4].astype(np.float32)
    words = [int(word, 16) for word in (booted.stdout + booted.stderr).split()]
    printed = np.array(words, np.uint32).reshape(4, expected.shape[1] + 1)[:, :-1]
    assert np.array_equal(printed, expected.view(np.uint32))
    text = dse("measure", str(out), "--qemu", cwd=tmp_path)
    assert ("QEMU (microbit, the same objects linked for its memory): exit 0, logits the same "
            "bits as unicorn's") in text.stdout


@needs_toolchain
def test_a_core_without_a_qemu_board_is_measured_and_says_why(exports, tmp_path) -> None:
    why = ("QEMU: not run, QEMU has no cortex-m33 board that boots an image at 0x0 with SRAM "
           "at 0x20000000")
    done = dse("measure", str(exports["lstm:8"]), "--profile", "stm32u5", "--qemu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "stm32u5: cortex-m33" in done.stdout and "\ncycles " in done.stdout
    assert "logits of 4 golden windows: equal to the export's" in done.stdout
    assert [line for line in done.stdout.splitlines() if "QEMU" in line] == [why]
    done = dse("measure", str(exports["lstm:8"]), "--profile", "stm32u5", "--qemu", "--json",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["measured"]["cycles"] > 0 and result["logits"]["equal_golden"]
    assert result["qemu"] == {"ran": False, "machine": None, "elf": None, "exit_code": None,
                              "equal_emulated": None, "reason": why.removeprefix("QEMU: not run, ")}


@needs_toolchain
@needs_qemu
def test_qemu_runs_an_image_exactly_as_big_as_its_board_and_no_bigger(exports, tmp_path) -> None:
    """The image's flash, static SRAM and stack as unicorn measured them, against boards of
    that size: exactly enough runs in QEMU; a word short of flash, or of both, is one line
    saying so, and nothing is linked or run."""
    from dataclasses import replace

    from dse.measure.cores import CORES, Memory, QemuBoard
    from dse.measure.elf import read_elf
    from dse.measure.qemu import cross_check
    from dse.measure.session import read_export, run_image

    export = read_export(exports["lstm:8"])
    core = CORES["cortex-m0plus"]
    m = run_image(export.folder, core, prefix=export.prefix, windows=export.windows[:2],
                  classes=export.logits.shape[1], work=tmp_path)
    image = read_elf(m.elf)
    flash = image.symbols["__flash_end__"][0]
    static = image.symbols["__bss_end__"][0] - 0x20000000
    stack = -(-m.stack_peak_bytes // 8) * 8
    assert 0 < m.stack_bytes < stack < 1024 and 0 < static < 1024

    def on(flash_bytes: int, ram_bytes: int) -> dict:
        board = QemuBoard("microbit", Memory(flash_bytes, ram_bytes))
        return cross_check(m.elf, replace(core, qemu_board=board), m.logits,
                           stack_bytes=m.stack_peak_bytes)

    assert on(flash, static + stack) == {
        "ran": True, "machine": "microbit", "elf": str(tmp_path / "image-microbit.elf"),
        "exit_code": 0, "equal_emulated": True, "reason": None}
    (tmp_path / "image-microbit.elf").unlink()
    fits_not = "the image does not fit QEMU's microbit: it needs"
    assert on(flash - 4, static + stack)["reason"] == (
        f"{fits_not} {flash:,} B of flash (it has {flash - 4:,} B)")
    assert on(flash - 4, static + stack - 4) == {
        "ran": False, "machine": "microbit", "elf": None, "exit_code": None,
        "equal_emulated": None,
        "reason": f"{fits_not} {flash:,} B of flash (it has {flash - 4:,} B) and "
                  f"{static + stack:,} B of SRAM, {static:,} B static and {stack:,} B of stack "
                  f"(it has {static + stack - 4:,} B)"}
    assert not (tmp_path / "image-microbit.elf").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--profile", "esp32s3"], "has a Xtensa LX7 (2 cores, one used) core; dse can build and "
                               "emulate only Arm Cortex-M cores"),
    (["--profile", "nope"], "Unknown profile 'nope'"),
])
def test_bad_measure_input_is_one_line(exports, tmp_path, args: list[str], message: str) -> None:
    done = dse("measure", str(exports["lstm:8"]), *args, cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert message in done.stderr


def test_a_folder_that_is_not_an_export_is_one_line(tmp_path) -> None:
    (tmp_path / "model.c").write_text("int x;\n")
    done = dse("measure", str(tmp_path), "--profile", "stm32l4", cwd=tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path} is not a dse export with C: it has no export.json" in done.stderr


def test_a_missing_emulator_says_what_to_install(exports, tmp_path) -> None:
    hidden = tmp_path / "hidden" / "unicorn"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text('raise ImportError("hidden by the test")\n')
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "hidden"))
    done = dse("measure", str(exports["lstm:8"]), cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == ('dse: error: Measuring needs the emulator: pip install '
                                   '"dse[measure]" (unicorn and capstone).')


# --- the dse-c runtime in the cost model ---------------------------------------------------

def test_a_profile_with_the_dse_c_runtime_prices_architectures(tmp_path) -> None:
    profile = load_profile("stm32l4")
    runtime = profile.runtime_named("dse-c")
    assert runtime.layout == "dse-c" and "fitted to emulation" in runtime.provenance
    arch = parse_arch("lstm:64,32", features=6, timesteps=48, classes=6)
    report = estimate(arch, profile, runtime="dse-c")
    weights = 4 * 64 * (8 + 64) + 4 * 32 * (64 + 32) + 6 * 32  # int8, F = 6 padded to 8
    biases = 4 * (4 * 64 + 4 * 32 + 6)  # int32
    descriptors = 2 * (52 + 16 * 4)
    fixed = 4 + 8 * 6 + 2 * 256 * 4  # output scale, input mean and multiplier, tables
    code = runtime.code_flash_bytes["lstm_int8"] + runtime.layer_code_flash_bytes["lstm_int8"]
    # each layer's one call over [x | h]: 18 blocks instantiate the 4-block loop and a
    # 2-block pass (6 blocks of assembly), 24 blocks the loop only (4)
    kernels = (6 + 4) * runtime.block_code_bytes["lstm_int8"]
    assert runtime.block_code_bytes["lstm_int8"] == 4 * (2 + 4 + 4 * 4)  # 32-bit instructions
    assert report.flash_bytes == weights + biases + descriptors + fixed + code + kernels
    # the state: a step counter; per layer [x | h] twice in int16, and the int16 cell state
    state = 4 + 2 * 2 * (8 + 64) + 2 * 64 + 2 * 2 * (64 + 32) + 2 * 32
    stack = runtime.stack_bytes["lstm_int8"] + runtime.stacked_stack_bytes["lstm_int8"]
    assert report.ram_bytes == state + stack
    # dse-c is the profile's default; TFLite Micro stays selectable, an estimate
    assert estimate(arch, profile).flash_bytes == report.flash_bytes
    tflm = estimate(arch, profile, runtime="tflm-cmsis-nn")
    assert tflm.flash_bytes > report.flash_bytes + 60_000
    assert runtime.fitted and runtime.basis == "fitted to emulation"
    assert profile.runtime_named("tflm-cmsis-nn").basis == "estimate"


def test_every_shipped_cortex_m_profile_prices_dse_c_fitted_by_default() -> None:
    from dse.hardware import available_profiles

    for name in available_profiles():
        profile = load_profile(name)
        if profile.core.startswith("Xtensa"):
            assert "dse-c" not in profile.runtimes  # beyond this toolchain: estimates only
            assert profile.runtime_named().basis == "estimate"
            continue
        runtime = profile.runtime_named()
        assert runtime.name == "dse-c" and runtime.fitted, name
        for table in ("code_flash_bytes", "layer_code_flash_bytes", "block_code_bytes",
                      "stack_bytes", "stacked_stack_bytes"):
            assert set(getattr(runtime, table)) == set(CODE_KEYS), (name, table)


# --- the timing tables against the manuals' examples ---------------------------------------

M4_CODE = bytes.fromhex("08681168485911685a680431086810bdfee7002808bf012120ee810a70ee021a")
M0_CODE = bytes.fromhex("10bdfff7feff08681168")


def decoded(code: bytes, core: str) -> list:
    from dse.measure.timing import decode_block, load_table

    engine = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    engine.detail = True
    return decode_block(engine, code, 0, load_table(core))


def cycles(block: list, core: str) -> float:
    from dse.measure.timing import block_cycles, load_table

    return block_cycles(block, load_table(core))


def test_cortex_m4_load_pipelining_as_the_trm_counts_it() -> None:
    code = decoded(M4_CODE, "cortex-m4")
    # DDI 0439D 3.3.2: "LDR R0,[R1]; LDR R1,[R2] - normally three cycles total"
    assert cycles(code[0:2], "cortex-m4") == 3
    # "LDR R0,[R1,R5]; LDR R1,[R2]; LDR R2,[R3,#4] - normally four cycles total"
    assert cycles(code[2:5], "cortex-m4") == 4
    # an address computed by the instruction before stalls one cycle (no forwarding path)
    assert cycles(code[5:7], "cortex-m4") == 1 + 2 + 1


def test_cortex_m4_branches_it_folding_and_fp_results() -> None:
    from dse.measure.timing import edge_cycles, load_table

    table, code = load_table("cortex-m4"), decoded(M4_CODE, "cortex-m4")
    pop, branch = code[7], code[8]
    assert cycles([pop], "cortex-m4") == 1 + 2  # POP {r4, pc}: 1 + N ...
    assert edge_cycles([pop], code[0:1], table) == 3  # ... + P when it returns elsewhere
    assert edge_cycles([branch], [branch], table) == 2  # B to itself: taken, 1 + P
    cmp, it, moveq = code[9:12]
    assert cycles([cmp, it, moveq], "cortex-m4") == 2  # IT folded after a 16-bit CMP
    vmul, vadd = code[12:14]
    assert cycles([vmul, vadd], "cortex-m4") == 3  # VADD reads VMUL's result: +1


def test_cortex_m0plus_timing_as_the_trm_counts_it() -> None:
    from dse.measure.timing import edge_cycles, load_table

    table, code = load_table("cortex-m0plus"), decoded(M0_CODE, "cortex-m0plus")
    pop, bl, first, second = code
    assert cycles([pop], "cortex-m0plus") + edge_cycles([pop], [first], table) == 5  # 3 + N
    assert cycles([bl], "cortex-m0plus") + edge_cycles([bl], [bl], table) == 3
    assert cycles([first, second], "cortex-m0plus") == 4  # loads 2 each: no pipelining


def test_every_timing_table_loads_with_sources() -> None:
    import tomllib
    from importlib import resources

    from dse.measure.cores import CORES
    from dse.measure.timing import load_table

    for core in CORES:
        table = load_table(core)
        raw = tomllib.loads(resources.files("dse.measure").joinpath("timing", f"{core}.toml")
                            .read_text())
        names = [i for entry in raw["class"].values() for i in entry["ids"]]
        assert len(names) == len(set(names)), f"{core}: an instruction in two classes"
        for name, entry in raw["class"].items():  # a source, or what the estimate rests on
            assert len(entry["source"]) > 15 or entry.get("estimate"), f"{core} {name}"
        assert table.by_name["ldr"].cycles >= 1


# --- the calibration -------------------------------------------------------------------------

def test_the_fit_recovers_known_constants(tmp_path) -> None:
    """Samples made by the cost model itself, from known constants, fit back to them."""
    from dataclasses import replace

    from dse.calibrate import Sample, fit, grid, runtime_section, with_runtime_section

    profile = load_profile("stm32l4")
    known = replace(profile.runtime_named("dse-c"),
                    macs_per_cycle={"int8": 0.5, "int16": 0.25, "float32": 0.2},
                    cycles_per_elementwise=dict.fromkeys(DTYPES, 12.0),
                    cycles_per_activation={"int8": 80.0, "int16": 120.0, "float32": 90.0},
                    per_step_overhead_cycles=dict.fromkeys(DTYPES, 300.0),
                    per_op_overhead_cycles=dict.fromkeys(DTYPES, 1500.0),
                    cycles_per_input=dict.fromkeys(DTYPES, 40.0),
                    code_flash_bytes=dict.fromkeys(CODE_KEYS, 2000),
                    layer_code_flash_bytes=dict.fromkeys(CODE_KEYS, 400),
                    stack_bytes=dict.fromkeys(CODE_KEYS, 96),
                    stacked_stack_bytes=dict.fromkeys(CODE_KEYS, 8), reserve_ram_bytes=0)
    truth = replace(profile, runtimes={"dse-c": known}, runtime="dse-c")
    samples = []
    for arch in grid():
        report = estimate(arch, truth)
        stack = 96 + 8 * (arch.layers > 1)
        samples.append(Sample(arch, report.latency_cycles, report.flash_bytes,
                              report.ram_bytes - stack, stack))
    result = fit("cortex-m4", samples, profile)
    assert result.cycle_errors["max"] < 1e-9 and result.flash_errors["max"] == 0
    assert result.ram_errors["max"] == 0
    fitted = result.runtime
    assert fitted.macs_per_cycle == pytest.approx(known.macs_per_cycle)
    assert fitted.cycles_per_activation == pytest.approx(known.cycles_per_activation)
    assert fitted.per_op_overhead_cycles == pytest.approx(known.per_op_overhead_cycles)
    for table in ("code_flash_bytes", "layer_code_flash_bytes", "stack_bytes",
                  "stacked_stack_bytes"):
        assert getattr(fitted, table) == getattr(known, table), table
    # written into a profile file, the fit prices as the fitted runtime does
    path = tmp_path / "board.toml"
    path.write_text(with_runtime_section((data_dir("hardware_profiles") / "stm32l4.toml")
                                         .read_text(), runtime_section(result, date="today")))
    arch = Architecture("gru", (40, 24), "int16", 6, 48, 6)
    assert estimate(arch, load_profile(str(path)), runtime="dse-c").latency_cycles == \
        pytest.approx(estimate(arch, truth).latency_cycles)
    assert load_profile(str(path)).runtime_named("dse-c").provenance.startswith(
        "fitted to emulation (dse calibrate, cortex-m4, 48 architectures, today)")


def test_a_written_fit_has_the_shipped_profiles_layout() -> None:
    """The section 'dse calibrate --write' writes for a shipped profile's own fit: its tables,
    in the shipped file's order, every value written as the file has it."""
    from dse.calibrate import Fit, runtime_section

    shipped = (data_dir("hardware_profiles") / "stm32l4.toml").read_text()
    section = shipped[shipped.index("[runtimes.dse-c]"):]
    errors = {"max": 0.0, "median": 0.0}
    fit = Fit("cortex-m4", 48, load_profile("stm32l4").runtime_named("dse-c"), errors, errors,
              errors)
    written = runtime_section(fit, date="today")

    def tables(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("[")]

    assert tables(written) == tables(section)
    values = [line.split("#")[0].strip() for line in written.splitlines() if "=" in line[:40]]
    shipped_values = [line.split("#")[0].strip() for line in section.splitlines()
                      if "=" in line[:40]]
    assert values[:2] == shipped_values[:2]
    assert values[3:] == shipped_values[3:]  # all but the provenance (its date and residuals)


def test_nonnegative_least_squares_never_goes_below_zero() -> None:
    from dse.calibrate import nonnegative_least_squares

    X = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    y = np.array([3.0, 2.0, 1.0])  # the unconstrained slope would be -1
    assert nonnegative_least_squares(X, y) == pytest.approx([2.0, 0.0])


def test_counts_and_cycles_add_up() -> None:
    from dse.measure.timing import count_cycles, load_table

    code = decoded(M4_CODE[:4], "cortex-m4")  # the two pipelined loads, run 5 times
    key = (0, 4)
    result = count_cycles(Counter({key: 5}), Counter({(None, key): 1, (key, key): 4}),
                          {key: code}, load_table("cortex-m4"))
    assert result.instructions == 10 and result.mix == {"ldr": 10}
    # 5 x 3 cycles; across the 4 edges the first load's address is the second's result
    # (r1), so they do not pipeline: nothing taken off
    assert result.cycles == 5 * 3
    with pytest.raises(DseError, match="does not decode as Thumb code"):
        decoded(b"\xff", "cortex-m4")
