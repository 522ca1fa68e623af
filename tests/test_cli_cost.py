"""`dse cost` and `dse profiles` as a user runs them: output, JSON keys, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

COST = ["cost", "--profile", "stm32l4", "--features", "6", "--timesteps", "50", "--classes", "5"]


def test_cost_table_and_verdict(dse) -> None:
    result = dse(*COST, "--arch", "lstm:64,32")
    assert result.returncode == 0, result.stderr
    assert "lstm_1" in result.stdout and "dense" in result.stdout
    assert "1,534,565" in result.stdout  # total MACC, the seed formula
    assert result.stdout.rstrip().endswith("FITS stm32l4")


def test_cost_json_has_documented_keys(dse) -> None:
    result = dse(*COST, "--arch", "gru:32,16", "--dtype", "int16", "--json")
    data = json.loads(result.stdout)
    for key in ("params", "macc", "flash_bytes", "ram_bytes", "latency_ms", "energy_uj",
                "fits", "violations", "layers", "ops", "constraints"):
        assert key in data
    assert [layer["name"] for layer in data["layers"]] == ["gru_1", "gru_2", "dense"]
    assert data["fits"] is True and data["violations"] == {}


def test_does_not_fit_names_budget_and_amount(dse) -> None:
    result = dse(*COST, "--arch", "lstm:512,512", "--dtype", "float32")
    assert result.returncode == 0
    assert "DOES NOT FIT stm32l4: flash over budget by" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "stm32l5"], "Unknown profile 'stm32l5'. Available: .*stm32l4"),
        (["--arch", "lstm:0"], "'cells' of an architecture must be an int in the range"),
        (["--arch", "lstm"], "not of the form CELL:N"),
        (["--arch", "lstm:a,b"], "whole numbers separated by commas"),
        (["--arch", "rnn:8"], "Unknown cell type 'rnn'. Available: lstm, gru"),
        (["--dtype", "int4"], "invalid choice: 'int4'"),
        (["--features", "-3"], r"expected a whole number in \[1, 1000000\], got -3"),
        (["--features", "0"], r"expected a whole number in \[1, 1000000\], got 0"),
        (["--runtime", "tflm"], "Profile 'stm32l4' has no runtime 'tflm'. Available: tflm-cmsis-nn"),
        (["--max-flash-kb", "inf"], "expected a finite number > 0, got inf"),
    ],
)
def test_bad_input_is_one_line_exit_2(dse, args: list[str], message: str) -> None:
    base = {"--profile": "stm32l4", "--arch": "lstm:8", "--features": "6"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["cost", "--timesteps", "50", "--classes", "5"]
    for flag, value in base.items():
        argv += [flag, value]
    result = dse(*argv)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(message, result.stderr), result.stderr


def test_malformed_user_profile_names_file_and_line(dse, tmp_path) -> None:
    bad = tmp_path / "mine.toml"
    bad.write_text('name = "mine"\nclock_hz = = 3\n')
    result = dse(*COST[:1], "--profile", str(bad), *COST[3:], "--arch", "lstm:8")
    assert result.returncode == 2
    assert str(bad) in result.stderr and "line 2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_profiles_list_and_show(dse) -> None:
    from dse.hardware import available_profiles, load_profile

    listing = dse("profiles")
    assert listing.returncode == 0 and "STM32L476RG" in listing.stdout
    assert listing.stdout.splitlines()[0].endswith("runtimes (default first)")
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[2:]}
    for name in available_profiles():  # as the header says: the one priced by default first
        profile = load_profile(name)
        others = [rt for rt in profile.runtimes if rt != profile.runtime]
        assert rows[name].endswith(", ".join([profile.runtime, *others])), rows[name]
    shown = dse("profiles", "show", "stm32l4")
    assert "DS10198" in shown.stdout  # every number with its source
    data = json.loads(dse("profiles", "show", "stm32l4", "--json").stdout)
    assert data["clock_hz"] == 80_000_000 and data["sources"]["clock_hz"].startswith("DS10198")


def test_a_profiles_budgets_are_shown_with_their_sources(dse, tmp_path) -> None:
    from dse.hardware import load_profile

    mine = tmp_path / "mine.toml"
    mine.write_text(Path(load_profile("stm32l4").path).read_text()
                    + "\n[budgets]\nmax_latency_ms = 50   # our product spec, rev B\n")
    shown = dse("profiles", "show", str(mine)).stdout
    line = next(row for row in shown.splitlines() if row.startswith("budgets.max_latency_ms"))
    assert "50" in line and "our product spec, rev B" in line


def test_flash_and_ram_budgets_for_the_networks_share(dse, tmp_path) -> None:
    report = json.loads(dse(*COST, "--arch", "lstm:64,32", "--json").stdout)
    limited = dse(*COST, "--arch", "lstm:64,32", "--max-flash-kb", "30", "--max-ram-kb", "0.5",
                  "--json")
    data = json.loads(limited.stdout)
    assert data["constraints"]["flash_bytes"] == report["flash_bytes"] - 30 * 1024
    assert data["constraints"]["ram_bytes"] == report["ram_bytes"] - 512
    assert set(data["violations"]) == {"flash_bytes", "ram_bytes"} and not data["fits"]
    text = dse(*COST, "--arch", "lstm:64,32", "--max-ram-kb", "0.5").stdout
    assert "DOES NOT FIT stm32l4: ram over budget by" in text
    from dse.resources import data_dir

    profile = tmp_path / "board.toml"  # the same budget from a profile's [budgets] table
    profile.write_text((data_dir("hardware_profiles") / "stm32l4.toml").read_text()
                       + "\n[budgets]\nmax_ram_kb = 0.5\n")
    from_profile = json.loads(dse("cost", "--profile", str(profile), *COST[3:], "--arch",
                                  "lstm:64,32", "--json").stdout)
    assert from_profile["violations"] == {"ram_bytes": report["ram_bytes"] - 512}
