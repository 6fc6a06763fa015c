#include "src/query/quantile_sketch.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>

#include "src/query/quantile_sketch_format.h"

namespace tokenaudit::query {

// The buckets of one accuracy: hi[i] is the largest value of bucket i (its smallest is
// hi[i - 1] + 1, or 1), rep[i] the value Quantile() reports for it, and first[e] the first
// bucket whose hi is >= 2^e, so a value's bucket is found by a short binary search between
// first[e] and first[e + 1] (about 35 buckets per power of two at a = 0.01).
namespace internal {
struct SketchBucketTable {
  std::vector<uint64_t> hi;
  std::vector<double> rep;
  uint32_t first[65] = {};
  // The bucket of every value below kSmall (durations in ms mostly are): one load, no search.
  static constexpr uint64_t kSmall = 1 << 16;
  std::vector<uint16_t> small;

  uint64_t Lo(uint32_t i) const { return i == 0 ? 1 : hi[i - 1] + 1; }
  uint32_t size() const { return static_cast<uint32_t>(hi.size()); }

  uint32_t IndexOf(uint64_t v) const {  // v >= 1
    if (v < kSmall) return small[v];
    return Search(v);
  }
  uint32_t Search(uint64_t v) const {
    const int e = 63 - std::countl_zero(v);
    const auto begin = hi.begin() + first[e];
    const auto end = hi.begin() + std::min<uint32_t>(first[e + 1] + 1, size());
    return static_cast<uint32_t>(std::lower_bound(begin, end, v) - hi.begin());
  }
};
}  // namespace internal

namespace {

using BucketTable = internal::SketchBucketTable;

int AccuracySlot(uint32_t ppm) {
  for (size_t i = 0; i < std::size(QuantileSketch::kSupportedAccuracyPpm); ++i) {
    if (QuantileSketch::kSupportedAccuracyPpm[i] == ppm) return static_cast<int>(i);
  }
  return -1;
}

// Integer arithmetic only, so every platform builds the same buckets (they are part of the
// encoding); see quantile_sketch_format.h for the rule.
BucketTable* BuildTable(uint32_t ppm) {
  auto* t = new BucketTable;
  const unsigned __int128 k = kQuantileSketchMarginDenominator;
  const unsigned __int128 a = 1000000 * k - ppm * (k - 1);
  const unsigned __int128 b = 1000000 * k + ppm * (k - 1);
  uint64_t lo = 1;
  while (true) {
    const unsigned __int128 h = static_cast<unsigned __int128>(lo) * b / a;
    const uint64_t hi = h >= UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(h);
    t->hi.push_back(hi);
    if (lo == hi) {
      t->rep.push_back(static_cast<double>(lo));
    } else {
      // 2*lo*hi / (lo + hi): the point whose relative distance to lo and to hi is the same.
      const long double l = static_cast<long double>(lo), r = static_cast<long double>(hi);
      t->rep.push_back(static_cast<double>(2.0L * l * r / (l + r)));
    }
    if (hi == UINT64_MAX) break;
    lo = hi + 1;
  }
  uint32_t i = 0;
  for (int e = 0; e <= 64; ++e) {
    if (e == 64) {
      t->first[e] = t->size() - 1;
      break;
    }
    while (t->hi[i] < (uint64_t{1} << e)) ++i;
    t->first[e] = i;
  }
  t->small.resize(BucketTable::kSmall);
  for (uint64_t v = 1; v < BucketTable::kSmall; ++v) {
    t->small[v] = static_cast<uint16_t>(t->Search(v));
  }
  return t;
}

const BucketTable* TableFor(uint32_t ppm) {
  constexpr size_t kSlots = std::size(QuantileSketch::kSupportedAccuracyPpm);
  static std::once_flag once[kSlots];
  static const BucketTable* tables[kSlots];  // never deleted
  const int slot = AccuracySlot(ppm);
  if (slot < 0) return nullptr;
  std::call_once(once[slot], [slot, ppm] { tables[slot] = BuildTable(ppm); });
  return tables[slot];
}

uint64_t SaturatingAdd(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

uint64_t SaturatingMul(uint64_t a, uint64_t b) {
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return p > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(p);
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Reads a minimal (canonical) LEB128 varint of at most 10 bytes.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  Status Varint(const char* what, uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0, i = 0; i < 10; ++i, shift += 7) {
      if (pos_ >= data_.size()) return Status::Corruption(std::string("truncated ") + what);
      const uint8_t byte = static_cast<uint8_t>(data_[pos_++]);
      if (i == 9 && byte > 1) return Status::Corruption(std::string("varint overflow in ") + what);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        if (byte == 0 && i > 0) return Status::Corruption(std::string("overlong varint in ") + what);
        *v = result;
        return Status::OK();
      }
    }
    return Status::Corruption(std::string("varint too long in ") + what);
  }

  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

constexpr size_t kMaxSparseEntries = 32;

}  // namespace

QuantileSketch::QuantileSketch() : QuantileSketch(kDefaultAccuracyPpm, TableFor(kDefaultAccuracyPpm)) {}

QuantileSketch::QuantileSketch(uint32_t accuracy_ppm, const BucketTable* table)
    : accuracy_ppm_(accuracy_ppm), table_(table) {}

Result<QuantileSketch> QuantileSketch::WithAccuracy(uint32_t accuracy_ppm) {
  const BucketTable* table = TableFor(accuracy_ppm);
  if (table == nullptr) {
    return Status::InvalidArgument("unsupported sketch accuracy " + std::to_string(accuracy_ppm) +
                                   " ppm");
  }
  return QuantileSketch(accuracy_ppm, table);
}

void QuantileSketch::Add(uint64_t value) {
  if (count_ == UINT64_MAX) return;  // documented precondition
  // Add(value, 1) without the multiplication and the status.
  if (count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  ++count_;
  sum_ = SaturatingAdd(sum_, value);
  if (value == 0) {
    ++zero_count_;
  } else {
    AddToBucket(table_->IndexOf(value), 1);
  }
}

Status QuantileSketch::Add(uint64_t value, uint64_t n) {
  if (n == 0) return Status::OK();
  if (n > UINT64_MAX - count_) return Status::ResourceExhausted("sketch count would overflow");
  if (count_ == 0) {
    min_ = max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  count_ += n;
  sum_ = SaturatingAdd(sum_, SaturatingMul(value, n));
  if (value == 0) {
    zero_count_ += n;
  } else {
    AddToBucket(table_->IndexOf(value), n);
  }
  return Status::OK();
}

void QuantileSketch::AddToBucket(uint32_t index, uint64_t n) {
  if (!dense_.empty()) {
    EnsureDenseRange(index, index);
    dense_[index - dense_base_] += n;
    return;
  }
  auto it = std::lower_bound(sparse_.begin(), sparse_.end(), index,
                             [](const SparseEntry& e, uint32_t i) { return e.index < i; });
  if (it != sparse_.end() && it->index == index) {
    it->count += n;
    return;
  }
  sparse_.insert(it, SparseEntry{index, n});
  const size_t range = sparse_.back().index - sparse_.front().index + 1;
  // Dense costs 8 bytes per index in the range, sparse 16 per entry.
  if (sparse_.size() > kMaxSparseEntries || (sparse_.size() >= 4 && range <= 2 * sparse_.size())) {
    ConvertToDense();
  }
}

void QuantileSketch::ConvertToDense() {
  if (sparse_.empty()) return;
  dense_base_ = sparse_.front().index;
  dense_.assign(sparse_.back().index - dense_base_ + 1, 0);
  for (const SparseEntry& e : sparse_) dense_[e.index - dense_base_] = e.count;
  std::vector<SparseEntry>().swap(sparse_);
}

void QuantileSketch::EnsureDenseRange(uint32_t lo, uint32_t hi) {
  const uint32_t cur_hi = dense_base_ + static_cast<uint32_t>(dense_.size()) - 1;
  if (lo < dense_base_) {
    dense_.insert(dense_.begin(), dense_base_ - lo, 0);
    dense_base_ = lo;
  }
  if (hi > cur_hi) dense_.resize(hi - dense_base_ + 1, 0);
}

template <typename Fn>
void QuantileSketch::ForEachBucket(Fn&& fn) const {
  if (dense_.empty()) {
    for (const SparseEntry& e : sparse_) fn(e.index, e.count);
    return;
  }
  for (size_t i = 0; i < dense_.size(); ++i) {
    if (dense_[i] != 0) fn(static_cast<uint32_t>(dense_base_ + i), dense_[i]);
  }
}

size_t QuantileSketch::NonEmptyBuckets() const {
  if (dense_.empty()) return sparse_.size();
  return static_cast<size_t>(
      std::count_if(dense_.begin(), dense_.end(), [](uint64_t c) { return c != 0; }));
}

Status QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.accuracy_ppm_ != accuracy_ppm_) {
    return Status::InvalidArgument("cannot merge sketches of different accuracy");
  }
  if (other.count_ == 0) return Status::OK();
  if (other.count_ > UINT64_MAX - count_) {
    return Status::ResourceExhausted("sketch count would overflow");
  }
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other.count_;
  zero_count_ += other.zero_count_;
  sum_ = SaturatingAdd(sum_, other.sum_);
  if (&other == this) {  // self-merge: double every count
    for (SparseEntry& e : sparse_) e.count *= 2;
    for (uint64_t& c : dense_) c *= 2;
    return Status::OK();
  }
  if (!dense_.empty() && !(other.dense_.empty() && other.sparse_.empty())) {
    uint32_t lo = UINT32_MAX, hi = 0;
    other.ForEachBucket([&](uint32_t i, uint64_t) {
      lo = std::min(lo, i);
      hi = std::max(hi, i);
    });
    EnsureDenseRange(lo, hi);
  }
  other.ForEachBucket([this](uint32_t i, uint64_t c) { AddToBucket(i, c); });
  return Status::OK();
}

uint64_t QuantileSketch::NearestRank(double q, uint64_t n) {
  if (!(q > 0)) return 1;  // also NaN
  if (q >= 1) return n;
  // q * n in double precision, as the header documents: decimal quantiles then land on the rank
  // people expect (0.1 * 10 == 1, 0.95 * 100 == 95), where a wider type would see 0.1's binary
  // excess and round up.
  const double rank = std::ceil(q * static_cast<double>(n));
  if (rank < 1) return 1;
  if (rank >= static_cast<double>(n)) return n;
  return static_cast<uint64_t>(rank);
}

double QuantileSketch::Quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  const uint64_t rank = NearestRank(q, count_);
  if (rank == 1) return static_cast<double>(min_);
  if (rank == count_) return static_cast<double>(max_);
  if (rank <= zero_count_) return 0;
  uint64_t seen = zero_count_;
  double result = static_cast<double>(max_);
  bool found = false;
  ForEachBucket([&](uint32_t i, uint64_t c) {
    if (found) return;
    seen += c;
    if (seen >= rank) {
      result = table_->rep[i];
      found = true;
    }
  });
  return std::clamp(result, static_cast<double>(min_), static_cast<double>(max_));
}

double QuantileSketch::Mean() const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(sum_) / static_cast<double>(count_);
}

size_t QuantileSketch::ApproximateMemoryUsage() const {
  return sizeof(*this) + sparse_.capacity() * sizeof(SparseEntry) +
         dense_.capacity() * sizeof(uint64_t);
}

void QuantileSketch::EncodeTo(std::string* out) const {
  out->push_back(static_cast<char>(kQuantileSketchFormatVersion));
  PutVarint(out, accuracy_ppm_);
  PutVarint(out, count_);
  if (count_ == 0) return;
  PutVarint(out, zero_count_);
  PutVarint(out, min_);
  PutVarint(out, max_ - min_);
  PutVarint(out, sum_);
  PutVarint(out, NonEmptyBuckets());
  bool first = true;
  uint32_t prev = 0;
  ForEachBucket([&](uint32_t i, uint64_t c) {
    PutVarint(out, first ? i : i - prev - 1);
    PutVarint(out, c);
    first = false;
    prev = i;
  });
}

std::string QuantileSketch::Encode() const {
  std::string out;
  EncodeTo(&out);
  return out;
}

Result<QuantileSketch> QuantileSketch::Decode(std::string_view data) {
  if (data.empty()) return Status::Corruption("empty sketch encoding");
  if (static_cast<uint8_t>(data[0]) != kQuantileSketchFormatVersion) {
    return Status::InvalidArgument("unknown sketch format version " +
                                   std::to_string(static_cast<uint8_t>(data[0])));
  }
  Reader in(data.substr(1));
  uint64_t ppm = 0, count = 0;
  RETURN_IF_ERROR(in.Varint("accuracy", &ppm));
  const BucketTable* table = ppm <= UINT32_MAX ? TableFor(static_cast<uint32_t>(ppm)) : nullptr;
  if (table == nullptr) {
    return Status::InvalidArgument("unsupported sketch accuracy " + std::to_string(ppm) + " ppm");
  }
  QuantileSketch s(static_cast<uint32_t>(ppm), table);
  RETURN_IF_ERROR(in.Varint("count", &count));
  if (count == 0) {
    if (!in.AtEnd()) return Status::Corruption("trailing bytes after empty sketch");
    return s;
  }
  uint64_t zeros = 0, min = 0, span = 0, sum = 0, buckets = 0;
  RETURN_IF_ERROR(in.Varint("zero count", &zeros));
  RETURN_IF_ERROR(in.Varint("min", &min));
  RETURN_IF_ERROR(in.Varint("max", &span));
  RETURN_IF_ERROR(in.Varint("sum", &sum));
  RETURN_IF_ERROR(in.Varint("bucket count", &buckets));
  if (zeros > count) return Status::Corruption("zero count exceeds count");
  if (span > UINT64_MAX - min) return Status::Corruption("max overflows");
  if (buckets > table->size()) return Status::Corruption("more buckets than the accuracy has");
  const uint64_t max = min + span;
  if (count == 1 && span != 0) return Status::Corruption("one value with min != max");

  uint64_t total = zeros, sum_lo = 0, sum_hi = 0;
  uint64_t index = 0, first_index = 0;
  for (uint64_t b = 0; b < buckets; ++b) {
    uint64_t delta = 0, c = 0;
    RETURN_IF_ERROR(in.Varint("bucket index", &delta));
    RETURN_IF_ERROR(in.Varint("bucket count", &c));
    if (b == 0) {
      index = first_index = delta;
    } else {
      if (delta >= table->size()) return Status::Corruption("bucket index out of range");
      index += delta + 1;
    }
    if (index >= table->size()) return Status::Corruption("bucket index out of range");
    if (c == 0) return Status::Corruption("empty bucket encoded");
    if (c > UINT64_MAX - total) return Status::Corruption("bucket counts overflow");
    total += c;
    const uint32_t i = static_cast<uint32_t>(index);
    sum_lo = SaturatingAdd(sum_lo, SaturatingMul(table->Lo(i), c));
    sum_hi = SaturatingAdd(sum_hi, SaturatingMul(table->hi[i], c));
    s.AddToBucket(i, c);
  }
  if (!in.AtEnd()) return Status::Corruption("trailing bytes after sketch");
  if (total != count) return Status::Corruption("bucket counts do not add up to the count");
  if (zeros > 0 ? min != 0 : (min < table->Lo(static_cast<uint32_t>(first_index)) ||
                              min > table->hi[first_index])) {
    return Status::Corruption("min outside its bucket");
  }
  if (buckets == 0 ? max != 0
                   : (max < table->Lo(static_cast<uint32_t>(index)) || max > table->hi[index])) {
    return Status::Corruption("max outside its bucket");
  }
  if (sum < sum_lo || sum > sum_hi) return Status::Corruption("sum outside the buckets' range");
  s.count_ = count;
  s.zero_count_ = zeros;
  s.min_ = min;
  s.max_ = max;
  s.sum_ = sum;
  return s;
}

bool operator==(const QuantileSketch& a, const QuantileSketch& b) {
  if (a.accuracy_ppm_ != b.accuracy_ppm_ || a.count_ != b.count_ ||
      a.zero_count_ != b.zero_count_ || a.min() != b.min() || a.max_ != b.max_ ||
      a.sum_ != b.sum_) {
    return false;
  }
  std::vector<std::pair<uint32_t, uint64_t>> ba, bb;
  a.ForEachBucket([&](uint32_t i, uint64_t c) { ba.emplace_back(i, c); });
  b.ForEachBucket([&](uint32_t i, uint64_t c) { bb.emplace_back(i, c); });
  return ba == bb;
}

}  // namespace tokenaudit::query
