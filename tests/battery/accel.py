"""Bad architecture specs, arch files, sweep axes and arguments: each raises `ArchError` naming the key path (and
for files the file and line) and what would work. Files the cases need are written to a private temporary folder
when a case runs."""
from __future__ import annotations

import tempfile
from pathlib import Path

import accel
from accel import ArchError

_FOLDER: list[Path] = []


def folder() -> Path:
    if not _FOLDER:
        _FOLDER.append(Path(tempfile.mkdtemp(prefix="accel_battery_")))
    return _FOLDER[0]


def spec_with(preset: str, edit):
    """A call building `preset`'s spec after `edit(spec)`."""
    def make():
        spec = accel.to_dict(accel.preset(preset))
        edit(spec)
        return accel.from_dict(spec)
    return make


def file_with(name: str, content: str | bytes | None):
    """A call loading a file `name` holding `content` (None: a directory)."""
    def make():
        path = folder() / name
        if content is None:
            path.mkdir(exist_ok=True)
        else:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return accel.load(path)
    return make


def _reverse(spec):
    spec["levels"].reverse()


def _many(spec):
    spec["clock_hz"] = "fast"
    spec["levels"][0]["fanout"] = 0
    spec["units"][0]["pes"] = [256, 2.5]


def _set(path, value):
    def edit(spec):
        node = spec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


GOOD_YAML = "name: t\nclock_hz: 1e9\nlevels:\n- {name: DRAM}\n- {name: GB, capacity_bytes: 1e6}\n" \
            "units:\n- {name: pe, level: GB, pes: [4], ops_per_cycle: {mac: 1}}\n"
BOMB = "a0: &a0 [" + ", ".join(["x"] * 10) + "]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9))
H100 = accel.preset("h100")

CASES = [
    ("accel-levels-innermost-first", spec_with("fusemax", _reverse), ArchError,
     "arch.levels[1].capacity_bytes: level 'DRAM' is unbounded (null) but is not the outermost level; levels go "
     "outermost first"),
    ("accel-gpu-levels-innermost-first", spec_with("h100", _reverse), ArchError,
     "level 'L2' holds 50000000 bytes per instance, more than the outer level levels[0] 'RF'"),
    ("accel-all-problems-at-once", spec_with("fusemax", _many), ArchError, "arch: 3 problems\n  arch.clock_hz: "),
    ("accel-denormal-clock", spec_with("fusemax", _set(("clock_hz",), 5e-324)), ArchError,
     "arch.clock_hz: 5e-324 is out of range (1000 … 1e+11 Hz)"),
    ("accel-overflowing-bandwidth", spec_with("h100", _set(("levels", 0, "bandwidth_bytes_per_s"), 1e308)),
     ArchError, "arch.levels[0].bandwidth_bytes_per_s: 1e+308 is out of range (1000 … 1e+18 B/s)"),
    ("accel-vanishing-op-rate", spec_with("h100", _set(("units", 0, "ops_per_cycle", "mac"), 1e-300)), ArchError,
     "arch.units[0].ops_per_cycle.mac: 1e-300 is out of range (1e-06 … 1e+06 ops/cycle)"),
    ("accel-number-as-text", spec_with("fusemax", _set(("clock_hz",), "940e6")), ArchError,
     "arch.clock_hz: expected a number, got str '940e6' (a number written as text: drop the quotes)"),
    ("accel-dotted-level-name", spec_with("fusemax", _set(("levels", 1, "name"), "Global.Buffer")), ArchError,
     "arch.levels[1].name: expected a non-empty name without spaces or dots"),
    ("accel-null-fanout", spec_with("fusemax", _set(("levels", 1, "fanout"), None)), ArchError,
     "arch.levels[1].fanout: must not be null (omit the key for its default, 1)"),
    ("accel-misspelled-key", spec_with("fusemax", _set(("units", 0, "ops_per_cylce"), {})), ArchError,
     "arch.units[0].ops_per_cylce: unknown key (did you mean 'ops_per_cycle'?)"),
    ("accel-already-an-arch", lambda: accel.from_dict(H100), ArchError,
     "arch: expected a mapping, got Arch (already an accel.Arch: use it as it is)"),
    ("accel-level-of-a-preset-name", lambda: accel.level("h100", "L2"), ArchError,
     "accel.level: expected an accel.Arch, got str 'h100' (a preset name? use accel.preset('h100'))"),
    ("accel-pe-count-of-a-unit-name", lambda: accel.pe_count(H100, "tensor"), ArchError,
     "accel.pe_count: expected an accel.Unit, got str 'tensor' (a unit name? use accel.unit(arch, 'tensor'))"),
    ("accel-preset-of-an-arch", lambda: accel.preset(H100), ArchError,
     "accel.preset: a preset is named by text, got Arch"),
    ("accel-file-duplicate-key", lambda: accel.loads(GOOD_YAML + "clock_hz: 2e9\n", source="dup.yaml"), ArchError,
     "dup.yaml:2: arch.clock_hz: duplicate key 'clock_hz', given again on line 8"),
    ("accel-file-json-duplicate-key", lambda: accel.loads('{"name": "a", "name": "b"}', "json", source="d.json"),
     ArchError, "d.json: arch.name: duplicate key 'name'; each key may appear once"),
    ("accel-file-alias-bomb", lambda: accel.loads(BOMB, source="bomb.yaml"), ArchError,
     "bomb.yaml:5: the document holds more than 50000 values after alias expansion (an alias bomb?)"),
    ("accel-file-deep-json", lambda: accel.loads("[" * 50_000 + "]" * 50_000, "json", source="deep.json"),
     ArchError, "deep.json: nested deeper than 32 levels"),
    ("accel-file-bad-value-line", lambda: accel.loads(GOOD_YAML.replace("[4]", "[0]"), source="a.yaml"), ArchError,
     "a.yaml:7: arch.units[0].pes[0]: expected a positive number, got 0"),
    ("accel-file-directory", file_with("folder.yaml", None), ArchError, "folder.yaml: is a directory, not an arch file"),
    ("accel-file-binary", file_with("binary.yaml", b"\x00\x01name: x"), ArchError,
     "binary.yaml: a binary file (it holds NUL bytes), not JSON or YAML text"),
    ("accel-file-not-utf8", file_with("latin1.json", b"\xff\xfe{}"), ArchError,
     "latin1.json: not UTF-8 text (byte 0xff at offset 0)"),
    ("accel-file-suffix", file_with("arch.toml", GOOD_YAML), ArchError,
     "arch.toml: unknown arch file type '.toml' (valid: .json, .yaml, .yml)"),
    ("accel-file-missing", lambda: accel.load(folder() / "missing.yaml"), ArchError, "missing.yaml: no such file"),
    ("accel-variant-unknown-axis", lambda: accel.variant(H100, pes=4), ArchError,
     "arch h100: unknown sweep axis 'pes' (aliases: array, buffer_bytes, dram_bytes_per_s, sms, clock_hz"),
    ("accel-variants-scalar-axis", lambda: accel.variants(H100, sms=66), ArchError,
     "accel.variants: axis 'sms' needs a list of values, got int 66"),
    ("accel-variants-huge-grid", lambda: accel.variants(H100, sms=range(1, 1001), clock_hz=range(1000, 2000)),
     ArchError, "accel.variants: a grid of 1000000 variants; at most 100000"),
]
