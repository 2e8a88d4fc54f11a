"""Helpline: a self-hosted omnichannel contact center."""

__version__ = "0.1.0"
