// Blocking-socket HTTP/1.1 peers for the gateway's connection tests: a scripted upstream server
// (UpstreamHttp's tests) and a raw client (the gateway listener's). Test code only.

#ifndef TOKENAUDIT_GATEWAY_TEST_HTTP_PEER_H_
#define TOKENAUDIT_GATEWAY_TEST_HTTP_PEER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tokenaudit::gateway::testing {

// Connects to 127.0.0.1:port; -1 on failure.
inline int ConnectLoopback(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one HTTP message (head + Content-Length body) from `fd`, `*pending` holding bytes read
// past the previous one. Empty when the peer closed (or failed) first.
inline std::string ReadMessage(int fd, std::string* pending) {
  std::string& buf = *pending;
  for (;;) {
    const size_t head_end = buf.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t length = 0;
      std::string head = buf.substr(0, head_end);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const size_t cl = head.find("content-length:");
      if (cl != std::string::npos) length = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
      if (buf.size() >= head_end + 4 + length) {
        std::string msg = buf.substr(0, head_end + 4 + length);
        buf.erase(0, msg.size());
        return msg;
      }
    }
    char chunk[4096];
    const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return "";
    buf.append(chunk, static_cast<size_t>(n));
  }
}

// An upstream whose every request gets what `script` says, by the connection's number (from 0)
// and the request's number on it (from 0). A thread per connection.
class ScriptedServer {
 public:
  enum class Action {
    kAnswer,               // 200 "ok", connection kept open
    kAnswerThenClose,      // 200 "ok" without `Connection: close`, then closed
    kCloseWithoutAnswer,   // the request was read, the connection closed with no answer
  };
  using Script = std::function<Action(int connection, int request)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {}
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;
  ~ScriptedServer() {
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (std::thread& t : threads) t.join();
  }

  bool Start() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return false;
    if (listen(listen_fd_, 64) != 0) return false;
    socklen_t len = sizeof(a);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
    return true;
  }

  uint16_t port() const { return port_; }

  // "METHOD target body" of every request received, in order.
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  int connections() const {
    std::lock_guard<std::mutex> l(mu_);
    return connections_;
  }
  // Waits until `n` connections were closed by this server; false after 5 s.
  bool WaitClosed(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(5), [&] { return closed_ >= n; });
  }

 private:
  void AcceptLoop() {
    for (;;) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard<std::mutex> l(mu_);
      const int number = connections_++;
      open_fds_.push_back(fd);
      threads_.emplace_back([this, fd, number] { Serve(fd, number); });
    }
  }

  void Serve(int fd, int connection) {
    std::string pending;
    bool by_us = false;
    for (int request = 0;; ++request) {
      const std::string msg = ReadMessage(fd, &pending);
      if (msg.empty()) break;
      const size_t line_end = msg.find("\r\n");
      const size_t head_end = msg.find("\r\n\r\n");
      {
        std::lock_guard<std::mutex> l(mu_);
        const std::string line = msg.substr(0, line_end);
        requests_.push_back(line.substr(0, line.rfind(' ')) + " " + msg.substr(head_end + 4));
      }
      const Action action = script_(connection, request);
      if (action != Action::kCloseWithoutAnswer &&
          !SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")) {
        break;
      }
      if (action != Action::kAnswer) {
        by_us = true;
        break;
      }
    }
    shutdown(fd, SHUT_RDWR);
    close(fd);
    std::lock_guard<std::mutex> l(mu_);
    std::erase(open_fds_, fd);
    if (by_us) ++closed_;
    cv_.notify_all();
  }

  const Script script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  std::vector<int> open_fds_;
  std::vector<std::string> requests_;
  int connections_ = 0;
  int closed_ = 0;
};

}  // namespace tokenaudit::gateway::testing

#endif  // TOKENAUDIT_GATEWAY_TEST_HTTP_PEER_H_
