"""Database backends (`DATABASES[...]["ENGINE"] = "apps.core.db"`)."""
