#include "src/dashboard/dashboard.h"

#include <string>

namespace tokenaudit::dashboard {
namespace {

// The page talks only to its own origin: no inline script, no third-party anything, and it may
// not be framed (it holds an API key in sessionStorage).
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

void AddCommonHeaders(http::HttpResponse* r) {
  r->headers.emplace_back("Cache-Control", "no-cache");
  r->headers.emplace_back("X-Content-Type-Options", "nosniff");
  r->headers.emplace_back("Referrer-Policy", "no-referrer");
  r->headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
}

// Whether an If-None-Match header value lists `etag` (or is "*").
bool EtagMatches(std::string_view header, std::string_view etag) {
  size_t pos = 0;
  while (pos < header.size()) {
    size_t comma = header.find(',', pos);
    if (comma == std::string_view::npos) comma = header.size();
    std::string_view item = header.substr(pos, comma - pos);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);  // weak comparison, RFC 9110 §13.1.2
    if (item == "*" || item == etag) return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

const Asset* FindAsset(std::string_view url_path) {
  for (const Asset& a : EmbeddedAssets()) {
    if (a.path == url_path) return &a;
  }
  return nullptr;
}

bool IsDashboardPath(std::string_view path) {
  return path == "/" || path.starts_with("/assets/");
}

http::HttpResponse ServeDashboard(const http::HttpRequest& request) {
  http::HttpResponse r;
  if (request.method != "GET") {
    r = http::ErrorResponse(405, "method_not_allowed",
                            request.method + " is not allowed on " + request.path);
    r.headers.emplace_back("Allow", "GET");
    AddCommonHeaders(&r);
    return r;
  }
  const Asset* asset = FindAsset(request.path);
  if (asset == nullptr) {
    r = http::ErrorResponse(404, "not_found", "no such asset");
    AddCommonHeaders(&r);
    return r;
  }
  AddCommonHeaders(&r);
  r.headers.emplace_back("ETag", std::string(asset->etag));
  auto if_none_match = request.Header("if-none-match");
  if (if_none_match && EtagMatches(*if_none_match, asset->etag)) {
    r.status = 304;
    r.content_type.clear();
    return r;
  }
  r.content_type = std::string(asset->content_type);
  r.body = std::string(asset->body);
  return r;
}

}  // namespace tokenaudit::dashboard
