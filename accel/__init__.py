"""What it runs on: architecture specs (memory hierarchy, spatial fan-out, compute units), their schema and files,
presets, and the architecture transformations that sweeps apply.

- `accel.spec`: the frozen records (`Arch`, `Level`, `Unit`) with their schema in field metadata, and queries;
- `accel.schema` / `accel.rules`: `from_dict` / `to_dict`, derived from the records, and the rules across keys;
- `accel.files` (with `accel.yaml_data`): `load(path)` / `loads(text, fmt)` for JSON and YAML arch files;
- `accel.presets`, `accel.arrays`: the named presets and `systolic(rows, cols)`;
- `accel.interconnect`, `accel.clusters`: links, switches, NICs and `Cluster`s of devices, the node presets and
  `cluster(node, nodes=N)` for many nodes;
- `accel.transforms`: `variant` / `variants`, the arch edits of sweeps;
- `accel.schema_doc`: renders docs/arch-schema.md from the schema.
"""
from accel.errors import ArchError
from accel.interconnect import Cluster, Link, Nic, Switch
from accel.clusters import CLUSTERS, cluster, cluster_from_dict
from accel.presets import PRESETS, preset, register_preset
from accel.arrays import systolic
from accel.files import load, loads
from accel.schema import from_dict, to_dict
from accel.spec import Arch, Level, Unit, fill_drain, instances, level, op_rate, path_to, pe_count, unit, unit_instances
from accel.transforms import variant, variants

__all__ = ["Arch", "ArchError", "CLUSTERS", "Cluster", "Level", "Link", "Nic", "Switch", "cluster",
           "cluster_from_dict", "PRESETS", "Unit", "fill_drain", "from_dict", "instances", "level", "load",
           "loads", "op_rate", "path_to", "pe_count", "preset", "register_preset", "systolic", "to_dict", "unit",
           "unit_instances", "variant", "variants"]
