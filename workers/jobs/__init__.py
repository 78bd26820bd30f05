"""Job handlers, one module per domain. Importing this package registers them all."""

from workers.jobs import maintenance, notifications

__all__ = ["maintenance", "notifications"]
