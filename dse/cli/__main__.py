"""``python -m dse.cli ...``: the same as the ``dse`` command."""

from __future__ import annotations

import sys

from dse.cli import main

sys.exit(main())
