// On-disk constants of the QuantileSketch encoding; doc/query_sketch.md describes it byte by byte.

#ifndef TOKENAUDIT_QUERY_QUANTILE_SKETCH_FORMAT_H_
#define TOKENAUDIT_QUERY_QUANTILE_SKETCH_FORMAT_H_

#include <cstdint>

namespace tokenaudit::query {

// First byte of every encoding. A new layout gets a new version; Decode rejects unknown ones.
inline constexpr uint8_t kQuantileSketchFormatVersion = 1;

// The bucket boundaries are part of the format: bucket i of accuracy a = ppm / 10^6 is the
// integer range [lo_i, hi_i] with lo_0 = 1, lo_{i+1} = hi_i + 1 and
//   hi_i = min(2^64 - 1, floor(lo_i * B / A)),
//   A = 10^6 * 2^20 - ppm * (2^20 - 1),  B = 10^6 * 2^20 + ppm * (2^20 - 1),
// i.e. the largest hi with (hi - lo) / (hi + lo) <= a * (1 - 2^-20). The 2^-20 margin absorbs the
// rounding of the representative to a double.
inline constexpr uint64_t kQuantileSketchMarginDenominator = uint64_t{1} << 20;

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_QUANTILE_SKETCH_FORMAT_H_
