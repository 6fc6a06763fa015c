"""Turns what the extension observes inside ComfyUI into usage records (doc/usage_record.md), with
the gateway's record shapes and ids (doc/gateway.md, "Record lifecycle"):

* one record per recordable node run, id `<prompt_id>/<node_id>`, `gen_ai.operation.name`
  "comfyui.node": status success, or error / interrupted with `error.type` (the exception's full
  type name, or "interrupted"); nodes served from the cache get status cached and no duration;
* one record per prompt, id `<prompt_id>/prompt`, "comfyui.prompt", no node_id and no input size
  (so token sums over node records are not doubled): the outcome, task_type, workflow hash, start
  (execution_start, else submission) and end.

Because the ids are those of the gateway, and both producers use the same `source` and tenant, a
prompt recorded by both is stored once: `(tenant, source, id)` is the ingest idempotency key.
Each id is also emitted at most once here.

Timing is exact when the node hook wraps ComfyUI's per-node `execute` (`node_started` /
`node_finished`, measured with a monotonic clock); in the degraded mode it is receipt-to-receipt
of `executing` messages, as in the gateway (`executing`).

Thread-safe: every method takes one lock; records go to `sink(record, hold)` after the lock is
released. `sink` must not block; exceptions in it propagate to the caller (the hook layer
catches everything).
"""

import collections
import hashlib
import threading
import time

_MAX_FINISHED = 20000   # finished prompts remembered, so ids are emitted once
_MAX_PENDING = 10000    # prompts seen at submission and not (yet) started


def now_us():
    return time.time_ns() // 1000


def format_time(us):
    """RFC 3339 UTC with microseconds: 2026-11-30T10:00:02.480000Z."""
    secs, frac = divmod(int(us), 1000000)
    t = time.gmtime(secs)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour,
                                                   t.tm_min, t.tm_sec, frac)


def _visible_ascii(s):
    return all(0x21 <= ord(c) <= 0x7E for c in s)


def node_record_id(prompt_id, node_id):
    """`<prompt_id>/<node_id>`; a node id that is not visible ASCII or longer than 64 bytes is
    replaced by its SHA-256 in hex (run_recorder.cc NodeRecordId)."""
    if not _visible_ascii(node_id) or len(node_id.encode("utf-8", "surrogatepass")) > 64:
        node_id = hashlib.sha256(node_id.encode("utf-8", "surrogatepass")).hexdigest()
    return prompt_id + "/" + node_id


def prompt_record_id(prompt_id):
    return prompt_id + "/prompt"


class PromptInfo:
    """What is known of a prompt before it runs."""

    def __init__(self, prompt_id, user="", workflow_name="", workflow_hash="", task_type="",
                 nodes=(), submitted_us=None, hold=False, device=""):
        self.prompt_id = prompt_id
        self.user = user
        self.workflow_name = workflow_name
        self.workflow_hash = workflow_hash
        self.task_type = task_type
        self.nodes = list(nodes)  # workflow.RecordableNode, workflow order
        self.submitted_us = submitted_us if submitted_us is not None else now_us()
        self.hold = hold          # a gateway prompt: deliver late (the gateway's record wins)
        self.device = device


class _Prompt:
    __slots__ = ("info", "nodes", "start_us", "cached", "recorded", "open", "observed_open",
                 "finished", "outcome", "fill")

    def __init__(self, info):
        self.info = info
        self.nodes = {n.node_id: n for n in info.nodes}
        self.start_us = None
        self.cached = set()
        self.recorded = set()
        self.open = {}            # node_id -> (start wall us, start monotonic ns): exact mode
        self.observed_open = None  # (node_id, receipt us): degraded (message) mode
        self.finished = False
        self.outcome = ""
        self.fill = False          # events may be missing: fill unseen nodes from the outcome


class Recorder:
    def __init__(self, source, sink, tenant="", capture="extension"):
        self._source = source
        self._tenant = tenant
        self._capture = capture
        self._sink = sink
        self._lock = threading.Lock()
        self._prompts = {}                          # active prompts
        self._pending = collections.OrderedDict()   # submitted, not started
        self._finished = collections.OrderedDict()  # prompt_id -> outcome
        self.running = ""

    # ---- intake ---------------------------------------------------------------------------------

    def submitted(self, info):
        """A prompt was submitted (on-prompt handler, or found at its start)."""
        with self._lock:
            pid = info.prompt_id
            if pid in self._finished or pid in self._prompts:
                return
            self._pending[pid] = info
            self._pending.move_to_end(pid)
            while len(self._pending) > _MAX_PENDING:
                self._pending.popitem(last=False)

    def knows(self, prompt_id):
        with self._lock:
            return (prompt_id in self._pending or prompt_id in self._prompts or
                    prompt_id in self._finished)

    def active(self):
        with self._lock:
            return sorted(self._prompts)

    def outcome(self, prompt_id):
        with self._lock:
            return self._finished.get(prompt_id, "")

    def pending_count(self):
        with self._lock:
            return len(self._pending)

    def _activate(self, prompt_id):
        p = self._prompts.get(prompt_id)
        if p is None and prompt_id in self._pending:
            p = self._prompts[prompt_id] = _Prompt(self._pending.pop(prompt_id))
        return p

    # ---- execution ------------------------------------------------------------------------------

    def execution_start(self, prompt_id, t_us, fill=False, device=""):
        out = []
        with self._lock:
            # One prompt runs at a time per process (protocol.md §0.1): one still active never
            # got its outcome (the executor died around it).
            for other in [k for k in self._prompts if k != prompt_id]:
                self._finish(self._prompts[other], "error", "no_outcome", "", (), t_us, out)
            p = self._activate(prompt_id)
            if p is not None:
                p.start_us = t_us
                p.fill = p.fill or fill
                if device:
                    p.info.device = device
                self.running = prompt_id
        self._emit(out)

    def execution_cached(self, prompt_id, node_ids, t_us):
        out = []
        with self._lock:
            p = self._activate(prompt_id)
            if p is not None and not p.finished:
                for nid in node_ids or ():
                    nid = str(nid)
                    p.cached.add(nid)
                    node = p.nodes.get(nid)
                    if node is not None:
                        self._emit_node(p, node, "cached", None, t_us, "", out)
        self._emit(out)

    def is_cached(self, prompt_id, node_id):
        with self._lock:
            p = self._prompts.get(prompt_id)
            return p is not None and node_id in p.cached

    def node_started(self, prompt_id, node_id, t_us, mono_ns):
        """Exact mode: ComfyUI entered `execute` for the node. A re-entry after PENDING (lazy
        inputs, async nodes, node expansion) keeps the first start. Returns whether the node is
        recorded."""
        with self._lock:
            p = self._activate(prompt_id)
            if p is None or p.finished or node_id not in p.nodes or node_id in p.recorded:
                return False
            if node_id in p.cached:
                return False
            p.open.setdefault(node_id, (t_us, mono_ns))
            self.running = prompt_id
            return True

    def node_finished(self, prompt_id, node_id, mono_ns, status, error_type=""):
        """Exact mode: `execute` returned SUCCESS or FAILURE for the node."""
        out = []
        with self._lock:
            p = self._prompts.get(prompt_id)
            if p is not None and node_id in p.open:
                start_us, start_ns = p.open.pop(node_id)
                dur_us = max(0, (mono_ns - start_ns) // 1000)
                self._emit_node(p, p.nodes[node_id], status, start_us, start_us + dur_us,
                                error_type, out)
        self._emit(out)

    def executing(self, prompt_id, node_id, t_us):
        """Degraded mode: an `executing{node}` message (node None: the terminal marker)."""
        out = []
        with self._lock:
            p = self._activate(prompt_id)
            if p is None or p.finished:
                return
            if p.start_us is None:
                p.start_us = t_us
            self.running = prompt_id
            if p.observed_open is not None and p.observed_open[0] == node_id:
                return
            self._close_observed(p, t_us, "success", "", out)
            if node_id is not None:
                p.observed_open = (str(node_id), t_us)
        self._emit(out)

    def finish(self, prompt_id, status, error_type="", failed_node="", executed=(), t_us=None):
        """The terminal outcome: execution_success | execution_error | execution_interrupted."""
        out = []
        with self._lock:
            p = self._activate(prompt_id)
            if p is not None:
                self._finish(p, status, error_type, str(failed_node or ""), executed,
                             t_us if t_us is not None else now_us(), out)
        self._emit(out)

    # ---- internals (lock held) ------------------------------------------------------------------

    def _base(self, p):
        r = {"source": self._source, "capture": self._capture}
        if self._tenant:
            r["tenant"] = self._tenant
        for key, value in (("user", p.info.user), ("workflow", p.info.workflow_name),
                           ("workflow_hash", p.info.workflow_hash)):
            if value:
                r[key] = value
        return r

    def _emit_node(self, p, node, status, start_us, end_us, error_type, out):
        if node.node_id in p.recorded:
            return
        p.recorded.add(node.node_id)
        r = self._base(p)
        r["id"] = node_record_id(p.info.prompt_id, node.node_id)
        r["gen_ai.operation.name"] = "comfyui.node"
        r["node_id"] = node.node_id
        r["node_type"] = node.class_type
        for key, value in (("task_type", node.task_type), ("gen_ai.request.model", node.model),
                           ("input.hash", node.input_hash), ("device", p.info.device)):
            if value:
                r[key] = value
        for key, value in (("input.width", node.width), ("input.height", node.height),
                           ("input.batch", node.batch),
                           ("input.model_input_size", node.model_input_size)):
            if value is not None:
                r[key] = value
        r["time"] = format_time(end_us)
        if start_us is not None:
            start_us = min(start_us, end_us)
            r["start_time"] = format_time(start_us)
            r["duration_ms"] = (end_us - start_us) // 1000
        r["status"] = status
        if error_type:
            r["error.type"] = error_type
        out.append((r, p.info.hold))

    def _close_observed(self, p, t_us, status, error_type, out):
        if p.observed_open is None:
            return
        nid, start = p.observed_open
        p.observed_open = None
        node = p.nodes.get(nid)
        if node is not None:
            self._emit_node(p, node, status, start, t_us, error_type, out)

    def _finish(self, p, status, error_type, failed_node, executed, t_us, out):
        if p.finished:
            return
        failed = status != "success"
        # Exact mode: nodes still open never completed (an async node when the prompt failed).
        mono = time.monotonic_ns()
        for nid in list(p.open):
            start_us, start_ns = p.open.pop(nid)
            dur_us = max(0, (mono - start_ns) // 1000)
            self._emit_node(p, p.nodes[nid], status if failed else "success", start_us,
                            start_us + dur_us, error_type if failed else "", out)
        if p.observed_open is not None:
            hit = failed and p.observed_open[0] == failed_node
            self._close_observed(p, t_us, status if hit else "success", error_type if hit else "",
                                 out)
        if p.fill:
            executed = {str(x) for x in executed or ()}
            for node in p.info.nodes:
                nid = node.node_id
                if nid in p.recorded or nid in p.cached:
                    continue
                if status == "success" or nid in executed:
                    self._emit_node(p, node, "success", None, t_us, "", out)
                elif nid == failed_node:
                    self._emit_node(p, node, status, None, t_us, error_type, out)
        r = self._base(p)
        r["id"] = prompt_record_id(p.info.prompt_id)
        r["gen_ai.operation.name"] = "comfyui.prompt"
        if p.info.task_type:
            r["task_type"] = p.info.task_type
        start = min(p.start_us if p.start_us is not None else p.info.submitted_us, t_us)
        r["time"] = format_time(t_us)
        r["start_time"] = format_time(start)
        r["duration_ms"] = (t_us - start) // 1000
        r["status"] = status
        if error_type:
            r["error.type"] = error_type
        out.append((r, p.info.hold))
        p.finished = True
        p.outcome = status
        del self._prompts[p.info.prompt_id]
        if self.running == p.info.prompt_id:
            self.running = ""
        self._finished[p.info.prompt_id] = status
        while len(self._finished) > _MAX_FINISHED:
            self._finished.popitem(last=False)

    def _emit(self, out):
        for record, hold in out:
            self._sink(record, hold)
