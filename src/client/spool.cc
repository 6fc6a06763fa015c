#include "src/client/spool.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "src/client/spool_format.h"
#include "src/log/frame.h"
#include "src/util/coding.h"
#include "src/util/crc32c.h"
#include "src/util/random.h"

namespace tokenaudit::client {
namespace {

// Reads are done in chunks of at least this size, so a batch of small frames costs few preads.
constexpr size_t kReadChunk = 256 << 10;

void EncodeSpoolHeader(uint64_t salt, uint64_t created_unix_micros, std::string* dst) {
  char buf[kSpoolHeaderSize];
  std::memset(buf, 0, sizeof(buf));
  std::memcpy(buf, kSpoolMagic, 8);
  EncodeFixed32(buf + 8, kSpoolFormatVersion);
  EncodeFixed32(buf + 12, static_cast<uint32_t>(kSpoolHeaderSize));
  EncodeFixed64(buf + 16, salt);
  EncodeFixed64(buf + 24, created_unix_micros);
  EncodeFixed32(buf + 36, crc32c::Mask(crc32c::Value(buf, 36)));
  dst->append(buf, sizeof(buf));
}

// Returns the salt, or a description of what is wrong.
bool DecodeSpoolHeader(std::string_view data, uint64_t* salt, std::string* what) {
  const char* p = data.data();
  if (data.size() < kSpoolHeaderSize) {
    *what = "short header";
  } else if (std::memcmp(p, kSpoolMagic, 8) != 0) {
    *what = "bad magic";
  } else if (crc32c::Unmask(DecodeFixed32(p + 36)) != crc32c::Value(p, 36)) {
    *what = "header CRC mismatch";
  } else if (DecodeFixed32(p + 8) != kSpoolFormatVersion ||
             DecodeFixed32(p + 12) != kSpoolHeaderSize) {
    *what = "unsupported version";
  } else {
    *salt = DecodeFixed64(p + 16);
    return true;
  }
  return false;
}

}  // namespace

std::string SpoolFileName(uint64_t number) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(number));
  return std::string(buf) + std::string(kSpoolSuffix);
}

bool ParseSpoolFileName(std::string_view name, uint64_t* number) {
  if (name.size() != 20 + kSpoolSuffix.size() || name.substr(20) != kSpoolSuffix) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return false;
    const uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return false;  // overflow
    v = next;
  }
  *number = v;
  return true;
}

Spool::Spool(Env* env, std::string dir, const SpoolOptions& options, std::unique_ptr<FileLock> lock)
    : env_(env), dir_(std::move(dir)), options_(options), lock_(std::move(lock)) {}

Spool::~Spool() {
  if (writer_) writer_->Close().IgnoreError();  // everything that matters was synced
}

Result<std::unique_ptr<Spool>> Spool::Open(Env* env, const std::string& dir,
                                           const SpoolOptions& options) {
  RETURN_IF_ERROR(env->CreateDir(dir));
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock, env->LockFile(JoinPath(dir, kSpoolLockName)));
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->GetChildren(dir));
  std::vector<uint64_t> numbers;
  for (const std::string& name : names) {
    uint64_t n = 0;
    if (ParseSpoolFileName(name, &n)) numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());
  std::unique_ptr<Spool> spool(new Spool(env, dir, options, std::move(lock)));
  for (uint64_t n : numbers) {
    File f;
    f.number = n;
    f.path = JoinPath(dir, SpoolFileName(n));
    ASSIGN_OR_RETURN(f.size, env->GetFileSize(f.path));
    f.readable_end = f.size;
    spool->files_.push_back(std::move(f));
  }
  if (!numbers.empty()) spool->next_number_ = numbers.back() + 1;
  return spool;
}

uint64_t Spool::bytes() const {
  uint64_t total = 0;
  for (const File& f : files_) total += f.size;
  return total;
}

bool Spool::HasUnread() const {
  for (const File& f : files_) {
    if (f.read_done) continue;
    if (f.sealed || f.readable_end > kSpoolHeaderSize) return true;
  }
  return false;
}

Status Spool::Latch(const Status& s) {
  write_error_ = s.WithContext("spool write failed; the spool takes no more records");
  if (writer_) {
    writer_->Close().IgnoreError();  // already failed; the file is sealed at its synced size
    writer_.reset();
  }
  if (!files_.empty()) files_.back().sealed = true;
  return write_error_;
}

void Spool::SealActive() {
  if (!writer_) return;
  // Close errors cannot lose anything: every byte readable_end covers was fdatasync'd.
  writer_->Close().IgnoreError();
  writer_.reset();
  files_.back().sealed = true;
}

Status Spool::OpenNewFile(std::string* buf) {
  File f;
  f.number = next_number_++;
  f.path = JoinPath(dir_, SpoolFileName(f.number));
  f.owned = true;
  f.sealed = false;
  auto w = env_->NewWritableFile(f.path);
  if (!w.ok()) return w.status();
  writer_ = std::move(*w);
  const uint64_t salt = SecureRandomU64();
  write_salt_crc_ = log::SaltCrc(salt);
  EncodeSpoolHeader(salt, env_->NowUnixMicros(), buf);
  files_.push_back(std::move(f));
  return Status::OK();
}

Status Spool::WriteAndSync(std::string* buf, bool new_file) {
  File& f = files_.back();
  Status s = writer_->Append(*buf);
  f.size = writer_->Size();
  buf->clear();
  if (s.ok()) s = writer_->Sync();
  // A new file's name must be durable too, or its synced records could vanish with it.
  if (s.ok() && new_file) s = env_->SyncDir(dir_);
  if (!s.ok()) return s;
  f.readable_end = f.size;
  return Status::OK();
}

Status Spool::Append(std::span<const SpoolEntry> entries) {
  if (!write_error_.ok()) return write_error_;
  if (entries.empty()) return Status::OK();
  uint64_t need = 0;
  for (const SpoolEntry& e : entries) need += log::kFrameHeaderSize + e.json.size();
  // Headers of the files this append may start, roughly: one per file_bytes, plus one.
  need += kSpoolHeaderSize * (1 + need / std::max<uint64_t>(options_.file_bytes, 1));
  if (bytes() + need > options_.max_bytes) {
    return Status::ResourceExhausted("spool full (" + std::to_string(bytes()) + " of " +
                                     std::to_string(options_.max_bytes) + " bytes)");
  }
  std::string buf;
  bool new_file = false;
  for (const SpoolEntry& e : entries) {
    if (e.json.size() > log::kMaxRecordBytes) {
      return Status::InvalidArgument("record larger than a spool frame allows");
    }
    const uint64_t in_file = writer_ ? writer_->Size() + buf.size() : 0;
    if (!writer_ || (in_file >= options_.file_bytes && in_file > kSpoolHeaderSize)) {
      if (writer_) {
        Status s = WriteAndSync(&buf, new_file);
        if (!s.ok()) return Latch(s);
        SealActive();
      }
      Status s = OpenNewFile(&buf);
      if (!s.ok()) return Latch(s);
      new_file = true;
    }
    log::EncodeFrame(write_salt_crc_, e.ord, kSpoolRecordType, e.json, &buf);
  }
  Status s = WriteAndSync(&buf, new_file);
  if (!s.ok()) return Latch(s);
  return Status::OK();
}

Result<std::string_view> Spool::View(File* f, uint64_t offset, size_t n) {
  n = static_cast<size_t>(std::min<uint64_t>(n, f->readable_end - offset));
  if (reader_file_ == f->number && offset >= buf_offset_ &&
      offset + n <= buf_offset_ + buf_.size()) {
    return std::string_view(buf_).substr(offset - buf_offset_, n);
  }
  if (reader_file_ != f->number) {
    reader_.reset();
    reader_file_ = 0;
    auto r = env_->NewRandomAccessFile(f->path);
    if (!r.ok()) return r.status();
    reader_ = std::move(*r);
    reader_file_ = f->number;
  }
  const size_t want =
      static_cast<size_t>(std::min<uint64_t>(std::max(n, kReadChunk), f->readable_end - offset));
  buf_.resize(want);
  size_t got = 0;
  while (got < want) {
    auto r = reader_->Read(offset + got, want - got, buf_.data() + got);
    if (!r.ok()) {
      buf_.clear();
      return r.status();
    }
    if (*r == 0) break;  // shorter than we thought: the rest reads as a torn tail
    got += *r;
  }
  buf_.resize(got);
  buf_offset_ = offset;
  return std::string_view(buf_).substr(0, std::min(n, got));
}

void Spool::Skip(File* f, uint64_t from, uint64_t to, std::string_view what) {
  if (to <= from) return;
  skipped_bytes_ += to - from;
  last_skip_ = f->path + ": " + std::string(what) + " at offset " + std::to_string(from) + ", " +
               std::to_string(to - from) + " bytes skipped";
}

Result<Spool::ReadOutcome> Spool::ReadOne(File* f, size_t budget, SpoolRecord* rec) {
  if (!f->header_read) {
    ASSIGN_OR_RETURN(std::string_view h, View(f, 0, kSpoolHeaderSize));
    uint64_t salt = 0;
    std::string what;
    if (!DecodeSpoolHeader(h, &salt, &what)) {
      Skip(f, 0, f->readable_end, what);
      f->read_offset = f->readable_end;
      return ReadOutcome::kEnd;
    }
    f->salt_crc = log::SaltCrc(salt);
    f->header_read = true;
    f->read_offset = kSpoolHeaderSize;
  }
  while (f->read_offset < f->readable_end) {
    const uint64_t at = f->read_offset;
    const uint64_t left = f->readable_end - at;
    ASSIGN_OR_RETURN(std::string_view hdr, View(f, at, log::kFrameHeaderSize));
    log::Frame frame;
    log::FrameStatus st = log::DecodeFrame(hdr, f->salt_crc, &frame);
    if (st == log::FrameStatus::kTruncated && hdr.size() == log::kFrameHeaderSize) {
      // The header is valid (its CRC was checked); the payload is not in view yet.
      const uint64_t length = DecodeFixed32(hdr.data() + 4);
      if (log::kFrameHeaderSize + length <= left) {
        if (length > budget) return ReadOutcome::kWouldExceed;
        ASSIGN_OR_RETURN(std::string_view whole,
                         View(f, at, log::kFrameHeaderSize + static_cast<size_t>(length)));
        st = log::DecodeFrame(whole, f->salt_crc, &frame);
      }
    }
    if (st == log::FrameStatus::kOk && frame.type == kSpoolRecordType) {
      if (frame.payload.size() > budget) return ReadOutcome::kWouldExceed;
      rec->json.assign(frame.payload);
      rec->ord = f->owned ? frame.seq : 0;
      f->read_offset = at + frame.encoded_size;
      return ReadOutcome::kRecord;
    }
    // A bad frame: find the next offset where a whole valid frame starts. Rare (a torn tail,
    // or damage), so the rest of the file is simply read and scanned byte by byte.
    ASSIGN_OR_RETURN(std::string_view rest, View(f, at, static_cast<size_t>(left)));
    uint64_t next = f->readable_end;
    for (size_t i = 1; i + log::kFrameHeaderSize <= rest.size(); ++i) {
      log::Frame probe;
      if (log::DecodeFrame(rest.substr(i), f->salt_crc, &probe) == log::FrameStatus::kOk &&
          probe.type == kSpoolRecordType) {
        next = at + i;
        break;
      }
    }
    Skip(f, at, next, next == f->readable_end ? "torn or damaged tail" : log::FrameStatusName(st));
    f->read_offset = next;
  }
  return ReadOutcome::kEnd;
}

Result<size_t> Spool::ReadNext(size_t max_records, size_t max_bytes,
                               std::vector<SpoolRecord>* out) {
  size_t added = 0, bytes = 0;
  for (File& f : files_) {
    if (added >= max_records) break;
    if (f.read_done) continue;
    if (!f.sealed) {
      if (f.readable_end <= kSpoolHeaderSize) break;
      SealActive();  // the next Append starts a new file; this one is read-only from now on
    }
    for (;;) {
      if (added >= max_records) break;
      // The first record of a batch always fits, however large.
      // A record costs its JSON and the newline that ends it in the NDJSON body.
      const size_t budget =
          added == 0 ? SIZE_MAX : (max_bytes > bytes + 1 ? max_bytes - bytes - 1 : 0);
      SpoolRecord rec;
      ASSIGN_OR_RETURN(ReadOutcome o, ReadOne(&f, budget, &rec));
      if (o == ReadOutcome::kWouldExceed) return added;
      if (o == ReadOutcome::kEnd) {
        f.read_done = true;
        break;
      }
      bytes += rec.json.size() + 1;
      out->push_back(std::move(rec));
      ++added;
    }
    if (!f.read_done) break;
  }
  return added;
}

Status Spool::AcknowledgeRead() {
  Status result;
  while (!files_.empty() && files_.front().read_done) {
    if (reader_file_ == files_.front().number) {
      reader_.reset();
      reader_file_ = 0;
      buf_.clear();
    }
    Status s = env_->RemoveFile(files_.front().path);
    if (!s.ok() && result.ok()) result = s;
    files_.pop_front();
  }
  return result;
}

}  // namespace tokenaudit::client
