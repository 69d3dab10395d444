"""The exception tree of servin.runtime.

    ServinError                    anything the runtime reports; .exit_code = 1
    ├── ConfigError                config.json or a flag is invalid (names the field
    │                              and the value); raised before anything is made
    ├── ContainerExists            create with an id already in --root
    ├── ContainerNotFound          an operation on an id --root does not have
    ├── InvalidState               the operation is not allowed in the container's
    │                              status (start of a running container, delete of
    │                              a running one without --force)
    ├── HookError                  a hook failed or timed out (prestart,
    │                              createRuntime, createContainer, startContainer)
    ├── ChildError                 the container's init failed between clone and
    │                              execve; .stage says where, .errno why
    └── SystemError_               a system call of the runtime itself failed;
                                   keeps .errno

Each is raised by the layer that knows the cause; only the CLI's main()
turns one into a line on stderr, a JSON log line and the exit status.
"""
import os


class ServinError(Exception):
    exit_code = 1

    def __init__(self, msg, *, errno=None):
        super().__init__(msg)
        self.errno = errno

    def __str__(self):
        msg = self.args[0]
        if self.errno:
            return f"{msg}: {os.strerror(self.errno)}"
        return msg


class ConfigError(ServinError):
    """config.json or a command-line value is invalid."""


class ContainerExists(ServinError):
    """create was asked for an id that is in use."""


class ContainerNotFound(ServinError):
    """no container with this id under --root."""


class InvalidState(ServinError):
    """the container's status does not allow the operation."""


class HookError(ServinError):
    """a hook failed; the operation that ran it fails too."""


class ChildError(ServinError):
    """the container's init failed before execve."""

    def __init__(self, stage, errno, msg):
        super().__init__(msg, errno=errno or None)
        self.stage = stage


class SystemError_(ServinError):
    """a system call made by the runtime itself failed."""

    @classmethod
    def from_os(cls, what, exc):
        return cls(f"{what}: {exc.strerror or exc}" if exc.strerror else f"{what}: {exc}")
