"""Technician command-line tools: test one peripheral on site, print JSON."""
