"""Wires the console: settings, the services' HTTP clients, the templates (filled in by the console work)."""
