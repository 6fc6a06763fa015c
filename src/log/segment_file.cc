#include "src/log/segment_file.h"

#include "src/log/log_format.h"

namespace tokenaudit::log {

Result<std::unique_ptr<WritableFile>> CreateSegment(Env* env, const std::string& log_dir,
                                                    const SegmentHeader& header) {
  const std::string path = JoinPath(log_dir, SegmentFileName(header.first_seq));
  const std::string tmp = path + std::string(kTempSuffix);
  std::string buf;
  EncodeSegmentHeader(header, &buf);
  {
    ASSIGN_OR_RETURN(auto file, env->NewWritableFile(tmp));
    RETURN_IF_ERROR(file->Append(buf));
    RETURN_IF_ERROR(file->Sync());
    RETURN_IF_ERROR(file->Close());
  }
  RETURN_IF_ERROR(env->RenameFile(tmp, path));
  RETURN_IF_ERROR(env->SyncDir(log_dir));
  return env->NewAppendableFile(path);
}

Status RemoveStaleTempFiles(Env* env, const std::string& dir) {
  ASSIGN_OR_RETURN(auto children, env->GetChildren(dir));
  for (const auto& name : children) {
    if (name.size() > kTempSuffix.size() &&
        name.compare(name.size() - kTempSuffix.size(), kTempSuffix.size(), kTempSuffix) == 0) {
      RETURN_IF_ERROR(env->RemoveFile(JoinPath(dir, name)));
    }
  }
  return Status::OK();
}

}  // namespace tokenaudit::log
