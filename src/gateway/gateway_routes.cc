// The gateway's HTTP routes (doc/gateway.md, "Routes"): what is proxied, filtered per user,
// rewritten or blocked, and the checks and bookkeeping around POST /prompt and uploads.

#include <algorithm>

#include "src/comfy/image_probe.h"
#include "src/comfy/workflow.h"
#include "src/gateway/gateway_server.h"
#include "src/gateway/multipart.h"
#include "src/http/http_message.h"
#include "src/util/json_string.h"

namespace tokenaudit::gateway {
namespace {

using Respond = std::function<void(GwReply)>;

// Read-only routes that reveal nothing of other users and that the ComfyUI frontend needs.
constexpr std::string_view kProxiedGetPrefixes[] = {
    "/object_info", "/system_stats", "/features", "/embeddings",
    "/extensions",  "/i18n",         "/models",   "/workflow_templates",
};

bool PathIs(std::string_view path, std::string_view prefix) {
  return path == prefix || (path.size() > prefix.size() && path.rfind(prefix, 0) == 0 &&
                            path[prefix.size()] == '/');
}

std::string PercentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// The query without `token` (a tokenaudit key must never reach ComfyUI or its logs).
std::string UpstreamQuery(const GwRequest& r) {
  std::string q;
  for (const auto& [k, v] : r.query) {
    if (k == "token") continue;
    q += q.empty() ? "?" : "&";
    q += PercentEncode(k) + "=" + PercentEncode(v);
  }
  return q;
}

GwReply FromUpstream(const UpstreamReply& u) {
  GwReply r;
  r.status = u.status;
  r.content_type.clear();
  for (const auto& [k, v] : u.headers) {
    if (k == "content-type") {
      r.content_type = v;
    } else {
      r.headers.emplace_back(k, v);
    }
  }
  r.body = u.body;
  return r;
}

GwReply Unavailable(const Status& s) {
  return GwReply::Error(502, "upstream_unavailable",
                        "ComfyUI did not answer: " + std::string(s.message()));
}

std::optional<int64_t> QueryInt(const GwRequest& r, std::string_view name) {
  auto v = r.Query(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (end == v->c_str() || *end != '\0') return std::nullopt;
  return n;
}

// "name [output]" → ("name", "output"), as /view reads annotated names (protocol.md §1.6).
std::pair<std::string, std::string> SplitAnnotation(const std::string& filename,
                                                    const std::string& type) {
  for (std::string_view t : {"output", "input", "temp"}) {
    const std::string suffix = " [" + std::string(t) + "]";
    if (filename.size() > suffix.size() &&
        filename.compare(filename.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return {filename.substr(0, filename.size() - suffix.size()), std::string(t)};
    }
  }
  return {filename, type};
}

}  // namespace

void GatewayServer::Handle(GwRequest request, Respond respond) {
  Result<Caller> caller = Authenticate(request);
  if (!caller.ok()) {
    const bool denied = caller.status().code() == StatusCode::kPermissionDenied;
    respond(GwReply::Error(denied ? 403 : 401, denied ? "forbidden" : "unauthorized",
                           caller.status().message()));
    return;
  }
  Route(*caller, std::move(request), std::move(respond));
}

ClientIdOf GatewayServer::UserClientIds() const {
  // History and queue entries show the client_id the user submitted with, not the gateway's.
  return [this](std::string_view prompt_id) {
    auto it = owners_.find(std::string(prompt_id));
    return it == owners_.end() ? std::string() : it->second.client_id;
  };
}

bool GatewayServer::Owns(const Caller& caller, std::string_view prompt_id) const {
  auto it = owners_.find(std::string(prompt_id));
  return it != owners_.end() && it->second.user_key == caller.user_key;
}

void GatewayServer::Route(const Caller& caller, GwRequest r, Respond respond) {
  const std::string& p = r.path;
  const bool get = r.method == "GET" || r.method == "HEAD";
  const bool post = r.method == "POST";
  if (p == "/prompt" && post) return PostPrompt(caller, std::move(r), std::move(respond));
  if (p == "/prompt" && get) {
    return respond(GwReply::Json(200, "{\"exec_info\":{\"queue_remaining\":" +
                                          std::to_string(QueueRemaining(caller.user_key)) +
                                          "}}"));
  }
  if (PathIs(p, "/history") && get) return GetHistory(caller, std::move(r), std::move(respond));
  if (p == "/queue" && get) return GetQueue(caller, std::move(respond));
  if (p == "/queue" && post) return PostQueue(caller, std::move(r), std::move(respond));
  if (p == "/interrupt" && post) return PostInterrupt(caller, std::move(r), std::move(respond));
  if (p == "/upload/image" && post) return PostUpload(caller, std::move(r), std::move(respond));
  if (p == "/view" && get) return GetView(caller, std::move(r), std::move(respond));
  if (PathIs(p, "/object_info") && r.method == "GET") {
    return GetObjectInfo(caller, std::move(r), std::move(respond));
  }
  if (get) {
    for (std::string_view prefix : kProxiedGetPrefixes) {
      if (PathIs(p, prefix)) return Proxy(std::move(r), std::move(respond));
    }
  }
  // Everything else: /internal/* (logs, absolute paths, files of every user), /userdata,
  // /v2/userdata, /users, /settings (other users' data), /free (unloads everyone's models),
  // POST /history (erases everyone's history), /upload/mask (writes into a referenced image),
  // /view_metadata, custom-node routes, and any method not listed (protocol.md §1.9, §8).
  respond(GwReply::Error(403, "forbidden",
                         r.method + " " + p + " is not available through the tokenaudit gateway"));
}

void GatewayServer::Proxy(GwRequest r, Respond respond) {
  upstream_.Request(r.method, r.path + UpstreamQuery(r), "", "",
                    [respond = std::move(respond)](Result<UpstreamReply> u) {
                      respond(u.ok() ? FromUpstream(*u) : Unavailable(u.status()));
                    });
}

void GatewayServer::PostPrompt(const Caller& caller, GwRequest r, Respond respond) {
  const int64_t now = Now();
  Result<comfy::PromptRequest> parsed = comfy::ParsePromptBody(r.body, options_.catalog);
  if (!parsed.ok()) {
    const std::string_view msg = parsed.status().message();
    if (msg.rfind("prompt: missing", 0) == 0) {
      return respond(GwReply::Error(400, "no_prompt", "No prompt provided"));
    }
    return respond(GwReply::Json(
        400, ComfyErrorJson("invalid_prompt", "Cannot execute because the prompt is invalid",
                            msg)));
  }
  comfy::PromptRequest& req = *parsed;
  const comfy::UploadIndex& uploads = uploads_[caller.user_key];
  comfy::WorkflowEstimate est =
      comfy::EstimateWorkflow(req.workflow, options_.catalog, uploads, options_.costs);

  PromptInfo info;
  info.prompt_id = NewPromptId();
  info.tenant = caller.principal.tenant;
  info.user = caller.principal.user_pseudonym;
  info.submitted_us = now;
  if (auto h = comfy::WorkflowHash(req.workflow); h.ok()) info.workflow_hash = *h;
  for (const comfy::WorkflowNode& n : req.workflow.nodes) {
    const comfy::NodeSpec* spec = options_.catalog.Find(n.class_type);
    if (spec != nullptr && spec->role != comfy::NodeRole::kModel) continue;
    RecordableNode rn;
    rn.node_id = n.id;
    rn.class_type = n.class_type;
    for (const comfy::ModelNodeEstimate& m : est.model_nodes) {
      if (m.node_id != n.id) continue;
      rn.task_type = m.task_type;
      rn.model = m.model;
      rn.width = m.width;
      rn.height = m.height;
      rn.batch = m.batch;
      rn.model_input_size = m.model_input_size;
      rn.input_hash = m.input_hash;
      if (info.task_type.empty()) info.task_type = m.task_type;
    }
    info.nodes.push_back(std::move(rn));
  }

  auto refuse = [&](int status, const std::string& reason, const std::string& message) {
    recorder_.Rejected(info, reason, now);
    ++stats_.prompts_refused;
    PublishStats();
    // The refusal is on record; its id lets the user (or an auditor) find it.
    std::string extra = "{\"tokenaudit_record_id\":";
    AppendJsonString(&extra, PromptRecordId(info.prompt_id));
    extra += '}';
    respond(GwReply::Json(status, ComfyErrorJson(reason, message, "", extra)));
  };

  if (options_.require_own_uploads) {
    for (const comfy::WorkflowNode& n : req.workflow.nodes) {
      const comfy::NodeSpec* spec = options_.catalog.Find(n.class_type);
      if (spec == nullptr || spec->role != comfy::NodeRole::kImageSource) continue;
      const comfy::InputValue* v = n.Input(spec->upload_input);
      if (v == nullptr || v->kind != comfy::InputValue::Kind::kString) continue;
      const std::string_view key = comfy::UploadKey(v->text);
      const size_t slash = key.rfind('/');
      ComfyFile file{std::string(slash == std::string_view::npos ? key : key.substr(slash + 1)),
                     std::string(slash == std::string_view::npos ? "" : key.substr(0, slash)),
                     "input"};
      if (!FileAllowed(caller.user_key, file)) {
        return refuse(403, "image_not_uploaded",
                      "node " + n.id + " (" + n.class_type +
                          ") reads an image this key did not upload through the gateway");
      }
    }
  }

  AdmissionRequest ar;
  ar.key_id = caller.principal.key_id;
  ar.user = caller.user_key;
  ar.prompt_id = info.prompt_id;
  ar.estimate = &est;
  ar.now_us = now;
  AdmissionDecision d = admission_.Admit(ar);
  info.duplicate_of = d.duplicate_of;
  if (!d.admitted) {
    return refuse(d.reason == "daily_token_limit" ? 429 : 403, d.reason, d.message);
  }

  Result<std::string> api = comfy::EncodeApiPrompt(req.workflow);
  if (!api.ok()) {
    admission_.Refund(caller.user_key, d.charged_tokens_milli, now);
    return respond(GwReply::Json(
        400, ComfyErrorJson("invalid_prompt",
                            "This UI workflow has nodes the gateway's catalog does not describe; "
                            "submit it in API format",
                            api.status().message())));
  }
  std::string body = "{\"prompt\":" + *api + ",\"client_id\":";
  AppendJsonString(&body, client_id_);
  body += ",\"prompt_id\":";
  AppendJsonString(&body, info.prompt_id);
  body += ",\"extra_data\":" +
          SanitizeExtraData(req.extra_data_json, caller.principal.user_pseudonym);
  if (req.number) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", *req.number);
    body += ",\"number\":" + std::string(buf);
  }
  if (req.front) body += ",\"front\":true";
  if (!req.partial_execution_targets.empty()) {
    body += ",\"partial_execution_targets\":[";
    for (size_t i = 0; i < req.partial_execution_targets.size(); ++i) {
      if (i > 0) body += ',';
      AppendJsonString(&body, req.partial_execution_targets[i]);
    }
    body += ']';
  }
  body += '}';

  // Known before ComfyUI answers: its first events may arrive before its HTTP reply.
  const std::string prompt_id = info.prompt_id;
  AddOwner(prompt_id, Owner{caller.user_key, req.client_id, true});
  recorder_.Submitted(std::move(info), !socket_.connected());
  const std::string user_key = caller.user_key;
  const int64_t charged = d.charged_tokens_milli;
  upstream_.Request(
      "POST", "/prompt", "application/json", std::move(body),
      [this, prompt_id, user_key, charged, now, respond = std::move(respond)](
          Result<UpstreamReply> u) {
        if (!u.ok()) {
          // Perhaps queued, perhaps not: /history and /queue decide (now, or after reconnect).
          recorder_.MarkGap(prompt_id);
          ReconcilePrompts({prompt_id}, "upstream_lost");
          return respond(Unavailable(u.status()));
        }
        if (u->status != 200) {
          recorder_.Forget(prompt_id);
          RemoveOwner(prompt_id);
          admission_.Refund(user_key, charged, now);
        } else {
          ++stats_.prompts_forwarded;
          PublishStats();
        }
        respond(FromUpstream(*u));
      });
}

void GatewayServer::GetHistory(const Caller& caller, GwRequest r, Respond respond) {
  const std::string user_key = caller.user_key;
  if (r.path.size() > std::string_view("/history/").size()) {
    const std::string id = r.path.substr(std::string_view("/history/").size());
    if (!Owns(caller, id)) return respond(GwReply::Json(200, "{}"));  // as ComfyUI: unknown → {}
    upstream_.Request("GET", "/history/" + PercentEncode(id), "", "",
                      [this, id, user_key, respond = std::move(respond)](Result<UpstreamReply> u) {
                        if (!u.ok()) return respond(Unavailable(u.status()));
                        if (u->status != 200) return respond(FromUpstream(*u));
                        if (auto h = ParseHistoryEntry(u->body, id); h.ok()) {
                          for (const ComfyFile& f : h->output_files) AllowFile(user_key, f);
                        }
                        Result<std::string> out = FilterHistory(
                            u->body, [&](std::string_view k) { return k == id; }, std::nullopt,
                            std::nullopt, nullptr, UserClientIds());
                        if (!out.ok()) return respond(Unavailable(out.status()));
                        respond(GwReply::Json(200, std::move(*out)));
                      });
    return;
  }
  const std::optional<int64_t> max_items = QueryInt(r, "max_items");
  const std::optional<int64_t> offset = QueryInt(r, "offset");
  upstream_.Request(
      "GET", "/history", "", "",
      [this, user_key, max_items, offset, respond = std::move(respond)](Result<UpstreamReply> u) {
        if (!u.ok()) return respond(Unavailable(u.status()));
        if (u->status != 200) return respond(FromUpstream(*u));
        std::vector<ComfyFile> files;
        auto owned = [&](std::string_view id) {
          auto it = owners_.find(std::string(id));
          return it != owners_.end() && it->second.user_key == user_key;
        };
        Result<std::string> out =
            FilterHistory(u->body, owned, max_items, offset, &files, UserClientIds());
        if (!out.ok()) return respond(Unavailable(out.status()));
        for (const ComfyFile& f : files) AllowFile(user_key, f);
        respond(GwReply::Json(200, std::move(*out)));
      });
}

void GatewayServer::GetQueue(const Caller& caller, Respond respond) {
  const std::string user_key = caller.user_key;
  upstream_.Request("GET", "/queue", "", "",
                    [this, user_key, respond = std::move(respond)](Result<UpstreamReply> u) {
                      if (!u.ok()) return respond(Unavailable(u.status()));
                      if (u->status != 200) return respond(FromUpstream(*u));
                      auto owned = [&](std::string_view id) {
                        auto it = owners_.find(std::string(id));
                        return it != owners_.end() && it->second.user_key == user_key;
                      };
                      Result<std::string> out = FilterQueue(u->body, owned, UserClientIds());
                      if (!out.ok()) return respond(Unavailable(out.status()));
                      respond(GwReply::Json(200, std::move(*out)));
                    });
}

void GatewayServer::PostQueue(const Caller& caller, GwRequest r, Respond respond) {
  QueueEdit q = ParseQueueEdit(r.body);
  std::vector<std::string> ids;
  for (const std::string& id : q.delete_ids) {
    if (Owns(caller, id)) ids.push_back(id);
  }
  if (q.clear) {  // "clear" means the caller's own pending prompts, never everyone's
    for (const auto& [id, owner] : owners_) {
      if (owner.active && owner.user_key == caller.user_key && id != recorder_.running() &&
          std::find(ids.begin(), ids.end(), id) == ids.end()) {
        ids.push_back(id);
      }
    }
  }
  if (ids.empty()) return respond(GwReply::Json(200, ""));
  std::string body = "{\"delete\":[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) body += ',';
    AppendJsonString(&body, ids[i]);
  }
  body += "]}";
  upstream_.Request("POST", "/queue", "application/json", std::move(body),
                    [this, ids, respond = std::move(respond)](Result<UpstreamReply> u) {
                      if (!u.ok()) return respond(Unavailable(u.status()));
                      // Deleted pending prompts never run and never reach history.
                      ReconcilePrompts(ids, "deleted_from_queue");
                      respond(FromUpstream(*u));
                    });
}

void GatewayServer::PostInterrupt(const Caller& caller, GwRequest r, Respond respond) {
  QueueEdit q = ParseQueueEdit(r.body);
  // Never a bare (global) interrupt: always the caller's prompt, by id (protocol.md §1.4).
  const std::string target = q.prompt_id ? *q.prompt_id : recorder_.running();
  if (target.empty() || !Owns(caller, target)) return respond(GwReply::Json(200, ""));
  std::string body = "{\"prompt_id\":";
  AppendJsonString(&body, target);
  body += '}';
  upstream_.Request("POST", "/interrupt", "application/json", std::move(body),
                    [respond = std::move(respond)](Result<UpstreamReply> u) {
                      respond(u.ok() ? FromUpstream(*u) : Unavailable(u.status()));
                    });
}

void GatewayServer::PostUpload(const Caller& caller, GwRequest r, Respond respond) {
  Result<std::string> boundary = MultipartBoundary(r.content_type);
  if (!boundary.ok()) return respond(GwReply::Error(400, "invalid_upload", boundary.status().message()));
  Result<std::vector<MultipartPart>> parts = ParseMultipart(r.body, *boundary);
  if (!parts.ok()) return respond(GwReply::Error(400, "invalid_upload", parts.status().message()));
  const MultipartPart* image = nullptr;
  std::string subfolder, overwrite;
  for (const MultipartPart& part : *parts) {
    if (part.name == "image" && part.has_filename && image == nullptr) image = &part;
    if (part.name == "subfolder") subfolder = std::string(part.data);
    if (part.name == "overwrite") overwrite = std::string(part.data);
  }
  if (image == nullptr || image->filename.empty()) {
    return respond(GwReply::Json(400, ""));  // as ComfyUI: no image part → 400, empty body
  }
  if ((overwrite == "true" || overwrite == "1") &&
      !FileAllowed(caller.user_key, ComfyFile{image->filename, subfolder, "input"})) {
    return respond(GwReply::Error(403, "forbidden",
                                  "overwrite is allowed only for this key's own uploads"));
  }
  std::optional<comfy::UploadInfo> probe;
  if (Result<comfy::ImageProbe> p = comfy::ProbeImage(image->data); p.ok()) {
    probe = comfy::UploadInfo{p->size.width, p->size.height, p->sha256_hex};
  }
  const std::string user_key = caller.user_key;
  upstream_.Request(
      "POST", "/upload/image", r.content_type, std::move(r.body),
      [this, user_key, probe, respond = std::move(respond)](Result<UpstreamReply> u) {
        if (!u.ok()) return respond(Unavailable(u.status()));
        if (u->status == 200) {
          if (Result<ComfyFile> f = ParseUploadReply(u->body); f.ok()) {
            AllowFile(user_key, *f);
            const std::string stored =
                f->subfolder.empty() ? f->filename : f->subfolder + "/" + f->filename;
            // Not an image we can size: owned (the allow-list) but estimates stay unknown.
            if (probe) {
              uploads_[user_key][stored] = *probe;
            } else {
              uploads_[user_key].erase(stored);
            }
          }
        }
        respond(FromUpstream(*u));
      });
}

void GatewayServer::GetView(const Caller& caller, GwRequest r, Respond respond) {
  auto [filename, type] =
      SplitAnnotation(r.Query("filename").value_or(""), r.Query("type").value_or("output"));
  if (filename.empty()) return respond(GwReply::Json(400, ""));
  ComfyFile f{filename, r.Query("subfolder").value_or(""), type};
  if (!FileAllowed(caller.user_key, f)) {
    // Another user's file looks exactly like a missing one.
    return respond(GwReply::Json(404, ""));
  }
  Proxy(std::move(r), std::move(respond));
}

// LoadImage's list of input files names every user's uploads (os.listdir of ComfyUI's input
// directory): each caller sees only their own.
void GatewayServer::GetObjectInfo(const Caller& caller, GwRequest r, Respond respond) {
  const std::string user_key = caller.user_key;
  upstream_.Request(
      "GET", r.path + UpstreamQuery(r), "", "",
      [this, user_key, respond = std::move(respond)](Result<UpstreamReply> u) {
        if (!u.ok()) return respond(Unavailable(u.status()));
        if (u->status != 200) return respond(FromUpstream(*u));
        auto upload_input = [this](std::string_view class_type) {
          const comfy::NodeSpec* spec = options_.catalog.Find(class_type);
          return spec != nullptr && spec->role == comfy::NodeRole::kImageSource
                     ? std::string_view(spec->upload_input)
                     : std::string_view();
        };
        auto visible = [&](std::string_view name) {
          const size_t slash = name.rfind('/');
          return FileAllowed(
              user_key,
              ComfyFile{std::string(slash == std::string_view::npos ? name : name.substr(slash + 1)),
                        std::string(slash == std::string_view::npos ? "" : name.substr(0, slash)),
                        "input"});
        };
        Result<std::string> out = FilterObjectInfo(u->body, upload_input, visible);
        if (!out.ok()) return respond(Unavailable(out.status()));
        GwReply reply = FromUpstream(*u);
        reply.body = std::move(*out);
        respond(std::move(reply));
      });
}

}  // namespace tokenaudit::gateway
