"""The shim's lean protobuf codec (servin.shim._pb/_messages) against the
modules generated from specs/proto: same fields, same bytes."""
import pytest

pytest.importorskip("google.protobuf")
try:
    from servin.shim.proto import (cgroups_v1_pb2, cgroups_v2_pb2, events_pb2, events_service_pb2,
                                   mount_pb2, runc_options_pb2, runtimeoptions_pb2, shim_pb2,
                                   status_pb2, task_pb2, ttrpc_pb2)
except ImportError:
    pytest.skip("generated protos missing (install the project)", allow_module_level=True)
from google.protobuf import any_pb2, empty_pb2, timestamp_pb2  # noqa: E402
from google.protobuf.descriptor import FieldDescriptor as FD  # noqa: E402

from servin.shim import _messages as M  # noqa: E402
from servin.shim import _pb  # noqa: E402

GENERATED = {}
for mod in (cgroups_v1_pb2, cgroups_v2_pb2, events_pb2, events_service_pb2, mount_pb2,
            runc_options_pb2, runtimeoptions_pb2, shim_pb2, status_pb2, task_pb2, ttrpc_pb2,
            any_pb2, empty_pb2, timestamp_pb2):
    for name, desc in mod.DESCRIPTOR.message_types_by_name.items():
        GENERATED[desc.full_name] = getattr(mod, name)

LEAN = {cls.full_name: cls for cls in vars(M).values()
        if isinstance(cls, type) and issubclass(cls, _pb.Message) and cls.full_name}

KIND = {FD.TYPE_STRING: _pb.STRING, FD.TYPE_BYTES: _pb.BYTES, FD.TYPE_BOOL: _pb.BOOL,
        FD.TYPE_UINT32: _pb.UINT32, FD.TYPE_UINT64: _pb.UINT64, FD.TYPE_INT32: _pb.INT32,
        FD.TYPE_INT64: _pb.INT64, FD.TYPE_ENUM: _pb.ENUM}
# Metrics tables may be subsets (the shim fills only what it reads).
SUBSET_OK = ("io.containerd.cgroups.",)


def _is_repeated(fd):
    return getattr(fd, "is_repeated", None) if hasattr(fd, "is_repeated") else fd.label == FD.LABEL_REPEATED


@pytest.mark.parametrize("full_name", sorted(LEAN))
def test_table_matches_generated_descriptor(full_name):
    gen = GENERATED[full_name].DESCRIPTOR
    lean = LEAN[full_name]
    gen_fields = {f.number: f for f in gen.fields}
    for f in lean.FIELDS:
        g = gen_fields.get(f.number)
        assert g is not None, f"{full_name}: field {f.number} not in the .proto"
        assert g.name == f.name
        if g.message_type is not None and g.message_type.GetOptions().map_entry:
            assert f.kind == _pb.MAP
            continue
        assert bool(_is_repeated(g)) == f.repeated, f.name
        if g.type == FD.TYPE_MESSAGE:
            assert isinstance(f.kind, type) and f.kind.full_name == g.message_type.full_name, f.name
        else:
            assert KIND[g.type] == f.kind, f.name
    if not full_name.startswith(SUBSET_OK):
        assert {f.number for f in lean.FIELDS} == set(gen_fields), f"{full_name}: fields missing"


def test_every_task_api_message_has_a_table():
    for name in shim_pb2.DESCRIPTOR.message_types_by_name:
        full = "containerd.task.v2." + name
        if name != "ExecProcessResponse":
            assert full in LEAN, full
    for name in events_pb2.DESCRIPTOR.message_types_by_name:
        assert "containerd.events." + name in LEAN


def test_same_bytes_both_ways():
    g = shim_pb2.CreateTaskRequest(id="c1", bundle="/b", terminal=True, stdin="/f/in", oom_path="x")
    g.rootfs.add(type="overlay", source="overlay", options=["lowerdir=/a", "upperdir=/u"])
    g.options.type_url = "containerd.runc.v1.Options"
    g.options.value = runc_options_pb2.Options(binary_name="runc", root="/r").SerializeToString()
    raw = g.SerializeToString()
    lean = M.CreateTaskRequest.FromString(raw)
    assert (lean.id, lean.bundle, lean.terminal, lean.stdin) == ("c1", "/b", True, "/f/in")
    assert list(lean.rootfs[0].options) == ["lowerdir=/a", "upperdir=/u"]
    assert M.RuncOptions.FromString(lean.options.value).binary_name == "runc"
    assert lean.SerializeToString() == raw


def test_timestamps_enums_negative_and_packed():
    g = events_pb2.TaskExit(container_id="c", id="c", pid=7, exit_status=137, exit_reason=2)
    g.exited_at.FromNanoseconds(1_700_000_000_123_456_789)
    lean = M.TaskExit.FromString(g.SerializeToString())
    assert lean.exited_at.ToNanoseconds() == 1_700_000_000_123_456_789 and lean.exit_reason == 2
    assert lean.SerializeToString() == g.SerializeToString()
    st = status_pb2.Status(code=-3, message="neg")
    assert M.Status.FromString(st.SerializeToString()).code == -3
    assert M.Status(code=-3, message="neg").SerializeToString() == st.SerializeToString()
    cu = cgroups_v1_pb2.CPUUsage(total=5, per_cpu=[1, 2, 300000])
    assert M.V1CPUUsage.FromString(cu.SerializeToString()).per_cpu == [1, 2, 300000]
    assert M.V1CPUUsage(total=5, per_cpu=[1, 2, 300000]).SerializeToString() == cu.SerializeToString()


def test_maps_and_unknown_fields():
    g = shim_pb2.UpdateTaskRequest(id="c", annotations={"a": "1", "b": "2"})
    lean = M.UpdateTaskRequest.FromString(g.SerializeToString())
    assert lean.annotations == {"a": "1", "b": "2"}
    back = shim_pb2.UpdateTaskRequest.FromString(lean.SerializeToString())
    assert dict(back.annotations) == {"a": "1", "b": "2"}
    # a field this side doesn't know is skipped
    assert M.PidsRequest.FromString(shim_pb2.StateRequest(id="x", exec_id="y").SerializeToString()).id == "x"


def test_ttrpc_response_status_present_when_ok():
    r = M.Response(payload=b"p")
    r.status.SetInParent()
    g = ttrpc_pb2.Response.FromString(r.SerializeToString())
    assert g.HasField("status") and g.status.code == 0


def test_truncated_input_is_an_error():
    raw = shim_pb2.StateRequest(id="abcdef").SerializeToString()
    with pytest.raises(_pb.DecodeError):
        M.StateRequest.FromString(raw[:-2])


def test_daemon_imports_no_protobuf_runtime():
    import subprocess
    import sys
    code = ("import sys; import servin.shim._daemon, servin.shim._service, servin.shim._cgroups; "
            "print(any(m.startswith('google') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
