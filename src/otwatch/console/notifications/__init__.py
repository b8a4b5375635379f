"""System notifications: the console's own events (a sensor disconnected or reconnected)."""
