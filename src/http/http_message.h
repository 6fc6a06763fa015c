// HTTP request and response values handed between the server (Boost.Beast, confined to
// http_server.cc) and handlers, so handlers never include Beast.

#ifndef TOKENAUDIT_HTTP_HTTP_MESSAGE_H_
#define TOKENAUDIT_HTTP_HTTP_MESSAGE_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenaudit/status.h"

namespace tokenaudit::http {

// Runs a task later on one of the server's I/O threads; callable from any thread. A task posted
// after the server stopped never runs and is destroyed with the server.
using Poster = std::function<void(std::function<void()> task)>;

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // as received: path plus query
  std::string path;     // percent-decoded path, no query
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote;   // "ip:port" of the peer
  // Set by HttpServer: lets a handler move work that completes on another thread (a ledger
  // callback) back onto the I/O threads. Empty for requests built by hand: run such work inline.
  Poster post;
  // Runs a task on whichever I/O thread is free first, in no order with this connection's work:
  // lets a handler share one large request's work with idle I/O threads. Empty for requests
  // built by hand.
  Poster post_any;
  int io_threads = 1;  // the server's I/O threads (post_any's)

  // First value of header `name` (lower-case) or of query parameter `name`.
  std::optional<std::string_view> Header(std::string_view name) const;
  std::optional<std::string_view> Query(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Completes a request. Call exactly once, from any thread; the server writes the response on the
// connection's own executor.
using Responder = std::function<void(HttpResponse)>;

// Serves requests. Handle() runs on a server I/O thread and must not block on I/O or locks held
// for long; slow work (a group commit) completes the Responder later.
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void Handle(HttpRequest request, Responder respond) = 0;
};

// The one mapping from Status to HTTP status code.
int HttpStatusFor(const Status& s);

// {"error":{"code":code[,"field":field],"message":message}} with the given HTTP status.
HttpResponse ErrorResponse(int http_status, std::string_view code, std::string_view message,
                           std::string_view field = "");

// Splits "a=1&b=x%20y" into decoded pairs; '+' means space. Malformed escapes are kept literally.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);
std::string PercentDecode(std::string_view s, bool plus_is_space);

}  // namespace tokenaudit::http

#endif  // TOKENAUDIT_HTTP_HTTP_MESSAGE_H_
