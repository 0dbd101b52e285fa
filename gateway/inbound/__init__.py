"""Client-facing APIs: one translator per API over the canonical request (see base.py)."""
