// A small blocking HTTP/1.1 client for end-to-end tests: raw sockets, so tests can also send
// malformed requests byte for byte. Not for production use.

#ifndef TOKENAUDIT_TEST_SUPPORT_HTTP_CLIENT_H_
#define TOKENAUDIT_TEST_SUPPORT_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tokenaudit::testing {

struct HttpResult {
  int status = 0;  // 0: no response (connection failed, closed or timed out)
  std::string headers;
  std::string body;
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : port_(port) {}
  ~HttpClient() { Disconnect(); }

  HttpResult Request(std::string_view method, std::string_view target, std::string_view body = "",
                     std::vector<std::pair<std::string, std::string>> headers = {},
                     int timeout_ms = 10000) {
    std::string req = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
    for (auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n";
    req += body;
    return Raw(req, timeout_ms);
  }

  // Sends bytes as they are and reads one response.
  HttpResult Raw(std::string_view bytes, int timeout_ms = 10000) {
    if (fd_ < 0 && !Connect()) return {};
    if (!SendAll(bytes)) {
      Disconnect();
      if (!Connect() || !SendAll(bytes)) return {};
    }
    return ReadResponse(timeout_ms);
  }

  // Sends the headers of a request announcing `content_length` bytes and then only `sent` of
  // them; returns the response the server gives without waiting for the rest.
  HttpResult PartialBody(std::string_view target, const std::string& auth, size_t content_length,
                         size_t sent, int timeout_ms = 10000) {
    if (fd_ < 0 && !Connect()) return {};
    std::string req = "POST " + std::string(target) +
                      " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nAuthorization: " +
                      auth + "\r\nContent-Length: " + std::to_string(content_length) + "\r\n\r\n";
    SendAll(req);
    SendAll(std::string(sent, ' '));
    return ReadResponse(timeout_ms);
  }

  void Disconnect() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    buf_.clear();
  }

 private:
  bool Connect() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      Disconnect();
      return false;
    }
    return true;
  }
  bool SendAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  HttpResult ReadResponse(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      size_t end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string head = buf_.substr(0, end);
        size_t len = 0;
        for (std::string_view key : {"Content-Length: ", "content-length: "}) {
          size_t p = head.find(key);
          if (p != std::string::npos) len = std::stoul(head.substr(p + key.size()));
        }
        if (buf_.size() >= end + 4 + len) {
          HttpResult r;
          r.status = std::stoi(head.substr(9, 3));
          r.headers = head;
          r.body = buf_.substr(end + 4, len);
          buf_.erase(0, end + 4 + len);
          if (head.find("Connection: close") != std::string::npos) Disconnect();
          return r;
        }
      }
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) <= 0) {
        Disconnect();
        return {};
      }
      char tmp[65536];
      ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        Disconnect();
        return {};
      }
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

  uint16_t port_;
  int fd_ = -1;
  std::string buf_;
};

}  // namespace tokenaudit::testing

#endif  // TOKENAUDIT_TEST_SUPPORT_HTTP_CLIENT_H_
