// A TCP relay for gateway tests: sits between the gateway and the fake ComfyUI so a test can cut
// the gateway's upstream WebSocket mid-run (and keep it from reconnecting for a while) while
// plain HTTP keeps flowing. Blocking sockets, two threads per connection. Test code only.

#ifndef TOKENAUDIT_TEST_GATEWAY_TCP_RELAY_H_
#define TOKENAUDIT_TEST_GATEWAY_TCP_RELAY_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tokenaudit::testing {

class TcpRelay {
 public:
  TcpRelay() = default;
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;
  ~TcpRelay() { Stop(); }

  // Listens on 127.0.0.1 (a free port) and relays to 127.0.0.1:target.
  bool Start(uint16_t target) {
    target_ = target;
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

  // Cuts every relayed WebSocket connection (those whose request line is GET /ws or /api/ws).
  void DropWebSockets() {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& c : conns_) {
      if (c->websocket) {
        shutdown(c->client, SHUT_RDWR);
        shutdown(c->server, SHUT_RDWR);
      }
    }
  }
  // While blocked, new WebSocket connections are closed as soon as their request line is seen.
  void BlockWebSockets(bool block) { block_ws_ = block; }

  void Stop() {
    if (listen_fd_ < 0) return;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    listen_fd_ = -1;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto& c : conns_) {
        shutdown(c->client, SHUT_RDWR);
        shutdown(c->server, SHUT_RDWR);
      }
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    for (auto& c : conns_) {
      close(c->client);
      close(c->server);
    }
    conns_.clear();
  }

 private:
  struct Conn {
    int client = -1, server = -1;
    std::atomic<bool> websocket{false};
  };

  void AcceptLoop() {
    for (;;) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      int up = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(target_);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(up, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
        close(fd);
        close(up);
        continue;
      }
      auto c = std::make_shared<Conn>();
      c->client = fd;
      c->server = up;
      std::lock_guard<std::mutex> l(mu_);
      conns_.push_back(c);
      threads_.emplace_back([this, c] { Pump(c, true); });
      threads_.emplace_back([this, c] { Pump(c, false); });
    }
  }

  void Pump(std::shared_ptr<Conn> c, bool from_client) {
    const int in = from_client ? c->client : c->server;
    const int out = from_client ? c->server : c->client;
    bool first = from_client;
    char buf[65536];
    for (;;) {
      ssize_t n = recv(in, buf, sizeof(buf), 0);
      if (n <= 0) break;
      if (first) {
        first = false;
        std::string head(buf, static_cast<size_t>(std::min<ssize_t>(n, 16)));
        if (head.rfind("GET /ws", 0) == 0 || head.rfind("GET /api/ws", 0) == 0) {
          c->websocket = true;
          if (block_ws_) break;
        }
      }
      if (send(out, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    shutdown(c->client, SHUT_RDWR);
    shutdown(c->server, SHUT_RDWR);
  }

  uint16_t target_ = 0;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::atomic<bool> block_ws_{false};
  std::mutex mu_;
  std::vector<std::shared_ptr<Conn>> conns_;
  std::vector<std::thread> threads_;
};

}  // namespace tokenaudit::testing

#endif  // TOKENAUDIT_TEST_GATEWAY_TCP_RELAY_H_
