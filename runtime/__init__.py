"""servin.runtime: the OCI runtime library behind ``servin-runc``."""
