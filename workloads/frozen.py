"""`FrozenDict`: the immutable, hashable mapping that frozen records hold (`Cascade.sizes`, `Arch.measured`,
`Mapping.params`, ...), so that "frozen" means frozen and records can be dictionary keys and memo keys."""
from __future__ import annotations

from typing import Any, Iterator, Mapping


class FrozenDict(Mapping):
    """A read-only dict: same lookups, iteration order and equality as the dict it was built from; hashable when
    its values are; pickles as a dict."""

    __slots__ = ("_data", "_hash")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_data", dict(*args, **kwargs))
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(frozenset(self._data.items())))
        return self._hash

    def __eq__(self, other: Any) -> bool:
        return self._data == other if isinstance(other, Mapping) else NotImplemented

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self):
        return (type(self), (self._data,))

    def __or__(self, other: Mapping) -> "FrozenDict":
        return FrozenDict({**self._data, **other})


def freeze(value: Any) -> Any:
    """Deep-freeze plain data: mappings → FrozenDict, lists/tuples → tuples (recursively); other values as they are."""
    if isinstance(value, Mapping):
        return value if isinstance(value, FrozenDict) and all(_is_frozen(v) for v in value.values()) else \
            FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def _is_frozen(value: Any) -> bool:
    if isinstance(value, FrozenDict):
        return all(_is_frozen(v) for v in value.values())
    if isinstance(value, tuple):
        return all(_is_frozen(v) for v in value)
    return not isinstance(value, (dict, list, set))
