"""Flow files: reading, checking and describing the YAML admins upload."""
