"""The Pareto dashboard: one self-contained HTML file per study or comparison of studies.

Compute, then render (as optuna's ``plot_pareto_front``): :mod:`dse.dashboard.data` turns
the trials into plain data (which points are on the front, dominated or infeasible, the
front's step line, hypervolume progress, axis ranges, limits) without plotly;
:mod:`dse.dashboard.figures` only draws it, with SVG traces (no WebGL, so it renders in
headless browsers and prints); :mod:`dse.dashboard.page` writes the HTML page with plotly.js
embedded (works offline, no CDN, no server) and the static image.
"""

from __future__ import annotations

from dse.dashboard.data import StudyView, dashboard_data
from dse.dashboard.page import build_dashboard, export_image

__all__ = ["StudyView", "build_dashboard", "dashboard_data", "export_image"]
