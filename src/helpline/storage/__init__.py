"""Persistence: SQLAlchemy 2 models, engine set-up and Alembic migrations.

The same code runs on the embedded SQLite file and on PostgreSQL; nothing outside this
package knows which one is in use.
"""
