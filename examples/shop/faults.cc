#include "faults.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "rng.h"

namespace twin::shop {
namespace {

[[noreturn]] void bad(std::string_view flag, std::string_view value, std::string_view why) {
  throw std::invalid_argument("--" + std::string(flag) + " '" + std::string(value) +
                              "': " + std::string(why));
}

double parse_number(std::string_view flag, std::string_view value, std::string_view text, double lo,
                    double hi, std::string_view what) {
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < lo || v > hi) {
    bad(flag, value,
        std::string(what) + " must be a number in [" + std::to_string(static_cast<int>(lo)) + ", " +
            std::to_string(static_cast<int>(hi)) + "], got '" + s + "'");
  }
  return v;
}

// Checks that `route` is a kRoutes entry (or "*" when `star`).
void check_route(std::string_view flag, std::string_view value, const std::string& route,
                 bool star) {
  bool known = star && route == "*";
  for (std::string_view r : kRoutes) known = known || r == route;
  if (!known) {
    std::string list;
    for (std::string_view r : kRoutes) list += (list.empty() ? "" : ", ") + std::string(r);
    bad(flag, value, "unknown route '" + route + "' (routes: " + list + (star ? ", *)" : ")"));
  }
}

// Splits "ROUTE=REST" and checks the route.
std::pair<std::string, std::string> split_rule(std::string_view flag, std::string_view value) {
  size_t eq = value.find('=');
  if (eq == std::string_view::npos) bad(flag, value, "expected ROUTE=VALUE");
  std::string route(value.substr(0, eq));
  check_route(flag, value, route, true);
  return {route, std::string(value.substr(eq + 1))};
}

std::vector<std::string> split_path(std::string_view flag, std::string_view value,
                                    std::string_view field) {
  std::vector<std::string> path;
  size_t start = 0;
  while (true) {
    size_t dot = field.find('.', start);
    std::string part(field.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (part.empty()) bad(flag, value, "empty field name");
    path.push_back(std::move(part));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return path;
}

// Visits the values at `path` below `node`; arrays on the way are entered element by element.
template <typename Fn>
void visit(Json& node, const std::vector<std::string>& path, size_t i, bool create, Fn&& fn) {
  if (node.is_array()) {
    for (Json& e : node) visit(e, path, i, create, fn);
    return;
  }
  if (!node.is_object()) return;
  const std::string& key = path[i];
  if (i + 1 == path.size()) {
    auto it = node.find(key);
    if (it != node.end()) {
      fn(*it, true);
    } else if (create) {
      fn(node[key], false);
    }
    return;
  }
  auto it = node.find(key);
  if (it == node.end()) {
    if (!create) return;
    node[key] = Json::object();
    it = node.find(key);
  }
  visit(*it, path, i + 1, create, fn);
}

}  // namespace

Json changed_value(const Json& v, bool change_type) {
  if (change_type) {
    if (v.is_number() || v.is_boolean()) return v.dump();  // 12.5 -> "12.5"
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end == s.c_str() + s.size()) return d;
      return static_cast<int64_t>(s.size());
    }
    if (v.is_null()) return 0;
    return v.dump();
  }
  if (v.is_number_integer()) return v.get<int64_t>() + 1;
  if (v.is_number_unsigned()) return v.get<uint64_t>() + 1;
  if (v.is_number_float()) {
    double d = v.get<double>();
    return d == 0 ? 1.0 : std::round(d * 110.0) / 100.0;  // +10%, to the cent
  }
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_string()) return "changed-" + v.get<std::string>();
  if (v.is_null()) return "changed";
  if (v.is_array()) {
    Json a = v;
    if (a.empty()) {
      a.push_back(nullptr);
    } else {
      a.erase(a.size() - 1);
    }
    return a;
  }
  return Json::object();
}

Faults Faults::parse(const FaultFlags& flags, uint64_t seed) {
  Faults f;
  f.seed_ = seed;
  auto add = [&f](Kind kind, const std::string& flag, const std::string& route) -> Rule& {
    auto r = std::make_unique<Rule>();
    r->kind = kind;
    r->flag = flag;
    r->route = route;
    f.rules_.push_back(std::move(r));
    return *f.rules_.back();
  };
  for (const std::string& v : flags.latency) {
    auto [route, rest] = split_rule("latency", v);
    Rule& r = add(Kind::kLatency, v, route);
    r.ms = parse_number("latency", v, rest, 0, 600000, "MS");
  }
  for (const std::string& v : flags.tail) {
    auto [route, rest] = split_rule("tail", v);
    size_t colon = rest.find(':');
    if (colon == std::string::npos) bad("tail", v, "expected ROUTE=FRACTION:MS");
    Rule& r = add(Kind::kTail, v, route);
    r.fraction = parse_number("tail", v, rest.substr(0, colon), 0, 1, "FRACTION");
    r.ms = parse_number("tail", v, rest.substr(colon + 1), 0, 600000, "MS");
  }
  for (const std::string& v : flags.error_rate) {
    auto [route, rest] = split_rule("error-rate", v);
    Rule& r = add(Kind::kError, v, route);
    r.fraction = parse_number("error-rate", v, rest, 0, 1, "FRACTION");
  }
  for (const std::string& v : flags.change_field) {
    auto [route, rest] = split_rule("change-field", v);
    bool change_type = false;
    size_t colon = rest.find(':');
    if (colon != std::string::npos) {
      if (rest.substr(colon + 1) != "type") bad("change-field", v, "expected FIELD or FIELD:type");
      change_type = true;
      rest.resize(colon);
    }
    Rule& r = add(Kind::kChangeField, v, route);
    r.path = split_path("change-field", v, rest);
    r.change_type = change_type;
  }
  for (const std::string& v : flags.add_field) {
    auto [route, rest] = split_rule("add-field", v);
    Json value = "new";
    size_t colon = rest.find(':');
    if (colon != std::string::npos) {
      std::string text = rest.substr(colon + 1);
      value = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (value.is_discarded()) value = text;  // not JSON: a string
      rest.resize(colon);
    }
    Rule& r = add(Kind::kAddField, v, route);
    r.path = split_path("add-field", v, rest);
    r.value = std::move(value);
  }
  for (const std::string& v : flags.reorder) {
    auto [route, rest] = split_rule("reorder", v);
    Rule& r = add(Kind::kReorder, v, route);
    r.path = split_path("reorder", v, rest);
  }
  if (!flags.sequence_bug.empty()) {
    const std::string& v = flags.sequence_bug;
    size_t gt = v.find('>');
    if (gt == std::string::npos) bad("sequence-bug", v, "expected FIRST>SECOND (two routes)");
    f.sequence_first_ = v.substr(0, gt);
    f.sequence_second_ = v.substr(gt + 1);
    check_route("sequence-bug", v, f.sequence_first_, false);
    check_route("sequence-bug", v, f.sequence_second_, false);
    f.sequence_flag_ = v;
  }
  return f;
}

Faults::Decision Faults::decide(std::string_view route) {
  Decision d;
  double delay_ms = 0;
  for (size_t i = 0; i < rules_.size(); ++i) {
    Rule& r = *rules_[i];
    if (!r.matches(route)) continue;
    switch (r.kind) {
      case Kind::kLatency:
        delay_ms += r.ms;
        break;
      case Kind::kTail:
      case Kind::kError: {
        uint64_t n = r.counter.fetch_add(1, std::memory_order_relaxed);
        bool hit = unit_hash(seed_, i, n) < r.fraction;
        if (hit && r.kind == Kind::kTail) delay_ms += r.ms;
        if (hit && r.kind == Kind::kError) d.error = true;
        break;
      }
      default:
        break;
    }
  }
  d.delay = std::chrono::microseconds(static_cast<int64_t>(delay_ms * 1000.0));
  return d;
}

void Faults::apply(std::string_view route, Json& body) const {
  for (const auto& rp : rules_) {
    const Rule& r = *rp;
    if (!r.matches(route)) continue;
    if (r.kind == Kind::kChangeField) {
      visit(body, r.path, 0, false, [&r](Json& v, bool) { v = changed_value(v, r.change_type); });
    } else if (r.kind == Kind::kAddField) {
      visit(body, r.path, 0, true, [&r](Json& v, bool existed) {
        if (!existed) v = r.value;
      });
    } else if (r.kind == Kind::kReorder) {
      visit(body, r.path, 0, false, [](Json& v, bool) {
        if (v.is_array()) std::reverse(v.begin(), v.end());
      });
    }
  }
}

bool Faults::changes_fields(std::string_view route) const {
  for (const auto& r : rules_) {
    if ((r->kind == Kind::kChangeField || r->kind == Kind::kAddField ||
         r->kind == Kind::kReorder) &&
        r->matches(route)) {
      return true;
    }
  }
  return false;
}

Json Faults::describe() const {
  static constexpr std::string_view kNames[] = {"latency",      "tail",      "error-rate",
                                                "change-field", "add-field", "reorder"};
  Json out = Json::array();
  for (const auto& r : rules_) {
    out.push_back({{"flag", kNames[static_cast<int>(r->kind)]}, {"value", r->flag}});
  }
  if (!sequence_flag_.empty()) out.push_back({{"flag", "sequence-bug"}, {"value", sequence_flag_}});
  return out;
}

}  // namespace twin::shop
