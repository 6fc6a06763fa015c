// RecordBatch: records for Ledger::AppendAsync packed in one buffer, in the layout the log writes
// them (each record behind room for its frame header, doc/log_format.md).
//
// The producer writes each record in place (Begin, then Commit with its size), so a batch costs
// no allocation per record; Commit also computes the payload CRC and Merkle leaf hash of records
// while their bytes are still in cache, two records at a time (SHA-256 of two messages side by
// side is faster than one after the other: src/util/sha256.h), so the last record committed
// may wait for the next Commit, or for leaves(), which completes every record. The ledger's
// writer completes each frame header in place (seq, type, header CRC) and writes the buffer as
// it is, with no second copy.
//
// Not thread-safe. Movable, not copyable. Pointers returned by Begin() and views returned by
// record() are invalidated by the next Begin(), Add() or Retain().

#ifndef TOKENAUDIT_RECORD_BATCH_H_
#define TOKENAUDIT_RECORD_BATCH_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenaudit/merkle.h"

namespace tokenaudit {

class RecordBatch {
 public:
  // Bytes in front of every record: the log frame header (log::kFrameHeaderSize).
  static constexpr size_t kFrameHeaderBytes = 24;

  RecordBatch() = default;
  // A moved-from batch is empty and can be reused.
  RecordBatch(RecordBatch&& other) noexcept { *this = std::move(other); }
  RecordBatch& operator=(RecordBatch&& other) noexcept {
    buf_ = std::move(other.buf_);
    capacity_ = std::exchange(other.capacity_, 0);
    used_ = std::exchange(other.used_, 0);
    offsets_ = std::exchange(other.offsets_, {});
    leaves_ = std::exchange(other.leaves_, {});
    waiting_ = std::exchange(other.waiting_, false);
    return *this;
  }
  RecordBatch(const RecordBatch&) = delete;
  RecordBatch& operator=(const RecordBatch&) = delete;

  // Room for `records` records of `bytes` payload bytes in all, to avoid regrowing.
  void Reserve(size_t records, size_t bytes);

  // Room for the next record, at most `max_size` bytes; write it there and Commit() its size.
  // A record begun and not committed is dropped by the next Begin() or Add().
  char* Begin(size_t max_size);
  // Ends the record begun last with its first `size` bytes (size <= the max_size given).
  void Commit(size_t size);
  // Begin + copy + Commit.
  void Add(std::string_view record);

  size_t size() const { return offsets_.size(); }
  bool empty() const { return offsets_.empty(); }
  // Record i's bytes (its payload, without the frame header).
  std::string_view record(size_t i) const;
  // Frames (header + payload) of all records, in order: what the log writes.
  uint64_t frame_bytes() const { return used_; }

  // Moves other's records behind this batch's, in their order (one copy of their frames).
  void Append(RecordBatch&& other);

  // Keeps only the records whose indices are in `keep` (strictly increasing), in that order.
  void Retain(std::span<const uint32_t> keep);

  // For the ledger. Record i's frame: kFrameHeaderBytes of header (length and payload CRC filled
  // in by Commit or leaves(); seq, type and header CRC left for the writer), then the payload.
  char* mutable_frame(size_t i) {
    HashLast();
    return buf_.get() + offsets_[i];
  }
  size_t frame_offset(size_t i) const { return offsets_[i]; }
  size_t frame_size(size_t i) const;
  // Every frame; the last one's payload CRC is filled in only once leaves() or mutable_frame()
  // has been called since the last Commit.
  const char* data() const { return buf_.get(); }
  // Merkle leaf hash of each record (completes the frames of records not hashed yet).
  std::vector<merkle::Hash>& leaves() {
    HashLast();
    return leaves_;
  }

 private:
  void Grow(size_t need);
  // Fills in the payload CRC of record i and appends its leaf hash; HashPair for two records
  // at once (i < j, in order).
  void Hash(size_t i);
  void HashPair(size_t i, size_t j);
  // Record i's payload behind the 0x00 byte of a Merkle leaf, written into its header; then its
  // payload CRC written there (the frame as Commit leaves it for the writer).
  std::string_view PrefixedPayload(size_t i);
  void CompleteFrame(size_t i);
  // Hashes the record left waiting for a partner, if any.
  void HashLast() {
    if (waiting_ && !offsets_.empty()) Hash(offsets_.size() - 1);
    waiting_ = false;
  }

  std::unique_ptr<char[]> buf_;  // uninitialised beyond used_
  size_t capacity_ = 0;
  size_t used_ = 0;               // bytes of committed frames
  std::vector<size_t> offsets_;  // start of each record's frame in buf_
  std::vector<merkle::Hash> leaves_;  // of every record but the waiting one
  bool waiting_ = false;  // the last record's CRC and leaf hash wait for the next Commit
};

}  // namespace tokenaudit

#endif  // TOKENAUDIT_RECORD_BATCH_H_
