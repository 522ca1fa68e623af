"""The integer arithmetic against a baseline revision's, on the same trained networks.

    python experiments/bench/arithmetic.py [--tasks motion temporal_order anomaly]
        [--archs lstm:16 lstm:64 gru:32 lstm:32,32 gru:64,16] [--seeds 0 1] [--baseline REV]

Each network is trained once per task and seed with the proxy's budget (dse.proxy), then
quantized as int8 and int16 by this checkout's integer model and by the baseline revision's
(its own dse.quantize, run from a copy of that revision on the same float weights). Printed
per (task, network, seed, dtype): the test accuracy of the float network, of today's integer
model and of the baseline's, their difference in percentage points (goal: at most 0.5 in
every row), and whether the C this checkout generates, built on this machine, gives its
integer model's logits bit for bit on every test window.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from kernels import baseline_tree  # noqa: E402

from dse import quantize  # noqa: E402
from dse.architecture import parse_arch  # noqa: E402
from dse.export import c as c_export  # noqa: E402
from dse.export import verify  # noqa: E402
from dse.proxy import DEFAULT_BUDGET  # noqa: E402
from dse.tasks import load_task  # noqa: E402
from dse.training import accuracy_of, train  # noqa: E402

DTYPES = ("int8", "int16")


def save_network(net, path: Path) -> None:
    arrays = {"head_weight": net.head_weight, "head_bias": net.head_bias}
    for k, layer in enumerate(net.layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            arrays[f"{k}_{name}"] = getattr(layer, name)
    np.savez(path, **arrays)


def baseline_accuracy(job: dict) -> dict[str, float]:
    """Inside the baseline's interpreter: its integer model's test accuracy per dtype."""
    from dse import quantize as old
    from dse.cells import Layer, Network
    from dse.tasks import load_task as load

    data = load(job["task"], seed=job["seed"])
    with np.load(job["weights"]) as w:
        layers = [Layer(*(w[f"{k}_{n}"] for n in ("weight_ih", "weight_hh", "bias_ih",
                                                   "bias_hh"))) for k in range(job["layers"])]
        net = Network(job["cell"], layers, w["head_weight"], w["head_bias"])
    return {d: old.accuracy(old.quantize_network(net, d, data.X_train), data.X_test,
                            data.y_test) for d in DTYPES}


def c_is_exact(integer, data, arch) -> bool:
    """The generated C built here against the integer model, on every test window."""
    compiler = verify.host_compiler()
    info = c_export.ModelInfo("bench", "bench", arch.text, arch.dtype, "bench",
                              arch.timesteps, arch.features, arch.classes)
    source = c_export.integer_c(integer, info, "dse_")
    raw = (data.X_test.astype(np.float64) * data.std + data.mean).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "model.h").write_text(source.header)
        (Path(folder) / "model.c").write_text(source.source)
        run = verify.run_on_host(Path(folder), "dse_", raw, compiler=compiler)
    reference = quantize.run(integer, raw)
    return bool(np.array_equal(run.logits.view(np.uint32), reference.view(np.uint32)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["motion", "temporal_order", "anomaly"])
    parser.add_argument("--archs", nargs="+",
                        default=["lstm:16", "lstm:64", "gru:32", "lstm:32,32", "gru:64,16"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--baseline", default="6ff3caa")
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        print(json.dumps(baseline_accuracy(json.loads(args.job))))
        return
    env = dict(os.environ, PYTHONPATH=str(baseline_tree(args.baseline)))
    print(f"{'task':<16}{'network':<12}{'seed':>5}{'dtype':>7}{'float':>8}{'now':>8}"
          f"{'baseline':>10}{'diff pp':>9}{'C exact':>9}")
    worst, exact_all = 0.0, True
    with tempfile.TemporaryDirectory() as folder:
        for task in args.tasks:
            for seed in args.seeds:
                data = load_task(task, seed=seed)
                for text in args.archs:
                    arch = parse_arch(text, features=data.features, timesteps=data.timesteps,
                                      classes=data.classes)
                    net = train(arch, data, DEFAULT_BUDGET, seed).network
                    weights = Path(folder) / "w.npz"
                    save_network(net, weights)
                    job = {"task": task, "seed": seed, "weights": str(weights),
                           "layers": len(net.layers), "cell": net.cell}
                    done = subprocess.run([sys.executable, __file__, "--job", json.dumps(job)],
                                          env=env, check=True, capture_output=True, text=True)
                    before = json.loads(done.stdout)
                    floating = accuracy_of(net, data.X_test, data.y_test)
                    for dtype in DTYPES:
                        integer = quantize.quantize_network(net, dtype, data.X_train,
                                                            mean=data.mean, std=data.std)
                        now = quantize.accuracy(quantize.quantize_network(
                            net, dtype, data.X_train), data.X_test, data.y_test)
                        exact = c_is_exact(integer, data, parse_arch(text, dtype=dtype,
                                           features=data.features, timesteps=data.timesteps,
                                           classes=data.classes))
                        diff = 100 * (now - before[dtype])
                        worst, exact_all = max(worst, abs(diff)), exact_all and exact
                        print(f"{task:<16}{text:<12}{seed:>5}{dtype:>7}{floating:>8.3f}"
                              f"{now:>8.3f}{before[dtype]:>10.3f}{diff:>+9.2f}{str(exact):>9}",
                              flush=True)
    print(f"largest change of test accuracy: {worst:.2f} percentage points (goal <= 0.5); "
          f"C bit for bit on every test window: {exact_all}")


if __name__ == "__main__":
    main()
