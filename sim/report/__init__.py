"""What users see: plots, the figure gallery, text tables and the command line (`python -m sim`)."""
