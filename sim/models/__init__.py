"""Whole layers and whole models on one device: a layer as the target runs it, kernel by kernel (`layers`), and
inference — prefill, decode with a growing KV cache, memory — over a model's layers (`inference`).

Modules, lowest first: `choice` (each kernel's dataflow, remembered results), `compose` (a layer's `Result` from its
kernels), `layers` (`evaluate_layer`, and `evaluate`, which is `sim.evaluate` with layers), `memory` (weights and KV
cache), `serving` (`sim.inference`).
"""
from sim.models.choice import KernelRun
from sim.models.compose import LayerResult, per_kernel
from sim.models.serving import Inference, inference
from sim.models.layers import evaluate, evaluate_layer
from sim.models.training import TrainingStep, training_step

__all__ = ["Inference", "KernelRun", "LayerResult", "evaluate", "evaluate_layer", "inference", "per_kernel"]
__all__ += ["TrainingStep", "training_step"]
