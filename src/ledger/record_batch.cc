#include "tokenaudit/record_batch.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "src/log/log_format.h"
#include "src/util/coding.h"
#include "src/util/crc32c.h"
#include "src/util/sha256.h"

namespace tokenaudit {

static_assert(RecordBatch::kFrameHeaderBytes == log::kFrameHeaderSize);

void RecordBatch::Reserve(size_t records, size_t bytes) {
  offsets_.reserve(records);
  leaves_.reserve(records);
  const size_t need = bytes + records * kFrameHeaderBytes;
  if (need > capacity_) Grow(need);
}

void RecordBatch::Grow(size_t need) {
  // Doubling keeps a batch's copies amortised O(1) per byte; the buffer is never shrunk.
  const size_t capacity = std::max(need, std::max<size_t>(capacity_ * 2, 64 * 1024));
  std::unique_ptr<char[]> bigger(new char[capacity]);
  if (used_ > 0) std::memcpy(bigger.get(), buf_.get(), used_);
  buf_ = std::move(bigger);
  capacity_ = capacity;
}

char* RecordBatch::Begin(size_t max_size) {
  const size_t need = used_ + kFrameHeaderBytes + max_size;
  if (need > capacity_) Grow(need);
  return buf_.get() + used_ + kFrameHeaderBytes;
}

void RecordBatch::Commit(size_t size) {
  EncodeFixed32(buf_.get() + used_ + 4, static_cast<uint32_t>(size));
  offsets_.push_back(used_);
  used_ += kFrameHeaderBytes + size;
  if (waiting_) {
    HashPair(offsets_.size() - 2, offsets_.size() - 1);
    waiting_ = false;
  } else {
    waiting_ = true;
  }
}

// The leaf hash is SHA-256(0x00 || payload) (merkle::HashLeaf), hashed in place: the prefix
// byte goes just before the payload, where the data CRC then overwrites it (CompleteFrame).
std::string_view RecordBatch::PrefixedPayload(size_t i) {
  char* frame = buf_.get() + offsets_[i];
  frame[kFrameHeaderBytes - 1] = 0x00;
  return std::string_view(frame + kFrameHeaderBytes - 1, DecodeFixed32(frame + 4) + 1);
}

void RecordBatch::CompleteFrame(size_t i) {
  char* frame = buf_.get() + offsets_[i];
  EncodeFixed32(frame + 20, crc32c::Mask(crc32c::Value(frame + kFrameHeaderBytes,
                                                       DecodeFixed32(frame + 4))));
}

void RecordBatch::Hash(size_t i) {
  static_assert(std::is_same_v<Sha256Digest, merkle::Hash>);
  leaves_.push_back(Sha256Of(PrefixedPayload(i)));
  CompleteFrame(i);
}

void RecordBatch::HashPair(size_t i, size_t j) {
  leaves_.emplace_back();
  leaves_.emplace_back();
  Sha256Of2(PrefixedPayload(i), PrefixedPayload(j), &leaves_[leaves_.size() - 2],
            &leaves_.back());
  CompleteFrame(i);
  CompleteFrame(j);
}

void RecordBatch::Add(std::string_view record) {
  char* p = Begin(record.size());
  if (!record.empty()) std::memcpy(p, record.data(), record.size());
  Commit(record.size());
}

size_t RecordBatch::frame_size(size_t i) const {
  return kFrameHeaderBytes + DecodeFixed32(buf_.get() + offsets_[i] + 4);
}

std::string_view RecordBatch::record(size_t i) const {
  const char* frame = buf_.get() + offsets_[i];
  return std::string_view(frame + kFrameHeaderBytes, DecodeFixed32(frame + 4));
}

void RecordBatch::Append(RecordBatch&& other) {
  if (other.offsets_.empty()) return;
  HashLast();
  other.HashLast();
  if (offsets_.empty() && other.used_ > capacity_) {  // nothing to keep, no room: take its buffer
    *this = std::move(other);
    other = RecordBatch();
    return;
  }
  if (used_ + other.used_ > capacity_) Grow(used_ + other.used_);
  std::memcpy(buf_.get() + used_, other.buf_.get(), other.used_);
  offsets_.reserve(offsets_.size() + other.offsets_.size());
  for (size_t off : other.offsets_) offsets_.push_back(used_ + off);
  leaves_.insert(leaves_.end(), other.leaves_.begin(), other.leaves_.end());
  used_ += other.used_;
  other = RecordBatch();
}

void RecordBatch::Retain(std::span<const uint32_t> keep) {
  HashLast();
  size_t out = 0;
  for (size_t k = 0; k < keep.size(); ++k) {
    const size_t i = keep[k];
    const size_t n = frame_size(i);
    if (offsets_[i] != out) std::memmove(buf_.get() + out, buf_.get() + offsets_[i], n);
    offsets_[k] = out;
    leaves_[k] = leaves_[i];
    out += n;
  }
  offsets_.resize(keep.size());
  leaves_.resize(keep.size());
  used_ = out;
}

}  // namespace tokenaudit
