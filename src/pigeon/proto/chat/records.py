"""``record``: a frozen dataclass to the type checker, a plain slotted one at run time.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``: six fields
cost 593 ns against 127 ns for a plain slotted dataclass (measured here), and chat builds
several records per message (packets' outputs, peer snapshots, events). mypy --strict still
refuses any assignment to a field (``dataclass_transform(frozen_default=True)``), so the
immutability holds wherever the code is checked; equality and hashing stay by value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True)
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a slotted dataclass with value equality and hashing."""
    return dataclass(slots=True, unsafe_hash=True)(cls)
