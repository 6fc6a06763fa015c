#include "src/log/log_scanner.h"

#include <algorithm>
#include <utility>

#include "src/log/frame.h"
#include "src/log/log_format.h"

namespace tokenaudit::log {
namespace {

std::string Where(std::string_view segment, uint64_t offset, uint64_t seq) {
  return "segment " + std::string(segment) + " offset " + std::to_string(offset) + " (seq " +
         std::to_string(seq) + ")";
}

// True if any offset after `from` holds a frame whose CRCs both verify under this salt: proof
// that the damage at `from` is not a torn tail but corruption in the middle of the segment.
bool ValidFrameAfter(std::string_view data, size_t from, uint32_t salt_crc, uint64_t* found_at,
                     uint64_t* found_seq) {
  Frame f;
  for (size_t o = from + 1; o + kFrameHeaderSize <= data.size(); ++o) {
    if (DecodeFrame(data.substr(o), salt_crc, &f) == FrameStatus::kOk) {
      *found_at = o;
      *found_seq = f.seq;
      return true;
    }
  }
  return false;
}

}  // namespace

Result<std::vector<std::string>> ListSegments(Env* env, const std::string& log_dir) {
  ASSIGN_OR_RETURN(auto children, env->GetChildren(log_dir));
  std::vector<std::pair<uint64_t, std::string>> segs;
  for (auto& name : children) {
    uint64_t first = 0;
    if (ParseSegmentFileName(name, &first)) segs.emplace_back(first, name);
  }
  std::sort(segs.begin(), segs.end());
  std::vector<std::string> out;
  out.reserve(segs.size());
  for (auto& s : segs) out.push_back(std::move(s.second));
  return out;
}

Status ScanLog(Env* env, const std::string& log_dir, const ScanOptions& options,
               const FrameVisitor& visit, ScanSummary* summary) {
  *summary = ScanSummary();
  ASSIGN_OR_RETURN(auto segments, ListSegments(env, log_dir));
  for (const auto& name : segments) {
    ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(JoinPath(log_dir, name)));
    summary->total_bytes += size;
  }
  uint64_t bytes_before = 0;
  uint64_t expected_seq = 0;
  std::string data;
  for (size_t si = 0; si < segments.size(); ++si) {
    const std::string& name = segments[si];
    const bool is_last = si + 1 == segments.size();
    RETURN_IF_ERROR(ReadFileInto(env, JoinPath(log_dir, name), &data));
    uint64_t named_first = 0;
    ParseSegmentFileName(name, &named_first);
    auto header = DecodeSegmentHeader(data);
    if (!header.ok()) {
      return header.status().WithContext(Where(name, 0, expected_seq));
    }
    if (header->first_seq != named_first) {
      return Status::Corruption(Where(name, 0, expected_seq) + ": header first seq " +
                                std::to_string(header->first_seq) + " does not match file name");
    }
    if (header->first_seq != expected_seq) {
      return Status::Corruption(Where(name, 0, expected_seq) + ": segment starts at seq " +
                                std::to_string(header->first_seq) + ", expected " +
                                std::to_string(expected_seq) + " (records missing)");
    }
    if (si == 0) {
      summary->log_id = header->log_id;
      if (!options.expected_log_id.empty() && header->log_id != options.expected_log_id) {
        return Status::Corruption(Where(name, 0, expected_seq) +
                                  ": segment belongs to another log");
      }
    } else if (header->log_id != summary->log_id) {
      return Status::Corruption(Where(name, 0, expected_seq) + ": segment belongs to another log");
    }
    const uint32_t salt_crc = SaltCrc(header->salt);
    summary->segments++;
    summary->last_segment = name;
    summary->last_salt = header->salt;

    std::string_view rest(data);
    size_t offset = kSegmentHeaderSize;
    uint64_t frames_since_progress = 0;
    while (offset < data.size()) {
      Frame f;
      FrameStatus fs = DecodeFrame(rest.substr(offset), salt_crc, &f);
      if (fs != FrameStatus::kOk) {
        std::string what = Where(name, offset, expected_seq) + ": " +
                           std::string(FrameStatusName(fs));
        if (!is_last || !options.tolerate_torn_tail) return Status::Corruption(what);
        uint64_t at = 0, seq = 0;
        if (ValidFrameAfter(data, offset, salt_crc, &at, &seq)) {
          return Status::Corruption(what + "; a valid frame (seq " + std::to_string(seq) +
                                    ") follows at offset " + std::to_string(at));
        }
        summary->torn_offset = offset;
        summary->torn_bytes = data.size() - offset;
        summary->torn_reason = std::string(FrameStatusName(fs));
        break;
      }
      if (f.seq != expected_seq) {
        return Status::Corruption(Where(name, offset, expected_seq) + ": frame has seq " +
                                  std::to_string(f.seq));
      }
      ScannedFrame sf{f.seq, f.type, f.payload, name, offset, header->first_seq, header->salt};
      RETURN_IF_ERROR(visit(sf));
      ++expected_seq;
      offset += f.encoded_size;
      if (options.progress && ++frames_since_progress == (1u << 16)) {
        frames_since_progress = 0;
        options.progress(bytes_before + offset, summary->total_bytes);
      }
    }
    summary->next_seq = expected_seq;
    summary->last_valid_end = std::min<uint64_t>(offset, data.size());
    bytes_before += data.size();
    if (options.progress) options.progress(bytes_before, summary->total_bytes);
  }
  summary->next_seq = expected_seq;
  return Status::OK();
}

}  // namespace tokenaudit::log
