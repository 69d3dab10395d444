"""Publishing task events to containerd, in order.

Events are queued by the service while it holds the container's lock, so
the queue order is the lifecycle order containerd documents (create, start,
exec-added, exec-started, exit, delete ...).  One thread sends them: as a
``containerd.services.events.ttrpc.v1.Events/Forward`` call on
``$TTRPC_ADDRESS`` (what containerd gives its shims), or, when that fails,
through ``<publish-binary> --address A publish --topic T --namespace N``
with the event Any on stdin.
"""
import queue
import threading
import time

from ._messages import ForwardRequest

__all__ = ["Publisher", "TOPICS", "pack_any"]

TOPICS = {
    "TaskCreate": "/tasks/create",
    "TaskStart": "/tasks/start",
    "TaskExit": "/tasks/exit",
    "TaskDelete": "/tasks/delete",
    "TaskExecAdded": "/tasks/exec-added",
    "TaskExecStarted": "/tasks/exec-started",
    "TaskPaused": "/tasks/paused",
    "TaskResumed": "/tasks/resumed",
    "TaskOOM": "/tasks/oom",
    "TaskCheckpointed": "/tasks/checkpointed",
}

EVENTS_SERVICE = "containerd.services.events.ttrpc.v1.Events"


def pack_any(any_msg, msg):
    """Fill ``any_msg`` with ``msg``, type URL = full name (containerd's typeurl)."""
    any_msg.type_url = _full_name(msg)
    any_msg.value = msg.SerializeToString()
    return any_msg


def _full_name(msg):
    name = getattr(type(msg), "full_name", None)
    return name if isinstance(name, str) and name else msg.DESCRIPTOR.full_name


class Publisher:
    def __init__(self, namespace, ttrpc_address=None, publish_binary=None, address=None,
                 reaper=None, log=None):
        self.namespace = namespace
        self.ttrpc_address = ttrpc_address
        self.publish_binary = publish_binary
        self.address = address
        self.reaper = reaper
        self.log = log or (lambda m: None)
        self._q = queue.Queue()
        self._client = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="events")
        self._thread.start()
        self.sent = []          # topics, for tests and debugging (bounded)

    def publish(self, msg):
        name = _full_name(msg).rsplit(".", 1)[-1]
        self._q.put((TOPICS[name], msg, time.time()))

    def flush(self, timeout=5.0):
        """Wait until everything queued so far was sent (or failed)."""
        done = threading.Event()
        self._q.put(done)
        done.wait(timeout)

    def _run(self):
        while True:
            item = self._q.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            topic, msg, when = item
            req = ForwardRequest()
            env = req.envelope
            env.timestamp.FromNanoseconds(int(when * 1e9))
            env.namespace = self.namespace
            env.topic = topic
            pack_any(env.event, msg)
            for attempt in range(3):
                try:
                    self._forward(req)
                    break
                except Exception as e:       # retried, then the binary
                    self._drop_client()
                    if attempt == 2:
                        self._via_binary(topic, env.event, e)
                    else:
                        time.sleep(0.05)
            self.sent.append(topic)
            del self.sent[:-64]

    def _forward(self, req):
        if not self.ttrpc_address:
            raise ConnectionError("no TTRPC_ADDRESS")
        if self._client is None:
            from ._server import Client
            path = self.ttrpc_address
            if path.startswith("unix://"):
                path = path[len("unix://"):]
            self._client = Client(path, timeout=10.0)
        self._client.call(EVENTS_SERVICE, "Forward", req)

    def _drop_client(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def _via_binary(self, topic, any_msg, why):
        if not (self.publish_binary and self.reaper):
            self.log(f"events: cannot publish {topic}: {why}")
            return
        args = [self.publish_binary, "--address", self.address or "", "publish",
                "--topic", topic, "--namespace", self.namespace]
        try:
            code, _, err = self.reaper.run(args, input=any_msg.SerializeToString())
        except OSError as e:
            code, err = -1, str(e).encode()
        if code != 0:
            self.log(f"events: publish {topic} failed: {err.decode(errors='replace').strip()}")
