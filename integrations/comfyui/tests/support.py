"""Test support: loading the package as ComfyUI does, a fake ingest API, test images."""

import importlib.util
import json
import logging
import os
import struct
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The extension logs every contained failure; tests provoke many. TA_TEST_VERBOSE=1 shows them.
if not os.environ.get("TA_TEST_VERBOSE"):
    logging.getLogger("tokenaudit.comfyui").setLevel(logging.CRITICAL)


def load_package(name="tokenaudit_comfyui", environ_disabled=True):
    """Imports integrations/comfyui the way ComfyUI's nodes.load_custom_node does
    (spec_from_file_location on __init__.py, the directory as the package path)."""
    if name in sys.modules:
        return sys.modules[name]
    old = os.environ.get("TOKENAUDIT_COMFYUI_ENABLED")
    if environ_disabled:
        os.environ["TOKENAUDIT_COMFYUI_ENABLED"] = "0"
    try:
        # nodes.load_custom_node: the directory's name, its __init__.py, sys.modules first.
        spec = importlib.util.spec_from_file_location(name,
                                                      os.path.join(PACKAGE_DIR, "__init__.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    finally:
        if environ_disabled:
            if old is None:
                os.environ.pop("TOKENAUDIT_COMFYUI_ENABLED", None)
            else:
                os.environ["TOKENAUDIT_COMFYUI_ENABLED"] = old
    for sub in ("config", "delivery", "hooks", "image_probe", "recorder", "workflow"):
        importlib.import_module(name + "." + sub)
    return module


def make_png(width, height):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) +
            chunk(b"IEND", b""))


class FakeIngest:
    """POST /v1/events speaking the batch protocol (doc/http_api.md), idempotent on
    (tenant, source, id). mode: "ok", "hang" (accepts, never answers until released), "503"."""

    def __init__(self, port=0, mode="ok"):
        self.mode = mode
        self.records = {}      # (tenant, source, id) -> record
        self.arrivals = []     # ids in arrival order, duplicates included
        self.requests = 0
        self.release = threading.Event()
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with owner.lock:
                    owner.requests += 1
                    mode = owner.mode
                if mode == "hang":
                    owner.release.wait(60)
                if mode == "400-poison" and b'"poison"' in body:
                    self._answer(400, {"error": {"code": "invalid_json"}})
                    return
                if mode == "503":
                    self._answer(503, {"error": {"code": "unavailable"}})
                    return
                results, accepted, dups, rejected = [], 0, 0, 0
                for i, line in enumerate(l for l in body.split(b"\n") if l.strip()):
                    rec = json.loads(line)
                    if rec.get("status") not in ("success", "error", "cached", "interrupted",
                                                 "rejected") or "id" not in rec:
                        results.append({"index": i, "status": 400, "error": {
                            "code": "invalid_format", "field": "status"}})
                        rejected += 1
                        continue
                    key = (rec.get("tenant", "default"), rec["source"], rec["id"])
                    with owner.lock:
                        owner.arrivals.append(rec["id"])
                        dup = key in owner.records
                        if not dup:
                            owner.records[key] = rec
                        seq = list(owner.records).index(key)
                    results.append({"index": i, "status": 200, "seq": seq, "duplicate": dup})
                    dups += dup
                    accepted += not dup
                self._answer(200 if rejected == 0 else 207,
                             {"accepted": accepted, "duplicates": dups, "rejected": rejected,
                              "results": results})

            def _answer(self, code, obj):
                data = json.dumps(obj).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def ids(self):
        with self.lock:
            return sorted(k[2] for k in self.records)

    def by_id(self, record_id):
        with self.lock:
            for k, v in self.records.items():
                if k[2] == record_id:
                    return v
        return None

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
