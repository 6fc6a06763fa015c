// A protocol-faithful fake ComfyUI 0.3.64 for tests: HTTP and WebSocket on one port, built from
// ../shared/reference/comfyui/protocol.md and the recordings in test/comfy/captures/ (see
// doc/comfyui_capture.md for what is reproduced and what is not).
//
// What it does, as the real server does:
//   * POST /prompt: validation (no_prompt, invalid_prompt, prompt_no_outputs,
//     prompt_outputs_failed_validation with node_errors) for the classes it knows, queueing by
//     (number, prompt_id), client-chosen prompt_id, `front`, `number`; 500 on malformed JSON.
//   * One worker runs one prompt at a time, node by node in dependency order, with the classic
//     cache (identical inputs → execution_cached), emitting the WebSocket sequence of
//     captures/runs.json: status, execution_start, execution_cached, progress_state, executing,
//     progress, previews (binary type 1, or type 4 after feature_flags), executed,
//     execution_success | execution_error | execution_interrupted, status, executing{node:null}.
//   * Routing (protocol.md §0.2): per-prompt events only to the socket whose sid is the prompt's
//     client_id (dropped when it is not connected); a prompt without client_id sends no guarded
//     events and broadcasts progress, progress_state, previews and execution_interrupted; status
//     and binary TEXT frames always go to every socket.
//   * GET /history[/{id}], POST /history, GET/POST /queue, GET /prompt, POST /interrupt (global or
//     by prompt_id), POST /upload/image (multipart, the four naming cases of §1.5), GET /view,
//     GET /object_info[/{class}], /system_stats, /features; every route also under /api.
// Simulated nodes: LoadImage, ImageScale, ImageInvert, SaveImage, PreviewImage, DDColor_Colorize
// (takes `ddcolor_ms`, reports progress 1/1 as the recorded stand-in does) and AuditProbeSlow
// (steps × delay_ms, previews, `fail`), the test node of the captures.
//
// Test hooks (not ComfyUI): POST /__fake/fail_next {"class_type", "exception_type",
// "exception_message"} makes the next run of that class fail; POST /__fake/text {"node_id",
// "text"} sends a binary TEXT frame to every socket.
//
// Thread-safety: all public methods may be called from any thread.

#ifndef TOKENAUDIT_TEST_COMFY_FAKE_COMFYUI_H_
#define TOKENAUDIT_TEST_COMFY_FAKE_COMFYUI_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "tokenaudit/result.h"

namespace tokenaudit::comfy::testing {

struct FakeComfyUiOptions {
  using WsWriteHook = std::function<void(std::string_view sid, bool binary, std::string_view frame)>;

  std::string host = "127.0.0.1";
  uint16_t port = 0;            // 0 picks a free port
  int ddcolor_ms = 50;          // simulated DDColor_Colorize run time
  int node_ms = 0;              // every other simulated node, except AuditProbeSlow's own delays
  // Directory holding http.json (served as /system_stats and /object_info); empty: built-in
  // entries only.
  std::string captures_dir;
  // Epoch milliseconds for event timestamps; default: the system clock.
  std::function<int64_t()> now_ms;
  // Benchmark hook (not ComfyUI): called on the fake's I/O thread when the write of a WebSocket
  // frame to the socket of client `sid` starts. Must be quick and must not call into the fake.
  WsWriteHook on_ws_write;
};

class FakeComfyUi {
 public:
  // Binds and starts the I/O thread and the prompt worker. Unavailable when the port cannot be
  // bound.
  static Result<std::unique_ptr<FakeComfyUi>> Start(FakeComfyUiOptions options);
  virtual ~FakeComfyUi() = default;

  virtual uint16_t port() const = 0;
  // Prompts queued or running.
  virtual size_t queue_remaining() const = 0;
  // Blocks until the queue is empty and the worker idle, or `timeout_ms` passes; false on timeout.
  virtual bool WaitIdle(int timeout_ms) const = 0;
  // Stops accepting, interrupts the running prompt, closes every connection, joins the threads.
  virtual void Stop() = 0;
};

}  // namespace tokenaudit::comfy::testing

#endif  // TOKENAUDIT_TEST_COMFY_FAKE_COMFYUI_H_
