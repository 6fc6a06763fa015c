"""The ComfyUI side of the extension: where it hooks into the engine, and how it degrades.

Hooks (protocol.md §5; each installed only if what it needs exists, each call guarded):

| hook | how | gives |
| on-prompt handler | `PromptServer.instance.add_on_prompt_handler` | every POST /prompt body before validation: the workflow summary, input images (SHA-256, size), user; a `prompt_id` is chosen (uuid4, as ComfyUI would) when the body has none, so the records' ids are known |
| user header | an aiohttp middleware appended to `PromptServer.instance.app.middlewares` | the configured request header (default `comfy-user`) of the POST /prompt being handled, through a context variable |
| node timing | `execution.execute` (ComfyUI's per-node step) wrapped | exact start and end of each recorded node run on a monotonic clock; FAILURE results give error / interrupted with the exception type |
| prompt status | `execution.PromptExecutor.add_message` wrapped | execution_start, execution_cached, and the terminal execution_success / error / interrupted: the same messages history stores |
| fallback | `PromptServer.instance.send_sync` wrapped | when `execute` or `add_message` cannot be wrapped (or `node_hook = "messages"`): the WebSocket messages, timed on receipt like the gateway |

A prompt the on-prompt handler did not see (queued by other code) is summarised when it starts,
from `PromptServer.instance.prompt_queue.currently_running`.

Nothing here raises into ComfyUI: every hook body catches Exception, counts it
(`Extension.errors`) and logs it (rate-limited); wrapped ComfyUI functions always run and return
exactly what they returned before. The executing thread only appends records to a queue
(delivery.Deliverer).
"""

import atexit
import collections
import contextvars
import functools
import inspect
import logging
import os
import threading
import time
import uuid

from . import config as config_mod
from . import delivery
from . import image_probe
from . import recorder as recorder_mod
from . import workflow

log = logging.getLogger("tokenaudit.comfyui")

_WRAPPED = "__tokenaudit_wrapped__"
_MAX_IMAGE_CACHE = 1024
_MAX_SKIPPED = 10000
_TERMINAL = ("execution_success", "execution_error", "execution_interrupted")


def full_type_name(klass):
    """ComfyUI's `full_type_name`: the exception type as execution_error reports it."""
    module = getattr(klass, "__module__", "builtins")
    name = getattr(klass, "__qualname__", getattr(klass, "__name__", "Exception"))
    return name if module == "builtins" else module + "." + name


def _ids(value):
    """A list of node ids from a message field (a list in every ComfyUI message)."""
    return [str(v) for v in value] if isinstance(value, (list, tuple, set)) else []


def _is_interrupt(ex):
    return ex is not None and any(
        c.__name__ == "InterruptProcessingException" for c in type(ex).__mro__)


class Extension:
    def __init__(self, cfg, deliverer, catalog=None):
        self.cfg = cfg
        self.catalog = catalog or workflow.NodeCatalog()
        self.deliverer = deliverer
        self.recorder = recorder_mod.Recorder(cfg["source"], self._sink, tenant=cfg["tenant"])
        self.errors = 0
        self.hooks = []          # names of the hooks installed
        self.node_timing = ""    # "execute" (exact) or "messages" (receipt times)
        self._lock = threading.Lock()
        self._last_log = {}
        self._user = contextvars.ContextVar("tokenaudit_user", default=None)
        self._images = collections.OrderedDict()
        self._skipped = collections.OrderedDict()
        self._device = None
        self._server = None
        self._observe_status = False
        self._observe_nodes = False
        self._closed = False

    # ---- failure containment --------------------------------------------------------------------

    def _failed(self, where):
        with self._lock:
            self.errors += 1
            now = time.monotonic()
            first = now - self._last_log.get(where, -1e9) >= 60
            if first:
                self._last_log[where] = now
        if first:
            log.exception("tokenaudit: %s failed (the workflow is not affected)", where)

    def _sink(self, record, hold):
        try:
            self.deliverer.submit(record, hold=hold and self.cfg["gateway_prompts"] == "backstop")
        except Exception:  # one bad record must not cost the others of the same event
            self._failed("queueing a record")

    # ---- install --------------------------------------------------------------------------------

    def install(self, server_module=None, execution_module=None):
        """Installs every hook that can be installed; returns their names."""
        try:
            if server_module is None:
                import server as server_module
            self._server = server_module.PromptServer.instance
        except Exception:
            self._failed("finding PromptServer.instance")
        if execution_module is None:
            try:
                import execution as execution_module
            except Exception:
                self._failed("importing execution")
        srv = self._server

        def attempt(what, fn):
            try:
                return fn()
            except Exception:
                self._failed(what)
                return False

        if srv is not None and callable(getattr(srv, "add_on_prompt_handler", None)):
            if attempt("adding the on-prompt handler",
                       lambda: srv.add_on_prompt_handler(self.on_prompt) or True):
                self.hooks.append("on_prompt")
        if srv is not None and self.cfg["user_header"]:
            if attempt("adding the user-header middleware",
                       lambda: srv.app.middlewares.append(self._make_middleware()) or True):
                self.hooks.append("user_header")
        if self.cfg["node_hook"] in ("auto", "execute") and execution_module is not None:
            if attempt("wrapping execution.execute",
                       lambda: self._wrap_execute(execution_module)):
                self.hooks.append("execute")
                self.node_timing = "execute"
        if execution_module is not None and attempt(
                "wrapping PromptExecutor.add_message",
                lambda: self._wrap_add_message(execution_module)):
            self.hooks.append("add_message")
        else:
            self._observe_status = True
        if not self.node_timing:
            self._observe_nodes = True
            self.node_timing = "messages"
        if (self._observe_status or self._observe_nodes) and srv is not None:
            if attempt("wrapping send_sync", lambda: self._wrap_send_sync(srv)):
                self.hooks.append("send_sync")
        atexit.register(self.shutdown)
        log.info("tokenaudit: recording to %s (hooks: %s; node timing: %s)", self.cfg["url"],
                 ", ".join(self.hooks) or "none", self.node_timing)
        return list(self.hooks)

    def shutdown(self):
        if self._closed:
            return
        self._closed = True
        try:
            self.deliverer.close(self.cfg["shutdown_drain_ms"] / 1000.0)
        except Exception:
            self._failed("shutdown")

    def _make_middleware(self):
        header = self.cfg["user_header"]
        user_var = self._user
        ext = self

        async def tokenaudit_user_middleware(request, handler):
            token = None
            try:
                if request.method == "POST" and request.path.endswith("/prompt"):
                    value = request.headers.get(header)
                    if value:
                        token = user_var.set(value)
            except Exception:
                ext._failed("user-header middleware")
            try:
                return await handler(request)
            finally:
                if token is not None:
                    user_var.reset(token)

        tokenaudit_user_middleware.__middleware_version__ = 1  # aiohttp new-style middleware
        return tokenaudit_user_middleware

    def _wrap_execute(self, execution_module):
        orig = getattr(execution_module, "execute", None)
        if orig is None or not callable(orig):
            return False
        if getattr(orig, _WRAPPED, False):
            return True
        try:
            names = list(inspect.signature(orig).parameters)
        except (TypeError, ValueError):
            return False
        if "current_item" not in names or "prompt_id" not in names:
            log.warning("tokenaudit: execution.execute has an unknown signature; node timing "
                        "falls back to WebSocket messages")
            return False
        pos = {n: i for i, n in enumerate(names)}
        ext = self

        def arg(args, kwargs, name):
            if name in kwargs:
                return kwargs[name]
            i = pos[name]
            return args[i] if i < len(args) else None

        def before(args, kwargs):
            try:
                pid, nid = arg(args, kwargs, "prompt_id"), arg(args, kwargs, "current_item")
                if pid is None or nid is None:
                    return None
                pid, nid = str(pid), str(nid)
                if ext.recorder.node_started(pid, nid, recorder_mod.now_us(),
                                             time.monotonic_ns()):
                    return pid, nid
            except Exception:
                ext._failed("node start")
            return None

        def after(ctx, result, raised):
            if ctx is None:
                return
            try:
                mono = time.monotonic_ns()
                pid, nid = ctx
                if raised is not None:
                    if _is_interrupt(raised):
                        status, etype = "interrupted", "interrupted"
                    else:
                        status, etype = "error", full_type_name(type(raised))
                else:
                    outcome = result[0] if isinstance(result, tuple) and result else result
                    name = getattr(outcome, "name", str(outcome))
                    if name == "PENDING":
                        return  # lazy inputs, async work or node expansion: it comes back
                    if name == "SUCCESS":
                        status, etype = "success", ""
                    else:
                        details = result[1] if len(result) > 1 and isinstance(result[1],
                                                                                dict) else {}
                        ex = result[2] if len(result) > 2 else None
                        if _is_interrupt(ex):
                            status, etype = "interrupted", "interrupted"
                        else:
                            status = "error"
                            etype = (details.get("exception_type") or
                                     (full_type_name(type(ex)) if ex is not None else "") or
                                     "execution_error")
                ext.recorder.node_finished(pid, nid, mono, status, etype)
            except Exception:
                ext._failed("node end")

        if inspect.iscoroutinefunction(orig):
            @functools.wraps(orig)
            async def execute(*args, **kwargs):
                ctx = before(args, kwargs)
                try:
                    result = await orig(*args, **kwargs)
                except BaseException as e:
                    after(ctx, None, e)
                    raise
                after(ctx, result, None)
                return result
        else:
            @functools.wraps(orig)
            def execute(*args, **kwargs):
                ctx = before(args, kwargs)
                try:
                    result = orig(*args, **kwargs)
                except BaseException as e:
                    after(ctx, None, e)
                    raise
                after(ctx, result, None)
                return result
        setattr(execute, _WRAPPED, True)
        execution_module.execute = execute
        return True

    def _wrap_add_message(self, execution_module):
        cls = getattr(execution_module, "PromptExecutor", None)
        orig = getattr(cls, "add_message", None) if cls is not None else None
        if orig is None or not callable(orig):
            return False
        if getattr(orig, _WRAPPED, False):
            return True
        ext = self

        @functools.wraps(orig)
        def add_message(self_, event, data, *args, **kwargs):
            ext._on_status(event, data)
            return orig(self_, event, data, *args, **kwargs)

        setattr(add_message, _WRAPPED, True)
        cls.add_message = add_message
        return True

    def _wrap_send_sync(self, srv):
        orig = getattr(srv, "send_sync", None)
        if orig is None or getattr(orig, _WRAPPED, False):
            return orig is not None
        ext = self

        @functools.wraps(orig)
        def send_sync(event, data, *args, **kwargs):
            ext._on_message(event, data)
            return orig(event, data, *args, **kwargs)

        setattr(send_sync, _WRAPPED, True)
        srv.send_sync = send_sync
        return True

    # ---- intake ---------------------------------------------------------------------------------

    def on_prompt(self, json_data):
        """The on-prompt handler: records what the prompt is; always returns `json_data`."""
        try:
            self._on_prompt(json_data)
        except Exception:
            self._failed("on_prompt")
        return json_data

    def _on_prompt(self, body):
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), dict):
            return  # ComfyUI answers 400 no_prompt; nothing runs
        if body.get("prompt_id") is None:
            # What ComfyUI would do (server.py: str(json_data.get("prompt_id", uuid4()))), done
            # here so the prompt's records have their ids before it runs.
            body["prompt_id"] = str(uuid.uuid4())
        pid = str(body["prompt_id"])
        extra = body.get("extra_data") if isinstance(body.get("extra_data"), dict) else {}
        client_id = body.get("client_id") or extra.get("client_id") or ""
        user = self._user.get() or ""
        self._submit(pid, body["prompt"], extra, str(client_id), user)

    def _is_gateway(self, client_id):
        prefix = self.cfg["gateway_client_id_prefix"]
        return bool(prefix) and isinstance(client_id, str) and client_id.startswith(prefix)

    def _submit(self, pid, prompt, extra, client_id, header_user):
        gateway = self._is_gateway(client_id)
        if gateway and self.cfg["gateway_prompts"] == "skip":
            with self._lock:
                self._skipped[pid] = True
                while len(self._skipped) > _MAX_SKIPPED:
                    self._skipped.popitem(last=False)
            return
        user = header_user
        if not user:
            v = extra.get(self.cfg["user_extra_data_key"]) if self.cfg[
                "user_extra_data_key"] else None
            user = v if isinstance(v, str) else ""
        user = user or self.cfg["default_user"]
        name = extra.get(self.cfg["workflow_extra_data_key"]) if self.cfg[
            "workflow_extra_data_key"] else None
        # A prompt the summary cannot read is still recorded (its prompt record at least).
        nodes, task_type, whash = [], "", ""
        try:
            nodes, task_type = workflow.summarize(prompt, self.catalog, self._image_info,
                                                  self.cfg["record_unknown_nodes"])
        except Exception:
            self._failed("reading the workflow")
        try:
            whash = workflow.workflow_hash(prompt)
        except Exception:
            self._failed("hashing the workflow")
        info = recorder_mod.PromptInfo(pid, user=user,
                                       workflow_name=name if isinstance(name, str) else "",
                                       workflow_hash=whash, task_type=task_type, nodes=nodes,
                                       hold=gateway)
        self.recorder.submitted(info)

    def _image_info(self, name):
        """(sha256_hex, width, height) of the input image ComfyUI resolves `name` to, or None."""
        try:
            import folder_paths
            path = folder_paths.get_annotated_filepath(name)
            st = os.stat(path)
        except Exception:
            return None
        key = (path, st.st_size, st.st_mtime_ns)
        with self._lock:
            hit = self._images.get(key)
            if hit is not None:
                self._images.move_to_end(key)
                return hit
        try:
            info = image_probe.probe_file(path, self.cfg["max_hash_bytes"])
        except (OSError, image_probe.ProbeError):
            return None
        with self._lock:
            self._images[key] = info
            while len(self._images) > _MAX_IMAGE_CACHE:
                self._images.popitem(last=False)
        return info

    def _ensure_known(self, pid):
        """A prompt that started without passing the on-prompt handler: summarise it from the
        queue's running item (number, prompt_id, prompt, extra_data, outputs)."""
        if self.recorder.knows(pid):
            return
        with self._lock:
            if pid in self._skipped:
                return
        try:
            running = self._server.prompt_queue.currently_running
            items = list(running.values())
        except Exception:
            items = []
        for item in items:
            if isinstance(item, (tuple, list)) and len(item) > 3 and str(item[1]) == pid:
                extra = item[3] if isinstance(item[3], dict) else {}
                self._submit(pid, item[2], extra, str(extra.get("client_id") or ""), "")
                return
        self.recorder.submitted(recorder_mod.PromptInfo(pid))

    def _device_name(self):
        if self._device is None:
            try:
                import comfy.model_management as mm
                self._device = str(mm.get_torch_device())
            except Exception:
                self._device = ""
        return self._device

    # ---- execution ------------------------------------------------------------------------------

    def _on_status(self, event, data):
        try:
            if not isinstance(data, dict) or data.get("prompt_id") is None:
                return
            pid = str(data["prompt_id"])
            t = recorder_mod.now_us()
            if event == "execution_start":
                self._ensure_known(pid)
                device = self._device_name()
                self.recorder.execution_start(pid, t, fill=self.node_timing == "messages",
                                              device=device)
            elif event == "execution_cached":
                self.recorder.execution_cached(pid, _ids(data.get("nodes")), t)
            elif event == "execution_success":
                self.recorder.finish(pid, "success", t_us=t)
            elif event == "execution_error":
                self.recorder.finish(pid, "error",
                                     str(data.get("exception_type") or "execution_error"),
                                     data.get("node_id"), _ids(data.get("executed")), t)
            elif event == "execution_interrupted":
                self.recorder.finish(pid, "interrupted", "interrupted", data.get("node_id"),
                                     _ids(data.get("executed")), t)
        except Exception:
            self._failed("status " + str(event)[:40])

    def _on_message(self, event, data):
        try:
            if self._observe_status and (event in _TERMINAL or event in (
                    "execution_start", "execution_cached")):
                # execution_error with ExecutionBlocked has no timestamp and is not terminal.
                if event != "execution_error" or isinstance(data, dict) and "timestamp" in data:
                    self._on_status(event, data)
            elif self._observe_nodes and event == "executing" and isinstance(data, dict):
                pid = data.get("prompt_id")
                if pid is None:
                    return
                node = data.get("node")
                self.recorder.executing(str(pid), None if node is None else str(node),
                                        recorder_mod.now_us())
        except Exception:
            self._failed("message " + str(event)[:40])


def default_spool_dir():
    try:
        import folder_paths
        return os.path.join(folder_paths.get_user_directory(), "tokenaudit-spool")
    except Exception:
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), "spool")


def build(cfg, start_thread=True):
    """An Extension (not installed) with its Deliverer, from a configuration dict."""
    catalog = workflow.NodeCatalog.from_file(cfg["node_catalog"]) if cfg["node_catalog"] else None
    deliverer = delivery.Deliverer(
        cfg["url"], api_key=cfg["api_key"], spool_dir=cfg["spool_dir"] or default_spool_dir(),
        max_memory_bytes=cfg["max_memory_bytes"], max_spool_bytes=cfg["max_spool_bytes"],
        batch_records=cfg["batch_records"], flush_interval_s=cfg["flush_interval_ms"] / 1000.0,
        request_timeout_s=cfg["request_timeout_ms"] / 1000.0,
        max_backoff_s=cfg["max_backoff_ms"] / 1000.0,
        hold_s=float(cfg["gateway_backstop_delay_s"]), start=start_thread)
    return Extension(cfg, deliverer, catalog)


def start(environ=None):
    """Loads the configuration and installs the hooks; None when disabled."""
    cfg = config_mod.load(environ)
    if not cfg["enabled"]:
        log.info("tokenaudit: disabled by configuration")
        return None
    ext = build(cfg)
    ext.install()
    return ext
