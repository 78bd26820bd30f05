"""Job handlers, one module per domain. Importing this package registers them all."""

from workers.jobs import (
    activities,
    concerns,
    feed,
    library,
    maintenance,
    meetings,
    notifications,
    poll_results,  # votes: closing polls (issue 16, results)
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
    "poll_results",
    "polls",
    "reports",
    "surveys",
    "volunteers",
]
