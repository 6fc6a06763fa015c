// Spool: the client's on-disk FIFO of records that could not be delivered yet (doc/client.md).
//
// A directory of append-only files (spool_format.h) holding CRC-framed records. Records are
// appended at the tail and made durable (fdatasync, and the directory entry of a new file) before
// Append returns; they are read back from the head in order and a file is deleted once every
// record in it has been read and the owner says all of them are settled (AcknowledgeRead).
//
// Reading never touches the file being appended to: when the reader reaches it, it is sealed
// first and the next Append starts a new file. Files found at Open (left by an earlier Spool,
// possibly by a process that crashed) are read up to their size on disk; a torn tail, or any
// frame whose CRCs do not match, is skipped (the reader resynchronises on the next valid frame)
// and counted in skipped_bytes().
//
// A failed write or fsync latches the spool read-only for the life of this object, like the
// ledger after "fsyncgate": the bytes after the last successful fsync are never read by this
// object, and Append returns the error. Reading and deleting go on.
//
// Thread-compatible: one thread (the client's background thread) uses a Spool.

#ifndef TOKENAUDIT_CLIENT_SPOOL_H_
#define TOKENAUDIT_CLIENT_SPOOL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenaudit/env.h"
#include "tokenaudit/result.h"
#include "tokenaudit/status.h"

namespace tokenaudit::client {

struct SpoolOptions {
  uint64_t max_bytes = 1ull << 30;   // Append refuses what would grow the files past this
  uint64_t file_bytes = 4ull << 20;  // a file is sealed once it holds this many bytes
};

// A record to append: its bytes and the owner's ordinal for it (stored as the frame seq).
struct SpoolEntry {
  std::string_view json;
  uint64_t ord = 0;
};

struct SpoolRecord {
  std::string json;
  // The ordinal given to Append, for files this object wrote; 0 for files found at Open.
  uint64_t ord = 0;
};

class Spool {
 public:
  // Creates `dir` if needed, takes <dir>/LOCK (FailedPrecondition if another Spool, in this or
  // another process, holds it) and lists the spool files already there. `env` is not owned and
  // must outlive the Spool.
  static Result<std::unique_ptr<Spool>> Open(Env* env, const std::string& dir,
                                             const SpoolOptions& options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appends `entries` in order and makes them durable. OK: all of them will be read back, also
  // after a crash. ResourceExhausted: they would exceed max_bytes; nothing was written.
  // Otherwise the latched write error (IOError): some of them may be on disk, unsynced (a later
  // Spool may read those; the server's idempotency makes that harmless).
  Status Append(std::span<const SpoolEntry> entries);

  // Appends to *out the next unread records in order: at most `max_records`, and at most
  // `max_bytes` of NDJSON (each record's JSON and a newline) unless that would leave the batch
  // empty. Returns how many were added
  // (0 only when nothing readable is left). IOError if a file cannot be read; it is retried on
  // the next call.
  Result<size_t> ReadNext(size_t max_records, size_t max_bytes, std::vector<SpoolRecord>* out);

  // Every record returned by ReadNext so far is settled: deletes the files read to their end.
  // A file that cannot be deleted is forgotten (a later Spool would send its records again).
  Status AcknowledgeRead();

  // No file with records not yet acknowledged.
  bool empty() const { return files_.empty(); }
  // ReadNext may return records.
  bool HasUnread() const;
  // Some file still held was found at Open (written by an earlier Spool).
  bool HoldsForeignFiles() const {
    for (const File& f : files_) {
      if (!f.owned) return true;
    }
    return false;
  }
  bool writable() const { return write_error_.ok(); }
  const Status& write_error() const { return write_error_; }

  uint64_t bytes() const;
  size_t files() const { return files_.size(); }
  // Bytes of spool files skipped as unreadable (torn tails, bad frames, bad headers).
  uint64_t skipped_bytes() const { return skipped_bytes_; }
  // Describes the most recent skip ("<file>: <what> at offset N, M bytes skipped"), or "".
  const std::string& last_skip() const { return last_skip_; }

 private:
  struct File {
    uint64_t number = 0;
    std::string path;
    bool owned = false;         // written by this object: frame seqs are our ordinals
    bool sealed = true;         // no more appends
    uint64_t size = 0;          // bytes on disk, as far as we know
    uint64_t readable_end = 0;  // file size at Open; last synced size for our own files
    bool header_read = false;
    uint32_t salt_crc = 0;
    uint64_t read_offset = 0;
    bool read_done = false;  // sealed and read up to readable_end
  };
  enum class ReadOutcome { kRecord, kWouldExceed, kEnd };

  Spool(Env* env, std::string dir, const SpoolOptions& options, std::unique_ptr<FileLock> lock);

  Status OpenNewFile(std::string* buf);
  Status WriteAndSync(std::string* buf, bool new_file);
  Status Latch(const Status& s);
  void SealActive();
  // Reads the record at f's read offset into *rec unless its JSON would make *budget negative.
  Result<ReadOutcome> ReadOne(File* f, size_t budget, SpoolRecord* rec);
  Result<std::string_view> View(File* f, uint64_t offset, size_t n);
  void Skip(File* f, uint64_t from, uint64_t to, std::string_view what);

  Env* const env_;  // not owned
  const std::string dir_;
  const SpoolOptions options_;
  std::unique_ptr<FileLock> lock_;

  std::deque<File> files_;                // by number; only the last may be unsealed
  std::unique_ptr<WritableFile> writer_;  // appends to files_.back() while it is unsealed
  uint32_t write_salt_crc_ = 0;
  uint64_t next_number_ = 1;
  Status write_error_;

  // Read buffer: bytes [buf_offset_, buf_offset_ + buf_.size()) of file buf_file_.
  std::unique_ptr<RandomAccessFile> reader_;
  uint64_t reader_file_ = 0;  // number of the file reader_ reads; 0: none
  std::string buf_;
  uint64_t buf_offset_ = 0;

  uint64_t skipped_bytes_ = 0;
  std::string last_skip_;
};

}  // namespace tokenaudit::client

#endif  // TOKENAUDIT_CLIENT_SPOOL_H_
