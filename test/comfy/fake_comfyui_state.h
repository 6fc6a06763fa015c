// Internal to the fake ComfyUI (test/comfy/fake_comfyui*.cc): the server state behind the
// routes — queue, history, uploads, output files, cache — the prompt worker, and the events it
// hands to the network side. Nothing outside the fake includes this.

#ifndef TOKENAUDIT_TEST_COMFY_FAKE_COMFYUI_STATE_H_
#define TOKENAUDIT_TEST_COMFY_FAKE_COMFYUI_STATE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/util/mutex.h"
#include "test/comfy/fake_comfyui.h"
#include "tokenaudit/status.h"

namespace tokenaudit::comfy::testing {

inline constexpr const char* kJsonType = "application/json; charset=utf-8";

// A WebSocket frame on its way out, with its addressee (protocol.md §0.2).
struct Event {
  enum class Kind { kText, kBinary, kPreview } kind = Kind::kText;
  std::string data;  // kPreview: the type-1 frame
  std::string preview_with_metadata;  // kPreview: the type-4 frame, for negotiated sockets
  bool broadcast = false;
  std::string sid;  // when !broadcast
};

// Where events go: the network side; Deliver is called from the worker and the io thread, in
// the order the events must be sent.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Deliver(Event e) = 0;
};

struct HttpRequestView {
  std::string method;
  std::string target;  // with query
  std::string path;    // without query and without the /api prefix
  std::string body;
  std::string content_type;
};

struct HttpReply {
  int status = 200;
  std::string content_type = kJsonType;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers = {};
};

std::string StatusFrame(size_t queue_remaining, std::string_view sid);
std::string RandomHex(size_t digits);
std::string PercentDecode(std::string_view s);
// The decoded value of query parameter `name` in `target`, empty when absent.
std::string QueryValue(std::string_view target, std::string_view name);

// One literal or link input of a queued prompt.
struct FakeInput {
  std::string name;
  bool is_link = false;
  std::string link_node;
  int64_t link_slot = 0;
  std::string raw;  // the literal as minified JSON
  std::optional<int64_t> int_value;
  std::optional<bool> bool_value;
  std::optional<std::string> string_value;
};

struct FakeNode {
  std::string id;
  std::string class_type;
  std::vector<FakeInput> inputs;
  const FakeInput* Input(std::string_view name) const {
    for (const FakeInput& in : inputs) {
      if (in.name == name) return &in;
    }
    return nullptr;
  }
};

struct QueueItem {
  std::string number_json;  // as ComfyUI prints it: 3, -7, 7.5
  double number = 0;
  std::string prompt_id;
  std::string prompt_json;      // minified, as received
  std::string extra_data_json;  // with client_id added
  std::string client_id;        // empty: none
  std::vector<std::string> outputs;
  std::vector<FakeNode> nodes;  // prompt order

  bool operator<(const QueueItem& o) const {
    return number != o.number ? number < o.number : prompt_id < o.prompt_id;
  }
};

class FakeState {
 public:
  FakeState(FakeComfyUiOptions options, EventSink* sink);
  ~FakeState() { StopWorker(); }

  Status LoadCaptures();
  void StartWorker();
  void StopWorker();

  size_t QueueRemaining() const;
  bool WaitIdle(int timeout_ms) const;
  // The node the prompt of client `sid` is executing, if one is.
  std::optional<std::string> RunningNodeOf(const std::string& sid) const;
  std::string SystemStatsJson() const { return system_stats_json_; }

  // Every HTTP route but /ws and /system_stats. Called on the io thread.
  HttpReply Handle(const HttpRequestView& req);

 private:
  HttpReply PostPrompt(const std::string& body);
  HttpReply GetHistory(const HttpRequestView& req);
  HttpReply PostHistory(const std::string& body);
  HttpReply GetQueue();
  HttpReply PostQueue(const std::string& body);
  HttpReply PostInterrupt(const std::string& body);
  HttpReply PostUpload(const HttpRequestView& req);
  HttpReply GetView(const HttpRequestView& req);
  HttpReply GetObjectInfo(const std::string& path);
  HttpReply PostFailNext(const std::string& body);
  HttpReply PostText(const std::string& body);

  // fake_comfyui_validate.cc (PostPrompt is there too)
  std::string Validate(const std::string& body, QueueItem* item, int* http_status);
  // fake_comfyui_run.cc
  void WorkerLoop();
  void RunPrompt(const QueueItem& item);

  void Broadcast(std::string data) { sink_->Deliver({Event::Kind::kText, std::move(data), "", true, ""}); }
  // Status frames are queued while mu_ is held, so their order is the order of the queue
  // changes they report.
  void BroadcastStatusLocked() TA_REQUIRES(mu_) {
    Broadcast(StatusFrame(pending_.size() + (running_ ? 1 : 0), ""));
  }
  int64_t NowMs() const;
  std::string ObjectInfoOf(const std::string& class_type) const;

  const FakeComfyUiOptions options_;
  EventSink* const sink_;  // the Server owning this state; outlives it
  std::map<std::string, std::string> object_info_;  // class_type → its object_info JSON
  std::string system_stats_json_;

  mutable Mutex mu_;
  mutable CondVar cv_;
  std::vector<QueueItem> pending_ GUARDED_BY(mu_);
  std::optional<QueueItem> running_ GUARDED_BY(mu_);
  std::string running_node_ GUARDED_BY(mu_);
  bool interrupt_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  int64_t counter_ GUARDED_BY(mu_) = 0;
  // history: insertion order kept by the vector, entries by id
  std::vector<std::string> history_order_ GUARDED_BY(mu_);
  std::map<std::string, std::string> history_ GUARDED_BY(mu_);
  // files by "<type>/<subfolder>/<name>" (subfolder may be empty)
  std::map<std::string, std::string> files_ GUARDED_BY(mu_);
  // classic cache: node signature → the UI output JSON it gave ("" for none)
  std::map<std::string, std::string> cache_ GUARDED_BY(mu_);
  std::map<std::string, int> output_counters_ GUARDED_BY(mu_);
  struct Failure {
    std::string exception_type;
    std::string exception_message;
  };
  std::map<std::string, Failure> fail_next_ GUARDED_BY(mu_);  // by class_type
  std::thread worker_;
};

}  // namespace tokenaudit::comfy::testing

#endif  // TOKENAUDIT_TEST_COMFY_FAKE_COMFYUI_STATE_H_
