"""Delivery of usage records to tokenaudit's ingest API from one background thread.

`Deliverer.submit(record)` encodes the record once (sorted keys, compact JSON) and appends it to an
in-memory queue under a short lock: no network, no disk, no waiting on the caller's thread (the
ComfyUI prompt worker). The background thread sends NDJSON batches to `POST <url>/v1/events`
(doc/http_api.md) and reads the per-item results of the 200/207 answer:

| answer                                     | records                                          |
| item 200 (stored, or `duplicate`)          | settled                                          |
| item 408/425/429/5xx                       | sent again after a backoff, same bytes           |
| item other 4xx                             | refused for good: counted, logged, never resent  |
| whole body 400/413                         | halved and each half sent again, to single lines |
| no answer, 5xx, 429, 408, 401, 403, 404... | the whole batch again after a backoff            |

Every retry sends the same bytes, so the same `(tenant, source, id)`: the server stores a record
once however often it arrives. While the server is unreachable (and whenever memory passes half of
its bound) the records move to a spool directory: files `<20-digit number>.ndjson`, one batch
each, written to a temporary name, fsync'd and renamed, so a file is either whole or absent. The
spool is sent first when the server answers again, and on the next start; a file is deleted only
when every line in it is settled. `<spool_dir>/LOCK` (flock) keeps two processes off one spool.

Bounds: `max_memory_bytes` for records in memory (each counts its JSON size + 64 bytes) and
`max_spool_bytes` for the spool. A record that fits in neither is not kept: `submit` returns False
and `stats()["dropped"]` counts it (logged, rate-limited). "Held" records (`hold=True`) wait
`hold_s` in memory before they are sent (the gateway backstop, README).

Thread-safety: every public method may be called from any thread.
"""

import collections
import errno
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request

try:
    import fcntl
except ImportError:  # Windows: no spool locking
    fcntl = None

log = logging.getLogger("tokenaudit.comfyui")

_ITEM_OVERHEAD = 64
_RETRY_ITEM = {408, 425, 429}


def encode(record):
    """Compact JSON, sorted keys, UTF-8 (a lone surrogate, which JSON input can carry into a
    node id, becomes "?": the server accepts only valid UTF-8)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "replace")


class _Spool:
    """The spool directory. Used by the sender thread only (and by close() after it stopped)."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self._lock_fd = os.open(os.path.join(directory, "LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self._lock_fd)
                raise
        self.mu = threading.Lock()  # close() may spill while a stuck sender thread lives on
        self.bytes = 0
        self.next = 1
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if name.endswith(".tmp"):
                os.unlink(path)
            elif name.endswith(".ndjson"):
                self.bytes += os.path.getsize(path)
                try:
                    self.next = max(self.next, int(name[:-7]) + 1)
                except ValueError:
                    pass

    def files(self):
        return sorted(n for n in os.listdir(self.dir) if n.endswith(".ndjson"))

    def _write(self, path, lines):
        tmp = path + ".tmp"
        data = b"".join(line + b"\n" for line in lines)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        return len(data)

    def append(self, lines):
        with self.mu:
            path = os.path.join(self.dir, "%020d.ndjson" % self.next)
            self.next += 1
            self.bytes += self._write(path, lines)

    def read(self, name):
        with open(os.path.join(self.dir, name), "rb") as f:
            return [line for line in f.read().split(b"\n") if line.strip()]

    def replace(self, name, lines):
        with self.mu:
            path = os.path.join(self.dir, name)
            old = os.path.getsize(path)
            if lines:
                self.bytes += self._write(path, lines) - old
            else:
                os.unlink(path)
                self.bytes -= old

    def close(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None


class Deliverer:
    def __init__(self, url, api_key="", spool_dir="", max_memory_bytes=8 << 20,
                 max_spool_bytes=256 << 20, batch_records=500, batch_bytes=2 << 20,
                 flush_interval_s=0.2, request_timeout_s=10.0, initial_backoff_s=0.25,
                 max_backoff_s=30.0, hold_s=60.0, start=True):
        self._url = url.rstrip("/") + "/v1/events"
        self._api_key = api_key
        self._max_memory = max_memory_bytes
        self._max_spool = max_spool_bytes
        self._batch_records = max(1, batch_records)
        self._batch_bytes = batch_bytes
        self._interval = flush_interval_s
        self._timeout = request_timeout_s
        self._initial_backoff = initial_backoff_s
        self._max_backoff = max_backoff_s
        self._hold_s = hold_s

        self._cv = threading.Condition()
        self._ready = collections.deque()  # bytes lines, oldest first
        self._held = collections.deque()   # (release monotonic, line)
        self._memory = 0
        self._inflight = 0                 # lines taken by the sender and not yet settled/back
        self._inflight_lines = []          # the memory batch being sent
        self._closed = False
        self._stop = False
        self._wake = False
        self._failures = 0
        self._backoff_until = 0.0
        self._last_log = {}
        self._stats = collections.Counter()
        self._last_error = ""

        self._spool = None
        if spool_dir:
            try:
                self._spool = _Spool(spool_dir)
            except OSError as e:
                self._error("spool %s unusable (%s); records stay in memory" % (spool_dir, e))
        self._thread = None
        if start:
            self._thread = threading.Thread(target=self._run, name="tokenaudit-delivery",
                                            daemon=True)
            self._thread.start()

    # ---- caller side ----------------------------------------------------------------------------

    def submit(self, record, hold=False):
        """Queue one record (a dict). Never blocks; False when it could not be kept."""
        line = encode(record)
        size = len(line) + _ITEM_OVERHEAD
        with self._cv:
            if self._closed or self._memory + size > self._max_memory:
                self._stats["dropped"] += 1
                why = "closed" if self._closed else "memory bound reached"
                self._error_locked("record %s dropped: %s" % (record.get("id", "?"), why))
                return False
            self._memory += size
            self._stats["recorded"] += 1
            if hold and self._hold_s > 0:
                self._held.append((time.monotonic() + self._hold_s, line))
            else:
                self._ready.append(line)
            if len(self._ready) >= self._batch_records or self._memory * 2 > self._max_memory:
                self._wake = True
                self._cv.notify_all()
            return True

    def stats(self):
        with self._cv:
            s = dict(self._stats)
            s.update(queue_records=len(self._ready) + len(self._held) + self._inflight,
                     queue_bytes=self._memory, last_error=self._last_error,
                     spool_bytes=self._spool.bytes if self._spool else 0,
                     spool_files=len(self._spool.files()) if self._spool else 0)
            return s

    def _idle_locked(self, include_held):
        spool_empty = self._spool is None or not self._spool.files()
        return (not self._ready and self._inflight == 0 and spool_empty and
                (not include_held or not self._held))

    def flush(self, timeout, include_held=False):
        """Send now and wait until nothing is left in memory or in the spool (held records
        released at once when `include_held`). True when everything was settled in time."""
        deadline = time.monotonic() + timeout
        with self._cv:
            if include_held:
                while self._held:
                    self._ready.append(self._held.popleft()[1])
            self._backoff_until = 0.0
            self._wake = True
            self._cv.notify_all()
            while not self._idle_locked(include_held):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.05))
            return True

    def close(self, timeout=2.0):
        """Stop accepting, deliver for up to `timeout`, spool what is left (held records too),
        stop the thread. Returns the number of records lost (no spool, or spool full)."""
        with self._cv:
            if self._closed and self._stop:
                return 0
            self._closed = True
        deadline = time.monotonic() + timeout
        self.flush(timeout)
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        if self._thread is not None:
            # A request stuck on a hung server is not waited for beyond the drain time: its
            # records are spooled too (a later duplicate is harmless).
            self._thread.join(max(0.05, deadline - time.monotonic()))
        with self._cv:
            rest = list(self._ready) + [line for _, line in self._held]
            if self._thread is not None and self._thread.is_alive():
                rest += self._inflight_lines
            self._ready.clear()
            self._held.clear()
        lost = 0
        if rest:
            if self._spool is not None and self._spill(rest):
                pass
            else:
                lost = len(rest)
                with self._cv:
                    self._stats["dropped"] += lost
        if self._spool is not None:
            self._spool.close()
        return lost

    # ---- sender thread --------------------------------------------------------------------------

    def _error(self, message):
        with self._cv:
            self._error_locked(message)

    def _error_locked(self, message):
        self._last_error = message
        key = message.split(":")[0][:40]
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) >= 60:
            self._last_log[key] = now
            log.warning("tokenaudit: %s", message)

    def _spill(self, lines):
        """Appends `lines` to the spool in batch-sized files; False (nothing written) when the
        spool is missing, full or failing."""
        if self._spool is None:
            return False
        size = sum(len(line) + 1 for line in lines)
        if self._spool.bytes + size > self._max_spool:
            self._error("spool full (%d bytes); records stay in memory" % self._spool.bytes)
            return False
        try:
            for i in range(0, len(lines), self._batch_records):
                self._spool.append(lines[i:i + self._batch_records])
        except OSError as e:
            self._error("spool write failed: %s" % e)
            return False
        with self._cv:
            self._stats["spooled"] += len(lines)
        return True

    def _spill_memory(self):
        with self._cv:
            lines = list(self._ready)
            self._ready.clear()
            self._inflight += len(lines)
        if not lines:
            return
        ok = self._spill(lines)
        with self._cv:
            self._inflight -= len(lines)
            if ok:
                self._memory -= sum(len(line) + _ITEM_OVERHEAD for line in lines)
            else:
                self._ready.extendleft(reversed(lines))
            self._cv.notify_all()

    def _post(self, body):
        """(http status or None, parsed JSON or None, Retry-After seconds or None)."""
        req = urllib.request.Request(self._url, data=body, method="POST")
        req.add_header("Content-Type", "application/x-ndjson")
        if self._api_key:
            req.add_header("Authorization", "Bearer " + self._api_key)
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                status, raw, retry = resp.status, resp.read(), resp.headers.get("Retry-After")
        except urllib.error.HTTPError as e:
            status, retry = e.code, e.headers.get("Retry-After") if e.headers else None
            try:
                raw = e.read()
            except OSError:
                raw = b""
        except (OSError, ValueError) as e:  # refused, reset, timeout, bad URL
            self._error("ingest unreachable: %s" % e)
            return None, None, None
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            parsed = None
        try:
            retry = float(retry) if retry is not None else None
        except ValueError:
            retry = None
        return status, parsed, retry

    def _send(self, lines):
        """Sends `lines`; returns (settled flags per line, retry-after hint)."""
        body = b"".join(line + b"\n" for line in lines)
        with self._cv:
            self._stats["requests"] += 1
        status, parsed, retry = self._post(body)
        settled = [False] * len(lines)
        if status in (200, 207) and isinstance(parsed, dict) and isinstance(
                parsed.get("results"), list) and len(parsed["results"]) == len(lines):
            for i, item in enumerate(parsed["results"]):
                code = item.get("status") if isinstance(item, dict) else None
                if code == 200:
                    settled[i] = True
                    with self._cv:
                        self._stats["acknowledged"] += 1
                        if item.get("duplicate"):
                            self._stats["duplicates"] += 1
                elif isinstance(code, int) and 400 <= code < 500 and code not in _RETRY_ITEM:
                    settled[i] = True
                    err = item.get("error") or {}
                    with self._cv:
                        self._stats["rejected"] += 1
                    self._error("record refused (%s %s %s): %s" % (
                        code, err.get("code", ""), err.get("field", ""),
                        lines[i][:200].decode("utf-8", "replace")))
            return settled, retry
        if status in (400, 413):
            if len(lines) == 1:
                with self._cv:
                    self._stats["rejected"] += 1
                self._error("record refused (%d for the whole body): %s" % (
                    status, lines[0][:200].decode("utf-8", "replace")))
                return [True], None
            half = len(lines) // 2
            a, ra = self._send(lines[:half])
            b, rb = self._send(lines[half:])
            return a + b, ra or rb
        if status is not None:
            self._error("ingest answered HTTP %d" % status)
        return settled, retry

    def _backoff(self, retry):
        self._failures += 1
        d = min(self._max_backoff, self._initial_backoff * (2 ** min(self._failures - 1, 30)))
        d = random.uniform(d / 2, d)
        if retry is not None:
            d = max(d, min(retry, self._max_backoff))
        with self._cv:
            self._backoff_until = time.monotonic() + d

    def _release_held_locked(self, now):
        while self._held and self._held[0][0] <= now:
            self._ready.append(self._held.popleft()[1])

    def _run(self):
        while True:
            with self._cv:
                if not self._wake and not self._stop:
                    self._cv.wait(self._interval)
                self._wake = False
                if self._stop:
                    return
                now = time.monotonic()
                self._release_held_locked(now)
                in_backoff = now < self._backoff_until
                over_half = self._memory * 2 > self._max_memory
            try:
                if in_backoff:
                    self._spill_memory()
                    continue
                if over_half:
                    self._spill_memory()
                if self._spool is not None and self._spool.files():
                    self._send_spool_file(self._spool.files()[0])
                else:
                    self._send_memory()
            except Exception as e:  # never let the thread die
                self._error("delivery thread: %r" % e)
                self._backoff(None)
            spooled = self._spool is not None and bool(self._spool.files())  # no I/O under the lock
            with self._cv:
                more = self._ready or spooled
                if more and time.monotonic() >= self._backoff_until:
                    self._wake = True  # the next batch at once
                self._cv.notify_all()

    def _send_spool_file(self, name):
        try:
            lines = self._spool.read(name)
        except OSError as e:
            self._error("spool read failed: %s" % e)
            self._backoff(None)
            return
        for i in range(0, max(len(lines), 1), self._batch_records):
            chunk = lines[i:i + self._batch_records]
            if not chunk:
                break
            settled, retry = self._send(chunk)
            with self._cv:
                self._stats["replayed"] += sum(settled)
            if not all(settled):
                rest = [l for l, s in zip(chunk, settled) if not s] + lines[i + len(chunk):]
                self._spool.replace(name, rest)
                self._backoff(retry)
                return
        self._spool.replace(name, [])
        self._failures = 0

    def _send_memory(self):
        with self._cv:
            lines, size = [], 0
            while self._ready and len(lines) < self._batch_records:
                if lines and size + len(self._ready[0]) > self._batch_bytes:
                    break
                line = self._ready.popleft()
                lines.append(line)
                size += len(line)
            self._inflight += len(lines)
            self._inflight_lines = lines
        if not lines:
            return
        settled, retry = self._send(lines)
        rest = [l for l, s in zip(lines, settled) if not s]
        with self._cv:
            self._inflight_lines = []
            self._inflight -= len(lines)
            self._memory -= sum(len(l) + _ITEM_OVERHEAD for l, s in zip(lines, settled) if s)
            self._ready.extendleft(reversed(rest))
            self._cv.notify_all()
        if rest:
            self._backoff(retry)
            self._spill_memory()  # while the server is away, records wait on disk
        else:
            self._failures = 0
