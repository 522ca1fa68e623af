"""The dashboard's data, without plotly: which points are on the front, dominated or
infeasible, the front's step line, hypervolume progress, axis ranges and ticks, budgets, and
the parallel coordinates' scaled values. :mod:`dse.dashboard.figures` draws it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dse.pareto import hypervolume_2d


@dataclass(frozen=True)
class StudyView:
    """What the dashboard needs of one study (built by ``dse.runner.study_views``)."""

    name: str
    profile: str
    task: str
    flash_limit_bytes: int
    ram_limit_bytes: int
    max_latency_ms: float | None
    objectives: tuple[str, ...]
    trials: pd.DataFrame
    max_energy_uj: float | None = None


@dataclass(frozen=True)
class Axis:
    """A cost a panel puts on its x axis: the column drawn, its label and its limit."""

    objective: str  # trials column and objective name, e.g. "flash_bytes"
    column: str  # the plotted column, e.g. "flash_kib"
    title: str
    limit: float | None  # in the plotted unit
    limit_label: str


def cost_axes(view: StudyView) -> tuple[Axis, ...]:
    """The panels' x axes: the study's first cost objective (its front is drawn there), then
    two of latency, flash and RAM; each with its budget, energy's included."""
    kib = 1024
    known = {
        "latency_ms": Axis("latency_ms", "latency_ms", "latency per inference (ms, log scale)",
                           view.max_latency_ms, "budget {:g} ms"),
        "energy_uj": Axis("energy_uj", "energy_uj", "energy per inference (uJ, log scale)",
                          view.max_energy_uj, "budget {:,.0f} uJ"),
        "flash_bytes": Axis("flash_bytes", "flash_kib", "flash incl. runtime (KiB, log scale)",
                            view.flash_limit_bytes / kib, "limit {:,.0f} KiB"),
        "ram_bytes": Axis("ram_bytes", "ram_kib", "peak RAM incl. runtime (KiB, log scale)",
                          view.ram_limit_bytes / kib, "limit {:,.0f} KiB"),
        "params": Axis("params", "params", "parameters (log scale)", None, ""),
        "macc": Axis("macc", "macc", "MACC per inference (log scale)", None, ""),
    }
    costs = [o for o in view.objectives if o in known] or ["latency_ms"]
    rest = [o for o in ("latency_ms", "flash_bytes", "ram_bytes") if o != costs[0]]
    return tuple(known[o] for o in [costs[0], *rest[:2]])


def accuracy_objective(view: StudyView) -> str:
    """The accuracy the panels put on their y axis: the study's own."""
    return next((o for o in view.objectives if o in ("accuracy_quantized", "accuracy")),
                "accuracy_quantized")


def accuracy_title(column: str) -> str:
    """``accuracy_quantized_mean`` -> ``accuracy quantized (test split, mean over seeds)``."""
    return f"{column.removesuffix('_mean').replace('_', ' ')} (test split, mean over seeds)"


@dataclass(frozen=True)
class StudyData:
    """The picture's data for one study: no plotly in here."""

    view: StudyView
    accuracy: str  # the y column: the mean over seeds of the study's accuracy objective
    axes: tuple[Axis, ...]  # x of the three scatter panels; the first carries the front
    points: pd.DataFrame  # one row per distinct architecture; ``status`` and plot columns
    front: pd.DataFrame  # the step line on the first panel (two objectives only)
    pareto: pd.DataFrame  # the study's Pareto set on its own objectives, best accuracy first
    progress: pd.DataFrame  # trial number -> hypervolume of the front so far
    reference: tuple[float, float]  # hypervolume reference: (accuracy, first axis)
    ranges: tuple[tuple[float, float], ...]  # log10 ranges of the axes
    accuracy_range: tuple[float, float]
    accuracy_ticks: tuple[float, ...]  # none inside the infeasible strip: it has no accuracy
    infeasible_y: float  # where the never-trained candidates are drawn
    strip_top: float  # the infeasible strip spans accuracy_range[0]..strip_top

    @property
    def title(self) -> tuple[str, str]:
        """Two lines: the study, task, profile and budgets; what is drawn."""
        budgets = [f"flash {self.view.flash_limit_bytes / 1024:,.0f} KiB",
                   f"RAM {self.view.ram_limit_bytes / 1024:,.0f} KiB"]
        if self.view.max_latency_ms:
            budgets.append(f"latency {self.view.max_latency_ms:g} ms")
        if self.view.max_energy_uj:
            budgets.append(f"energy {self.view.max_energy_uj:,.0f} uJ")
        counts = self.points["status"].value_counts()
        return (f"{self.view.name}: task {self.view.task} on {self.view.profile} "
                f"({', '.join(budgets)})", f"{len(self.points)} distinct architectures "
                f"(repeats drawn once): {counts.get('pareto', 0)} on the front of "
                f"{', '.join(self.view.objectives)}, {counts.get('dominated', 0)} dominated, "
                f"{counts.get('infeasible', 0)} infeasible (not trained)")


def dashboard_data(views: list[StudyView]) -> list[StudyData]:
    """Plain data for every panel of every study."""
    return [_study_data(view) for view in views]


def log_range(values: pd.Series, *extra: float | None) -> tuple[float, float]:
    """A log10 axis range holding ``values`` and ``extra`` (limits), with some margin."""
    limits = np.array([np.nan if e is None else e for e in extra], dtype=float)
    everything = np.concatenate([values.to_numpy(float), limits])
    everything = everything[np.isfinite(everything) & (everything > 0)]
    if not len(everything):
        return (0.0, 1.0)
    return (float(np.log10(everything.min() / 1.4)), float(np.log10(everything.max() * 1.4)))


def log_ticks(axis_range: tuple[float, float]) -> tuple[list[float], list[str]]:
    """Tick values 1, 2, 5 x 10^k inside a log10 axis range, and their labels."""
    values = [m * 10.0 ** k for k in range(int(np.floor(axis_range[0])), int(np.ceil(axis_range[1])) + 1)
              for m in (1, 2, 5) if axis_range[0] <= np.log10(m * 10.0 ** k) <= axis_range[1]]
    return values, [f"{v:,.0f}" if v >= 10 else f"{v:g}" for v in values]


def accuracy_ticks(low: float, high: float) -> tuple[float, ...]:
    """Round accuracy ticks strictly above ``low`` up to ``high``: steps of 0.1, 0.05 or 0.02."""
    step = next(s for s in (0.1, 0.05, 0.02, 0.01) if (high - low) / s >= 4 or s == 0.01)
    first = (np.floor(low / step + 1e-9) + 1) * step
    return tuple(round(float(t), 2) for t in np.arange(first, high + 1e-9, step))


def _study_data(view: StudyView) -> StudyData:
    trials, axes = view.trials, cost_axes(view)
    accuracy_column = f"{accuracy_objective(view)}_mean"
    shown = trials[trials["state"] == "COMPLETE"].drop_duplicates(["arch", "dtype"]).copy()
    shown["flash_kib"] = shown["flash_bytes"] / 1024
    shown["ram_kib"] = shown["ram_bytes"] / 1024
    spread = shown[f"{accuracy_objective(view)}_std"]
    shown["spread"] = [f" ± {value:.3f}" if value == value else "" for value in spread]
    scored = shown["feasible"].astype(bool) & shown[accuracy_column].notna()
    on_front = shown["pareto"].astype(bool) & scored  # the study's own objectives decide
    shown["status"] = np.where(~scored, "infeasible", np.where(on_front, "pareto", "dominated"))
    first = axes[0].column
    front = shown[on_front].sort_values(first) if len(view.objectives) == 2 else shown.iloc[:0]
    accuracy = shown.loc[scored, accuracy_column]
    reference = (0.0, float(shown.loc[scored, first].max()) if scored.any() else 1.0)
    low = float(accuracy.min()) if len(accuracy) else 0.5
    high = min(1.0, float(accuracy.max())) if len(accuracy) else 1.0
    pad = max(0.02, 0.06 * (high - low))
    strip_top = low - pad
    infeasible_y = strip_top - 1.5 * pad
    return StudyData(
        view=view,
        accuracy=accuracy_column,
        axes=axes,
        points=shown,
        front=front,
        pareto=shown[on_front].sort_values([accuracy_column, first], ascending=[False, True]),
        progress=hypervolume_progress(trials, reference, accuracy_column, axes[0].objective),
        reference=reference,
        ranges=tuple(log_range(shown[axis.column], axis.limit) for axis in axes),
        accuracy_range=(infeasible_y - 1.5 * pad, high + pad),
        accuracy_ticks=accuracy_ticks(strip_top, high + pad),
        infeasible_y=infeasible_y,
        strip_top=strip_top,
    )


def hypervolume(accuracy: np.ndarray, latency: np.ndarray, reference: tuple[float, float]) -> float:
    """Area dominated by (accuracy up, cost down) points, up to the reference point
    (accuracy floor, cost ceiling)."""
    floor, ceiling = reference
    return hypervolume_2d(np.column_stack([-accuracy, latency]), (-floor, ceiling))


def hypervolume_progress(trials: pd.DataFrame, reference: tuple[float, float],
                         accuracy_column: str = "accuracy_quantized",
                         cost_column: str = "latency_ms") -> pd.DataFrame:
    """Hypervolume of the feasible (accuracy, cost) front after each finished trial, in
    trial order; the cost is the first panel's (scaled as ``reference`` is)."""
    done = trials[trials["state"] == "COMPLETE"].sort_values("number")
    scored = done["feasible"].to_numpy(bool) & done[accuracy_column].notna().to_numpy()
    accuracy = done[accuracy_column].to_numpy(float)
    scale = 1 / 1024 if cost_column in ("flash_bytes", "ram_bytes") else 1.0
    latency = done[cost_column].to_numpy(float) * scale
    values = [hypervolume(accuracy[: i + 1][scored[: i + 1]], latency[: i + 1][scored[: i + 1]],
                          reference) for i in range(len(done))]
    return pd.DataFrame({"number": done["number"].to_numpy(), "hypervolume": values})


def parallel_data(data: StudyData) -> tuple[list[str], np.ndarray, np.ndarray, list]:
    """Parallel coordinates of the trained architectures: axis labels, values scaled to
    [0, 1] per axis (N, D; log-scaled for the costs, which span decades), accuracy per line,
    and each axis's (low, high) labels."""
    points = data.points[data.points["status"] != "infeasible"]
    cells_total = points["cells"].astype(str).map(lambda s: sum(int(c) for c in s.split(",")))
    columns = {
        "cell": (points["cell"] == "gru").astype(float),
        "dtype": points["dtype"].map({"int8": 0.0, "int16": 1.0, "float32": 2.0}),
        "layers": points["layers"].astype(float),
        "total cells": cells_total.astype(float),
        "params (log)": points["params"].astype(float),
        "flash (KiB, log)": points["flash_kib"],
        "RAM (KiB, log)": points["ram_kib"],
        "latency (ms, log)": points["latency_ms"],
        data.accuracy.removesuffix("_mean").replace("_quantized", " (quant.)"):
            points[data.accuracy],
    }
    fixed = {"cell": ("LSTM", "GRU"), "dtype": ("int8", "float32")}
    values, ends = [], []
    for label, column in columns.items():
        raw = column.to_numpy(float)
        low, high = (0.0, 1.0 if label == "cell" else 2.0) if label in fixed else (
            float(raw.min()) if len(raw) else 1.0, float(raw.max()) if len(raw) else 1.0)
        scale = np.log10 if label.endswith("log)") else np.asarray
        span = scale(high) - scale(low)
        values.append((scale(raw) - scale(low)) / span if span > 0 else np.full(len(raw), 0.5))
        ends.append(fixed.get(label, (_number(low), _number(high))))
    matrix = np.column_stack(values) if values and len(points) else np.zeros((0, len(columns)))
    return list(columns), matrix, points[data.accuracy].to_numpy(float), ends


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
