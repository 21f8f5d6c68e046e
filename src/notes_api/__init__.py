"""notes-api: a Notes REST API on FastAPI, encode's databases, SQLAlchemy Core and PostgreSQL."""

__version__ = "0.1.0"
