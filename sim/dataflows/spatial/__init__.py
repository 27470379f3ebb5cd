"""Dataflows for spatial arrays: the FuseMax ablation steps and FLAT on attention, systolic GEMMs."""
