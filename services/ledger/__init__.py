"""The auditors' ledger: filters, live and point-in-time queries, statistics, CSV and
XLSX exports.
"""
