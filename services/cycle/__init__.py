"""The annual cycle: plan, responsibility letters signed level by level, items, commitments,
progress, the yearly Schedule.
"""
