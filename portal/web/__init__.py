"""Helpers every blueprint uses: access checks, tenant-scoped loading, htmx-aware rendering."""
