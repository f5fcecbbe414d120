"""Infrastructure and cross-cutting pure helpers: settings, database, errors and the failure
contract, retries, clock, logging, Temporal, labels. Imports no domain.
"""
