"""What the extension reads from an API-format prompt, the way the gateway reads it.

* `NodeCatalog`: which class_types are model nodes and how to read them; the gateway's built-in
  catalog and its TOML file format (doc/comfyui_capture.md, "Node catalog"), or the same entries
  as JSON.
* `workflow_hash(prompt)`: "sha256:<hex>" of the gateway's canonical API JSON
  (`src/comfy/workflow_encode.cc`): nodes sorted by id, `_meta` dropped, inputs sorted, floats
  in C++ `to_chars` shortest form with ".0" added to integral values, strings escaped as the
  record encoder does. A prompt the gateway submitted hashes to the same value here.
* `summarize(prompt, catalog, image_info)`: the nodes the extension records (model nodes of the
  catalog and class_types it does not know, as the gateway does), each with the model, the
  model_input_size and the input image traced upstream through passthrough/resize nodes to an
  image source (`image_info(name)` gives (sha256_hex, width, height) or None).

Pure functions over plain Python values; no ComfyUI import.
"""

import decimal
import hashlib
import json
import math

ROLES = ("model", "image_source", "passthrough", "resize", "other")
_INT64_MAX = 2**63 - 1


class CatalogError(ValueError):
    """A node catalog file or entry that cannot be used."""


class NodeSpec:
    """One catalog entry (the fields of the gateway's NodeSpec that the extension uses)."""

    __slots__ = ("class_type", "role", "image_input", "model_inputs", "model_input_size_input",
                 "task_type", "upload_input", "width_input", "height_input")

    def __init__(self, class_type, role, image_input="", model_inputs=(),
                 model_input_size_input="", task_type="", upload_input="", width_input="",
                 height_input=""):
        self.class_type = class_type
        self.role = role
        self.image_input = image_input
        self.model_inputs = list(model_inputs)
        self.model_input_size_input = model_input_size_input
        self.task_type = task_type
        self.upload_input = upload_input
        self.width_input = width_input
        self.height_input = height_input


def _default_specs():
    return [
        NodeSpec("DDColor_Colorize", "model", image_input="image", model_inputs=["checkpoint"],
                 model_input_size_input="model_input_size", task_type="image_colorization"),
        NodeSpec("LoadImage", "image_source", upload_input="image"),
        NodeSpec("ImageInvert", "passthrough", image_input="image"),
        NodeSpec("ImageScale", "resize", image_input="image", width_input="width",
                 height_input="height"),
        NodeSpec("SaveImage", "other"),
        NodeSpec("PreviewImage", "other"),
    ]


_STRING_KEYS = ("class_type", "role", "image_input", "model_input_size_input", "task_type",
                "upload_input", "width_input", "height_input")
_LIST_KEYS = ("model_inputs", "widgets", "ui_only_widgets")


def _spec_from_entry(entry, where):
    if not isinstance(entry, dict):
        raise CatalogError(where + ": node entry is not a table")
    for key, value in entry.items():
        if key in _STRING_KEYS:
            if not isinstance(value, str) or not value:
                raise CatalogError("%s: node.%s must be a non-empty string" % (where, key))
        elif key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise CatalogError("%s: node.%s must be an array of strings" % (where, key))
        else:
            raise CatalogError("%s: node.%s is not a known key" % (where, key))
    if "class_type" not in entry:
        raise CatalogError(where + ": node entry without class_type")
    if "role" not in entry:
        raise CatalogError("%s: node %s without role" % (where, entry["class_type"]))
    role = entry["role"]
    if role not in ROLES:
        raise CatalogError(where + ": node.role must be one of " + ", ".join(ROLES))
    spec = NodeSpec(entry["class_type"], role, entry.get("image_input", ""),
                    entry.get("model_inputs", ()), entry.get("model_input_size_input", ""),
                    entry.get("task_type", ""), entry.get("upload_input", ""),
                    entry.get("width_input", ""), entry.get("height_input", ""))
    needs = {"model": ("model_inputs", "model_input_size_input", "image_input"),
             "image_source": ("upload_input",), "passthrough": ("image_input",),
             "resize": ("image_input", "width_input", "height_input")}.get(role, ())
    for key in needs:
        if not getattr(spec, key):
            raise CatalogError("%s: node %s (role %s) needs %s" % (where, spec.class_type, role, key))
    return spec


class NodeCatalog:
    """class_type -> NodeSpec. A value: build it once, then read it from any thread."""

    def __init__(self, specs=None):
        self._specs = {}
        for s in _default_specs() if specs is None else specs:
            self._specs[s.class_type] = s

    def find(self, class_type):
        return self._specs.get(class_type)

    @classmethod
    def from_data(cls, data, where="catalog"):
        """From the parsed TOML/JSON document `{replace_builtin?, node: [...]}`."""
        if not isinstance(data, dict):
            raise CatalogError(where + ": not a table")
        unknown = set(data) - {"replace_builtin", "node"}
        if unknown:
            raise CatalogError("%s: unknown key %s" % (where, sorted(unknown)[0]))
        replace = data.get("replace_builtin", False)
        if not isinstance(replace, bool):
            raise CatalogError(where + ": replace_builtin must be true or false")
        nodes = data.get("node", [])
        if not isinstance(nodes, list):
            raise CatalogError(where + ": node must be an array of tables")
        catalog = cls([] if replace else None)
        for i, entry in enumerate(nodes):
            spec = _spec_from_entry(entry, "%s: node[%d]" % (where, i))
            catalog._specs[spec.class_type] = spec
        return catalog

    @classmethod
    def from_file(cls, path):
        """A `.toml` (the gateway's format; needs Python >= 3.11) or `.json` catalog file."""
        with open(path, "rb") as f:
            raw = f.read()
        if path.endswith(".json"):
            data = json.loads(raw.decode("utf-8"))
        else:
            try:
                import tomllib
            except ImportError as e:  # Python < 3.11
                raise CatalogError(path + ": TOML needs Python 3.11; use a .json catalog") from e
            data = tomllib.loads(raw.decode("utf-8"))
        return cls.from_data(data, path)


# ---- canonical API JSON -------------------------------------------------------------------------

def _json_string(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _cpp_double(d):
    """std::to_chars(double) shortest form (fixed or scientific, whichever is shorter; a tie goes
    to fixed), with ".0" appended when it has no '.', 'e' or 'n' (workflow_encode.cc)."""
    if math.isnan(d):
        return "nan"
    if math.isinf(d):
        return "inf" if d > 0 else "-inf"
    sign = "-" if math.copysign(1.0, d) < 0 else ""
    if d == 0:
        return sign + "0.0"
    t = decimal.Decimal(repr(abs(d))).as_tuple()  # repr: the shortest round-trip digits
    digits = list(t.digits)
    exp = t.exponent
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exp += 1
    ds = "".join(str(x) for x in digits)
    point = len(ds) + exp  # position of the decimal point from the left of ds
    if exp >= 0:
        fixed = ds + "0" * exp
    elif point > 0:
        fixed = ds[:point] + "." + ds[point:]
    else:
        fixed = "0." + "0" * (-point) + ds
    sci_exp = point - 1
    mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
    sci = "%se%s%02d" % (mant, "-" if sci_exp < 0 else "+", abs(sci_exp))
    s = fixed if len(fixed) <= len(sci) else sci
    if not any(c in s for c in ".en"):
        s += ".0"
    return sign + s


def _is_link(v):
    return (isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and
            isinstance(v[1], int) and not isinstance(v[1], bool))


def _value(v):
    if _is_link(v):
        return "[" + _json_string(v[0]) + "," + str(v[1]) + "]"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _cpp_double(v)
    if isinstance(v, str):
        return _json_string(v)
    # Objects ({"__value__": [...]}) and other lists: minified JSON. The gateway keeps simdjson's
    # minified text here; nested strings with control characters or unusual floats may differ.
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def canonical_api_json(prompt):
    """The gateway's canonical API JSON of an API-format prompt dict."""
    parts = []
    for node_id in sorted(prompt):
        node = prompt[node_id] if isinstance(prompt[node_id], dict) else {}
        inputs = _inputs(node)
        body = ",".join(_json_string(k) + ":" + _value(inputs[k]) for k in sorted(inputs))
        parts.append(_json_string(str(node_id)) + ':{"class_type":' +
                     _json_string(str(node.get("class_type", ""))) + ',"inputs":{' + body + "}}")
    return "{" + ",".join(parts) + "}"


def workflow_hash(prompt):
    data = canonical_api_json(prompt).encode("utf-8", "surrogatepass")
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- recordable nodes ---------------------------------------------------------------------------

def int_literal(v):
    """What ComfyUI's INT validation accepts (`int(value)`): int, float truncated, decimal string."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if -_INT64_MAX - 1 <= v <= _INT64_MAX else None
    if isinstance(v, float):
        return int(v) if math.isfinite(v) and abs(v) < 9e18 else None
    if isinstance(v, str) and v.isascii() and v.isdigit():
        n = int(v)
        return n if n <= _INT64_MAX else None
    return None


def model_name(checkpoint):
    for ext in (".pth", ".safetensors", ".pt", ".ckpt"):
        if len(checkpoint) > len(ext) and checkpoint.endswith(ext):
            return checkpoint[:-len(ext)]
    return checkpoint


def upload_key(value):
    """A LoadImage value without its " [input]" annotation (protocol.md §1.5)."""
    return value[:-len(" [input]")] if value.endswith(" [input]") else value


class RecordableNode:
    """A node the extension records, with what is known of its input before it runs."""

    __slots__ = ("node_id", "class_type", "task_type", "model", "width", "height", "batch",
                 "model_input_size", "input_hash")

    def __init__(self, node_id, class_type):
        self.node_id = node_id
        self.class_type = class_type
        self.task_type = ""
        self.model = ""
        self.width = self.height = self.batch = self.model_input_size = None
        self.input_hash = ""


def _inputs(node):
    inputs = node.get("inputs") if isinstance(node, dict) else None
    return inputs if isinstance(inputs, dict) else {}


def _round_half_even(x):
    return int(round(x))  # Python's round: ties to even, as the gateway's nearbyint


def _trace_image(prompt, catalog, image_info, node, image_input):
    """(width, height, sha256_hex) of the image reaching `node.inputs[image_input]`, or None."""
    resizes = []
    current, input_name = node, image_input
    for _ in range(len(prompt) + 1):
        v = _inputs(current).get(input_name)
        if not _is_link(v):
            return None
        up = prompt.get(v[0])
        if not isinstance(up, dict):
            return None
        spec = catalog.find(up.get("class_type"))
        if spec is None or spec.role == "other":
            return None
        if spec.role == "image_source":
            name = _inputs(up).get(spec.upload_input)
            if not isinstance(name, str):
                return None
            info = image_info(upload_key(name))
            if info is None:
                return None
            sha, w, h = info
            for rw, rh in reversed(resizes):
                if rw == 0 and rh == 0:
                    continue
                if (rw == 0 or rh == 0) and (w <= 0 or h <= 0):
                    continue
                if rw == 0:
                    rw = max(1, _round_half_even(w * rh / h))
                if rh == 0:
                    rh = max(1, _round_half_even(h * rw / w))
                w, h = rw, rh
            return w, h, sha
        if spec.role == "resize":
            ins = _inputs(up)
            rw, rh = int_literal(ins.get(spec.width_input)), int_literal(ins.get(spec.height_input))
            if rw is None or rh is None or rw < 0 or rh < 0:
                return None
            resizes.append((rw, rh))
        current, input_name = up, spec.image_input
    return None


def summarize(prompt, catalog, image_info, record_unknown=True):
    """(nodes, task_type): the recordable nodes of `prompt` in its order, and the first model
    node's task_type. `image_info(name)` -> (sha256_hex, width, height) or None."""
    nodes, task_type = [], ""
    if not isinstance(prompt, dict):
        return nodes, task_type
    for node_id, node in prompt.items():
        if not isinstance(node, dict):
            continue
        class_type = node.get("class_type")
        if not isinstance(class_type, str):
            continue
        spec = catalog.find(class_type)
        if spec is not None and spec.role != "model":
            continue
        if spec is None and not record_unknown:
            continue
        rn = RecordableNode(str(node_id), class_type)
        if spec is not None:
            inputs = _inputs(node)
            rn.task_type = spec.task_type
            for name in spec.model_inputs:
                v = inputs.get(name)
                if isinstance(v, str) and v:
                    rn.model = model_name(v)
                    break
            size = int_literal(inputs.get(spec.model_input_size_input))
            rn.model_input_size = size if size is not None and size > 0 else None
            rn.batch = 1  # an image source yields one image
            traced = _trace_image(prompt, catalog, image_info, node, spec.image_input)
            if traced is not None:
                rn.width, rn.height, sha = traced
                rn.input_hash = "sha256:" + sha
            if not task_type:
                task_type = spec.task_type
        nodes.append(rn)
    return nodes, task_type
