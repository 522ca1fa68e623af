"""Getting real data in: an ``.npz`` for ``dse run`` built from a CSV file of time steps or a
UCR/UEA ``.ts`` file (``build``, ``save``), and a description of a data file (``describe``).

``dse.userdata`` reads the ``.npz``; this package writes it. Modules: ``sequences`` (pure
functions: labels, missing values, padding, windows, the split by recording), ``csvfile``
and ``tsfile`` (the readers), ``build`` and ``describe``.
"""

from __future__ import annotations

from dse.data.build import Built, build, save, summary, summary_text
from dse.data.describe import describe, describe_text

__all__ = ["Built", "build", "describe", "describe_text", "save", "summary", "summary_text"]
