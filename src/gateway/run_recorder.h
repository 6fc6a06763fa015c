// RunRecorder: turns the upstream ComfyUI's execution events for the prompts the gateway
// submitted into usage records (doc/gateway.md, "Record lifecycle"):
//   * one record per recordable node run (a model node of the catalog, or a class_type the
//     catalog does not know): it starts when `executing{node}` is received and ends when the next
//     `executing` or a terminal event (`execution_success|error|interrupted`) is received, both
//     measured on the gateway's clock; status success, or error / interrupted (with error.type)
//     for the node the terminal event names;
//   * nodes listed in `execution_cached` as status cached (no duration);
//   * one summary record per prompt (node_id empty, gen_ai.operation.name "comfyui.prompt") with
//     the outcome, task_type, workflow name and hash; rejected prompts get only this one.
// Record ids are derived from the prompt id and node id (`<prompt_id>/<node_id>`,
// `<prompt_id>/prompt`), so a record produced twice (live and again from /history) carries the
// same id and the ingest idempotency key stores it once; the recorder itself also emits each id
// at most once.
//
// After a gap in the event stream (the upstream WebSocket dropped), Reconcile() finishes a
// prompt from its /history entry: nodes cached, the terminal outcome and its server timestamps;
// recordable nodes that must have run but were never seen get a record without duration.
//
// Not thread-safe: the owner serialises every call (the gateway calls it on its I/O thread).

#ifndef TOKENAUDIT_GATEWAY_RUN_RECORDER_H_
#define TOKENAUDIT_GATEWAY_RUN_RECORDER_H_

#include <cstdint>
#include <functional>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/gateway/comfy_messages.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::gateway {

// A node the gateway records, with what the estimate knew before the run.
struct RecordableNode {
  std::string node_id;
  std::string class_type;
  std::string task_type;
  std::string model;  // gen_ai.request.model; empty when unknown
  std::optional<int64_t> width, height, batch, model_input_size;
  std::string input_hash;  // "sha256:<hex>" or empty
};

// What the gateway knows about a prompt when it submits (or refuses) it.
struct PromptInfo {
  std::string prompt_id;
  std::string tenant;  // the key's tenant; empty: the ingest default
  std::string user;    // the key's user pseudonym
  std::string workflow_name;
  std::string workflow_hash;  // "sha256:<hex>"; empty when it could not be computed
  std::string task_type;      // of the first model node; empty when none
  std::vector<RecordableNode> nodes;  // workflow order
  // Flagged duplicate: the earlier prompt's id; every record of this prompt then has
  // `duplicate_of` = that prompt's record id (`<id>/prompt`).
  std::string duplicate_of;
  int64_t submitted_us = 0;
};

class RunRecorder {
 public:
  using Sink = std::function<void(UsageRecord)>;

  // `source` goes into every record; `sink` receives every record (it must not call back).
  RunRecorder(std::string source, Sink sink);
  RunRecorder(const RunRecorder&) = delete;
  RunRecorder& operator=(const RunRecorder&) = delete;

  // A prompt accepted upstream. `gap`: events may already have been missed (the WebSocket was
  // down at submission), so the prompt is reconciled from /history.
  void Submitted(PromptInfo info, bool gap);
  // A prompt refused before it reached ComfyUI: one summary record, status rejected,
  // error.type `reason`, with the model and input of the first model node.
  void Rejected(const PromptInfo& info, const std::string& reason, int64_t now_us);

  // An upstream text event, received at `now_us`. Events of unknown prompts are ignored. An
  // `executing` without prompt_id (re-sent on reconnect) belongs to the running prompt. Returns
  // true when the prompt ended without an outcome seen (`executing{node: null}` alone): the
  // caller should Reconcile it from /history.
  bool OnEvent(const UpstreamEvent& event, int64_t now_us);

  // The upstream stream had a gap: every active prompt may have missed events.
  void MarkGap();
  // Only `prompt_id` may have missed events (its submission's reply was lost).
  void MarkGap(const std::string& prompt_id);
  // Finishes `prompt_id` from its /history entry if that entry is finished; returns whether the
  // prompt is finished (now or before). A prompt the history does not know is left active.
  bool Reconcile(const std::string& prompt_id, const HistoryOutcome& history, int64_t now_us);
  // Upstream no longer has the prompt (neither queued nor in history: ComfyUI restarted, or the
  // user deleted it from the queue): finish it with `status` and `error_type` and no node run.
  void Lost(const std::string& prompt_id, const std::string& status,
            const std::string& error_type, int64_t now_us);
  // Drops a prompt ComfyUI refused at submission (no run, no record).
  void Forget(const std::string& prompt_id);

  // Prompts submitted and not yet finished, and those of them that had a gap.
  std::vector<std::string> Active() const;
  std::vector<std::string> ActiveWithGap() const;
  // The prompt upstream is running (last execution_start / executing seen), or empty.
  const std::string& running() const { return running_; }
  // The outcome of a finished prompt ("success", "error", "interrupted"); empty while active or
  // unknown.
  std::string Outcome(const std::string& prompt_id) const;

 private:
  struct Open {
    std::string node_id;
    int64_t start_us = 0;
  };
  struct Prompt {
    PromptInfo info;
    bool gap = false;
    bool finished = false;
    std::optional<int64_t> start_us;  // execution_start received
    std::optional<Open> open;
    std::set<std::string> cached;
    std::set<std::string> recorded;  // node ids with a record
    std::string outcome;
  };

  const RecordableNode* FindNode(const Prompt& p, const std::string& node_id) const;
  void EmitNode(Prompt* p, const RecordableNode& node, const std::string& status,
                std::optional<int64_t> start_us, int64_t end_us, const std::string& error_type);
  void CloseOpen(Prompt* p, int64_t end_us, const std::string& status,
                 const std::string& error_type);
  // The terminal outcome: closes the open node, fills unseen nodes after a gap, emits the
  // summary. `failed_node` is the node an error/interrupt names.
  void Finish(Prompt* p, const std::string& status, const std::string& error_type,
              const std::string& failed_node, const std::vector<std::string>& executed,
              int64_t end_us);
  UsageRecord Base(const Prompt& p) const;

  const std::string source_;
  const Sink sink_;
  std::map<std::string, Prompt> prompts_;  // active, and finished until trimmed
  std::deque<std::string> finished_order_;
  std::string running_;
};

// The id of a node's record: `<prompt_id>/<node_id>`; a node id that is not visible ASCII (or
// is long) is replaced by its SHA-256 in hex so the id stays valid (doc/usage_record.md §1).
std::string NodeRecordId(const std::string& prompt_id, const std::string& node_id);
std::string PromptRecordId(const std::string& prompt_id);

}  // namespace tokenaudit::gateway

#endif  // TOKENAUDIT_GATEWAY_RUN_RECORDER_H_
