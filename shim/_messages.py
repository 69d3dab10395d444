"""Field tables of every message the shim process encodes or decodes.

Mirrors specs/proto/servin/shim/proto/*.proto (and google/protobuf's Any,
Empty, Timestamp) for :mod:`._pb`; tests/unit/shim checks each table
against the generated descriptors, so a change to a .proto that is not
made here fails the tests.
"""
from ._pb import (BOOL, BYTES, ENUM, INT32, INT64, MAP, STRING, UINT32, UINT64, F,  # noqa: F401
                  Message)


# -- google.protobuf -------------------------------------------------------------

class Any(Message):
    full_name = "google.protobuf.Any"
    FIELDS = (F(1, "type_url", STRING), F(2, "value", BYTES))


class Empty(Message):
    full_name = "google.protobuf.Empty"


class Timestamp(Message):
    full_name = "google.protobuf.Timestamp"
    FIELDS = (F(1, "seconds", INT64), F(2, "nanos", INT32))

    def FromNanoseconds(self, ns):
        self.seconds, self.nanos = divmod(int(ns), 1_000_000_000)
        self.SetInParent()

    def ToNanoseconds(self):
        return self.seconds * 1_000_000_000 + self.nanos


# -- ttrpc envelope ---------------------------------------------------------------

class Status(Message):
    full_name = "google.rpc.Status"
    FIELDS = (F(1, "code", INT32), F(2, "message", STRING), F(3, "details", Any, True))


class KeyValue(Message):
    full_name = "ttrpc.KeyValue"
    FIELDS = (F(1, "key", STRING), F(2, "value", STRING))


class Request(Message):
    full_name = "ttrpc.Request"
    FIELDS = (F(1, "service", STRING), F(2, "method", STRING), F(3, "payload", BYTES),
              F(4, "timeout_nano", INT64), F(5, "metadata", KeyValue, True))


class Response(Message):
    full_name = "ttrpc.Response"
    FIELDS = (F(1, "status", Status), F(2, "payload", BYTES))


# -- containerd types ---------------------------------------------------------------

class Mount(Message):
    full_name = "containerd.types.Mount"
    FIELDS = (F(1, "type", STRING), F(2, "source", STRING), F(3, "target", STRING),
              F(4, "options", STRING, True))


class ProcessInfo(Message):
    full_name = "containerd.v1.types.ProcessInfo"
    FIELDS = (F(1, "pid", UINT32), F(2, "info", Any))


# -- containerd.task.v2 --------------------------------------------------------------

def _msg(full_name, *fields):
    return type(full_name.rsplit(".", 1)[1], (Message,), {"full_name": full_name,
                                                           "FIELDS": tuple(fields)})


T = "containerd.task.v2."
CreateTaskRequest = _msg(T + "CreateTaskRequest", F(1, "id", STRING), F(2, "bundle", STRING),
                         F(3, "rootfs", Mount, True), F(4, "terminal", BOOL), F(5, "stdin", STRING),
                         F(6, "stdout", STRING), F(7, "stderr", STRING),
                         F(8, "checkpoint", STRING), F(9, "parent_checkpoint", STRING),
                         F(10, "options", Any), F(11, "oom_path", STRING))
CreateTaskResponse = _msg(T + "CreateTaskResponse", F(1, "pid", UINT32))
DeleteRequest = _msg(T + "DeleteRequest", F(1, "id", STRING), F(2, "exec_id", STRING))
DeleteResponse = _msg(T + "DeleteResponse", F(1, "pid", UINT32), F(2, "exit_status", UINT32),
                      F(3, "exited_at", Timestamp))
ExecProcessRequest = _msg(T + "ExecProcessRequest", F(1, "id", STRING), F(2, "exec_id", STRING),
                          F(3, "terminal", BOOL), F(4, "stdin", STRING), F(5, "stdout", STRING),
                          F(6, "stderr", STRING), F(7, "spec", Any))
ResizePtyRequest = _msg(T + "ResizePtyRequest", F(1, "id", STRING), F(2, "exec_id", STRING),
                        F(3, "width", UINT32), F(4, "height", UINT32))
StateRequest = _msg(T + "StateRequest", F(1, "id", STRING), F(2, "exec_id", STRING))
StateResponse = _msg(T + "StateResponse", F(1, "id", STRING), F(2, "bundle", STRING),
                     F(3, "pid", UINT32), F(4, "status", ENUM), F(5, "stdin", STRING),
                     F(6, "stdout", STRING), F(7, "stderr", STRING), F(8, "terminal", BOOL),
                     F(9, "exit_status", UINT32), F(10, "exited_at", Timestamp),
                     F(11, "exec_id", STRING))
KillRequest = _msg(T + "KillRequest", F(1, "id", STRING), F(2, "exec_id", STRING),
                   F(3, "signal", UINT32), F(4, "all", BOOL))
CloseIORequest = _msg(T + "CloseIORequest", F(1, "id", STRING), F(2, "exec_id", STRING),
                      F(3, "stdin", BOOL))
PidsRequest = _msg(T + "PidsRequest", F(1, "id", STRING))
PidsResponse = _msg(T + "PidsResponse", F(1, "processes", ProcessInfo, True))
CheckpointTaskRequest = _msg(T + "CheckpointTaskRequest", F(1, "id", STRING), F(2, "path", STRING),
                             F(3, "options", Any))
UpdateTaskRequest = _msg(T + "UpdateTaskRequest", F(1, "id", STRING), F(2, "resources", Any),
                         F(3, "annotations", MAP))
StartRequest = _msg(T + "StartRequest", F(1, "id", STRING), F(2, "exec_id", STRING))
StartResponse = _msg(T + "StartResponse", F(1, "pid", UINT32))
WaitRequest = _msg(T + "WaitRequest", F(1, "id", STRING), F(2, "exec_id", STRING))
WaitResponse = _msg(T + "WaitResponse", F(1, "exit_status", UINT32), F(2, "exited_at", Timestamp))
StatsRequest = _msg(T + "StatsRequest", F(1, "id", STRING))
StatsResponse = _msg(T + "StatsResponse", F(1, "stats", Any))
ConnectRequest = _msg(T + "ConnectRequest", F(1, "id", STRING))
ConnectResponse = _msg(T + "ConnectResponse", F(1, "shim_pid", UINT32), F(2, "task_pid", UINT32),
                       F(3, "version", STRING))
ShutdownRequest = _msg(T + "ShutdownRequest", F(1, "id", STRING), F(2, "now", BOOL))
PauseRequest = _msg(T + "PauseRequest", F(1, "id", STRING))
ResumeRequest = _msg(T + "ResumeRequest", F(1, "id", STRING))

# -- containerd.events -----------------------------------------------------------------

E = "containerd.events."
TaskIO = _msg(E + "TaskIO", F(1, "stdin", STRING), F(2, "stdout", STRING), F(3, "stderr", STRING),
              F(4, "terminal", BOOL))
TaskCreate = _msg(E + "TaskCreate", F(1, "container_id", STRING), F(2, "bundle", STRING),
                  F(3, "rootfs", Mount, True), F(4, "io", TaskIO), F(5, "checkpoint", STRING),
                  F(6, "pid", UINT32))
TaskStart = _msg(E + "TaskStart", F(1, "container_id", STRING), F(2, "pid", UINT32))
TaskDelete = _msg(E + "TaskDelete", F(1, "container_id", STRING), F(2, "pid", UINT32),
                  F(3, "exit_status", UINT32), F(4, "exited_at", Timestamp), F(5, "id", STRING))
TaskExit = _msg(E + "TaskExit", F(1, "container_id", STRING), F(2, "id", STRING), F(3, "pid", UINT32),
                F(4, "exit_status", UINT32), F(5, "exited_at", Timestamp), F(6, "exit_reason", ENUM))
TaskOOM = _msg(E + "TaskOOM", F(1, "container_id", STRING))
TaskExecAdded = _msg(E + "TaskExecAdded", F(1, "container_id", STRING), F(2, "exec_id", STRING))
TaskExecStarted = _msg(E + "TaskExecStarted", F(1, "container_id", STRING), F(2, "exec_id", STRING),
                       F(3, "pid", UINT32))
TaskPaused = _msg(E + "TaskPaused", F(1, "container_id", STRING))
TaskResumed = _msg(E + "TaskResumed", F(1, "container_id", STRING))
TaskCheckpointed = _msg(E + "TaskCheckpointed", F(1, "container_id", STRING),
                        F(2, "checkpoint", STRING))

V = "containerd.services.events.ttrpc.v1."
Envelope = _msg(V + "Envelope", F(1, "timestamp", Timestamp), F(2, "namespace", STRING),
                F(3, "topic", STRING), F(4, "event", Any))
ForwardRequest = _msg(V + "ForwardRequest", F(1, "envelope", Envelope))

# -- runtime options ---------------------------------------------------------------------

RuncOptions = _msg("containerd.runc.v1.Options", F(1, "no_pivot_root", BOOL),
                   F(2, "no_new_keyring", BOOL), F(3, "shim_cgroup", STRING), F(4, "io_uid", UINT32),
                   F(5, "io_gid", UINT32), F(6, "binary_name", STRING), F(7, "root", STRING),
                   F(8, "criu_path", STRING), F(9, "systemd_cgroup", BOOL),
                   F(10, "criu_image_path", STRING), F(11, "criu_work_path", STRING))
ProcessDetails = _msg("containerd.runc.v1.ProcessDetails", F(1, "exec_id", STRING))
RuntimeOptions = _msg("runtimeoptions.v1.Options", F(1, "type_url", STRING),
                      F(2, "config_path", STRING), F(3, "config_body", STRING))

# -- cgroup metrics ----------------------------------------------------------------------


def _seq(names, kind=UINT64, start=1):
    return [F(i, n, kind) for i, n in enumerate(names.split(), start)]


C1 = "io.containerd.cgroups.v1."
V1MemoryEntry = _msg(C1 + "MemoryEntry", *_seq("limit usage max failcnt"))
V1MemoryStat = _msg(C1 + "MemoryStat", *_seq(
    "cache rss rss_huge mapped_file dirty writeback pg_pg_in pg_pg_out pg_fault pg_maj_fault "
    "inactive_anon active_anon inactive_file active_file unevictable hierarchical_memory_limit "
    "hierarchical_swap_limit total_cache total_rss total_rss_huge total_mapped_file total_dirty "
    "total_writeback total_pg_pg_in total_pg_pg_out total_pg_fault total_pg_maj_fault "
    "total_inactive_anon total_active_anon total_inactive_file total_active_file "
    "total_unevictable"), F(33, "usage", V1MemoryEntry), F(34, "swap", V1MemoryEntry),
    F(35, "kernel", V1MemoryEntry), F(36, "kernel_tcp", V1MemoryEntry))
V1PidsStat = _msg(C1 + "PidsStat", *_seq("current limit"))
V1CPUUsage = _msg(C1 + "CPUUsage", *_seq("total kernel user"), F(4, "per_cpu", UINT64, True))
V1Throttle = _msg(C1 + "Throttle", *_seq("periods throttled_periods throttled_time"))
V1CPUStat = _msg(C1 + "CPUStat", F(1, "usage", V1CPUUsage), F(2, "throttling", V1Throttle))
V1MemoryOomControl = _msg(C1 + "MemoryOomControl", *_seq("oom_kill_disable under_oom oom_kill"))
V1Metrics = _msg(C1 + "Metrics", F(2, "pids", V1PidsStat), F(3, "cpu", V1CPUStat),
                 F(4, "memory", V1MemoryStat), F(9, "memory_oom_control", V1MemoryOomControl))

C2 = "io.containerd.cgroups.v2."
V2PidsStat = _msg(C2 + "PidsStat", *_seq("current limit"))
V2CPUStat = _msg(C2 + "CPUStat", *_seq(
    "usage_usec user_usec system_usec nr_periods nr_throttled throttled_usec"))
V2MemoryStat = _msg(C2 + "MemoryStat", *_seq(
    "anon file kernel_stack slab sock shmem file_mapped file_dirty file_writeback anon_thp "
    "inactive_anon active_anon inactive_file active_file unevictable slab_reclaimable "
    "slab_unreclaimable pgfault pgmajfault workingset_refault workingset_activate "
    "workingset_nodereclaim pgrefill pgscan pgsteal pgactivate pgdeactivate pglazyfree "
    "pglazyfreed thp_fault_alloc thp_collapse_alloc usage usage_limit swap_usage swap_limit"))
V2MemoryEvents = _msg(C2 + "MemoryEvents", *_seq("low high max oom oom_kill"))
V2Metrics = _msg(C2 + "Metrics", F(1, "pids", V2PidsStat), F(2, "cpu", V2CPUStat),
                 F(4, "memory", V2MemoryStat), F(8, "memory_events", V2MemoryEvents))
