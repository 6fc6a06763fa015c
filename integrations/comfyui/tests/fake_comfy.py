"""A minimal, faithful-where-it-matters fake of the ComfyUI modules the extension touches.

Installed into `sys.modules` as `server`, `execution`, `nodes`, `folder_paths`, `comfy`,
`comfy.model_management`, mirroring ComfyUI 0.3.6x (protocol.md, execution.py at a125cd8):

* `server.PromptServer`: `instance`, `add_on_prompt_handler` / `trigger_on_prompt` (handler
  exceptions logged and ignored), `app.middlewares`, `send_sync` (recorded), `prompt_queue` with
  `currently_running`, and `post_prompt(body, headers)` which runs the middlewares around the
  POST /prompt handler in an asyncio task, as aiohttp does.
* `execution.execute` (async, the 0.3.6x signature) and `PromptExecutor` (`add_message`,
  `execute` -> `execute_async`): execution_start, execution_cached (classic cache by input
  signature, LoadImage hashing its file), nodes in dependency order, the module-global `execute`
  looked up at call time (so a wrapper is used), FAILURE tuples for exceptions and
  InterruptProcessingException, execution_success / error / interrupted, `executing{node: None}`.
* nodes: LoadImage, DDColor_Colorize (sleeps `DDColor_Colorize.delay_s`, fails when
  `DDColor_Colorize.fail_with` is set), AuditProbeSlow (steps × delay with interrupt checks,
  unknown to the catalog), SaveImage, PreviewImage.
"""

import asyncio
import enum
import hashlib
import logging
import os
import sys
import threading
import time
import types
import uuid


class InterruptProcessingException(Exception):
    pass


def install(input_dir, user_dir):
    """Creates the fake modules (fresh state) and returns them as a namespace."""
    mm = types.ModuleType("comfy.model_management")
    mm.InterruptProcessingException = InterruptProcessingException
    mm.interrupt_flag = threading.Event()

    def interrupt_current_processing(value=True):
        if value:
            mm.interrupt_flag.set()
        else:
            mm.interrupt_flag.clear()

    def throw_exception_if_processing_interrupted():
        if mm.interrupt_flag.is_set():
            mm.interrupt_flag.clear()
            raise InterruptProcessingException()

    mm.interrupt_current_processing = interrupt_current_processing
    mm.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted
    mm.get_torch_device = lambda: "cpu"
    comfy = types.ModuleType("comfy")
    comfy.model_management = mm

    fp = types.ModuleType("folder_paths")
    fp.get_input_directory = lambda: input_dir
    fp.get_user_directory = lambda: user_dir

    def get_annotated_filepath(name, default_dir=None):
        for suffix, base in ((" [input]", input_dir), (" [output]", input_dir),
                             (" [temp]", input_dir)):
            if name.endswith(suffix):
                return os.path.join(base, name[:-len(suffix)])
        return os.path.join(default_dir or input_dir, name)

    fp.get_annotated_filepath = get_annotated_filepath

    nodes = types.ModuleType("nodes")

    def before_node_execution():
        throw_exception_if_processing_interrupted()

    nodes.before_node_execution = before_node_execution

    class LoadImage:
        RETURN_TYPES = ("IMAGE", "MASK")
        FUNCTION = "load_image"

        def load_image(self, image):
            with open(get_annotated_filepath(image), "rb") as f:
                return ({"image_bytes": len(f.read())}, None)

    class DDColor_Colorize:
        RETURN_TYPES = ("IMAGE",)
        FUNCTION = "process"
        delay_s = 0.0
        fail_with = None
        runs = 0

        def process(self, image, model_input_size, checkpoint):
            type(self).runs += 1
            time.sleep(type(self).delay_s)  # like the kijai node: no progress, no interrupt check
            if type(self).fail_with is not None:
                raise type(self).fail_with
            return (image,)

    class AuditProbeSlow:
        RETURN_TYPES = ("IMAGE",)
        FUNCTION = "run"

        def run(self, image, steps, delay_ms, fail=False):
            for i in range(steps):
                throw_exception_if_processing_interrupted()
                if fail and i == steps // 2:
                    raise ValueError("audit_probe: forced failure at step %d of %d" % (i, steps))
                time.sleep(delay_ms / 1000.0)
            return (image,)

    class SaveImage:
        RETURN_TYPES = ()
        FUNCTION = "save"
        OUTPUT_NODE = True

        def save(self, images, filename_prefix="ComfyUI"):
            return {"ui": {"images": [{"filename": filename_prefix + "_00001_.png",
                                       "subfolder": "", "type": "output"}]}}

    class PreviewImage(SaveImage):
        def save(self, images):
            return {"ui": {"images": [{"filename": "preview.png", "subfolder": "",
                                       "type": "temp"}]}}

    nodes.NODE_CLASS_MAPPINGS = {c.__name__: c for c in (
        LoadImage, DDColor_Colorize, AuditProbeSlow, SaveImage, PreviewImage)}

    execution = types.ModuleType("execution")

    class ExecutionResult(enum.Enum):
        SUCCESS = 0
        FAILURE = 1
        PENDING = 2

    execution.ExecutionResult = ExecutionResult

    def full_type_name(klass):
        module = klass.__module__
        return klass.__qualname__ if module == "builtins" else module + "." + klass.__qualname__

    class DynamicPrompt:
        def __init__(self, prompt):
            self.prompt = prompt

        def get_node(self, node_id):
            return self.prompt[node_id]

        def get_display_node_id(self, node_id):
            return node_id

    def is_link(v):
        return isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)

    async def execute(server, dynprompt, caches, current_item, extra_data, executed, prompt_id,
                      execution_list, pending_subgraph_results, pending_async_nodes, ui_outputs):
        unique_id = current_item
        node = dynprompt.get_node(unique_id)
        class_def = nodes.NODE_CLASS_MAPPINGS[node["class_type"]]
        sig = caches["signature"][unique_id]
        if sig in caches["outputs"]:
            caches["values"][unique_id] = caches["outputs"][sig]
            return (ExecutionResult.SUCCESS, None, None)
        try:
            inputs = {}
            for k, v in node["inputs"].items():
                inputs[k] = caches["values"][v[0]][v[1]] if is_link(v) else v
            if server.client_id is not None:
                server.send_sync("executing", {"node": unique_id, "display_node": unique_id,
                                               "prompt_id": prompt_id}, server.client_id)
            before_node_execution()
            out = getattr(class_def(), class_def.FUNCTION)(**inputs)
            if isinstance(out, dict):
                if server.client_id is not None and "ui" in out:
                    server.send_sync("executed", {"node": unique_id, "display_node": unique_id,
                                                  "output": out["ui"], "prompt_id": prompt_id},
                                     server.client_id)
                out = ()
            caches["values"][unique_id] = out
            caches["outputs"][sig] = out
        except InterruptProcessingException as iex:
            return (ExecutionResult.FAILURE, {"node_id": unique_id}, iex)
        except Exception as ex:
            return (ExecutionResult.FAILURE, {
                "node_id": unique_id, "exception_message": str(ex),
                "exception_type": full_type_name(type(ex)), "traceback": [],
                "current_inputs": {}}, ex)
        executed.add(unique_id)
        return (ExecutionResult.SUCCESS, None, None)

    execution.execute = execute

    class PromptExecutor:
        def __init__(self, server):
            self.server = server
            self.caches = {"outputs": {}}
            self.status_messages = []
            self.success = True

        def add_message(self, event, data, broadcast):
            data = {**data, "timestamp": int(time.time() * 1000)}
            self.status_messages.append((event, data))
            if self.server.client_id is not None or broadcast:
                self.server.send_sync(event, data, self.server.client_id)

        def handle_execution_error(self, prompt_id, prompt, executed, error, ex):
            node_id = error["node_id"]
            mes = {"prompt_id": prompt_id, "node_id": node_id,
                   "node_type": prompt[node_id]["class_type"], "executed": list(executed)}
            if isinstance(ex, InterruptProcessingException):
                self.add_message("execution_interrupted", mes, broadcast=True)
            else:
                mes.update(exception_message=error["exception_message"],
                           exception_type=error["exception_type"], traceback=[],
                           current_inputs={}, current_outputs=[])
                self.add_message("execution_error", mes, broadcast=False)

        def execute(self, prompt, prompt_id, extra_data={}, execute_outputs=[]):
            asyncio.run(self.execute_async(prompt, prompt_id, extra_data, execute_outputs))

        def _signature(self, prompt, node_id, memo):
            if node_id in memo:
                return memo[node_id]
            node = prompt[node_id]
            parts = [node["class_type"]]
            for k in sorted(node["inputs"]):
                v = node["inputs"][k]
                parts.append((k, ("link", self._signature(prompt, v[0], memo), v[1])
                              if is_link(v) else repr(v)))
            if node["class_type"] == "LoadImage":  # IS_CHANGED hashes the file
                with open(get_annotated_filepath(node["inputs"]["image"]), "rb") as f:
                    parts.append(hashlib.sha256(f.read()).hexdigest())
            if node["class_type"] == "AuditProbeSlow":
                parts.append(node_id + str(uuid.uuid4()))  # never cached
            memo[node_id] = tuple(parts)
            return memo[node_id]

        def _order(self, prompt, outputs):
            order, seen = [], set()

            def visit(nid):
                if nid in seen:
                    return
                seen.add(nid)
                for v in prompt[nid]["inputs"].values():
                    if is_link(v):
                        visit(v[0])
                order.append(nid)

            for nid in outputs:
                visit(nid)
            return order

        async def execute_async(self, prompt, prompt_id, extra_data={}, execute_outputs=[]):
            self.server.client_id = extra_data.get("client_id")
            self.status_messages = []
            self.add_message("execution_start", {"prompt_id": prompt_id}, broadcast=False)
            memo = {}
            signature = {nid: self._signature(prompt, nid, memo) for nid in prompt}
            cached = [nid for nid in prompt if signature[nid] in self.caches["outputs"]]
            self.add_message("execution_cached", {"nodes": cached, "prompt_id": prompt_id},
                             broadcast=False)
            caches = {"outputs": self.caches["outputs"], "signature": signature, "values": {}}
            dyn = DynamicPrompt(prompt)
            executed = set()
            outputs = execute_outputs or [nid for nid, n in prompt.items() if getattr(
                nodes.NODE_CLASS_MAPPINGS[n["class_type"]], "OUTPUT_NODE", False)]
            ok = True
            for nid in self._order(prompt, outputs):
                # The module global, looked up at call time, as in execution.py.
                result, error, ex = await execution.execute(
                    self.server, dyn, caches, nid, extra_data, executed, prompt_id, None, {}, {},
                    {})
                if result == ExecutionResult.FAILURE:
                    self.handle_execution_error(prompt_id, prompt, executed, error, ex)
                    ok = False
                    break
            if ok:
                self.add_message("execution_success", {"prompt_id": prompt_id}, broadcast=False)
            self.success = ok
            self.server.send_sync("executing", {"node": None, "prompt_id": prompt_id},
                                  self.server.client_id)

    execution.PromptExecutor = PromptExecutor

    server = types.ModuleType("server")

    class PromptQueue:
        def __init__(self):
            self.queue = []
            self.currently_running = {}
            self.task_counter = 0
            self.lock = threading.Lock()

        def put(self, item):
            with self.lock:
                self.queue.append(item)

        def get(self):
            with self.lock:
                item = self.queue.pop(0)
                self.task_counter += 1
                self.currently_running[self.task_counter] = item
                return item, self.task_counter

        def task_done(self, task_id):
            with self.lock:
                self.currently_running.pop(task_id, None)

    class App:
        def __init__(self):
            self.middlewares = []

    class Request:
        def __init__(self, method, path, headers):
            self.method, self.path, self.headers = method, path, dict(headers or {})

    class PromptServer:
        instance = None

        def __init__(self):
            PromptServer.instance = self
            self.on_prompt_handlers = []
            self.app = App()
            self.client_id = None
            self.messages = []
            self.prompt_queue = PromptQueue()
            self.number = 0
            self.executor = PromptExecutor(self)

        def add_on_prompt_handler(self, handler):
            self.on_prompt_handlers.append(handler)

        def trigger_on_prompt(self, json_data):
            for handler in self.on_prompt_handlers:
                try:
                    json_data = handler(json_data)
                except Exception:
                    logging.warning("[ERROR] An error occurred during the on_prompt_handler "
                                    "processing", exc_info=True)
            return json_data

        def send_sync(self, event, data, sid=None):
            self.messages.append((event, data, sid))

        def post_prompt(self, body, headers=None, path="/prompt"):
            """POST /prompt through the middlewares; returns (status, json)."""
            async def handler(request):
                json_data = self.trigger_on_prompt(body)
                if "prompt" not in json_data:
                    return 400, {"error": {"type": "no_prompt"}, "node_errors": {}}
                number = self.number
                self.number += 1
                prompt = json_data["prompt"]
                for n in prompt.values():
                    if n.get("class_type") not in nodes.NODE_CLASS_MAPPINGS:
                        return 400, {"error": {"type": "invalid_prompt"}, "node_errors": {}}
                extra_data = dict(json_data.get("extra_data") or {})
                if "client_id" in json_data:
                    extra_data["client_id"] = json_data["client_id"]
                prompt_id = str(json_data.get("prompt_id", uuid.uuid4()))
                self.prompt_queue.put((number, prompt_id, prompt, extra_data, []))
                return 200, {"prompt_id": prompt_id, "number": number, "node_errors": {}}

            async def run():
                h = handler
                for mw in reversed(self.app.middlewares):
                    h = (lambda m, inner: (lambda req: m(req, inner)))(mw, h)
                return await h(Request("POST", path, headers))

            return asyncio.run(run())

        def run_next(self):
            """main.py prompt_worker, one item: on the calling thread."""
            item, task_id = self.prompt_queue.get()
            try:
                self.executor.execute(item[2], item[1], item[3], item[4])
            finally:
                self.prompt_queue.task_done(task_id)

    server.PromptServer = PromptServer
    server.PromptQueue = PromptQueue

    for name, mod in (("server", server), ("execution", execution), ("nodes", nodes),
                      ("folder_paths", fp), ("comfy", comfy), ("comfy.model_management", mm)):
        sys.modules[name] = mod
    PromptServer()
    return types.SimpleNamespace(server=server, execution=execution, nodes=nodes,
                                 folder_paths=fp, mm=mm, instance=PromptServer.instance,
                                 DDColor=DDColor_Colorize)
