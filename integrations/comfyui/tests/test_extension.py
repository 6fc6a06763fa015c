"""The extension inside a fake ComfyUI (fake_comfy.py), delivering to a fake ingest API."""

import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fake_comfy  # noqa: E402
from support import FakeIngest, free_port, load_package, make_png  # noqa: E402

PKG = load_package()


def ddcolor_prompt(image="old_photo.png", size=512, ckpt="ddcolor_paper_tiny.pth"):
    """protocol.md §4.2 (API format)."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image},
              "_meta": {"title": "Load Image"}},
        "2": {"class_type": "DDColor_Colorize",
              "inputs": {"image": ["1", 0], "model_input_size": size, "checkpoint": ckpt}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0],
                                                    "filename_prefix": "colorized"}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


class ExtensionTestBase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ta_comfy_")
        self.input_dir = os.path.join(self.tmp, "input")
        os.makedirs(self.input_dir)
        self.png = make_png(460, 680)
        with open(os.path.join(self.input_dir, "old_photo.png"), "wb") as f:
            f.write(self.png)
        self.fake = fake_comfy.install(self.input_dir, os.path.join(self.tmp, "user"))
        self.fake.DDColor.delay_s = 0.0
        self.fake.DDColor.fail_with = None
        self.ingest = None
        self.exts = []

    def tearDown(self):
        for ext in self.exts:
            ext.shutdown()
        if self.ingest is not None:
            self.ingest.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_ingest(self, **kw):
        self.ingest = FakeIngest(**kw)
        return self.ingest

    def make_ext(self, url=None, **overrides):
        cfg = dict(PKG.config.DEFAULTS)
        cfg.update(url=url or self.ingest.url, spool_dir=os.path.join(self.tmp, "spool"),
                   flush_interval_ms=20, max_backoff_ms=200, request_timeout_ms=5000)
        cfg.update(overrides)
        ext = PKG.hooks.build(cfg)
        ext.install(server_module=self.fake.server, execution_module=self.fake.execution)
        self.exts.append(ext)
        return ext

    def run_prompt(self, prompt=None, headers=None, client_id="ui-1", extra=None,
                   prompt_id=None):
        body = {"prompt": prompt or ddcolor_prompt(), "client_id": client_id}
        if extra is not None:
            body["extra_data"] = extra
        if prompt_id is not None:
            body["prompt_id"] = prompt_id
        status, answer = self.fake.instance.post_prompt(body, headers)
        self.assertEqual(status, 200, answer)
        self.fake.instance.run_next()
        return answer["prompt_id"]

    def flush(self, ext):
        self.assertTrue(ext.deliverer.flush(10, include_held=True), ext.deliverer.stats())


class RecordsTest(ExtensionTestBase):
    def test_prompt_and_model_node_are_recorded_with_gateway_ids_and_fields(self):
        self.start_ingest()
        ext = self.make_ext(tenant="city-archive")
        self.assertEqual(ext.hooks, ["on_prompt", "user_header", "execute", "add_message"])
        pid = self.run_prompt(headers={"comfy-user": "alice"},
                              extra={"tokenaudit_workflow": "DDColor portrait"})
        self.flush(ext)
        self.assertEqual(self.ingest.ids(), sorted([pid + "/2", pid + "/prompt"]))
        node = self.ingest.by_id(pid + "/2")
        self.assertEqual(node["status"], "success")
        self.assertEqual(node["node_type"], "DDColor_Colorize")
        self.assertEqual(node["node_id"], "2")
        self.assertEqual(node["gen_ai.operation.name"], "comfyui.node")
        self.assertEqual(node["gen_ai.request.model"], "ddcolor_paper_tiny")
        self.assertEqual(node["task_type"], "image_colorization")
        self.assertEqual((node["input.width"], node["input.height"]), (460, 680))
        self.assertEqual(node["input.batch"], 1)
        self.assertEqual(node["input.model_input_size"], 512)
        self.assertEqual(node["input.hash"], "sha256:" + hashlib.sha256(self.png).hexdigest())
        self.assertEqual(node["user"], "alice")
        self.assertEqual(node["tenant"], "city-archive")
        self.assertEqual(node["source"], "comfyui-gateway")
        self.assertEqual(node["capture"], "extension")
        self.assertEqual(node["device"], "cpu")
        self.assertEqual(node["workflow"], "DDColor portrait")
        self.assertEqual(node["workflow_hash"], PKG.workflow.workflow_hash(ddcolor_prompt()))
        prompt = self.ingest.by_id(pid + "/prompt")
        self.assertEqual(prompt["gen_ai.operation.name"], "comfyui.prompt")
        self.assertEqual(prompt["status"], "success")
        self.assertEqual(prompt["task_type"], "image_colorization")
        self.assertNotIn("node_id", prompt)
        self.assertNotIn("input.width", prompt)  # token sums over node records are not doubled
        self.assertLessEqual(prompt["start_time"], node["start_time"])
        self.assertGreaterEqual(prompt["time"], node["time"])
        self.assertEqual(ext.errors, 0)

    def test_prompt_id_is_chosen_before_comfyui_and_honoured(self):
        self.start_ingest()
        self.make_ext()
        body = {"prompt": ddcolor_prompt()}
        status, answer = self.fake.instance.post_prompt(body)
        self.assertEqual(status, 200)
        self.assertEqual(answer["prompt_id"], body["prompt_id"])  # the handler's uuid4
        # A client-chosen id is kept as it is.
        status, answer = self.fake.instance.post_prompt({"prompt": ddcolor_prompt(),
                                                         "prompt_id": "gw-0001"})
        self.assertEqual(answer["prompt_id"], "gw-0001")

    def test_user_comes_from_extra_data_without_header_then_default(self):
        self.start_ingest()
        ext = self.make_ext(default_user="nobody")
        a = self.run_prompt(extra={"tokenaudit_user": "bob"})
        b = self.run_prompt(prompt=ddcolor_prompt(size=256))
        self.flush(ext)
        self.assertEqual(self.ingest.by_id(a + "/2")["user"], "bob")
        self.assertEqual(self.ingest.by_id(b + "/2")["user"], "nobody")

    def test_model_node_timing_covers_the_node_run(self):
        self.start_ingest()
        ext = self.make_ext()
        self.fake.DDColor.delay_s = 0.3
        pid = self.run_prompt()
        self.flush(ext)
        node = self.ingest.by_id(pid + "/2")
        self.assertGreaterEqual(node["duration_ms"], 300)
        self.assertLess(node["duration_ms"], 30000)
        # Only the model node and the prompt: LoadImage/SaveImage/PreviewImage are known
        # non-model nodes (as in the gateway).
        self.assertEqual(len(self.ingest.ids()), 2)

    def test_cached_rerun_records_cached_without_duration(self):
        self.start_ingest()
        ext = self.make_ext()
        first = self.run_prompt()
        runs = self.fake.DDColor.runs
        second = self.run_prompt()
        self.assertEqual(self.fake.DDColor.runs, runs)  # really served from the cache
        self.flush(ext)
        node = self.ingest.by_id(second + "/2")
        self.assertEqual(node["status"], "cached")
        self.assertNotIn("duration_ms", node)
        self.assertNotIn("start_time", node)
        self.assertEqual(self.ingest.by_id(second + "/prompt")["status"], "success")
        self.assertEqual(self.ingest.by_id(first + "/2")["status"], "success")

    def test_node_error_records_the_exception_type(self):
        self.start_ingest()
        ext = self.make_ext()
        self.fake.DDColor.fail_with = FileNotFoundError("Checkpoint load failed.")
        pid = self.run_prompt()
        self.flush(ext)
        node = self.ingest.by_id(pid + "/2")
        self.assertEqual((node["status"], node["error.type"]), ("error", "FileNotFoundError"))
        self.assertIn("duration_ms", node)
        prompt = self.ingest.by_id(pid + "/prompt")
        self.assertEqual((prompt["status"], prompt["error.type"]), ("error", "FileNotFoundError"))

    def test_interrupt_records_interrupted(self):
        self.start_ingest()
        ext = self.make_ext()
        prompt = ddcolor_prompt()
        prompt["5"] = {"class_type": "AuditProbeSlow",
                       "inputs": {"image": ["2", 0], "steps": 200, "delay_ms": 10}}
        prompt["3"]["inputs"]["images"] = ["5", 0]
        worker = threading.Thread(target=self.run_prompt, kwargs={"prompt": prompt})
        worker.start()
        self.assertTrue(wait_for(lambda: any(
            e == "executing" and d.get("node") == "5"
            for e, d, _ in list(self.fake.instance.messages))))
        time.sleep(0.05)
        self.fake.mm.interrupt_current_processing(True)
        worker.join(10)
        self.assertFalse(worker.is_alive())
        self.flush(ext)
        pid = self.fake.instance.messages[-1][1]["prompt_id"]
        probe = self.ingest.by_id(pid + "/5")  # unknown to the catalog: recorded, not guessed
        self.assertEqual((probe["status"], probe["error.type"]), ("interrupted", "interrupted"))
        self.assertEqual(probe["node_type"], "AuditProbeSlow")
        self.assertNotIn("gen_ai.request.model", probe)
        self.assertEqual(self.ingest.by_id(pid + "/2")["status"], "success")
        prompt_rec = self.ingest.by_id(pid + "/prompt")
        self.assertEqual((prompt_rec["status"], prompt_rec["error.type"]),
                         ("interrupted", "interrupted"))

    def test_prompt_queued_without_the_handler_is_recorded_at_its_start(self):
        self.start_ingest()
        ext = self.make_ext()
        self.fake.instance.prompt_queue.put(
            (0, "direct-1", ddcolor_prompt(), {"client_id": "x", "tokenaudit_user": "carol"},
             []))
        self.fake.instance.run_next()
        self.flush(ext)
        self.assertEqual(self.ingest.ids(), ["direct-1/2", "direct-1/prompt"])
        self.assertEqual(self.ingest.by_id("direct-1/2")["user"], "carol")
        self.assertEqual(self.ingest.by_id("direct-1/2")["input.width"], 460)

    def test_message_observation_when_execute_cannot_be_wrapped(self):
        self.start_ingest()
        inner = self.fake.execution.execute

        async def execute(*args):  # an engine whose per-node step has an unknown signature
            return await inner(*args)

        self.fake.execution.execute = execute
        ext = self.make_ext()
        self.assertEqual(ext.node_timing, "messages")
        self.assertNotIn("execute", ext.hooks)
        self.assertIn("send_sync", ext.hooks)
        self.fake.DDColor.delay_s = 0.1
        pid = self.run_prompt()
        self.flush(ext)
        node = self.ingest.by_id(pid + "/2")
        self.assertEqual(node["status"], "success")
        self.assertGreaterEqual(node["duration_ms"], 90)  # receipt-to-receipt, like the gateway
        self.assertEqual(self.ingest.ids(), sorted([pid + "/2", pid + "/prompt"]))

    def test_node_hook_messages_mode_records_the_same_ids(self):
        self.start_ingest()
        ext = self.make_ext(node_hook="messages")
        self.assertNotIn("execute", ext.hooks)
        pid = self.run_prompt()
        self.flush(ext)
        self.assertEqual(self.ingest.ids(), sorted([pid + "/2", pid + "/prompt"]))


class GatewayPromptsTest(ExtensionTestBase):
    def test_backstop_holds_gateway_prompts_then_sends_the_same_ids(self):
        self.start_ingest()
        ext = self.make_ext(gateway_backstop_delay_s=3600)
        pid = self.run_prompt(client_id="tokenaudit-gw-abc", prompt_id="gwprompt-1")
        self.assertTrue(ext.deliverer.flush(5))  # held records are not due yet
        self.assertEqual(self.ingest.ids(), [])
        # The gateway's own record of the node lands first (same tenant, source and id).
        self.ingest.records[("default", "comfyui-gateway", pid + "/2")] = {"capture": "gateway"}
        self.flush(ext)
        self.assertEqual(self.ingest.ids(), sorted([pid + "/2", pid + "/prompt"]))
        self.assertEqual(self.ingest.by_id(pid + "/2")["capture"], "gateway")  # stored once
        self.assertEqual(ext.deliverer.stats()["duplicates"], 1)

    def test_skip_leaves_gateway_prompts_to_the_gateway(self):
        self.start_ingest()
        ext = self.make_ext(gateway_prompts="skip")
        self.run_prompt(client_id="tokenaudit-gw-abc")
        other = self.run_prompt(client_id="ui-2", prompt=ddcolor_prompt(size=256))
        self.flush(ext)
        self.assertEqual(self.ingest.ids(), sorted([other + "/2", other + "/prompt"]))


class FailureIsolationTest(ExtensionTestBase):
    def test_ingest_down_spools_then_delivers_the_same_ids_once(self):
        port = free_port()
        ext = self.make_ext(url="http://127.0.0.1:%d" % port)
        pids = [self.run_prompt(), self.run_prompt(prompt=ddcolor_prompt(size=256))]
        expected = sorted(p + s for p in pids for s in ("/2", "/prompt"))
        self.assertTrue(wait_for(lambda: ext.deliverer.stats().get("spooled", 0) >= 4),
                        ext.deliverer.stats())
        spool = os.path.join(self.tmp, "spool")
        self.assertTrue(any(n.endswith(".ndjson") for n in os.listdir(spool)))
        self.ingest = FakeIngest(port=port)
        self.flush(ext)
        self.assertEqual(self.ingest.ids(), expected)
        self.assertEqual(len(self.ingest.records), 4)
        self.assertFalse(any(n.endswith(".ndjson") for n in os.listdir(spool)))

    def test_spool_survives_a_restart_and_a_replay_adds_nothing(self):
        port = free_port()
        ext = self.make_ext(url="http://127.0.0.1:%d" % port)
        pid = self.run_prompt()
        ext.shutdown()  # server still down: everything goes to the spool
        spool = os.path.join(self.tmp, "spool")
        files = [n for n in os.listdir(spool) if n.endswith(".ndjson")]
        self.assertTrue(files)
        saved = {}
        for n in files:
            with open(os.path.join(spool, n), "rb") as f:
                saved[n] = f.read()
        self.ingest = FakeIngest(port=port)
        d = PKG.delivery.Deliverer(self.ingest.url, spool_dir=spool, flush_interval_s=0.02)
        self.assertTrue(d.flush(10), d.stats())
        self.assertEqual(self.ingest.ids(), sorted([pid + "/2", pid + "/prompt"]))
        d.close()
        # A crash between the acknowledgement and the deletion: the same files again.
        for n, data in saved.items():
            with open(os.path.join(spool, n), "wb") as f:
                f.write(data)
        d = PKG.delivery.Deliverer(self.ingest.url, spool_dir=spool, flush_interval_s=0.02)
        self.assertTrue(d.flush(10))
        self.assertEqual(d.stats()["duplicates"], 2)
        self.assertEqual(len(self.ingest.records), 2)
        d.close()

    def test_hung_ingest_never_blocks_the_executing_thread(self):
        self.start_ingest(mode="hang")
        ext = self.make_ext(request_timeout_ms=60000)
        done = []

        def work():
            for size in (256, 512, 1024):
                done.append(self.run_prompt(prompt=ddcolor_prompt(size=size)))

        worker = threading.Thread(target=work)
        worker.start()
        worker.join(10)  # the ingest request hangs for up to 60 s
        self.assertFalse(worker.is_alive(), "a prompt waited for tokenaudit")
        self.assertEqual(len(done), 3)
        self.assertTrue(wait_for(lambda: self.ingest.requests >= 1))
        self.assertEqual(ext.errors, 0)
        self.ingest.release.set()

    def test_503_is_retried_with_the_same_ids(self):
        self.start_ingest(mode="503")
        ext = self.make_ext()
        pid = self.run_prompt()
        self.assertTrue(wait_for(lambda: self.ingest.requests >= 2))
        self.ingest.mode = "ok"
        self.flush(ext)
        self.assertEqual(self.ingest.ids(), sorted([pid + "/2", pid + "/prompt"]))

    def test_exceptions_inside_the_extension_are_counted_not_raised(self):
        self.start_ingest()
        ext = self.make_ext()

        def boom(*a, **k):
            raise RuntimeError("bug in the extension")

        ext.recorder.node_started = boom
        ext.recorder.finish = boom
        ext.recorder.submitted = boom
        pid = self.run_prompt()
        self.assertTrue(self.fake.instance.executor.success)
        self.assertEqual(self.fake.instance.messages[-2][0], "execution_success")
        self.assertGreaterEqual(ext.errors, 3)
        self.assertTrue(pid)

    def test_broken_on_prompt_body_is_passed_through(self):
        self.start_ingest()
        ext = self.make_ext()
        body = {"prompt": {"1": "not a node", "2": {"class_type": 7}}}
        self.assertIs(ext.on_prompt(body), body)
        self.assertIs(ext.on_prompt(None), None)
        status, _ = self.fake.instance.post_prompt({"no": "prompt"})
        self.assertEqual(status, 400)


class PackageLoadTest(ExtensionTestBase):
    def test_comfyui_style_import_installs_and_records(self):
        self.start_ingest()
        env = {"TOKENAUDIT_COMFYUI_URL": self.ingest.url,
               "TOKENAUDIT_COMFYUI_SPOOL_DIR": os.path.join(self.tmp, "spool2"),
               "TOKENAUDIT_COMFYUI_FLUSH_INTERVAL_MS": "20",
               "TOKENAUDIT_COMFYUI_ENABLED": "1"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            pkg = load_package("tokenaudit_comfyui_live", environ_disabled=False)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.assertEqual(pkg.NODE_CLASS_MAPPINGS, {})
        ext = pkg.EXTENSION
        self.assertIsNotNone(ext)
        self.exts.append(ext)
        self.assertIn("execute", ext.hooks)
        pid = self.run_prompt()
        self.flush(ext)
        self.assertEqual(self.ingest.ids(), sorted([pid + "/2", pid + "/prompt"]))


if __name__ == "__main__":
    unittest.main()
