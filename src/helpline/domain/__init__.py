"""The contact center's rules as plain Python: no database, HTTP or clock calls.

Everything here is deterministic given its inputs, so each rule is unit-testable in
milliseconds; storage, web and workers are adapters that feed it data and act on its decisions.
"""
