"""Dataflows: how a cascade becomes a tile program on an architecture. The registry (`register_dataflow`,
`dataflow`, `verdicts`) and every built-in dataflow, registered when this package is imported."""
from sim.dataflows.registry import DATAFLOWS, Dataflow, Lowered, dataflow, register_dataflow, unregister_dataflow, verdicts
from sim.dataflows.gpu import kernels as _gpu  # noqa: F401  (registers the GPU dataflows)
from sim.dataflows.spatial import attention as _spatial_attention  # noqa: F401  (registers the spatial ones)
from sim.dataflows.spatial import systolic as _systolic  # noqa: F401
from sim.dataflows.spatial import elementwise as _spatial_elementwise  # noqa: F401
from sim.dataflows.spatial import backward as _spatial_backward  # noqa: F401  (fusemax-bwd)
from sim.dataflows import examples as _examples  # noqa: F401  (the gallery's illustrative dataflows)

__all__ = ["DATAFLOWS", "Dataflow", "Lowered", "dataflow", "register_dataflow", "unregister_dataflow", "verdicts"]
