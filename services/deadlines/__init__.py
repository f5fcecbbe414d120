"""Deadlines: reminder policies and slots, escalation up the chain of heads, accountability
records.
"""
