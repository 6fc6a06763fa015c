#include "src/ingest/enricher.h"

#include <gtest/gtest.h>

#include <string>

namespace tokenaudit::ingest {
namespace {

// Expected values from Python: hashlib.sha256((user + "_" + hash + "_" + repr(t)).encode())
// .hexdigest()[:16].
TEST(RequestIdTest, MatchesPythonsDefinition) {
  EXPECT_EQ(ComputeRequestId("alice", "abc123", 1764496800000000), "751d0cc49f0c0245");
  EXPECT_EQ(ComputeRequestId("alice", "sha256:abc123", 1764496800480000), "f47d410cd1886a90");
  EXPECT_EQ(ComputeRequestId("bob", std::string(64, 'f'), 1764496800123456), "5784c05567babaf9");
  // Longer than the one-buffer fast path.
  EXPECT_EQ(ComputeRequestId(std::string(600, 'x'), "deadbeef", 1500000), "129c62ed1687beb2");
}

TEST(RequestIdTest, StartTimeIsPrintedLikePythonsRepr) {
  EXPECT_EQ(PythonFloatRepr(1764496800000000), "1764496800.0");
  EXPECT_EQ(PythonFloatRepr(1764496800480000), "1764496800.48");
  EXPECT_EQ(PythonFloatRepr(1764496800123456), "1764496800.123456");
  EXPECT_EQ(PythonFloatRepr(1500000), "1.5");
  EXPECT_EQ(PythonFloatRepr(0), "0.0");
}

}  // namespace
}  // namespace tokenaudit::ingest
