#include "src/query/time_zone_tzif.h"

#include <cstring>

namespace tokenaudit::query {
namespace {

constexpr size_t kHeaderSize = 44;
constexpr int64_t kMinTransition = -(int64_t{1} << 59);  // RFC 8536 3.2: "at least -2^59"
constexpr int32_t kMinUtcOffset = -89999;                 // RFC 8536 3.2: -25 h < utoff < 26 h
constexpr int32_t kMaxUtcOffset = 93599;

struct Header {
  char version;
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;

  uint64_t DataSize(size_t time_size) const {
    return uint64_t{timecnt} * time_size + timecnt + uint64_t{typecnt} * 6 + charcnt +
           uint64_t{leapcnt} * (time_size + 4) + isstdcnt + isutcnt;
  }
};

uint32_t Be32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

int64_t Be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return static_cast<int64_t>(v);
}

Status Corrupt(std::string_view what) { return Status::Corruption("TZif: " + std::string(what)); }

Status ReadHeader(std::string_view in, Header* h) {
  if (in.size() < kHeaderSize) return Corrupt("truncated header");
  if (std::memcmp(in.data(), "TZif", 4) != 0) return Corrupt("bad magic (not a TZif file)");
  h->version = in[4];
  if (h->version != 0 && h->version != '2' && h->version != '3' && h->version != '4') {
    return Corrupt("unknown version");
  }
  for (int i = 5; i < 20; ++i) {
    if (in[i] != 0) return Corrupt("reserved header bytes not zero");
  }
  const char* p = in.data() + 20;
  h->isutcnt = Be32(p);
  h->isstdcnt = Be32(p + 4);
  h->leapcnt = Be32(p + 8);
  h->timecnt = Be32(p + 12);
  h->typecnt = Be32(p + 16);
  h->charcnt = Be32(p + 20);
  return Status::OK();
}

// Reads and checks one data block (`time_size` 4 for v1, 8 for v2+) into *out.
Status ReadBlock(std::string_view block, const Header& h, size_t time_size, TzifData* out) {
  if (h.typecnt == 0) return Corrupt("typecnt is zero");
  if (h.typecnt > 256) return Corrupt("more than 256 local time types");
  if (h.charcnt == 0) return Corrupt("charcnt is zero");
  if (h.isutcnt != 0 && h.isutcnt != h.typecnt) return Corrupt("isutcnt is neither 0 nor typecnt");
  if (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) {
    return Corrupt("isstdcnt is neither 0 nor typecnt");
  }
  if (h.leapcnt != 0) {
    return Status::InvalidArgument("TZif: leap-second zones (\"right/...\") are not supported");
  }
  const char* p = block.data();
  out->transition_times.resize(h.timecnt);
  for (uint32_t i = 0; i < h.timecnt; ++i, p += time_size) {
    const int64_t t = time_size == 4 ? static_cast<int32_t>(Be32(p)) : Be64(p);
    if (t < kMinTransition) return Corrupt("transition time before -2^59");
    if (i > 0 && t <= out->transition_times[i - 1]) {
      return Corrupt("transition times not strictly ascending");
    }
    out->transition_times[i] = t;
  }
  out->transition_types.resize(h.timecnt);
  for (uint32_t i = 0; i < h.timecnt; ++i, ++p) {
    const uint8_t type = static_cast<uint8_t>(*p);
    if (type >= h.typecnt) return Corrupt("transition type index out of range");
    out->transition_types[i] = type;
  }
  const char* types = p;
  const char* chars = types + size_t{h.typecnt} * 6;
  const char* isstd = chars + h.charcnt;  // no leap records (refused above)
  const char* isut = isstd + h.isstdcnt;
  out->types.resize(h.typecnt);
  for (uint32_t i = 0; i < h.typecnt; ++i) {
    const char* t = types + size_t{i} * 6;
    const int32_t utoff = static_cast<int32_t>(Be32(t));
    const uint8_t isdst = static_cast<uint8_t>(t[4]);
    const uint8_t idx = static_cast<uint8_t>(t[5]);
    if (utoff < kMinUtcOffset || utoff > kMaxUtcOffset) return Corrupt("UTC offset out of range");
    if (isdst > 1) return Corrupt("isdst not 0 or 1");
    if (idx >= h.charcnt) return Corrupt("designation index out of range");
    const void* nul = std::memchr(chars + idx, '\0', h.charcnt - idx);
    if (nul == nullptr) return Corrupt("designation not NUL-terminated");
    out->types[i] = {utoff, isdst == 1,
                     std::string(chars + idx, static_cast<const char*>(nul) - (chars + idx))};
    const uint8_t std_flag = h.isstdcnt ? static_cast<uint8_t>(isstd[i]) : 0;
    const uint8_t ut_flag = h.isutcnt ? static_cast<uint8_t>(isut[i]) : 0;
    if (std_flag > 1 || ut_flag > 1) return Corrupt("isstd/isut indicator not 0 or 1");
    if (ut_flag == 1 && std_flag != 1) return Corrupt("isut set without isstd");
  }
  return Status::OK();
}

}  // namespace

Result<TzifData> ParseTzif(std::string_view file) {
  Header v1;
  RETURN_IF_ERROR(ReadHeader(file, &v1));
  const uint64_t v1_size = v1.DataSize(4);
  if (v1_size > file.size() - kHeaderSize) return Corrupt("truncated version 1 data");
  TzifData out;
  if (v1.version == 0) {
    RETURN_IF_ERROR(ReadBlock(file.substr(kHeaderSize, v1_size), v1, 4, &out));
    if (file.size() != kHeaderSize + v1_size) return Corrupt("trailing bytes after version 1 data");
    out.version = 1;
    return out;
  }
  std::string_view rest = file.substr(kHeaderSize + v1_size);
  Header v2;
  RETURN_IF_ERROR(ReadHeader(rest, &v2).WithContext("second header"));
  if (v2.version != v1.version) return Corrupt("second header has another version");
  const uint64_t v2_size = v2.DataSize(8);
  if (v2_size > rest.size() - kHeaderSize) return Corrupt("truncated version 2+ data");
  RETURN_IF_ERROR(ReadBlock(rest.substr(kHeaderSize, v2_size), v2, 8, &out));
  out.version = v1.version - '0';

  std::string_view footer = rest.substr(kHeaderSize + v2_size);
  if (footer.empty() || footer.front() != '\n') return Corrupt("missing footer");
  footer.remove_prefix(1);
  const size_t nl = footer.find('\n');
  if (nl == std::string_view::npos) return Corrupt("unterminated footer");
  if (nl + 1 != footer.size()) return Corrupt("trailing bytes after footer");
  footer = footer.substr(0, nl);
  if (footer.empty()) return out;
  Result<PosixTzRule> rule = ParsePosixTz(footer);
  if (!rule.ok()) return Status::Corruption("TZif footer: " + std::string(rule.status().message()));
  if (!out.transition_times.empty()) {
    // RFC 8536 3.3: the rule must agree with the last transition's local time type.
    const int32_t expected = out.types[out.transition_types.back()].utc_offset;
    if (PosixSpanAt(*rule, out.transition_times.back()).utc_offset != expected) {
      return Corrupt("footer disagrees with the last transition");
    }
  }
  out.footer = std::move(*rule);
  return out;
}

}  // namespace tokenaudit::query
