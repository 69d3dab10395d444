"""config.md: the platform-independent fields."""
