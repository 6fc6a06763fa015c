// Fuzzes what the gateway reads from the upstream ComfyUI (src/gateway/comfy_messages.h): text
// events, binary preview frames, history entries, history, queue and object_info filtering.
// ComfyUI is trusted to speak the protocol, not to be well-formed. Invariants, trapped when broken:
//   - nothing crashes; errors are InvalidArgument;
//   - a filtered history or queue that keeps nothing is `{}` / empty lists, and keeping
//     everything of a valid history keeps its keys;
//   - a legacy preview is never longer than the frame it came from.
// Corpus: test/fuzz/corpus/gateway_upstream (frames and bodies from the captures).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/gateway/comfy_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit::gateway;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto event = ParseUpstreamEvent(input);
  if (!event.ok() && event.status().code() != tokenaudit::StatusCode::kInvalidArgument) {
    __builtin_trap();
  }
  if (event.ok() && event->type.empty()) __builtin_trap();
  (void)BinaryEventType(input);
  (void)PreviewPromptId(input);
  if (auto legacy = PreviewToLegacy(input); legacy && legacy->size() > input.size()) {
    __builtin_trap();
  }
  (void)ParseHistoryEntry(input, "p");
  auto none = FilterHistory(input, [](std::string_view) { return false; }, std::nullopt,
                            std::nullopt, nullptr);
  if (none.ok() && *none != "{}") __builtin_trap();
  (void)FilterHistory(input, [](std::string_view) { return true; }, 2, std::nullopt, nullptr);
  auto queue = FilterQueue(input, [](std::string_view) { return false; });
  if (queue.ok() && *queue != R"({"queue_running":[],"queue_pending":[]})") __builtin_trap();
  auto info = FilterObjectInfo(
      input, [](std::string_view) { return std::string_view("image"); },
      [](std::string_view name) { return name.size() % 2 == 0; });
  if (!info.ok() && info.status().code() != tokenaudit::StatusCode::kInvalidArgument) {
    __builtin_trap();
  }
  (void)QueuePromptIds(input);
  (void)ParseQueueEdit(input);
  (void)SanitizeExtraData(input, "u_AAAAAAAAAAAAAAAAAAAAAA");
  (void)ParseUploadReply(input);
  return 0;
}
