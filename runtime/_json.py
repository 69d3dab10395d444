"""JSON for the hot path: the stdlib's C scanner and encoder without the
json package, whose import pulls in re and enum (~6 ms of a ~20 ms
runtime call).  Same results as json.loads / json.dumps(separators=(",",
":")); falls back to json where _json is missing."""
try:
    import _json
except ImportError:                             # pragma: no cover
    _json = None


class _Ctx:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name):
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


if _json is not None:
    _scan = _json.make_scanner(_Ctx)
    _ws = " \t\n\r"

    def _fail(msg, pos):
        raise ValueError(f"{msg}: line 1 column {pos + 1} (char {pos})")

    def loads(s):
        if isinstance(s, (bytes, bytearray)):
            s = s.decode("utf-8")
        i, n = 0, len(s)
        while i < n and s[i] in _ws:
            i += 1
        try:
            obj, end = _scan(s, i)
        except StopIteration as e:
            _fail("Expecting value", e.value)
        while end < n and s[end] in _ws:
            end += 1
        if end != n:
            _fail("Extra data", end)
        return obj

    def _default(o):
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    _enc = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",",
                              False, False, True) if hasattr(_json, "make_encoder") else None
    if _enc is None:                            # pragma: no cover
        _enc = _json.c_make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",",
                                    False, False, True)

    def dumps(obj):
        return "".join(_enc(obj, 0))
else:                                           # pragma: no cover
    import json as _std

    def loads(s):
        return _std.loads(s)

    def dumps(obj):
        return _std.dumps(obj, separators=(",", ":"))


def load_file(path, what):
    """Parse a JSON file (or stdin for "-") for a command-line option;
    errors name the option and the file (ConfigError)."""
    from ._errors import ConfigError
    try:
        if path == "-":
            import sys
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
        return loads(raw)
    except OSError as e:
        raise ConfigError(f"{what} {path}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ConfigError(f"{what} {path}: malformed JSON: {e}") from None
