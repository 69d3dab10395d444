"""A small protobuf (proto3) wire codec for the long-lived shim process.

Why not the generated modules?  Importing the protobuf runtime costs the
shim about 4 MiB of RSS — a third of its budget per container.  So the
shim's own process encodes its few dozen messages with this codec, from
field tables in :mod:`._messages`.  The generated modules (built from
specs/proto at install time) stay the source of truth: a unit test checks
every table here field by field (number, name, type, repeated, message
type) against the generated descriptors, and round-trips messages through
both.  Clients and tests use either; both speak the same bytes.

Supported: proto3 scalars (string, bytes, bool, [u]int32/64, enum),
embedded messages, repeated fields (numeric ones packed on encode, both
forms on decode), map<string, string>; unknown fields are skipped.
"""
import struct

__all__ = ["Message", "F", "STRING", "BYTES", "BOOL", "UINT32", "UINT64", "INT32", "INT64",
           "ENUM", "MAP", "DecodeError"]

STRING, BYTES, BOOL, UINT32, UINT64, INT32, INT64, ENUM, MAP = range(9)
_NUMERIC = {BOOL, UINT32, UINT64, INT32, INT64, ENUM}
_DEFAULT = {STRING: "", BYTES: b"", BOOL: False, UINT32: 0, UINT64: 0, INT32: 0, INT64: 0,
            ENUM: 0}


class DecodeError(ValueError):
    pass


class F:
    """One field: number, name, kind (a scalar kind, MAP, or a Message class)."""

    __slots__ = ("number", "name", "kind", "repeated")

    def __init__(self, number, name, kind, repeated=False):
        self.number = number
        self.name = name
        self.kind = kind
        self.repeated = repeated


class Repeated(list):
    __slots__ = ("_cls",)

    def add(self, **kw):
        m = self._cls(**kw)
        self.append(m)
        return m


def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _read_varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint too long")


def _signed(n, bits):
    n &= (1 << 64) - 1
    if bits == 32:
        n &= 0xFFFFFFFF
        return n - (1 << 32) if n & 0x80000000 else n
    return n - (1 << 64) if n & (1 << 63) else n


class _Meta(type):
    def __init__(cls, name, bases, ns):
        super().__init__(name, bases, ns)
        fields = ns.get("FIELDS", ())
        cls._by_name = {f.name: f for f in fields}
        cls._by_number = {f.number: f for f in fields}


class Message(metaclass=_Meta):
    """A proto3 message: attribute access like the generated classes."""

    __slots__ = ("_v", "_keep")
    full_name = ""
    FIELDS = ()

    def __init__(self, **kw):
        object.__setattr__(self, "_v", {})
        object.__setattr__(self, "_keep", False)
        for k, v in kw.items():
            setattr(self, k, v)

    @classmethod
    def name(cls):
        return cls.full_name.rsplit(".", 1)[-1]

    def __getattr__(self, name):
        try:
            return self._v[name]
        except KeyError:
            pass
        f = self._by_name.get(name)
        if f is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        if f.repeated:
            r = Repeated()
            r._cls = f.kind if isinstance(f.kind, type) else None
            self._v[name] = r
            return r
        if f.kind == MAP:
            self._v[name] = d = {}
            return d
        if isinstance(f.kind, type):
            self._v[name] = m = f.kind()
            return m
        return _DEFAULT[f.kind]

    def __setattr__(self, name, value):
        f = self._by_name.get(name)
        if f is None:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        if f.repeated:
            r = Repeated(value)
            r._cls = f.kind if isinstance(f.kind, type) else None
            value = r
        elif isinstance(f.kind, type) and isinstance(value, Message):
            object.__setattr__(value, "_keep", True)
        self._v[name] = value

    def SetInParent(self):
        """Encode this (possibly empty) sub-message anyway."""
        object.__setattr__(self, "_keep", True)

    def HasField(self, name):
        v = self._v.get(name)
        return isinstance(v, Message) and (v._keep or bool(v.SerializeToString()))

    def __eq__(self, other):
        return type(self) is type(other) and self.SerializeToString() == other.SerializeToString()

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._v.items())})"

    # -- encode ------------------------------------------------------------------------
    def SerializeToString(self):
        out = bytearray()
        for f in self.FIELDS:
            v = self._v.get(f.name)
            if v is None:
                continue
            if f.kind == MAP:
                for k in v:
                    entry = _len_field(1, k.encode()) + _len_field(2, str(v[k]).encode())
                    out += _len_field(f.number, entry)
            elif f.repeated:
                if not v:
                    continue
                if f.kind in _NUMERIC:
                    packed = b"".join(_varint(int(x)) for x in v)
                    out += _len_field(f.number, packed)
                else:
                    for x in v:
                        out += _encode_one(f, x, force=True)
            else:
                out += _encode_one(f, v)
        return bytes(out)

    # -- decode ------------------------------------------------------------------------
    @classmethod
    def FromString(cls, data):
        m = cls()
        m._merge(memoryview(data).tobytes() if not isinstance(data, bytes) else data)
        return m

    def _merge(self, buf):
        pos, end = 0, len(buf)
        while pos < end:
            key, pos = _read_varint(buf, pos)
            number, wt = key >> 3, key & 7
            if wt == 0:
                val, pos = _read_varint(buf, pos)
            elif wt == 2:
                n, pos = _read_varint(buf, pos)
                if pos + n > end:
                    raise DecodeError("truncated length-delimited field")
                val = buf[pos:pos + n]
                pos += n
            elif wt == 1:
                val = struct.unpack_from("<Q", buf, pos)[0]
                pos += 8
            elif wt == 5:
                val = struct.unpack_from("<I", buf, pos)[0]
                pos += 4
            else:
                raise DecodeError(f"unsupported wire type {wt}")
            f = self._by_number.get(number)
            if f is None:
                continue
            self._set_decoded(f, wt, val)

    def _set_decoded(self, f, wt, val):
        k = f.kind
        if k == MAP:
            entry = _MapEntry.FromString(val)
            getattr(self, f.name)[entry.key] = entry.value
            return
        if f.repeated:
            lst = getattr(self, f.name)
            if k in _NUMERIC and wt == 2:
                pos = 0
                while pos < len(val):
                    x, pos = _read_varint(val, pos)
                    lst.append(_scalar(k, x))
            else:
                lst.append(_decode_value(k, val))
            return
        if isinstance(k, type):
            cur = self._v.get(f.name)
            if cur is None:
                cur = k()
                self._v[f.name] = cur
            object.__setattr__(cur, "_keep", True)
            cur._merge(val)
            return
        self._v[f.name] = _decode_value(k, val)


def _len_field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _encode_one(f, v, force=False):
    k = f.kind
    if isinstance(k, type):
        data = v.SerializeToString()
        if not (data or v._keep or force):
            return b""
        return _len_field(f.number, data)
    if k == STRING:
        if not v and not force:
            return b""
        return _len_field(f.number, v.encode())
    if k == BYTES:
        if not v and not force:
            return b""
        return _len_field(f.number, bytes(v))
    v = int(v)
    if not v and not force:
        return b""
    return _varint(f.number << 3) + _varint(v)


def _scalar(k, x):
    if k == BOOL:
        return bool(x)
    if k in (INT32, ENUM):
        return _signed(x, 32)
    if k == INT64:
        return _signed(x, 64)
    if k == UINT32:
        return x & 0xFFFFFFFF
    return x


def _decode_value(k, val):
    if isinstance(k, type):
        return k.FromString(val)
    if k == STRING:
        return val.decode("utf-8", errors="surrogateescape")
    if k == BYTES:
        return bytes(val)
    return _scalar(k, val)


class _MapEntry(Message):
    FIELDS = (F(1, "key", STRING), F(2, "value", STRING))
