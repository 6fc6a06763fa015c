#include "src/gateway/multipart.h"

#include <cctype>

namespace tokenaudit::gateway {
namespace {

constexpr size_t kMaxBoundary = 70;  // RFC 2046 §5.1.1

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parameters of a header value "type; a=b; c=\"d\"": calls `f(key, value)` for each. False on
// an unterminated quoted string.
template <typename F>
bool ForEachParam(std::string_view v, F f) {
  size_t i = v.find(';');
  if (i == std::string_view::npos) return true;
  ++i;
  while (i < v.size()) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == ';')) ++i;
    size_t eq = i;
    while (eq < v.size() && v[eq] != '=' && v[eq] != ';') ++eq;
    std::string_view key = Trim(v.substr(i, eq - i));
    std::string value;
    if (eq >= v.size() || v[eq] == ';') {
      f(key, value);
      i = eq;
      continue;
    }
    size_t j = eq + 1;
    while (j < v.size() && (v[j] == ' ' || v[j] == '\t')) ++j;
    if (j < v.size() && v[j] == '"') {
      ++j;
      bool closed = false;
      while (j < v.size()) {
        char c = v[j++];
        if (c == '\\' && j < v.size()) {
          value.push_back(v[j++]);
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          value.push_back(c);
        }
      }
      if (!closed) return false;
    } else {
      size_t end = j;
      while (end < v.size() && v[end] != ';') ++end;
      value = std::string(Trim(v.substr(j, end - j)));
      j = end;
    }
    f(key, value);
    i = j;
  }
  return true;
}

}  // namespace

Result<std::string> MultipartBoundary(std::string_view content_type) {
  std::string_view type = Trim(content_type.substr(0, content_type.find(';')));
  if (!IEquals(type, "multipart/form-data")) {
    return Status::InvalidArgument("content-type: not multipart/form-data");
  }
  std::string boundary;
  bool ok = ForEachParam(content_type, [&](std::string_view k, const std::string& v) {
    if (IEquals(k, "boundary") && boundary.empty()) boundary = v;
  });
  if (!ok) return Status::InvalidArgument("content-type: unterminated quoted parameter");
  if (boundary.empty()) return Status::InvalidArgument("content-type: missing boundary");
  if (boundary.size() > kMaxBoundary) return Status::InvalidArgument("content-type: boundary too long");
  return boundary;
}

Result<std::vector<MultipartPart>> ParseMultipart(std::string_view body, std::string_view boundary,
                                                  const MultipartLimits& limits) {
  if (boundary.empty() || boundary.size() > kMaxBoundary) {
    return Status::InvalidArgument("multipart: bad boundary");
  }
  const std::string delim = "--" + std::string(boundary);
  const std::string inner = "\r\n" + delim;
  // The first delimiter: at the very start, or after a preamble ending in CRLF.
  size_t pos;
  if (body.substr(0, delim.size()) == delim) {
    pos = delim.size();
  } else {
    size_t p = body.find(inner);
    if (p == std::string_view::npos) return Status::InvalidArgument("multipart: no delimiter");
    pos = p + inner.size();
  }
  std::vector<MultipartPart> parts;
  for (;;) {
    // After a delimiter: "--" closes; otherwise transport padding, then CRLF.
    if (body.substr(pos, 2) == "--") return parts;
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") {
      return Status::InvalidArgument("multipart: delimiter not followed by CRLF");
    }
    pos += 2;
    if (parts.size() >= limits.max_parts) {
      return Status::ResourceExhausted("multipart: too many parts");
    }
    MultipartPart part;
    bool disposition = false;
    // Header lines until an empty line.
    size_t header_start = pos;
    for (;;) {
      size_t eol = body.find("\r\n", pos);
      if (eol == std::string_view::npos) return Status::InvalidArgument("multipart: truncated headers");
      if (eol - header_start > limits.max_header_bytes) {
        return Status::ResourceExhausted("multipart: part headers too large");
      }
      std::string_view line = body.substr(pos, eol - pos);
      pos = eol + 2;
      if (line.empty()) break;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        return Status::InvalidArgument("multipart: malformed part header");
      }
      std::string_view name = Trim(line.substr(0, colon));
      std::string_view value = Trim(line.substr(colon + 1));
      if (IEquals(name, "content-disposition")) {
        std::string_view kind = Trim(value.substr(0, value.find(';')));
        if (!IEquals(kind, "form-data")) {
          return Status::InvalidArgument("multipart: part is not form-data");
        }
        bool ok = ForEachParam(value, [&](std::string_view k, const std::string& v) {
          if (IEquals(k, "name")) {
            part.name = v;
          } else if (IEquals(k, "filename")) {
            part.filename = v;
            part.has_filename = true;
          }
        });
        if (!ok) return Status::InvalidArgument("multipart: unterminated quoted parameter");
        disposition = true;
      } else if (IEquals(name, "content-type")) {
        part.content_type = std::string(value);
      }
    }
    if (!disposition) return Status::InvalidArgument("multipart: part without Content-Disposition");
    size_t end = body.find(inner, pos);
    if (end == std::string_view::npos) return Status::InvalidArgument("multipart: no closing delimiter");
    part.data = body.substr(pos, end - pos);
    parts.push_back(std::move(part));
    pos = end + inner.size();
  }
}

}  // namespace tokenaudit::gateway
