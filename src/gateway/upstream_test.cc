#include "src/gateway/upstream.h"

#include <gtest/gtest.h>

#include <optional>

#include "src/gateway/test_http_peer.h"

namespace tokenaudit::gateway {
namespace {

using testing::ScriptedServer;
using Action = ScriptedServer::Action;

class UpstreamHttpTest : public ::testing::Test {
 protected:
  void StartServer(ScriptedServer::Script script) {
    server_.emplace(std::move(script));
    ASSERT_TRUE(server_->Start());
    client_.emplace(&ioc_, UpstreamUrl{"127.0.0.1", server_->port(), ""}, 5'000);
  }

  // One request, run to its callback; the callback must be called exactly once.
  Result<UpstreamReply> Call(const std::string& method, const std::string& target,
                             const std::string& body) {
    int calls = 0;
    std::optional<Result<UpstreamReply>> got;
    client_->Request(method, target, "application/json", body, [&](Result<UpstreamReply> r) {
      ++calls;
      got.emplace(std::move(r));
    });
    ioc_.restart();
    ioc_.run();
    EXPECT_EQ(calls, 1);
    if (!got) return Status::Internal("callback not called");
    return std::move(*got);
  }

  boost::asio::io_context ioc_;
  std::optional<ScriptedServer> server_;
  std::optional<UpstreamHttp> client_;
};

// The upstream closes every connection after its answer without saying `Connection: close`
// (as a server whose keep-alive timeout passed does): the next request must not go out on the
// closed pooled connection, and each prompt reaches the server exactly once.
TEST_F(UpstreamHttpTest, ConnectionTheServerClosedWhileIdleIsNotReused) {
  StartServer([](int, int) { return Action::kAnswerThenClose; });
  for (int i = 0; i < 3; ++i) {
    Result<UpstreamReply> r = Call("POST", "/prompt", "p" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
    ASSERT_TRUE(server_->WaitClosed(i + 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the FIN has arrived
  }
  EXPECT_EQ(server_->requests(),
            (std::vector<std::string>{"POST /prompt p0", "POST /prompt p1", "POST /prompt p2"}));
  EXPECT_EQ(server_->connections(), 3);
}

// A pooled connection that stays open is reused.
TEST_F(UpstreamHttpTest, OpenConnectionIsReused) {
  StartServer([](int, int) { return Action::kAnswer; });
  for (int i = 0; i < 3; ++i) {
    Result<UpstreamReply> r = Call("GET", "/queue", "");
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->body, "ok");
  }
  EXPECT_EQ(server_->connections(), 1);
}

// The server read the prompt on a reused connection and closed it without an answer: ComfyUI
// may have queued it, so it is not sent again; the caller gets an error (the gateway's 502).
TEST_F(UpstreamHttpTest, PostCutOffAfterItWasSentIsNotSentTwice) {
  StartServer([](int connection, int request) {
    return connection == 0 && request == 1 ? Action::kCloseWithoutAnswer : Action::kAnswer;
  });
  ASSERT_TRUE(Call("POST", "/prompt", "first").ok());
  Result<UpstreamReply> r = Call("POST", "/prompt", "second");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(server_->requests(),
            (std::vector<std::string>{"POST /prompt first", "POST /prompt second"}));
  // The pool holds nothing stale afterwards: the next prompt goes through.
  Result<UpstreamReply> next = Call("POST", "/prompt", "third");
  ASSERT_TRUE(next.ok()) << next.status().message();
  EXPECT_EQ(next->status, 200);
}

// The same cut for a GET, which has no effect: retried once on a new connection.
TEST_F(UpstreamHttpTest, GetCutOffBeforeAnyAnswerIsRetriedOnce) {
  StartServer([](int connection, int request) {
    return connection == 0 && request == 1 ? Action::kCloseWithoutAnswer : Action::kAnswer;
  });
  ASSERT_TRUE(Call("GET", "/queue", "").ok());
  Result<UpstreamReply> r = Call("GET", "/history", "");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(server_->requests(),
            (std::vector<std::string>{"GET /queue ", "GET /history ", "GET /history "}));
  EXPECT_EQ(server_->connections(), 2);
}

// A fresh connection cut before the answer: an error, never a retry, never a lost callback.
TEST_F(UpstreamHttpTest, FreshConnectionCutOffIsAnError) {
  StartServer([](int, int) { return Action::kCloseWithoutAnswer; });
  Result<UpstreamReply> r = Call("GET", "/queue", "");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(server_->requests().size(), 1u);
}

TEST_F(UpstreamHttpTest, NobodyListeningIsAnError) {
  StartServer([](int, int) { return Action::kAnswer; });
  const uint16_t port = server_->port();
  server_.reset();
  client_.emplace(&ioc_, UpstreamUrl{"127.0.0.1", port, ""}, 5'000);
  Result<UpstreamReply> r = Call("POST", "/prompt", "x");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tokenaudit::gateway
