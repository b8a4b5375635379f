"""Forwarding rules and their durable delivery queue (email, syslog, webhook)."""
