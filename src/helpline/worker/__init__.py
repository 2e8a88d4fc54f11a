"""Durable background work: outbound delivery now; SLA timers and notifications later."""
