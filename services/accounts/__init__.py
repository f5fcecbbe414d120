"""Accounts: bearer tokens stored as hashes, roles, subtree scopes, the Principal a request acts
as.
"""
