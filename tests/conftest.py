"""Suite-wide settings. In CI (`CI` set), Hypothesis runs derandomized: a property failure there is reproducible
from the commit alone, never a one-off draw. Locally it explores fresh examples each run."""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
