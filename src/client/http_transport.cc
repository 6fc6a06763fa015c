#include "src/client/http_transport.h"

#include <curl/curl.h>

#include <charconv>
#include <mutex>
#include <utility>

namespace tokenaudit::client {
namespace {

// curl_global_init is not guaranteed thread-safe on every libcurl build: do it once, before the
// first handle. Never cleaned up (other code in the process may use libcurl too).
bool GlobalInit() {
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ok;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; ++i) {
      char c = line[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      match = c == kName[i];
    }
    if (match) {
      std::string_view v = line.substr(kName.size());
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      uint64_t seconds = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
      // Only the delta-seconds form; an HTTP-date is ignored (our server never sends one).
      if (ec == std::errc() && p != v.data() && seconds < 3600) {
        *static_cast<uint64_t*>(user) = seconds * 1000;
      }
    }
  }
  return size * n;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(user)->load(std::memory_order_relaxed) ? 1 : 0;
}

}  // namespace

struct HttpTransport::Impl {
  std::string url;  // where Post goes
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;
  std::string body;
  uint64_t retry_after_ms = 0;
  char error[CURL_ERROR_SIZE] = {};

  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
    if (headers != nullptr) curl_slist_free_all(headers);
  }
};

HttpTransport::HttpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpTransport::~HttpTransport() = default;

Result<std::unique_ptr<HttpTransport>> HttpTransport::Create(const TransportOptions& options) {
  if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("client url must start with http:// or https://");
  }
  if (!GlobalInit()) return Status::Internal("curl_global_init failed");
  auto impl = std::make_unique<Impl>();
  impl->url = options.url;
  impl->curl = curl_easy_init();
  if (impl->curl == nullptr) return Status::Internal("curl_easy_init failed");
  auto add = [&impl](const std::string& h) {
    curl_slist* next = curl_slist_append(impl->headers, h.c_str());
    if (next != nullptr) impl->headers = next;
    return next != nullptr;
  };
  bool ok = add("Content-Type: " + options.content_type) &&
            add("Expect:");  // no 100-continue round trip before large bodies
  if (!options.bearer_token.empty())
    ok = ok && add("Authorization: Bearer " + options.bearer_token);
  if (!ok) return Status::Internal("curl_slist_append failed");

  std::unique_ptr<HttpTransport> t(new HttpTransport(std::move(impl)));
  CURL* c = t->impl_->curl;
  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(curl_easy_setopt(c, CURLOPT_URL, options.url.c_str()));
  set(curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https"));
  set(curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(c, CURLOPT_POST, 1L));
  set(curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->impl_->headers));
  set(curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(options.connect_timeout_ms)));
  set(curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.request_timeout_ms)));
  set(curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L));
  set(curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L));
  set(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody));
  set(curl_easy_setopt(c, CURLOPT_WRITEDATA, &t->impl_->body));
  set(curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader));
  set(curl_easy_setopt(c, CURLOPT_HEADERDATA, &t->impl_->retry_after_ms));
  set(curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L));
  set(curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress));
  set(curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t->aborted_));
  set(curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->impl_->error));
  if (rc != CURLE_OK) {
    return Status::Internal(std::string("libcurl option refused: ") + curl_easy_strerror(rc));
  }
  return t;
}

HttpReply HttpTransport::Post(std::string_view body) {
  Impl& im = *impl_;
  curl_easy_setopt(im.curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(im.curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  return Perform();
}

HttpReply HttpTransport::Get(const std::string& url) {
  Impl& im = *impl_;
  curl_easy_setopt(im.curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(im.curl, CURLOPT_HTTPGET, 1L);
  HttpReply reply = Perform();
  // Back to what Post expects.
  curl_easy_setopt(im.curl, CURLOPT_URL, im.url.c_str());
  curl_easy_setopt(im.curl, CURLOPT_POST, 1L);
  return reply;
}

HttpReply HttpTransport::Perform() {
  HttpReply reply;
  if (aborted_.load(std::memory_order_relaxed)) {
    reply.error = "aborted";
    return reply;
  }
  Impl& im = *impl_;
  im.body.clear();
  im.retry_after_ms = 0;
  im.error[0] = '\0';
  const CURLcode rc = curl_easy_perform(im.curl);
  if (rc != CURLE_OK) {
    reply.error = std::string(curl_easy_strerror(rc));
    if (im.error[0] != '\0') reply.error += std::string(": ") + im.error;
    return reply;
  }
  long status = 0;
  curl_easy_getinfo(im.curl, CURLINFO_RESPONSE_CODE, &status);
  reply.status = static_cast<int>(status);
  reply.body = std::move(im.body);
  im.body.clear();
  reply.retry_after_ms = im.retry_after_ms;
  return reply;
}

}  // namespace tokenaudit::client
