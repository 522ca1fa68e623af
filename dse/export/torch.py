"""``model.py`` + ``weights.npz``: the float network as a PyTorch module. dse itself never
imports torch (it is a test-only dependency); the module is written as text, and the
weights' names are the module's ``state_dict`` keys, so loading them is one call."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from dse.cells import Network
from dse.export.c import ModelInfo


def state_dict(net: Network, mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    """The arrays under their PyTorch names (our layout is PyTorch's, gate for gate)."""
    arrays = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    for k, layer in enumerate(net.layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            arrays[f"layers.{k}.{name}_l0"] = getattr(layer, name).astype(np.float32)
    arrays["head.weight"] = net.head_weight.astype(np.float32)
    arrays["head.bias"] = net.head_bias.astype(np.float32)
    return arrays


def write_torch(net: Network, mean: np.ndarray, std: np.ndarray, info: ModelInfo,
                folder: Path) -> tuple[Path, Path]:
    """Write ``model.py`` and ``weights.npz`` into ``folder``."""
    template = Template(resources.files("dse.export").joinpath("templates", "model.py.tmpl")
                        .read_text())
    cells = tuple(layer.weight_hh.shape[1] for layer in net.layers)
    module = folder / "model.py"
    module.write_text(template.substitute(
        title=info.title, version=info.version, arch=info.arch, timesteps=info.timesteps,
        features=info.features, classes=info.classes, module=net.cell.upper(),
        cells=repr(cells), layers=len(cells), cell_name=net.cell.upper()))
    weights = folder / "weights.npz"
    np.savez(weights, **state_dict(net, mean, std))
    return module, weights
