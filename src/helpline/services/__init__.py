"""Use cases: `access_*` loads and checks permission, `check_*` validates, `do_*` changes and emits.

Each function takes a unit of work and plain values, so the web routes, the CLI, channel
webhooks and tests all go through exactly the same rules.
"""
