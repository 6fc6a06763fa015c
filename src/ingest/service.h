// The HTTP API of `tokenaudit serve` (doc/http_api.md): routing, authentication and roles
// (DESIGN §5), ingest, reads, proofs, health and metrics. Runs on the HTTP server's I/O threads
// and never blocks them on the ledger: appends complete through AppendAsync callbacks.

#ifndef TOKENAUDIT_INGEST_SERVICE_H_
#define TOKENAUDIT_INGEST_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "src/auth/key_store.h"
#include "src/auth/pseudonymizer.h"
#include "src/http/http_message.h"
#include "src/ingest/cost_table.h"
#include "src/ingest/dedup_index.h"
#include "src/ingest/enricher.h"
#include "src/metrics/metrics.h"
#include "src/query/usage_params.h"
#include "src/query/usage_store.h"
#include "src/record/record_json.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::ingest {

struct ServiceOptions {
  std::string default_tenant = "default";
  record::ParseLimits limits;
  uint32_t max_record_bytes = 1u << 20;
  // Where the query engine keeps its sealed column chunks (DATA_DIR/columns); empty: in memory
  // only, rebuilt from the log at every start.
  std::string columns_dir;
};

class Service final : public http::HttpHandler {
 public:
  // Borrowed pointers; all must outlive the Service.
  Service(Ledger* ledger, auth::KeyStore* keys, const auth::Pseudonymizer* pseudonymizer,
          const CostTable* pricing, metrics::Registry* metrics, ServiceOptions options);

  // Rebuilds the idempotency and event indexes from the log, then marks the service ready.
  // `progress(done, total)` is called now and then.
  Status Rebuild(const std::function<void(uint64_t, uint64_t)>& progress);

  void Handle(http::HttpRequest request, http::Responder respond) override;

  bool ready() const { return ready_.load(); }

  // What Rebuild found, for the startup log.
  struct RebuildReport {
    size_t column_chunks = 0;            // loaded from columns_dir
    size_t column_chunks_discarded = 0;  // damaged, removed, rebuilt from the log
  };
  const RebuildReport& rebuild_report() const { return rebuild_report_; }

 private:
  struct Route;
  struct IngestCall;
  struct ParsedPart;

  // Authenticates the bearer key; on failure responds (401) and returns false.
  bool Authenticate(const http::HttpRequest& req, const http::Responder& respond,
                    auth::Principal* who);
  void PostEvents(const auth::Principal& who, http::HttpRequest req, http::Responder respond);
  // Checks, enriches and encodes one parsed item of a POST into `part`. Thread-safe for
  // different parts.
  void AddItem(const auth::Principal& who, ParsedPart* part, record::ParsedItem& item);
  void GetEvents(const auth::Principal& who, const http::HttpRequest& req,
                 http::Responder respond);
  void GetCheckpoint(const http::HttpRequest& req, http::Responder respond);
  void GetInclusionProof(const auth::Principal& who, const http::HttpRequest& req,
                         http::Responder respond);
  void GetConsistencyProof(const http::HttpRequest& req, http::Responder respond);
  void GetMetrics(http::Responder respond);
  // GET /v1/usage, /v1/top, /v1/duplicates and /v1/anomalies (doc/http_api.md).
  void GetUsage(const auth::Principal& who, const http::HttpRequest& req,
                query::Endpoint endpoint, http::Responder respond);
  // Appends an access record for a read by an admin or auditor, then runs `then` (or answers
  // 503 if the ledger cannot record it: no unaudited reads).
  void AuditRead(const auth::Principal& who, std::string_view what, uint64_t result_count,
                 http::Responder respond, std::function<void()> then);
  // Indexes a stored record (dedup, usage columns). Thread-safe.
  Status IndexStored(uint64_t seq, const UsageRecord& r);
  // The idempotency key of the usage record at `seq`, read back from the log: how the dedup index
  // confirms a tag match.
  Result<DedupIndex::Key> StoredKey(uint64_t seq) const;
  // Finishes a POST's append on an I/O thread: dedup commit or abort, counters, then Finish.
  void CompleteAppend(std::shared_ptr<IngestCall> call);
  // Drops one of the call's outstanding parts; the last one builds and sends the answer.
  void Finish(std::shared_ptr<IngestCall> call);

  Ledger* const ledger_;
  auth::KeyStore* const keys_;
  const auth::Pseudonymizer* const pseudonymizer_;
  const Enricher enricher_;
  const ServiceOptions options_;
  DedupIndex dedup_;
  query::UsageStore usage_;  // the query engine's columns
  std::vector<bool> usage_loaded_;  // seqs the columns held at startup (set by Rebuild)
  RebuildReport rebuild_report_;
  std::atomic<bool> ready_{false};
  // POSTs received and not yet answered: a body is parsed in pieces shared with the other I/O
  // threads only when it is the only one (the others would otherwise pay for the splitting).
  std::atomic<int> posts_in_flight_{0};

  metrics::Registry* const metrics_;
  metrics::Counter* ingested_;
  metrics::Counter* duplicates_;
  metrics::Counter* split_posts_;
  metrics::Counter* access_records_;
  metrics::Histogram* request_batch_;

 public:
  // For the ledger's observers, created before the ledger is opened.
  static void RegisterLedgerMetrics(metrics::Registry* r, LedgerOptions* options);

 private:
  metrics::Counter* Rejected(std::string_view reason);
  Mutex rejected_mu_;
  std::map<std::string, metrics::Counter*, std::less<>> rejected_ GUARDED_BY(rejected_mu_);
};

}  // namespace tokenaudit::ingest

#endif  // TOKENAUDIT_INGEST_SERVICE_H_
