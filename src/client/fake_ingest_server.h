// FakeIngestServer: test support for the client library. A small HTTP/1.1 server on raw sockets
// that speaks just enough of POST /v1/events (NDJSON in, per-item batch answers out,
// doc/http_api.md) to stand in for `tokenaudit serve`: it stores record ids, answers a resent id as
// a duplicate, and can be told to fail requests, refuse items, stall, or vanish (Stop) and come
// back on the same port. Not for production use. Thread-safe.

#ifndef TOKENAUDIT_CLIENT_FAKE_INGEST_SERVER_H_
#define TOKENAUDIT_CLIENT_FAKE_INGEST_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/record/record_json.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::client::testing {

struct FakeRequest {
  std::string head;  // request line and headers
  std::string body;
  std::vector<std::string> ids;  // ids of the NDJSON lines, in order ("" for unparseable lines)
};

class FakeIngestServer {
 public:
  // Decides one item: 0 for normal processing (store, or duplicate), else the status to answer
  // for it (400 refuses it for good, 503 asks for a retry).
  using ItemPolicy = std::function<int(const UsageRecord& record, int times_seen)>;
  // Decides a whole request from its body: 0 for normal processing, else the status to answer.
  using BodyPolicy = std::function<int(const std::string& body)>;

  FakeIngestServer() = default;
  ~FakeIngestServer() { Stop(); }
  FakeIngestServer(const FakeIngestServer&) = delete;
  FakeIngestServer& operator=(const FakeIngestServer&) = delete;

  // Listens on 127.0.0.1:port (0: a free port; after Stop(), 0 reuses the previous port).
  bool Start(uint16_t port = 0) {
    Stop();
    if (port == 0) port = port_;
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        listen(listen_fd_, 64) != 0) {
      close(listen_fd_);
      listen_fd_ = -1;
      return false;
    }
    socklen_t len = sizeof(a);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    stopping_ = false;
    acceptor_ = std::thread([this] { AcceptLoop(); });
    return true;
  }

  // Closes the listener and every open connection; connects are refused until Start() again.
  void Stop() {
    if (listen_fd_ < 0) return;
    stopping_ = true;
    acceptor_.join();
    close(listen_fd_);
    listen_fd_ = -1;
    std::vector<std::thread> conns;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (int fd : conn_fds_) shutdown(fd, SHUT_RDWR);
      conns.swap(conn_threads_);
    }
    for (auto& t : conns) t.join();
  }

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // The next `n` POSTs are answered `status` as a whole (nothing stored).
  void FailNext(int n, int status, int retry_after_s = 0) {
    std::lock_guard<std::mutex> l(mu_);
    fail_next_ = n;
    fail_status_ = status;
    fail_retry_after_ = retry_after_s;
  }
  void SetItemPolicy(ItemPolicy p) {
    std::lock_guard<std::mutex> l(mu_);
    item_policy_ = std::move(p);
  }
  void SetBodyPolicy(BodyPolicy p) {
    std::lock_guard<std::mutex> l(mu_);
    body_policy_ = std::move(p);
  }
  // Every answer is delayed this long (the request is processed after the delay).
  void SetDelayMs(int ms) { delay_ms_ = ms; }

  // Ids stored, in the order they were stored.
  std::vector<std::string> stored() const {
    std::lock_guard<std::mutex> l(mu_);
    return stored_order_;
  }
  std::vector<FakeRequest> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  // How many times an id arrived in any request.
  int TimesSeen(const std::string& id) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = seen_.find(id);
    return it == seen_.end() ? 0 : it->second;
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      std::lock_guard<std::mutex> l(mu_);
      conn_fds_.insert(fd);
      conn_threads_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  static bool SendAll(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  void Serve(int fd) {
    std::string buf;
    char tmp[65536];
    for (;;) {
      size_t head_end;
      while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) return Done(fd);
        buf.append(tmp, static_cast<size_t>(n));
      }
      std::string head = buf.substr(0, head_end);
      size_t length = 0;
      std::string lower = head;
      for (char& c : lower) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
      size_t p = lower.find("content-length:");
      if (p != std::string::npos) length = std::stoul(lower.substr(p + 15));
      while (buf.size() < head_end + 4 + length) {
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) return Done(fd);
        buf.append(tmp, static_cast<size_t>(n));
      }
      std::string body = buf.substr(head_end + 4, length);
      buf.erase(0, head_end + 4 + length);
      for (int waited = 0; waited < delay_ms_ && !stopping_; waited += 5) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      if (stopping_) return Done(fd);
      if (!SendAll(fd, Handle(head, body))) return Done(fd);
    }
  }

  void Done(int fd) {
    std::lock_guard<std::mutex> l(mu_);
    conn_fds_.erase(fd);
    close(fd);
  }

  static std::string Answer(int status, const std::string& body, int retry_after = -1) {
    std::string r =
        "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n";
    if (retry_after >= 0) r += "Retry-After: " + std::to_string(retry_after) + "\r\n";
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return r;
  }
  static std::string Error(const std::string& code) {
    return "{\"error\":{\"code\":\"" + code + "\",\"message\":\"" + code + "\"}}";
  }

  std::string Handle(const std::string& head, const std::string& body) {
    std::lock_guard<std::mutex> l(mu_);
    FakeRequest req{head, body, {}};
    std::vector<std::string> lines;
    for (size_t start = 0; start < body.size();) {
      size_t nl = body.find('\n', start);
      if (nl == std::string::npos) nl = body.size();
      if (nl > start) lines.push_back(body.substr(start, nl - start));
      start = nl + 1;
    }
    std::vector<UsageRecord> records(lines.size());
    std::vector<bool> parsed(lines.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      parsed[i] = record::ParseRecordJson(lines[i], &records[i]);
      req.ids.push_back(parsed[i] ? records[i].id : "");
      if (parsed[i]) ++seen_[records[i].id];
    }
    requests_.push_back(req);
    if (fail_next_ > 0) {
      --fail_next_;
      return Answer(fail_status_, Error("scripted"), fail_retry_after_);
    }
    if (body_policy_) {
      int s = body_policy_(body);
      if (s != 0) return Answer(s, Error("invalid_utf8"));
    }
    std::string results;
    int accepted = 0, dups = 0, rejected = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) results += ",";
      results += "{\"index\":" + std::to_string(i);
      int s = !parsed[i] ? 400 : item_policy_ ? item_policy_(records[i], seen_[records[i].id]) : 0;
      if (s != 0) {
        ++rejected;
        results += ",\"status\":" + std::to_string(s) + ",\"error\":{\"code\":\"" +
                   std::string(s == 503 ? "unavailable" : "invalid_type") +
                   "\",\"message\":\"m\",\"field\":\"f\"}}";
        continue;
      }
      auto [it, fresh] = stored_set_.insert(records[i].id);
      if (fresh) {
        stored_order_.push_back(records[i].id);
        ++accepted;
      } else {
        ++dups;
      }
      results += ",\"status\":200,\"duplicate\":" + std::string(fresh ? "false" : "true") +
                 ",\"seq\":" + std::to_string(stored_order_.size()) + "}";
    }
    return Answer(rejected == 0 ? 200 : 207, "{\"accepted\":" + std::to_string(accepted) +
                                                 ",\"duplicates\":" + std::to_string(dups) +
                                                 ",\"rejected\":" + std::to_string(rejected) +
                                                 ",\"results\":[" + results + "]}");
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> delay_ms_{0};
  std::thread acceptor_;

  mutable std::mutex mu_;
  std::set<int> conn_fds_;
  std::vector<std::thread> conn_threads_;
  int fail_next_ = 0, fail_status_ = 0, fail_retry_after_ = -1;
  ItemPolicy item_policy_;
  BodyPolicy body_policy_;
  std::set<std::string> stored_set_;
  std::vector<std::string> stored_order_;
  std::map<std::string, int> seen_;
  std::vector<FakeRequest> requests_;
};

}  // namespace tokenaudit::client::testing

#endif  // TOKENAUDIT_CLIENT_FAKE_INGEST_SERVER_H_
