"""What the extension costs ComfyUI's threads (run by hand, not a test).

    python3 integrations/comfyui/bench/overhead.py [--records N] [--nodes N]

Prints, in microseconds (p50 / p99 / max):
* `submit`: Deliverer.submit of a DDColor node record (the only work a record costs the prompt
  worker thread), with the ingest API down (records spooled by the background thread), and the
  peer figure from the same run: json.dumps of the same record alone;
* `execute wrapper`: one no-op node step through the wrapped `execution.execute` minus the same
  step unwrapped (fake ComfyUI), per node;
* `on_prompt`: the on-prompt handler on the protocol.md §4.2 prompt with a 1 MB PNG input, first
  sight of the file (SHA-256 + header) and cached.
Also the machine (CPUs, load) before and after.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import fake_comfy  # noqa: E402
from support import free_port, load_package, make_png  # noqa: E402
from test_extension import ddcolor_prompt  # noqa: E402

PKG = load_package()


def pct(values):
    v = sorted(values)
    return "p50 %.2f  p99 %.2f  max %.2f" % (v[len(v) // 2], v[int(len(v) * 0.99)], v[-1])


def record(i):
    return {"id": "8f1c2f5e-6a0b-4f7e-9a55-%012d/2" % i, "source": "comfyui-gateway",
            "capture": "extension", "user": "alice", "workflow_hash": "sha256:" + "9f" * 32,
            "gen_ai.operation.name": "comfyui.node", "node_id": "2",
            "node_type": "DDColor_Colorize", "task_type": "image_colorization",
            "gen_ai.request.model": "ddcolor_paper_tiny", "input.hash": "sha256:" + "ab" * 32,
            "input.width": 460, "input.height": 680, "input.batch": 1,
            "input.model_input_size": 512, "device": "cuda:0",
            "start_time": "2026-11-30T10:00:00.000000Z", "time": "2026-11-30T10:00:02.480000Z",
            "duration_ms": 2480, "status": "success"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--nodes", type=int, default=20000)
    args = ap.parse_args()
    print("command: python3 %s --records %d --nodes %d" % (" ".join(sys.argv[:1]), args.records,
                                                           args.nodes))
    print("machine: %d CPUs, load %s, Python %s" % (os.cpu_count(), os.getloadavg(),
                                                    sys.version.split()[0]))
    tmp = tempfile.mkdtemp(prefix="ta_comfy_bench_")
    try:
        d = PKG.delivery.Deliverer("http://127.0.0.1:%d" % free_port(),
                                   spool_dir=os.path.join(tmp, "spool"),
                                   max_memory_bytes=64 << 20, max_spool_bytes=1 << 30)
        recs = [record(i) for i in range(args.records)]
        submit, dumps = [], []
        for r in recs:
            t0 = time.perf_counter_ns()
            d.submit(r)
            submit.append((time.perf_counter_ns() - t0) / 1000)
        for r in recs:
            t0 = time.perf_counter_ns()
            json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            dumps.append((time.perf_counter_ns() - t0) / 1000)
        print("submit (ingest down, spooling) us: %s   [%d bytes/record, dropped %d]" % (
            pct(submit), len(PKG.delivery.encode(recs[0])), d.stats().get("dropped", 0)))
        print("peer: json.dumps of the record us: %s" % pct(dumps))
        d.close(0.5)

        input_dir = os.path.join(tmp, "input")
        os.makedirs(input_dir)
        big = make_png(600, 580)  # raw rows, zlib: ~1 MB of pixels, padded below
        with open(os.path.join(input_dir, "old_photo.png"), "wb") as f:
            f.write(big + b"\0" * max(0, (1 << 20) - len(big)))
        fake = fake_comfy.install(input_dir, os.path.join(tmp, "user"))

        class Noop:
            RETURN_TYPES = ("IMAGE",)
            FUNCTION = "run"

            def run(self):
                return (1,)

        fake.nodes.NODE_CLASS_MAPPINGS["Noop"] = Noop
        prompt = {"1": {"class_type": "Noop", "inputs": {}}}
        dyn = type("D", (), {"get_node": lambda self, n: prompt[n]})()
        caches = {"outputs": {}, "signature": {"1": ("x",)}, "values": {}}

        def step(fn, n, before_each=lambda: None):
            times = []

            async def run():
                for _ in range(n):
                    caches["outputs"].clear()
                    before_each()
                    t0 = time.perf_counter_ns()
                    await fn(fake.instance, dyn, caches, "1", {}, set(), "p", None, {}, {}, {})
                    times.append((time.perf_counter_ns() - t0) / 1000)

            asyncio.run(run())
            return times

        plain = step(fake.execution.execute, args.nodes)
        cfg = dict(PKG.config.DEFAULTS, url="http://127.0.0.1:%d" % free_port(),
                   spool_dir=os.path.join(tmp, "spool2"))
        ext = PKG.hooks.build(cfg)
        ext.install(server_module=fake.server, execution_module=fake.execution)
        ext.recorder.submitted(PKG.recorder.PromptInfo(
            "p", nodes=[PKG.workflow.RecordableNode("1", "Noop")]))
        ext.recorder.execution_start("p", PKG.recorder.now_us())
        # The node is recorded every time (start, end, record queued): its id is forgotten first.
        wrapped = step(fake.execution.execute, args.nodes,
                       lambda: ext.recorder._prompts["p"].recorded.clear())
        ext.recorder._prompts["p"].recorded.add("1")
        unrecorded = step(fake.execution.execute, args.nodes)  # e.g. LoadImage, SaveImage
        print("execute step, unwrapped us: %s" % pct(plain))
        print("execute step, wrapped (node not recorded) us: %s" % pct(unrecorded))
        print("execute step, wrapped (node recorded) us: %s" % pct(wrapped))
        print("wrapper overhead per recorded node: %.2f us (p50 difference)" % (
            statistics.median(wrapped) - statistics.median(plain)))

        first, cached = [], []
        for i in range(200):
            os.utime(os.path.join(input_dir, "old_photo.png"), ns=(i * 10**9, i * 10**9))
            body = {"prompt": ddcolor_prompt(), "client_id": "ui"}
            t0 = time.perf_counter_ns()
            ext.on_prompt(body)
            first.append((time.perf_counter_ns() - t0) / 1000)
            body = {"prompt": ddcolor_prompt(), "client_id": "ui"}
            t0 = time.perf_counter_ns()
            ext.on_prompt(body)
            cached.append((time.perf_counter_ns() - t0) / 1000)
        print("on_prompt, new 1 MiB input file us: %s" % pct(first))
        print("on_prompt, known input file us: %s" % pct(cached))
        ext.shutdown()
        print("errors inside the extension: %d" % ext.errors)
        print("load after: %s" % (os.getloadavg(),))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
