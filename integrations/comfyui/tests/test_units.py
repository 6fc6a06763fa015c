"""Unit tests of the pure parts: image probe, workflow reading and hash, recorder, config,
delivery bounds."""

import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from support import FakeIngest, free_port, load_package, make_png  # noqa: E402

PKG = load_package()
probe = PKG.image_probe
wf = PKG.workflow
rec = PKG.recorder


def jpeg(width, height, app_bytes=100, progressive=False):
    app = b"\xff\xe1" + struct.pack(">H", app_bytes + 2) + b"E" * app_bytes
    sof = (b"\xff" + (b"\xc2" if progressive else b"\xc0") + struct.pack(">HBHHB", 17, 8, height,
                                                                        width, 3) +
           b"\x01\x22\x00\x02\x11\x01\x03\x11\x01")
    return b"\xff\xd8" + app + b"\xff\xff" + sof + b"\xff\xda\x00\x02" + b"\x00" * 10


def riff(chunk_type, payload):
    chunk = chunk_type + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


class ImageProbeTest(unittest.TestCase):
    def test_png_size_from_ihdr(self):
        self.assertEqual(probe.probe(make_png(32, 24)), (32, 24))

    def test_png_with_bad_crc_is_corrupt(self):
        data = bytearray(make_png(32, 24))
        data[30] ^= 0xFF
        with self.assertRaisesRegex(probe.ProbeError, "png: corrupt: IHDR CRC"):
            probe.probe(bytes(data))

    def test_png_truncated(self):
        with self.assertRaisesRegex(probe.ProbeError, "png: truncated"):
            probe.probe(make_png(32, 24)[:20])

    def test_jpeg_frame_after_app_segment_and_fill_bytes(self):
        self.assertEqual(probe.probe(jpeg(460, 680)), (460, 680))
        self.assertEqual(probe.probe(jpeg(1024, 768, progressive=True)), (1024, 768))

    def test_jpeg_scan_before_frame_is_corrupt(self):
        with self.assertRaisesRegex(probe.ProbeError, "jpeg: corrupt"):
            probe.probe(b"\xff\xd8\xff\xda\x00\x02")
        with self.assertRaisesRegex(probe.ProbeError, "jpeg: truncated"):
            probe.probe(jpeg(460, 680)[:110])

    def test_webp_vp8_vp8l_vp8x(self):
        vp8 = b"\x10\x02\x00\x9d\x01\x2a" + struct.pack("<HH", 300, 200) + b"\x00" * 8
        self.assertEqual(probe.probe(riff(b"VP8 ", vp8)), (300, 200))
        bits = (299) | (199 << 14)
        self.assertEqual(probe.probe(riff(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\0")),
                         (300, 200))
        vp8x = b"\x00" * 4 + (299).to_bytes(3, "little") + (199).to_bytes(3, "little")
        self.assertEqual(probe.probe(riff(b"VP8X", vp8x)), (300, 200))
        with self.assertRaisesRegex(probe.ProbeError, "webp: corrupt: VP8 inter frame"):
            probe.probe(riff(b"VP8 ", b"\x11" + vp8[1:]))

    def test_unknown_format(self):
        with self.assertRaisesRegex(probe.ProbeError, "unknown image format"):
            probe.probe(b"GIF89a....")

    def test_probe_file_hashes_and_refuses_big_files(self):
        tmp = tempfile.mkdtemp()
        try:
            path = os.path.join(tmp, "a.png")
            data = make_png(7, 5)
            with open(path, "wb") as f:
                f.write(data)
            self.assertEqual(probe.probe_file(path, 1 << 20),
                             (hashlib.sha256(data).hexdigest(), 7, 5))
            with self.assertRaises(probe.ProbeError):
                probe.probe_file(path, 10)
        finally:
            shutil.rmtree(tmp)


class WorkflowTest(unittest.TestCase):
    def test_canonical_json_matches_the_gateway_encoder(self):
        # The expectation of src/comfy/workflow_test.cc
        # (CanonicalApiJsonIsSortedWithoutMetaAndKeepsFloats).
        prompt = json.loads(r'''{"b": {"class_type": "Y", "inputs": {"z": 1.0, "a": ["a", 1],
            "m": 0.1}}, "a": {"class_type": "X", "inputs": {"s": "q\"\n"},
            "_meta": {"title": "T"}}}''')
        self.assertEqual(wf.canonical_api_json(prompt),
                         r'{"a":{"class_type":"X","inputs":{"s":"q\"\u000a"}},'
                         r'"b":{"class_type":"Y","inputs":{"a":["a",1],"m":0.1,"z":1.0}}}')
        self.assertRegex(wf.workflow_hash(prompt), r"^sha256:[0-9a-f]{64}$")

    def test_workflow_hash_equals_the_gateways(self):
        # Values printed by src/comfy's WorkflowHash (the gateway) for the same documents.
        captures = os.path.join(os.path.dirname(__file__), "..", "..", "..", "test", "comfy",
                                "captures", "protocol_4_2_api.json")
        with open(captures) as f:
            example = json.load(f)
        example = example.get("prompt", example)
        self.assertEqual(wf.workflow_hash(example),
                         "sha256:9f9e91ef6a76b922798f0d0b343c292162334dfbfa8c1bc7c591ee38c8ff3a5d")
        mixed = json.loads(r'''{"10": {"class_type": "KSampler", "inputs": {
            "seed": 156680208700286, "cfg": 8.0, "denoise": 1, "x": 1e5, "y": 0.0001, "t": true,
            "n": null, "s": "caf\u00e9 \t\"q\"",
            "l": {"__value__": [1.5, "a\nb", 1e-7, 100000.0, {"k": 2}]},
            "big": 18446744073709551615}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["10", 0]}}}''')
        self.assertEqual(wf.workflow_hash(mixed),
                         "sha256:88211bd21b2bc2b65c6dc8f11a8e353dca4ca6b7a3bd22f3dc0aec95a09064c9")

    def test_doubles_follow_cpp_to_chars(self):
        cases = {512.0: "512.0", 0.1: "0.1", 1e5: "1e+05", 0.0001: "1e-04", 1e16: "1e+16",
                 123456.789: "123456.789", 1.5e-7: "1.5e-07", -0.0: "-0.0", 100.0: "100.0",
                 12345678.0: "12345678.0", 0.0025: "0.0025", 3e10: "3e+10"}
        for value, text in cases.items():
            self.assertEqual(wf._cpp_double(value), text, value)

    def test_summary_traces_the_image_through_a_resize(self):
        prompt = {
            "1": {"class_type": "LoadImage", "inputs": {"image": "a.png [input]"}},
            "5": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "width": 230,
                                                         "height": 0, "crop": "disabled",
                                                         "upscale_method": "area"}},
            "2": {"class_type": "DDColor_Colorize", "inputs": {
                "image": ["5", 0], "model_input_size": "256", "checkpoint": "ddcolor_artistic.pth"}},
            "7": {"class_type": "MysteryNode", "inputs": {"x": 1}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}},
        }
        seen = []

        def image_info(name):
            seen.append(name)
            return ("ab" * 32, 460, 680)

        nodes, task = wf.summarize(prompt, wf.NodeCatalog(), image_info)
        self.assertEqual([n.node_id for n in nodes], ["2", "7"])
        dd = nodes[0]
        self.assertEqual((dd.model, dd.model_input_size, dd.width, dd.height, dd.batch),
                         ("ddcolor_artistic", 256, 230, 340, 1))
        self.assertEqual(dd.input_hash, "sha256:" + "ab" * 32)
        self.assertEqual(seen, ["a.png"])
        self.assertEqual(nodes[1].class_type, "MysteryNode")
        self.assertIsNone(nodes[1].width)
        self.assertEqual(task, "image_colorization")
        nodes, _ = wf.summarize(prompt, wf.NodeCatalog(), image_info, record_unknown=False)
        self.assertEqual([n.node_id for n in nodes], ["2"])

    def test_catalog_file_in_the_gateway_format(self):
        tmp = tempfile.mkdtemp()
        try:
            path = os.path.join(tmp, "catalog.toml")
            with open(path, "w") as f:
                f.write('[[node]]\nclass_type = "MysteryNode"\nrole = "other"\n'
                        '[[node]]\nclass_type = "AliOffline_Ddcolor"\nrole = "model"\n'
                        'image_input = "image"\nmodel_inputs = ["model"]\n'
                        'model_input_size_input = "size"\ntask_type = "image_colorization"\n'
                        'widgets = []\n')
            cat = wf.NodeCatalog.from_file(path)
            self.assertEqual(cat.find("MysteryNode").role, "other")
            self.assertEqual(cat.find("AliOffline_Ddcolor").role, "model")
            self.assertEqual(cat.find("DDColor_Colorize").role, "model")  # built-ins kept
            with open(path, "w") as f:
                f.write('[[node]]\nclass_type = "X"\nrole = "model"\n')
            with self.assertRaisesRegex(wf.CatalogError, "needs model_inputs"):
                wf.NodeCatalog.from_file(path)
            with open(path, "w") as f:
                f.write('[[node]]\nclass_type = "X"\nrole = "other"\ncolour = "red"\n')
            with self.assertRaisesRegex(wf.CatalogError, "not a known key"):
                wf.NodeCatalog.from_file(path)
        finally:
            shutil.rmtree(tmp)


class RecorderTest(unittest.TestCase):
    def setUp(self):
        self.out = []
        self.r = rec.Recorder("src", lambda record, hold: self.out.append(record))
        node = wf.RecordableNode("2", "DDColor_Colorize")
        other = wf.RecordableNode("9", "Mystery")
        self.r.submitted(rec.PromptInfo("p1", nodes=[node, other], submitted_us=1_000_000))

    def test_ids_are_emitted_once(self):
        self.r.execution_start("p1", 2_000_000)
        self.assertTrue(self.r.node_started("p1", "2", 2_000_000, 0))
        self.r.node_finished("p1", "2", 5_000_000, "success")
        self.r.finish("p1", "success", t_us=3_000_000)
        self.r.finish("p1", "success", t_us=3_000_000)
        self.r.submitted(rec.PromptInfo("p1"))  # a resubmission of a finished id
        self.r.finish("p1", "error", t_us=4_000_000)
        self.assertEqual([o["id"] for o in self.out], ["p1/2", "p1/prompt"])
        self.assertEqual(self.out[0]["duration_ms"], 5)
        self.assertEqual(self.out[1]["start_time"], "1970-01-01T00:00:02.000000Z")
        self.assertEqual(self.out[1]["duration_ms"], 1000)

    def test_degraded_mode_fills_unseen_nodes_from_the_outcome(self):
        self.r.execution_start("p1", 2_000_000, fill=True)
        self.r.finish("p1", "success", t_us=3_000_000)
        self.assertEqual([(o["id"], o["status"]) for o in self.out],
                         [("p1/2", "success"), ("p1/9", "success"), ("p1/prompt", "success")])
        self.assertNotIn("duration_ms", self.out[0])

    def test_degraded_mode_marks_the_failing_node(self):
        self.r.execution_start("p1", 2_000_000, fill=True)
        self.r.executing("p1", "9", 2_100_000)
        self.r.finish("p1", "error", "ValueError", "9", ["2"], 2_600_000)
        got = {o["id"]: (o["status"], o.get("error.type"), o.get("duration_ms")) for o in self.out}
        self.assertEqual(got["p1/9"], ("error", "ValueError", 500))
        self.assertEqual(got["p1/2"], ("success", None, None))

    def test_a_prompt_without_outcome_is_closed_when_the_next_starts(self):
        self.r.execution_start("p1", 2_000_000)
        self.r.submitted(rec.PromptInfo("p2"))
        self.r.execution_start("p2", 3_000_000)
        self.assertEqual((self.out[0]["id"], self.out[0]["status"], self.out[0]["error.type"]),
                         ("p1/prompt", "error", "no_outcome"))

    def test_long_or_non_ascii_node_ids_are_hashed(self):
        self.assertEqual(rec.node_record_id("p", "5:3"), "p/5:3")
        self.assertEqual(rec.node_record_id("p", "ü"),
                         "p/" + hashlib.sha256("ü".encode()).hexdigest())
        self.assertEqual(len(rec.node_record_id("p", "x" * 65)), 2 + 64)

    def test_pending_prompts_are_bounded(self):
        for i in range(rec._MAX_PENDING + 50):
            self.r.submitted(rec.PromptInfo("q%d" % i))
        self.assertEqual(self.r.pending_count(), rec._MAX_PENDING)


class HostileInputTest(unittest.TestCase):
    """The Python counterpart of the C++ fuzz targets: seeded mutations of every parser of
    outside input (image headers, prompt bodies). A parser either answers or raises its own
    error, never anything else; the hooks answer every body."""

    def test_image_probe_on_mutated_and_truncated_images(self):
        import random
        rng = random.Random(5)
        seeds = [make_png(32, 24), jpeg(460, 680), jpeg(9, 9, progressive=True),
                 riff(b"VP8X", b"\x00" * 4 + b"\x10\x00\x00\x20\x00\x00"),
                 riff(b"VP8L", b"\x2f" + struct.pack("<I", 5 | (6 << 14)) + b"\0")]
        for _ in range(20000):
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(0, 4)):
                op = rng.randint(0, 2)
                if op == 0 and data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
                elif op == 1:
                    data = data[:rng.randint(0, len(data))]
                else:
                    data.insert(rng.randint(0, len(data)), rng.randrange(256))
            try:
                w, h = probe.probe(bytes(data))
                self.assertTrue(w > 0 and h > 0)
            except probe.ProbeError:
                pass

    def test_workflow_reading_and_hooks_on_random_prompts(self):
        import random
        rng = random.Random(7)
        atoms = [None, True, 0, -1, 2**70, 1.5, float("nan"), "", "x", "\ud800", "a [input]",
                 ["1", 0], ["9", 0], ["1", -1], [1, 0], {"__value__": [1]}, [], {}]

        def value(depth=0):
            if depth < 2 and rng.random() < 0.2:
                return {str(rng.randint(0, 3)): value(depth + 1) for _ in range(rng.randint(0, 3))}
            return rng.choice(atoms)

        classes = ["DDColor_Colorize", "LoadImage", "ImageScale", "ImageInvert", "SaveImage",
                   "Mystery", 5, None]
        sent = []
        ext = PKG.hooks.Extension(dict(PKG.config.DEFAULTS),
                                  PKG.delivery.Deliverer("http://127.0.0.1:1", start=False))
        ext.deliverer.submit = lambda record, hold=False: sent.append(PKG.delivery.encode(record))
        for _ in range(3000):
            prompt = {}
            for i in range(rng.randint(0, 5)):
                node = rng.choice([{"class_type": rng.choice(classes),
                                    "inputs": {k: value() for k in rng.sample(
                                        ["image", "checkpoint", "model_input_size", "width",
                                         "height", "images"], rng.randint(0, 4))}},
                                   value(), {"inputs": value()},
                                   {"class_type": rng.choice(classes), "inputs": value()}])
                prompt[str(rng.choice([i, i + 1, "\u00e9", "\ud800"]))] = node
            nodes, _ = wf.summarize(prompt, wf.NodeCatalog(), lambda n: ("0" * 64, 3, 4))
            for n in nodes:
                self.assertIsInstance(rec.node_record_id("p", n.node_id), str)
            self.assertTrue(wf.workflow_hash(prompt).startswith("sha256:"))
            body = rng.choice([{"prompt": prompt}, {"prompt": prompt, "prompt_id": value(),
                                                    "extra_data": value(), "client_id": value()},
                               value()])
            self.assertIs(ext.on_prompt(body), body)
            # And the same prompt seen only when it starts, then finished.
            ext._on_status("execution_start", {"prompt_id": "z"})
            ext._on_status("execution_cached", {"prompt_id": "z", "nodes": value()})
            ext._on_status(rng.choice(["execution_error", "execution_success"]),
                           {"prompt_id": "z", "node_id": value(), "executed": value()})
        self.assertEqual(ext.errors, 0)
        self.assertGreater(len(sent), 0)


class ConfigTest(unittest.TestCase):
    def test_file_then_environment(self):
        tmp = tempfile.mkdtemp()
        try:
            path = os.path.join(tmp, "c.json")
            key = os.path.join(tmp, "key")
            with open(key, "w") as f:
                f.write("ta_secret\n")
            with open(path, "w") as f:
                json.dump({"url": "http://a:1", "batch_records": 7, "api_key_file": key}, f)
            cfg = PKG.config.load({"TOKENAUDIT_COMFYUI_CONFIG": path,
                                   "TOKENAUDIT_COMFYUI_URL": "http://b:2",
                                   "TOKENAUDIT_COMFYUI_RECORD_UNKNOWN_NODES": "false"}, tmp)
            self.assertEqual((cfg["url"], cfg["batch_records"], cfg["api_key"]),
                             ("http://b:2", 7, "ta_secret"))
            self.assertFalse(cfg["record_unknown_nodes"])
            with open(path, "w") as f:
                json.dump({"ulr": "typo"}, f)
            with self.assertRaisesRegex(PKG.config.ConfigError, "unknown key ulr"):
                PKG.config.load({"TOKENAUDIT_COMFYUI_CONFIG": path}, tmp)
            with self.assertRaisesRegex(PKG.config.ConfigError, "gateway_prompts"):
                PKG.config.load({"TOKENAUDIT_COMFYUI_GATEWAY_PROMPTS": "sometimes"}, tmp)
        finally:
            shutil.rmtree(tmp)


class DeliveryBoundsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def record(self, i):
        return {"id": "r%06d" % i, "source": "s", "time": "2026-11-30T10:00:00.000000Z",
                "status": "success", "workflow": "w" * 200}

    def test_memory_and_spool_stay_within_their_bounds(self):
        spool = os.path.join(self.tmp, "spool")
        d = PKG.delivery.Deliverer("http://127.0.0.1:%d" % free_port(), spool_dir=spool,
                                   max_memory_bytes=20000, max_spool_bytes=30000,
                                   batch_records=10, flush_interval_s=0.005,
                                   initial_backoff_s=0.01, max_backoff_s=0.05)
        accepted = 0
        for i in range(3000):
            accepted += d.submit(self.record(i))
            s = d.stats()
            self.assertLessEqual(s["queue_bytes"], 20000)
            self.assertLessEqual(s["spool_bytes"], 30000)
        time.sleep(0.2)
        s = d.stats()
        self.assertGreater(s["dropped"], 0)
        self.assertGreater(s["spooled"], 0)
        self.assertEqual(accepted + s["dropped"], 3000)
        on_disk = sum(os.path.getsize(os.path.join(spool, n)) for n in os.listdir(spool)
                      if n.endswith(".ndjson"))
        self.assertLessEqual(on_disk, 30000)
        d.close(0.1)

    def test_without_spool_memory_is_the_bound(self):
        d = PKG.delivery.Deliverer("http://127.0.0.1:%d" % free_port(), max_memory_bytes=5000,
                                   flush_interval_s=0.005)
        results = [d.submit(self.record(i)) for i in range(100)]
        self.assertIn(False, results)
        self.assertLessEqual(d.stats()["queue_bytes"], 5000)
        self.assertEqual(d.close(0.05), sum(results))

    def test_refused_items_are_not_resent(self):
        ingest = FakeIngest()
        try:
            d = PKG.delivery.Deliverer(ingest.url, flush_interval_s=0.01)
            d.submit(self.record(1))
            d.submit({"id": "bad", "source": "s", "status": "ok"})  # the fake refuses it (400)
            d.submit(self.record(2))
            self.assertTrue(d.flush(5))
            s = d.stats()
            self.assertEqual((s["acknowledged"], s["rejected"]), (2, 1))
            self.assertEqual(ingest.ids(), ["r000001", "r000002"])
            self.assertEqual(ingest.requests, 1)
            d.close()
        finally:
            ingest.stop()

    def test_a_whole_body_400_is_bisected_down_to_the_poisoned_record(self):
        ingest = FakeIngest(mode="400-poison")
        try:
            d = PKG.delivery.Deliverer(ingest.url, flush_interval_s=0.2, batch_records=100)
            for i in range(7):
                d.submit(self.record(i) if i != 4 else dict(self.record(i), workflow="poison"))
            self.assertTrue(d.flush(5))
            s = d.stats()
            self.assertEqual((s["acknowledged"], s["rejected"]), (6, 1))
            self.assertEqual(len(ingest.records), 6)
            self.assertNotIn("r000004", ingest.ids())
            d.close()
        finally:
            ingest.stop()

    def test_close_does_not_wait_for_a_hung_server_and_spools_what_is_in_flight(self):
        hung = FakeIngest(mode="hang")
        spool = os.path.join(self.tmp, "spool")
        try:
            d = PKG.delivery.Deliverer(hung.url, spool_dir=spool, flush_interval_s=0.01,
                                       request_timeout_s=60)
            for i in range(3):
                d.submit(self.record(i))
            deadline = time.monotonic() + 5
            while hung.requests == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            started = time.monotonic()
            self.assertEqual(d.close(0.3), 0)
            self.assertLess(time.monotonic() - started, 10)  # not the 60 s request timeout
        finally:
            hung.stop()
        ok = FakeIngest()
        try:
            d = PKG.delivery.Deliverer(ok.url, spool_dir=spool, flush_interval_s=0.01)
            self.assertTrue(d.flush(10))
            self.assertEqual(ok.ids(), ["r000000", "r000001", "r000002"])
            d.close()
        finally:
            ok.stop()

    def test_spool_lock_keeps_a_second_process_off(self):
        spool = os.path.join(self.tmp, "spool")
        a = PKG.delivery.Deliverer("http://127.0.0.1:1", spool_dir=spool)
        b = PKG.delivery.Deliverer("http://127.0.0.1:1", spool_dir=spool)
        self.assertIn("unusable", b.stats()["last_error"])
        a.close(0.01)
        b.close(0.01)

    def test_submit_from_many_threads(self):
        ingest = FakeIngest()
        try:
            d = PKG.delivery.Deliverer(ingest.url, flush_interval_s=0.01, batch_records=50)
            threads = [threading.Thread(target=lambda k=k: [d.submit(self.record(k * 1000 + i))
                                                            for i in range(200)])
                       for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertTrue(d.flush(10))
            self.assertEqual(len(ingest.records), 800)
            d.close()
        finally:
            ingest.stop()


if __name__ == "__main__":
    unittest.main()
