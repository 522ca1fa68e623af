"""The dashboard's plotly figures, drawn from :mod:`dse.dashboard.data` only: the accuracy-cost
panels with the front and the budgets, the hypervolume progress, the parallel coordinates and
the comparison of several studies. SVG traces (no WebGL), so they render in headless browsers
and print."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dse.dashboard.data import Axis, StudyData, accuracy_title, log_range, log_ticks, parallel_data

CELL_COLOURS = {"lstm": "#1f77b4", "gru": "#d95f02"}
DTYPE_SYMBOLS = {"int8": "circle", "int16": "square", "float32": "diamond"}
INFEASIBLE_COLOUR = "#9a9a9a"
HOVER_COLUMNS = ["arch", "dtype", "params", "macc", "flash_kib", "ram_kib", "latency_ms",
                 "energy_uj", "accuracy_mean", "accuracy_quantized_mean", "violations", "number",
                 "spread", "seeds"]
HOVER = ("<b>%{customdata[0]}</b> (%{customdata[1]}), trial %{customdata[11]}<br>"
         "accuracy %{customdata[9]:.3f} quantized, %{customdata[8]:.3f} float "
         "(mean of %{customdata[13]} seeds%{customdata[12]})<br>"
         "latency %{customdata[6]:.2f} ms, energy %{customdata[7]:,.0f} uJ<br>"
         "flash %{customdata[4]:.1f} KiB, RAM %{customdata[5]:.1f} KiB<br>"
         "%{customdata[2]:,} params, %{customdata[3]:,} MACC<br>%{customdata[10]}<extra></extra>")


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
    axis_range = log_range(pd.concat([data.pareto[axis.column] for data in studies]))
    ticks, labels = log_ticks(axis_range)
    fig.update_xaxes(type="log", title=axis.title, range=axis_range, tickvals=ticks, ticktext=labels)
    fig.update_yaxes(title=accuracy_title(studies[0].accuracy))
    fig.update_layout(height=480, template="plotly_white", font={"size": 13},
                      title=f"Pareto fronts of the studies compared, accuracy vs {_short(axis)} "
                            f"(feasible, trained architectures)",
                      legend={"orientation": "h", "y": -0.2})
    return fig
