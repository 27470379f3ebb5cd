"""`python -m validation.fa2_public`: regenerates the public FlashAttention-2 table (`validation.data.fa2_public`,
where the transcription, its sources and the loader live)."""
from __future__ import annotations

from validation.data.fa2_public import CSV_PATH, FWD_FLASH2, FWD_STANDARD, SEQS, load, main  # noqa: F401

if __name__ == "__main__":
    main()
