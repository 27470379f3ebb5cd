"""docs/arch-schema.md, rendered from the schema that `accel.schema` derives from the dataclasses, so the page lists
exactly what `from_dict` and `load` accept. Rewrite it with `python -m accel.schema_doc > docs/arch-schema.md`;
a test checks that it is current."""
from __future__ import annotations

from accel.errors import MAX_LISTED
from accel.files import MAX_FILE_BYTES, SUFFIXES
from accel.rules import MAX_INSTANCES, MAX_PES
from accel.schema import Key, keys, range_text
from accel.spec import Arch, Level, Unit
from accel.yaml_data import MAX_DEPTH, MAX_VALUES

# A minimal arch file; the test loads it, so the example cannot go stale.
EXAMPLE = """\
name: my-array
clock_hz: 1e9                     # exponent form is a number
levels:                           # outermost first
  - name: DRAM                    # capacity_bytes omitted: unbounded
    bandwidth_bytes_per_s: 200e9
    read_energy_pj_per_byte: 31.2
    write_energy_pj_per_byte: 31.2
  - name: GlobalBuffer
    capacity_bytes: 8388608       # 8 MiB
units:
  - name: pe
    level: GlobalBuffer
    pes: [128, 128]
    ops_per_cycle: {mac: 1, add: 1, max: 1, exp: 0.25, sub: .inf}   # .inf: free
    energy_pj_per_op: {mac: 17.2}
"""

_TYPES = {"name": "name", "text": "text", "int": "integer", "real": "number", "ints": "list of integers",
          "table": "mapping: name → number"}


def _type(k: Key) -> str:
    kind = f"list of {k.record.__name__.lower()}s" if k.kind == "records" else _TYPES[k.kind]
    return f"{kind} or null" if k.nullable else kind


def _default(k: Key) -> str:
    if k.required:
        return "**required**"
    if k.default is None:
        return "null"
    if k.kind == "table":
        return "{}"
    return '""' if k.default == "" else f"{k.default:g}"


def _limits(k: Key) -> str:
    if k.kind == "name":
        return f"≤ {k.limit} characters, no spaces" + ("" if k.dots else " or dots")
    if k.kind == "text":
        return f"≤ {k.limit} characters"
    if k.kind == "records":
        return f"1 … {k.limit} entries"
    out = range_text(k)
    if k.kind == "ints":
        out = f"1 … {k.limit} entries, each {out}"
    elif k.kind == "table":
        out = f"≤ {k.limit} entries{', at least 1' if k.required else ''}, each {out}"
    return out + (" or `.inf`" if k.inf else "")


def _meaning(k: Key) -> str:
    out = k.doc
    if k.null:
        out += f". null: {k.null}"
    if k.inf:
        out += f". `.inf`: {k.inf}"
    return out.replace("|", "\\|")


def _table(cls: type) -> list[str]:
    rows = ["| key | type | default | unit | range | meaning |", "|---|---|---|---|---|---|"]
    for k in keys(cls):
        rows.append(f"| `{k.name}` | {_type(k)} | {_default(k)} | {k.unit} | {_limits(k)} | {_meaning(k)} |")
    return rows


def _nulls() -> list[str]:
    out = []
    for cls, where in ((Arch, ""), (Level, "levels[i]."), (Unit, "units[i].")):
        out += [f"- `{where}{k.name}`: {k.null}." for k in keys(cls) if k.nullable]
    return out


def render() -> str:
    """The whole page."""
    lines = [
        "# Architecture specs: the schema", "",
        "<!-- Generated from accel/spec.py by `python -m accel.schema_doc > docs/arch-schema.md`; do not edit. -->", "",
        "An architecture is one mapping: a YAML or JSON file for `accel.load(path)` and the CLI's `--arch FILE`, or "
        "a dict for `accel.from_dict`. Keys marked **required** must be given; the others take the default shown. "
        "Every number may be an int, a float or a NumPy scalar; integer keys accept floats with no fractional part.",
        "", "## Top level", "", *_table(Arch), "",
        "## `levels[i]`: a memory level", "",
        "Levels are listed **outermost first** (DRAM or HBM first, registers last).", "", *_table(Level), "",
        "## `units[i]`: a compute unit", "", *_table(Unit), "",
        "## What null means", "", *_nulls(), "",
        "## Rules across keys", "",
        "- Level names are unique; unit names are unique among levels and units.",
        "- `units[i].level` names a level; `measured` keys start with a level or unit name (`HBM.bytes_per_s`), "
        "and a level's measured `bytes_per_s` is at most its `bandwidth_bytes_per_s` (a measured ceiling cannot "
        "beat the peak).",
        "- Levels go outermost first: only the outermost level may be unbounded, and capacity per instance may not "
        "grow inward, except between two adjacent levels below the outermost that no fan-out separates (peers in "
        "one core, like a GPU SM's register file beside its shared memory).",
        f"- Machine-wide limits: at most 2^{MAX_INSTANCES.bit_length() - 1} copies of a level (the product of the "
        f"fan-outs above it) and 2^{MAX_PES.bit_length() - 1} PEs of a unit (pes × count × copies of its level).", "",
        "## Files", "",
        f"- The suffix picks the format: {', '.join(f'`{s}`' for s in SUFFIXES)}; UTF-8 text, at most "
        f"{MAX_FILE_BYTES} bytes.",
        "- YAML numbers follow the YAML 1.2 core schema: `200e9`, `1.5e12` and `.inf` are numbers (PyYAML's "
        "YAML 1.1 default reads `200e9` as text); only `true`/`false` are booleans; keys are text.",
        f"- Duplicate keys are refused. Anchors and aliases are allowed up to {MAX_VALUES} values after expansion; "
        f"nesting is limited to {MAX_DEPTH} levels.",
        f"- Every problem of a file is reported at once, one line each as `file:line: key.path: problem` "
        f"(at most {MAX_LISTED} listed, then a count).", "",
        "## Example", "", "```yaml", EXAMPLE.rstrip("\n"), "```", "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
