"""HTTP interface: create_app() builds the FastAPI application around a Service."""

from .app import Service, create_app

__all__ = ["Service", "create_app"]
