// Test access to the ComfyUI recordings copied into test/comfy/captures/ (see its README): whole
// files, and the `POST /prompt` bodies of the recorded runs rebuilt from their history entries
// (the queue tuple [number, prompt_id, prompt, extra_data, outputs] holds the prompt and the
// client_id). Header-only, for tests; the including target defines TOKENAUDIT_COMFY_CAPTURES as
// the directory.

#ifndef TOKENAUDIT_TEST_SUPPORT_COMFY_CAPTURES_H_
#define TOKENAUDIT_TEST_SUPPORT_COMFY_CAPTURES_H_

#include <simdjson.h>

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>

namespace tokenaudit::testing {

inline std::string ReadCaptureFile(std::string_view name) {
  std::ifstream in(std::string(TOKENAUDIT_COMFY_CAPTURES) + "/" + std::string(name),
                   std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The recorded prompt of history.json entry `key` ("ddcolor_legacy", ...) and its client_id.
struct CapturedPrompt {
  std::string prompt_id;
  std::string prompt_json;  // API format, minified
  std::string client_id;
  std::string body;  // {"prompt": ..., "client_id": ...} as a client would have sent it
};

inline CapturedPrompt CapturedPromptFromHistory(std::string_view key) {
  static const simdjson::padded_string history(ReadCaptureFile("history.json"));
  static simdjson::dom::parser parser;
  static const simdjson::dom::element root = parser.parse(history).value();
  simdjson::dom::object body = root[key]["body"].get_object().value();
  CapturedPrompt c;
  for (auto field : body) {
    c.prompt_id = std::string(field.key);
    simdjson::dom::array tuple = field.value["prompt"].get_array().value();
    c.prompt_json = simdjson::minify(tuple.at(2).value());
    c.client_id = std::string(tuple.at(3)["client_id"].get_string().value());
  }
  c.body = "{\"prompt\":" + c.prompt_json + ",\"client_id\":\"" + c.client_id + "\"}";
  return c;
}

}  // namespace tokenaudit::testing

#endif  // TOKENAUDIT_TEST_SUPPORT_COMFY_CAPTURES_H_
