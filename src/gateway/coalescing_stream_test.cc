#include "src/gateway/coalescing_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tokenaudit::gateway {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// A server WebSocket over CoalescingStream on its own I/O thread, sending `frames` as a burst
// (each write queued behind the previous one, as the gateway's sessions do), then closing.
class BurstServer {
 public:
  explicit BurstServer(std::vector<std::string> frames) : frames_(frames.begin(), frames.end()) {
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
      ASSERT_FALSE(ec);
      ws_.emplace(std::move(s));
      ws_->async_accept([this](beast::error_code ec2) {
        ASSERT_FALSE(ec2);
        WriteNext();
      });
    });
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~BurstServer() {
    if (thread_.joinable()) thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void Join() { thread_.join(); }

 private:
  void WriteNext() {
    if (frames_.empty()) {
      ws_->async_close(websocket::close_code::normal, [](beast::error_code) {});
      return;
    }
    ws_->binary(frames_.front().size() % 2 == 1);
    ws_->async_write(net::buffer(frames_.front()), [this](beast::error_code ec, size_t) {
      ASSERT_FALSE(ec);
      frames_.pop_front();
      WriteNext();
    });
  }

  net::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  std::optional<websocket::stream<CoalescingStream>> ws_;
  std::deque<std::string> frames_;
  std::thread thread_;
};

TEST(CoalescingStreamTest, BurstOfFramesArrivesWholeAndInOrderThenCloses) {
  std::vector<std::string> frames;
  for (int i = 0; i < 300; ++i) {
    frames.push_back("{\"type\":\"progress\",\"n\":" + std::to_string(i) + "}" +
                     std::string(static_cast<size_t>(i * 37 % 5000), 'x'));
  }
  BurstServer server(frames);
  net::io_context ioc;
  websocket::stream<tcp::socket> client(ioc);
  client.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
  client.handshake("127.0.0.1", "/ws");
  for (const std::string& want : frames) {
    beast::flat_buffer buf;
    client.read(buf);
    EXPECT_EQ(beast::buffers_to_string(buf.data()), want);
    EXPECT_EQ(client.got_text(), want.size() % 2 == 0);
  }
  beast::flat_buffer buf;
  beast::error_code ec;
  client.read(buf, ec);
  EXPECT_EQ(ec, websocket::error::closed);
  EXPECT_EQ(client.reason().code, websocket::close_code::normal);
  server.Join();
}

TEST(CoalescingStreamTest, ClientCloseGetsTheCloseReplyBeforeTheTeardown) {
  // The server only reads: the client's close frame makes it answer with one and tear down.
  net::io_context server_ioc{1};
  tcp::acceptor acceptor(server_ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::optional<websocket::stream<CoalescingStream>> ws;
  beast::flat_buffer server_buf;
  beast::error_code server_ec;
  acceptor.async_accept([&](beast::error_code ec, tcp::socket s) {
    ASSERT_FALSE(ec);
    ws.emplace(std::move(s));
    ws->async_accept([&](beast::error_code ec2) {
      ASSERT_FALSE(ec2);
      ws->async_read(server_buf, [&](beast::error_code ec3, size_t) { server_ec = ec3; });
    });
  });
  std::thread server([&] { server_ioc.run(); });
  net::io_context ioc;
  websocket::stream<tcp::socket> client(ioc);
  client.next_layer().connect(acceptor.local_endpoint());
  client.handshake("127.0.0.1", "/ws");
  beast::error_code ec;
  client.close(websocket::close_code::going_away, ec);
  EXPECT_FALSE(ec) << ec.message();  // the server's close frame arrived
  beast::error_code ignored;
  client.next_layer().close(ignored);  // the server's teardown reads until EOF
  server.join();
  EXPECT_EQ(server_ec, websocket::error::closed);
}

}  // namespace
}  // namespace tokenaudit::gateway
