"""Dagster definitions: thin wrappers around the domain modules, one module per concern."""
