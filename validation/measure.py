"""`python -m validation.measure ...`: the measurement harness's command line (`validation.harness.measure`)."""
from __future__ import annotations

import sys

from validation.harness.measure import main

if __name__ == "__main__":
    sys.exit(main())
