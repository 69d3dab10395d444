"""config-linux.md: the Linux-specific fields."""
