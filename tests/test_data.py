"""Real data in: CSV and .ts files become the .npz a search reads, and bad files are one clear
error naming the file and the place (dse.data, dse.userdata)."""

from __future__ import annotations

import numpy as np
import pytest
from datafiles import TS_HEADER, har_csv, toy_cases, ts_file

from dse.data import build, describe, save, summary, summary_text
from dse.data.sequences import class_index, filled, group_split, pad_start, trimmed
from dse.errors import DseError
from dse.userdata import load_npz, read_npz

# --- the pure functions ---------------------------------------------------------------------


def test_class_index_sorts_numbers_as_numbers_and_keeps_the_text() -> None:
    assert class_index(np.array(["10", "2", "1", "2"]))[0] == ("1", "2", "10")
    names, y = class_index(np.array(["run", "sit", "run", "jump"]))
    assert names == ("jump", "run", "sit") and y.tolist() == [1, 2, 1, 0]


def test_missing_values_fill_and_trim() -> None:
    values = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [5.0, 4.0]])
    assert filled(values).tolist() == [[2, 1], [2, 1], [2, 1], [5, 4]]
    assert trimmed(np.array([np.nan, 1, np.nan, 3, np.nan])).tolist() == [1, 1, 3]
    assert pad_start(np.array([1.0, 2, 3]), 5).tolist() == [1, 1, 1, 2, 3]
    assert pad_start(np.array([1.0, 2, 3]), 2).tolist() == [2, 3]


def test_group_split_keeps_groups_whole_near_the_fraction() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(40), 10)  # 40 recordings of 10 windows
    y = rng.integers(0, 4, size=400)
    test = group_split(groups, y, 4, 0.25, seed=3)
    for g in range(40):
        assert len(set(test[groups == g])) == 1
    assert 0.2 < test.mean() < 0.3
    assert np.array_equal(test, group_split(groups, y, 4, 0.25, seed=3))
    assert not np.array_equal(test, group_split(groups, y, 4, 0.25, seed=4))


# --- CSV ------------------------------------------------------------------------------------


def test_csv_windows_by_recording_never_share_a_recording(tmp_path) -> None:
    built = build(har_csv(tmp_path / "har.csv"), label="activity", recording="subject",
                  features=["who", "step", "acc"], window=20, stride=10)
    out = save(built, tmp_path / "har.npz")
    assert "test split by recordings: 6 in training, 2 in test, none in both" in \
        summary_text(summary(built, out))
    data = read_npz(out)
    assert data.classes == ("run", "sit", "walk") and data.test_from_file
    train_who, test_who = set(data.X_train[:, :, 0].ravel()), set(data.X_test[:, :, 0].ravel())
    assert train_who and test_who and not train_who & test_who
    assert len(train_who) + len(test_who) == 8
    X = np.concatenate([data.X_train, data.X_test])  # (W, 20, 3)
    y = np.concatenate([data.y_train, data.y_test])
    assert len(X) == 8 * 3 * 5  # per subject and activity: 60 rows, windows at 0, 10, .., 40
    assert np.all(np.diff(X[:, :, 1], axis=1) == 1)  # consecutive rows of one subject
    assert np.all(X[:, :, 0] == X[:, :1, 0])  # of one subject
    activity = (X[:, 0, 1] // 60).astype(int)  # rows 0-59 walk, 60-119 run, 120-179 sit
    assert np.all(X[:, -1, 1] // 60 == activity)  # never across a change of label
    assert [data.classes[k] for k in y] == [["walk", "run", "sit"][a] for a in activity]


def test_csv_without_recordings_splits_by_runs_and_fills_missing_cells(tmp_path) -> None:
    path = har_csv(tmp_path / "runs.csv", gap=(5, 4))  # data row 4 (s0, walk, step 4): 'acc'
    built = build(path, label="activity", features=["who", "step", "acc"], window=20)
    runs = [{(int(w[0, 0]), int(w[0, 1]) // 60) for w in X}  # (subject, activity) of a window
            for X in (built.X_train, built.X_test)]
    assert runs[0] and runs[1] and not runs[0] & runs[1]
    assert built.notes["split"] == "runs of one label" and built.notes["filled"] == 1
    acc = np.genfromtxt(path, delimiter=",", skip_header=1, usecols=4)  # (R,), NaN at row 4
    X = np.concatenate([built.X_train, built.X_test])
    first = X[(X[:, 0, 0] == 0) & (X[:, 0, 1] == 0)][0]  # subject 0, rows 0-19
    assert np.isnan(acc[4]) and first[4, 2] == np.float32(acc[3]) and first[5, 2] == \
        np.float32(acc[5])


def test_csv_of_one_run_per_class_has_no_honest_split(tmp_path) -> None:
    path = har_csv(tmp_path / "one.csv", subjects=1, rows=200)
    with pytest.raises(DseError, match=r"one\.csv: no runs of one label could go to the test "
                                       r"split.*--recording.*--test file"):
        build(path, label="activity", features=["step", "acc"], window=20)


def test_csv_with_its_own_test_file(tmp_path) -> None:
    built = build(har_csv(tmp_path / "a.csv", subjects=3), test=har_csv(tmp_path / "b.csv",
                  subjects=1), label="activity", recording="subject", window=30)
    assert len(built.y_train) == 3 * 3 * 2 and len(built.y_test) == 3 * 2
    assert built.notes["split"] == "file"


# --- .ts --------------------------------------------------------------------------------------


def test_ts_univariate_ragged_with_missing_values(tmp_path) -> None:
    cases = toy_cases()
    cases[3][0][0][0] = "?"  # a leading missing value: dropped, then padded like the rest
    cases[4][0][0][5] = "?"  # an inner one: the value before it
    built = build(ts_file(tmp_path / "toy.ts", cases), test_fraction=0.2)
    assert built.classes == ("a", "b", "c")
    text = summary_text(summary(built, tmp_path / "toy.npz"))  # 6 of 30 cases are 12 long
    assert "series padded at the start with their first value: 24" in text
    assert "a stratified share of each class's cases" in text and "filled: 2" in text
    X = np.concatenate([built.X_train, built.X_test])[..., 0]  # (30, 12)
    y = np.concatenate([built.y_train, built.y_test])
    assert X.shape == (30, 12) and len(built.y_test) == 6
    by_case = {int(row[-1]) // 100: row for row in X}  # the last step names the case
    assert by_case[0].tolist() == [0] * 4 + list(range(8))  # 8 steps, padded at the start
    assert by_case[3].tolist() == [301] * 2 + list(range(301, 311))  # '?' at the start dropped
    assert by_case[4].tolist() == [400, 401, 402, 403, 404, 404] + list(range(406, 412))
    assert sorted(by_case) == list(range(30))
    assert [built.classes[k] for k in y] == ["abc"[int(r[-1]) // 100 % 3] for r in X]


def test_ts_multivariate_with_a_test_file_and_length(tmp_path) -> None:
    train = ts_file(tmp_path / "m_TRAIN.ts", toy_cases(30, dims=3), univariate=False)
    test = ts_file(tmp_path / "m_TEST.ts", toy_cases(9, dims=3), univariate=False)
    built = build(train, test=test, length=10)
    assert built.X_train.shape == (30, 10, 3) and built.X_test.shape == (9, 10, 3)
    assert built.X_train[0, -1].tolist() == [7, 1007, 2007]  # dimensions are features
    assert built.X_train[4, 0].tolist() == [402, 1402, 2402]  # 12 steps: its last 10 kept
    assert built.notes["truncated"] == (12 + 3) * 3  # series of 11 or 12 steps, 3 dimensions
    assert built.notes["split"] == "file"


# --- describe ----------------------------------------------------------------


def test_describe_reports_what_a_search_sees(tmp_path) -> None:
    out = save(build(har_csv(tmp_path / "har.csv"), label="activity", recording="subject",
                     window=20), tmp_path / "har.npz")
    info = describe(out)
    data = load_npz(out)
    assert (info["train"], info["test"]) == (len(data.y_train), len(data.y_test))
    assert (info["timesteps"], info["features"], info["classes"]) == (20, 3, 3)
    assert [b["name"] for b in info["balance"]] == ["run", "sit", "walk"]
    assert sum(b["train"] for b in info["balance"]) == info["train"]
    assert info["test_split"] == "file" and info["warnings"] == []
    who = read_npz(out).X_train[..., 0]  # (N, T) subject numbers
    assert (info["scale"][0]["min"], info["scale"][0]["max"]) == (who.min(), who.max())
    assert info["scale"][2]["std"] == pytest.approx(read_npz(out).X_train[..., 2].std(), 1e-6)


# --- bad files: one error naming the file and the place -------------------------------------


@pytest.mark.parametrize(("edit", "options", "message"), [
    (None, {"label": "activity", "recording": "user", "window": 20},
     r"has no recording column 'user' \(its first row names the columns: subject, activity"),
    (None, {"window": 20}, r"has no label column 'label'.*name one with --label"),
    (None, {"label": "activity", "window": 20},
     r"column 'subject' line 2 holds 's0', not a number.*--features"),
    ((7, 4, "abc"), {"label": "activity", "recording": "subject", "window": 20},
     r"column 'acc' line 8 holds 'abc', not a number"),
    ((7, 4, "1e300"), {"label": "activity", "recording": "subject", "window": 20},
     r"column 'acc' line 8 holds 1e\+300, not a finite float32 number"),
    ((9, 1, ""), {"label": "activity", "recording": "subject", "window": 20},
     r"column 'activity' line 10 is empty; every row needs a label"),
    (None, {"label": "activity", "recording": "subject", "window": 200},
     r"recording 's0' \(column 'subject', from line 2\) has 180 rows, fewer than the --window "
     r"of 200"),
    (None, {"label": "activity", "recording": "subject", "window": 61},
     r"no run of rows with one label is as long as the --window of 61 rows \(the longest has "
     r"60\)"),
    (None, {"label": "activity", "recording": "subject"}, r"Give --window"),
    (None, {"label": "activity", "recording": "subject", "window": 20, "length": 9},
     r"--length applies to .ts files"),
    (None, {"label": "activity", "features": ["acc", "activity"], "window": 20},
     r"column 'activity' cannot be both a feature and the label"),
])
def test_bad_csv_is_one_error(tmp_path, edit, options: dict, message: str) -> None:
    path = har_csv(tmp_path / "bad.csv")
    if edit:
        row, column, value = edit
        lines = path.read_text().splitlines()
        cells = lines[row].split(",")
        cells[column] = value
        lines[row] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DseError, match=message) as info:
        build(path, **options)
    assert "bad.csv" in str(info.value) or "length" in options


def test_csv_line_numbers_count_blank_lines(tmp_path) -> None:
    path = har_csv(tmp_path / "blank.csv", gap=(7, 4), blank_line=True)  # line 9 after the blank
    path.write_text(path.read_text().replace(",?\n", ",oops\n"))
    with pytest.raises(DseError, match=r"column 'acc' line 9 holds 'oops'"):
        build(path, label="activity", recording="subject", window=20)


@pytest.mark.parametrize(("text", "message"), [
    (b"label,x,y\nwalk,1,2\nrun,2,5,7\n", r"not a readable CSV table: .*Expected 3 fields in "
                                            r"line 3, saw 4"),
    (b"label,x\nwalk,1,2\n", r"not a readable CSV table: a row has more fields than the "
                             r"header"),
    (b"x,label\n1,walk\n2\n", r"column 'label' line 3 is empty"),
    (b"label,x\nwalk,1\ncaf\xe9,2\n", r"is not UTF-8 text \(line 3\)"),
    (b"", r"is empty; it needs a header row"),
    (b"label,x\n", r"has a header but no data rows"),
])
def test_csv_that_is_not_a_table(tmp_path, text: bytes, message: str) -> None:
    (tmp_path / "t.csv").write_bytes(text)
    with pytest.raises(DseError, match=message):
        build(tmp_path / "t.csv", window=1)


def test_csv_column_with_no_value_in_a_recording(tmp_path) -> None:
    path = tmp_path / "gap.csv"
    rows = [f"r{r},{'ab'[t // 10]},{t},{'' if r == 1 else t}" for r in range(3) for t in range(20)]
    path.write_text("rec,label,x,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(DseError, match=r"gap\.csv: column 'y' has no value in recording 'r1'; "
                                       r"fill it, or leave the column out with --features"):
        build(path, recording="rec", window=5)


def test_csv_single_class_and_unknown_test_label(tmp_path) -> None:
    path = tmp_path / "walk.csv"
    path.write_text("label,x\n" + "".join(f"walk,{i}\n" for i in range(50)))
    with pytest.raises(DseError, match=r"walk\.csv holds a single class \('walk'\) in column "
                                       r"'label'; a classifier needs at least 2"):
        build(path, window=5)
    train = har_csv(tmp_path / "a.csv", subjects=3)
    test = tmp_path / "b.csv"
    test.write_text(train.read_text().replace(",sit,", ",jump,"))
    with pytest.raises(DseError, match=r"The test file .*b\.csv has label 'jump', not one of "
                                       r"the training classes \(run, sit, walk\)"):
        build(train, test=test, label="activity", recording="subject", window=20)


MALFORMED = {
    "no @data": (lambda h: [x for x in h if x != "@data"],
                 r"line 8: a case before the @data line"),
    "no labels": (lambda h: [x for x in h if not x.startswith("@classLabel")],
                  r"has no @classLabel line"),
    "unknown tag": (lambda h: h[:2] + ["@colour blue"] + h[2:],
                    r"line 3: unknown header tag '@colour' \(tags: problemname"),
    "not a boolean": (lambda h: [x.replace("@univariate true", "@univariate yes") for x in h],
                      r"line 5: @univariate must be followed by true or false"),
    "time stamps": (lambda h: [x.replace("@timeStamps false", "@timeStamps true") for x in h],
                    r"line 3: @timeStamps true; dse reads .ts files without time stamps"),
    "regression": (lambda h: [x.replace("@classLabel true a b c", "@classLabel false") for x in h],
                   r"line 7: dse needs class labels"),
    "dimensions": (lambda h: h[:4] + ["@dimensions two"] + h[4:],
                   r"line 5: @dimensions must be followed by a whole number"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_ts_header_is_one_error(tmp_path, kind: str) -> None:
    edit, message = MALFORMED[kind]
    header = edit([line.format(univariate="true") for line in TS_HEADER])
    with pytest.raises(DseError, match=message) as info:
        build(ts_file(tmp_path / "bad.ts", toy_cases(), header=header))
    assert "bad.ts" in str(info.value)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c[2][0][0].__setitem__(3, "x1"), r"bad\.ts line 11, dimension 1: 'x1' is not a "
                                                r"number"),
    (lambda c: c.__setitem__(1, (c[1][0], "d")), r"line 10: class label 'd' is not one of "
                                                 r"@classLabel's \(a b c\)"),
    (lambda c: c.__setitem__(0, (c[0][0] * 2, "a")), r"line 9 has 2 dimensions \(separated by "
                                                     r"':'\), the file's cases 1"),
    (lambda c: c[5][0].__setitem__(0, ["?"] * 4), r"line 14, dimension 1 has no values"),
    (lambda c: c[5][0][0].__setitem__(2, "inf"), r"line 14, dimension 1: a value beyond the "
                                                 r"float32 range"),
])
def test_bad_ts_case_is_one_error(tmp_path, edit, message: str) -> None:
    cases = toy_cases()
    edit(cases)
    with pytest.raises(DseError, match=message):
        build(ts_file(tmp_path / "bad.ts", cases))


def test_options_that_do_not_fit_the_format(tmp_path) -> None:
    ts = ts_file(tmp_path / "t.ts", toy_cases())
    with pytest.raises(DseError, match="--window applies to CSV files"):
        build(ts, window=5)
    with pytest.raises(DseError, match=r"Cannot tell the format of .*x\.npz.*describe"):
        build(tmp_path / "x.npz")
    with pytest.raises(DseError, match=r"must be an \.npz file"):
        save(build(ts), tmp_path / "out.txt")
    with pytest.raises(DseError, match=r"test fraction must be in \(0, 0.5\]"):
        build(ts, test_fraction=0.9)
