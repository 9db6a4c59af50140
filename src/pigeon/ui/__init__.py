"""Terminal presentation only: turning events into lines, JSON objects, tables and bars."""
