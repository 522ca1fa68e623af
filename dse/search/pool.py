"""The worker processes that train candidates: each holds the search inputs once, ignores
Ctrl-C (the parent handles it) and trains one seed of a network per task; the parent
gathers a network's seeds into one plain score dict."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

import numpy as np

from dse import proxy
from dse.architecture import Architecture
from dse.config import SearchConfig
from dse.search.inputs import SearchInputs
from dse.seeds import training_seeds

_INPUTS: dict[str, SearchInputs] = {}


def hold_inputs(inputs: SearchInputs) -> None:
    """Keep the search inputs in this process for :func:`train` (a pool's initializer)."""
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


def train(arch: Architecture, dtypes: tuple[str, ...], seed: int) -> proxy.NetworkScore:
    """One training of ``arch``'s network with ``seed`` and the held inputs, scored as each
    of ``dtypes``."""
    inputs = _INPUTS["inputs"]
    return proxy.evaluate_network(arch, inputs.data, dtypes, budget=inputs.budget, seed=seed)


def submit_score(executor: Executor, config: SearchConfig, arch: Architecture,
                 dtypes: tuple[str, ...]) -> Future:
    """A future of the score of ``arch``'s network over the run's training seeds
    (:func:`summarize`). Each seed is a task of its own, so the seeds of a large network
    spread over the workers; the score does not depend on which worker trained which."""
    seeds = training_seeds(config.seed, config.train_seeds)
    parts = [executor.submit(train, arch, dtypes, seed) for seed in seeds]
    whole: Future = Future()
    lock, left = threading.Lock(), [len(parts)]

    def gather(_: Future) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        if any(part.cancelled() for part in parts):
            whole.cancel()
        elif failed := next((p.exception() for p in parts if p.exception()), None):
            whole.set_exception(failed)
        else:
            whole.set_result(summarize(seeds, [part.result() for part in parts], dtypes))

    for part in parts:
        part.add_done_callback(gather)
    return whole


def summarize(seeds: tuple[int, ...], runs: list[proxy.NetworkScore],
              dtypes: tuple[str, ...]) -> dict[str, Any]:
    """A network's score from its trainings, one per seed: the mean accuracy of each dtype
    over the seeds, every seed's accuracy, and the seeds that diverged."""
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
