"""Participation and governance (议事协商): concerns, their triage and verdicts; meetings."""
