"""Adapters to outside services, each behind a small interface with an embedded default."""
