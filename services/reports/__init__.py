"""Public supervision reports and their triage into problems."""
