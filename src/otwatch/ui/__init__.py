"""Presentation helpers shared by the console pages (no web framework imports here)."""
