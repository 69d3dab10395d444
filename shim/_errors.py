"""The shim's exceptions.

::

    ShimError                 (ttrpc status code carried in .code)
     ├── NotFound             no such container / exec process        NOT_FOUND
     ├── AlreadyExists        exec id or container id taken           ALREADY_EXISTS
     ├── FailedPrecondition   wrong state: start a running process,   FAILED_PRECONDITION
     │                        delete a running one, resize without tty
     ├── NotImplemented       RPC or option this shim doesn't do      UNIMPLEMENTED
     ├── InvalidArgument      malformed request                       INVALID_ARGUMENT
     └── RuntimeFailed        the OCI runtime exited non-zero;        UNKNOWN
                              .message is its last error log line
    RPCError                  a ttrpc call we made got an error status

Request handlers raise these; the server turns them into the
``google.rpc.Status`` of the response (one place, like a CLI's main()).
Anything else becomes UNKNOWN with the exception's text.
"""
from . import _codes


class ShimError(Exception):
    code = _codes.UNKNOWN

    def __init__(self, message, errno=None):
        super().__init__(message)
        self.message = message
        self.errno = errno


class NotFound(ShimError):
    code = _codes.NOT_FOUND


class AlreadyExists(ShimError):
    code = _codes.ALREADY_EXISTS


class FailedPrecondition(ShimError):
    code = _codes.FAILED_PRECONDITION


class NotImplemented_(ShimError):
    code = _codes.UNIMPLEMENTED


class InvalidArgument(ShimError):
    code = _codes.INVALID_ARGUMENT


class RuntimeFailed(ShimError):
    code = _codes.UNKNOWN


class RPCError(Exception):
    """A ttrpc call returned a non-OK status."""

    def __init__(self, code, message):
        super().__init__(f"{_codes.NAMES.get(code, code)}: {message}")
        self.code = code
        self.message = message


NotImplementedRPC = NotImplemented_
