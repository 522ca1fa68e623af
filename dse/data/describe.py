"""What a data file holds, before a search spends its budget on it: sizes, shape, classes and
their balance, the scale of each feature, and what looks wrong."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from dse.report import table
from dse.userdata import TEST_FRACTION, read_npz

SHOWN_FEATURES = 16  # the text lists this many features; --json has them all


def describe(path: str | Path, seed: int = 0) -> dict:
    """The file as the search will see it (the same checks, the same split for ``seed``), in
    the data's own units (the proxy standardizes them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = read_npz(path, seed)
    N, T, F = data.X_train.shape
    K = len(data.classes)
    train = np.bincount(data.y_train, minlength=K)  # (K,)
    test = np.bincount(data.y_test, minlength=K)  # (K,)
    X = data.X_train
    mean = X.mean(axis=(0, 1), dtype=np.float64)  # (F,)
    std = X.std(axis=(0, 1), dtype=np.float64)  # (F,)
    low = X.min(axis=(0, 1)).astype(np.float64)  # (F,)
    high = X.max(axis=(0, 1)).astype(np.float64)  # (F,)
    notes = [str(w.message) for w in caught]
    if constant := [f for f in range(F) if std[f] == 0]:
        notes.append(f"features {', '.join(map(str, constant))} are constant in training: "
                     f"they carry no information (they become 0)")
    return {
        "file": str(path), "dtype": str(X.dtype), "train": N, "test": len(data.y_test),
        "test_split": "file" if data.test_from_file else f"seeded (seed {seed})",
        "timesteps": T, "features": F, "classes": K,
        "balance": [{"class": k, "name": data.classes[k], "train": int(train[k]),
                     "test": int(test[k])} for k in range(K)],
        "imbalance": float(train.max() / train.min()),
        "scale": [{"feature": f, "mean": float(mean[f]), "std": float(std[f]),
                   "min": float(low[f]), "max": float(high[f])} for f in range(F)],
        "warnings": notes,
    }


def describe_text(info: dict) -> str:
    """The description for the terminal."""
    split = "the file's own test split" if info["test_split"] == "file" else \
        f"a stratified {TEST_FRACTION:.0%} test split, {info['test_split']}"
    lines = [f"{info['file']}: {info['train']:,} training and {info['test']:,} test sequences "
             f"({split}); T={info['timesteps']} timesteps x F={info['features']} features "
             f"({info['dtype']}); K={info['classes']} classes", ""]
    rows = [[b["class"], b["name"], b["train"], b["test"], 100 * b["train"] / info["train"]]
            for b in info["balance"]]
    lines += [table(["class", "name", "train", "test", "train %"], rows,
                    formats=["", "", "", "", ".1f"]),
              f"largest class / smallest in training: {info['imbalance']:.2f}", ""]
    scale = info["scale"][:SHOWN_FEATURES]
    lines.append(table(["feature", "mean", "std", "min", "max"],
                       [[s["feature"], s["mean"], s["std"], s["min"], s["max"]] for s in scale],
                       formats=["", ".4g", ".4g", ".4g", ".4g"]))
    if len(info["scale"]) > SHOWN_FEATURES:
        lines.append(f"... and {len(info['scale']) - SHOWN_FEATURES} more features (--json "
                     f"lists them all)")
    lines.append("(training statistics in the file's units; the proxy standardizes each "
                 "feature with them)")
    lines += [f"warning: {note}" for note in info["warnings"]]
    return "\n".join(lines)
