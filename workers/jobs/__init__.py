"""Job handlers, one module per domain. Importing this package registers them all."""

from workers.jobs import activities, feed, library, maintenance, meetings, notifications, reports, volunteers

__all__ = ["activities", "feed", "library", "maintenance", "meetings", "notifications", "reports", "volunteers"]
