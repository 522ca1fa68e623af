"""The Pareto dashboard: one self-contained HTML file per study or comparison of studies.

Compute, then render (as optuna's ``plot_pareto_front``): :func:`dashboard_data` turns
the trials into plain data (which points are on the front, dominated or infeasible, the
front's step line, hypervolume progress, axis ranges, limits); :func:`build_dashboard`
only draws it, with SVG traces (no WebGL, so it renders in headless browsers and prints)
and plotly.js embedded (works offline, no CDN, no server).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from dse.errors import DseError
from dse.pareto import hypervolume_2d

CELL_COLOURS = {"lstm": "#1f77b4", "gru": "#d95f02"}
DTYPE_SYMBOLS = {"int8": "circle", "int16": "square", "float32": "diamond"}
INFEASIBLE_COLOUR = "#9a9a9a"
IMAGE_ATTEMPTS = 2  # under load kaleido may call its page's script before the page has it
#                    ("kaleido_scopes is not defined"); a second attempt renders
HOVER_COLUMNS = ["arch", "dtype", "params", "macc", "flash_kib", "ram_kib", "latency_ms",
                 "energy_uj", "accuracy_mean", "accuracy_quantized_mean", "violations", "number",
                 "spread", "seeds"]
HOVER = ("<b>%{customdata[0]}</b> (%{customdata[1]}), trial %{customdata[11]}<br>"
         "accuracy %{customdata[9]:.3f} quantized, %{customdata[8]:.3f} float "
         "(mean of %{customdata[13]} seeds%{customdata[12]})<br>"
         "latency %{customdata[6]:.2f} ms, energy %{customdata[7]:,.0f} uJ<br>"
         "flash %{customdata[4]:.1f} KiB, RAM %{customdata[5]:.1f} KiB<br>"
         "%{customdata[2]:,} params, %{customdata[3]:,} MACC<br>%{customdata[10]}<extra></extra>")


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


def _log_range(values: pd.Series, *extra: float | None) -> tuple[float, float]:
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
        ranges=tuple(_log_range(shown[axis.column], axis.limit) for axis in axes),
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


# --- drawing ------------------------------------------------------------------------------


def _scatter_traces(data: StudyData, x: str, row: int, col: int, first: bool) -> list:
    """One trace per (cell, dtype) group, plus the infeasible ones, for one panel."""
    traces = []
    points = data.points
    for (cell, dtype), group in points[points["status"] != "infeasible"].groupby(["cell", "dtype"]):
        pareto = (group["status"] == "pareto").to_numpy()
        spread = group[data.accuracy.replace("_mean", "_std")]
        traces.append(((row, col), go.Scatter(
            x=group[x], y=group[data.accuracy], mode="markers",
            error_y={"type": "data", "array": spread.where(spread.notna(), None).tolist(),
                     "visible": bool(spread.notna().any()), "thickness": 1, "width": 3,
                     "color": CELL_COLOURS.get(cell, "#333")},
            name=f"{cell.upper()} {dtype}", legendgroup=f"{cell}-{dtype}", showlegend=first,
            marker={"color": CELL_COLOURS.get(cell, "#333"), "symbol": DTYPE_SYMBOLS.get(dtype),
                    "size": np.where(pareto, 11, 7), "opacity": np.where(pareto, 1.0, 0.4),
                    "line": {"width": np.where(pareto, 1.5, 0), "color": "#111"}},
            customdata=group[HOVER_COLUMNS].astype(object).fillna("").to_numpy(), hovertemplate=HOVER)))
    infeasible = points[points["status"] == "infeasible"]
    if len(infeasible):
        traces.append(((row, col), go.Scatter(
            x=infeasible[x], y=np.full(len(infeasible), data.infeasible_y), mode="markers",
            name="infeasible (not trained)", legendgroup="infeasible", showlegend=first,
            marker={"color": INFEASIBLE_COLOUR, "symbol": "x-thin", "size": 8,
                    "line": {"width": 1.5, "color": INFEASIBLE_COLOUR}},
            customdata=infeasible[HOVER_COLUMNS].astype(object).fillna("").to_numpy(), hovertemplate=HOVER)))
    return traces


PANELS = ((1, 1), (2, 1), (2, 2))  # the scatter panels, one per cost axis; (1, 2) is progress


def study_figure(data: StudyData) -> go.Figure:
    """The accuracy-cost panels (the study's front on the first), with every budget, and the
    hypervolume progress of one study."""
    first = data.axes[0]
    fig = make_subplots(
        rows=2, cols=2, horizontal_spacing=0.09, vertical_spacing=0.15,
        subplot_titles=(f"Accuracy vs {_short(first)}, with the Pareto front",
                        f"Front progress: hypervolume to (accuracy {data.reference[0]:g}, "
                        f"{data.reference[1]:,.3g} {_unit(first)})",
                        *(f"Accuracy vs {_short(axis)}" + (f" ({axis.limit_label.format(axis.limit)})"
                                                          if axis.limit else "")
                          for axis in data.axes[1:])))
    for (row, col), axis, axis_range in zip(PANELS, data.axes, data.ranges):
        for _, trace in _scatter_traces(data, axis.column, row, col, (row, col) == PANELS[0]):
            fig.add_trace(trace, row=row, col=col)
        if (data.points["status"] == "infeasible").any():
            fig.add_hrect(y0=data.accuracy_range[0], y1=data.strip_top, row=row, col=col,
                          fillcolor="#eeeeee", line_width=0, layer="below",
                          annotation_text="infeasible (not trained)", annotation_position="top left",
                          annotation_font={"size": 11, "color": "#666"})
        if axis.limit:
            fig.add_vline(x=axis.limit, row=row, col=col,
                          line={"color": "#c0392b", "dash": "dash", "width": 1.5})
            # annotations on a log axis take log10(x), unlike shapes
            fig.add_annotation(x=np.log10(axis.limit), y=0.6, yref="y domain",
                               text=axis.limit_label.format(axis.limit), showarrow=False,
                               textangle=-90, xanchor="right",
                               font={"color": "#c0392b", "size": 12}, row=row, col=col)
        ticks, labels = log_ticks(axis_range)
        fig.update_xaxes(type="log", title=axis.title, range=axis_range, tickvals=ticks,
                         ticktext=labels, row=row, col=col)
        fig.update_yaxes(title=accuracy_title(data.accuracy),
                         range=data.accuracy_range, tickvals=data.accuracy_ticks, row=row, col=col)
    if len(data.front):
        fig.add_trace(go.Scatter(
            x=data.front[first.column], y=data.front[data.accuracy], mode="lines",
            line={"shape": "hv", "color": "#222", "width": 1.5, "dash": "dot"},
            name="Pareto front", hoverinfo="skip"), row=1, col=1)
    fig.add_trace(go.Scatter(
        x=data.progress["number"], y=data.progress["hypervolume"], mode="lines",
        line={"shape": "hv", "color": "#2ca02c", "width": 2}, name="hypervolume", showlegend=False,
        hovertemplate=f"after trial %{{x}}: %{{y:.3f}} accuracy x {_unit(first)}<extra></extra>"),
        row=1, col=2)
    fig.update_xaxes(title="trial number", row=1, col=2)
    fig.update_yaxes(title=f"hypervolume (accuracy x {_unit(first)})", rangemode="tozero",
                     row=1, col=2)
    fig.update_layout(
        height=900, template="plotly_white", font={"size": 13},
        title={"text": "<br>".join(html.escape(line) for line in data.title), "font": {"size": 15}},
        legend={"orientation": "h", "y": -0.1, "x": 0, "title": "colour: cell, symbol: dtype  ",
                "itemsizing": "constant"},
        margin={"t": 110, "b": 90, "l": 70, "r": 30})
    return fig


def _short(axis: Axis) -> str:
    return axis.title.split(" (")[0].removesuffix(" per inference").removesuffix(" incl. runtime")


def _unit(axis: Axis) -> str:
    return {"latency_ms": "ms", "energy_uj": "uJ", "flash_bytes": "KiB", "ram_bytes": "KiB"}.get(
        axis.objective, axis.objective)


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


def parallel_figure(data: StudyData) -> go.Figure:
    """Parallel coordinates in SVG (plotly's Parcoords needs WebGL): one line per trained
    architecture, coloured by accuracy in five equal bands."""
    labels, matrix, accuracy, ends = parallel_data(data)
    fig = go.Figure()
    colours = ["#440154", "#3b528b", "#21918c", "#5ec962", "#c9b000"]  # viridis, last darkened
    edges = np.linspace(accuracy.min(), accuracy.max(), 6) if len(accuracy) else np.zeros(6)
    band = np.clip(np.searchsorted(edges, accuracy, side="right") - 1, 0, 4)
    axis = np.arange(len(labels))
    for index, colour in enumerate(colours):
        rows = matrix[band == index]
        if not len(rows):
            continue
        xs = np.concatenate([np.append(axis, np.nan) for _ in rows])
        ys = np.concatenate([np.append(row, np.nan) for row in rows])
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", line={"color": colour, "width": 1.2}, opacity=0.75,
            name=f"accuracy {edges[index]:.2f}-{edges[index + 1]:.2f}", hoverinfo="skip"))
    for position, (low, high) in enumerate(ends):
        fig.add_vline(x=position, line={"color": "#888", "width": 1})
        fig.add_annotation(x=position, y=1.04, text=str(high), showarrow=False, font={"size": 11})
        fig.add_annotation(x=position, y=-0.04, text=str(low), showarrow=False, font={"size": 11})
    fig.update_xaxes(tickvals=axis, ticktext=labels, side="top", showgrid=False,
                     range=[-0.3, len(labels) - 0.7])
    fig.update_yaxes(visible=False, range=[-0.1, 1.1])
    fig.update_layout(height=440, template="plotly_white", font={"size": 12},
                      title="Parameters and objectives of the trained architectures (one line "
                            "each, coloured by accuracy; costs on log axes)",
                      legend={"orientation": "h", "y": -0.08},
                      margin={"t": 110, "l": 40, "r": 40, "b": 60})
    return fig


def comparison_figure(studies: list[StudyData]) -> go.Figure:
    """The Pareto sets of several studies on one plot, against the first study's first cost
    (the step line joins each study's set in that cost's order)."""
    fig = go.Figure()
    palette = ["#1f77b4", "#d95f02", "#2ca02c", "#9467bd", "#8c564b", "#e377c2"]
    axis = studies[0].axes[0]
    for index, data in enumerate(studies):
        front = data.pareto.sort_values(axis.column)
        fig.add_trace(go.Scatter(
            x=front[axis.column], y=front[data.accuracy], mode="lines+markers",
            line={"shape": "hv", "color": palette[index % len(palette)]},
            name=f"{data.view.name} ({data.view.task} on {data.view.profile}, "
                 f"{len(front)} on the front)",
            customdata=front[HOVER_COLUMNS].astype(object).fillna("").to_numpy(), hovertemplate=HOVER))
    axis_range = _log_range(pd.concat([data.pareto[axis.column] for data in studies]))
    ticks, labels = log_ticks(axis_range)
    fig.update_xaxes(type="log", title=axis.title, range=axis_range, tickvals=ticks, ticktext=labels)
    fig.update_yaxes(title=accuracy_title(studies[0].accuracy))
    fig.update_layout(height=480, template="plotly_white", font={"size": 13},
                      title=f"Pareto fronts of the studies compared, accuracy vs {_short(axis)} "
                            f"(feasible, trained architectures)",
                      legend={"orientation": "h", "y": -0.2})
    return fig


def pareto_table(data: StudyData) -> str:
    """An HTML table of the study's Pareto architectures (on its objectives), best accuracy first."""
    header = ("<tr><th>architecture</th><th>dtype</th><th>accuracy (quant.)</th>"
              "<th>accuracy (float)</th><th>seeds</th><th>latency ms</th><th>flash KiB</th>"
              "<th>RAM KiB</th><th>energy uJ</th><th>params</th><th>trial</th></tr>")
    rows = "".join(
        f"<tr><td>{html.escape(r.arch)}</td><td>{r.dtype}</td>"
        f"<td>{r.accuracy_quantized_mean:.3f}{r.spread}</td><td>{r.accuracy_mean:.3f}</td>"
        f"<td>{r.seeds}</td><td>{r.latency_ms:,.2f}</td><td>{r.flash_kib:,.1f}</td>"
        f"<td>{r.ram_kib:,.1f}</td><td>{r.energy_uj:,.0f}</td><td>{r.params:,}</td>"
        f"<td>{r.number}</td></tr>" for r in data.pareto.itertuples())
    return f'<table class="pareto">{header}{rows}</table>'


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px;
       color: #222; max-width: 1400px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 36px; border-top: 1px solid #ddd;
     padding-top: 18px; }
table.pareto { border-collapse: collapse; font-size: 13px; margin: 8px 0 24px; }
table.pareto th, table.pareto td { border: 1px solid #ddd; padding: 4px 10px; text-align: right; }
table.pareto td:first-child, table.pareto th:first-child { text-align: left; }
table.pareto th { background: #f3f3f3; }
p.note { color: #555; font-size: 13px; }
"""


def build_dashboard(views: list[StudyView], path: Path) -> Path:
    """Write one self-contained HTML page for the studies (a comparison first if several)."""
    studies = dashboard_data(views)
    parts = []
    if len(studies) > 1:
        parts.append(_figure_html(comparison_figure(studies), "comparison"))
    for index, data in enumerate(studies):
        parts.append(f"<h2>{html.escape(data.view.name)}</h2>")
        parts.append(_figure_html(study_figure(data), f"study-{index}"))
        parts.append(_figure_html(parallel_figure(data), f"parallel-{index}"))
        parts.append(f"<h3>Pareto-optimal architectures ({len(data.pareto)}) on "
                     f"{html.escape(', '.join(data.view.objectives))}</h3>")
        parts.append(pareto_table(data))
    note = ("Each distinct architecture and dtype is drawn once (a search may propose one "
            "several times; its score is reused), so each panel has one marker per distinct "
            "trial. Infeasible candidates exceed a hardware budget and were never trained: they "
            "have no accuracy and sit on the grey strip at the bottom of each panel, at their "
            "latency, flash and RAM. Points on the accuracy-latency front are large with a dark "
            "outline. Hover over any point for its details.")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>dse: "
            f"{html.escape(', '.join(v.name for v in views))}</title><style>{_STYLE}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
            f"<h1>dse: LSTM/GRU design space on "
            f"{html.escape(', '.join(sorted({v.profile for v in views})))}</h1>"
            f"<p class='note'>{note}</p>{''.join(parts)}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _figure_html(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def export_image(views: list[StudyView], path: Path) -> Path:
    """The main plot (the comparison, or the one study's panels) as PNG, SVG or PDF."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise DseError("Static image export needs the 'kaleido' package and a Chrome it can "
                       "drive: pip install kaleido") from None
    studies = dashboard_data(views)
    fig = comparison_figure(studies) if len(studies) > 1 else study_figure(studies[0])
    error = ""
    for _ in range(IMAGE_ATTEMPTS):
        try:
            fig.write_image(str(path), width=1400, height=900)
            return path
        except Exception as exc:  # kaleido without a browser, an unknown suffix, ...
            error = str(exc).splitlines()[0]
    raise DseError(f"Could not export {path}: {error}") from None
