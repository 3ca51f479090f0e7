"""The domain: plain functions over the session that only ``flush()``; callers commit."""
