"""Notifications, the shared way every domain tells people things.

The API for other services (all inside the caller's transaction):

- `notify(session, recipients, kind, params, cause_key, community_id=…)`: inbox entries now, WeChat
  pushes through the worker; once per (cause, recipient).
- `schedule(session, at, recipients, kind, params, cause_key, community_id=…)`: the same at `at`.
- `cancel_scheduled(session, cause_key)`: take a reminder back when its cause goes away.
- `retract(session, cause_key)`: hide what a withdrawn cause said and stop its pending pushes.

Kinds and their WeChat templates are declared in `catalogue`.
"""

from api.services.notifications.core import cancel_scheduled, notify, retract, schedule

__all__ = ["cancel_scheduled", "notify", "retract", "schedule"]
