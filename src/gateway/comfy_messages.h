// Reading and rewriting the JSON ComfyUI sends the gateway (protocol.md §1.2, §1.3, §2): the
// WebSocket events it routes and records, the history and queue it filters per user, and the
// ComfyUI-shaped error bodies it answers with. simdjson stays in comfy_messages.cc.
//
// All input here comes from the upstream ComfyUI (trusted to speak the protocol, not trusted to
// be well-formed): malformed JSON gives InvalidArgument, never a crash. Pure functions;
// thread-safe.

#ifndef TOKENAUDIT_GATEWAY_COMFY_MESSAGES_H_
#define TOKENAUDIT_GATEWAY_COMFY_MESSAGES_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenaudit/result.h"

namespace tokenaudit::gateway {

// A file a node produced or a user uploaded, as `/view` names it.
struct ComfyFile {
  std::string filename;
  std::string subfolder;
  std::string type;  // "output", "temp", "input"

  bool operator==(const ComfyFile&) const = default;
};

// One upstream text frame `{"type": T, "data": {...}}`, the fields the gateway acts on.
struct UpstreamEvent {
  std::string type;
  std::string prompt_id;          // empty when absent
  bool has_node = false;          // `executing`: data.node present
  std::optional<std::string> node;  // `executing`: nullopt when data.node is null (terminal)
  std::string node_id;            // execution_error / execution_interrupted
  std::string node_type;
  std::string exception_type;     // execution_error
  std::vector<std::string> nodes;     // execution_cached
  std::vector<std::string> executed;  // execution_error / execution_interrupted
  std::optional<int64_t> timestamp_ms;
  std::vector<ComfyFile> output_files;  // executed: files in data.output
};

// Parses a text frame. InvalidArgument for malformed JSON or a frame without `type`.
Result<UpstreamEvent> ParseUpstreamEvent(std::string_view text);

// Binary frames (protocol.md §2.4).
inline constexpr uint32_t kPreviewImage = 1;
inline constexpr uint32_t kText = 3;
inline constexpr uint32_t kPreviewImageWithMetadata = 4;

// The big-endian event type of a binary frame; nullopt if shorter than 4 bytes.
std::optional<uint32_t> BinaryEventType(std::string_view frame);
// Type 4: the prompt_id in its metadata JSON; empty if absent or malformed.
std::string PreviewPromptId(std::string_view frame);
// Type 4 → type 1 (`uint32 1, uint32 format (1 JPEG, 2 PNG), image`) for a client that did not
// negotiate supports_preview_metadata; nullopt if the frame is malformed.
std::optional<std::string> PreviewToLegacy(std::string_view frame);

// What /history/{id} says about a finished prompt (§1.2).
struct HistoryOutcome {
  bool found = false;      // the id is in the history
  bool finished = false;   // a terminal message is present
  std::string status;      // "success" | "error" | "interrupted" when finished
  std::vector<std::string> cached;    // execution_cached.nodes
  std::string node_id;                // failing / interrupted node
  std::string exception_type;
  std::vector<std::string> executed;  // execution_error / interrupted `executed`
  std::optional<int64_t> start_ms, end_ms;
  std::vector<ComfyFile> output_files;
};

// Reads `{prompt_id: entry}` (the body of GET /history/{id}) for `prompt_id`.
Result<HistoryOutcome> ParseHistoryEntry(std::string_view body, std::string_view prompt_id);

// The client_id the user gave a prompt (`""`: none), shown in place of the gateway's own in
// the `extra_data` of history and queue entries; null keeps extra_data as it is.
using ClientIdOf = std::function<std::string(std::string_view prompt_id)>;

// GET /history filtered to the prompts `owned` accepts, oldest first, then `max_items` /
// `offset` applied to that list as ComfyUI applies them to the whole history (only max_items:
// the last N). Every kept entry's output files go to `files` when not null. With `client_id_of`,
// each kept entry's `prompt[3].client_id` becomes the user's (removed when they gave none).
Result<std::string> FilterHistory(std::string_view body,
                                  const std::function<bool(std::string_view)>& owned,
                                  std::optional<int64_t> max_items, std::optional<int64_t> offset,
                                  std::vector<ComfyFile>* files,
                                  const ClientIdOf& client_id_of = nullptr);

// GET /queue filtered to the items whose prompt_id `owned` accepts; pending sorted by number.
// With `client_id_of`, each kept item's `[3].client_id` becomes the user's, as in FilterHistory.
Result<std::string> FilterQueue(std::string_view body,
                                const std::function<bool(std::string_view)>& owned,
                                const ClientIdOf& client_id_of = nullptr);

// The running and pending prompt ids of a GET /queue body.
Result<std::vector<std::string>> QueuePromptIds(std::string_view body);

// `{"error": {"type", "message", "details", "extra_info": {}}, "node_errors": {}}`, as ComfyUI
// answers a refused prompt (§3).
// `extra_info_json` (a JSON object) replaces the empty extra_info when not empty.
std::string ComfyErrorJson(std::string_view type, std::string_view message,
                           std::string_view details, std::string_view extra_info_json = "");

// GET /object_info[/{class}] with the upload list of every image-source class narrowed to the
// files `visible` accepts: for a class whose `upload_input(class_type)` is not empty, the string
// options of that input — `[[options...], {...}]`, or `["COMBO", {"options": [...]}]` — keep only
// the names ("[subfolder/]name", as ComfyUI lists them) `visible` accepts. Everything else is
// copied (minified). A body without such a class is returned as it is. InvalidArgument for
// malformed JSON or a body that is not an object.
Result<std::string> FilterObjectInfo(
    std::string_view body, const std::function<std::string_view(std::string_view)>& upload_input,
    const std::function<bool(std::string_view)>& visible);

// The prompt_id strings of a JSON body `{"prompt_id": "..."}`/`{"delete": [...]}`;
// `clear` set when `"clear": true`. Malformed or absent: empty.
struct QueueEdit {
  std::optional<std::string> prompt_id;
  std::vector<std::string> delete_ids;
  bool clear = false;
};
QueueEdit ParseQueueEdit(std::string_view body);

// The extra_data key naming the caller's user (pseudonym) for tokenaudit's in-engine ComfyUI
// extension (integrations/comfyui, `user_extra_data_key`), so its copies of gateway prompts carry
// the same user as the gateway's records.
inline constexpr std::string_view kUserExtraDataKey = "tokenaudit_user";

// A prompt body's `extra_data` (minified JSON object) without the keys the gateway never
// forwards: `client_id` (the gateway owns it), the Comfy.org credentials `api_key_comfy_org` /
// `auth_token_comfy_org` (protocol.md §8) and kUserExtraDataKey, which is set to
// `user_pseudonym` instead (left out when that is empty), so a caller cannot name another user.
// "{}" (plus the user) for empty or malformed.
std::string SanitizeExtraData(std::string_view extra_data_json, std::string_view user_pseudonym);

// The `{"name", "subfolder", "type"}` answer of POST /upload/image; InvalidArgument if malformed.
Result<ComfyFile> ParseUploadReply(std::string_view body);

}  // namespace tokenaudit::gateway

#endif  // TOKENAUDIT_GATEWAY_COMFY_MESSAGES_H_
