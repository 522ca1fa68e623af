"""`dse data build` and `dse data describe` as a user runs them, and the loader's messages on
the command line: one line and exit 2 for every bad file, one warning line for a layout that
looks transposed, nothing on stderr otherwise."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import refused
from datafiles import TS_HEADER, har_csv, toy_cases, ts_file

CSV_OPTIONS = ["--label", "activity", "--recording", "subject", "--window", "20"]


def test_csv_to_a_search_ready_file(dse, tmp_path) -> None:
    har_csv(tmp_path / "har.csv")
    built = dse("data", "build", "har.csv", "-o", "har.npz", *CSV_OPTIONS, "--stride", "10",
                "--json", cwd=tmp_path)
    assert built.returncode == 0 and built.stderr == "", built.stderr
    summary = json.loads(built.stdout)
    assert summary["classes"] == ["run", "sit", "walk"] and summary["split"] == "recordings"
    assert summary["train"] + summary["test"] == 120 and summary["train_groups"] == 6
    text = dse("data", "describe", "har.npz", cwd=tmp_path)
    assert text.returncode == 0 and text.stderr == ""
    assert f"{summary['train']} training and {summary['test']} test sequences" in text.stdout
    assert "T=20 timesteps x F=3 features" in text.stdout and "walk" in text.stdout
    info = json.loads(dse("data", "describe", "har.npz", "--json", cwd=tmp_path).stdout)
    assert [b["train"] for b in info["balance"]] == summary["train_counts"]
    trained = dse("evaluate", "--arch", "gru:4", "--epochs", "1", "--data", "har.npz", "--json",
                  cwd=tmp_path)
    assert trained.returncode == 0 and trained.stderr == "", trained.stderr


def test_ts_files_to_a_data_file(dse, tmp_path) -> None:
    cases = toy_cases()
    cases[4][0][0][5] = "?"
    ts_file(tmp_path / "toy_TRAIN.ts", cases)
    ts_file(tmp_path / "toy_TEST.ts", toy_cases(12))
    built = dse("data", "build", "toy_TRAIN.ts", "--test", "toy_TEST.ts", "-o", "out/toy.npz",
                cwd=tmp_path)
    assert built.returncode == 0 and built.stderr == "", built.stderr
    assert "30 training and 12 test cases of T=12 steps x F=1 features" in built.stdout
    info = json.loads(dse("data", "describe", "out/toy.npz", "--json", cwd=tmp_path).stdout)
    assert (info["train"], info["test"], info["timesteps"], info["classes"]) == (30, 12, 12, 3)


def bad_header(tmp_path, line: str, replacement: str) -> str:
    header = [line_.format(univariate="true") for line_ in TS_HEADER]
    ts_file(tmp_path / "bad.ts", toy_cases(), header=[replacement if h == line else h
                                                      for h in header])
    return "bad.ts"


@pytest.mark.parametrize(("make", "options", "fragments"), [
    (lambda p: har_csv(p / "bad.csv") and "bad.csv", ["--label", "activity", "--recording",
                                                      "user", "--window", "20"],
     ["bad.csv has no recording column 'user'"]),
    (lambda p: har_csv(p / "bad.csv") and "bad.csv", ["--window", "20"],
     ["bad.csv has no label column 'label'", "--label"]),
    (lambda p: har_csv(p / "bad.csv") and "bad.csv", ["--label", "activity", "--window", "20"],
     ["bad.csv: column 'subject' line 2 holds 's0', not a number", "--features"]),
    (lambda p: har_csv(p / "bad.csv") and "bad.csv", [*CSV_OPTIONS[:4], "--window", "500"],
     ["bad.csv: recording 's0'", "180 rows, fewer than the --window of 500"]),
    (lambda p: har_csv(p / "bad.csv") and "bad.csv", [*CSV_OPTIONS, "--length", "8"],
     ["--length applies to .ts files"]),
    (lambda p: bad_header(p, "@data", "@dat"), [], ["bad.ts line 8: unknown header tag '@dat'"]),
    (lambda p: bad_header(p, "@timeStamps false", "@timeStamps true"), [],
     ["bad.ts line 3: @timeStamps true"]),
    (lambda p: bad_header(p, "@classLabel true a b c", "@classLabel true a b"), [],
     ["bad.ts line 11: class label 'c' is not one of @classLabel's (a b)"]),
    (lambda p: (p / "bad.ts").write_bytes(b"@problemName caf\xe9\n") and "bad.ts", [],
     ["bad.ts is not UTF-8 text (line 1, byte 17)"]),
    (lambda p: (p / "x.txt").write_text("a,b\n") and "x.txt", ["--window", "2"],
     ["Cannot tell the format of x.txt"]),
    (lambda p: "missing.csv", ["--window", "2"], ["Data file missing.csv does not exist"]),
])
def test_bad_sources_are_one_line(dse, tmp_path, make, options: list[str],
                                  fragments: list[str]) -> None:
    name = make(tmp_path)
    refused(dse("data", "build", name, "-o", "out.npz", *options, cwd=tmp_path), *fragments)
    assert not (tmp_path / "out.npz").exists()


X = np.random.default_rng(0).normal(size=(60, 12, 3))
LABELS = {
    "one-based": (np.arange(60) % 3 + 1, ["one-based.npz: 'y_train' has labels 1, 2, 3 but no 0",
                                          "np.unique(y_train, return_inverse=True)"]),
    "text": (np.array(["a", "b", "c"] * 20), ["text.npz: 'y_train' holds text labels",
                                              "np.unique(y_train, return_inverse=True)"]),
    "single": (np.zeros(60, int), ["single.npz: 'y_train' holds a single class (label 0)",
                                   "Add samples of the other classes"]),
}


@pytest.mark.parametrize("command", ["describe", "evaluate"])
@pytest.mark.parametrize("kind", sorted(LABELS))
def test_labels_not_0_to_k_minus_1_give_the_remedy(dse, tmp_path, kind: str,
                                                   command: str) -> None:
    y, fragments = LABELS[kind]
    np.savez(tmp_path / f"{kind}.npz", X_train=X, y_train=y)
    args = ["data", "describe", f"{kind}.npz"] if command == "describe" else \
        ["evaluate", "--arch", "gru:4", "--epochs", "1", "--data", f"{kind}.npz"]
    refused(dse(*args, cwd=tmp_path), *fragments)


def test_fewer_timesteps_than_features_is_one_warning_line(dse, tmp_path) -> None:
    np.savez(tmp_path / "nct.npz", X_train=X.transpose(0, 2, 1), y_train=np.arange(60) % 3)
    trained = dse("evaluate", "--arch", "gru:4", "--epochs", "1", "--data", "nct.npz",
                  cwd=tmp_path)
    assert trained.returncode == 0
    lines = trained.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dse: warning: Data file nct.npz: 'X_train' "
                                                   "has shape (60, 3, 12)"), trained.stderr
    described = dse("data", "describe", "nct.npz", cwd=tmp_path)
    assert described.returncode == 0 and described.stderr == ""
    assert "warning: Data file nct.npz: 'X_train' has shape (60, 3, 12)" in described.stdout


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_describe_prints_no_warning_for_any_float_width(dse, tmp_path, dtype: str) -> None:
    np.savez(tmp_path / "d.npz", X_train=(X * 100).astype(dtype), y_train=np.arange(60) % 3)
    described = dse("data", "describe", "d.npz", "--json", cwd=tmp_path)
    assert described.returncode == 0 and described.stderr == "", described.stderr
    assert json.loads(described.stdout)["dtype"] == dtype
