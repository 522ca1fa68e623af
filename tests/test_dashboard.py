"""The dashboard's data (front, dominated, infeasible, hypervolume) and its drawing in a real
headless Chromium: no console errors, one marker per trial shown, a screenshot."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dse.dashboard import StudyView, build_dashboard, dashboard_data, export_image
from dse.dashboard.data import accuracy_ticks, hypervolume, log_ticks, parallel_data
from dse.dashboard.figures import study_figure
from dse.errors import DseError
from dse.results import pareto_mask

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def trial(number, arch, dtype, accuracy, latency, feasible=True, state="COMPLETE", **extra):
    cell, cells = arch.split(":")
    row = {"number": number, "arch": arch, "dtype": dtype, "state": state,
           "accuracy": accuracy, "accuracy_quantized": accuracy, "latency_ms": latency,
           "flash_bytes": 70_000 + 1000 * number, "ram_bytes": 10_000 + 100 * number,
           "energy_uj": latency * 26.4, "feasible": feasible,
           "violations": "" if feasible else "flash_bytes +1,000", "cell": cell,
           "layers": cells.count(",") + 1, "cells": cells, "params": 1000 * (number + 1),
           "macc": 50_000 * (number + 1), "trained": feasible, "reused_from": -1, "diverged": "",
           "train_seconds": 0.1, "worker": "test", "pareto": False, "variant_of": -1,
           "accuracy_mean": accuracy, "accuracy_quantized_mean": accuracy,
           "accuracy_std": np.nan, "accuracy_quantized_std": np.nan, "seeds": 1}
    row.update(extra)
    return row


def view(rows, name="s1", profile="stm32l4", objectives=("accuracy_quantized", "latency_ms"),
         **limits) -> StudyView:
    """A study view whose Pareto column is computed as dse.results computes it."""
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["pareto"] = pareto_mask(frame, objectives)
    return StudyView(name=name, profile=profile, task="motion", flash_limit_bytes=1_048_576,
                     ram_limit_bytes=131_072, max_latency_ms=limits.get("max_latency_ms"),
                     max_energy_uj=limits.get("max_energy_uj"), objectives=objectives,
                     trials=frame)


HAND_MADE = [
    trial(0, "lstm:8", "int8", 0.60, 2.0),  # front
    trial(1, "lstm:16", "int8", 0.70, 5.0),  # front
    trial(2, "gru:16", "int16", 0.65, 6.0),  # dominated by trial 1
    trial(3, "gru:64", "int8", 0.90, 40.0),  # front
    trial(4, "lstm:16", "int8", 0.70, 5.0, reused_from=1),  # repeat: drawn once
    trial(5, "lstm:512", "float32", np.nan, 900.0, feasible=False),  # infeasible
    trial(6, "gru:8", "float32", 0.50, 30.0),  # dominated
    trial(7, "gru:32", "int8", np.nan, 10.0, state="FAIL"),  # failed: not shown
]


def test_front_dominated_and_infeasible_are_told_apart() -> None:
    (data,) = dashboard_data([view(HAND_MADE)])
    status = dict(zip(data.points["number"], data.points["status"]))
    assert status == {0: "pareto", 1: "pareto", 2: "dominated", 3: "pareto",
                      5: "infeasible", 6: "dominated"}
    assert data.front["number"].tolist() == [0, 1, 3]  # step line sorted by latency
    assert ("3 on the front of accuracy_quantized, latency_ms, 2 dominated, 1 infeasible"
            in data.title[1])
    assert data.pareto["number"].tolist() == [3, 1, 0]  # best accuracy first
    assert data.infeasible_y < data.strip_top < data.points["accuracy_quantized"].min()
    assert min(data.accuracy_ticks) > data.strip_top  # no accuracy ticks on the infeasible strip


def test_the_front_drawn_is_the_studys_own_objectives() -> None:
    rows = [trial(0, "lstm:64", "int8", 0.75, 8.0, energy_uj=1000.0),
            trial(1, "lstm:16", "int8", 0.70, 5.0, energy_uj=100.0),
            trial(2, "gru:16", "int8", 0.65, 1.0, energy_uj=50.0),
            trial(3, "gru:8", "int8", 0.68, 0.5, energy_uj=400.0)]
    (latency,) = dashboard_data([view(rows)])
    assert set(latency.pareto["number"]) == {0, 1, 3}  # 3 is fastest; it dominates 2
    (energy,) = dashboard_data([view(rows, objectives=("accuracy_quantized", "energy_uj"),
                                     max_energy_uj=300.0)])
    assert set(energy.points.loc[energy.points["status"] == "pareto", "number"]) == {0, 1, 2}
    assert energy.front["number"].tolist() == [2, 1, 0]  # the step line, by energy
    assert energy.axes[0].objective == "energy_uj" and energy.axes[0].limit == 300.0
    assert "front of accuracy_quantized, energy_uj" in energy.title[1]
    assert "energy 300 uJ" in energy.title[0]
    figure = study_figure(energy)
    assert "budget 300 uJ" in [a.text for a in figure.layout.annotations]
    assert figure.layout.xaxis.title.text.startswith("energy per inference")


def test_axis_ticks() -> None:
    assert log_ticks((np.log10(3), np.log10(300))) == ([5.0, 10.0, 20.0, 50.0, 100.0, 200.0],
                                                      ["5", "10", "20", "50", "100", "200"])
    assert accuracy_ticks(0.55, 1.0) == (0.6, 0.7, 0.8, 0.9, 1.0)
    assert accuracy_ticks(0.6, 0.8) == (0.65, 0.7, 0.75, 0.8)


def test_hypervolume_by_hand() -> None:
    # reference (accuracy 0, 10 ms): boxes (0.5 - 0) x (10 - 2) + (0.8 - 0.5) x (10 - 6)
    area = hypervolume(np.array([0.5, 0.8, 0.4]), np.array([2.0, 6.0, 8.0]), (0.0, 10.0))
    assert area == pytest.approx(0.5 * 8 + 0.3 * 4)
    (data,) = dashboard_data([view(HAND_MADE)])
    progress = data.progress["hypervolume"].to_numpy()
    # reference (0, 40 ms), the slowest trained latency shown: trial 0 adds 0.6 x 38, trial 1
    # adds (0.7 - 0.6) x 35; the rest are dominated, repeated, infeasible or at 40 ms
    assert data.reference == (0.0, 40.0)
    assert progress == pytest.approx([22.8, 26.3, 26.3, 26.3, 26.3, 26.3, 26.3])
    assert data.progress["number"].tolist() == [0, 1, 2, 3, 4, 5, 6]


def test_parallel_coordinates_scaled_per_axis() -> None:
    (data,) = dashboard_data([view(HAND_MADE)])
    labels, matrix, accuracy, _ = parallel_data(data)
    assert matrix.shape == (5, len(labels)) and len(accuracy) == 5
    assert matrix.min() >= 0 and matrix.max() <= 1
    # params 1000 (trial 0) .. 7000 (trial 6) on a log axis: trial 3 (4000) sits at log 4 / log 7
    params = matrix[:, labels.index("params (log)")]
    assert params.tolist() == pytest.approx([0, np.log10(2) / np.log10(7), np.log10(3) / np.log10(7),
                                             np.log10(4) / np.log10(7), 1])


@pytest.mark.filterwarnings("error")
def test_studies_with_nothing_trained_still_build(tmp_path) -> None:
    infeasible = [trial(0, "lstm:512", "int8", np.nan, 900.0, feasible=False),
                  trial(1, "gru:512", "int8", np.nan, 800.0, feasible=False)]
    empty = pd.DataFrame(columns=list(trial(0, "lstm:8", "int8", 0.5, 1.0)))
    views = [view(infeasible, "infeasible"), view(empty, "empty")]
    (nothing_trained, nothing), page = dashboard_data(views), build_dashboard(views, tmp_path / "d.html")
    assert nothing_trained.points["status"].tolist() == ["infeasible", "infeasible"]
    assert nothing_trained.front.empty and nothing.points.empty
    assert nothing_trained.progress["hypervolume"].tolist() == [0.0, 0.0]
    assert "Pareto-optimal architectures (0)" in page.read_text()


def test_export_image_without_kaleido_says_how(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "kaleido", None)  # as if not installed: import fails
    with pytest.raises(DseError, match="needs the 'kaleido' package"):
        export_image([view(HAND_MADE)], tmp_path / "front.png")


@pytest.mark.slow
def test_export_image_draws_every_point_in_svg_and_png(tmp_path) -> None:
    pytest.importorskip("kaleido")  # a test extra; it drives the chromium that .ci/run installs
    (data,) = dashboard_data([view(HAND_MADE)])
    svg = export_image([view(HAND_MADE)], tmp_path / "front.svg").read_text()
    assert svg.startswith("<svg") and 'width="1400" height="900"' in svg
    # every architecture in each of the three accuracy panels (latency, flash, RAM)
    assert svg.count('<path class="point') == 3 * len(data.points)
    assert "latency per inference (ms, log scale)" in svg and "limit 128 KiB" in svg
    png = export_image([view(HAND_MADE)], tmp_path / "front.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1400, 900)  # IHDR width, height


@pytest.mark.slow
def test_an_image_in_an_unknown_format_is_one_clear_error(tmp_path) -> None:
    pytest.importorskip("kaleido")
    with pytest.raises(DseError, match=r"Could not export .*front\.bmp: Invalid format 'bmp'"):
        export_image([view(HAND_MADE)], tmp_path / "front.bmp")


def synthetic_study(seed: int, name: str, profile: str, *, ram_kib: int = 128,
                    max_latency_ms: float | None = None) -> StudyView:
    """60 trials: accuracy grows with size, cost with size and dtype; big ones exceed the RAM
    and are never trained; a few architectures are proposed twice (reused scores)."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    for number in range(60):
        if number % 10 == 9:  # a repeat of an earlier proposal
            rows.append({**rows[int(rng.integers(len(rows)))], "number": number})
            continue
        cell = "lstm" if rng.random() < 0.5 else "gru"
        cells = ",".join(str(c) for c in rng.choice([8, 16, 32, 64, 128, 256], rng.integers(1, 4)))
        dtype = str(rng.choice(["int8", "int16", "float32"]))
        size = sum(int(c) for c in cells.split(","))
        width = {"int8": 1, "int16": 2, "float32": 4}[dtype]
        params = 4 * size * (size // 2 + 10) * (3 if cell == "gru" else 4) // 4
        ram_bytes = 2_000 + width * (params // 8 + 60 * size)
        feasible = ram_bytes <= ram_kib * 1024
        accuracy = (min(0.99, 0.96 - 0.45 * np.exp(-size / 70) + 0.006 * width
                        + rng.normal(0, 0.015)) if feasible else np.nan)
        rows.append(trial(number, f"{cell}:{cells}", dtype, accuracy,
                          params * width / 4e4 * rng.uniform(0.9, 1.1), feasible,
                          flash_bytes=40_000 + width * params, ram_bytes=ram_bytes, params=params,
                          macc=params * 60))
    return replace(view(rows, name, profile, max_latency_ms=max_latency_ms),
                   ram_limit_bytes=ram_kib * 1024)


@pytest.mark.browser
@pytest.mark.slow
def test_dashboard_renders_in_headless_chromium(tmp_path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must apt-get install chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    views = [synthetic_study(1, "motion-stm32l4", "stm32l4", max_latency_ms=50.0),
             synthetic_study(2, "motion-nrf52840", "nrf52840", ram_kib=256)]
    page = build_dashboard(views, tmp_path / "dashboard.html")
    text = page.read_text()
    assert "<script src=" not in text and "<link " not in text  # nothing fetched: offline
    probe = tmp_path / "probe.html"
    probe.write_text(text.replace("<head>", "<head>" + CAPTURE_ERRORS, 1)
                     .replace("</body>", REPORT + "</body>"))
    report = run_chromium(probe, "--dump-dom")
    found = json.loads(report.split('<pre id="dse-report">')[1].split("</pre>")[0])
    assert found["errors"] == []
    assert found["plots"] == 5  # comparison + (panels + parallel) per study
    assert found["webgl"] == 0  # SVG only: prints and renders anywhere
    for index, data in enumerate(dashboard_data(views)):
        shown = len(data.points)
        assert shown < len(views[index].trials)  # repeats are drawn once
        assert (data.points["status"] == "infeasible").any()
        assert set(data.pareto["number"]) == set(data.front["number"])  # same two objectives
        # latency, flash and RAM panels: one marker per distinct trial shown
        assert found["markers"][index] == {"xy": shown, "x3y3": shown, "x4y4": shown}
    ARTIFACTS.mkdir(exist_ok=True)
    run_chromium(page, f"--screenshot={ARTIFACTS / 'dashboard.png'}")
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 50_000


CAPTURE_ERRORS = """<script>window.dseErrors = [];
window.addEventListener('error', e => window.dseErrors.push(String(e.message)));
window.addEventListener('unhandledrejection', e => window.dseErrors.push(String(e.reason)));
const dseConsoleError = console.error;
console.error = (...args) => { window.dseErrors.push(args.join(' ')); dseConsoleError(...args); };
</script>"""
REPORT = """<script>
function dseReport() {  // once every plot has drawn its SVG: counts and errors into the DOM
  const plots = document.querySelectorAll('.js-plotly-plot');
  if (!plots.length || ![...plots].every(p => p._fullLayout && p.querySelector('.main-svg'))) {
    return setTimeout(dseReport, 100);
  }
  const markers = [0, 1].map(i => Object.fromEntries(['xy', 'x3y3', 'x4y4'].map(panel =>
      [panel, document.querySelectorAll('#study-' + i + ' .subplot.' + panel + ' path.point').length])));
  const out = document.createElement('pre'); out.id = 'dse-report';
  out.textContent = JSON.stringify({errors: window.dseErrors, markers: markers, plots: plots.length,
      webgl: document.querySelectorAll('.gl-container canvas, canvas.gl-canvas').length});
  document.body.appendChild(out);
}
window.addEventListener('load', () => setTimeout(dseReport, 500));
</script>"""


def run_chromium(page: Path, action: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1400,4300",
             "--virtual-time-budget=15000", action, page.as_uri()],
            capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
