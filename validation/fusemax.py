"""`python -m validation.fusemax --out DIR [--quick]`: the FuseMax reproduction (validation.reproductions.fusemax)."""
from __future__ import annotations

from validation.reproductions.fusemax import main

if __name__ == "__main__":
    main()
