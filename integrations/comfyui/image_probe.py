"""Width and height of PNG, JPEG and WebP images read from their headers, without decoding.

The same rules as the gateway's `src/comfy/image_probe.h` (doc/comfyui_capture.md, "Uploads"), so
both producers describe an input image identically. `probe(data)` returns `(width, height)` or
raises `ProbeError` ("<format>: truncated|corrupt: ..." or "unknown image format"); messages never
carry input bytes. `probe_file(path, max_bytes)` also hashes the file (SHA-256, streamed).
Pure Python, standard library only; safe to call from any thread.
"""

import hashlib
import os
import struct
import zlib

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_SIDE = 2**31 - 1


class ProbeError(ValueError):
    """The bytes are not an image this module can measure."""


def _png(data):
    if len(data) < 33:
        raise ProbeError("png: truncated: header needs 33 bytes")
    length, ctype = struct.unpack(">I4s", data[8:16])
    if ctype != b"IHDR" or length != 13:
        raise ProbeError("png: corrupt: first chunk is not a 13-byte IHDR")
    body = data[12:29]
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(body) & 0xFFFFFFFF != crc:
        raise ProbeError("png: corrupt: IHDR CRC mismatch")
    width, height, depth, colour, comp, filt, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise ProbeError("png: corrupt: zero or oversized side")
    allowed = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
    if depth not in allowed.get(colour, ()):
        raise ProbeError("png: corrupt: bad bit depth or colour type")
    if comp != 0 or filt != 0 or interlace not in (0, 1):
        raise ProbeError("png: corrupt: unknown compression, filter or interlace method")
    return width, height


_SOF = {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)}


def _jpeg(data):
    pos = 2
    n = len(data)
    while True:
        if pos >= n:
            raise ProbeError("jpeg: truncated: no frame header")
        if data[pos] != 0xFF:
            raise ProbeError("jpeg: corrupt: stray bytes between segments")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise ProbeError("jpeg: truncated: no frame header")
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue  # no length
        if marker in (0xDA, 0xD9, 0xD8):
            raise ProbeError("jpeg: corrupt: scan, end or second start before the frame header")
        if pos + 2 > n:
            raise ProbeError("jpeg: truncated: segment length")
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        if length < 2:
            raise ProbeError("jpeg: corrupt: segment length below 2")
        if marker in _SOF:
            if pos + 8 > n:
                raise ProbeError("jpeg: truncated: frame header")
            height, width, comps = struct.unpack(">HHB", data[pos + 3:pos + 8])
            if length != 8 + 3 * comps:
                raise ProbeError("jpeg: corrupt: frame length does not match its components")
            if width == 0:
                raise ProbeError("jpeg: corrupt: zero width")
            if height == 0:
                raise ProbeError("jpeg: unsupported: zero height (DNL)")
            return width, height
        pos += length


def _webp(data):
    if len(data) < 12:
        raise ProbeError("webp: truncated: RIFF header")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = 8 + riff_size
    if len(data) < min(end, 30):
        raise ProbeError("webp: truncated: first chunk")
    if len(data) < 20:
        raise ProbeError("webp: truncated: first chunk")
    fourcc, size = data[12:16], struct.unpack("<I", data[16:20])[0]
    if 20 + size > end:
        raise ProbeError("webp: corrupt: chunk past the RIFF size")
    chunk = data[20:20 + size]
    if fourcc == b"VP8 ":
        if len(chunk) < 10:
            raise ProbeError("webp: truncated: VP8 frame header")
        if chunk[0] & 1:
            raise ProbeError("webp: corrupt: VP8 inter frame")
        if chunk[3:6] != b"\x9d\x01\x2a":
            raise ProbeError("webp: corrupt: VP8 start code missing")
        w, h = struct.unpack("<HH", chunk[6:10])
        width, height = w & 0x3FFF, h & 0x3FFF
    elif fourcc == b"VP8L":
        if len(chunk) < 5:
            raise ProbeError("webp: truncated: VP8L header")
        if chunk[0] != 0x2F:
            raise ProbeError("webp: corrupt: VP8L signature")
        (bits,) = struct.unpack("<I", chunk[1:5])
        if bits >> 29:
            raise ProbeError("webp: corrupt: VP8L version")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif fourcc == b"VP8X":
        if len(chunk) < 10:
            raise ProbeError("webp: truncated: VP8X header")
        width = int.from_bytes(chunk[4:7], "little") + 1
        height = int.from_bytes(chunk[7:10], "little") + 1
        if width * height > 2**32 - 1:
            raise ProbeError("webp: corrupt: canvas too large")
    else:
        raise ProbeError("webp: corrupt: unknown first chunk")
    if width == 0 or height == 0:
        raise ProbeError("webp: corrupt: zero side")
    return width, height


def probe(data):
    """(width, height) of the PNG, JPEG or WebP image whose first bytes are `data`."""
    data = bytes(data)
    if data[:8] == _PNG_SIGNATURE:
        return _png(data)
    if len(data) < 8 and _PNG_SIGNATURE.startswith(data) and data[:1] == b"\x89":
        raise ProbeError("png: truncated: signature")
    if data[:2] == b"\xff\xd8":
        return _jpeg(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    raise ProbeError("unknown image format")


def probe_file(path, max_bytes):
    """(sha256_hex, width, height) of the image file at `path`.

    Reads the file once, in chunks; the size comes from its first 1 MiB (a JPEG whose frame header
    lies later, behind huge metadata, is reported as truncated). Raises OSError, or ProbeError for
    an unmeasurable image or a file larger than `max_bytes` (not hashed: hashing is paid on the
    request path).
    """
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ProbeError("file larger than max_hash_bytes")
    h = hashlib.sha256()
    head = bytearray()
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                break
            h.update(block)
            if len(head) < (1 << 20):
                head += block[:(1 << 20) - len(head)]
    width, height = probe(head)
    return h.hexdigest(), width, height
