"""End to end against the real `tokenaudit serve`: usage `e2e_serve.py /path/to/tokenaudit`.

Keys are made with the real CLI on a fresh data directory, the server listens on a free port,
and the extension runs inside the fake ComfyUI (fake_comfy.py). Checks:
1. a success, a cached re-run, a node error and an interrupt are stored, one record per id,
   with the extension's fields (GET /v1/events as admin);
2. the server killed (SIGKILL) while a prompt runs: the records wait in the spool and arrive
   after the restart on the same port, with the same ids;
3. resending every record (a new delivery over a copy of what was sent) adds nothing: the server
   answers duplicates and the event count is unchanged.
Exit 0 on success; 77 (CTest "skipped") when the binary is missing.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fake_comfy  # noqa: E402
from support import free_port, load_package, make_png  # noqa: E402
from test_extension import ddcolor_prompt, wait_for  # noqa: E402

PKG = load_package()
BINARY = os.environ.get("TOKENAUDIT_BIN", "")
PSEUDONYM_ENV = {"TOKENAUDIT_PSEUDONYM_KEY": "00112233445566778899aabbccddeeff"
                                             "00112233445566778899aabbccddeeff"}


class Server:
    def __init__(self, binary, data_dir, log_dir, port):
        self.binary, self.data, self.logs, self.port = binary, data_dir, log_dir, port
        self.proc = None
        self.starts = 0
        self.url = "http://127.0.0.1:%d" % port

    def key(self, role, name):
        out = subprocess.run([self.binary, "keys", "create", "--data-dir", self.data, "--role",
                              role, "--name", name], env=dict(os.environ, **PSEUDONYM_ENV),
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def start(self):
        self.starts += 1
        out = open(os.path.join(self.logs, "serve.%d.out" % self.starts), "wb")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", self.data, "--listen",
             "127.0.0.1:%d" % self.port], stdout=out, stderr=subprocess.STDOUT,
            env=dict(os.environ, **PSEUDONYM_ENV))
        out.close()

        def ready():
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        if not wait_for(ready, 30):
            raise RuntimeError("tokenaudit serve did not become ready: " + self.output())

    def output(self):
        text = ""
        for i in range(1, self.starts + 1):
            with open(os.path.join(self.logs, "serve.%d.out" % i), "rb") as f:
                text += f.read().decode("utf-8", "replace")
        return text

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def events(self, key):
        out, cursor = [], None
        while True:
            q = "/v1/events?limit=1000" + ("&cursor=" + cursor if cursor else "")
            req = urllib.request.Request(self.url + q,
                                         headers={"Authorization": "Bearer " + key})
            with urllib.request.urlopen(req, timeout=10) as r:
                body = json.loads(r.read())
            out += body["events"]
            cursor = body["next_cursor"]
            if not cursor:
                return out


class ServeEndToEndTest(unittest.TestCase):
    def setUp(self):
        if not BINARY or not os.path.exists(BINARY):
            self.skipTest("tokenaudit binary not built (TOKENAUDIT_BIN)")
        self.tmp = tempfile.mkdtemp(prefix="ta_comfy_e2e_")
        self.input_dir = os.path.join(self.tmp, "input")
        os.makedirs(self.input_dir)
        with open(os.path.join(self.input_dir, "old_photo.png"), "wb") as f:
            f.write(make_png(460, 680))
        self.fake = fake_comfy.install(self.input_dir, os.path.join(self.tmp, "user"))
        self.server = Server(BINARY, os.path.join(self.tmp, "data"), self.tmp, free_port())
        self.admin = self.server.key("admin", "ops")
        self.ingest_key = self.server.key("ingest", "comfy-extension")
        self.server.start()
        cfg = dict(PKG.config.DEFAULTS)
        cfg.update(url=self.server.url, api_key=self.ingest_key, flush_interval_ms=20,
                   spool_dir=os.path.join(self.tmp, "spool"), max_backoff_ms=300,
                   request_timeout_ms=5000)
        self.ext = PKG.hooks.build(cfg)
        self.ext.install(server_module=self.fake.server, execution_module=self.fake.execution)
        self.sent = []  # every record the extension produced, for the resend
        submit = self.ext.deliverer.submit

        def tap(record, hold=False):
            self.sent.append(record)
            return submit(record, hold)

        self.ext.deliverer.submit = tap

    def tearDown(self):
        if hasattr(self, "ext"):
            self.ext.shutdown()
        if hasattr(self, "server"):
            self.server.kill()
        if hasattr(self, "tmp"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def run_prompt(self, prompt, headers=None):
        status, answer = self.fake.instance.post_prompt({"prompt": prompt, "client_id": "ui"},
                                                        headers)
        self.assertEqual(status, 200)
        self.fake.instance.run_next()
        return answer["prompt_id"]

    def test_records_arrive_once_survive_a_server_kill_and_a_resend_adds_nothing(self):
        users = {"comfy-user": "alice"}
        ok = self.run_prompt(ddcolor_prompt(), users)
        cached = self.run_prompt(ddcolor_prompt(), users)
        self.fake.DDColor.fail_with = FileNotFoundError("Checkpoint load failed.")
        failed = self.run_prompt(ddcolor_prompt(size=256), users)
        self.fake.DDColor.fail_with = None
        slow = ddcolor_prompt(size=1024)
        slow["5"] = {"class_type": "AuditProbeSlow",
                     "inputs": {"image": ["2", 0], "steps": 500, "delay_ms": 10}}
        slow["3"]["inputs"]["images"] = ["5", 0]
        worker = threading.Thread(target=self.run_prompt, args=(slow, users))
        worker.start()
        self.assertTrue(wait_for(lambda: any(e == "executing" and d.get("node") == "5" for e, d, _
                                             in list(self.fake.instance.messages))))
        self.fake.mm.interrupt_current_processing(True)
        worker.join(30)
        interrupted = self.fake.instance.messages[-1][1]["prompt_id"]
        self.assertTrue(self.ext.deliverer.flush(30), self.ext.deliverer.stats())

        # 2. The server dies; a prompt runs meanwhile; its records wait in the spool.
        self.server.kill()
        during = self.run_prompt(ddcolor_prompt(size=384), users)
        self.assertTrue(wait_for(lambda: self.ext.deliverer.stats().get("spooled", 0) >= 2, 20),
                        self.ext.deliverer.stats())
        self.server.start()
        self.assertTrue(self.ext.deliverer.flush(30), self.ext.deliverer.stats())

        expected = {
            ok + "/2": ("success", None), ok + "/prompt": ("success", None),
            cached + "/2": ("cached", None), cached + "/prompt": ("success", None),
            failed + "/2": ("error", "FileNotFoundError"),
            failed + "/prompt": ("error", "FileNotFoundError"),
            interrupted + "/2": ("success", None),
            interrupted + "/5": ("interrupted", "interrupted"),
            interrupted + "/prompt": ("interrupted", "interrupted"),
            during + "/2": ("success", None), during + "/prompt": ("success", None),
        }
        events = self.server.events(self.admin)
        ids = [e["id"] for e in events]
        self.assertEqual(sorted(ids), sorted(expected), self.server.output())
        self.assertEqual(len(ids), len(set(ids)))
        for e in events:
            self.assertEqual((e["status"], e.get("error.type")), expected[e["id"]], e)
            self.assertEqual(e["capture"], "extension")
            self.assertEqual(e["source"], "comfyui-gateway")
            self.assertTrue(e["user"].startswith("u_"), e)  # pseudonymised by the server
        node = next(e for e in events if e["id"] == ok + "/2")
        self.assertEqual(node["gen_ai.request.model"], "ddcolor_paper_tiny")
        self.assertEqual((node["input.width"], node["input.height"]), (460, 680))
        self.assertEqual(len(node["request_id"]), 16)  # computed by the server from user/input
        self.assertGreater(node["usage.estimated_tokens_milli"], 0)

        # 3. Everything again, as a fresh delivery would after losing its acknowledgements.
        again = PKG.delivery.Deliverer(self.server.url, api_key=self.ingest_key,
                                       flush_interval_s=0.02)
        for r in self.sent:
            again.submit(r)
        self.assertTrue(again.flush(30), again.stats())
        self.assertEqual(again.stats()["duplicates"], len(self.sent))
        again.close()
        self.assertEqual(len(self.server.events(self.admin)), len(events))


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BINARY = sys.argv.pop(1)
    if not BINARY or not os.path.exists(BINARY):
        print("tokenaudit binary not found; skipped")
        sys.exit(77)
    unittest.main()
