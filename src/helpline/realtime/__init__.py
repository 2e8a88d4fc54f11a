"""Fan-out of committed events to connected consoles (in-process, or Redis between instances)."""
