// CoalescingStream: the next layer of the gateway's downstream WebSockets. Reads go straight to
// the TCP stream; writes are appended to a buffer and complete at once, and the buffer goes to
// the socket in one write once the I/O thread has run the handlers already queued. A burst of
// upstream events relayed to one user (ComfyUI sends a prompt's progress_state, executing,
// progress, executed, ... back to back) then costs one send(2) instead of one per frame — the
// gateway's largest per-event cost on loopback, where every send also runs the receiver's TCP
// path. Bytes keep their order (handshake, data and control frames all pass through here).
//
// A failed socket write is reported by the next write; at most `kMaxBuffered` bytes wait (a
// client that stopped reading gets `no_buffer_space` and is let go by its session). Internal to
// src/gateway; used on the gateway's I/O thread only.

#ifndef TOKENAUDIT_GATEWAY_COALESCING_STREAM_H_
#define TOKENAUDIT_GATEWAY_COALESCING_STREAM_H_

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <memory>
#include <string>
#include <utility>

namespace tokenaudit::gateway {

class CoalescingStream {
 public:
  static constexpr size_t kMaxBuffered = 64u << 20;

  using executor_type = boost::beast::tcp_stream::executor_type;

  explicit CoalescingStream(boost::asio::ip::tcp::socket socket)
      : state_(std::make_shared<State>(std::move(socket))) {}

  executor_type get_executor() noexcept { return state_->stream.get_executor(); }
  boost::beast::tcp_stream& next_layer() { return state_->stream; }
  const boost::beast::tcp_stream& next_layer() const { return state_->stream; }
  // Bytes written by the WebSocket layer and not yet handed to the socket.
  size_t buffered() const { return state_->pending.size() + state_->in_flight.size(); }

  // Hands what is buffered to the socket now, unless an asynchronous write is in progress (its
  // completion flushes the rest). For the close handshake: the close frame must leave before
  // the teardown shuts the socket down.
  void FlushNow() {
    State& st = *state_;
    if (st.writing || st.pending.empty() || st.error) return;
    boost::asio::write(st.stream.socket(), boost::asio::buffer(st.pending), st.error);
    st.pending.clear();
  }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return state_->stream.async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    return boost::asio::async_initiate<WriteHandler, void(boost::system::error_code, size_t)>(
        [](auto h, std::shared_ptr<State> st, const ConstBufferSequence& b) {
          boost::system::error_code ec = st->error;
          size_t n = boost::asio::buffer_size(b);
          if (!ec && st->pending.size() + st->in_flight.size() + n > kMaxBuffered) {
            ec = boost::asio::error::no_buffer_space;
          }
          if (ec) {
            n = 0;
          } else {
            const size_t at = st->pending.size();
            st->pending.resize(at + n);
            boost::asio::buffer_copy(boost::asio::buffer(st->pending.data() + at, n), b);
            ScheduleFlush(st);
          }
          auto ex = boost::asio::get_associated_executor(h, st->stream.get_executor());
          boost::asio::post(ex, boost::beast::bind_front_handler(std::move(h), ec, n));
        },
        handler, state_, buffers);
  }

 private:
  struct State {
    explicit State(boost::asio::ip::tcp::socket s) : stream(std::move(s)) {}
    boost::beast::tcp_stream stream;
    std::string pending;    // appended by writes
    std::string in_flight;  // being written to the socket
    boost::system::error_code error;  // of the last socket write
    bool scheduled = false;
    bool writing = false;
  };

  // Two hops through the I/O thread's queue: the write completions and the upstream frames
  // queued behind this write get to append theirs before the buffer goes out.
  static void ScheduleFlush(const std::shared_ptr<State>& st) {
    if (st->scheduled || st->writing) return;
    st->scheduled = true;
    boost::asio::post(st->stream.get_executor(), [st] {
      boost::asio::post(st->stream.get_executor(), [st] {
        st->scheduled = false;
        Flush(st);
      });
    });
  }

  static void Flush(const std::shared_ptr<State>& st) {
    if (st->writing || st->pending.empty()) return;
    st->writing = true;
    st->in_flight.swap(st->pending);
    boost::asio::async_write(st->stream, boost::asio::buffer(st->in_flight),
                             [st](boost::system::error_code ec, size_t) {
                               st->writing = false;
                               st->in_flight.clear();
                               if (ec) {
                                 st->error = ec;
                                 st->pending.clear();
                                 return;
                               }
                               if (!st->pending.empty()) ScheduleFlush(st);
                             });
  }

  std::shared_ptr<State> state_;
};

// Closing a WebSocket closes the TCP stream under it (boost::beast::websocket's customisation
// points, found by argument-dependent lookup).
inline void teardown(boost::beast::role_type role, CoalescingStream& stream,
                     boost::system::error_code& ec) {
  stream.FlushNow();
  using boost::beast::websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, CoalescingStream& stream,
                    TeardownHandler&& handler) {
  stream.FlushNow();
  using boost::beast::websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<TeardownHandler>(handler));
}

}  // namespace tokenaudit::gateway

#endif  // TOKENAUDIT_GATEWAY_COALESCING_STREAM_H_
