"""servin.runtime._json agrees with the json module on what it reads and
writes, and rejects what json rejects."""
import json

import pytest

from servin.runtime import _json

DOCS = ['{"a": [1, 2.5, -3e-2, true, false, null], "b": {"c": "\\u00e9\\n"}}', "[]", "  {}  ", '"x"', "0",
        '{"big": 18446744073709551615, "neg": -9223372036854775808}', '{"nested": [[[{}]]]}']


@pytest.mark.parametrize("doc", DOCS)
def test_loads_like_json(doc):
    assert _json.loads(doc) == json.loads(doc)
    assert _json.loads(doc.encode()) == json.loads(doc)


@pytest.mark.parametrize("doc", ["", "{", "{nope", "[1,]", "{} {}", "nul", '{"a" 1}', "\ufeff{}"])
def test_loads_rejects_like_json(doc):
    with pytest.raises(ValueError):
        json.loads(doc)
    with pytest.raises(ValueError):
        _json.loads(doc)


@pytest.mark.parametrize("obj", [{"a": [1, 2.5, None, True], "é": "ü\n\""}, [], {"x": {"y": []}}, 1.0, 2**70])
def test_dumps_like_json(obj):
    assert _json.dumps(obj) == json.dumps(obj, separators=(",", ":"))
    assert json.loads(_json.dumps(obj)) == obj


def test_dumps_refuses_unknown_types():
    with pytest.raises(TypeError):
        _json.dumps({"a": object()})
