// The load generator's HTTP/1.1 client (bench/ingest/ingest_loadgen.cc): one keep-alive TCP
// connection over a raw blocking socket. Not thread-safe; one per load-generator thread.

#ifndef TOKENAUDIT_BENCH_INGEST_LOADGEN_HTTP_H_
#define TOKENAUDIT_BENCH_INGEST_LOADGEN_HTTP_H_

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace tokenaudit::bench {

struct Url {
  std::string host;
  uint16_t port = 80;
  std::string target;  // path + query
};

struct HttpReply {
  int status = 0;
  std::string body;
  bool close = false;
};

class HttpConnection {
 public:
  explicit HttpConnection(const Url& url) : url_(url) {}
  ~HttpConnection() { Close(); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool Connect(std::string* err) {
    Close();
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(url_.host.c_str(), std::to_string(url_.port).c_str(), &hints, &res);
    if (rc != 0) {
      *err = std::string("getaddrinfo: ") + gai_strerror(rc);
      return false;
    }
    for (addrinfo* a = res; a; a = a->ai_next) {
      fd_ = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd_ < 0) continue;
      if (connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
      ::close(fd_);
      fd_ = -1;
    }
    freeaddrinfo(res);
    if (fd_ < 0) {
      *err = std::string("connect: ") + std::strerror(errno);
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    in_.clear();
    return true;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return fd_ >= 0; }

  // Sends `head` (request line and headers, ending in an empty line) and `body`, then reads one
  // response. False on an I/O or protocol error (the connection is closed; Connect again).
  bool RoundTrip(std::string_view head, std::string_view body, HttpReply* reply,
                 std::string* err) {
    if (!SendAll(head, body, err) || !ReadReply(reply, err)) {
      Close();
      return false;
    }
    if (reply->close) Close();
    return true;
  }

 private:
  bool SendAll(std::string_view head, std::string_view body, std::string* err) {
    size_t off = 0, total = head.size() + body.size();
    while (off < total) {
      iovec iov[2];
      int n = 0;
      if (off < head.size()) {
        iov[n++] = {const_cast<char*>(head.data() + off), head.size() - off};
        if (!body.empty()) iov[n++] = {const_cast<char*>(body.data()), body.size()};
      } else {
        size_t b = off - head.size();
        iov[n++] = {const_cast<char*>(body.data() + b), body.size() - b};
      }
      ssize_t w = writev(fd_, iov, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        *err = std::string("write: ") + std::strerror(errno);
        return false;
      }
      off += static_cast<size_t>(w);
    }
    return true;
  }

  // Reads more bytes into in_; false on EOF or error.
  bool Fill(std::string* err) {
    char buf[65536];
    for (;;) {
      ssize_t r = read(fd_, buf, sizeof(buf));
      if (r > 0) {
        in_.append(buf, static_cast<size_t>(r));
        return true;
      }
      if (r == 0) {
        *err = "connection closed by peer";
        return false;
      }
      if (errno == EINTR) continue;
      *err = std::string("read: ") + std::strerror(errno);
      return false;
    }
  }

  static bool IEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  }

  bool ReadReply(HttpReply* reply, std::string* err) {
    size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (in_.size() > (1 << 20)) {
        *err = "response header too large";
        return false;
      }
      if (!Fill(err)) return false;
    }
    std::string_view head(in_.data(), end);
    if (head.size() < 12 || head.rfind("HTTP/1.", 0) != 0) {
      *err = "bad status line";
      return false;
    }
    reply->status = std::atoi(std::string(head.substr(9, 3)).c_str());
    reply->close = head.substr(0, 8) == "HTTP/1.0";
    bool chunked = false;
    int64_t length = -1;
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      size_t line_end = head.find("\r\n", pos + 2);
      std::string_view line =
          head.substr(pos + 2, (line_end == std::string_view::npos ? head.size() : line_end) -
                                   pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (IEquals(name, "content-length")) length = std::atoll(std::string(value).c_str());
        else if (IEquals(name, "transfer-encoding")) chunked = value.find("chunked") != value.npos;
        else if (IEquals(name, "connection")) {
          if (IEquals(value, "close")) reply->close = true;
          else if (IEquals(value, "keep-alive")) reply->close = false;
        }
      }
      pos = line_end;
    }
    in_.erase(0, end + 4);
    reply->body.clear();
    if (chunked) {
      for (;;) {
        size_t eol;
        while ((eol = in_.find("\r\n")) == std::string::npos)
          if (!Fill(err)) return false;
        uint64_t size = std::strtoull(in_.c_str(), nullptr, 16);
        in_.erase(0, eol + 2);
        while (in_.size() < size + 2)
          if (!Fill(err)) return false;
        reply->body.append(in_, 0, size);
        in_.erase(0, size + 2);
        if (size == 0) break;  // (no trailers expected)
      }
    } else if (length >= 0) {
      while (in_.size() < static_cast<uint64_t>(length))
        if (!Fill(err)) return false;
      reply->body.assign(in_, 0, length);
      in_.erase(0, length);
    } else if (reply->status != 204 && reply->status != 304) {
      std::string ignored;
      while (Fill(&ignored)) {
      }
      reply->body.swap(in_);
      in_.clear();
      reply->close = true;
    }
    return true;
  }

  Url url_;
  int fd_ = -1;
  std::string in_;
};

}  // namespace tokenaudit::bench

#endif  // TOKENAUDIT_BENCH_INGEST_LOADGEN_HTTP_H_
