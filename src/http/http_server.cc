#include "src/http/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <list>
#include <optional>
#include <thread>
#include <vector>

#include "src/util/mutex.h"
#include "src/util/thread_name.h"

namespace tokenaudit::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class ServerImpl;

// What a connection's read buffer holds: while it waits for a request, and while it reads a
// body larger than that (Beast's largest read).
constexpr size_t kHeaderReadBytes = 4096;
constexpr size_t kBodyReadBytes = 65536;

// A request body read into a std::string by appending. Beast's string_body resizes the string
// (zero-filling the new bytes) before it copies each piece in: a second pass over every body,
// 1% of the ingest path's CPU with batches of 1,000 records. The string is reserved once when
// Content-Length is known (bounded by the parser's body_limit, checked before this runs).
struct AppendedStringBody {
  using value_type = std::string;

  class reader {
   public:
    template <bool kIsRequest, class Fields>
    explicit reader(bhttp::header<kIsRequest, Fields>&, value_type& body) : body_(body) {}

    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      // As string_body: a length no string can hold is an error (400), not a throw (a
      // max_body_bytes configured as "unlimited" lets any Content-Length through).
      if (length && *length > body_.max_size()) {
        ec = bhttp::error::buffer_overflow;
        return;
      }
      if (length) body_.reserve(static_cast<size_t>(*length));
      ec = {};
    }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      size_t n = 0;
      for (const auto b : beast::buffers_range_ref(buffers)) {
        body_.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      ec = {};
      return n;
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

// One connection. All its handlers run on its strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerImpl* server, bool refuse)
      : stream_(std::move(socket)), server_(server), refuse_(refuse) {}

  void Start();
  // Closes the connection from any thread.
  void CloseSoon() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->DoClose(); });
  }

 private:
  void WaitForRequest();
  void ReadHeader();
  void ReadBody();
  void OnError(beast::error_code ec);
  void Dispatch();
  void Write(HttpResponse r, bool counted, bool force_close);
  void DoClose();

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<AppendedStringBody>> parser_;
  std::shared_ptr<bhttp::response<bhttp::string_body>> res_;
  ServerImpl* const server_;  // outlives every session (Shutdown joins the I/O threads)
  const bool refuse_;
  bool keep_alive_ = true;
  unsigned version_ = 11;
  bool closed_ = false;
};

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(const HttpServerOptions& o, HttpHandler* h)
      : options_(o),
        handler_(h),
        ioc_(o.threads),
        work_(net::make_work_guard(ioc_)),
        acceptor_(net::make_strand(ioc_)) {}
  ~ServerImpl() override { Shutdown(0); }

  Status Listen();
  void Run();

  uint16_t port() const override { return port_; }
  std::string address() const override { return address_; }
  HttpServerStats stats() const override {
    HttpServerStats s;
    s.connections_open = open_.load();
    s.connections_total = total_.load();
    s.connections_refused = refused_.load();
    s.requests_total = requests_.load();
    s.requests_in_flight = in_flight_.load();
    return s;
  }
  void Shutdown(uint32_t drain_ms) override;

  const HttpServerOptions& options() const { return options_; }
  HttpHandler* handler() const { return handler_; }
  net::io_context& ioc() { return ioc_; }
  bool stopping() const { return stopping_.load(); }
  void RequestStarted() {
    requests_.fetch_add(1);
    in_flight_.fetch_add(1);
  }
  void RequestFinished() { in_flight_.fetch_sub(1); }
  void SessionClosed() { open_.fetch_sub(1); }
  void Register(const std::shared_ptr<Session>& s) {
    MutexLock l(&mu_);
    sessions_.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
    sessions_.push_back(s);
  }

 private:
  void Accept();

  const HttpServerOptions options_;
  HttpHandler* const handler_;
  net::io_context ioc_;
  // Keeps run() going while a session waits for its handler with no I/O pending.
  net::executor_work_guard<net::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  std::string address_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> joined_{false};
  std::atomic<uint64_t> open_{0}, total_{0}, refused_{0}, requests_{0}, in_flight_{0};
  Mutex mu_;
  std::list<std::weak_ptr<Session>> sessions_ GUARDED_BY(mu_);
};

void Session::Start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (self->refuse_) {
      self->Write(ErrorResponse(503, "unavailable", "too many connections; retry later"),
                  /*counted=*/false, /*force_close=*/true);
      return;
    }
    self->WaitForRequest();
  });
}

void Session::WaitForRequest() {
  if (server_->stopping()) return DoClose();
  parser_.emplace();
  parser_->body_limit(server_->options().max_body_bytes);
  parser_->header_limit(server_->options().max_header_bytes);
  if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
  if (buffer_.capacity() > kHeaderReadBytes) buffer_.shrink_to_fit();  // see ReadBody
  stream_.expires_after(std::chrono::milliseconds(server_->options().idle_timeout_ms));
  stream_.async_read_some(buffer_.prepare(kHeaderReadBytes), [self = shared_from_this()](
                                                     beast::error_code ec, size_t n) {
    if (ec) return self->DoClose();
    self->buffer_.commit(n);
    self->ReadHeader();
  });
}

void Session::ReadHeader() {
  stream_.expires_after(std::chrono::milliseconds(server_->options().header_timeout_ms));
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, size_t) {
                             if (ec) return self->OnError(ec);
                             self->ReadBody();
                           });
}

void Session::ReadBody() {
  if (parser_->is_done()) return Dispatch();
  // Beast reads a body through buffer_, at most its free capacity per read (512 B to 64 KiB).
  // The header read leaves it at 4 KiB, so a 500 KB batch took ~143 reads, each a recv and a
  // re-armed timer (timerfd_settime): 7% of the ingest path's CPU. A body that does not fit
  // beside what is buffered (its length minus the buffered bytes is more than the free space,
  // that is its length is more than the capacity) is read 64 KiB at a time, and so is a chunked
  // one (its length unknown); WaitForRequest gives the memory back.
  if (const auto length = parser_->content_length(); !length || *length > buffer_.capacity()) {
    buffer_.reserve(kBodyReadBytes);
  }
  stream_.expires_after(std::chrono::milliseconds(server_->options().body_timeout_ms));
  bhttp::async_read(stream_, buffer_, *parser_,
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) return self->OnError(ec);
                      self->Dispatch();
                    });
}

void Session::OnError(beast::error_code ec) {
  if (ec == bhttp::error::body_limit) {
    return Write(ErrorResponse(413, "body_too_large",
                               "request body exceeds " +
                                   std::to_string(server_->options().max_body_bytes) + " bytes",
                               "body"),
                 false, true);
  }
  if (ec == bhttp::error::header_limit) {
    return Write(ErrorResponse(431, "headers_too_large", "request headers too large"), false,
                 true);
  }
  static const auto& parse_category =
      beast::error_code(bhttp::error::end_of_stream).category();
  if (ec.category() == parse_category && ec != bhttp::error::end_of_stream &&
      ec != bhttp::error::partial_message) {
    return Write(ErrorResponse(400, "bad_request", "malformed HTTP request"), false, true);
  }
  DoClose();  // timeout, reset, EOF: nobody to answer
}

void Session::Dispatch() {
  auto& msg = parser_->get();
  HttpRequest req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  std::string_view target(req.target);
  size_t q = target.find('?');
  req.path = PercentDecode(target.substr(0, q), false);
  if (q != std::string_view::npos) req.query = ParseQuery(target.substr(q + 1));
  for (const auto& field : msg) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    req.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  req.body = std::move(msg.body());
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) req.remote = ep.address().to_string() + ":" + std::to_string(ep.port());
  keep_alive_ = msg.keep_alive();
  version_ = msg.version();
  parser_.reset();
  req.post = [executor = stream_.get_executor()](std::function<void()> task) {
    net::post(executor, std::move(task));
  };
  req.post_any = [ioc = &server_->ioc()](std::function<void()> task) {
    net::post(*ioc, std::move(task));
  };
  req.io_threads = server_->options().threads;
  stream_.expires_never();  // the handler may wait for a group commit
  server_->RequestStarted();
  server_->handler()->Handle(std::move(req), [self = shared_from_this()](HttpResponse r) {
    net::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable {
      self->Write(std::move(r), /*counted=*/true, /*force_close=*/false);
    });
  });
}

void Session::Write(HttpResponse r, bool counted, bool force_close) {
  if (closed_) {
    if (counted) server_->RequestFinished();
    return;
  }
  res_ = std::make_shared<bhttp::response<bhttp::string_body>>();
  res_->version(version_);
  res_->result(static_cast<unsigned>(r.status));
  res_->set(bhttp::field::server, "tokenaudit");
  if (!r.content_type.empty()) res_->set(bhttp::field::content_type, r.content_type);
  for (auto& [k, v] : r.headers) res_->set(k, v);
  res_->body() = std::move(r.body);
  res_->keep_alive(keep_alive_ && !force_close && !server_->stopping());
  res_->prepare_payload();
  stream_.expires_after(std::chrono::seconds(30));
  bhttp::async_write(stream_, *res_,
                     [self = shared_from_this(), counted](beast::error_code ec, size_t) {
                       if (counted) self->server_->RequestFinished();
                       if (ec || !self->res_->keep_alive()) return self->DoClose();
                       self->res_.reset();
                       self->WaitForRequest();
                     });
}

void Session::DoClose() {
  if (closed_) return;
  closed_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
  server_->SessionClosed();
}

Status ServerImpl::Listen() {
  beast::error_code ec;
  auto addr = net::ip::make_address(options_.host, ec);
  if (ec) return Status::InvalidArgument("bad listen host '" + options_.host + "'");
  tcp::endpoint ep(addr, options_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Unavailable("cannot listen on " + options_.host + ":" +
                               std::to_string(options_.port) + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  address_ = (addr.is_v6() ? "[" + options_.host + "]" : options_.host) + ":" +
             std::to_string(port_);
  return Status::OK();
}

void ServerImpl::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (stopping() || ec == net::error::operation_aborted) return;
      Accept();  // e.g. EMFILE: keep serving the connections we have
      return;
    }
    if (stopping()) return;
    beast::error_code nd;
    socket.set_option(tcp::no_delay(true), nd);
    bool refuse = open_.load() >= options_.max_connections;
    if (refuse) refused_.fetch_add(1);
    open_.fetch_add(1);
    total_.fetch_add(1);
    auto s = std::make_shared<Session>(std::move(socket), this, refuse);
    Register(s);
    s->Start();
    Accept();
  });
}

void ServerImpl::Run() {
  Accept();
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] {
      SetCurrentThreadName("ta-http-io");
      ioc_.run();
    });
  }
}

void ServerImpl::Shutdown(uint32_t drain_ms) {
  if (joined_.exchange(true)) return;
  stopping_ = true;
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_ms);
  while (in_flight_.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  {
    MutexLock l(&mu_);
    for (auto& w : sessions_) {
      if (auto s = w.lock()) s->CloseSoon();
    }
    sessions_.clear();
  }
  // Give the closes a moment to run, then stop whatever is left (timers, late writes).
  auto close_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  while (open_.load() > 0 && std::chrono::steady_clock::now() < close_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  work_.reset();
  ioc_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      HttpHandler* handler) {
  auto impl = std::make_unique<ServerImpl>(options, handler);
  RETURN_IF_ERROR(impl->Listen());
  impl->Run();
  return std::unique_ptr<HttpServer>(std::move(impl));
}

}  // namespace tokenaudit::http
