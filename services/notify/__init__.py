"""Notifications: the in-app inbox, channels (log, SMTP, webhook), deliveries, every
message text.
"""
