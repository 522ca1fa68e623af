"""The dashboard as one self-contained HTML page (plotly.js embedded: works offline, no CDN,
no server), with each study's Pareto table; the main plot as a static image."""

from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from dse.dashboard.data import StudyData, StudyView, dashboard_data
from dse.dashboard.figures import comparison_figure, parallel_figure, study_figure
from dse.errors import DseError

IMAGE_ATTEMPTS = 2  # under load kaleido may call its page's script before the page has it
#                    ("kaleido_scopes is not defined"); a second attempt renders


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
