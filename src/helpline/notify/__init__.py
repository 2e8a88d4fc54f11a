"""Outbound notifications to people (e-mail now; messenger and webhooks join them later)."""
