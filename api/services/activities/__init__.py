"""Activities and bookings (活动预约): staff publish activities (`manage`), residents browse
(`browse`) and book (`bookings`), everyone checks in at the door (`checkin`), and the worker
counts the no-shows (`noshows`); the staff console plans with `planning` (weeks, months, series).
Never overbooked: see `bookings`."""
