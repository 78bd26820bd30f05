"""Job handlers, one module per domain. Importing this package registers them all."""

from workers.jobs import (
    activities,
    concerns,
    feed,
    library,
    maintenance,
    meetings,
    notifications,
    polls,
    reports,
    surveys,  # -- surveys
    volunteers,
)

__all__ = [
    "activities",
    "concerns",
    "feed",
    "library",
    "maintenance",
    "meetings",
    "notifications",
    "polls",
    "reports",
    "surveys",
    "volunteers",
]
