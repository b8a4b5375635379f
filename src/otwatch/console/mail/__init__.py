"""The mail server (SMTP) the console sends email through."""
