"""config.md#posix-platform-hooks and the hook steps of runtime.md#lifecycle."""
