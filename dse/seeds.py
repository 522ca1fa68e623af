"""A network's scores over several training seeds: how a study stores the confirming seeds
(one user attribute per network, ``dse_confirm:<network>``) and a candidate's scores over all
its seeds. Read by the search (which writes them) and by the results tables."""

from __future__ import annotations

from typing import Any

import numpy as np

ATTR_PREFIX = "dse_confirm:"


def confirmations(study_attrs: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Network -> its extra-seed scores (``seed``, ``accuracy``, ``quantized`` by dtype)."""
    return {key[len(ATTR_PREFIX):]: value for key, value in study_attrs.items()
            if key.startswith(ATTR_PREFIX)}


def seed_scores(attrs: dict[str, Any], extra: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """A candidate's ``accuracy`` and ``accuracy_quantized`` over its seeds: the search's
    training first, then the confirmations."""
    dtype = attrs["dtype"]
    return {"accuracy": np.array([attrs["accuracy"], *(e["accuracy"] for e in extra)]),
            "accuracy_quantized": np.array([attrs["accuracy_quantized"],
                                            *(e["quantized"][dtype] for e in extra)])}
