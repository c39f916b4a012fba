"""Celery tasks: thin, idempotent wrappers around the domain's plain functions."""
