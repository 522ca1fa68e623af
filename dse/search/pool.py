"""The worker processes that train candidates: each holds the search inputs once, ignores
Ctrl-C (the parent handles it) and returns plain score dicts."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from dse import proxy
from dse.architecture import Architecture
from dse.search.inputs import SearchInputs

_INPUTS: dict[str, SearchInputs] = {}


def hold_inputs(inputs: SearchInputs) -> None:
    """Keep the search inputs in this process for :func:`score` (a pool's initializer)."""
    _INPUTS["inputs"] = inputs


def _init_worker_process(inputs: SearchInputs) -> None:
    # Ctrl-C reaches the whole process group: only the parent acts on it (tells the asked
    # trials FAIL, writes the outputs); a worker dying of it would break the pool instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent()
    hold_inputs(inputs)


def _end_with_parent(poll_seconds: float = 0.5) -> None:
    """End this worker when its parent dies (``kill -9`` of ``dse run``), instead of training
    on for nobody: a daemon thread watches the parent's process id."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="dse-parent-watch", daemon=True).start()


def score(arch: Architecture, dtypes: tuple[str, ...], seed: int | None = None) -> dict[str, Any]:
    """Train ``arch``'s network once with the held inputs (``seed``: another training seed
    than the run's), scored as each of ``dtypes``."""
    inputs = _INPUTS["inputs"]
    result = proxy.evaluate_network(arch, inputs.data, dtypes, budget=inputs.budget,
                                    seed=inputs.config.seed if seed is None else seed)
    return {"accuracy": result.accuracy, "quantized": result.quantized,
            "train_seconds": result.train_seconds, "diverged": result.diverged or ""}


def start_pool(inputs: SearchInputs, workers: int) -> ProcessPoolExecutor:
    """``workers`` spawned processes, each holding ``inputs``."""
    # The proxy trains on one BLAS thread (same bits anywhere); workers need no thread pools.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=_init_worker_process, initargs=(inputs,))


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Interrupted: drop queued work and end the running trainings instead of waiting."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
