#include "src/gateway/comfy_messages.h"

#include <simdjson.h>

#include <algorithm>

#include "src/util/json_string.h"

namespace tokenaudit::gateway {
namespace {

using simdjson::dom::element;

Result<element> Parse(simdjson::dom::parser& p, std::string_view text) {
  element root;
  if (p.parse(text.data(), text.size(), true).get(root) != simdjson::SUCCESS) {
    return Status::InvalidArgument("upstream: malformed JSON");
  }
  return root;
}

std::string StringOr(element e, std::string_view key) {
  std::string_view v;
  if (e[key].get_string().get(v) == simdjson::SUCCESS) return std::string(v);
  return {};
}

std::vector<std::string> StringList(element e, std::string_view key) {
  std::vector<std::string> out;
  simdjson::dom::array a;
  if (e[key].get_array().get(a) != simdjson::SUCCESS) return out;
  for (element x : a) {
    std::string_view v;
    if (x.get_string().get(v) == simdjson::SUCCESS) out.emplace_back(v);
  }
  return out;
}

std::optional<int64_t> IntOr(element e, std::string_view key) {
  int64_t v;
  if (e[key].get_int64().get(v) == simdjson::SUCCESS) return v;
  double d;
  if (e[key].get_double().get(d) == simdjson::SUCCESS) return static_cast<int64_t>(d);
  return std::nullopt;
}

// Files in a node's UI output dict: every array element with a string `filename`.
void CollectFiles(element output, std::vector<ComfyFile>* files) {
  simdjson::dom::object o;
  if (output.get_object().get(o) != simdjson::SUCCESS) return;
  for (auto [k, v] : o) {
    simdjson::dom::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS) continue;
    for (element x : a) {
      ComfyFile f;
      f.filename = StringOr(x, "filename");
      if (f.filename.empty()) continue;
      f.subfolder = StringOr(x, "subfolder");
      f.type = StringOr(x, "type");
      if (f.type.empty()) f.type = "output";
      files->push_back(std::move(f));
    }
  }
}

uint32_t BigEndian32(std::string_view s, size_t at) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

void PutBigEndian32(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v >> 24));
  s->push_back(static_cast<char>(v >> 16));
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v));
}

}  // namespace

Result<UpstreamEvent> ParseUpstreamEvent(std::string_view text) {
  // Every upstream frame comes through here: keep the parser's buffers between calls.
  thread_local simdjson::dom::parser p;
  ASSIGN_OR_RETURN(element root, Parse(p, text));
  UpstreamEvent e;
  e.type = StringOr(root, "type");
  if (e.type.empty()) return Status::InvalidArgument("upstream: event without type");
  element data;
  if (root["data"].get(data) != simdjson::SUCCESS || !data.is_object()) return e;
  e.prompt_id = StringOr(data, "prompt_id");
  element node;
  if (data["node"].get(node) == simdjson::SUCCESS) {
    e.has_node = true;
    std::string_view v;
    if (node.get_string().get(v) == simdjson::SUCCESS) e.node = std::string(v);
  }
  e.node_id = StringOr(data, "node_id");
  e.node_type = StringOr(data, "node_type");
  e.exception_type = StringOr(data, "exception_type");
  e.nodes = StringList(data, "nodes");
  e.executed = StringList(data, "executed");
  e.timestamp_ms = IntOr(data, "timestamp");
  element output;
  if (e.type == "executed" && data["output"].get(output) == simdjson::SUCCESS) {
    CollectFiles(output, &e.output_files);
  }
  return e;
}

std::optional<uint32_t> BinaryEventType(std::string_view frame) {
  if (frame.size() < 4) return std::nullopt;
  return BigEndian32(frame, 0);
}

namespace {
// The metadata JSON of a type-4 frame and the offset of the image after it.
std::optional<std::pair<std::string_view, size_t>> PreviewMetadata(std::string_view frame) {
  if (frame.size() < 8 || BigEndian32(frame, 0) != kPreviewImageWithMetadata) return std::nullopt;
  const uint32_t len = BigEndian32(frame, 4);
  if (len > frame.size() - 8) return std::nullopt;
  return std::make_pair(frame.substr(8, len), size_t{8} + len);
}
}  // namespace

std::string PreviewPromptId(std::string_view frame) {
  auto meta = PreviewMetadata(frame);
  if (!meta) return {};
  simdjson::dom::parser p;
  auto root = Parse(p, meta->first);
  if (!root.ok()) return {};
  return StringOr(*root, "prompt_id");
}

std::optional<std::string> PreviewToLegacy(std::string_view frame) {
  auto meta = PreviewMetadata(frame);
  if (!meta) return std::nullopt;
  simdjson::dom::parser p;
  auto root = Parse(p, meta->first);
  if (!root.ok()) return std::nullopt;
  const std::string image_type = StringOr(*root, "image_type");
  std::string out;
  out.reserve(frame.size());
  PutBigEndian32(&out, kPreviewImage);
  PutBigEndian32(&out, image_type == "image/png" ? 2 : 1);
  out.append(frame.substr(meta->second));
  return out;
}

Result<HistoryOutcome> ParseHistoryEntry(std::string_view body, std::string_view prompt_id) {
  simdjson::dom::parser p;
  ASSIGN_OR_RETURN(element root, Parse(p, body));
  HistoryOutcome h;
  element entry;
  if (root[prompt_id].get(entry) != simdjson::SUCCESS || !entry.is_object()) return h;
  h.found = true;
  simdjson::dom::array messages;
  if (entry["status"]["messages"].get_array().get(messages) == simdjson::SUCCESS) {
    for (element m : messages) {
      simdjson::dom::array pair;
      if (m.get_array().get(pair) != simdjson::SUCCESS || pair.size() != 2) continue;
      std::string_view name;
      if (pair.at(0).get_string().get(name) != simdjson::SUCCESS) continue;
      element data = pair.at(1).value_unsafe();
      if (name == "execution_start") {
        h.start_ms = IntOr(data, "timestamp");
      } else if (name == "execution_cached") {
        h.cached = StringList(data, "nodes");
      } else if (name == "execution_success" || name == "execution_error" ||
                 name == "execution_interrupted") {
        h.finished = true;
        h.status = name == "execution_success" ? "success"
                   : name == "execution_error" ? "error"
                                               : "interrupted";
        h.end_ms = IntOr(data, "timestamp");
        h.node_id = StringOr(data, "node_id");
        h.exception_type = StringOr(data, "exception_type");
        h.executed = StringList(data, "executed");
      }
    }
  }
  simdjson::dom::object outputs;
  if (entry["outputs"].get_object().get(outputs) == simdjson::SUCCESS) {
    for (auto [k, v] : outputs) CollectFiles(v, &h.output_files);
  }
  return h;
}

namespace {

// A queue tuple [number, prompt_id, prompt, extra_data, outputs, ...] with extra_data.client_id
// set to `client_id` (removed when empty).
std::string WithClientId(element tuple, const std::string& client_id) {
  simdjson::dom::array a;
  if (tuple.get_array().get(a) != simdjson::SUCCESS) return simdjson::minify(tuple);
  std::string out = "[";
  size_t i = 0;
  for (element x : a) {
    if (i > 0) out += ',';
    simdjson::dom::object extra;
    if (i++ == 3 && x.get_object().get(extra) == simdjson::SUCCESS) {
      std::string e = "{";
      for (auto [k, v] : extra) {
        if (k == "client_id") continue;
        if (e.size() > 1) e += ',';
        AppendJsonString(&e, k);
        e += ':';
        e += simdjson::minify(v);
      }
      if (!client_id.empty()) {
        if (e.size() > 1) e += ',';
        e += "\"client_id\":";
        AppendJsonString(&e, client_id);
      }
      out += e + "}";
    } else {
      out += simdjson::minify(x);
    }
  }
  return out + "]";
}

// A history entry with its `prompt` tuple rewritten by WithClientId.
std::string EntryWithClientId(element entry, const std::string& client_id) {
  simdjson::dom::object o;
  if (entry.get_object().get(o) != simdjson::SUCCESS) return simdjson::minify(entry);
  std::string out = "{";
  for (auto [k, v] : o) {
    if (out.size() > 1) out += ',';
    AppendJsonString(&out, k);
    out += ':';
    out += k == "prompt" ? WithClientId(v, client_id) : simdjson::minify(v);
  }
  return out + "}";
}

}  // namespace

Result<std::string> FilterHistory(std::string_view body,
                                  const std::function<bool(std::string_view)>& owned,
                                  std::optional<int64_t> max_items, std::optional<int64_t> offset,
                                  std::vector<ComfyFile>* files, const ClientIdOf& client_id_of) {
  simdjson::dom::parser p;
  ASSIGN_OR_RETURN(element root, Parse(p, body));
  simdjson::dom::object o;
  if (root.get_object().get(o) != simdjson::SUCCESS) {
    return Status::InvalidArgument("upstream: history is not an object");
  }
  std::vector<std::pair<std::string_view, element>> kept;
  for (auto [k, v] : o) {
    if (owned(k)) kept.emplace_back(k, v);
  }
  // execution.py get_history: offset defaults to len - max_items when only max_items is given.
  int64_t n = static_cast<int64_t>(kept.size());
  int64_t begin = 0, end = n;
  if (max_items) {
    begin = offset ? *offset : n - *max_items;
    if (begin < 0) begin = 0;
    end = std::min<int64_t>(n, begin + std::max<int64_t>(*max_items, 0));
  } else if (offset) {
    begin = std::clamp<int64_t>(*offset, 0, n);
  }
  std::string out = "{";
  for (int64_t i = begin; i < end; ++i) {
    if (out.size() > 1) out += ',';
    AppendJsonString(&out, kept[static_cast<size_t>(i)].first);
    out += ':';
    out += client_id_of ? EntryWithClientId(kept[static_cast<size_t>(i)].second,
                                            client_id_of(kept[static_cast<size_t>(i)].first))
                        : simdjson::minify(kept[static_cast<size_t>(i)].second);
    if (files != nullptr) {
      element outputs;
      if (kept[static_cast<size_t>(i)].second["outputs"].get(outputs) == simdjson::SUCCESS) {
        simdjson::dom::object oo;
        if (outputs.get_object().get(oo) == simdjson::SUCCESS) {
          for (auto [nk, nv] : oo) CollectFiles(nv, files);
        }
      }
    }
  }
  out += '}';
  return out;
}

namespace {
std::string ItemPromptId(element item) {
  simdjson::dom::array a;
  std::string_view id;
  if (item.get_array().get(a) == simdjson::SUCCESS && a.size() >= 2 &&
      a.at(1).get_string().get(id) == simdjson::SUCCESS) {
    return std::string(id);
  }
  return {};
}
double ItemNumber(element item) {
  simdjson::dom::array a;
  double d = 0;
  if (item.get_array().get(a) == simdjson::SUCCESS && a.size() >= 1) {
    int64_t i;
    if (a.at(0).get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
    if (a.at(0).get_double().get(d) == simdjson::SUCCESS) return d;
  }
  return d;
}
}  // namespace

Result<std::string> FilterQueue(std::string_view body,
                                const std::function<bool(std::string_view)>& owned,
                                const ClientIdOf& client_id_of) {
  simdjson::dom::parser p;
  ASSIGN_OR_RETURN(element root, Parse(p, body));
  std::string out = "{";
  for (std::string_view key : {"queue_running", "queue_pending"}) {
    std::vector<element> items;
    simdjson::dom::array a;
    if (root[key].get_array().get(a) == simdjson::SUCCESS) {
      for (element item : a) {
        if (owned(ItemPromptId(item))) items.push_back(item);
      }
    }
    // queue_pending is a copy of the heap array: present it in run order.
    std::stable_sort(items.begin(), items.end(), [](element x, element y) {
      double nx = ItemNumber(x), ny = ItemNumber(y);
      return nx != ny ? nx < ny : ItemPromptId(x) < ItemPromptId(y);
    });
    if (out.size() > 1) out += ',';
    AppendJsonString(&out, key);
    out += ":[";
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) out += ',';
      out += client_id_of ? WithClientId(items[i], client_id_of(ItemPromptId(items[i])))
                          : simdjson::minify(items[i]);
    }
    out += ']';
  }
  out += '}';
  return out;
}

Result<std::vector<std::string>> QueuePromptIds(std::string_view body) {
  simdjson::dom::parser p;
  ASSIGN_OR_RETURN(element root, Parse(p, body));
  std::vector<std::string> ids;
  for (std::string_view key : {"queue_running", "queue_pending"}) {
    simdjson::dom::array a;
    if (root[key].get_array().get(a) != simdjson::SUCCESS) continue;
    for (element item : a) {
      std::string id = ItemPromptId(item);
      if (!id.empty()) ids.push_back(std::move(id));
    }
  }
  return ids;
}

namespace {

using Visible = std::function<bool(std::string_view)>;

void AppendKey(std::string* out, std::string_view key) {
  if (out->size() > 1) *out += ',';
  AppendJsonString(out, key);
  *out += ':';
}

// `[s...]` keeping the strings `visible` accepts; other elements are dropped too.
std::string VisibleStrings(simdjson::dom::array a, const Visible& visible) {
  std::string out = "[";
  for (element x : a) {
    std::string_view v;
    if (x.get_string().get(v) != simdjson::SUCCESS || !visible(v)) continue;
    if (out.size() > 1) out += ',';
    AppendJsonString(&out, v);
  }
  return out + "]";
}

// An input definition: [[options], {...}] or ["COMBO", {"options": [...], ...}].
std::string FilteredInputDef(element def, const Visible& visible) {
  simdjson::dom::array a;
  if (def.get_array().get(a) != simdjson::SUCCESS) return simdjson::minify(def);
  std::string out = "[";
  size_t i = 0;
  for (element x : a) {
    if (i++ > 0) out += ',';
    simdjson::dom::array options;
    simdjson::dom::object o;
    if (i == 1 && x.get_array().get(options) == simdjson::SUCCESS) {
      out += VisibleStrings(options, visible);
    } else if (i == 2 && x.get_object().get(o) == simdjson::SUCCESS) {
      std::string obj = "{";
      for (auto [k, v] : o) {
        AppendKey(&obj, k);
        obj += k == "options" && v.get_array().get(options) == simdjson::SUCCESS
                   ? VisibleStrings(options, visible)
                   : simdjson::minify(v);
      }
      out += obj + "}";
    } else {
      out += simdjson::minify(x);
    }
  }
  return out + "]";
}

// One class's object_info with `input.{required,optional}.<input_name>` filtered.
std::string FilteredClass(element cls, std::string_view input_name, const Visible& visible) {
  simdjson::dom::object o;
  if (cls.get_object().get(o) != simdjson::SUCCESS) return simdjson::minify(cls);
  std::string out = "{";
  for (auto [k, v] : o) {
    AppendKey(&out, k);
    simdjson::dom::object groups;
    if (k != "input" || v.get_object().get(groups) != simdjson::SUCCESS) {
      out += simdjson::minify(v);
      continue;
    }
    std::string in = "{";
    for (auto [group, inputs_el] : groups) {
      AppendKey(&in, group);
      simdjson::dom::object inputs;
      if (inputs_el.get_object().get(inputs) != simdjson::SUCCESS) {
        in += simdjson::minify(inputs_el);
        continue;
      }
      std::string defs = "{";
      for (auto [name, def] : inputs) {
        AppendKey(&defs, name);
        defs += name == input_name ? FilteredInputDef(def, visible) : simdjson::minify(def);
      }
      in += defs + "}";
    }
    out += in + "}";
  }
  return out + "}";
}

}  // namespace

Result<std::string> FilterObjectInfo(
    std::string_view body, const std::function<std::string_view(std::string_view)>& upload_input,
    const std::function<bool(std::string_view)>& visible) {
  simdjson::dom::parser p;
  ASSIGN_OR_RETURN(element root, Parse(p, body));
  simdjson::dom::object o;
  if (root.get_object().get(o) != simdjson::SUCCESS) {
    return Status::InvalidArgument("upstream: object_info is not an object");
  }
  bool any = false;
  for (auto [k, v] : o) any = any || !upload_input(k).empty();
  if (!any) return std::string(body);
  std::string out = "{";
  for (auto [k, v] : o) {
    AppendKey(&out, k);
    const std::string_view input = upload_input(k);
    out += input.empty() ? simdjson::minify(v) : FilteredClass(v, input, visible);
  }
  return out + "}";
}

std::string ComfyErrorJson(std::string_view type, std::string_view message,
                           std::string_view details, std::string_view extra_info_json) {
  std::string out = "{\"error\":{\"type\":";
  AppendJsonString(&out, type);
  out += ",\"message\":";
  AppendJsonString(&out, message);
  out += ",\"details\":";
  AppendJsonString(&out, details);
  out += ",\"extra_info\":";
  out += extra_info_json.empty() ? std::string_view("{}") : extra_info_json;
  out += "},\"node_errors\":{}}";
  return out;
}

QueueEdit ParseQueueEdit(std::string_view body) {
  QueueEdit q;
  if (body.empty()) return q;
  simdjson::dom::parser p;
  auto root = Parse(p, body);
  if (!root.ok() || !root->is_object()) return q;
  std::string_view id;
  if ((*root)["prompt_id"].get_string().get(id) == simdjson::SUCCESS) q.prompt_id = std::string(id);
  q.delete_ids = StringList(*root, "delete");
  bool clear = false;
  if ((*root)["clear"].get_bool().get(clear) == simdjson::SUCCESS) q.clear = clear;
  return q;
}

std::string SanitizeExtraData(std::string_view extra_data_json, std::string_view user_pseudonym) {
  std::string out = "{";
  simdjson::dom::parser p;
  simdjson::dom::object o;
  if (!extra_data_json.empty()) {
    auto root = Parse(p, extra_data_json);
    if (root.ok() && root->get_object().get(o) == simdjson::SUCCESS) {
      for (auto [k, v] : o) {
        if (k == "client_id" || k == "api_key_comfy_org" || k == "auth_token_comfy_org" ||
            k == kUserExtraDataKey) {
          continue;
        }
        if (out.size() > 1) out += ',';
        AppendJsonString(&out, k);
        out += ':';
        out += simdjson::minify(v);
      }
    }
  }
  if (!user_pseudonym.empty()) {
    if (out.size() > 1) out += ',';
    AppendJsonString(&out, kUserExtraDataKey);
    out += ':';
    AppendJsonString(&out, user_pseudonym);
  }
  out += '}';
  return out;
}

Result<ComfyFile> ParseUploadReply(std::string_view body) {
  simdjson::dom::parser p;
  ASSIGN_OR_RETURN(element root, Parse(p, body));
  ComfyFile f;
  f.filename = StringOr(root, "name");
  f.subfolder = StringOr(root, "subfolder");
  f.type = StringOr(root, "type");
  if (f.filename.empty()) return Status::InvalidArgument("upstream: upload answer without name");
  if (f.type.empty()) f.type = "input";
  return f;
}

}  // namespace tokenaudit::gateway
