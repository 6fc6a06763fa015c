#include "src/client/ingest_reply.h"

#include <charconv>
#include <functional>

namespace tokenaudit::client {
namespace {

constexpr int kMaxDepth = 16;

// A strict RFC 8259 reader over one buffer: each method consumes one syntactic unit (after
// leading whitespace) and returns false on any error.
class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}

  bool AtEnd() {
    SkipWs();
    return pos_ == s_.size();
  }

  bool Peek(char c) {
    SkipWs();
    return pos_ < s_.size() && s_[pos_] == c;
  }

  // A string; appended to *out when out is not null.
  bool String(std::string* out) {
    SkipWs();
    if (pos_ >= s_.size() || s_[pos_] != '"') return false;
    ++pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        if (out) out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          if (out) out->push_back(e);
          break;
        case 'b':
          if (out) out->push_back('\b');
          break;
        case 'f':
          if (out) out->push_back('\f');
          break;
        case 'n':
          if (out) out->push_back('\n');
          break;
        case 'r':
          if (out) out->push_back('\r');
          break;
        case 't':
          if (out) out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') return false;
            pos_ += 2;
            if (!Hex4(&lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          if (out) AppendUtf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  // A number token by the RFC 8259 grammar.
  bool Number(std::string_view* token) {
    SkipWs();
    const size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size()) return false;
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (IsDigit(s_[pos_])) {
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    } else {
      return false;
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (pos_ >= s_.size() || !IsDigit(s_[pos_])) return false;
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (pos_ >= s_.size() || !IsDigit(s_[pos_])) return false;
      while (pos_ < s_.size() && IsDigit(s_[pos_])) ++pos_;
    }
    *token = s_.substr(start, pos_ - start);
    return true;
  }

  bool Unsigned(uint64_t* v) {
    std::string_view t;
    if (!Number(&t)) return false;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), *v);
    return ec == std::errc() && p == t.data() + t.size();
  }

  bool Bool(bool* v) {
    SkipWs();
    if (s_.substr(pos_, 4) == "true") {
      pos_ += 4;
      *v = true;
      return true;
    }
    if (s_.substr(pos_, 5) == "false") {
      pos_ += 5;
      *v = false;
      return true;
    }
    return false;
  }

  // Any value, checked and discarded.
  bool Skip(int depth = 0) {
    if (depth > kMaxDepth) return false;
    SkipWs();
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '"') return String(nullptr);
    if (c == '{') return Object([this, depth](std::string_view) { return Skip(depth + 1); });
    if (c == '[') return Array([this, depth] { return Skip(depth + 1); });
    for (std::string_view lit : {"true", "false", "null"}) {
      if (s_.substr(pos_, lit.size()) == lit) {
        pos_ += lit.size();
        return true;
      }
    }
    std::string_view t;
    return Number(&t);
  }

  // An object; `member(key)` reads (or skips) each value.
  bool Object(const std::function<bool(std::string_view)>& member) {
    SkipWs();
    if (pos_ >= s_.size() || s_[pos_] != '{') return false;
    ++pos_;
    if (Peek('}')) {
      ++pos_;
      return true;
    }
    for (;;) {
      std::string key;
      if (!String(&key) || !Peek(':')) return false;
      ++pos_;
      if (!member(key)) return false;
      if (Peek(',')) {
        ++pos_;
        continue;
      }
      if (Peek('}')) {
        ++pos_;
        return true;
      }
      return false;
    }
  }

  // An array; `element()` reads (or skips) each element.
  bool Array(const std::function<bool()>& element) {
    SkipWs();
    if (pos_ >= s_.size() || s_[pos_] != '[') return false;
    ++pos_;
    if (Peek(']')) {
      ++pos_;
      return true;
    }
    for (;;) {
      if (!element()) return false;
      if (Peek(',')) {
        ++pos_;
        continue;
      }
      if (Peek(']')) {
        ++pos_;
        return true;
      }
      return false;
    }
  }

 private:
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }

  void SkipWs() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Hex4(uint32_t* v) {
    if (pos_ + 4 > s_.size()) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = s_[pos_++];
      uint32_t d;
      if (c >= '0' && c <= '9') {
        d = static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
      *v = *v * 16 + d;
    }
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

bool ReadApiError(JsonReader* r, ApiError* e) {
  return r->Object([r, e](std::string_view key) {
    if (key == "code") return r->String(&e->code);
    if (key == "field") return r->String(&e->field);
    if (key == "message") return r->String(&e->message);
    return r->Skip(1);
  });
}

}  // namespace

bool ParseBatchReply(std::string_view body, std::vector<ItemResult>* results) {
  JsonReader r(body);
  std::vector<ItemResult> items;
  std::vector<uint64_t> indexes;
  bool have_results = false;
  bool ok = r.Object([&](std::string_view key) {
    if (key != "results") return r.Skip(1);
    have_results = true;
    return r.Array([&] {
      ItemResult item;
      uint64_t index = UINT64_MAX, status = 0;
      bool ok_item = r.Object([&](std::string_view k) {
        if (k == "index") return r.Unsigned(&index);
        if (k == "status") return r.Unsigned(&status);
        if (k == "seq") return r.Unsigned(&item.seq);
        if (k == "duplicate") return r.Bool(&item.duplicate);
        if (k == "error") return ReadApiError(&r, &item.error);
        return r.Skip(2);
      });
      if (!ok_item || status < 100 || status > 599) return false;
      item.status = static_cast<int>(status);
      items.push_back(std::move(item));
      indexes.push_back(index);
      return true;
    });
  });
  if (!ok || !r.AtEnd() || !have_results) return false;
  results->assign(items.size(), ItemResult{});
  std::vector<bool> seen(items.size(), false);
  for (size_t i = 0; i < items.size(); ++i) {
    if (indexes[i] >= items.size() || seen[indexes[i]]) return false;
    seen[indexes[i]] = true;
    (*results)[indexes[i]] = std::move(items[i]);
  }
  return true;
}

bool ParseErrorReply(std::string_view body, ApiError* error) {
  JsonReader r(body);
  bool have = false;
  bool ok = r.Object([&](std::string_view key) {
    if (key != "error") return r.Skip(1);
    have = true;
    return ReadApiError(&r, error);
  });
  return ok && have && r.AtEnd();
}

}  // namespace tokenaudit::client
