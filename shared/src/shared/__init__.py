"""Vigie's platform library: what every service needs identically, and nothing of any one service."""
