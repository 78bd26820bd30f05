"""Votes and surveys (议事协商, part 2): polls, elections, owners' consultations, needs surveys."""
