"""Webhook endpoints per the Standard Webhooks spec: outside systems subscribed to event types
(problem transitions, letters issued/signed/returned, evaluations published, audit checkpoints),
each with its own secret, fed from the audit chain and retried on their own schedule.
"""
