"""One export folder: the final training, the integer network, the C, ONNX and PyTorch files,
the host check of the C, and ``export.json`` describing all of it.

Files written (those of the formats asked for): ``model.h``, ``model.c``, ``main.c``,
``Makefile`` (c); ``model.onnx`` (onnx); ``model.py``, ``weights.npz`` (torch); and always
``golden.npz`` (test windows with the logits and classes the exported network must give:
for checking a port on the board, and what ``dse measure`` runs) and ``export.json``.
Nothing else in the folder is touched.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata, resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from dse import quantize
from dse.architecture import Architecture
from dse.cells import Network, forward
from dse.cost import estimate
from dse.errors import DseError
from dse.export import c as c_export
from dse.export import onnx as onnx_export
from dse.export import torch as torch_export
from dse.export import verify
from dse.export.final import FINAL_BUDGET, FINAL_SEEDS, train_final
from dse.hardware import Budgets, HardwareProfile
from dse.paths import prepare_dir
from dse.tasks import Dataset
from dse.training import Budget, accuracy_of

FORMATS = ("c", "onnx", "torch")
FILES = {"c": ("model.h", "model.c", "main.c", "Makefile"), "onnx": ("model.onnx",),
         "torch": ("model.py", "weights.npz")}
GOLDEN_WINDOWS = 16


def default_formats() -> tuple[str, ...]:
    """C and PyTorch always; ONNX where the onnx package is installed."""
    return ("c", "onnx", "torch") if importlib.util.find_spec("onnx") else ("c", "torch")


@dataclass(frozen=True)
class ExportRequest:
    """What to export and where it comes from."""

    arch: Architecture  # cell, cells, dtype and the task's shape
    data: Dataset
    data_label: str  # the built-in task's name or the data file's
    seed: int  # the run's seed: the data's, and the base of the final trainings'
    formats: tuple[str, ...] = ("c", "torch")
    prefix: str = "dse_"
    seeds: int = FINAL_SEEDS
    budget: Budget = FINAL_BUDGET
    search_score: dict[str, Any] | None = None  # what the search gave this network
    profile: HardwareProfile | None = None  # for the cost-model report
    runtime: str | None = None  # the runtime priced: a study's, or the profile's default
    budgets: Budgets | None = None  # a study's budgets (the profile's fill in the rest)
    ram_mode: str = "window"
    source: dict[str, Any] = field(default_factory=dict)  # study, trial or "direct"


def check_folder(out_dir: Path, *, force: bool) -> Path:
    """The export folder: new or empty, or (``force``) one whose export files may be replaced."""
    if out_dir.exists() and not out_dir.is_dir():
        raise DseError(f"--out {out_dir} is a file; give a folder for the export.")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise DseError(f"--out {out_dir} is not empty; choose a new folder, or pass --force to "
                       f"replace the export files in it (other files are left alone).")
    return prepare_dir(out_dir, "export folder")


def raw_windows(data: Dataset) -> np.ndarray:
    """The test windows as raw features, the C's and ONNX's input (float32)."""
    return (data.X_test.astype(np.float64) * data.std + data.mean).astype(np.float32)


def standardize_like_c(data: Dataset, raw: np.ndarray) -> np.ndarray:
    """Raw windows standardized as the float C does it: (x - mean) * (1 / std) in float32."""
    return ((raw - data.mean.astype(np.float32)) * (1.0 / data.std).astype(np.float32)).astype(
        np.float32)


def check_options(formats: tuple[str, ...], prefix: str) -> None:
    """Refuse, before any training, formats that cannot be written and a bad C prefix."""
    for name in formats:
        if name not in FORMATS:
            raise DseError(f"Unknown format {name!r}. Available: {', '.join(FORMATS)}.")
    if "onnx" in formats:
        onnx_export.require_onnx()
    c_export.check_prefix(prefix)


def export(request: ExportRequest, out_dir: Path, *, force: bool = False) -> dict[str, Any]:
    """Train, quantize, write and check; return what ``export.json`` holds."""
    check_options(request.formats, request.prefix)
    out_dir = check_folder(out_dir, force=force)
    start = time.perf_counter()
    arch, data = request.arch, request.data
    final = train_final(arch, data, run_seed=request.seed, seeds=request.seeds,
                        budget=request.budget)
    network = final.best.network
    raw = raw_windows(data)
    with threadpool_limits(1, user_api="blas"):
        reference, accuracies, integer = _references(request, network, raw)
    info = c_export.ModelInfo(
        title=f"{request.prefix}model", version=_version(), arch=arch.text, dtype=arch.dtype,
        task=request.data_label, timesteps=arch.timesteps, features=arch.features,
        classes=arch.classes)
    checks: dict[str, Any] = {}
    if "c" in request.formats:
        checks["c_host"] = _write_c(request, network, integer, info, raw, reference, out_dir)
    if "onnx" in request.formats:
        path = onnx_export.write_onnx(network, data.mean, data.std, out_dir / "model.onnx",
                                      timesteps=arch.timesteps)
        checks["onnx"] = _check_float("onnxruntime", lambda: onnx_export.run_onnx(path, raw),
                                      reference["float32"], "onnxruntime")
    if "torch" in request.formats:
        torch_export.write_torch(network, data.mean, data.std, info, out_dir)
        checks["torch"] = _check_float("torch", lambda: _run_torch(out_dir, raw),
                                       reference["float32"], "torch")
    report = {
        "arch": arch.text,
        "dtype": arch.dtype,
        "shape": {"timesteps": arch.timesteps, "features": arch.features,
                  "classes": arch.classes},
        "prefix": request.prefix,
        "formats": list(request.formats),
        "source": request.source,
        "data": {"name": request.data_label, "fingerprint": data.fingerprint,
                 "train_windows": int(len(data.y_train)), "test_windows": int(len(data.y_test))},
        "training": {"budget": asdict(request.budget), "run_seed": request.seed,
                     "seeds": [{"seed": s, "validation_accuracy": v, "epochs": e, "seconds": t}
                               for s, v, e, t in final.tried],
                     "chosen_seed": final.seed},
        "accuracy": accuracies,
        "search": request.search_score,
        "quantization": _quantization(integer),
        "cost": _cost(request, request.runtime),
        "cost_generated": _generated_cost(request),
        "checks": checks,
        "seconds": round(time.perf_counter() - start, 3),
        "versions": {"dse": _version(), "numpy": np.__version__},
    }
    golden = reference[arch.dtype][:GOLDEN_WINDOWS]
    np.savez(out_dir / "golden.npz", windows=raw[:GOLDEN_WINDOWS], logits=golden,
             classes=golden.argmax(axis=1).astype(np.int32),
             labels=data.y_test[:GOLDEN_WINDOWS].astype(np.int32))
    report["files"] = {name: _sha256(out_dir / name) for fmt in request.formats
                       for name in FILES[fmt]} | {"golden.npz": _sha256(out_dir / "golden.npz")}
    (out_dir / "export.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def _references(request: ExportRequest, network: Network, raw: np.ndarray):
    """The numpy references the exported files are held to, and the test accuracies."""
    data, dtype = request.data, request.arch.dtype
    floats, _ = forward(network, standardize_like_c(data, raw))
    reference = {"float32": floats}
    accuracies = {"float": accuracy_of(network, data.X_test, data.y_test)}
    integer = None
    if dtype == "float32":
        accuracies["quantized"] = float(np.mean(floats.argmax(axis=1) == data.y_test))
    else:
        integer = quantize.quantize_network(network, dtype, data.X_train, mean=data.mean,
                                            std=data.std)
        reference[dtype] = quantize.run(integer, raw)
        accuracies["quantized"] = float(np.mean(reference[dtype].argmax(axis=1) == data.y_test))
        # the search's path: the same integer network, fed standardized features
        search_path = quantize.quantize_network(network, dtype, data.X_train)
        accuracies["quantized_search_path"] = quantize.accuracy(search_path, data.X_test,
                                                                data.y_test)
    return reference, accuracies, integer


def _write_c(request: ExportRequest, network: Network, integer: quantize.IntNetwork | None,
             info: c_export.ModelInfo, raw: np.ndarray, reference: dict[str, np.ndarray],
             out_dir: Path) -> dict[str, Any]:
    dtype = request.arch.dtype
    source = (c_export.float_c(network, request.data.mean, request.data.std, info, request.prefix)
              if integer is None else c_export.integer_c(integer, info, request.prefix))
    (out_dir / "model.h").write_text(source.header)
    (out_dir / "model.c").write_text(source.source)
    expected = int(reference[dtype].argmax(axis=1)[0])
    window = ",\n".join("    {" + ", ".join(c_export.float_literal(v) for v in step) + "}"
                        for step in raw[0])
    templates = resources.files("dse.export").joinpath("templates")
    values = {"version": info.version, "prefix": request.prefix, "MACRO": request.prefix.upper(),
              "task": info.task, "example_index": 0, "expected": expected, "window": window}
    (out_dir / "main.c").write_text(
        Template(templates.joinpath("main.c.tmpl").read_text()).substitute(values))
    (out_dir / "Makefile").write_text(
        Template(templates.joinpath("Makefile.tmpl").read_text()).substitute(values))
    compiler = verify.host_compiler()
    if compiler is None:
        return {"checked": False, "reason": "no C compiler (cc or gcc) on this machine"}
    run = verify.run_on_host(out_dir, request.prefix, raw, compiler=compiler)
    result = verify.compare(run, reference[dtype], exact=integer is not None, compiler=compiler)
    if not (result.identical and result.streaming_equal and result.streams_independent
            and result.classes_equal):
        raise RuntimeError(f"the exported C disagrees with its numpy reference: {result}")
    return {"checked": True, **result.to_dict()}


def _check_float(name: str, run, reference: np.ndarray, package: str) -> dict[str, Any]:
    """A float export against the numpy float network; skipped without its runtime."""
    if importlib.util.find_spec(package) is None:
        return {"checked": False, "reason": f"{package} is not installed"}
    logits = run()
    scale = np.maximum(np.abs(reference).max(axis=1, keepdims=True), 1.0)
    worst = float((np.abs(logits - reference) / scale).max())
    if worst > verify.RUNTIME_TOLERANCE:
        raise RuntimeError(f"the {name} export disagrees with numpy: {worst:.3g} relative")
    return {"checked": True, "windows": len(reference), "max_relative_difference": worst}


def _run_torch(folder: Path, raw: np.ndarray) -> np.ndarray:
    import torch

    spec = importlib.util.spec_from_file_location("dse_exported_model", folder / "model.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    with torch.no_grad():
        return module.load(folder / "weights.npz")(torch.from_numpy(raw)).numpy()


def _quantization(integer: quantize.IntNetwork | None) -> dict[str, Any] | None:
    if integer is None:
        return None
    return {"input_scale": integer.input_scale, "output_scale": float(integer.out_scale),
            "layers": [{"h_frac": layer.h_frac, "c_frac": layer.c_frac,
                        "weight_scales_x": list(layer.w_scale_x),
                        "weight_scales_h": list(layer.w_scale_h)} for layer in integer.layers]}


def _cost(request: ExportRequest, runtime: str | None) -> dict[str, Any] | None:
    """The cost model's report for ``runtime`` on the request's profile, if it has one."""
    if request.profile is None:
        return None
    report = estimate(request.arch, request.profile, runtime=runtime, ram_mode=request.ram_mode,  # type: ignore[arg-type]
                      budgets=request.budgets)
    return dict(report.to_dict(), estimate=True)


def _generated_cost(request: ExportRequest) -> dict[str, Any] | None:
    """Where the runtime priced is not the C written here (a TFLite Micro estimate, say):
    the cost of dse-c, the code this export writes, on the same profile."""
    profile = request.profile
    if (profile is None or "dse-c" not in profile.runtimes
            or profile.runtime_named(request.runtime).name == "dse-c"):
        return None
    return _cost(request, "dse-c")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _version() -> str:
    try:
        return metadata.version("dse")
    except metadata.PackageNotFoundError:
        return "unknown"

