"""Every shipped profile loads with a source for every number; bad profiles say what is wrong."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from dse.errors import DseError
from dse.hardware import HardwareProfile, Runtime, available_profiles, load_profile
from dse.resources import data_dir
from dse.space import load_space

EXPECTED = {"stm32l4", "stm32f4", "stm32f7", "stm32h7", "stm32u5", "nrf52840", "esp32s3",
            "rp2040", "rp2350", "samd21", "apollo3", "apollo4"}
NUMERIC = [f.name for f in fields(HardwareProfile)
           if f.name not in {"name", "part", "core", "runtime", "path", "sources",
                             "runtimes", "budgets"}]


RUNTIME_NUMERIC = [f.name for f in fields(Runtime)
                   if f.name not in {"name", "description", "provenance", "layout"}]
RUNTIME_DEFAULTS = {f.name: f.default_factory() if f.default_factory is not MISSING else f.default
                    for f in fields(Runtime)}


def test_all_shipped_profiles_listed() -> None:
    assert available_profiles() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_number_has_a_source(name: str) -> None:
    profile = load_profile(name)
    keys = list(NUMERIC)
    for runtime in profile.runtimes.values():
        for field_name in RUNTIME_NUMERIC:
            value = getattr(runtime, field_name)
            if value is None or value == RUNTIME_DEFAULTS[field_name]:
                continue  # not set in the file
            prefix = f"runtimes.{runtime.name}.{field_name}"
            keys += [f"{prefix}.{d}" for d in value] if isinstance(value, dict) else [prefix]
    for key in keys:
        assert len(profile.source_of(key)) > 10, f"{name}: {key} has no source comment"


def test_datasheet_values_pinned() -> None:
    l4 = load_profile("stm32l4")
    assert (l4.clock_hz, l4.flash_bytes, l4.ram_bytes) == (80_000_000, 1_048_576, 131_072)
    assert l4.source_of("clock_hz").startswith("DS10198")
    assert load_profile("samd21").ram_bytes == 32 * 1024
    assert load_profile("stm32h7").clock_hz == 480_000_000
    assert load_profile("rp2040").ram_bytes == 264 * 1024
    assert (load_profile("esp32s3").runtime_named().reserve_flash_bytes
            > l4.runtime_named("tflm-cmsis-nn").reserve_flash_bytes)
    # an M7 is faster per cycle than an M4, an M0+ without SIMD far slower
    int8 = {name: load_profile(name).runtime_named().macs_per_cycle["int8"]
            for name in ("stm32f7", "stm32l4", "rp2040")}
    assert int8["stm32f7"] > int8["stm32l4"] > int8["rp2040"]


def test_same_core_same_per_cycle_figures() -> None:
    by_core: dict[str, list[HardwareProfile]] = {}
    for name in EXPECTED:
        profile = load_profile(name)
        by_core.setdefault(profile.core.split(" (")[0], []).append(profile)
    for core, profiles in by_core.items():
        first = profiles[0]
        for other in profiles[1:]:
            for table in ("macs_per_cycle", "cycles_per_activation", "cycles_per_elementwise"):
                mine, theirs = (getattr(p.runtime_named(), table) for p in (other, first))
                if other.runtime == first.runtime:
                    assert mine == theirs, (core, other.name, table)


def valid_text() -> str:
    return (data_dir("hardware_profiles") / "stm32l4.toml").read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_user_profile_by_path(tmp_path) -> None:
    path = write(tmp_path, valid_text().replace('name = "stm32l4"', 'name = "mine"')
                 + "\n[budgets]\nmax_latency_ms = 50\n")
    profile = load_profile(str(path))
    assert profile.name == "mine" and profile.budgets.max_latency_ms == 50


def test_user_files_under_home_by_tilde(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # "~/mine.toml" as written in an experiment file
    write(tmp_path, valid_text().replace('name = "stm32l4"', 'name = "mine"'))
    assert load_profile("~/mine.toml").name == "mine"
    (tmp_path / "space.toml").write_text((data_dir("search_spaces") / "small.toml").read_text())
    assert load_space("~/space.toml") == load_space("small")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("clock_hz = 80_000_000", "clock_hz = = 8"),
         r"mine.toml is not valid TOML: .*line 7"),
        (lambda t: t.replace("clock_hz = 80_000_000", "clock_mhz = 80"),
         r"Unknown field 'clock_mhz' in profile .*mine.toml. Known fields: active_power_mw, "),
        (lambda t: t.replace("ram_bytes = 131_072", "ram_bytes = -5"),
         r"The 'ram_bytes' value of profile .* must be a whole number in the range \[1, "
         r"1,099,511,627,776\]. Got -5 instead."),
        (lambda t: t.replace("int16 = 0.5 ", "# "),
         r"\[runtimes.tflm-cmsis-nn.macs_per_cycle\] is missing the field 'int16'"),
        (lambda t: t.replace('part = "STM32L476RG"\n', ""), r"is missing the field 'part'"),
        (lambda t: t.replace("clock_hz = 80_000_000", "clock_hz = 0.5"),
         r"The 'clock_hz' value of profile .* must be a whole number in the range \[1,000, "
         r"10,000,000,000\]. Got 0.5 instead."),
        (lambda t: t.replace("reserve_flash_bytes = 65_536", "reserve_flash_bytes = 2_000_000"),
         r"reserve_flash_bytes \(2000000\) must be smaller than flash_bytes \(1048576\)"),
        (lambda t: t.replace("reserve_ram_bytes = 8_192", "reserve_ram_bytes = 131_072"),
         r"reserve_ram_bytes \(131072\) must be smaller than ram_bytes \(131072\)"),
        (lambda t: t.replace("per_op_overhead_cycles = 400", "per_op_overhead_cycles = -1"),
         r"'per_op_overhead_cycles' value of .*\[runtimes.tflm-cmsis-nn\] must be a number in "
         r"the range \[0, 1e\+09\]"),
        (lambda t: t.replace("macs_per_cycle]\n", "macs_per_cycle]\nint4 = 2\n"),
         r"Unknown field 'int4' in .*macs_per_cycle\]. Known fields: float32, int16, int8."),
        (lambda t: t.replace("int8 = 0.6 ", "int8 = 1e-320 "),
         r"'int8' value of .*macs_per_cycle\] must be a number in the range \[0.0001, 1000\]"),
        (lambda t: t.replace('runtime = "dse-c"', 'runtime = "tflm"'),
         r"Profile 'stm32l4' has no runtime 'tflm'. Available: tflm-cmsis-nn, dse-c."),
        (lambda t: t.split("[runtimes.dse-c]")[0].replace("[runtimes.tflm-cmsis-nn]", "[runtime]").replace(
            "[runtimes.tflm-cmsis-nn.", "[").replace('runtime = "dse-c"', ""),
         r"has the old layout \(\[runtime\] and \[macs_per_cycle\] at the top\)"),
        (lambda t: t + "\n[budgets]\nmax_latency_ms = 0\n",
         r"'max_latency_ms' value of .*\[budgets\] must be a number in the range \(0, "),
    ],
)
def test_bad_profiles(tmp_path, edit, message: str) -> None:
    path = write(tmp_path, edit(valid_text()))
    with pytest.raises(DseError, match=message):
        load_profile(str(path))


def test_unknown_profile_lists_known_names() -> None:
    with pytest.raises(DseError, match=r"Unknown profile 'stm32l5'. Available: apollo3, apollo4, "):
        load_profile("stm32l5")
    with pytest.raises(DseError, match="does not exist"):
        load_profile("./nowhere.toml")
