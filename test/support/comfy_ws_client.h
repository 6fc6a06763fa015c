// A small blocking WebSocket client for tests of ComfyUI-speaking servers (the fake ComfyUI, the
// gateway): connects to /ws?clientId=..., optionally negotiates feature flags as the first text
// frame, then a reader thread queues every frame so tests can wait for them with a timeout.
// Header-only, Boost.Beast; not for production use.

#ifndef TOKENAUDIT_TEST_SUPPORT_COMFY_WS_CLIENT_H_
#define TOKENAUDIT_TEST_SUPPORT_COMFY_WS_CLIENT_H_

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace tokenaudit::testing {

struct WsFrame {
  bool binary = false;
  std::string data;
};

class ComfyWsClient {
 public:
  ComfyWsClient() = default;
  ComfyWsClient(const ComfyWsClient&) = delete;
  ComfyWsClient& operator=(const ComfyWsClient&) = delete;
  ~ComfyWsClient() { Close(); }

  // Connects to 127.0.0.1:port at `path` ("/ws?clientId=x"); with `feature_flags`, first sends
  // {"type":"feature_flags","data":{"supports_preview_metadata":true}}. False on failure.
  bool Connect(uint16_t port, const std::string& path, bool feature_flags = false) {
    namespace beast = boost::beast;
    beast::error_code ec;
    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), port);
    ws_.next_layer().connect(ep, ec);
    if (ec) return false;
    ws_.handshake("127.0.0.1:" + std::to_string(port), path, ec);
    if (ec) return false;
    if (feature_flags) {
      ws_.text(true);
      ws_.write(boost::asio::buffer(std::string(
                    R"({"type":"feature_flags","data":{"supports_preview_metadata":true}})")),
                ec);
      if (ec) return false;
    }
    reader_ = std::thread([this] { ReadLoop(); });
    return true;
  }

  // The next frame, or nullopt after `timeout_ms` or once the connection is closed and drained.
  std::optional<WsFrame> Next(int timeout_ms = 5000) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::milliseconds(timeout_ms), [&] { return !frames_.empty() || closed_; });
    if (frames_.empty()) return std::nullopt;
    WsFrame f = std::move(frames_.front());
    frames_.pop_front();
    return f;
  }

  // Waits until a text frame contains `needle`; returns every frame read up to and including it.
  std::deque<WsFrame> Until(const std::string& needle, int timeout_ms = 10000) {
    std::deque<WsFrame> out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      std::optional<WsFrame> f = Next(static_cast<int>(left.count()) + 1);
      if (!f) break;
      out.push_back(std::move(*f));
      if (!out.back().binary && out.back().data.find(needle) != std::string::npos) break;
    }
    return out;
  }

  // Closes the TCP connection under the reader (shutdown is safe from any thread) and joins it.
  void Close() {
    if (reader_.joinable()) {
      ::shutdown(ws_.next_layer().native_handle(), SHUT_RDWR);
      reader_.join();
    }
    boost::beast::error_code ec;
    ws_.next_layer().close(ec);
  }

 private:
  void ReadLoop() {
    for (;;) {
      boost::beast::flat_buffer buf;
      boost::beast::error_code ec;
      ws_.read(buf, ec);
      std::lock_guard<std::mutex> l(mu_);
      if (ec) {
        closed_ = true;
        cv_.notify_all();
        return;
      }
      frames_.push_back({!ws_.got_text(), boost::beast::buffers_to_string(buf.data())});
      cv_.notify_all();
    }
  }

  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_{ioc_};
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WsFrame> frames_;
  bool closed_ = false;
};

}  // namespace tokenaudit::testing

#endif  // TOKENAUDIT_TEST_SUPPORT_COMFY_WS_CLIENT_H_
