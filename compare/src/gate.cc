// The gate file: YAML read with yaml-cpp. A mistake in a release gate must not pass silently, so
// unknown keys are errors and every error names the file, line and column.

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

#include "twin/compare/compare.h"

namespace twin::compare {
namespace {

struct GateError : std::runtime_error {
  GateError(const YAML::Mark& mark, const std::string& message)
      : std::runtime_error(message), line(mark.line), column(mark.column) {}
  int line;
  int column;
};

[[noreturn]] void fail_at(const YAML::Node& node, const std::string& message) {
  throw GateError(node.Mark(), message);
}

std::string scalar(const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) fail_at(node, what + " must be a single value");
  return node.Scalar();
}

double real(const YAML::Node& node, const std::string& what, double min, double max) {
  std::string text = scalar(node, what);
  double value = 0;
  size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    fail_at(node, what + " must be a number");
  }
  if (used != text.size() || !std::isfinite(value)) fail_at(node, what + " must be a number");
  if (value < min || value > max) {
    std::ostringstream m;
    m << what << " must be between " << min << " and " << max;
    fail_at(node, m.str());
  }
  return value;
}

// "10%" → 0.10; a plain number is already a share ("0.1").
double share(const YAML::Node& node, const std::string& what, double max = 1e6) {
  std::string text = scalar(node, what);
  bool percent = !text.empty() && text.back() == '%';
  if (percent) text.pop_back();
  double value = 0;
  size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    fail_at(node, what + " must be a share such as 10% or 0.1");
  }
  if (used != text.size() || !std::isfinite(value) || value < 0) {
    fail_at(node, what + " must be a share such as 10% or 0.1");
  }
  if (percent) value /= 100;
  if (value > max) {
    std::ostringstream m;
    m << what << " must be at most " << max * 100 << "%";
    fail_at(node, m.str());
  }
  return value;
}

uint64_t count(const YAML::Node& node, const std::string& what, uint64_t min, uint64_t max) {
  std::string text = scalar(node, what);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
    fail_at(node, what + " must be a whole number");
  }
  errno = 0;
  unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
  if (errno != 0 || value < min || value > max) {
    fail_at(node, what + " must be between " + std::to_string(min) + " and " + std::to_string(max));
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

// "100ms", "2s", "500us", or a number of seconds.
int64_t duration_ns(const YAML::Node& node, const std::string& what, double min_ns = 1e6) {
  std::string text = scalar(node, what);
  double unit = 1e9;
  auto ends = [&](const char* suffix) {
    std::string s(suffix);
    if (text.size() > s.size() && text.compare(text.size() - s.size(), s.size(), s) == 0) {
      text.resize(text.size() - s.size());
      return true;
    }
    return false;
  };
  if (ends("ms")) {
    unit = 1e6;
  } else if (ends("us")) {
    unit = 1e3;
  } else if (ends("s")) {
    unit = 1e9;
  }
  double value = 0;
  size_t used = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    fail_at(node, what + " must be a duration such as 100ms or 1s");
  }
  if (used != text.size() || !std::isfinite(value) || value * unit < min_ns ||
      value * unit > 3.6e12) {
    fail_at(node, what + (min_ns > 0 ? " must be a duration between 1ms and 1h"
                                     : " must be a duration between 0 and 1h"));
  }
  return static_cast<int64_t>(value * unit);
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

void check_map(const YAML::Node& node, const std::set<std::string>& known,
               const std::string& what) {
  if (!node.IsMap()) fail_at(node, what + " must be a mapping");
  for (const auto& kv : node) {
    const auto& name = kv.first.Scalar();
    if (!known.count(name)) {
      std::string names;
      for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
      fail_at(kv.first, "unknown key '" + name + "' in " + what + " (known: " + names + ")");
    }
  }
}

// "p99" → 0.99, "p99.9" → 0.999, "p50" → 0.5.
double quantile_named(const YAML::Node& key) {
  const std::string& name = key.Scalar();
  if (name.size() < 2 || name[0] != 'p') fail_at(key, "a quantile is named like p50, p99, p99.9");
  std::string digits = name.substr(1);
  double value = 0;
  size_t used = 0;
  try {
    value = std::stod(digits, &used);
  } catch (const std::exception&) {
    fail_at(key, "a quantile is named like p50, p99, p99.9");
  }
  if (used != digits.size() || !(value > 0 && value < 100)) {
    fail_at(key, "a quantile is named like p50, p99, p99.9 (between p0 and p100, exclusive)");
  }
  return value / 100;
}

void parse_latency(const YAML::Node& node, Gate& gate) {
  check_map(node, {"gated", "quantiles", "min_blocks", "block", "max_blocks", "resamples", "seed"},
            "latency");
  if (node["gated"]) gate.latency_gated = boolean(node["gated"], "latency.gated");
  if (auto qs = node["quantiles"]) {
    if (!qs.IsMap()) fail_at(qs, "latency.quantiles must be a mapping such as {p99: 10%}");
    gate.quantiles.clear();
    for (const auto& kv : qs) {
      Gate::Quantile q;
      q.name = kv.first.Scalar();
      q.q = quantile_named(kv.first);
      // Enough values above the quantile to estimate it: ten.
      q.min_count = static_cast<uint64_t>(std::ceil(10 / (1 - q.q) - 1e-6));
      q.min_effect = 0.10;
      q.min_delta_ms = 0.5;
      const std::string what = "latency.quantiles." + q.name;
      if (kv.second.IsScalar()) {
        q.min_effect = share(kv.second, what);
      } else {
        check_map(kv.second, {"min_effect", "min_delta", "min_count"}, what);
        if (kv.second["min_effect"])
          q.min_effect = share(kv.second["min_effect"], what + ".min_effect");
        if (kv.second["min_delta"]) {
          q.min_delta_ms =
              static_cast<double>(duration_ns(kv.second["min_delta"], what + ".min_delta", 0)) /
              1e6;
        }
        if (kv.second["min_count"]) {
          q.min_count = count(kv.second["min_count"], what + ".min_count", 1, 1'000'000'000);
        }
      }
      gate.quantiles.push_back(q);
    }
    if (gate.quantiles.empty()) fail_at(qs, "latency.quantiles must name at least one quantile");
  }
  if (node["min_blocks"])
    gate.min_blocks = count(node["min_blocks"], "latency.min_blocks", 2, 1000);
  if (node["block"]) gate.block_ns = duration_ns(node["block"], "latency.block");
  if (node["max_blocks"])
    gate.max_blocks = count(node["max_blocks"], "latency.max_blocks", 8, 4096);
  if (node["resamples"]) {
    gate.resamples = static_cast<int>(count(node["resamples"], "latency.resamples", 100, 100000));
  }
  if (node["seed"]) gate.seed = count(node["seed"], "latency.seed", 0, UINT64_MAX);
}

void parse_routes(const YAML::Node& node, Gate& gate) {
  check_map(node, {"max_literals", "max_templates", "overrides", "skip"}, "routes");
  if (node["max_literals"]) {
    gate.routes.max_literals = count(node["max_literals"], "routes.max_literals", 1, 1'000'000);
  }
  if (node["max_templates"]) {
    gate.routes.max_templates = count(node["max_templates"], "routes.max_templates", 1, 1'000'000);
  }
  if (auto overrides = node["overrides"]) {
    if (!overrides.IsSequence()) fail_at(overrides, "routes.overrides must be a list");
    for (const auto& item : overrides) {
      RouteOverride o;
      if (item.IsScalar()) {
        o.pattern = item.Scalar();
      } else {
        check_map(item, {"method", "pattern", "route"}, "a routes.overrides item");
        if (!item["pattern"]) fail_at(item, "a routes.overrides item needs a pattern");
        o.pattern = scalar(item["pattern"], "routes.overrides pattern");
        if (item["method"]) o.method = scalar(item["method"], "routes.overrides method");
        if (item["route"]) o.route = scalar(item["route"], "routes.overrides route");
      }
      if (o.pattern.empty() || o.pattern[0] != '/') {
        fail_at(item, "a route pattern starts with '/'");
      }
      gate.routes.overrides.push_back(std::move(o));
    }
  }
  if (node["skip"]) {
    for (auto& s : list(node["skip"], "routes.skip")) {
      auto space = s.find(' ');
      if (space == std::string::npos || s.size() <= space + 1 || s[space + 1] != '/') {
        fail_at(node["skip"], "a routes.skip item is 'METHOD /pattern' (METHOD may be *)");
      }
      gate.skip.push_back(std::move(s));
    }
  }
}

Gate parse_root(const YAML::Node& root, const std::string& source) {
  Gate gate;
  if (!root || root.IsNull()) return gate;
  check_map(root, {"alpha", "latency", "errors", "status", "diffs", "routes"}, "the gate");
  if (root["alpha"]) gate.alpha = real(root["alpha"], "alpha", 1e-6, 0.5);
  if (root["latency"]) parse_latency(root["latency"], gate);
  if (auto e = root["errors"]) {
    check_map(e, {"min_effect", "fail_on_new_class"}, "errors");
    if (e["min_effect"]) gate.error_min_effect = share(e["min_effect"], "errors.min_effect", 1);
    if (e["fail_on_new_class"]) {
      gate.fail_on_new_error_class = boolean(e["fail_on_new_class"], "errors.fail_on_new_class");
    }
  }
  if (auto s = root["status"]) {
    check_map(s, {"min_effect"}, "status");
    if (s["min_effect"]) gate.status_min_effect = share(s["min_effect"], "status.min_effect", 1);
  }
  if (auto d = root["diffs"]) {
    check_map(d,
              {"fail", "headers", "ignore", "max_paths", "noise", "samples", "unordered",
               "protobuf_descriptors"},
              "diffs");
    if (d["fail"]) gate.fail_on_diffs = boolean(d["fail"], "diffs.fail");
    if (d["headers"]) gate.diff.headers = boolean(d["headers"], "diffs.headers");
    if (d["ignore"]) {
      for (auto& path : list(d["ignore"], "diffs.ignore")) {
        if (path.rfind("$", 0) != 0 && path.rfind("header.", 0) != 0) {
          fail_at(d["ignore"], "a diffs.ignore path starts with '$' or 'header.'");
        }
        try {
          DiffOptions one;
          one.ignore.push_back(path);
          ResponseDiffer check(one);  // the differ is the judge of what a pattern may be
        } catch (const std::invalid_argument& e) {
          fail_at(d["ignore"], std::string("diffs.ignore: ") + e.what());
        }
        gate.diff.ignore.push_back(std::move(path));
      }
    }
    if (d["unordered"]) {
      for (auto& path : list(d["unordered"], "diffs.unordered")) {
        if (path.rfind("$", 0) != 0)
          fail_at(d["unordered"], "a diffs.unordered path starts with '$'");
        try {
          DiffOptions one;
          one.unordered.push_back(path);
          ResponseDiffer check(one);
        } catch (const std::invalid_argument& e) {
          fail_at(d["unordered"], std::string("diffs.unordered: ") + e.what());
        }
        gate.diff.unordered.push_back(std::move(path));
      }
    }
    if (auto n = d["protobuf_descriptors"]) {
      if (!n.IsSequence()) fail_at(n, "diffs.protobuf_descriptors must be a list of files");
      // Relative to the gate file's directory (a gate given as text: the working directory).
      std::filesystem::path dir;
      if (source.find('/') != std::string::npos) dir = std::filesystem::path(source).parent_path();
      auto schema = std::make_shared<traffic::ProtobufSchema>();
      for (const auto& item : n) {
        if (!item.IsScalar() || item.Scalar().empty()) fail_at(item, "a descriptor file's name");
        const std::string file = (dir / item.Scalar()).string();
        std::string bytes, error;
        if (!schema->add_file(file, bytes, error)) fail_at(item, file + ": " + error);
      }
      gate.diff.protobuf = std::move(schema);
    }
    if (d["max_paths"]) gate.diff.max_paths = count(d["max_paths"], "diffs.max_paths", 1, 100000);
    if (d["samples"]) gate.noise.samples = count(d["samples"], "diffs.samples", 0, 100);
    if (auto n = d["noise"]) {
      check_map(n, {"relative", "absolute"}, "diffs.noise");
      if (n["relative"]) gate.noise.relative = share(n["relative"], "diffs.noise.relative");
      if (n["absolute"]) gate.noise.absolute = share(n["absolute"], "diffs.noise.absolute", 1);
    }
  }
  if (root["routes"]) parse_routes(root["routes"], gate);
  if (root["latency"] && gate.min_blocks > gate.max_blocks / 2) {
    // Blocks merge pairwise when a run outgrows max_blocks, leaving as few as half of them.
    fail_at(root["latency"], "latency.min_blocks must be at most half of latency.max_blocks (" +
                                 std::to_string(gate.max_blocks / 2) + ")");
  }
  return gate;
}

}  // namespace

Result<Gate> parse_gate(const std::string& text, const std::string& name) {
  try {
    return parse_root(YAML::Load(text), name);
  } catch (const GateError& e) {
    return fail(name + ":" + std::to_string(e.line + 1) + ":" + std::to_string(e.column + 1) +
                ": " + e.what());
  } catch (const YAML::Exception& e) {
    return fail(name + ":" + std::to_string(e.mark.line + 1) + ":" +
                std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

Result<Gate> load_gate(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path + ": cannot open the gate file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(path + ": cannot read the gate file");
  return parse_gate(text.str(), path);
}

}  // namespace twin::compare
