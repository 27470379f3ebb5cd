"""The generated blocks of the docs: which block of which doc is rendered from which figure file, and the marker
syntax (`<!-- generated: NAME -->` … `<!-- end generated: NAME -->`)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable

from validation.errors import ValidationError
from validation.figures import fusemax_blocks, gpu_mechanisms, render

ROOT = Path(__file__).resolve().parents[2]
FIGURES = Path(__file__).resolve().parent
# doc (relative to the repository root) → [(block name, figure file stem, renderer)]
BLOCKS: dict[str, list[tuple[str, str, Callable[[dict], str]]]] = {
    "docs/validation.md": [("fa2-accuracy", "gpu_report", render.validation_fa2),
                           ("fa2-fit", "fa2_fit", render.validation_fit)],
    "docs/gpu-model.md": [("gpu-accuracy", "gpu_report", render.gpu_accuracy),
                          ("gpu-mechanisms", "gpu_report", gpu_mechanisms.render_mechanisms),
                          ("gpu-energy", "gpu_report", gpu_mechanisms.render_energy)],
    "docs/fusemax.md": [("fusemax-headline", "fusemax", render.fusemax_headline),
                        ("fusemax-ablation", "fusemax", fusemax_blocks.ablation),
                        ("fusemax-energy", "fusemax", fusemax_blocks.energy),
                        ("fusemax-gaps", "fusemax", fusemax_blocks.gaps),
                        ("fusemax-area", "fusemax", fusemax_blocks.area),
                        ("fusemax-timing", "fusemax_timing", render.fusemax_timing)],
}


def figure(stem: str) -> dict:
    """A figure file's data."""
    return json.loads((FIGURES / f"{stem}.json").read_text())


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- generated: {re.escape(name)} -->\n)(.*?)(<!-- end generated: {re.escape(name)} -->)",
                      re.DOTALL)


def block(text: str, name: str) -> str:
    """The current content of block `name` in a doc's text (ValueError if its markers are missing)."""
    m = _pattern(name).search(text)
    if m is None:
        raise ValidationError(f"no generated block {name!r} (markers <!-- generated: {name} --> … <!-- end generated: "
                         f"{name} -->)")
    return m.group(2).removesuffix("\n")


def with_block(text: str, name: str, body: str) -> str:
    """`text` with block `name` replaced by `body`."""
    block(text, name)
    return _pattern(name).sub(lambda m: m.group(1) + body + "\n" + m.group(3), text)


def rendered(doc: str) -> str:
    """The doc's text with every generated block rendered from its figure file."""
    text = (ROOT / doc).read_text()
    for name, stem, renderer in BLOCKS[doc]:
        text = with_block(text, name, renderer(figure(stem)))
    return text


def stale() -> list[str]:
    """Docs whose generated blocks differ from their rendering."""
    return [doc for doc in BLOCKS if (ROOT / doc).read_text() != rendered(doc)]


def write_docs() -> list[str]:
    """Rewrite every stale doc; return the ones rewritten."""
    changed = stale()
    for doc in changed:
        (ROOT / doc).write_text(rendered(doc))
    return changed
