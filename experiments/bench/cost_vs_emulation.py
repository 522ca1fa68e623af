"""The dse-c cost model against emulation, on architectures it was not fitted to.

    python experiments/bench/cost_vs_emulation.py [--profiles stm32l4 samd21]

For each profile's core, 24 hold-out architectures (LSTM and GRU, 1-3 layers, 8-128 cells,
the three dtypes; none in dse calibrate's grid; the motion task's shape, T = 48, three times
the longest window the fit saw) are exported untrained, cross-compiled, emulated, and
compared with what the cost model predicts for the profile's dse-c runtime. Goals: cycles
within 10 % for every architecture (median within 5 %), flash within 2 %, RAM (the state
struct and the stack an inference uses) within 5 %.
"""

from __future__ import annotations

import argparse
import statistics

from dse.architecture import Architecture
from dse.calibrate import NETWORKS, collect
from dse.cost import estimate
from dse.hardware import load_profile
from dse.measure.cores import core_of

SHAPE = {"features": 6, "timesteps": 48, "classes": 6}
HOLD_OUT = [  # (cell, cells, dtype): 4 per (cell type, dtype)
    ("lstm", (16,), "int8"), ("lstm", (48,), "int8"), ("lstm", (32, 32), "int8"),
    ("lstm", (24, 8, 16), "int8"), ("lstm", (12,), "int16"), ("lstm", (96,), "int16"),
    ("lstm", (64, 16), "int16"), ("lstm", (16, 32, 8), "int16"), ("lstm", (32,), "float32"),
    ("lstm", (80,), "float32"), ("lstm", (8, 40), "float32"), ("lstm", (48, 24, 12), "float32"),
    ("gru", (16,), "int8"), ("gru", (64,), "int8"), ("gru", (32, 48), "int8"),
    ("gru", (8, 24, 40), "int8"), ("gru", (24,), "int16"), ("gru", (112,), "int16"),
    ("gru", (40, 40), "int16"), ("gru", (12, 12, 12), "int16"), ("gru", (48,), "float32"),
    ("gru", (128, 8), "float32"), ("gru", (16, 64), "float32"), ("gru", (32, 16, 24), "float32"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["stm32l4", "samd21"])
    args = parser.parse_args()
    fitted = {(cell, cells) for cell, cells in NETWORKS}
    assert not {(cell, cells) for cell, cells, _ in HOLD_OUT} & fitted, "hold-out in the fit"
    archs = [Architecture(cell, cells, dtype, **SHAPE) for cell, cells, dtype in HOLD_OUT]  # type: ignore[arg-type]
    for name in args.profiles:
        profile = load_profile(name)
        core = core_of(profile)
        samples = collect(core, archs)
        print(f"\n{name} ({core.name}, {profile.clock_hz / 1e6:g} MHz), dse-c runtime "
              f"against emulation, {len(archs)} hold-out architectures, F=6 T=48 K=6")
        print(f"{'arch':<14}{'dtype':<8}{'cycles pred':>13}{'measured':>12}{'err':>8}"
              f"{'flash pred':>11}{'measured':>10}{'err':>7}{'RAM pred':>9}{'measured':>9}"
              f"{'err':>7}")
        errors: dict[str, list[float]] = {"cycles": [], "flash": [], "ram": []}
        for sample in samples:
            report = estimate(sample.arch, profile, runtime="dse-c")
            row = {"cycles": (report.latency_cycles, sample.cycles),
                   "flash": (report.flash_bytes, sample.flash_bytes),
                   "ram": (report.ram_bytes, sample.static_ram_bytes + sample.stack_bytes)}
            for key, (predicted, measured) in row.items():
                errors[key].append(predicted / measured - 1)
            print(f"{sample.arch.text:<14}{sample.arch.dtype:<8}"
                  f"{row['cycles'][0]:>13,.0f}{row['cycles'][1]:>12,.0f}"
                  f"{100 * errors['cycles'][-1]:>+7.1f}%{row['flash'][0]:>11,}{row['flash'][1]:>10,}"
                  f"{100 * errors['flash'][-1]:>+6.1f}%{row['ram'][0]:>9,}{row['ram'][1]:>9,}"
                  f"{100 * errors['ram'][-1]:>+6.1f}%")
        for key, goal in (("cycles", 0.10), ("flash", 0.02), ("ram", 0.05)):
            worst = max(abs(e) for e in errors[key])
            median = statistics.median(abs(e) for e in errors[key])
            verdict = "met" if worst <= goal and (key != "cycles" or median <= 0.05) else "NOT met"
            print(f"{key}: worst {100 * worst:.1f} %, median {100 * median:.1f} % "
                  f"(goal: every one within {100 * goal:.0f} %"
                  f"{', median 5 %' if key == 'cycles' else ''}): {verdict}")


if __name__ == "__main__":
    main()
