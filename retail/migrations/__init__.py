"""Alembic migrations of the SQL store, shipped inside the package so an install can migrate."""
