"""Accountability recorded by hand by a committee, and the one appeal of the person concerned."""
