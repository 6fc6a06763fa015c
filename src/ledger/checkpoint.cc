#include "src/ledger/checkpoint.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdio>
#include <vector>

#include "src/util/hex.h"

namespace tokenaudit {

std::string SignedMessage(const Checkpoint& cp) {
  std::string m = "tokenaudit-checkpoint/v1\n";
  m += cp.log_id;
  m += '\n';
  m += std::to_string(cp.tree_size);
  m += '\n';
  m += merkle::ToHex(cp.root);
  m += '\n';
  m += std::to_string(cp.time_unix_micros);
  m += '\n';
  return m;
}

Status VerifyCheckpointSignature(const Checkpoint& cp) {
  auto pub = HexDecode(cp.public_key_hex);
  auto sig = HexDecode(cp.signature_hex);
  if (!pub.ok() || pub->size() != 32) return Status::Corruption("bad checkpoint public key");
  if (!sig.ok() || sig->size() != 64) return Status::Corruption("bad checkpoint signature");
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(pub->data()), 32);
  if (key == nullptr) return Status::Corruption("bad checkpoint public key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string msg = SignedMessage(cp);
  bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), 64,
                             reinterpret_cast<const unsigned char*>(msg.data()), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) {
    return Status::Corruption("checkpoint signature does not verify (size " +
                              std::to_string(cp.tree_size) + ")");
  }
  return Status::OK();
}

namespace ledger {
namespace {

bool ParseDecimal(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return false;
    v = next;
  }
  *out = v;
  return true;
}

bool IsLowerHex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Splits on '\n'; the text must end with '\n'.
bool SplitLines(std::string_view text, std::vector<std::string_view>* lines) {
  if (text.empty() || text.back() != '\n') return false;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    lines->push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return true;
}

Status CheckFields(const Checkpoint& cp) {
  if (!IsLowerHex(cp.log_id, 32)) return Status::Corruption("checkpoint log id malformed");
  if (!IsLowerHex(cp.public_key_hex, 64)) return Status::Corruption("checkpoint key malformed");
  if (!IsLowerHex(cp.signature_hex, 128)) return Status::Corruption("checkpoint sig malformed");
  return Status::OK();
}

}  // namespace

std::string CheckpointFileName(uint64_t tree_size) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu.cp", static_cast<unsigned long long>(tree_size));
  return buf;
}

bool ParseCheckpointFileName(std::string_view name, uint64_t* tree_size) {
  if (name.size() != 23 || name.substr(20) != ".cp") return false;
  std::string_view digits = name.substr(0, 20);
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return false;
    v = next;
  }
  *tree_size = v;
  return true;
}

std::string EncodeCheckpointFile(const Checkpoint& cp) {
  return SignedMessage(cp) + "key " + cp.public_key_hex + "\nsig " + cp.signature_hex + "\n";
}

Result<Checkpoint> DecodeCheckpointFile(std::string_view text) {
  std::vector<std::string_view> lines;
  if (!SplitLines(text, &lines) || lines.size() != 7 || lines[0] != "tokenaudit-checkpoint/v1") {
    return Status::Corruption("not a tokenaudit checkpoint file");
  }
  Checkpoint cp;
  cp.log_id = std::string(lines[1]);
  auto root = merkle::HashFromHex(lines[3]);
  if (!ParseDecimal(lines[2], &cp.tree_size) || !root.ok() ||
      !ParseDecimal(lines[4], &cp.time_unix_micros) || lines[5].substr(0, 4) != "key " ||
      lines[6].substr(0, 4) != "sig ") {
    return Status::Corruption("malformed checkpoint file");
  }
  cp.root = *root;
  cp.public_key_hex = std::string(lines[5].substr(4));
  cp.signature_hex = std::string(lines[6].substr(4));
  RETURN_IF_ERROR(CheckFields(cp));
  // Byte-exact round trip: one checkpoint has exactly one encoding.
  if (EncodeCheckpointFile(cp) != text) return Status::Corruption("non-canonical checkpoint file");
  return cp;
}

std::string EncodeCheckpointRecord(const Checkpoint& cp) {
  std::string j = "{\"log_id\":\"" + cp.log_id + "\",\"public_key\":\"" + cp.public_key_hex +
                  "\",\"root\":\"" + merkle::ToHex(cp.root) + "\",\"signature\":\"" +
                  cp.signature_hex + "\",\"ta.kind\":\"checkpoint\",\"time_unix_micros\":" +
                  std::to_string(cp.time_unix_micros) +
                  ",\"tree_size\":" + std::to_string(cp.tree_size) + "}";
  return j;
}

Result<Checkpoint> DecodeCheckpointRecord(std::string_view json) {
  // The record has exactly one canonical form, so parse positionally and re-encode to compare.
  auto take = [&json](std::string_view prefix, char end, std::string_view* out) {
    if (json.substr(0, prefix.size()) != prefix) return false;
    json.remove_prefix(prefix.size());
    size_t pos = json.find(end);
    if (pos == std::string_view::npos) return false;
    *out = json.substr(0, pos);
    json.remove_prefix(pos);
    return true;
  };
  const std::string_view original = json;
  std::string_view log_id, key, root, sig, time, size;
  if (!take("{\"log_id\":\"", '"', &log_id) || !take("\",\"public_key\":\"", '"', &key) ||
      !take("\",\"root\":\"", '"', &root) || !take("\",\"signature\":\"", '"', &sig) ||
      !take("\",\"ta.kind\":\"checkpoint\",\"time_unix_micros\":", ',', &time) ||
      !take(",\"tree_size\":", '}', &size)) {
    return Status::Corruption("malformed checkpoint record");
  }
  Checkpoint cp;
  cp.log_id = std::string(log_id);
  cp.public_key_hex = std::string(key);
  cp.signature_hex = std::string(sig);
  auto r = merkle::HashFromHex(root);
  if (!r.ok() || !ParseDecimal(time, &cp.time_unix_micros) || !ParseDecimal(size, &cp.tree_size)) {
    return Status::Corruption("malformed checkpoint record");
  }
  cp.root = *r;
  RETURN_IF_ERROR(CheckFields(cp));
  if (EncodeCheckpointRecord(cp) != original) {
    return Status::Corruption("non-canonical checkpoint record");
  }
  return cp;
}

std::string EncodeRecoveryRecord(std::string_view segment, uint64_t offset, uint64_t bytes,
                                 uint64_t time_unix_micros) {
  return "{\"segment\":\"" + std::string(segment) + "\",\"ta.kind\":\"recovery\"," +
         "\"time_unix_micros\":" + std::to_string(time_unix_micros) +
         ",\"truncated_bytes\":" + std::to_string(bytes) +
         ",\"truncated_offset\":" + std::to_string(offset) + "}";
}

CheckpointSigner::CheckpointSigner(void* pkey, std::string public_key_hex)
    : pkey_(pkey), public_key_hex_(std::move(public_key_hex)) {}

CheckpointSigner::~CheckpointSigner() { EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey_)); }

Result<std::unique_ptr<CheckpointSigner>> CheckpointSigner::LoadOrCreate(Env* env,
                                                                        const std::string& path) {
  EVP_PKEY* key = nullptr;
  if (env->FileExists(path)) {
    ASSIGN_OR_RETURN(std::string pem, ReadFileToString(env, path));
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key == nullptr || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
      EVP_PKEY_free(key);
      return Status::InvalidArgument(path + ": not an Ed25519 private key in PEM (PKCS#8)");
    }
  } else {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
    bool ok = ctx != nullptr && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) return Status::Internal("Ed25519 key generation failed");
    BIO* bio = BIO_new(BIO_s_mem());
    ok = PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem = ok ? std::string(data, static_cast<size_t>(len)) : std::string();
    BIO_free(bio);
    if (!ok) {
      EVP_PKEY_free(key);
      return Status::Internal("cannot encode Ed25519 key");
    }
    RETURN_IF_ERROR(env->CreateDir(DirName(path)));
    Status s = WriteFileAtomic(env, path, pem);
    if (s.ok() && env == Env::Default()) ::chmod(path.c_str(), 0600);  // private key
    if (!s.ok()) {
      EVP_PKEY_free(key);
      return s;
    }
  }
  unsigned char pub[32];
  size_t pub_len = sizeof(pub);
  if (EVP_PKEY_get_raw_public_key(key, pub, &pub_len) != 1 || pub_len != 32) {
    EVP_PKEY_free(key);
    return Status::Internal("cannot read Ed25519 public key");
  }
  return std::unique_ptr<CheckpointSigner>(new CheckpointSigner(key, HexEncode(pub, 32)));
}

Status CheckpointSigner::Sign(Checkpoint* cp) const {
  cp->public_key_hex = public_key_hex_;
  std::string msg = SignedMessage(*cp);
  unsigned char sig[64];
  size_t sig_len = sizeof(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr &&
            EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(pkey_)) ==
                1 &&
            EVP_DigestSign(ctx, sig, &sig_len, reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || sig_len != 64) return Status::Internal("Ed25519 signing failed");
  cp->signature_hex = HexEncode(sig, 64);
  return Status::OK();
}

}  // namespace ledger
}  // namespace tokenaudit
