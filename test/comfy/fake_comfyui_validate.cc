// The fake ComfyUI's POST /prompt: validation as ComfyUI's execution.py validate_prompt /
// validate_inputs does it (protocol.md §3), and queueing of the accepted prompt. The worker that
// runs it is in fake_comfyui_run.cc.

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "src/util/json_string.h"
#include "test/comfy/fake_comfyui_state.h"

namespace tokenaudit::comfy::testing {
namespace {

// An absent optional JSON field keeps the default it was initialised with.
void IgnoreAbsent(simdjson::error_code) {}

namespace dom = simdjson::dom;

std::string Q(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

// Python's repr of a float as json.dumps writes it (7.5, -3.0).
std::string PyFloat(double d) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", d);
  std::string s = buf;
  for (int precision = 1; precision <= 17; ++precision) {  // shortest that round-trips
    std::snprintf(buf, sizeof(buf), "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) {
      s = buf;
      break;
    }
  }
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string ErrorJson(std::string_view type, std::string_view message, std::string_view details,
                      std::string_view extra_info) {
  return "{\"type\":" + Q(type) + ",\"message\":" + Q(message) + ",\"details\":" + Q(details) +
         ",\"extra_info\":" + std::string(extra_info) + "}";
}

// A class as its object_info describes it.
struct ClassSpec {
  struct Input {
    std::string name;
    std::string type;          // "INT", "IMAGE", ...; empty for a combo
    std::string combo_json;    // the options list, when a combo
    std::vector<std::string> combo;  // string options
    std::string config_json;   // [type, options or {}], as validation errors show it
    std::optional<double> min, max;
  };
  std::vector<Input> required;
  std::vector<std::string> outputs;
  bool output_node = false;
};

ClassSpec ParseSpec(const std::string& info_json) {
  ClassSpec spec;
  dom::parser p;
  dom::element info = p.parse(simdjson::padded_string(info_json)).value_unsafe();
  IgnoreAbsent(info["output_node"].get_bool().get(spec.output_node));
  dom::array outputs;
  if (info["output"].get_array().get(outputs) == simdjson::SUCCESS) {
    for (dom::element o : outputs) {
      std::string_view t;
      spec.outputs.push_back(o.get_string().get(t) == simdjson::SUCCESS ? std::string(t) : "");
    }
  }
  dom::array order;
  if (info["input_order"]["required"].get_array().get(order) != simdjson::SUCCESS) return spec;
  for (dom::element n : order) {
    ClassSpec::Input in;
    in.name = std::string(n.get_string().value_unsafe());
    dom::array def = info["input"]["required"][in.name].get_array().value_unsafe();
    dom::element head = def.at(0).value_unsafe();
    std::string options = "{}";
    dom::object opts;
    if (def.size() > 1 && def.at(1).get_object().get(opts) == simdjson::SUCCESS) {
      options = simdjson::minify(opts);
      double d = 0;
      if (opts["min"].get_double().get(d) == simdjson::SUCCESS) in.min = d;
      if (opts["max"].get_double().get(d) == simdjson::SUCCESS) in.max = d;
    }
    if (head.is_array()) {
      in.combo_json = simdjson::minify(head);
      dom::array options_list = head.get_array().value_unsafe();
      for (dom::element c : options_list) {
        std::string_view s;
        if (c.get_string().get(s) == simdjson::SUCCESS) in.combo.emplace_back(s);
      }
    } else {
      in.type = std::string(head.get_string().value_unsafe());
    }
    in.config_json = "[" + simdjson::minify(head) + "," + options + "]";
    spec.required.push_back(std::move(in));
  }
  return spec;
}

std::string PyListRepr(const std::vector<std::string>& items) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ", '" : "'") + items[i] + "'";
  return s + "]";
}


}  // namespace


// Returns the response body; *http_status is 200, 400 or 500. On 200 `item` is filled.
std::string FakeState::Validate(const std::string& body, QueueItem* item, int* http_status) {
  *http_status = 400;
  dom::parser p;
  dom::element root;
  dom::object obj;
  if (p.parse(simdjson::padded_string(body)).get(root) != simdjson::SUCCESS ||
      root.get_object().get(obj) != simdjson::SUCCESS) {
    *http_status = 500;  // `await request.json()` is not guarded
    return "500 Internal Server Error\n\nServer got itself in trouble";
  }
  // The queue number is taken before validation, so refused prompts use one up too.
  double number = 0;
  bool front = false;
  if (obj.at_key("number").get_double().get(number) == simdjson::SUCCESS) {
    item->number = number;
    item->number_json = PyFloat(number);
  } else {
    IgnoreAbsent(obj.at_key("front").get_bool().get(front));
    MutexLock l(&mu_);
    const int64_t n = front ? -counter_ : counter_;
    ++counter_;
    item->number = static_cast<double>(n);
    item->number_json = std::to_string(n);
  }
  dom::element prompt_el;
  dom::object prompt;
  if (obj.at_key("prompt").get(prompt_el) != simdjson::SUCCESS ||
      prompt_el.get_object().get(prompt) != simdjson::SUCCESS) {
    return "{\"error\":" + ErrorJson("no_prompt", "No prompt provided", "No prompt provided", "{}") +
           ",\"node_errors\":{}}";
  }
  std::vector<std::string> partial;
  dom::array targets;
  const bool has_partial =
      obj.at_key("partial_execution_targets").get_array().get(targets) == simdjson::SUCCESS;
  if (has_partial) {
    for (dom::element t : targets) {
      std::string_view s;
      if (t.get_string().get(s) == simdjson::SUCCESS) partial.emplace_back(s);
    }
  }
  // Nodes, classes and outputs (validate_prompt's first loop).
  std::map<std::string, ClassSpec> specs;
  std::map<std::string, dom::object> nodes;
  std::vector<std::string> order, outputs;
  for (auto [id_view, node_el] : prompt) {
    const std::string id(id_view);
    dom::object node;
    std::string_view cls;
    const auto invalid = [&](const std::string& message) {
      return "{\"error\":" + ErrorJson("invalid_prompt", message, "Node ID '#" + id + "'", "{}") +
             ",\"node_errors\":{}}";
    };
    if (node_el.get_object().get(node) != simdjson::SUCCESS ||
        node.at_key("class_type").get_string().get(cls) != simdjson::SUCCESS) {
      return invalid("Cannot execute because a node is missing the class_type property.");
    }
    const std::string info = ObjectInfoOf(std::string(cls));
    if (info.empty()) {
      return invalid("Cannot execute because node " + std::string(cls) + " does not exist.");
    }
    specs[id] = ParseSpec(info);
    nodes[id] = node;
    order.push_back(id);
    if (specs[id].output_node &&
        (!has_partial || std::find(partial.begin(), partial.end(), id) != partial.end())) {
      outputs.push_back(id);
    }
  }
  if (outputs.empty()) {
    return "{\"error\":" + ErrorJson("prompt_no_outputs", "Prompt has no outputs", "", "{}") +
           ",\"node_errors\":{}}";
  }
  // validate_inputs, memoised per node: (valid, errors).
  std::map<std::string, std::pair<bool, std::vector<std::string>>> validated;
  std::function<bool(const std::string&)> validate = [&](const std::string& id) -> bool {
    if (auto it = validated.find(id); it != validated.end()) return it->second.first;
    validated[id] = {true, {}};  // a cycle ends here
    std::vector<std::string> errors;
    bool valid = true;
    const std::string cls(nodes[id].at_key("class_type").get_string().value_unsafe());
    dom::object inputs;
    const bool has_inputs = nodes[id].at_key("inputs").get_object().get(inputs) == simdjson::SUCCESS;
    for (const ClassSpec::Input& in : specs[id].required) {
      dom::element v;
      const std::string input_name = "{\"input_name\":" + Q(in.name);
      if (!has_inputs || inputs.at_key(in.name).get(v) != simdjson::SUCCESS) {
        errors.push_back(ErrorJson("required_input_missing", "Required input is missing", in.name,
                                   input_name + "}"));
        continue;
      }
      const std::string received = simdjson::minify(v);
      dom::array link;
      if (v.get_array().get(link) == simdjson::SUCCESS) {
        std::string_view from;
        int64_t slot = 0;
        if (link.size() != 2 || link.at(0).get_string().get(from) != simdjson::SUCCESS ||
            link.at(1).get_int64().get(slot) != simdjson::SUCCESS) {
          errors.push_back(ErrorJson(
              "bad_linked_input", "Bad linked input, must be a length-2 list of [node_id, slot_index]",
              in.name, input_name + ",\"input_config\":" + in.config_json + ",\"received_value\":" +
                           received + "}"));
          continue;
        }
        auto up = specs.find(std::string(from));
        if (up == specs.end() || slot < 0 || static_cast<size_t>(slot) >= up->second.outputs.size()) {
          errors.push_back(ErrorJson("exception_during_inner_validation",
                                     "Exception when validating inner node", "'" + std::string(from) + "'",
                                     input_name + ",\"input_config\":" + in.config_json + "}"));
          continue;
        }
        const std::string& received_type = up->second.outputs[slot];
        if (received_type != in.type && received_type != "*" && in.type != "*") {
          errors.push_back(ErrorJson(
              "return_type_mismatch", "Return type mismatch between linked nodes",
              in.name + ", received_type(" + received_type + ") mismatch input_type(" + in.type + ")",
              input_name + ",\"input_config\":" + in.config_json + ",\"received_type\":" +
                  Q(received_type) + ",\"linked_node\":" + received + "}"));
          continue;
        }
        if (!validate(std::string(from))) valid = false;
        continue;
      }
      const std::string with_value =
          input_name + ",\"input_config\":" + in.config_json + ",\"received_value\":" + received + "}";
      if (in.type == "INT" || in.type == "FLOAT") {
        double d = 0;
        if (v.get_double().get(d) != simdjson::SUCCESS) {
          errors.push_back(ErrorJson("invalid_input_type",
                                     "Failed to convert an input value to a " + in.type + " value",
                                     in.name + ", " + received, with_value));
          continue;
        }
        const std::string shown = in.type == "INT" ? std::to_string(static_cast<int64_t>(d)) : PyFloat(d);
        auto num = [&](double b) { return in.type == "INT" ? std::to_string(static_cast<int64_t>(b)) : PyFloat(b); };
        if (in.min && d < *in.min) {
          errors.push_back(ErrorJson("value_smaller_than_min",
                                     "Value " + shown + " smaller than min of " + num(*in.min),
                                     in.name, with_value));
        } else if (in.max && d > *in.max) {
          errors.push_back(ErrorJson("value_bigger_than_max",
                                     "Value " + shown + " bigger than max of " + num(*in.max),
                                     in.name, with_value));
        }
      } else if (in.type.empty() && cls != "LoadImage") {  // LoadImage validates its own combo
        std::string_view s;
        const bool listed = v.get_string().get(s) == simdjson::SUCCESS &&
                            std::find(in.combo.begin(), in.combo.end(), s) != in.combo.end();
        if (!listed) {
          std::string shown(s);
          if (!v.is_string()) shown = received;
          errors.push_back(ErrorJson("value_not_in_list", "Value not in list",
                                     in.name + ": '" + shown + "' not in " + PyListRepr(in.combo),
                                     with_value));
        }
      }
      if (cls == "LoadImage" && in.name == "image") {
        std::string_view name;
        IgnoreAbsent(v.get_string().get(name));
        std::string file(name);
        if (file.ends_with(" [input]")) file.resize(file.size() - 8);
        const size_t slash = file.rfind('/');
        const std::string key = "input/" + (slash == std::string::npos ? "/" + file
                                                                        : file.substr(0, slash) + "/" + file.substr(slash + 1));
        bool exists = false;
        {
          MutexLock l(&mu_);
          exists = files_.count(key) > 0;
        }
        if (!exists) {
          errors.push_back(ErrorJson("custom_validation_failed", "Custom validation failed for node",
                                     "image - Invalid image file: " + std::string(name),
                                     input_name + "}"));
        }
      }
    }
    if (!errors.empty()) valid = false;
    validated[id] = {valid, std::move(errors)};
    return valid;
  };
  std::vector<std::string> good;
  std::string details;
  std::map<std::string, std::vector<std::string>> dependents;  // failing node → outputs
  for (const std::string& o : outputs) {
    if (validate(o)) {
      good.push_back(o);
      continue;
    }
    for (const std::string& r : validated[o].second) {  // the output's own reasons
      dom::parser ep;
      dom::element e = ep.parse(simdjson::padded_string(r)).value_unsafe();
      if (!details.empty()) details += "\n";
      details += std::string(e["message"].get_string().value_unsafe()) + ": " +
                 std::string(e["details"].get_string().value_unsafe());
    }
    for (const auto& [id, result] : validated) {
      if (!result.first && !result.second.empty()) dependents[id].push_back(o);
    }
  }
  std::string node_errors = "{";
  for (const std::string& id : order) {
    auto d = dependents.find(id);
    if (d == dependents.end()) continue;
    if (node_errors.size() > 1) node_errors += ",";
    node_errors += Q(id) + ":{\"errors\":[";
    const auto& errs = validated[id].second;
    for (size_t i = 0; i < errs.size(); ++i) node_errors += (i ? "," : "") + errs[i];
    node_errors += "],\"dependent_outputs\":[";
    for (size_t i = 0; i < d->second.size(); ++i) node_errors += (i ? "," : "") + Q(d->second[i]);
    node_errors += "],\"class_type\":" +
                   Q(nodes[id].at_key("class_type").get_string().value_unsafe()) + "}";
  }
  node_errors += "}";
  if (good.empty()) {
    return "{\"error\":" +
           ErrorJson("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                     details, "{}") +
           ",\"node_errors\":" + node_errors + "}";
  }
  // Accepted: the queue item.
  std::string_view s;
  item->prompt_id = obj.at_key("prompt_id").get_string().get(s) == simdjson::SUCCESS
                        ? std::string(s)
                        : RandomHex(8) + "-" + RandomHex(4) + "-4" + RandomHex(3) + "-a" +
                              RandomHex(3) + "-" + RandomHex(12);
  item->prompt_json = simdjson::minify(prompt_el);
  std::string extra = "{}";
  dom::object extra_obj;
  if (obj.at_key("extra_data").get_object().get(extra_obj) == simdjson::SUCCESS) {
    extra = simdjson::minify(extra_obj);
  }
  if (obj.at_key("client_id").get_string().get(s) == simdjson::SUCCESS) {
    item->client_id = std::string(s);
    extra = extra.substr(0, extra.size() - 1) + (extra.size() > 2 ? "," : "") + "\"client_id\":" +
            Q(s) + "}";
  }
  item->extra_data_json = extra;
  item->outputs = good;
  for (const std::string& id : order) {
    FakeNode n;
    n.id = id;
    n.class_type = std::string(nodes[id].at_key("class_type").get_string().value_unsafe());
    dom::object inputs;
    if (nodes[id].at_key("inputs").get_object().get(inputs) == simdjson::SUCCESS) {
      for (auto [name, v] : inputs) {
        FakeInput in;
        in.name = std::string(name);
        in.raw = simdjson::minify(v);
        dom::array link;
        std::string_view from;
        if (v.get_array().get(link) == simdjson::SUCCESS && link.size() == 2 &&
            link.at(0).get_string().get(from) == simdjson::SUCCESS) {
          in.is_link = true;
          in.link_node = std::string(from);
          in.link_slot = link.at(1).get_int64().value_unsafe();
        }
        int64_t i = 0;
        double d = 0;
        bool b = false;
        if (v.get_int64().get(i) == simdjson::SUCCESS) {
          in.int_value = i;
        } else if (v.get_double().get(d) == simdjson::SUCCESS) {
          in.int_value = static_cast<int64_t>(d);
        }
        if (v.get_bool().get(b) == simdjson::SUCCESS) in.bool_value = b;
        if (v.get_string().get(from) == simdjson::SUCCESS) in.string_value = std::string(from);
        n.inputs.push_back(std::move(in));
      }
    }
    item->nodes.push_back(std::move(n));
  }
  *http_status = 200;
  return "{\"prompt_id\":" + Q(item->prompt_id) + ",\"number\":" + item->number_json +
         ",\"node_errors\":" + node_errors + "}";
}

HttpReply FakeState::PostPrompt(const std::string& body) {
  QueueItem item;
  int status = 400;
  std::string reply = Validate(body, &item, &status);
  if (status == 500) return {500, "text/plain; charset=utf-8", reply};
  if (status == 200) {
    {
      MutexLock l(&mu_);
      pending_.push_back(std::move(item));
      std::push_heap(pending_.begin(), pending_.end(),
                     [](const QueueItem& a, const QueueItem& b) { return b < a; });
      BroadcastStatusLocked();  // PromptQueue.put → queue_updated, ordered with the worker's
      cv_.SignalAll();
    }
  }
  return {status, kJsonType, reply};
}

}  // namespace tokenaudit::comfy::testing
