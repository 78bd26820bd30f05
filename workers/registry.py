"""Job handlers by kind, and periodic jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers.runner import JobContext

Handler = Callable[["JobContext", dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Periodic:
    kind: str
    every: timedelta


class Registry:
    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.periodic: dict[str, Periodic] = {}

    def job(self, kind: str, *, every: timedelta | None = None) -> Callable[[Handler], Handler]:
        """Register the handler for `kind`; with `every`, the worker also schedules it periodically."""

        def register(handler: Handler) -> Handler:
            if kind in self.handlers:
                raise ValueError(f"a handler for {kind!r} is already registered")
            self.handlers[kind] = handler
            if every is not None:
                self.periodic[kind] = Periodic(kind, every)
            return handler

        return register


registry = Registry()
job = registry.job
