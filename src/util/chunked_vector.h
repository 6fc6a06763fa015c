// An append-only array stored in fixed-size chunks: push_back never moves existing elements, so
// growing it costs no copy and no pause proportional to its size (a std::vector doubling a
// 100 MB buffer stalls its owner for ~100 ms). Random access is one shift and one mask.
// Not thread-safe.

#ifndef TOKENAUDIT_UTIL_CHUNKED_VECTOR_H_
#define TOKENAUDIT_UTIL_CHUNKED_VECTOR_H_

#include <cstddef>
#include <memory>
#include <vector>

namespace tokenaudit {

template <typename T, size_t kChunkShift = 16>
class ChunkedVector {
 public:
  static constexpr size_t kChunk = size_t{1} << kChunkShift;

  void push_back(const T& v) {
    if ((size_ & (kChunk - 1)) == 0 && (size_ >> kChunkShift) == chunks_.size()) {
      chunks_.push_back(std::make_unique<T[]>(kChunk));
    }
    chunks_[size_ >> kChunkShift][size_ & (kChunk - 1)] = v;
    ++size_;
  }
  T& operator[](size_t i) { return chunks_[i >> kChunkShift][i & (kChunk - 1)]; }
  const T& operator[](size_t i) const { return chunks_[i >> kChunkShift][i & (kChunk - 1)]; }
  const T& back() const { return (*this)[size_ - 1]; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::vector<std::unique_ptr<T[]>> chunks_;  // only this small index ever reallocates
  size_t size_ = 0;
};

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_CHUNKED_VECTOR_H_
