"""Telegram Bot API channel: webhook `Update` objects in, Bot API method calls out."""
