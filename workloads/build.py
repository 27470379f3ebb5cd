"""Build and validate a `Cascade`: from extended-Einsum text (see `parse.py` for the language) or from IR objects
(`assemble`, which layer composition and retiling use), always through the same checks."""
from __future__ import annotations

import functools

from typing import Iterable, Mapping, NamedTuple

from workloads.dtypes import DTYPE_BYTES
from workloads.errors import CascadeError, quote, shorten
from workloads.ir import EACH, Cascade, Einsum, Index, Init, Mask, Ref, Split, Tensor, interned
from workloads.order import execution_order
from workloads.parse import Statement, parse
from workloads.validate import (check_inits, check_masks, check_sizes, check_used_sizes, resolve, tensor_table)

MAX_CASCADE_NAME = 200   # characters: messages and reports quote the cascade's name whole

__all__ = ["Parts", "assemble", "cascade", "collect", "gemm", "input_ref", "rebuild", "retile"]


def cascade(text: str, sizes: Mapping[str, int], *, name: str = "cascade", output: str | None = None,
            dtype: str = "fp16") -> Cascade:
    """Parse statements into a validated `Cascade`. `sizes` maps upper-case rank names to sizes; the outer
    part of a split is derived (⌈P/P0⌉) when not given."""
    parts = collect(parse(text))
    return assemble(name=name, sizes=sizes, inputs=parts.inputs, einsums=parts.einsums, splits=parts.splits,
                    masks=parts.masks, inits=parts.inits, output=_output(parts.outputs, output), dtype=dtype,
                    init_refs=parts.init_refs)


class Parts(NamedTuple):
    """Parsed statements sorted by kind, ready for `assemble` (init_refs: how each initial value was written)."""
    inputs: tuple[Ref, ...]
    splits: tuple[Split, ...]
    masks: tuple[Mask, ...]
    inits: tuple[Init, ...]
    einsums: tuple[Einsum, ...]
    outputs: tuple[str, ...]
    init_refs: Mapping[str, tuple[Ref, str]]


def collect(statements: Iterable[Statement]) -> Parts:
    """Sort parsed statements by kind (a second initial value for one tensor is an error here)."""
    parts: dict[str, list] = {"input": [], "split": [], "mask": [], "init": [], "einsum": [], "output": []}
    init_refs: dict[str, tuple[Ref, str]] = {}
    for st in statements:
        if st.kind == "input":
            parts["input"].extend(st.payload)
        elif st.kind == "init":
            ref, init = st.payload
            if init.tensor in init_refs:
                raise CascadeError(f"Einsum {init.tensor} `{shorten(st.text)}`: second initial value for "
                                   f"{init.tensor}")
            init_refs[init.tensor] = (ref, st.text)
            parts["init"].append(init)
        else:
            parts[st.kind].append(st.payload)
    return Parts(*(tuple(parts[k]) for k in ("input", "split", "mask", "init", "einsum", "output")), init_refs)


def _output(outputs: tuple[str, ...], output: str | None) -> str | None:
    if len(outputs) > 1:
        raise CascadeError(f"`output` given twice: {[shorten(o, 40) for o in outputs]}")
    if output is not None and outputs and outputs[0] != output:
        raise CascadeError(f"output={quote(output)} disagrees with the statement `output {outputs[0]}`")
    return output if output is not None else (outputs[0] if outputs else None)


def assemble(*, name: str, sizes: Mapping[str, int], inputs: Iterable[Ref], einsums: Iterable[Einsum],
             splits: Iterable[Split] = (), masks: Iterable[Mask] = (), inits: Iterable[Init] = (),
             output: str | None = None, dtype: str = "fp16",
             init_refs: Mapping[str, tuple[Ref, str]] | None = None) -> Cascade:
    """The validating builder over IR objects: input declarations (Refs over plain rank variables), Einsums (their
    reductions re-derived), splits, masks and initial values. `output` defaults to the last Einsum's tensor."""
    if not isinstance(name, str) or len(name) > MAX_CASCADE_NAME:
        raise CascadeError(f"cascade name must be a str of at most {MAX_CASCADE_NAME} characters, got "
                           f"{quote(name, 40)}")
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise CascadeError(f"unknown dtype {quote(dtype)} (known: {', '.join(DTYPE_BYTES)})")
    inputs, einsums, splits, inits = tuple(inputs), tuple(einsums), tuple(splits), tuple(inits)
    _check_records(inputs, einsums, splits, inits)
    if not einsums:
        raise CascadeError("cascade has no Einsums")
    output = einsums[-1].name if output is None else output
    sizes = check_sizes(sizes, splits)
    tensors = tensor_table(inputs, einsums)
    resolved = tuple(resolve(e, tensors, sizes, splits) for e in einsums)
    check_inits(inits, init_refs or {}, tensors)
    result = Cascade(name=name, sizes=sizes, tensors=tensors, inputs=tuple(r.tensor for r in inputs),
                     output=output, einsums=resolved, splits=splits, masks=tuple(masks), inits=inits,
                     dtype=dtype)
    check_masks(result)
    check_used_sizes(result)
    if not isinstance(output, str) or output not in tensors or output in result.inputs:
        shown = shorten(output) if isinstance(output, str) else quote(output)
        raise CascadeError(f"output {shown}: no Einsum produces it")
    execution_order(result)  # raises on cycles
    return result


def _check_records(inputs: tuple, einsums: tuple, splits: tuple, inits: tuple) -> None:
    """IR objects handed to `assemble` directly are of the right kinds (the parser always makes them so)."""
    for kind, items, expected in (("input", inputs, Ref), ("Einsum", einsums, Einsum), ("split", splits, Split),
                                  ("init", inits, Init)):
        for item in items:
            if not isinstance(item, expected):
                raise CascadeError(f"{kind}: expected an IR {expected.__name__}, got {quote(item)}")
    for e in einsums:
        if not isinstance(e.output, Ref) or e.output.tensor != e.name:
            raise CascadeError(f"Einsum {quote(e.name)}: its output must be a reference to {quote(e.name)}")


def input_ref(tensor: Tensor) -> Ref:
    """The declaration of a tensor as an input: its name over its plain rank variables."""
    return Ref(tensor.name, tuple(Index(r, EACH) for r in tensor.ranks))


def rebuild(c: Cascade, *, sizes: Mapping[str, int] | None = None, name: str | None = None) -> Cascade:
    """The same cascade with other sizes (or name), validated again from its own IR objects."""
    return assemble(name=c.name if name is None else name, sizes=c.sizes if sizes is None else sizes,
                    inputs=[input_ref(c.tensors[t]) for t in c.inputs], einsums=c.einsums, splits=c.splits,
                    masks=c.masks, inits=c.inits, output=c.output, dtype=c.dtype)


def retile(c: Cascade, inner: str, size: int) -> Cascade:
    """The same cascade with split part `inner` (e.g. "P0") of size `size`; the outer part (P1 = ⌈P/P0⌉) follows.

    Retiling changes how a rank is walked, not what is computed: a dataflow that chooses its own key tile applies
    it with this (the per-tile Einsums, such as the 1-pass cascade's running max, then count one point per tile).
    """
    if not isinstance(c, Cascade):
        raise CascadeError(f"retile: expected a Cascade, got {type(c).__name__}")
    try:
        hash((c, inner, size))
    except TypeError:   # a Cascade built by hand around unhashable parts: retile it without the memo
        return _retile(c, inner, size)
    return _retiled(interned(c), inner, size)


@functools.lru_cache(maxsize=512)   # searches retile the same cascade to the same few key tiles again and again
def _retiled(c: Cascade, inner: str, size: int) -> Cascade:
    return _retile(c, inner, size)


def _retile(c: Cascade, inner: str, size: int) -> Cascade:
    split = next((s for s in c.splits if s.inner == inner), None)
    if split is None:
        raise CascadeError(f"retile: {quote(inner)} is not the inner part of a split of {c.name} "
                           f"(splits: {', '.join(f'{s.rank} -> {s.outer}, {s.inner}' for s in c.splits) or 'none'})")
    if c.sizes[inner] == size:
        return c
    sizes = {k: v for k, v in c.sizes.items() if k != split.outer}
    sizes[inner] = size
    return rebuild(c, sizes=sizes)


def gemm(m: int, n: int, k: int, dtype: str = "fp16") -> Cascade:
    """The plain GEMM `Z[m,n] = A[m,k] * B[k,n]`."""
    return cascade("input A[m,k], B[k,n]\nZ[m,n] = A[m,k] * B[k,n]", {"M": m, "N": n, "K": k},
                   name=f"gemm_{m}x{n}x{k}", dtype=dtype)
