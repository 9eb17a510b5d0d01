"""Soak under faults: the whole live stack on loopback, strategies and an API client trading
for a while under a seeded fault schedule, then an invariant checker comparing our books with
the simulator's ledger. See docs/RELIABILITY.md."""
