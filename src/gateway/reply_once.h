// ReplyOnce: the reply callback of one request, as a copyable std::function target, that is
// answered exactly once. If every copy is destroyed without a call (a route or upstream path
// that lost it: a bug, which would otherwise close the client's connection with no answer),
// `on_dropped` runs instead, from the last copy's destructor, on whatever thread that is (the
// gateway's I/O thread). A second call is ignored. Not thread-safe: one thread at a time.

#ifndef TOKENAUDIT_GATEWAY_REPLY_ONCE_H_
#define TOKENAUDIT_GATEWAY_REPLY_ONCE_H_

#include <functional>
#include <memory>
#include <utility>

namespace tokenaudit::gateway {

template <typename Reply>
class ReplyOnce {
 public:
  ReplyOnce(std::function<void(Reply)> reply, std::function<void()> on_dropped)
      : state_(std::make_shared<State>(std::move(reply), std::move(on_dropped))) {}

  void operator()(Reply r) const {
    if (!state_->reply) return;
    std::function<void(Reply)> reply = std::exchange(state_->reply, nullptr);
    state_->on_dropped = nullptr;  // releases what it holds now
    reply(std::move(r));
  }

 private:
  struct State {
    State(std::function<void(Reply)> r, std::function<void()> d)
        : reply(std::move(r)), on_dropped(std::move(d)) {}
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
      if (reply && on_dropped) on_dropped();
    }
    std::function<void(Reply)> reply;  // null once called
    std::function<void()> on_dropped;
  };

  std::shared_ptr<State> state_;
};

}  // namespace tokenaudit::gateway

#endif  // TOKENAUDIT_GATEWAY_REPLY_ONCE_H_
