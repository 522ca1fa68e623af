"""The exported C against its numpy reference: build it with this machine's C compiler and a
small harness, feed it windows, compare the logits (bit for bit for int8 and int16, to 1e-5
for float32), for ``dse_predict``, for the streaming API, and for a stream interleaved step by
step with a second one (each stream's state is its own)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

import numpy as np

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-ffp-contract=off"]
FLOAT_TOLERANCE = 1e-5  # relative to the largest logit of the window, at least 1
# onnxruntime's and PyTorch's float32 kernels sum in their own order (our C in numpy's):
# anomaly gru:32 reached 4.4e-5 through PyTorch (experiments/bench/export_front.py)
RUNTIME_TOLERANCE = 2e-4


@dataclass(frozen=True)
class HostRun:
    """What the C computed for each window."""

    logits: np.ndarray  # (N, K) float32, dse_predict
    streamed: np.ndarray  # (N, K) float32, reset + step per timestep + result
    interleaved: np.ndarray  # (N, K) float32, streamed beside a second stream
    classes: np.ndarray  # (N, 2) int32: the returned classes of predict and streaming


@dataclass(frozen=True)
class Verification:
    """The outcome of holding the C to its reference on a set of windows."""

    compiler: str
    windows: int
    identical: bool  # int: every logit's bits equal; float: within the tolerance
    max_difference: float  # the largest |C - reference| over all logits
    streaming_equal: bool  # the streaming API gave the same bits as predict
    streams_independent: bool  # a stream beside another gave the same bits as alone
    classes_equal: bool  # the returned classes are the arg-max of the logits

    def to_dict(self) -> dict:
        return dict(vars(self))


def host_compiler() -> str | None:
    """This machine's C compiler, if it has one."""
    return shutil.which("cc") or shutil.which("gcc")


def run_on_host(folder: Path, prefix: str, windows: np.ndarray, *, compiler: str,
                flags: tuple[str, ...] = ("-O2",)) -> HostRun:
    """Build ``folder``'s model.c with the harness, run every window through it."""
    with tempfile.TemporaryDirectory(prefix="dse-verify-") as work:
        work_dir = Path(work)
        harness = work_dir / "harness.c"
        template = resources.files("dse.export").joinpath("templates", "harness.c.tmpl")
        harness.write_text(Template(template.read_text()).substitute(
            prefix=prefix, MACRO=prefix.upper()))
        binary = work_dir / "harness"
        subprocess.run([compiler, *WARNINGS, *flags, f"-I{folder}", str(harness),
                        str(folder / "model.c"), "-o", str(binary)],
                       check=True, capture_output=True, text=True, timeout=300)
        (work_dir / "in.bin").write_bytes(np.ascontiguousarray(windows, np.float32).tobytes())
        subprocess.run([str(binary), str(work_dir / "in.bin"), str(work_dir / "out.bin")],
                       check=True, capture_output=True, timeout=600)
        raw = (work_dir / "out.bin").read_bytes()
    k = (len(raw) // len(windows) - 8) // 12  # a record: 3 x K float32 and 2 int32
    record = np.dtype([("logits", "<f4", (k,)), ("streamed", "<f4", (k,)),
                       ("interleaved", "<f4", (k,)), ("classes", "<i4", (2,))])
    out = np.frombuffer(raw, dtype=record)
    return HostRun(out["logits"].copy(), out["streamed"].copy(), out["interleaved"].copy(),
                   out["classes"].copy())


def compare(run: HostRun, reference: np.ndarray, *, exact: bool, compiler: str) -> Verification:
    """Hold the host run to the reference logits (N, K)."""
    difference = float(np.abs(run.logits.astype(np.float64) - reference).max())
    if exact:
        identical = bool(np.array_equal(run.logits.view(np.uint32),
                                        reference.astype(np.float32).view(np.uint32)))
    else:
        scale = np.maximum(np.abs(reference).max(axis=1, keepdims=True), 1.0)
        identical = bool(np.all(np.abs(run.logits - reference) <= FLOAT_TOLERANCE * scale))
    return Verification(
        compiler=compiler, windows=len(run.logits), identical=identical,
        max_difference=difference,
        streaming_equal=bool(np.array_equal(run.logits.view(np.uint32),
                                            run.streamed.view(np.uint32))),
        streams_independent=bool(np.array_equal(run.streamed.view(np.uint32),
                                                run.interleaved.view(np.uint32))),
        classes_equal=bool(np.all(run.classes == run.logits.argmax(axis=1)[:, None])))
