#include "src/http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace tokenaudit::http {
namespace {

// A blocking test client on a raw socket, so malformed requests can be sent as they are.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawClient() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Reads one response (headers + Content-Length body); "" on timeout or close before that.
  std::string ReadResponse(int timeout_ms = 3000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      size_t hdr_end = buf_.find("\r\n\r\n");
      if (hdr_end != std::string::npos) {
        size_t len = 0;
        size_t cl = buf_.find("Content-Length: ");
        if (cl != std::string::npos && cl < hdr_end) len = std::stoul(buf_.substr(cl + 16));
        if (buf_.size() >= hdr_end + 4 + len) {
          std::string r = buf_.substr(0, hdr_end + 4 + len);
          buf_.erase(0, hdr_end + 4 + len);
          return r;
        }
      }
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) return "";
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) return "";
      char tmp[65536];
      ssize_t n = recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) return "";
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }
  // True if the server closed the connection within the timeout.
  bool ClosedByPeer(int timeout_ms = 3000) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char tmp[256];
    return recv(fd_, tmp, sizeof(tmp), 0) <= 0;
  }

 private:
  int fd_;
  bool connected_ = false;
  std::string buf_;
};

class EchoHandler : public HttpHandler {
 public:
  void Handle(HttpRequest req, Responder respond) override {
    if (req.path == "/slow") {
      std::thread([respond] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        HttpResponse r;
        r.body = "{\"slow\":true}";
        respond(std::move(r));
      }).detach();
      return;
    }
    if (req.path == "/missing") {
      respond(ErrorResponse(404, "not_found", "no such thing"));
      return;
    }
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = req.method + " " + req.path + " q=" + std::string(req.Query("q").value_or("-")) +
             " h=" + std::string(req.Header("x-test").value_or("-")) + " body=" + req.body;
    respond(std::move(r));
  }
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(HttpServerOptions o = {}) {
    o.port = 0;
    auto s = HttpServer::Start(o, &handler_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(1000);
  }
  EchoHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartServer();
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    c.Send("POST /echo%20x?q=a%2Bb HTTP/1.1\r\nHost: x\r\nX-Test: yes\r\nContent-Length: 5\r\n\r\nhello");
    std::string r = c.ReadResponse();
    EXPECT_NE(r.find("200 OK"), std::string::npos) << r;
    EXPECT_NE(r.find("POST /echo x q=a+b h=yes body=hello"), std::string::npos) << r;
  }
  EXPECT_EQ(server_->stats().connections_total, 1u);
}

// Bodies larger than the read buffer (read 64 KiB at a time, then the buffer shrinks back),
// with Content-Length and chunked, mixed with small and pipelined requests on one connection:
// every body arrives whole and in order.
TEST_F(HttpServerTest, LargeAndSmallBodiesOnOneConnectionArriveWhole) {
  StartServer();
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  auto pattern = [](size_t n, size_t seed) {
    std::string b(n, '\0');
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
    return b;
  };
  auto with_length = [](const std::string& body) {
    return "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  };
  auto chunked = [](const std::string& body) {
    std::string r = "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (size_t at = 0; at < body.size(); at += 100'000) {
      const std::string piece = body.substr(at, 100'000);
      char size[32];
      snprintf(size, sizeof(size), "%zx\r\n", piece.size());
      r += size + piece + "\r\n";
    }
    return r + "0\r\n\r\n";
  };
  auto expect_echo = [&](const std::string& body) {
    const std::string r = c.ReadResponse(10'000);
    const size_t at = r.find(" body=");
    ASSERT_NE(at, std::string::npos) << r.substr(0, 200);
    EXPECT_TRUE(r.compare(at + 6, std::string::npos, body) == 0) << "body of " << body.size();
  };
  size_t seed = 0;
  for (size_t size : {size_t{1} << 20, size_t{5}, size_t{70'001}, size_t{4096}, size_t{0}}) {
    const std::string body = pattern(size, ++seed);
    c.Send(with_length(body));
    expect_echo(body);
  }
  const std::string big = pattern(300'007, ++seed), small = pattern(3, ++seed);
  c.Send(chunked(big));
  expect_echo(big);
  // Pipelined: a large body and a small request behind it in one send, then the reverse.
  c.Send(with_length(big) + with_length(small));
  expect_echo(big);
  expect_echo(small);
  c.Send(with_length(small) + chunked(big));
  expect_echo(small);
  expect_echo(big);
  EXPECT_EQ(server_->stats().connections_total, 1u);
}

TEST_F(HttpServerTest, OversizedContentLengthIsRefusedWithoutReadingTheBody) {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  StartServer(o);
  RawClient c(server_->port());
  // Announce 10 MB, send none of it: the answer must come from the header alone.
  c.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("413"), std::string::npos) << r;
  EXPECT_NE(r.find("body_too_large"), std::string::npos) << r;
  EXPECT_TRUE(c.ClosedByPeer());
}

TEST_F(HttpServerTest, ContentLengthNoStringCanHoldGets400WithoutALimit) {
  HttpServerOptions o;
  o.max_body_bytes = UINT64_MAX;  // "unlimited"
  StartServer(o);
  RawClient c(server_->port());
  // The body reader starts (and refuses the length) with the first body bytes.
  c.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\nabc");
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("400"), std::string::npos) << r;
  // The server is still there.
  RawClient again(server_->port());
  again.Send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(again.ReadResponse().find("200"), std::string::npos);
}

TEST_F(HttpServerTest, OversizedChunkedBodyIsRefusedWhileStreaming) {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  StartServer(o);
  RawClient c(server_->port());
  c.Send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunk = "400\r\n" + std::string(1024, 'a') + "\r\n";
  c.Send(chunk);
  c.Send(chunk);
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("413"), std::string::npos) << r;
}

TEST_F(HttpServerTest, OversizedHeadersGet431) {
  HttpServerOptions o;
  o.max_header_bytes = 1024;
  StartServer(o);
  RawClient c(server_->port());
  c.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4000, 'b') + "\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("431"), std::string::npos);
}

TEST_F(HttpServerTest, GarbageGets400AndClose) {
  StartServer();
  RawClient c(server_->port());
  c.Send("THIS IS NOT HTTP\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("400"), std::string::npos) << r;
}

TEST_F(HttpServerTest, IdleConnectionsAreClosed) {
  HttpServerOptions o;
  o.idle_timeout_ms = 100;
  StartServer(o);
  RawClient c(server_->port());
  EXPECT_TRUE(c.ClosedByPeer(2000));
}

TEST_F(HttpServerTest, SlowHeadersTimeOut) {
  HttpServerOptions o;
  o.header_timeout_ms = 150;
  StartServer(o);
  RawClient c(server_->port());
  c.Send("GET / HTTP/1.1\r\nHost:");  // never finishes
  EXPECT_TRUE(c.ClosedByPeer(2000));
}

TEST_F(HttpServerTest, ConnectionsBeyondTheCapGet503) {
  HttpServerOptions o;
  o.max_connections = 2;
  StartServer(o);
  RawClient a(server_->port()), b(server_->port());
  a.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  b.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_NE(a.ReadResponse().find("200"), std::string::npos);
  ASSERT_NE(b.ReadResponse().find("200"), std::string::npos);
  RawClient c(server_->port());
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("503"), std::string::npos) << r;
  EXPECT_EQ(server_->stats().connections_refused, 1u);
}

TEST_F(HttpServerTest, AsyncResponsesAndErrorsComeBack) {
  StartServer();
  RawClient c(server_->port());
  c.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(c.ReadResponse().find("{\"slow\":true}"), std::string::npos);
  c.Send("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string r = c.ReadResponse();
  EXPECT_NE(r.find("404"), std::string::npos);
  EXPECT_NE(r.find("{\"error\":{\"code\":\"not_found\",\"message\":\"no such thing\"}}"),
            std::string::npos)
      << r;
}

TEST_F(HttpServerTest, ShutdownDrainsRequestsInFlight) {
  StartServer();
  RawClient c(server_->port());
  c.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the request is in the handler
  std::thread stopper([this] { server_->Shutdown(5000); });
  std::string r = c.ReadResponse();
  stopper.join();
  EXPECT_NE(r.find("{\"slow\":true}"), std::string::npos) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  RawClient late(server_->port());
  EXPECT_FALSE(late.connected() && !late.ClosedByPeer(500));
}

TEST(HttpMessageTest, StatusMappingAndErrorBody) {
  EXPECT_EQ(HttpStatusFor(Status::InvalidArgument("x")), 400);
  EXPECT_EQ(HttpStatusFor(Status::Unauthenticated("x")), 401);
  EXPECT_EQ(HttpStatusFor(Status::PermissionDenied("x")), 403);
  EXPECT_EQ(HttpStatusFor(Status::ResourceExhausted("x")), 503);
  EXPECT_EQ(HttpStatusFor(Status::Unavailable("x")), 503);
  EXPECT_EQ(HttpStatusFor(Status::IOError("x")), 500);
  HttpResponse r = ErrorResponse(400, "invalid_type", "must be an \"integer\"", "input.width");
  EXPECT_EQ(r.body,
            "{\"error\":{\"code\":\"invalid_type\",\"field\":\"input.width\",\"message\":\"must "
            "be an \\\"integer\\\"\"}}");
}

TEST(HttpMessageTest, QueryParsing) {
  auto q = ParseQuery("a=1&b=x%20y+z&&c&d=%zz");
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[1].second, "x y z");
  EXPECT_EQ(q[2].first, "c");
  EXPECT_EQ(q[3].second, "%zz");
}

}  // namespace
}  // namespace tokenaudit::http
