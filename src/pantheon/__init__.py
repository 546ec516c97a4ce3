"""Pantheon: learns, from chat outcomes, which god of a pantheon answers a prompt best."""

__version__ = "0.1.0"
