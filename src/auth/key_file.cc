#include "src/auth/key_file.h"

#include <cstdint>
#include <set>

#include "src/auth/api_key.h"
#include "src/auth/key_file_format.h"
#include "src/auth/pseudonymizer.h"

namespace tokenaudit::auth {
namespace {

// A JSON value of a flat key-file object.
struct Scalar {
  enum class Kind { kString, kNumber, kBool } kind = Kind::kString;
  std::string text;
  uint64_t number = 0;
  bool boolean = false;
};

using Object = std::vector<std::pair<std::string, Scalar>>;

void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20 || u == 0x7f) {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xf]);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

std::string EncodeKeyLine(const StoredKey& key) {
  const ApiKeyInfo& k = key.info;
  std::string out = "{\"created_unix_micros\":" + std::to_string(k.created_unix_micros);
  out += ",\"key_id\":";
  AppendJsonString(&out, k.key_id);
  out += ",\"name\":";
  AppendJsonString(&out, k.name);
  out += k.revoked ? ",\"revoked\":true" : ",\"revoked\":false";
  out += ",\"revoked_unix_micros\":" + std::to_string(k.revoked_unix_micros);
  out += ",\"role\":";
  AppendJsonString(&out, RoleName(k.role));
  out += ",\"sha256\":";
  AppendJsonString(&out, key.digest_hex);
  out += ",\"tenant\":";
  AppendJsonString(&out, k.tenant);
  out += ",\"user_pseudonym\":";
  AppendJsonString(&out, k.user_pseudonym);
  out += "}\n";
  return out;
}

// A strict reader for the subset of JSON that EncodeKeyLine writes: one flat object of strings,
// unsigned integers and booleans. The caller re-encodes and compares, so leniency here could
// not let a non-canonical line through anyway.
class LineParser {
 public:
  explicit LineParser(std::string_view line) : in_(line) {}

  Result<Object> ParseObject() {
    Object obj;
    if (!Consume('{')) return Error("expected '{'");
    if (Consume('}')) return Finish(std::move(obj));
    while (true) {
      std::string key;
      if (!ParseString(&key)) return Error("expected a string key");
      if (!Consume(':')) return Error("expected ':'");
      Scalar value;
      if (!ParseScalar(&value)) return Error("bad value for \"" + key + "\"");
      obj.emplace_back(std::move(key), std::move(value));
      if (Consume('}')) return Finish(std::move(obj));
      if (!Consume(',')) return Error("expected ',' or '}'");
    }
  }

 private:
  Result<Object> Finish(Object obj) {
    if (pos_ != in_.size()) return Error("trailing bytes after the object");
    return obj;
  }
  Status Error(const std::string& what) const {
    return Status::Corruption(what + " at column " + std::to_string(pos_ + 1));
  }
  bool Consume(char c) {
    if (pos_ < in_.size() && in_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ParseString(std::string* out) {
    if (!Consume('"')) return false;
    while (pos_ < in_.size()) {
      const char c = in_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= in_.size()) return false;
      const char e = in_[pos_++];
      if (e == '"' || e == '\\') {
        out->push_back(e);
      } else if (e == 'u' && pos_ + 4 <= in_.size() && in_.substr(pos_, 2) == "00") {
        // Only \u00XX below 0x80 is ever written (for control characters).
        unsigned v = 0;
        for (char h : in_.substr(pos_ + 2, 2)) {
          v <<= 4;
          if (h >= '0' && h <= '9')
            v |= static_cast<unsigned>(h - '0');
          else if (h >= 'a' && h <= 'f')
            v |= static_cast<unsigned>(h - 'a' + 10);
          else
            return false;
        }
        if (v >= 0x80) return false;
        out->push_back(static_cast<char>(v));
        pos_ += 4;
      } else {
        return false;
      }
    }
    return false;
  }
  bool ParseScalar(Scalar* v) {
    if (pos_ >= in_.size()) return false;
    const char c = in_[pos_];
    if (c == '"') {
      v->kind = Scalar::Kind::kString;
      return ParseString(&v->text);
    }
    if (in_.substr(pos_, 4) == "true" || in_.substr(pos_, 5) == "false") {
      v->kind = Scalar::Kind::kBool;
      v->boolean = c == 't';
      pos_ += v->boolean ? 4 : 5;
      return true;
    }
    if (c < '0' || c > '9') return false;
    v->kind = Scalar::Kind::kNumber;
    uint64_t n = 0;
    const size_t start = pos_;
    while (pos_ < in_.size() && in_[pos_] >= '0' && in_[pos_] <= '9') {
      const uint64_t digit = static_cast<uint64_t>(in_[pos_] - '0');
      if (n > (UINT64_MAX - digit) / 10) return false;
      n = n * 10 + digit;
      ++pos_;
    }
    if (in_[start] == '0' && pos_ - start > 1) return false;  // no leading zeros
    v->number = n;
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
};

// Binds a parsed object to a StoredKey: exactly the expected members, in the encoder's order.
Result<StoredKey> KeyFromObject(const Object& obj) {
  struct Member {
    std::string_view name;
    Scalar::Kind kind;
  };
  static constexpr Member kMembers[] = {
      {"created_unix_micros", Scalar::Kind::kNumber},
      {"key_id", Scalar::Kind::kString},
      {"name", Scalar::Kind::kString},
      {"revoked", Scalar::Kind::kBool},
      {"revoked_unix_micros", Scalar::Kind::kNumber},
      {"role", Scalar::Kind::kString},
      {"sha256", Scalar::Kind::kString},
      {"tenant", Scalar::Kind::kString},
      {"user_pseudonym", Scalar::Kind::kString},
  };
  constexpr size_t kCount = sizeof(kMembers) / sizeof(kMembers[0]);
  if (obj.size() != kCount) {
    return Status::Corruption("expected " + std::to_string(kCount) + " members, got " +
                              std::to_string(obj.size()));
  }
  for (size_t i = 0; i < kCount; ++i) {
    if (obj[i].first != kMembers[i].name || obj[i].second.kind != kMembers[i].kind) {
      return Status::Corruption("member " + std::to_string(i + 1) + " should be \"" +
                                std::string(kMembers[i].name) + "\" of the right type");
    }
  }
  StoredKey key;
  key.info.created_unix_micros = obj[0].second.number;
  key.info.key_id = obj[1].second.text;
  key.info.name = obj[2].second.text;
  key.info.revoked = obj[3].second.boolean;
  key.info.revoked_unix_micros = obj[4].second.number;
  Result<Role> role = ParseRole(obj[5].second.text);
  if (!role.ok()) return Status::Corruption(role.status().message());
  key.info.role = *role;
  key.digest_hex = obj[6].second.text;
  key.info.tenant = obj[7].second.text;
  key.info.user_pseudonym = obj[8].second.text;
  return key;
}

bool IsBase64Url(std::string_view s) {
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Length of the UTF-8 sequence starting at s[i], or 0 if it is not a valid, shortest-form
// encoding of a Unicode scalar value.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t n;
  uint32_t cp;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
    cp = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    cp = b0 & 0x0f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
      (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return n;
}

}  // namespace

Status CheckKeyText(std::string_view what, std::string_view value, size_t max_bytes) {
  const std::string field(what);
  if (value.size() > max_bytes) {
    return Status::InvalidArgument(field + " is longer than " + std::to_string(max_bytes) +
                                   " bytes");
  }
  if (!value.empty() && (value.front() == ' ' || value.back() == ' ')) {
    return Status::InvalidArgument(field + " has leading or trailing spaces");
  }
  for (size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7f) return Status::InvalidArgument(field + " has a control character");
    const size_t n = Utf8SequenceLength(value, i);
    if (n == 0) return Status::InvalidArgument(field + " is not valid UTF-8");
    i += n;
  }
  return Status::OK();
}

Status ValidateStoredKey(const StoredKey& key) {
  const ApiKeyInfo& k = key.info;
  if (key.digest_hex.size() != 64 || !IsLowerHex(key.digest_hex)) {
    return Status::InvalidArgument("sha256 must be 64 lower-case hex digits");
  }
  if (k.key_id != KeyIdFromDigestHex(key.digest_hex)) {
    return Status::InvalidArgument("key_id must be the first 8 digits of sha256");
  }
  if (k.role == Role::kUser) {
    if (!k.name.empty()) return Status::InvalidArgument("a user key keeps no name");
    if (k.user_pseudonym.size() != kUserPseudonymPrefix.size() + kUserPseudonymChars ||
        k.user_pseudonym.compare(0, kUserPseudonymPrefix.size(), kUserPseudonymPrefix) != 0 ||
        !IsBase64Url(std::string_view(k.user_pseudonym).substr(kUserPseudonymPrefix.size()))) {
      return Status::InvalidArgument("a user key needs a u_ pseudonym");
    }
  } else {
    if (k.name.empty()) return Status::InvalidArgument("name is empty");
    if (!k.user_pseudonym.empty()) {
      return Status::InvalidArgument("only a user key has a user_pseudonym");
    }
  }
  RETURN_IF_ERROR(CheckKeyText("name", k.name, kMaxKeyNameBytes));
  RETURN_IF_ERROR(CheckKeyText("tenant", k.tenant, kMaxTenantBytes));
  RETURN_IF_ERROR(CheckKeyText("user_pseudonym", k.user_pseudonym, kMaxKeyNameBytes));
  if (k.revoked != (k.revoked_unix_micros != 0)) {
    return Status::InvalidArgument("revoked_unix_micros must be set exactly when revoked");
  }
  return Status::OK();
}

std::string EncodeKeyFile(const std::vector<StoredKey>& keys) {
  std::string out(kKeyFileHeader);
  for (const StoredKey& key : keys) out += EncodeKeyLine(key);
  return out;
}

Result<std::vector<StoredKey>> DecodeKeyFile(std::string_view contents) {
  if (contents.substr(0, kKeyFileHeader.size()) != kKeyFileHeader) {
    return Status::Corruption("line 1: not a tokenaudit API key file (version 1)");
  }
  contents.remove_prefix(kKeyFileHeader.size());
  std::vector<StoredKey> keys;
  std::set<std::string> ids;
  for (size_t line_no = 2; !contents.empty(); ++line_no) {
    const size_t nl = contents.find('\n');
    const std::string where = "line " + std::to_string(line_no) + ": ";
    if (nl == std::string_view::npos) return Status::Corruption(where + "no final newline");
    const std::string_view line = contents.substr(0, nl + 1);
    contents.remove_prefix(nl + 1);
    Result<Object> obj = LineParser(line.substr(0, nl)).ParseObject();
    if (!obj.ok()) return obj.status().WithContext(where.substr(0, where.size() - 2));
    Result<StoredKey> key = KeyFromObject(*obj);
    if (!key.ok()) return key.status().WithContext(where.substr(0, where.size() - 2));
    Status valid = ValidateStoredKey(*key);
    if (!valid.ok()) return Status::Corruption(where + std::string(valid.message()));
    if (EncodeKeyLine(*key) != line) return Status::Corruption(where + "not in canonical form");
    if (!ids.insert(key->info.key_id).second) {
      return Status::Corruption(where + "key_id " + key->info.key_id + " appears twice");
    }
    keys.push_back(std::move(*key));
  }
  return keys;
}

}  // namespace tokenaudit::auth
