"""`python -m validation.compare ...` (see validation.compare.cli)."""
import sys

from validation.compare.cli import main

sys.exit(main())
