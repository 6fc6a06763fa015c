#include "src/ledger/checkpoint.h"

#include <gtest/gtest.h>

namespace tokenaudit::ledger {
namespace {

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = NewMemEnv();
    auto signer = CheckpointSigner::LoadOrCreate(mem_.get(), "/keys/k.pem");
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = std::move(*signer);
    cp_.log_id = std::string(32, 'a');
    cp_.tree_size = 12345;
    cp_.root = merkle::HashLeaf("root");
    cp_.time_unix_micros = 1764496800123456;
    ASSERT_TRUE(signer_->Sign(&cp_).ok());
  }

  std::unique_ptr<Env> mem_;
  std::unique_ptr<CheckpointSigner> signer_;
  Checkpoint cp_;
};

TEST_F(CheckpointTest, SignatureVerifiesAndTamperingBreaksIt) {
  EXPECT_TRUE(VerifyCheckpointSignature(cp_).ok());
  Checkpoint bad = cp_;
  bad.tree_size++;
  EXPECT_EQ(VerifyCheckpointSignature(bad).code(), StatusCode::kCorruption);
  bad = cp_;
  bad.root[31] ^= 1;
  EXPECT_EQ(VerifyCheckpointSignature(bad).code(), StatusCode::kCorruption);
  bad = cp_;
  bad.time_unix_micros++;
  EXPECT_EQ(VerifyCheckpointSignature(bad).code(), StatusCode::kCorruption);
  bad = cp_;
  bad.signature_hex[5] = bad.signature_hex[5] == '0' ? '1' : '0';
  EXPECT_EQ(VerifyCheckpointSignature(bad).code(), StatusCode::kCorruption);
}

TEST_F(CheckpointTest, KeyIsPersistedAndReloaded) {
  auto again = CheckpointSigner::LoadOrCreate(mem_.get(), "/keys/k.pem");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->public_key_hex(), signer_->public_key_hex());
  auto other = CheckpointSigner::LoadOrCreate(mem_.get(), "/keys/other.pem");
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->public_key_hex(), signer_->public_key_hex());
}

TEST_F(CheckpointTest, GarbageKeyFileIsRefused) {
  ASSERT_TRUE(WriteFileAtomic(mem_.get(), "/keys/bad.pem", "not a key").ok());
  auto bad = CheckpointSigner::LoadOrCreate(mem_.get(), "/keys/bad.pem");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CheckpointTest, FileAndRecordEncodingsRoundTrip) {
  std::string text = EncodeCheckpointFile(cp_);
  auto f = DecodeCheckpointFile(text);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->tree_size, cp_.tree_size);
  EXPECT_EQ(f->root, cp_.root);
  EXPECT_EQ(EncodeCheckpointFile(*f), text);

  std::string json = EncodeCheckpointRecord(cp_);
  auto r = DecodeCheckpointRecord(json);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(EncodeCheckpointRecord(*r), json);
  EXPECT_TRUE(VerifyCheckpointSignature(*r).ok());
}

TEST_F(CheckpointTest, MalformedEncodingsAreCorruption) {
  std::string text = EncodeCheckpointFile(cp_);
  for (size_t cut = 0; cut < text.size(); cut += 7) {
    EXPECT_FALSE(DecodeCheckpointFile(text.substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(DecodeCheckpointFile(text + "extra\n").ok());
  std::string upper = text;
  upper[upper.find("sig ") + 4] = 'A';
  EXPECT_FALSE(DecodeCheckpointFile(upper).ok());
  std::string json = EncodeCheckpointRecord(cp_);
  for (size_t cut = 0; cut < json.size(); cut += 5) {
    EXPECT_FALSE(DecodeCheckpointRecord(json.substr(0, cut)).ok()) << cut;
  }
  std::string spaced = json;
  spaced.insert(1, " ");
  EXPECT_FALSE(DecodeCheckpointRecord(spaced).ok());
  std::string leading_zero = json;
  leading_zero.replace(leading_zero.find("\"tree_size\":") + 12, 0, "0");
  EXPECT_FALSE(DecodeCheckpointRecord(leading_zero).ok());
}

TEST(CheckpointFileNameTest, RoundTrips) {
  uint64_t size = 0;
  EXPECT_TRUE(ParseCheckpointFileName(CheckpointFileName(987654321), &size));
  EXPECT_EQ(size, 987654321u);
  EXPECT_FALSE(ParseCheckpointFileName("00000000000000000001.cp.tmp", &size));
  EXPECT_FALSE(ParseCheckpointFileName("x0000000000000000001.cp", &size));
}

}  // namespace
}  // namespace tokenaudit::ledger
