"""accel.load / accel.loads: JSON and YAML arch files with defaults, exponent-form numbers, every problem at once
(file, line and key path), duplicate keys refused, and hostile input refused in bounded time and message."""
import json
import time

import pytest
import yaml

import accel
from accel import ArchError
from accel.files import MAX_FILE_BYTES

MINIMAL_YAML = """\
name: tiny
clock_hz: 1e9
levels:
  - name: DRAM
    bandwidth_bytes_per_s: 200e9
  - name: GB
    capacity_bytes: 16e6
units:
  - {name: pe, level: GB, pes: [16, 16], ops_per_cycle: {mac: 1, sub: .inf}}
"""


def raises(call) -> str:
    with pytest.raises(ArchError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("name", sorted(accel.PRESETS))
@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_preset_files_load_back_equal(tmp_path, name, suffix):
    """Every preset written as JSON or YAML loads back to the same Arch."""
    arch = accel.preset(name)
    path = tmp_path / f"{name}{suffix}"
    d = accel.to_dict(arch)
    path.write_text(json.dumps(d) if suffix == ".json" else yaml.safe_dump(d, sort_keys=False))
    assert accel.load(path) == arch and accel.load(str(path)) == arch


def test_exponent_form_and_defaults():
    """`1e9` and `200e9` are numbers (YAML 1.1 reads them as text), `16e6` is an integer capacity, `.inf` is free,
    and every key not given takes its default."""
    a = accel.loads(MINIMAL_YAML)
    assert a.clock_hz == 1e9 and a.levels[0].bandwidth_bytes_per_s == 200e9
    assert a.levels[1].capacity_bytes == 16_000_000 and isinstance(a.levels[1].capacity_bytes, int)
    assert a.levels[0].capacity_bytes is None and a.levels[1].fanout == 1
    assert accel.op_rate(a.units[0], "sub") == float("inf")
    assert accel.loads(json.dumps(accel.to_dict(a)), "json") == a


@pytest.mark.parametrize("text, value", [("2.5E+9", 2.5e9), ("-1e3", -1e3), ("1_000", "1_000"), ("0x10", 16),
                                         ("0o17", 15), (".5", 0.5), ("1.", 1.0), ("'1e9'", "1e9"), ("no", "no"),
                                         ("on", "on"), ("true", True), ("~", None), ("!!float 3", 3.0)])
def test_yaml_scalars_follow_the_core_schema(text, value):
    """YAML 1.2 core scalars: exponent forms are floats; `no`/`on` stay text; quoted numbers stay text."""
    from accel.errors import Problems
    from accel.yaml_data import yaml_data
    data, _ = yaml_data(f"x: {text}\n", Problems())
    assert data["x"] == value and type(data["x"]) is type(value)


def test_every_problem_of_a_file_at_once_with_lines(tmp_path):
    """One error lists each problem as file:line: key.path: problem."""
    path = tmp_path / "bad.yaml"
    path.write_text(MINIMAL_YAML.replace("clock_hz: 1e9", "clock_hz: fast")
                    .replace("    capacity_bytes: 16e6", "    capacity_bytes: -1\n    colour: red"))
    text = raises(lambda: accel.load(path))
    assert text.startswith(f"{path}: 3 problems\n")
    assert f"{path}:2: arch.clock_hz: expected a number, got str 'fast'" in text
    assert f"{path}:7: arch.levels[1].capacity_bytes: expected a positive number, got -1" in text
    assert f"{path}:8: arch.levels[1].colour: unknown key" in text


def test_a_single_problem_names_file_line_and_path(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text(MINIMAL_YAML.replace("pes: [16, 16]", "pes: [16, 0]"))
    assert raises(lambda: accel.load(path)) == (f"{path}:9: arch.units[0].pes[1]: expected a positive number, "
                                                f"got 0 (1 … 2^20 PEs)")


@pytest.mark.parametrize("fmt, text, fragment", [
    ("yaml", MINIMAL_YAML + "clock_hz: 2e9\n", "<yaml text>:2: arch.clock_hz: duplicate key 'clock_hz', given "
                                               "again on line 10"),
    ("yaml", MINIMAL_YAML.replace("  - name: GB\n", "  - name: GB\n    fanout: 2\n    fanout: 3\n"),
     "arch.levels[1].fanout: duplicate key 'fanout', given again on line 8"),
    ("json", '{"name": "a", "name": "b"}', "<json text>: arch.name: duplicate key 'name'"),
    ("json", '{"levels": [{"name": "D", "fanout": 1, "fanout": 2}]}', "arch.levels[0].fanout: duplicate key"),
])
def test_duplicate_keys_are_refused_and_named(fmt, text, fragment):
    assert fragment in raises(lambda: accel.loads(text, fmt))


def _bomb(levels: int = 9, width: int = 10) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_fast_with_a_short_message():
    """A billion-laughs document (10^9 values after expansion) stops at MAX_VALUES, in well under a second."""
    start = time.perf_counter()
    text = raises(lambda: accel.loads(_bomb(), source="bomb.yaml"))
    assert time.perf_counter() - start < 1.0
    assert "bomb.yaml:5: the document holds more than 50000 values after alias expansion (an alias bomb?)" in text
    assert len(text) < 300


def test_aliases_within_bounds_are_fine():
    """Anchors and aliases for repeated tables are ordinary YAML and load."""
    text = MINIMAL_YAML.replace("ops_per_cycle: {mac: 1, sub: .inf}", "ops_per_cycle: &ops {mac: 1, sub: .inf}")
    text += "  - {name: pe2, level: GB, pes: [4], ops_per_cycle: *ops}\n"
    a = accel.loads(text)
    assert a.units[0].ops_per_cycle == a.units[1].ops_per_cycle


@pytest.mark.parametrize("fmt, text, fragment", [
    ("yaml", "[" * 100_000 + "]" * 100_000, "<yaml text>:1: "),
    ("yaml", "a:\n" + "".join("  " * i + f"- \n" for i in range(1, 60)), "nested deeper than 32 levels"),
    ("json", "[" * 100_000 + "]" * 100_000, "<json text>: nested deeper than 32 levels"),
    ("json", '{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": 1', "<json text>:1: malformed JSON"),
    ("yaml", "a: &a [*a]\n", "alias *'a' refers to an anchor that is not defined before it"),
    ("yaml", "name: [unclosed\n", "<yaml text>:2: malformed YAML: did not find expected ',' or ']'"),
    ("yaml", "a: 1\n---\nb: 2\n", "<yaml text>:2: a second YAML document"),
    ("yaml", "", "<yaml text>: empty document"),
    ("yaml", "? [a, b]\n: 1\n", "a mapping key must be plain text, not a list"),
    ("yaml", "a: &k name\n*k : 1\n", "<yaml text>:2: a mapping key must be plain text, not an alias"),
    ("yaml", "clock_hz: !python/object:os.system 1\n", "unsupported tag or value '!python/object:os.system'"),
    ("yaml", "clock_hz: " + "9" * 5000 + "\n", "a 5000-digit integer"),
    ("yaml", "- 1\n- 2\n", "<yaml text>: arch: expected a mapping, got list"),
    ("yaml", "base: &b {fanout: 2}\nlevel:\n  <<: *b\n", "<yaml text>:3: arch.level.<<: merge keys (<<) are not "
                                                         "supported"),
])
def test_hostile_or_malformed_text_gets_a_clear_bounded_error(fmt, text, fragment):
    start = time.perf_counter()
    message = raises(lambda: accel.loads(text, fmt))
    assert fragment in message and len(message) < 2000
    assert time.perf_counter() - start < 2.0


def test_files_that_are_not_arch_files(tmp_path):
    """Directories, missing, binary, non-UTF-8, huge and wrongly named files are refused naming the file."""
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "bin.yaml").write_bytes(b"name: x\x00\x01")
    (tmp_path / "latin.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (tmp_path / "big.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    (tmp_path / "arch.txt").write_text(MINIMAL_YAML)
    cases = {"dir.yaml": "is a directory, not an arch file", "missing.json": "no such file",
             "bin.yaml": "a binary file (it holds NUL bytes)", "latin.yaml": "not UTF-8 text (byte 0xe9 at offset 9)",
             "big.yaml": f"more than {MAX_FILE_BYTES} bytes", "arch.txt": "unknown arch file type '.txt' (valid: "
                                                                          ".json, .yaml, .yml)"}
    for name, fragment in cases.items():
        assert raises(lambda: accel.load(tmp_path / name)) == f"{tmp_path / name}: {fragment}" or \
            fragment in raises(lambda: accel.load(tmp_path / name))


def test_an_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.yaml"
    path.write_text(MINIMAL_YAML)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(type(path), "open", denied)
    assert raises(lambda: accel.load(path)) == f"{path}: cannot read: Permission denied"


def test_a_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL_YAML.encode())
    assert accel.load(path).name == "tiny"


@pytest.mark.parametrize("call, fragment", [
    (lambda: accel.load(7), "accel.load: expected a file path (str), got int"),
    (lambda: accel.load("h100"), "h100: unknown arch file type '(none)' (valid: .json, .yaml, .yml; a preset name? "
                                 "use accel.preset('h100'))"),
    (lambda: accel.load("a\0b.yaml"), "'a\\x00b.yaml': no such file"),
    (lambda: accel.load("x" * 5000 + ".yaml"), "..."),
    (lambda: accel.loads(b"name: x"), "accel.loads: expected text (str), got bytes"),
    (lambda: accel.loads("name: x", "toml"), "accel.loads: unknown format 'toml' (valid: json, yaml)"),
    (lambda: accel.loads("#" * (MAX_FILE_BYTES + 1)), f"<yaml text>: {MAX_FILE_BYTES + 1} characters; an arch spec "
                                                      f"is at most {MAX_FILE_BYTES}"),
])
def test_bad_arguments(call, fragment):
    message = raises(call)
    assert fragment in message and len(message) < 400
