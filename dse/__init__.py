"""dse: find the LSTM/GRU networks that fit a microcontroller.

The light, numeric core is importable without optuna or plotly; the search, results and
dashboard live in their own modules (``dse.search``, ``dse.results``, ``dse.dashboard``).
"""

from __future__ import annotations

from dse.architecture import Architecture, parse_arch
from dse.cost import ArchBatch, CostReport, estimate, estimate_batch
from dse.errors import DseError
from dse.hardware import HardwareProfile, available_profiles, load_profile
from dse.space import SearchSpace, available_spaces, load_space

__all__ = [
    "ArchBatch",
    "Architecture",
    "CostReport",
    "DseError",
    "HardwareProfile",
    "SearchSpace",
    "available_profiles",
    "available_spaces",
    "estimate",
    "estimate_batch",
    "load_profile",
    "load_space",
    "parse_arch",
]
