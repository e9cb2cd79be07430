// The pipeline file: YAML read with yaml-cpp into the twin commands of its stages. Unknown keys
// are errors (a misspelt `gate:` must not become a gate that checks nothing), and every error
// names the file, line and column.

#include "pipeline_file.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include "twin/replay/target.h"

namespace twin::cli {
namespace {

namespace fs = std::filesystem;

struct FileError : std::runtime_error {
  FileError(const YAML::Mark& mark, const std::string& message)
      : std::runtime_error(message), line(mark.line), column(mark.column) {}
  int line;
  int column;
};

[[noreturn]] void fail_at(const YAML::Node& node, const std::string& message) {
  throw FileError(node.Mark(), message);
}

class Reader {
 public:
  Reader(Pipeline& p, const GetEnv& env) : p_(p), env_(env) {}

  // A scalar with ${VAR} expanded.
  std::string text(const YAML::Node& node, const std::string& what) {
    if (!node.IsScalar()) fail_at(node, what + " must be a single value");
    auto expanded = expand_env(node.Scalar(), env_);
    if (!expanded) {
      fail_at(node, what + ": environment variable " + expanded.error().message +
                        " is not set (write ${" + expanded.error().message +
                        ":-default} for a default)");
    }
    return *expanded;
  }

  std::string nonempty(const YAML::Node& node, const std::string& what) {
    auto s = text(node, what);
    if (s.empty()) fail_at(node, what + " is empty");
    return s;
  }

  double number(const YAML::Node& node, const std::string& what, double min, double max) {
    std::string s = text(node, what);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end == nullptr || *end != '\0' || !std::isfinite(v))
      fail_at(node, what + " must be a number");
    if (v < min || v > max) {
      fail_at(node, what + " must be between " + trim_number(min) + " and " + trim_number(max));
    }
    return v;
  }

  std::string whole(const YAML::Node& node, const std::string& what, uint64_t max) {
    std::string s = text(node, what);
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos ||
        std::strtoull(s.c_str(), nullptr, 10) > max)
      fail_at(node, what + " must be a whole number up to " + std::to_string(max));
    return std::to_string(std::strtoull(s.c_str(), nullptr, 10));
  }

  bool boolean(const YAML::Node& node, const std::string& what) {
    std::string s = text(node, what);
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    fail_at(node, what + " must be true or false");
  }

  std::vector<std::string> list(const YAML::Node& node, const std::string& what) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(text(node, what));
    } else if (node.IsSequence()) {
      for (const auto& item : node) out.push_back(text(item, what + " item"));
    } else {
      fail_at(node, what + " must be a value or a list of values");
    }
    return out;
  }

  // Keys of a mapping, checked against the allowed set.
  void keys(const YAML::Node& node, const std::string& what, const std::set<std::string>& allowed) {
    if (!node.IsMap()) fail_at(node, what + " must be a mapping (key: value)");
    for (const auto& kv : node) {
      std::string k = kv.first.Scalar();
      if (!allowed.count(k)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail_at(kv.first, "unknown key '" + k + "' in " + what + " (known: " + list + ")");
      }
    }
  }

  // A path given in the file: relative to the file's directory.
  std::string input_path(const YAML::Node& node, const std::string& what) {
    std::string s = nonempty(node, what);
    return fs::path(s).is_absolute() ? s : (fs::path(p_.dir) / s).lexically_normal().string();
  }
  // An output: relative to workdir.
  std::string output_path(const std::string& name) const {
    return fs::path(name).is_absolute() ? name
                                        : (fs::path(p_.workdir) / name).lexically_normal().string();
  }

 private:
  static std::string trim_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  Pipeline& p_;
  const GetEnv& env_;
};

int line_of(const YAML::Node& node) { return node.Mark().line + 1; }

void read_capture(Reader& r, const YAML::Node& node, StageRun& s) {
  r.keys(node, "stages.capture",
         {"interface", "read", "archive", "port", "filter", "duration", "max_exchanges", "max_body",
          "sample", "while", "settle", "args", "output"});
  int sources = !!node["interface"] + !!node["read"] + !!node["archive"];
  if (sources != 1) fail_at(node, "stages.capture needs exactly one of interface, read, archive");
  if (node["archive"]) {
    for (const char* k : {"port", "filter", "duration", "max_exchanges", "max_body", "sample",
                          "while", "settle", "args", "output"}) {
      if (node[k]) fail_at(node[k], std::string(k) + " does not go with capture.archive");
    }
    s.output = r.input_path(node["archive"], "capture.archive");
    return;
  }
  s.args = {"capture"};
  if (node["interface"]) {
    s.live = true;
    s.args.insert(s.args.end(), {"-i", r.nonempty(node["interface"], "capture.interface")});
  } else {
    s.args.insert(s.args.end(), {"-r", r.input_path(node["read"], "capture.read")});
  }
  if (node["port"]) {
    for (const auto& port : r.list(node["port"], "capture.port")) {
      char* end = nullptr;
      long v = std::strtol(port.c_str(), &end, 10);
      if (port.empty() || *end != '\0' || v < 1 || v > 65535)
        fail_at(node["port"], "capture.port must be a port number (1-65535), not '" + port + "'");
      s.args.insert(s.args.end(), {"--port", std::to_string(v)});
    }
  }
  if (node["filter"])
    s.args.insert(s.args.end(), {"-f", r.nonempty(node["filter"], "capture.filter")});
  if (node["duration"]) {
    double d = r.number(node["duration"], "capture.duration", 0, 1e9);
    s.args.insert(s.args.end(), {"--duration", r.text(node["duration"], "")});
    (void)d;
  }
  if (node["max_exchanges"]) {
    s.args.insert(s.args.end(), {"--max-exchanges", r.whole(node["max_exchanges"],
                                                            "capture.max_exchanges", 1ull << 62)});
  }
  if (node["max_body"])
    s.args.insert(s.args.end(), {"--max-body", r.nonempty(node["max_body"], "capture.max_body")});
  if (node["sample"]) {
    r.number(node["sample"], "capture.sample", 1e-9, 1);
    s.args.insert(s.args.end(), {"--sample", r.text(node["sample"], "")});
  }
  if (node["while"]) {
    if (!s.live) fail_at(node["while"], "capture.while goes with a live capture (interface)");
    // Not expanded here: the shell expands ${VAR} from the environment itself, so that a
    // variable's value (a branch name, a token) is never read as shell syntax, and --dry-run
    // shows the command as written, without the secrets it may use.
    if (!node["while"].IsScalar() || node["while"].Scalar().empty())
      fail_at(node["while"], "capture.while must be a command");
    s.while_command = node["while"].Scalar();
  }
  if (node["settle"]) s.settle = r.number(node["settle"], "capture.settle", 0, 600);
  if (s.live && !node["duration"] && !node["max_exchanges"] && !node["while"]) {
    fail_at(node,
            "a live capture needs an end: duration, max_exchanges or while (a command to run "
            "during the capture)");
  }
  if (node["args"]) {
    for (auto& a : r.list(node["args"], "capture.args")) s.args.push_back(a);
  }
  s.output = r.output_path(node["output"] ? r.nonempty(node["output"], "capture.output")
                                          : std::string("capture.twin"));
  s.args.insert(s.args.end(), {"-o", s.output});
}

void read_filter(Reader& r, const YAML::Node& node, StageRun& s) {
  r.keys(node, "stages.filter", {"input", "where", "window", "sample", "sample_seed", "output"});
  s.args = {"filter", s.input};
  if (node["where"]) s.args.insert(s.args.end(), {"--where", r.text(node["where"], "where")});
  if (node["window"])
    s.args.insert(s.args.end(), {"--window", r.nonempty(node["window"], "filter.window")});
  if (node["sample"]) {
    r.number(node["sample"], "filter.sample", 0, 100);
    s.args.insert(s.args.end(), {"--sample", r.text(node["sample"], "")});
  }
  if (node["sample_seed"]) {
    s.args.insert(s.args.end(), {"--sample-seed", r.whole(node["sample_seed"], "filter.sample_seed",
                                                          ~uint64_t{0} >> 1)});
  }
}

void read_scrub(Reader& r, const YAML::Node& node, StageRun& s) {
  r.keys(node, "stages.scrub",
         {"input", "policy", "key_file", "key_env", "ephemeral_key", "report", "output"});
  s.args = {"scrub", s.input};
  if (node["policy"]) {
    std::string policy = r.nonempty(node["policy"], "scrub.policy");
    if (policy != "default")
      s.args.insert(s.args.end(), {"--policy", r.input_path(node["policy"], "scrub.policy")});
  }
  int keys = !!node["key_file"] + !!node["key_env"] +
             (node["ephemeral_key"] && r.boolean(node["ephemeral_key"], "scrub.ephemeral_key"));
  if (keys > 1) fail_at(node, "stages.scrub takes one of key_file, key_env, ephemeral_key");
  if (node["key_file"])
    s.args.insert(s.args.end(), {"--key-file", r.input_path(node["key_file"], "scrub.key_file")});
  if (node["key_env"])
    s.args.insert(s.args.end(), {"--key-env", r.nonempty(node["key_env"], "scrub.key_env")});
  if (node["ephemeral_key"] && r.boolean(node["ephemeral_key"], "scrub.ephemeral_key"))
    s.args.push_back("--ephemeral-key");
  if (node["report"]) {
    s.args.insert(s.args.end(),
                  {"--report", r.output_path(r.nonempty(node["report"], "scrub.report"))});
  }
}

void read_replay(Reader& r, const YAML::Node& node, StageRun& s) {
  r.keys(node, "stages.replay",
         {"input", "targets", "ready", "speed", "rate", "poisson", "max", "connections", "duration",
          "no_order", "insecure", "headers", "args", "summary", "output"});
  s.args = {"replay", s.input};
  const auto& targets = node["targets"];
  if (!targets) fail_at(node, "stages.replay needs targets (name: URL)");
  if (!targets.IsMap() || targets.size() == 0)
    fail_at(targets, "replay.targets must be a mapping of names to URLs");
  std::set<std::string> names;
  size_t i = 0;
  for (const auto& kv : targets) {
    std::string name = kv.first.Scalar();
    std::string url = r.nonempty(kv.second, "replay.targets." + name);
    auto t = replay::parse_target(name + "=" + url, i++);
    if (!t) fail_at(kv.second, "replay.targets." + name + ": " + t.error().message);
    if (!names.insert(t->name).second) fail_at(kv.first, "two targets named '" + name + "'");
    s.args.insert(s.args.end(), {"--target", t->name + "=" + url});
    // The probe goes to the server's root of the target's authority, with twin's scheme kept.
    auto scheme_end = url.find("://");
    s.probes.push_back({t->name, url.substr(0, scheme_end) + "://" + t->authority});
  }
  if (const auto& ready = node["ready"]) {
    r.keys(ready, "replay.ready", {"path", "timeout", "status"});
    std::string path = ready["path"] ? r.nonempty(ready["path"], "replay.ready.path") : "/";
    if (path[0] != '/') fail_at(ready["path"], "replay.ready.path must start with /");
    for (auto& p : s.probes) p.url += path;
    if (ready["timeout"])
      s.ready_timeout = r.number(ready["timeout"], "replay.ready.timeout", 0.1, 3600);
    if (ready["status"]) {
      s.ready_status =
          static_cast<long>(r.number(ready["status"], "replay.ready.status", 100, 599));
    }
  } else {
    for (auto& p : s.probes) p.url += "/";
  }
  int schedules = !!node["speed"] + !!node["rate"] + (node["max"] && r.boolean(node["max"], "max"));
  if (schedules > 1) fail_at(node, "stages.replay takes one of speed, rate, max");
  if (node["speed"]) {
    r.number(node["speed"], "replay.speed", 1e-6, 1e6);
    s.args.insert(s.args.end(), {"--speed", r.text(node["speed"], "")});
  }
  if (node["rate"]) {
    r.number(node["rate"], "replay.rate", 1e-6, 1e9);
    s.args.insert(s.args.end(), {"--rate", r.text(node["rate"], "")});
  }
  if (node["poisson"] && r.boolean(node["poisson"], "replay.poisson")) {
    if (!node["rate"]) fail_at(node["poisson"], "replay.poisson goes with rate");
    s.args.push_back("--poisson");
  }
  if (node["max"] && r.boolean(node["max"], "replay.max")) s.args.push_back("--max");
  if (node["connections"]) {
    if (!node["max"]) fail_at(node["connections"], "replay.connections goes with max: true");
    s.args.insert(s.args.end(),
                  {"--connections", r.whole(node["connections"], "replay.connections", 1000000)});
  }
  if (node["duration"]) {
    r.number(node["duration"], "replay.duration", 0, 1e9);
    s.args.insert(s.args.end(), {"--duration", r.text(node["duration"], "")});
  }
  if (node["no_order"] && r.boolean(node["no_order"], "replay.no_order"))
    s.args.push_back("--no-order");
  if (node["insecure"] && r.boolean(node["insecure"], "replay.insecure")) {
    s.insecure = true;
    s.args.push_back("--insecure");
  }
  if (node["headers"]) {
    for (const auto& h : r.list(node["headers"], "replay.headers")) {
      if (h.find(':') == std::string::npos || h[0] == ':')
        fail_at(node["headers"], "replay.headers: expected 'Name: value'");
      s.args.insert(s.args.end(), {"--header", h});
    }
  }
  if (node["summary"]) {
    s.args.insert(s.args.end(),
                  {"--summary-json", r.output_path(r.nonempty(node["summary"], "replay.summary"))});
  }
  if (node["args"]) {
    for (auto& a : r.list(node["args"], "replay.args")) s.args.push_back(a);
  }
}

void read_compare(Reader& r, const YAML::Node& node, StageRun& s, const StageRun* replay) {
  r.keys(node, "stages.compare",
         {"input", "baseline", "candidate", "noise", "gate", "reports", "args"});
  std::string baseline =
      node["baseline"] ? r.nonempty(node["baseline"], "compare.baseline") : "baseline";
  std::string candidate =
      node["candidate"] ? r.nonempty(node["candidate"], "compare.candidate") : "candidate";
  std::string noise = node["noise"] ? r.nonempty(node["noise"], "compare.noise") : "";
  if (replay != nullptr && !node["input"]) {
    // The names must be targets of the replay before it (or 'capture').
    auto known = [&](const std::string& n) {
      if (n == "capture") return true;
      for (const auto& p : replay->probes)
        if (p.name == n) return true;
      return false;
    };
    for (const auto& [key, name] : {std::pair<const char*, std::string>{"baseline", baseline},
                                    {"candidate", candidate},
                                    {"noise", noise}}) {
      if (name.empty() || known(name)) continue;
      const YAML::Node& at = node[key] ? node[key] : node;
      fail_at(at,
              std::string("compare.") + key + ": '" + name + "' is not a target of stages.replay");
    }
  }
  s.args = {"compare", s.input, "--baseline", baseline, "--candidate", candidate};
  if (!noise.empty()) s.args.insert(s.args.end(), {"--noise", noise});
  if (node["gate"])
    s.args.insert(s.args.end(), {"--gate", r.input_path(node["gate"], "compare.gate")});
  std::map<std::string, std::string> reports = {{"json", "compare.json"}};
  if (const auto& rep = node["reports"]) {
    r.keys(rep, "compare.reports", {"json", "markdown", "junit", "html"});
    for (const auto& kv : rep)
      reports[kv.first.Scalar()] = r.nonempty(kv.second, "compare.reports." + kv.first.Scalar());
  }
  for (const char* kind : {"json", "markdown", "junit", "html"}) {
    auto it = reports.find(kind);
    if (it == reports.end()) continue;
    std::string path = r.output_path(it->second);
    s.reports.emplace_back(kind, path);
    s.args.insert(s.args.end(), {std::string("--") + kind, path});
  }
  if (node["args"]) {
    for (auto& a : r.list(node["args"], "compare.args")) s.args.push_back(a);
  }
}

void read_notify(Reader& r, const YAML::Node& node, Pipeline& p) {
  if (!node.IsSequence()) fail_at(node, "notify must be a list of webhooks");
  for (const auto& item : node) {
    r.keys(item, "notify item", {"url", "format", "when", "headers"});
    Notify n;
    n.line = line_of(item);
    if (!item["url"]) fail_at(item, "a webhook needs a url");
    n.url = r.nonempty(item["url"], "notify.url");
    if (n.url.rfind("http://", 0) != 0 && n.url.rfind("https://", 0) != 0)
      fail_at(item["url"], "notify.url must be an http:// or https:// URL");
    n.format = item["format"] ? r.nonempty(item["format"], "notify.format") : "json";
    if (n.format != "json" && n.format != "slack" && n.format != "github")
      fail_at(item["format"], "notify.format must be json, slack or github");
    n.when = item["when"] ? r.nonempty(item["when"], "notify.when") : "always";
    if (n.when != "always" && n.when != "failure" && n.when != "regression")
      fail_at(item["when"], "notify.when must be always, failure or regression");
    if (const auto& headers = item["headers"]) {
      if (!headers.IsMap()) fail_at(headers, "notify.headers must be a mapping");
      for (const auto& kv : headers) {
        std::string name = kv.first.Scalar();
        std::string value = r.text(kv.second, "notify.headers." + name);
        if (name.empty() || name.find_first_of(":\r\n ") != std::string::npos ||
            value.find_first_of("\r\n") != std::string::npos)
          fail_at(kv.first, "notify.headers: '" + name + "' is not a valid header");
        n.headers.emplace_back(name, value);
      }
    }
    p.notify.push_back(std::move(n));
  }
}

}  // namespace

std::optional<Stage> parse_stage(std::string_view name) {
  for (size_t i = 0; i < kStageNames.size(); ++i)
    if (kStageNames[i] == name) return static_cast<Stage>(i);
  return std::nullopt;
}

std::optional<std::string> process_env(const std::string& name) {
  const char* v = std::getenv(name.c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

Result<std::string> expand_env(std::string_view text, const GetEnv& env) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '$' || i + 1 >= text.size()) {
      out += c;
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (text[i + 1] != '{') {
      out += c;
      continue;
    }
    size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    std::string_view inner = text.substr(i + 2, close - i - 2);
    std::string name(inner.substr(0, inner.find(":-")));
    std::optional<std::string> fallback;
    if (inner.find(":-") != std::string_view::npos)
      fallback = std::string(inner.substr(inner.find(":-") + 2));
    auto value = env(name);
    if (value && !value->empty()) {
      out += *value;
    } else if (fallback) {
      out += *fallback;
    } else if (value) {
      out += *value;  // set but empty, no default: empty
    } else {
      return fail(name);
    }
    i = close;
  }
  return out;
}

std::string shell_quote(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && a.find_first_not_of(
                                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
                                   "UVWXYZ0123456789-_./=:,+@%") == std::string::npos;
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'')
        out += "'\\''";
      else
        out += c;
    }
    out += '\'';
  }
  return out;
}

Result<Pipeline> load_pipeline(const std::string& path, const std::string& workdir,
                               const GetEnv& env) {
  Pipeline p;
  p.path = path;
  fs::path file(path);
  p.dir = file.has_parent_path() ? file.parent_path().string() : ".";
  p.name = file.stem().string();
  try {
    YAML::Node root;
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
      return fail(path + ": cannot read the pipeline file");
    }
    if (!root.IsMap()) return fail(path + ":1:1: a pipeline file is a mapping with stages:");
    Reader r(p, env);
    r.keys(root, "the pipeline", {"version", "name", "workdir", "stages", "notify"});
    if (root["version"] && r.text(root["version"], "version") != "1")
      fail_at(root["version"], "version must be 1");
    if (root["name"]) p.name = r.nonempty(root["name"], "name");
    if (!workdir.empty()) {
      p.workdir = workdir;
    } else if (root["workdir"]) {
      p.workdir = r.input_path(root["workdir"], "workdir");
    } else {
      p.workdir = (fs::path(p.dir) / "twin-out").lexically_normal().string();
    }
    const auto& stages = root["stages"];
    if (!stages) fail_at(root, "the pipeline has no stages:");
    std::set<std::string> names(kStageNames.begin(), kStageNames.end());
    r.keys(stages, "stages", names);
    if (stages.size() == 0) fail_at(stages, "stages is empty");
    // The order in the file does not matter: stages run in pipeline order.
    std::string previous_output;
    const StageRun* replay = nullptr;
    p.stages.reserve(kStageNames.size());  // `replay` points into it
    for (size_t i = 0; i < kStageNames.size(); ++i) {
      const auto& node = stages[std::string(kStageNames[i])];
      if (!node) continue;
      StageRun s;
      s.stage = static_cast<Stage>(i);
      s.line = line_of(node);
      std::string what = "stages." + std::string(kStageNames[i]);
      if (s.stage != Stage::kCapture) {
        if (node.IsMap() && node["input"]) {
          s.input = r.input_path(node["input"], what + ".input");
        } else if (!previous_output.empty()) {
          s.input = previous_output;
        } else {
          fail_at(node, what + " has no input: add a capture stage or " + what + ".input");
        }
      }
      if (!node.IsMap() &&
          !(node.IsNull() && s.stage != Stage::kCapture && s.stage != Stage::kReplay)) {
        fail_at(node, what + " must be a mapping (key: value)");
      }
      const YAML::Node body = node.IsMap() ? node : YAML::Node(YAML::NodeType::Map);
      switch (s.stage) {
        case Stage::kCapture:
          read_capture(r, body, s);
          break;
        case Stage::kFilter:
          read_filter(r, body, s);
          break;
        case Stage::kScrub:
          read_scrub(r, body, s);
          break;
        case Stage::kReplay:
          read_replay(r, body, s);
          break;
        case Stage::kCompare:
          read_compare(r, body, s, replay);
          break;
      }
      if (s.stage != Stage::kCapture && s.stage != Stage::kCompare) {
        std::string out = body["output"] ? r.nonempty(body["output"], what + ".output")
                                         : std::string(kStageNames[i]) + ".twin";
        s.output = r.output_path(out);
        s.args.insert(s.args.begin() + 2, {"-o", s.output});
      }
      if (s.stage != Stage::kCompare) previous_output = s.output;
      p.stages.push_back(std::move(s));
      if (p.stages.back().stage == Stage::kReplay) replay = &p.stages.back();
    }
    if (const auto& notify = root["notify"]) read_notify(r, notify, p);
  } catch (const FileError& e) {
    return fail(path + ":" + std::to_string(e.line + 1) + ":" + std::to_string(e.column + 1) +
                ": " + e.what());
  } catch (const YAML::Exception& e) {
    return fail(path + ":" + std::to_string(e.mark.line + 1) + ":" +
                std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  return p;
}

}  // namespace twin::cli
