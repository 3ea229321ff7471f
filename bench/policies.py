"""Scaling policy benchmark.

`python bench/policies.py [--traces ...] [--slo 5s] [--out bench/results]`

Same as `workerplane bench policies`; see docs/policy-lab.md.
"""

from __future__ import annotations

import sys

from workerplane.lab.cli import app

if __name__ == "__main__":
    app(["policies", *sys.argv[1:]])
