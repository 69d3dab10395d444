"""Protobuf side of the shim: the envelope codec, wire facts of the task
API, and the threaded and asyncio ttrpc wrappers over a socketpair."""
import asyncio
import socket
import threading

import pytest

pytest.importorskip("google.protobuf")
try:
    from servin.shim.proto import shim_pb2, ttrpc_pb2, events_pb2, events_service_pb2  # noqa: F401
except ImportError:
    pytest.skip("generated protos missing (install the project)", allow_module_level=True)

from google.protobuf import any_pb2, empty_pb2  # noqa: E402

from servin.shim import _codes  # noqa: E402
from servin.shim._errors import NotFound, RPCError  # noqa: E402
from servin.shim._server import Client, Method, Server  # noqa: E402
from servin.shim._ttrpc import Connection, Request  # noqa: E402
from servin.shim._wire import CODEC  # noqa: E402


def test_codec_request_fields_match_ttrpc():
    raw = CODEC.encode_request("containerd.task.v2.Task", "State", b"\x0a\x01x", 5, [("k", "v")])
    r = ttrpc_pb2.Request.FromString(raw)
    assert (r.service, r.method, r.payload, r.timeout_nano) == ("containerd.task.v2.Task", "State", b"\x0a\x01x", 5)
    # field numbers: service=1 (0x0a), method=2 (0x12)
    assert raw[0] == 0x0a and raw[1 + 1 + len("containerd.task.v2.Task")] == 0x12
    assert CODEC.decode_request(raw) == ("containerd.task.v2.Task", "State", b"\x0a\x01x", 5, (("k", "v"),))


def test_codec_response_always_carries_status():
    raw = CODEC.encode_response(0, "", b"abc")
    r = ttrpc_pb2.Response.FromString(raw)
    assert r.HasField("status") and r.status.code == 0 and r.payload == b"abc"
    assert CODEC.decode_response(CODEC.encode_response(5, "nope", b"")) == (5, "nope", b"")


def test_task_service_names_and_methods():
    svc = shim_pb2.DESCRIPTOR.services_by_name["Task"]
    assert svc.full_name == "containerd.task.v2.Task"
    assert [m.name for m in svc.methods] == [
        "State", "Create", "Start", "Delete", "Pids", "Pause", "Resume", "Checkpoint", "Kill",
        "Exec", "ResizePty", "CloseIO", "Update", "Wait", "Stats", "Connect", "Shutdown"]
    ev = events_service_pb2.DESCRIPTOR.services_by_name["Events"]
    assert ev.full_name == "containerd.services.events.ttrpc.v1.Events"
    assert ev.methods_by_name["Forward"].input_type.full_name.endswith("ForwardRequest")


def test_field_numbers_spot_checks():
    f = shim_pb2.CreateTaskRequest.DESCRIPTOR.fields_by_name
    assert (f["id"].number, f["rootfs"].number, f["options"].number, f["oom_path"].number) == (1, 3, 10, 11)
    assert f["rootfs"].message_type.full_name == "containerd.types.Mount"
    s = shim_pb2.StateResponse.DESCRIPTOR.fields_by_name
    assert s["status"].enum_type.full_name == "containerd.v1.types.Status"
    assert (s["exited_at"].number, s["exec_id"].number) == (10, 11)
    assert events_pb2.TaskExit.DESCRIPTOR.full_name == "containerd.events.TaskExit"
    assert events_pb2.TaskExit.DESCRIPTOR.fields_by_name["exit_reason"].number == 6


def test_events_any_type_url_is_the_full_name():
    from servin.shim._events import TOPICS, pack_any
    from google.protobuf import any_pb2
    a = pack_any(any_pb2.Any(), events_pb2.TaskStart(container_id="c", pid=3))
    assert a.type_url == "containerd.events.TaskStart"
    assert TOPICS["TaskExecStarted"] == "/tasks/exec-started"


# -- threaded server/client over a socketpair ------------------------------------

def make_server():
    srv = Server()

    def state(req):
        if req.id == "missing":
            raise NotFound("container missing not found")
        return shim_pb2.StateResponse(id=req.id, pid=42)

    gate = threading.Event()

    def wait(req):
        gate.wait(5)
        return shim_pb2.WaitResponse(exit_status=3)

    srv.register("containerd.task.v2.Task", {
        "State": Method(shim_pb2.StateRequest, state),
        "Wait": Method(shim_pb2.WaitRequest, wait),
    })
    return srv, gate


class _SockClient(Client):
    def __init__(self, sock):
        self.sock = sock
        self.conn = Connection(CODEC, client=True)
        self._lock = threading.Lock()
        self._done = {}
        self._cv = threading.Condition(self._lock)
        self._reading = False


def test_threaded_server_roundtrip_errors_and_concurrency():
    a, b = socket.socketpair()
    srv, gate = make_server()
    srv.serve_connection(a)
    cli = _SockClient(b)
    r = cli.call("containerd.task.v2.Task", "State", shim_pb2.StateRequest(id="c1"), shim_pb2.StateResponse)
    assert (r.id, r.pid) == ("c1", 42)
    with pytest.raises(RPCError) as e:
        cli.call("containerd.task.v2.Task", "State", shim_pb2.StateRequest(id="missing"))
    assert e.value.code == _codes.NOT_FOUND
    with pytest.raises(RPCError) as e:
        cli.call("containerd.task.v2.Task", "Checkpoint", shim_pb2.CheckpointTaskRequest(id="x"))
    assert e.value.code == _codes.UNIMPLEMENTED
    # A blocking Wait doesn't hold up other calls on the same connection.
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("w", cli.call(
        "containerd.task.v2.Task", "Wait", shim_pb2.WaitRequest(id="c1"), shim_pb2.WaitResponse)))
    t.start()
    assert cli.call("containerd.task.v2.Task", "State", shim_pb2.StateRequest(id="c2"),
                    shim_pb2.StateResponse).id == "c2"
    gate.set()
    t.join(5)
    assert result["w"].exit_status == 3
    cli.close()


# -- asyncio wrapper ----------------------------------------------------------------------

def test_asyncio_client_and_server():
    from servin.shim.aio import AsyncClient, AsyncServer

    async def main():
        async def connect(req):
            await asyncio.sleep(0)
            return shim_pb2.ConnectResponse(shim_pid=1, version="x")

        server = AsyncServer()
        server.register("containerd.task.v2.Task", {
            "Connect": Method(shim_pb2.ConnectRequest, connect),
            "Kill": Method(shim_pb2.KillRequest, lambda req: empty_pb2.Empty()),
        })
        a, b = socket.socketpair()
        sr, sw = await asyncio.open_connection(sock=a)
        task = asyncio.ensure_future(server.handle(sr, sw))
        cr, cw = await asyncio.open_connection(sock=b)
        cli = AsyncClient(cr, cw)
        r1, r2 = await asyncio.gather(
            cli.call("containerd.task.v2.Task", "Connect", shim_pb2.ConnectRequest(id="c"),
                     shim_pb2.ConnectResponse),
            cli.call("containerd.task.v2.Task", "Kill", shim_pb2.KillRequest(id="c", signal=9)))
        assert r1.version == "x" and r2 == b""
        with pytest.raises(RPCError) as e:
            await cli.call("containerd.task.v2.Task", "Nope", shim_pb2.KillRequest())
        assert e.value.code == _codes.UNIMPLEMENTED
        await cli.close()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())


# -- events publisher ---------------------------------------------------------------------

def test_publisher_forwards_envelopes_in_order(tmp_path):
    from servin.shim._events import Publisher
    from servin.shim import _messages as M
    got = []
    srv = Server()
    srv.register("containerd.services.events.ttrpc.v1.Events", {
        "Forward": Method(events_service_pb2.ForwardRequest,
                          lambda req: (got.append(req), empty_pb2.Empty())[1])})
    path = str(tmp_path / "ttrpc.sock")
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(path)
    ls.listen(1)
    threading.Thread(target=lambda: srv.serve_connection(ls.accept()[0]), daemon=True).start()
    pub = Publisher("ns1", "unix://" + path)
    pub.publish(M.TaskCreate(container_id="c1", pid=5))
    pub.publish(M.TaskStart(container_id="c1", pid=5))
    e = M.TaskExit(container_id="c1", id="c1", pid=5, exit_status=3)
    e.exited_at.FromNanoseconds(10**18)
    pub.publish(e)
    pub.flush(5)
    assert [r.envelope.topic for r in got] == ["/tasks/create", "/tasks/start", "/tasks/exit"]
    env = got[2].envelope
    assert env.namespace == "ns1" and env.event.type_url == "containerd.events.TaskExit"
    ex = events_pb2.TaskExit.FromString(env.event.value)
    assert (ex.exit_status, ex.exited_at.seconds) == (3, 10**9)
    ls.close()


def test_publisher_falls_back_to_the_publish_binary(tmp_path):
    from servin.shim._events import Publisher
    from servin.shim._reaper import Reaper
    from servin.shim import _messages as M
    script = tmp_path / "containerd"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat > {tmp_path}/stdin\n')
    script.chmod(0o755)
    pub = Publisher("ns2", None, str(script), "/run/x.sock", Reaper())
    pub.publish(M.TaskOOM(container_id="c9"))
    pub.flush(10)
    assert (tmp_path / "args").read_text().split() == [
        "--address", "/run/x.sock", "publish", "--topic", "/tasks/oom", "--namespace", "ns2"]
    a = any_pb2.Any.FromString((tmp_path / "stdin").read_bytes())
    assert a.type_url == "containerd.events.TaskOOM"
    assert events_pb2.TaskOOM.FromString(a.value).container_id == "c9"
