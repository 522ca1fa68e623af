"""The exported C's kernels against a baseline revision's, emulated on each core.

    python experiments/bench/kernels.py [--profiles samd21 stm32l4 stm32h7 stm32u5]
                                        [--baseline REV]

For each profile's core, the 24 held-out networks of cost_vs_emulation.py (LSTM and GRU, 1-3
layers, 8-128 cells; the motion task's shape F=6, T=48, K=6) are exported untrained in each
of int8, int16 and float32, cross-compiled and emulated (timing does not depend on the
weights' values), once with this checkout's generator and once with the baseline revision's
(its own generator, harness and cycle counting, run from a copy of that revision; the inner
loop is picked by this checkout's rule on both, which counts VMUL as a float product: the
baseline's rule did not, and picked the float32 sigmoid's VMLA block instead of the gate
sums' VMUL/VADD loop). Per core:

* inner-loop MACs per cycle per dtype: the hottest block of multiply-accumulates, median over
  the networks whose kernel loops (the steady state of the gate sums); n/a where none does
  (float32 on the Cortex-M0+, which has no FPU: its hottest multiplies are libgcc's soft
  float);
* cycles per cell per step outside the MACs: (cycles - gate MACs / that rate) / (T x cells),
  median per dtype;
* whole-inference cycles, geometric mean over the 24 held-out (network, dtype) pairs of
  cost_vs_emulation.py, and the speed-up;
* int8: on how many of the 24 networks the emulated C beats the profile's TFLite Micro
  runtime as the cost model prices it (an estimate: its constants are not fitted).

Every figure is an instruction-accurate emulation with a documented timing table, not a
board measurement (docs/measure.md).
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SHAPE = {"features": 6, "timesteps": 48, "classes": 6}
DTYPES = ("int8", "int16", "float32")
# Bounds of the gate sums' inner loop on a Cortex-M4 (docs/benchmarks.md): int8 weights need
# one load, two SXTB16 and two SMLAD per 4 MACs (0.8 MAC/cycle with every load pipelined);
# with one cell's 4 gate rows per pass (all 14 free registers), each block of 4 columns also
# loads two words of inputs and pays the first load of its run: 16 MACs in 23 cycles.
M4_BOUNDS = {"int8": (0.8, 16 / 23), "int16": (0.8, 16 / 23)}


def inner_loop_rule(session: object):
    """This checkout's dse.measure.session._inner_loop, compiled in the namespace of the
    session module that runs (this checkout's or the baseline's), so that both revisions'
    inner loops are picked and counted alike."""
    tree = ast.parse((REPO / "dse" / "measure" / "session.py").read_text())
    node = next(n for n in tree.body
                if isinstance(n, ast.FunctionDef) and n.name == "_inner_loop")
    node.returns = None  # the annotations name types the module may import only for checking
    for arg in node.args.args:
        arg.annotation = None
    namespace = dict(vars(session))
    exec(compile(ast.Module([node], []), "session.py", "exec"), namespace)
    return namespace["_inner_loop"]


def probe(job: tuple[str, tuple[int, ...], str, str]) -> dict:
    """Emulate one untrained export; only API that every revision measured here has."""
    from dse.architecture import Architecture
    from dse.calibrate import PREFIX, write_untrained_export
    from dse.measure import session
    from dse.measure.cores import CORES
    from dse.measure.session import run_image

    session._inner_loop = inner_loop_rule(session)  # type: ignore[attr-defined]

    cell, cells, dtype, core = job
    arch = Architecture(cell, tuple(cells), dtype, **SHAPE)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="dse-kernels-") as work:
        folder = Path(work)
        windows = write_untrained_export(arch, folder)
        m = run_image(folder, CORES[core], prefix=PREFIX, windows=windows[:1],
                      classes=arch.classes, work=folder / "build")
    loop = m.inner_loop or {}
    return {"cycles": m.cycles, "inner": loop.get("macs_per_cycle"),
            "loops": loop.get("loops", True), "flash": m.flash_bytes}


def run_jobs(jobs: list, workers: int) -> list[dict]:
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(probe, jobs))


def baseline_tree(revision: str) -> Path:
    """The baseline revision's dse package, extracted to a temporary folder."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "dse",
                              "hardware_profiles", "search_spaces"],
                             check=True, capture_output=True).stdout
    root = Path(tempfile.mkdtemp(prefix="dse-baseline-"))
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return root


def run_baseline(jobs: list, revision: str, workers: int) -> list[dict]:
    """The jobs in a fresh interpreter that imports the baseline's dse."""
    tree = baseline_tree(revision)
    try:
        done = subprocess.run([sys.executable, __file__, "--probe", json.dumps(jobs),
                               "--workers", str(workers)],
                              env=dict(os.environ, PYTHONPATH=str(tree)), check=True,
                              capture_output=True, text=True)
    finally:
        shutil.rmtree(tree)
    return json.loads(done.stdout)


def cell_steps(cells: tuple[int, ...]) -> int:
    return SHAPE["timesteps"] * sum(cells)


def gate_macs(cell: str, cells: tuple[int, ...]) -> int:
    """The gate MACs of one inference, as the cost model counts them (no padding)."""
    gates, inputs, total = {"lstm": 4, "gru": 3}[cell], SHAPE["features"], 0
    for width in cells:
        total += gates * width * (inputs + width)
        inputs = width
    return total * SHAPE["timesteps"]


def summarize(nets: list, results: dict) -> dict:
    """Per dtype: the inner-loop rate and the cycles per cell-step outside the MACs."""
    out: dict = {}
    for dtype in DTYPES:
        mine = [(n, results[(n, dtype)]) for n in nets]
        rates = [r["inner"] for _, r in mine if r["inner"] and r["loops"]]
        rate = statistics.median(rates) if rates else float("nan")
        outside = [(r["cycles"] - gate_macs(*n) / rate) / cell_steps(n[1]) for n, r in mine]
        out[dtype] = {"inner": rate, "outside": statistics.median(outside)}
    return out


def fmt(value: float, spec: str, width: int) -> str:
    return f"{'n/a':>{width}}" if math.isnan(value) else f"{value:>{width}{spec}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["samd21", "stm32l4", "stm32h7",
                                                          "stm32u5"])
    parser.add_argument("--baseline", default="6ff3caa",
                        help="git revision of the baseline kernels (default: before this work)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:  # inside the baseline's interpreter
        print(json.dumps(run_jobs([tuple(j) for j in json.loads(args.probe)], args.workers)))
        return

    sys.path.insert(0, str(Path(__file__).parent))
    from cost_vs_emulation import HOLD_OUT

    from dse.architecture import Architecture
    from dse.cost import estimate
    from dse.hardware import load_profile
    from dse.measure.cores import core_of

    nets = [(cell, cells) for cell, cells, _ in HOLD_OUT]
    listed = [((cell, cells), dtype) for cell, cells, dtype in HOLD_OUT]
    for name in args.profiles:
        profile = load_profile(name)
        core = core_of(profile).name
        keys = [(n, d) for n in nets for d in DTYPES]
        jobs = [(n[0], n[1], d, core) for n, d in keys]
        now = dict(zip(keys, run_jobs(jobs, args.workers)))
        before = dict(zip(keys, run_baseline(jobs, args.baseline, args.workers)))
        tflm_name = next(r for r in profile.runtimes if r.startswith("tflm"))
        tflm = {n: estimate(Architecture(n[0], n[1], "int8", **SHAPE), profile,  # type: ignore[arg-type]
                            runtime=tflm_name).latency_cycles for n in nets}
        s_now, s_before = summarize(nets, now), summarize(nets, before)
        geo = {label: float(np.exp(np.mean([np.log(r[k]["cycles"]) for k in listed])))
               for label, r in (("now", now), ("before", before))}
        print(f"\n{name} ({core}, {profile.clock_hz / 1e6:g} MHz): the exported C, baseline "
              f"{args.baseline} vs this checkout (emulated; F=6 T=48 K=6)")
        print(f"{'':34}{'baseline':>12}{'now':>12}{'ratio':>9}")
        for dtype in DTYPES:
            b, n = s_before[dtype], s_now[dtype]
            bound = M4_BOUNDS.get(dtype) if core == "cortex-m4" else None
            note = (f"   (bound {bound[0]:.2f}; 4 rows a pass: {bound[1]:.3f})" if bound else "")
            print(f"{'inner-loop MACs/cycle ' + dtype:34}{fmt(b['inner'], '.3f', 12)}"
                  f"{fmt(n['inner'], '.3f', 12)}{fmt(n['inner'] / b['inner'], '.2f', 8)}x{note}")
        for dtype in DTYPES:
            b, n = s_before[dtype], s_now[dtype]
            print(f"{'cycles/cell/step outside, ' + dtype:34}{fmt(b['outside'], '.0f', 12)}"
                  f"{fmt(n['outside'], '.0f', 12)}{fmt(b['outside'] / n['outside'], '.2f', 8)}x")
        print(f"{'whole inference, geomean of 24':34}{geo['before']:>12,.0f}{geo['now']:>12,.0f}"
              f"{geo['before'] / geo['now']:>8.2f}x")
        for dtype in DTYPES:
            g = {label: float(np.exp(np.mean([np.log(r[(n, dtype)]["cycles"]) for n in nets])))
                 for label, r in (("now", now), ("before", before))}
            print(f"{'  the 24 networks in ' + dtype:34}{g['before']:>12,.0f}{g['now']:>12,.0f}"
                  f"{g['before'] / g['now']:>8.2f}x")
        wins = {label: sum(r[(n, "int8")]["cycles"] < tflm[n] for n in nets)
                for label, r in (("now", now), ("before", before))}
        print(f"{'int8 faster than ' + tflm_name + ' est.':34}{wins['before']:>9} /24"
              f"{wins['now']:>9} /24")


if __name__ == "__main__":
    main()
