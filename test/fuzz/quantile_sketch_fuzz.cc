// Fuzzes QuantileSketch::Decode (src/query/quantile_sketch.h), whose input is sketch bytes read
// back from column files. Invariants, trapped when broken:
//   - a refusal is Corruption or InvalidArgument with a message;
//   - an accepted encoding is canonical: Encode() gives back exactly the input;
//   - quantiles of an accepted sketch are ordered in q and lie in [min, max], with q = 0 and
//     q = 1 giving min and max exactly;
//   - merging a sketch with a copy of itself doubles the count and keeps every quantile.
// Corpus: test/fuzz/corpus/quantile_sketch (empty, one value, zeros only, sparse, dense, huge).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/query/quantile_sketch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tokenaudit::StatusCode;
  using tokenaudit::query::QuantileSketch;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  tokenaudit::Result<QuantileSketch> s = QuantileSketch::Decode(input);
  if (!s.ok()) {
    const StatusCode code = s.status().code();
    if (code != StatusCode::kCorruption && code != StatusCode::kInvalidArgument) __builtin_trap();
    if (s.status().message().empty()) __builtin_trap();
    return 0;
  }
  if (s->Encode() != input) __builtin_trap();
  if (s->empty()) {
    if (!std::isnan(s->Quantile(0.5))) __builtin_trap();
    return 0;
  }
  const double lo = static_cast<double>(s->min()), hi = static_cast<double>(s->max());
  if (s->Quantile(0) != lo || s->Quantile(1) != hi) __builtin_trap();
  double prev = lo;
  for (int i = 0; i <= 64; ++i) {
    const double q = s->Quantile(i / 64.0);
    if (q < prev || q < lo || q > hi) __builtin_trap();
    prev = q;
  }
  QuantileSketch twice = *s;
  if (twice.Merge(*s).ok()) {
    if (twice.count() != 2 * s->count()) __builtin_trap();
    for (double q : {0.0, 0.01, 0.5, 0.95, 0.99, 1.0}) {
      if (twice.Quantile(q) != s->Quantile(q)) __builtin_trap();
    }
    if (!QuantileSketch::Decode(twice.Encode()).ok()) __builtin_trap();
  }
  return 0;
}
