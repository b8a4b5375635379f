"""Vulnerabilities: published ICS advisories (CSAF 2.0) imported, and the assets they concern."""
