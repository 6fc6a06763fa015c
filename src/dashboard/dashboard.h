// The dashboard's HTTP routes: "/" (the page) and "/assets/..." (its scripts and styles), served
// from files embedded in the binary at build time (web/ → embed_assets.cmake → a generated .cc).
// Nothing is read from disk or fetched from elsewhere at run time.
//
// The page and its assets hold no data and need no key; every number on the page comes from the
// authenticated API (doc/http_api.md), called by the page with the key the user signs in with.
// doc/dashboard.md describes the page.

#ifndef TOKENAUDIT_DASHBOARD_DASHBOARD_H_
#define TOKENAUDIT_DASHBOARD_DASHBOARD_H_

#include <span>
#include <string_view>

#include "src/http/http_message.h"

namespace tokenaudit::dashboard {

// One embedded file. All views point into static storage.
struct Asset {
  std::string_view path;          // URL path: "/" or "/assets/<name>"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view etag;          // quoted strong validator: "\"<16 hex of SHA-256>\""
  std::string_view body;
};

// Every embedded file (defined in the generated source).
std::span<const Asset> EmbeddedAssets();

// The asset served at `url_path`, or nullptr.
const Asset* FindAsset(std::string_view url_path);

// Whether `path` is one of the dashboard's: "/" or anything under "/assets/". Other paths are
// the API's.
bool IsDashboardPath(std::string_view path);

// The answer to a request for a dashboard path: 200 with the asset (or 304 when If-None-Match
// names its ETag), 404 for an unknown asset, 405 for a method other than GET. Every answer
// carries Cache-Control: no-cache (the browser revalidates with the ETag, so a new binary's
// assets are picked up at once) and a Content-Security-Policy that allows only this origin.
// Thread-safe; no key is needed.
http::HttpResponse ServeDashboard(const http::HttpRequest& request);

}  // namespace tokenaudit::dashboard

#endif  // TOKENAUDIT_DASHBOARD_DASHBOARD_H_
