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

import numpy as np

from dse import proxy
from dse.architecture import Architecture
from dse.search.inputs import SearchInputs
from dse.seeds import training_seeds

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


def score(arch: Architecture, dtypes: tuple[str, ...]) -> dict[str, Any]:
    """Train ``arch``'s network with each of the run's training seeds and the held inputs,
    scored as each of ``dtypes``: the mean over the seeds, and every seed's score."""
    inputs = _INPUTS["inputs"]
    seeds = training_seeds(inputs.config.seed, inputs.config.train_seeds)
    runs = [proxy.evaluate_network(arch, inputs.data, dtypes, budget=inputs.budget, seed=seed)
            for seed in seeds]
    accuracy = [run.accuracy for run in runs]
    quantized = {dtype: [run.quantized[dtype] for run in runs] for dtype in dtypes}
    return {"accuracy": float(np.mean(accuracy)), "accuracy_seeds": accuracy,
            "quantized": {dtype: float(np.mean(q)) for dtype, q in quantized.items()},
            "quantized_seeds": quantized,
            "train_seconds": sum(run.train_seconds for run in runs),
            "diverged": "; ".join(f"seed {seed}: {run.diverged}"
                                  for seed, run in zip(seeds, runs) if run.diverged)}


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
