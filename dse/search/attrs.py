"""What a trial records: its constraints, the user attributes of its cost and score, and the
objective values told to optuna. The one schema that ``dse.results`` reads back."""

from __future__ import annotations

import math
import os
import socket
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from dse.architecture import Architecture
from dse.config import ACCURACY_OBJECTIVES
from dse.cost import CostReport
from dse.search.inputs import SearchInputs

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"  # which process told a trial
BATCH_ATTR = "batch"  # the ask batch a trial belongs to (a variant: its trainer's)
BATCH_TRIALS_ATTR = "batch_trials"  # how many trials its batch asks (a kill can cut it short)
RESULT_ATTR = "training_result"  # a trainer's whole result: every dtype's scores (repairs)
SCORE_KEYS = ("accuracy", "accuracy_quantized", "accuracy_seeds", "accuracy_quantized_seeds",
              "train_seconds", "diverged")  # accuracies: the mean over the training seeds
UNTRAINED = {"accuracy": math.nan, "accuracy_quantized": math.nan, "accuracy_seeds": [],
             "accuracy_quantized_seeds": [], "train_seconds": 0.0, "diverged": ""}


def record_constraints(trial: optuna.Trial, report: CostReport) -> None:
    """The one place constraints enter optuna (``Trial.set_constraint``; > 0 infeasible)."""
    for name, amount in report.constraints.items():
        trial.set_constraint(name, amount)


def arch_key(arch: Architecture) -> str:
    """What makes two candidates the same: architecture and dtype (the task is the study's)."""
    return f"{arch.text}|{arch.dtype}"


def network_key(arch: Architecture) -> str:
    """What one training serves: the network (cell type and cells per layer), every dtype."""
    return arch.text


def cost_attrs(arch: Architecture, report: CostReport) -> dict[str, Any]:
    """The user attributes every trial carries, trained or not."""
    return {
        "key": arch_key(arch),
        "arch": arch.text,
        "cell": arch.cell,
        "layers": arch.layers,
        "cells": ",".join(map(str, arch.cells)),
        "dtype": arch.dtype,
        "params": report.params,
        "macc": report.macc,
        "flash_bytes": report.flash_bytes,
        "ram_bytes": report.ram_bytes,
        "latency_ms": report.latency_ms,
        "energy_uj": report.energy_uj,
        "runtime": report.runtime,
        "cost_basis": report.basis,
        "feasible": report.fits,
        "violations": "; ".join(f"{k} +{v:,.6g}" for k, v in report.violations.items()),
        "trained": False,
        "worker": WORKER_ID,
    }


def objective_values(objectives: tuple[str, ...], attrs: dict[str, Any]) -> list[float]:
    """Values told to optuna. An untrained (infeasible) candidate scores accuracy 0: optuna
    rejects NaN, and the constraints already rank it below every feasible one."""
    values = []
    for name in objectives:
        value = float(attrs[name])
        values.append(0.0 if name in ACCURACY_OBJECTIVES and math.isnan(value) else value)
    return values


def score_of(result: dict[str, Any], dtype: str) -> dict[str, Any]:
    """One dtype's trial attributes from a network's training (``dse.search.pool.summarize``)."""
    return {"accuracy": result["accuracy"], "accuracy_quantized": result["quantized"][dtype],
            "accuracy_seeds": result["accuracy_seeds"],
            "accuracy_quantized_seeds": result["quantized_seeds"][dtype],
            "train_seconds": result["train_seconds"], "diverged": result["diverged"]}


def record_variant(inputs: SearchInputs, study: optuna.Study, arch: Architecture,
                   report: CostReport, result: dict[str, Any], trainer: int, batch: int) -> None:
    """A dtype variant of the network trial ``trainer`` trained (in ask batch ``batch``),
    added to the study as a complete trial."""
    space = inputs.space
    attrs = dict(cost_attrs(arch, report), **score_of(result, arch.dtype), variant_of=trainer)
    attrs[BATCH_ATTR] = batch
    params = space.params_of(arch.cell, arch.cells, arch.dtype)
    distributions: dict[str, BaseDistribution] = {
        name: CategoricalDistribution(choices) for name, choices in space.choices().items()
        if name in params}
    study.add_trial(optuna.trial.create_trial(
        values=objective_values(inputs.config.objectives, attrs), params=params,
        distributions=distributions, user_attrs=attrs, constraints=report.constraints))
