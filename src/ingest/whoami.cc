#include "src/ingest/whoami.h"

#include <string>

#include "src/util/json_string.h"

namespace tokenaudit::ingest {
namespace {

void AppendStringOrNull(std::string* out, const std::string& s) {
  if (s.empty()) {
    *out += "null";
  } else {
    AppendJsonString(out, s);
  }
}

}  // namespace

http::HttpResponse WhoamiResponse(const auth::Principal& who) {
  std::string body = "{\"key_id\":";
  AppendJsonString(&body, who.key_id);
  body += ",\"name\":";
  AppendStringOrNull(&body, who.name);
  body += ",\"role\":";
  AppendJsonString(&body, auth::RoleName(who.role));
  body += ",\"tenant\":";
  AppendStringOrNull(&body, who.tenant);
  body += ",\"user\":";
  AppendStringOrNull(&body, who.role == auth::Role::kUser ? who.user_pseudonym : std::string());
  body += "}";
  http::HttpResponse r;
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace tokenaudit::ingest
