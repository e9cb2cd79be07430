#include "twin/scrubber/policy.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "default_policy.h"  // generated: kDefaultPolicyYaml
#include "protobuf.h"

namespace twin::scrubber {
namespace {

// A policy mistake: thrown inside the parser only, turned into a Result at the boundary.
struct PolicyError : std::runtime_error {
  PolicyError(const YAML::Mark& mark, const std::string& message)
      : std::runtime_error(message), line(mark.line), column(mark.column) {}
  int line;
  int column;
};

[[noreturn]] void fail_at(const YAML::Node& node, const std::string& message) {
  throw PolicyError(node.Mark(), message);
}

std::string scalar(const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) fail_at(node, what + " must be a single value");
  return node.Scalar();
}

template <typename T>
T number(const YAML::Node& node, const std::string& what, T min, T max) {
  if (!node.IsScalar()) fail_at(node, what + " must be a number");
  T value{};
  if (!YAML::convert<T>::decode(node, value)) fail_at(node, what + " must be a number");
  if (value < min || value > max) {
    std::ostringstream m;
    m << what << " must be between " << min << " and " << max;
    fail_at(node, m.str());
  }
  return value;
}

bool boolean(const YAML::Node& node, const std::string& what) {
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value)) {
    fail_at(node, what + " must be true or false");
  }
  return value;
}

std::vector<std::string> list(const YAML::Node& node, const std::string& what) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (const auto& item : node) out.push_back(scalar(item, what + " item"));
  } else if (!node.IsNull()) {
    fail_at(node, what + " must be a list");
  }
  return out;
}

void check_keys(const YAML::Node& map, const std::set<std::string>& known,
                const std::string& what) {
  for (const auto& kv : map) {
    const auto& name = kv.first.Scalar();
    if (!known.count(name)) {
      std::string list_text;
      for (const auto& k : known) list_text += (list_text.empty() ? "" : ", ") + k;
      fail_at(kv.first, "unknown key '" + name + "' in " + what + " (known: " + list_text + ")");
    }
  }
}

const std::set<std::string> kParamKeys = {"action",     "relative",  "width", "max_days",
                                          "keep_first", "keep_last", "char",  "text",
                                          "tweak",      "entity"};

Action action_named(const YAML::Node& node) {
  auto name = scalar(node, "action");
  auto action = parse_action(name);
  if (!action) {
    fail_at(node, "unknown action '" + name +
                      "' (keep, token, ff1, noise, bucket, shift-date, mask, redact, drop)");
  }
  return *action;
}

// Reads the parameters of an action from a map that may also hold other keys (a rule).
ActionParams params_from(const YAML::Node& map) {
  ActionParams p;
  if (!map["action"]) fail_at(map, "missing 'action'");
  p.action = action_named(map["action"]);
  if (auto n = map["relative"]) p.noise_relative = number<double>(n, "relative", 0.0, 10.0);
  if (auto n = map["width"]) {
    p.bucket_width = number<double>(n, "width", 1e-12, 1e18);
  }
  if (auto n = map["max_days"]) p.shift_max_days = number<int>(n, "max_days", 1, 36500);
  if (auto n = map["keep_first"]) p.mask_keep_first = number<size_t>(n, "keep_first", 0, 1000);
  if (auto n = map["keep_last"]) p.mask_keep_last = number<size_t>(n, "keep_last", 0, 1000);
  if (auto n = map["char"]) {
    auto c = scalar(n, "char");
    if (c.size() != 1) fail_at(n, "char must be one character");
    p.mask_char = c[0];
  }
  if (auto n = map["text"]) p.redact_text = scalar(n, "text");
  if (auto n = map["tweak"]) p.ff1_tweak = scalar(n, "tweak");
  if (auto n = map["entity"]) {
    p.entity = scalar(n, "entity");
    auto s = parse_selector(p.entity);
    if (!s || (s->location != Location::kHeader && s->location != Location::kQuery &&
               s->location != Location::kCookie)) {
      fail_at(n, "entity must be header:NAME, query:NAME or cookie:NAME");
    }
  }
  return p;
}

// An action is either a bare name ("token") or a map ({action: noise, relative: 0.1}).
ActionParams action_spec(const YAML::Node& node, const std::string& what) {
  if (node.IsScalar()) {
    ActionParams p;
    p.action = action_named(node);
    return p;
  }
  if (!node.IsMap()) fail_at(node, what + " must be an action name or a map with 'action'");
  check_keys(node, kParamKeys, what);
  return params_from(node);
}

Selector selector(const YAML::Node& node) {
  auto text = scalar(node, "place");
  auto s = parse_selector(text);
  if (!s) {
    fail_at(node, "'" + text +
                      "' is not a place: use [request.|response.]header:NAME, query:NAME, "
                      "path:INDEX, cookie:NAME, json:KEY.PATH, form:NAME, text or "
                      "address:client|server");
  }
  return *s;
}

std::vector<Selector> selectors(const YAML::Node& node) {
  std::vector<Selector> out;
  if (node.IsScalar()) {
    out.push_back(selector(node));
  } else if (node.IsSequence()) {
    for (const auto& item : node) out.push_back(selector(item));
  } else {
    fail_at(node, "'where' must be a place or a list of places");
  }
  return out;
}

Kind kind_named(const YAML::Node& node) {
  auto name = scalar(node, "kind");
  auto kind = parse_kind(name);
  if (!kind || *kind == Kind::kNone) fail_at(node, "unknown kind '" + name + "'");
  return *kind;
}

bool is_content_kind(Kind k) {
  return k != Kind::kNone && k != Kind::kDob && k != Kind::kName && k != Kind::kAddress &&
         k != Kind::kGeo && k != Kind::kCustom;
}

Policy parse_root(const YAML::Node& root, const std::string& source) {
  Policy policy;
  policy.source = source;
  for (size_t i = 0; i < kKindCount; ++i) policy.by_kind[i].action = Action::kToken;
  policy.by_kind[static_cast<size_t>(Kind::kDob)].action = Action::kShiftDate;
  // Coordinates to about a kilometre (0.01 degree of latitude is 1.1 km), numbers still.
  policy.by_kind[static_cast<size_t>(Kind::kGeo)].action = Action::kBucket;
  policy.by_kind[static_cast<size_t>(Kind::kGeo)].bucket_width = 0.01;
  policy.client_address.action = Action::kToken;
  policy.server_address.action = Action::kToken;

  if (root.IsNull()) return policy;
  if (!root.IsMap()) fail_at(root, "a policy is a map (version, detectors, kinds, rules, ...)");
  check_keys(root,
             {"version", "detectors", "secret", "kinds", "rules", "custom", "allow", "addresses",
              "builtin_rules", "key_names", "token_filenames", "max_decoded_body", "memory",
              "token_scheme", "protobuf_descriptors"},
             "the policy");
  if (auto n = root["version"]) {
    if (number<int>(n, "version", 1, 1000) != 1) fail_at(n, "only policy version 1 is known");
  }
  if (auto n = root["detectors"]) {
    policy.detectors.kinds.clear();
    if (!n.IsSequence()) fail_at(n, "detectors must be a list of kinds");
    for (const auto& item : n) {
      auto k = kind_named(item);
      if (!is_content_kind(k)) {
        fail_at(item, "'" + item.Scalar() +
                          "' is not a content detector (dob, name and address are found by key "
                          "name; custom patterns go under 'custom')");
      }
      policy.detectors.kinds.push_back(k);
    }
  }
  if (auto n = root["secret"]) {
    if (!n.IsMap()) fail_at(n, "secret must be a map");
    check_keys(n, {"min_length", "min_entropy"}, "secret");
    if (auto m = n["min_length"]) {
      policy.detectors.secret_min_length = number<size_t>(m, "min_length", 8, 4096);
    }
    if (auto m = n["min_entropy"]) {
      policy.detectors.secret_min_entropy = number<double>(m, "min_entropy", 1.0, 8.0);
    }
  }
  if (auto n = root["kinds"]) {
    if (!n.IsMap()) fail_at(n, "kinds must be a map from kind to action");
    for (const auto& kv : n) {
      auto k = kind_named(kv.first);
      policy.by_kind[static_cast<size_t>(k)] = action_spec(kv.second, "kinds." + kv.first.Scalar());
    }
  }
  if (auto n = root["rules"]) {
    if (!n.IsSequence()) fail_at(n, "rules must be a list");
    for (const auto& item : n) {
      if (!item.IsMap()) fail_at(item, "a rule is a map with 'where' and 'action'");
      auto keys = kParamKeys;
      keys.insert({"name", "where", "kind"});
      check_keys(item, keys, "a rule");
      Rule rule;
      rule.line = item.Mark().line + 1;
      if (auto m = item["name"]) rule.name = scalar(m, "name");
      if (!item["where"]) fail_at(item, "a rule needs 'where'");
      rule.where = selectors(item["where"]);
      if (auto m = item["kind"]) rule.kind = kind_named(m);
      rule.action = params_from(item);
      if (rule.name.empty()) rule.name = "rule at line " + std::to_string(rule.line);
      policy.rules.push_back(std::move(rule));
    }
  }
  if (auto n = root["custom"]) {
    if (!n.IsSequence()) fail_at(n, "custom must be a list of {name, regex, action}");
    for (const auto& item : n) {
      if (!item.IsMap()) fail_at(item, "a custom pattern is a map with 'name', 'regex', 'action'");
      auto keys = kParamKeys;
      keys.insert({"name", "regex"});
      check_keys(item, keys, "a custom pattern");
      if (!item["regex"]) fail_at(item, "a custom pattern needs 'regex'");
      auto regex = scalar(item["regex"], "regex");
      if (regex.empty()) fail_at(item["regex"], "regex must not be empty");
      std::string name = item["name"] ? scalar(item["name"], "name")
                                      : "custom " + std::to_string(policy.custom_names.size());
      ActionParams p;
      if (item["action"]) {
        p = params_from(item);
      } else {
        p = policy.by_kind[static_cast<size_t>(Kind::kCustom)];
      }
      policy.detectors.custom.push_back(regex);
      policy.custom_names.push_back(name);
      policy.custom_actions.push_back(p);
    }
  }
  if (auto n = root["allow"]) {
    if (!n.IsMap()) fail_at(n, "allow must be a map with 'where' and/or 'values'");
    check_keys(n, {"where", "values"}, "allow");
    if (auto m = n["where"]) {
      if (!m.IsNull()) policy.allow_where = selectors(m);
    }
    if (auto m = n["values"]) policy.detectors.allow = list(m, "allow.values");
  }
  if (auto n = root["addresses"]) {
    if (!n.IsMap()) fail_at(n, "addresses must be a map with 'client' and/or 'server'");
    check_keys(n, {"client", "server"}, "addresses");
    if (auto m = n["client"]) policy.client_address = action_spec(m, "addresses.client");
    if (auto m = n["server"]) policy.server_address = action_spec(m, "addresses.server");
  }
  if (auto n = root["builtin_rules"]) policy.builtin_rules = boolean(n, "builtin_rules");
  if (auto n = root["key_names"]) policy.key_names = boolean(n, "key_names");
  if (auto n = root["token_filenames"]) policy.token_filenames = boolean(n, "token_filenames");
  if (auto n = root["max_decoded_body"]) {
    policy.max_decoded_body = number<size_t>(n, "max_decoded_body", 1024, size_t{1} << 34);
  }
  if (auto n = root["token_scheme"]) policy.token_scheme = number<int>(n, "token_scheme", 1, 3);
  if (auto n = root["protobuf_descriptors"]) {
    if (!n.IsSequence()) fail_at(n, "protobuf_descriptors must be a list of files");
    // Relative to the policy file's directory (a policy given as text: the working directory).
    std::filesystem::path dir;
    if (source.find('/') != std::string::npos) dir = std::filesystem::path(source).parent_path();
    ProtobufSchema schema;
    for (const auto& item : n) {
      if (!item.IsScalar() || item.Scalar().empty()) fail_at(item, "a descriptor file's name");
      const std::string file = (dir / item.Scalar()).string();
      std::string bytes, error;
      if (!schema.add_file(file, bytes, error)) fail_at(item, file + ": " + error);
      policy.protobuf_descriptors.emplace_back(file, std::move(bytes));
    }
  }
  if (auto n = root["memory"]) {
    if (!n.IsMap()) fail_at(n, "memory must be a map");
    check_keys(n, {"values", "min_length"}, "memory");
    if (auto m = n["values"]) {
      policy.memory_values = number<size_t>(m, "memory.values", 0, size_t{1} << 28);
    }
    if (auto m = n["min_length"]) {
      policy.memory_min_length = number<size_t>(m, "memory.min_length", 1, 4096);
    }
  }
  return policy;
}

bool fold_eq(char a, char b) {
  return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
}

}  // namespace

std::string_view to_string(Location location) {
  switch (location) {
    case Location::kHeader:
      return "header";
    case Location::kQuery:
      return "query";
    case Location::kPath:
      return "path";
    case Location::kCookie:
      return "cookie";
    case Location::kJson:
      return "json";
    case Location::kForm:
      return "form";
    case Location::kText:
      return "text";
    case Location::kAddress:
      return "address";
    case Location::kXml:
      return "xml";
    case Location::kCsv:
      return "csv";
    case Location::kYaml:
      return "yaml";
    case Location::kProtobuf:
      return "protobuf";
    case Location::kThrift:
      return "thrift";
  }
  return "?";
}

std::optional<Selector> parse_selector(std::string_view text) {
  Selector s;
  if (text.starts_with("request.")) {
    s.side = Side::kRequest;
    text.remove_prefix(8);
  } else if (text.starts_with("response.")) {
    s.side = Side::kResponse;
    text.remove_prefix(9);
  }
  auto colon = text.find(':');
  std::string_view loc = text.substr(0, colon);
  std::string_view pattern = colon == std::string_view::npos ? "*" : text.substr(colon + 1);
  bool found = false;
  for (size_t i = 0; i < kLocationCount; ++i) {
    if (to_string(static_cast<Location>(i)) == loc) {
      s.location = static_cast<Location>(i);
      found = true;
    }
  }
  if (!found || pattern.empty()) return std::nullopt;
  if (s.location == Location::kAddress && pattern != "client" && pattern != "server" &&
      pattern != "*") {
    return std::nullopt;
  }
  if (s.location == Location::kText && pattern != "*") return std::nullopt;
  s.pattern = std::string(pattern);
  return s;
}

bool glob_match(std::string_view p, std::string_view t, bool fold) {
  // Iterative matcher with backtracking over the last '*' / '**'. '*' stops at '.', '**' does
  // not; "**." also matches nothing, so "**.password" matches "password" at the root.
  size_t pi = 0, ti = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  bool star_deep = false;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      bool deep = pi + 1 < p.size() && p[pi + 1] == '*';
      star_deep = deep;
      star_p = pi + (deep ? 2 : 1);
      star_t = ti;
      pi = star_p;
      if (deep && pi < p.size() && p[pi] == '.') {
        // "**." may match an empty run of segments: try that first.
        if (glob_match(p.substr(pi + 1), t.substr(ti), fold)) return true;
      }
      continue;
    }
    if (pi < p.size() && (p[pi] == '?' || (fold ? fold_eq(p[pi], t[ti]) : p[pi] == t[ti]))) {
      ++pi;
      ++ti;
      continue;
    }
    if (star_p != std::string_view::npos && (star_deep || t[star_t] != '.')) {
      ++star_t;
      ti = star_t;
      pi = star_p;
      continue;
    }
    return false;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

Result<Policy> parse_policy(std::string_view yaml, const std::string& source) {
  try {
    auto root = YAML::Load(std::string(yaml));
    return parse_root(root, source);
  } catch (const PolicyError& e) {
    return fail(source + ":" + std::to_string(e.line + 1) + ":" + std::to_string(e.column + 1) +
                ": " + e.what());
  } catch (const YAML::Exception& e) {
    return fail(source + ":" + std::to_string(e.mark.line + 1) + ":" +
                std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

Result<Policy> load_policy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path + ": cannot open the policy file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(path + ": cannot read the policy file");
  return parse_policy(text.str(), path);
}

std::string_view default_policy_text() { return kDefaultPolicyYaml; }

const Policy& default_policy() {
  static const Policy policy = [] {
    auto p = parse_policy(kDefaultPolicyYaml, "built-in default policy");
    if (!p) throw std::logic_error(p.error().message);
    return *p;
  }();
  return policy;
}

}  // namespace twin::scrubber
