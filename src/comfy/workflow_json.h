// Internal to src/comfy's workflow parsing (workflow.cc, workflow_ui.cc): the simdjson-facing
// helpers both formats share. Not part of any public interface; nothing else includes it.

#ifndef TOKENAUDIT_COMFY_WORKFLOW_JSON_H_
#define TOKENAUDIT_COMFY_WORKFLOW_JSON_H_

#include <simdjson.h>

#include <set>
#include <string>
#include <string_view>

#include "src/comfy/node_catalog.h"
#include "src/comfy/workflow.h"
#include "tokenaudit/result.h"

namespace tokenaudit::comfy::internal {

struct ParseContext {
  const NodeCatalog& catalog;
  const WorkflowLimits& limits;
};

// "<path>: <rule>" as InvalidArgument. `path` holds only keys and indexes, never values.
Status Invalid(std::string_view path, std::string_view rule);
// A key for use in a path: cut to 64 bytes.
std::string PathKey(std::string_view key);

// Refuses a second occurrence of `key` in one object (InvalidArgument "<path>.<key>: duplicate
// key") and keys over the string limit.
Status CheckKey(std::set<std::string_view>* seen, std::string_view key, std::string_view path,
                const ParseContext& ctx);

// A literal (non-link) value: strings checked against the limit, objects and arrays and
// integers beyond int64 kept as minified JSON. `wrap_arrays` wraps an array as
// {"__value__": [...]} (UI widget values, protocol.md §4.3).
Result<InputValue> Literal(simdjson::dom::element e, std::string_view path,
                           const ParseContext& ctx, bool wrap_arrays);

// A string field; InvalidArgument "<path>: must be a string" otherwise.
Result<std::string> StringField(simdjson::dom::element e, std::string_view path,
                                const ParseContext& ctx);

// A UI-format workflow (an object with a `nodes` array) converted as protocol.md §4.3 says.
// `path` prefixes every field path ("" or "prompt").
Result<Workflow> ConvertUiWorkflow(simdjson::dom::object root, std::string_view path,
                                   const ParseContext& ctx);

// Every link of `w` points at a node of `w`; InvalidArgument naming the input otherwise.
Status CheckLinks(const Workflow& w, std::string_view path);

}  // namespace tokenaudit::comfy::internal

#endif  // TOKENAUDIT_COMFY_WORKFLOW_JSON_H_
