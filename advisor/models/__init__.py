"""Pydantic models at the advisor's boundaries."""
