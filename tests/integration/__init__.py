"""Integration tests: the OCI runtime binary against real bundles."""
