"""The languages a resource may hold: CEL conditions, sandboxed templates, cron schedules.

Compiled when a resource is applied (every store checks them, as an admission webhook
would) and when it is used; nothing here knows a run or a transport.
"""
