"""Repository-wide pytest set-up: nbval's executed notebooks feed the book's build.

The plugin ``_ext/nbval_stage.py`` stages every notebook whose cells all passed
under nbval, so that ``make build`` after ``make test`` (as in CI) takes its
outputs from there instead of executing it a second time.
"""

import os
import sys
from pathlib import Path

# The notebooks' kernels inherit this: no progress bars in executed notebooks (as
# `make build` runs them), so that nbval's outputs are the build's.
os.environ.setdefault("RNNVIZ_PROGRESS", "0")

sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

pytest_plugins = ["nbval_stage"]
