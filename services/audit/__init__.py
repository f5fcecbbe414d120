"""The audit trail: an append-only hash chain of every change, and its verification."""
