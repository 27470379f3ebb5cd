"""docs/arch-schema.md is generated from the dataclasses: it must be current, list every key, and its example load.

Rewrite it with `python -m accel.schema_doc > docs/arch-schema.md`.
"""
import dataclasses
import pathlib

import accel
from accel import schema_doc
from accel.schema import keys

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "arch-schema.md"


def test_schema_page_is_current():
    """The page equals what the schema renders now (a new or changed field shows up without a second edit)."""
    assert DOC.read_text() == schema_doc.render(), \
        "docs/arch-schema.md is stale: python -m accel.schema_doc > docs/arch-schema.md"


def test_schema_page_lists_every_field_with_its_meaning():
    """Each dataclass field has a row with its doc text, and every nullable key says what null means."""
    text = DOC.read_text()
    for cls in (accel.Arch, accel.Level, accel.Unit):
        assert [k.name for k in keys(cls)] == [f.name for f in dataclasses.fields(cls)]
        for k in keys(cls):
            assert f"| `{k.name}` |" in text and k.doc.split("`")[0] in text
            assert not k.nullable or k.null, f"{cls.__name__}.{k.name} may be null but does not say what null means"


def test_schema_page_example_loads():
    """The page's example is a real arch file: it loads, with defaults and exponent-form numbers."""
    arch = accel.loads(schema_doc.EXAMPLE, source="example.yaml")
    assert accel.level(arch, "DRAM").capacity_bytes is None
    assert accel.level(arch, "DRAM").bandwidth_bytes_per_s == 200e9
    assert accel.unit(arch, "pe").count == 1 and accel.op_rate(accel.unit(arch, "pe"), "sub") == float("inf")
