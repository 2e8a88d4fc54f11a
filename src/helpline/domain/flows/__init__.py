"""Self-service flows: the model, the rules a flow must satisfy, and the runtime (pure domain)."""
