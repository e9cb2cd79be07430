// The report writers. Every writer takes the same Report and shows routes in the same order:
// regressed first, then warnings, then the rest in the comparator's order (by count).
//
// Text from the traffic (route templates, methods, diff paths) is untrusted: each writer escapes
// it for its format, and invalid UTF-8 and control characters are replaced or dropped, so that a
// hostile route name can neither break the XML, inject HTML or Markdown, nor drive a terminal.

#include "twin/compare/report.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <vector>

#include "grpc_status.h"
#include "twin/traffic/text.h"

namespace twin::compare {

using traffic::append_utf8;

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "pass";
    case Verdict::kRegressed:
      return "regressed";
    case Verdict::kInsufficient:
      return "insufficient";
    case Verdict::kInfo:
      return "info";
    case Verdict::kWarn:
      return "warn";
  }
  return "unknown";
}

namespace {

// ---------------------------------------------------------------------------------------------
// Shared: ordering, counting, numbers, text.

constexpr size_t kMaxSamplesShown = 5;      // sample ids per finding in text reports
constexpr size_t kMaxMarkdownRows = 50;     // rows of the Markdown summary table
constexpr size_t kMaxMarkdownDetails = 20;  // regressed routes detailed in Markdown
constexpr size_t kMaxHtmlRows = 500;        // rows of the HTML routes table
constexpr size_t kMaxHtmlDetails = 100;     // regressed routes plotted in HTML
constexpr size_t kMaxTerminalFew = 20;      // insufficient routes listed under the table

int rank(Verdict v) {
  switch (v) {
    case Verdict::kRegressed:
      return 0;
    case Verdict::kWarn:
      return 1;
    default:
      return 2;
  }
}

// Regressed first, then warnings, then everything else in the order the comparator gave.
std::vector<const RouteReport*> ordered_routes(const Report& report) {
  std::vector<const RouteReport*> out;
  out.reserve(report.routes.size());
  for (const auto& r : report.routes) out.push_back(&r);
  std::stable_sort(out.begin(), out.end(), [](const RouteReport* a, const RouteReport* b) {
    return rank(a->verdict) < rank(b->verdict);
  });
  return out;
}

struct Tally {
  size_t regressed = 0, warn = 0, insufficient = 0, pass = 0, info = 0;
};

Tally tally(const Report& report) {
  Tally t;
  for (const auto& r : report.routes) {
    switch (r.verdict) {
      case Verdict::kRegressed:
        ++t.regressed;
        break;
      case Verdict::kWarn:
        ++t.warn;
        break;
      case Verdict::kInsufficient:
        ++t.insufficient;
        break;
      case Verdict::kPass:
        ++t.pass;
        break;
      case Verdict::kInfo:
        ++t.info;
        break;
    }
  }
  return t;
}

std::string report_verdict(const Report& report) {
  switch (report.verdict) {
    case Verdict::kRegressed:
      return "REGRESSED";
    case Verdict::kInsufficient:
      return "NOTHING COMPARED";
    default:
      return "PASS";
  }
}

__attribute__((format(printf, 1, 2))) std::string sprint(const char* format, ...) {
  char buf[128];
  va_list args;
  va_start(args, format);
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  if (n < 0) return {};
  if (static_cast<size_t>(n) < sizeof buf) return std::string(buf, static_cast<size_t>(n));
  std::string out(static_cast<size_t>(n) + 1, '\0');
  va_start(args, format);
  std::vsnprintf(out.data(), out.size(), format, args);
  va_end(args);
  out.resize(static_cast<size_t>(n));
  return out;
}

// Milliseconds with three significant digits where it matters: 0.412, 3.21, 41.2, 412, 41234.
std::string fmt_ms(double ms) {
  if (!std::isfinite(ms)) return "-";
  double a = std::fabs(ms);
  if (a == 0) return "0";
  if (a < 1) return sprint("%.3f", ms);
  if (a < 10) return sprint("%.2f", ms);
  if (a < 100) return sprint("%.1f", ms);
  return sprint("%.0f", ms);
}

std::string fmt_ratio(double r) {
  if (!std::isfinite(r)) return "×-";
  return sprint("×%.2f", r);
}

std::string fmt_num2(double v) { return std::isfinite(v) ? sprint("%.2f", v) : "-"; }

// A share in [0, 1] as a percentage: 0%, 0.012%, 0.07%, 1.26%, 12.5%, 100%.
std::string fmt_pct(double share) {
  if (!std::isfinite(share)) return "-";
  double p = share * 100;
  if (p == 0) return "0%";
  if (p < 0.1) return sprint("%.3f%%", p);
  if (p < 10) return sprint("%.2f%%", p);
  if (p < 100) return sprint("%.1f%%", p);
  return sprint("%.0f%%", p);
}

std::string fmt_p(double p) {
  if (!std::isfinite(p)) return "-";
  if (p < 1e-4 && p > 0) return sprint("%.1e", p);
  return sprint("%.2g", p);
}

std::string fmt_effect(double min_effect) {
  if (!std::isfinite(min_effect)) return "-";
  return sprint("%+g%%", min_effect * 100);
}

std::string fmt_count(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

double share(uint64_t count, uint64_t n) {
  return n == 0 ? std::nan("") : static_cast<double>(count) / static_cast<double>(n);
}

// "503", "no response", or a gRPC answer's gRPC status: "grpc UNAVAILABLE".
std::string fmt_status(int status, int grpc) {
  if (status == 200 && grpc >= 0) return "grpc " + std::string(grpc_code_name(grpc));
  return status == 0 ? "no response" : std::to_string(status);
}

std::string fmt_samples(const std::vector<uint64_t>& ids, size_t limit) {
  std::string out;
  for (size_t i = 0; i < ids.size() && i < limit; ++i) {
    if (i > 0) out += ' ';
    out += std::to_string(ids[i]);
  }
  if (ids.size() > limit) out += sprint(" (+%zu)", ids.size() - limit);
  return out;
}

std::string route_label(const RouteReport& r) {
  return r.method.empty() ? r.route : r.method + " " + r.route;
}

const LatencyRow* find_latency(const RouteReport& r, std::string_view name) {
  for (const auto& row : r.latency) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

// The error kind most worth a look on a route: a regressed one, else the highest candidate rate.
const ErrorRow* worst_error(const RouteReport& r) {
  const ErrorRow* best = nullptr;
  for (const auto& e : r.errors) {
    if (e.baseline == 0 && e.candidate == 0 && e.verdict != Verdict::kRegressed) continue;
    if (best == nullptr) {
      best = &e;
      continue;
    }
    bool e_reg = e.verdict == Verdict::kRegressed, b_reg = best->verdict == Verdict::kRegressed;
    if (e_reg != b_reg) {
      if (e_reg) best = &e;
      continue;
    }
    double er = share(e.candidate, e.candidate_n), br = share(best->candidate, best->candidate_n);
    if (std::isfinite(er) && (!std::isfinite(br) || er > br)) best = &e;
  }
  return best;
}

// "12.1→15.3 ×1.26 [1.10,1.41]"
std::string quantile_cell(const LatencyRow* row) {
  if (row == nullptr) return "-";
  return fmt_ms(row->baseline_ms) + "→" + fmt_ms(row->candidate_ms) + " " + fmt_ratio(row->ratio) +
         " [" + fmt_num2(row->low) + "," + fmt_num2(row->high) + "]";
}

std::string error_cell(const RouteReport& r) {
  const ErrorRow* e = worst_error(r);
  if (e == nullptr) return "-";
  return e->kind + " " + fmt_pct(share(e->baseline, e->baseline_n)) + "→" +
         fmt_pct(share(e->candidate, e->candidate_n));
}

size_t diff_findings(const RouteReport& r) {
  size_t n = 0;
  for (const auto& d : r.diffs) n += d.differ > 0 || d.verdict == Verdict::kRegressed ? 1 : 0;
  return n;
}

// UTF-8: calls f(code point) for each character; a byte that does not start a valid, shortest-
// form sequence of a scalar value yields U+FFFD.
template <typename F>
void for_each_code_point(std::string_view s, F f) {
  size_t i = 0;
  while (i < s.size()) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      f(static_cast<char32_t>(b));
      ++i;
      continue;
    }
    size_t len = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 && b <= 0xDF ? 2 : 0;
    if (b >= 0xF5) len = 0;
    char32_t cp = len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (ok && ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
               (cp >= 0xD800 && cp <= 0xDFFF))) {
      ok = false;
    }
    if (!ok) {
      f(char32_t{0xFFFD});
      ++i;
      continue;
    }
    f(cp);
    i += len;
  }
}

bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp < 0xA0); }

// XML 1.0's Char production, less the controls a report never needs (tab and newline are kept
// where `keep_space` allows).
bool xml_allowed(char32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

// For XML and HTML: the five special characters as entities; characters XML 1.0 forbids are
// dropped; in attributes, tab and newlines become character references so that they survive
// attribute-value normalisation.
std::string xml_escape(std::string_view s, bool attribute) {
  std::string out;
  out.reserve(s.size() + 8);
  for_each_code_point(s, [&](char32_t cp) {
    switch (cp) {
      case '&':
        out += "&amp;";
        return;
      case '<':
        out += "&lt;";
        return;
      case '>':
        out += "&gt;";
        return;
      case '"':
        out += "&quot;";
        return;
      case '\'':
        out += "&apos;";
        return;
      default:
        break;
    }
    if (!xml_allowed(cp) || (cp >= 0x7F && cp < 0xA0)) return;
    if (attribute && (cp == 0x9 || cp == 0xA || cp == 0xD)) {
      out += sprint("&#%u;", static_cast<unsigned>(cp));
      return;
    }
    append_utf8(out, cp);
  });
  return out;
}

// HTML text: as XML, plus "://" written as "&#58;//" so that the page's source holds no URL at
// all, even when a route is an absolute-form target such as "GET http://host/x".
std::string html_escape(std::string_view s) {
  std::string out = xml_escape(s, false);
  for (size_t pos = 0; (pos = out.find("://", pos)) != std::string::npos;) {
    out.replace(pos, 1, "&#58;");
    pos += 5;
  }
  return out;
}

// Terminal text: controls (ESC above all) and invalid UTF-8 become '?', so a route name cannot
// move the cursor or recolour the screen.
std::string term_clean(std::string_view s) {
  std::string out;
  for_each_code_point(s, [&](char32_t cp) {
    if (is_control(cp) || cp == 0xFFFD) {
      out += '?';
    } else {
      append_utf8(out, cp);
    }
  });
  return out;
}

// Markdown inline text: every character CommonMark could read as markup is backslash-escaped
// (backslash escapes work for any ASCII punctuation, inside table cells too); controls and
// newlines become spaces.
std::string md_escape(std::string_view s) {
  std::string out;
  for_each_code_point(s, [&](char32_t cp) {
    if (is_control(cp)) {
      out += ' ';
      return;
    }
    switch (cp) {
      case '\\':
      case '`':
      case '*':
      case '_':
      case '[':
      case ']':
      case '<':
      case '>':
      case '|':
      case '~':
      case '&':
      case '#':
      case '!':
      case '$':
        out += '\\';
        break;
      default:
        break;
    }
    append_utf8(out, cp);
  });
  return out;
}

// Characters on a terminal; every code point counts as one column (routes are ASCII in practice,
// and the arrows and signs used here are narrow).
size_t display_width(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

// Cuts to `width` columns at a character boundary; a cut string ends with "…".
std::string truncate(std::string_view s, size_t width) {
  if (display_width(s) <= width) return std::string(s);
  if (width == 0) return {};
  std::string out;
  size_t cols = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    bool starts = (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    if (starts && cols == width - 1) break;
    cols += starts ? 1 : 0;
    out += s[i];
  }
  return out + "…";
}

std::string pad(std::string_view s, size_t width, bool right_align = false) {
  std::string cut = truncate(s, width);
  std::string fill(width - display_width(cut), ' ');
  return right_align ? fill + cut : cut + fill;
}

// ---------------------------------------------------------------------------------------------
// JSON.

nlohmann::ordered_json finite(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json json_route(const RouteReport& r) {
  using J = nlohmann::ordered_json;
  J j = J::object();
  j["method"] = r.method;
  j["route"] = r.route;
  j["count"] = r.count;
  j["verdict"] = to_string(r.verdict);
  J latency = J::object();
  for (const auto& row : r.latency) {
    J l = J::object();
    l["q"] = finite(row.q);
    l["baseline_ms"] = finite(row.baseline_ms);
    l["candidate_ms"] = finite(row.candidate_ms);
    l["ratio"] = finite(row.ratio);
    l["ci"] = J::array({finite(row.low), finite(row.high)});
    l["p_value"] = finite(row.p_value);
    l["q_value"] = finite(row.q_value);
    l["min_effect"] = finite(row.min_effect);
    l["min_delta_ms"] = finite(row.min_delta_ms);
    l["verdict"] = to_string(row.verdict);
    if (!row.note.empty()) l["note"] = row.note;
    latency[row.name] = std::move(l);
  }
  j["latency"] = std::move(latency);
  J errors = J::object();
  for (const auto& e : r.errors) {
    J x = J::object();
    x["baseline"] = e.baseline;
    x["candidate"] = e.candidate;
    x["baseline_n"] = e.baseline_n;
    x["candidate_n"] = e.candidate_n;
    x["baseline_rate"] = finite(share(e.baseline, e.baseline_n));
    x["candidate_rate"] = finite(share(e.candidate, e.candidate_n));
    x["p_value"] = finite(e.p_value);
    x["q_value"] = finite(e.q_value);
    x["new_class"] = e.new_class;
    x["verdict"] = to_string(e.verdict);
    x["samples"] = e.samples;
    errors[e.kind] = std::move(x);
  }
  j["errors"] = std::move(errors);
  J changes = J::array();
  for (const auto& s : r.status_changes) {
    J x = J{{"baseline", s.baseline},
            {"candidate", s.candidate},
            {"count", s.count},
            {"samples", s.samples}};
    if (s.baseline_grpc >= 0) x["baseline_grpc"] = s.baseline_grpc;
    if (s.candidate_grpc >= 0) x["candidate_grpc"] = s.candidate_grpc;
    changes.push_back(std::move(x));
  }
  j["status_changes"] = std::move(changes);
  J diffs = J::array();
  for (const auto& d : r.diffs) {
    J x = J::object();
    x["path"] = d.path;
    x["differ"] = d.differ;
    x["compared"] = d.compared;
    x["rate"] = finite(d.rate);
    x["noise_rate"] = d.noise_rate < 0 ? J(nullptr) : finite(d.noise_rate);
    x["p_value"] = finite(d.p_value);
    x["q_value"] = finite(d.q_value);
    x["verdict"] = to_string(d.verdict);
    x["samples"] = d.samples;
    diffs.push_back(std::move(x));
  }
  j["diffs"] = std::move(diffs);
  j["notes"] = r.notes;
  return j;
}

}  // namespace

nlohmann::ordered_json to_json(const Report& report) {
  using J = nlohmann::ordered_json;
  J j = J::object();
  j["schema_version"] = 1;
  j["verdict"] = to_string(report.verdict);
  j["baseline"] = report.baseline;
  j["candidate"] = report.candidate;
  j["noise"] = report.noise.empty() ? J(nullptr) : J(report.noise);
  j["inputs"] = report.inputs;
  j["gate"] = report.gate;
  j["alpha"] = finite(report.alpha);
  j["latency_gated"] = report.latency_gated;
  j["counters"] = report.counters;
  Tally t = tally(report);
  j["summary"] = J{{"routes", report.routes.size()}, {"regressed", t.regressed}, {"warn", t.warn},
                   {"insufficient", t.insufficient}, {"pass", t.pass},           {"info", t.info}};
  j["overall"] = json_route(report.overall);
  J routes = J::array();
  for (const RouteReport* r : ordered_routes(report)) routes.push_back(json_route(*r));
  j["routes"] = std::move(routes);
  j["notes"] = report.notes;
  return j;
}

// ---------------------------------------------------------------------------------------------
// Terminal table.

namespace {

struct Ansi {
  bool on;
  std::string wrap(std::string_view code, std::string_view s) const {
    if (!on) return std::string(s);
    return "\x1b[" + std::string(code) + "m" + std::string(s) + "\x1b[0m";
  }
};

std::string_view verdict_color(Verdict v) {
  switch (v) {
    case Verdict::kRegressed:
      return "1;31";
    case Verdict::kWarn:
      return "33";
    case Verdict::kInsufficient:
      return "36";
    case Verdict::kPass:
      return "32";
    case Verdict::kInfo:
      return "2";
  }
  return "0";
}

std::string_view term_verdict(Verdict v) {
  switch (v) {
    case Verdict::kRegressed:
      return "REGRESSED";
    case Verdict::kWarn:
      return "warn";
    case Verdict::kInsufficient:
      return "too few";
    case Verdict::kPass:
      return "pass";
    case Verdict::kInfo:
      return "info";
  }
  return "?";
}

// Columns of the table: verdict, route (with its method), count, p50, p99, errors, diffs.
constexpr size_t kColVerdict = 9, kColRoute = 32, kColCount = 9, kColQuantile = 28, kColErrors = 18,
                 kColDiffs = 5;

std::string table_row(const Ansi& ansi, Verdict v, const std::string& verdict_text,
                      const std::string& route, const std::string& count, const std::string& p50,
                      const std::string& p99, const std::string& errors, const std::string& diffs) {
  std::string line = ansi.wrap(verdict_color(v), pad(verdict_text, kColVerdict));
  line += "  " + pad(route, kColRoute) + "  " + pad(count, kColCount, true) + "  " +
          pad(p50, kColQuantile) + "  " + pad(p99, kColQuantile) + "  " + pad(errors, kColErrors) +
          "  " + pad(diffs, kColDiffs, true);
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line + "\n";
}

std::string route_table_row(const Ansi& ansi, const RouteReport& r) {
  return table_row(ansi, r.verdict, std::string(term_verdict(r.verdict)),
                   term_clean(route_label(r)), fmt_count(r.count),
                   quantile_cell(find_latency(r, "p50")), quantile_cell(find_latency(r, "p99")),
                   term_clean(error_cell(r)), std::to_string(diff_findings(r)));
}

// "key 12 · other.key 3", nested objects flattened with dots.
void flatten_counters(const nlohmann::ordered_json& j, const std::string& prefix,
                      std::vector<std::string>& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object()) {
      flatten_counters(*it, key, out);
    } else if (it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0)) {
      out.push_back(key + " " + fmt_count(it->get<uint64_t>()));
    } else if (it->is_string()) {
      out.push_back(key + " " + it->get<std::string>());
    } else {
      out.push_back(key + " " + it->dump());
    }
  }
}

// The findings of one route that are not a plain pass, one per line, indented.
void route_findings(const RouteReport& r, const Ansi& ansi, std::string& out) {
  for (const auto& l : r.latency) {
    if (l.verdict == Verdict::kPass || l.verdict == Verdict::kInfo) continue;
    out += "    latency " + pad(l.name, 6) + fmt_ms(l.baseline_ms) + "→" + fmt_ms(l.candidate_ms) +
           " ms  " + fmt_ratio(l.ratio) + " [" + fmt_num2(l.low) + "," + fmt_num2(l.high) +
           "]  p " + fmt_p(l.p_value) + " q " + fmt_p(l.q_value) + "  gate " +
           fmt_effect(l.min_effect) + "  " +
           ansi.wrap(verdict_color(l.verdict), term_verdict(l.verdict));
    if (!l.note.empty()) out += "  (" + term_clean(l.note) + ")";
    out += "\n";
  }
  for (const auto& e : r.errors) {
    if (e.verdict == Verdict::kPass || e.verdict == Verdict::kInfo) continue;
    out += "    errors " + term_clean(e.kind) + "  " + fmt_count(e.baseline) + "/" +
           fmt_count(e.baseline_n) + " (" + fmt_pct(share(e.baseline, e.baseline_n)) + ") → " +
           fmt_count(e.candidate) + "/" + fmt_count(e.candidate_n) + " (" +
           fmt_pct(share(e.candidate, e.candidate_n)) + ")  p " + fmt_p(e.p_value) + " q " +
           fmt_p(e.q_value) + (e.new_class ? "  new kind" : "") + "  " +
           ansi.wrap(verdict_color(e.verdict), term_verdict(e.verdict));
    if (!e.samples.empty()) out += "  ids " + fmt_samples(e.samples, kMaxSamplesShown);
    out += "\n";
  }
  for (const auto& s : r.status_changes) {
    out += "    status " + fmt_status(s.baseline, s.baseline_grpc) + "→" +
           fmt_status(s.candidate, s.candidate_grpc) + "  " + fmt_count(s.count) + " pairs";
    if (!s.samples.empty()) out += "  ids " + fmt_samples(s.samples, kMaxSamplesShown);
    out += "\n";
  }
  for (const auto& d : r.diffs) {
    if (d.verdict == Verdict::kPass || d.verdict == Verdict::kInfo) continue;
    out += "    diff " + term_clean(d.path) + "  " + fmt_count(d.differ) + "/" +
           fmt_count(d.compared) + " differ (" + fmt_pct(d.rate) + ")";
    if (d.noise_rate >= 0) out += ", noise " + fmt_pct(d.noise_rate);
    out += "  q " + fmt_p(d.q_value);
    out += "  " + ansi.wrap(verdict_color(d.verdict), term_verdict(d.verdict));
    if (!d.samples.empty()) out += "  ids " + fmt_samples(d.samples, kMaxSamplesShown);
    out += "\n";
  }
  for (const auto& n : r.notes) out += "    note: " + term_clean(n) + "\n";
}

}  // namespace

std::string to_table(const Report& report, bool color) {
  Ansi ansi{color};
  Tally t = tally(report);
  std::string out;
  // Header: the verdict first, then who was compared with whom and how much.
  out += "twin compare  " +
         ansi.wrap(report.verdict == Verdict::kPass ? "1;32" : "1;31", report_verdict(report)) +
         "  candidate \"" + term_clean(report.candidate) + "\" vs baseline \"" +
         term_clean(report.baseline) + "\"";
  if (!report.noise.empty()) out += " (noise \"" + term_clean(report.noise) + "\")";
  out += "\n";
  out += "  " + fmt_count(report.overall.count) + " pairs, " + fmt_count(report.routes.size()) +
         " routes: " + std::to_string(t.regressed) + " regressed, " + std::to_string(t.warn) +
         " warn, " + std::to_string(t.insufficient) + " too few, " + std::to_string(t.pass) +
         " pass";
  if (t.info > 0) out += ", " + std::to_string(t.info) + " info";
  out += " · alpha " + sprint("%g", report.alpha) + " · gate " +
         (report.gate.empty() ? std::string("defaults") : term_clean(report.gate)) + "\n";
  if (!report.inputs.empty()) {
    out += "  inputs:";
    for (const auto& in : report.inputs) out += " " + term_clean(in);
    out += "\n";
  }
  std::vector<std::string> counters;
  if (report.counters.is_object()) flatten_counters(report.counters, "", counters);
  if (!counters.empty()) {
    std::string line = "  counters:";
    for (const auto& c : counters) {
      if (display_width(line) + 3 + display_width(c) > 100) {
        out += line + "\n";
        line = "           ";
      } else if (line.back() != ':' && line.back() != ' ') {
        line += " ·";
      }
      line += " " + term_clean(c);
    }
    out += line + "\n";
  }
  if (!report.latency_gated) {
    out += "  latency is shown, not gated: the baseline is captured production\n";
  }
  out += "\n";

  out += table_row(Ansi{false}, Verdict::kPass, "VERDICT", "ROUTE", "COUNT",
                   "P50 ms base→cand ×ratio [CI]", "P99 ms base→cand ×ratio [CI]",
                   "ERRORS base→cand", "DIFFS");
  auto routes = ordered_routes(report);
  for (const RouteReport* r : routes) out += route_table_row(ansi, *r);
  out += std::string(
             kColVerdict + kColRoute + kColCount + 2 * kColQuantile + kColErrors + kColDiffs + 12,
             '-') +
         "\n";
  RouteReport overall = report.overall;
  if (overall.route.empty()) overall.route = "(all)";
  out += route_table_row(ansi, overall);

  // Findings: what failed or needs a look, with the numbers and the ids to look up.
  bool any = false;
  auto heading = [&] {
    if (!any) out += "\nFindings (look an exchange up with `twin cat --origin ID RESULTS`):\n";
    any = true;
  };
  for (const RouteReport* r : routes) {
    if (r->verdict != Verdict::kRegressed && r->verdict != Verdict::kWarn) continue;
    heading();
    out += "  " + ansi.wrap(verdict_color(r->verdict), term_verdict(r->verdict)) + "  " +
           term_clean(route_label(*r)) + "  (" + fmt_count(r->count) + " pairs)\n";
    route_findings(*r, ansi, out);
  }
  if (report.overall.verdict == Verdict::kRegressed || report.overall.verdict == Verdict::kWarn) {
    heading();
    out += "  " + ansi.wrap(verdict_color(report.overall.verdict), term_verdict(overall.verdict)) +
           "  (all)  (" + fmt_count(overall.count) + " pairs)\n";
    route_findings(report.overall, ansi, out);
  }
  size_t few = 0;
  for (const RouteReport* r : routes) {
    if (r->verdict != Verdict::kInsufficient) continue;
    if (few == 0) out += "\nToo few requests to decide:\n";
    if (++few > kMaxTerminalFew) continue;
    std::string why;
    for (const auto& l : r->latency) {
      if (l.verdict == Verdict::kInsufficient && !l.note.empty()) {
        why = l.note;
        break;
      }
    }
    if (why.empty() && !r->notes.empty()) why = r->notes.front();
    out += "  " + term_clean(route_label(*r)) + "  (" + fmt_count(r->count) + " pairs)";
    if (!why.empty()) out += ": " + term_clean(why);
    out += "\n";
  }
  if (few > kMaxTerminalFew) out += sprint("  … %zu more\n", few - kMaxTerminalFew);
  if (!report.notes.empty()) {
    out += "\nNotes:\n";
    for (const auto& n : report.notes) out += "  " + term_clean(n) + "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Markdown.

namespace {

std::string md_quantile(const LatencyRow* row) {
  if (row == nullptr) return "–";
  return fmt_ms(row->baseline_ms) + " → " + fmt_ms(row->candidate_ms) + " (" +
         fmt_ratio(row->ratio) + " [" + fmt_num2(row->low) + ", " + fmt_num2(row->high) + "])";
}

std::string md_verdict(Verdict v) {
  if (v == Verdict::kRegressed) return "**REGRESSED**";
  return std::string(to_string(v));
}

std::string md_samples(const std::vector<uint64_t>& ids) {
  if (ids.empty()) return "";
  return fmt_samples(ids, kMaxSamplesShown);
}

void md_route_details(const RouteReport& r, std::string& out) {
  out += "| check | baseline | candidate | change | p | q | verdict | sample ids |\n";
  out += "|---|---:|---:|---|---:|---:|---|---|\n";
  for (const auto& l : r.latency) {
    out += "| latency " + md_escape(l.name) + " | " + fmt_ms(l.baseline_ms) + " ms | " +
           fmt_ms(l.candidate_ms) + " ms | " + fmt_ratio(l.ratio) + " [" + fmt_num2(l.low) + ", " +
           fmt_num2(l.high) + "], gate " + fmt_effect(l.min_effect);
    if (!l.note.empty()) out += "; " + md_escape(l.note);
    out += " | " + fmt_p(l.p_value) + " | " + fmt_p(l.q_value) + " | " + md_verdict(l.verdict) +
           " | |\n";
  }
  for (const auto& e : r.errors) {
    out += "| errors " + md_escape(e.kind) + " | " + fmt_count(e.baseline) + "/" +
           fmt_count(e.baseline_n) + " (" + fmt_pct(share(e.baseline, e.baseline_n)) + ") | " +
           fmt_count(e.candidate) + "/" + fmt_count(e.candidate_n) + " (" +
           fmt_pct(share(e.candidate, e.candidate_n)) + ") | " + (e.new_class ? "new kind" : "") +
           " | " + fmt_p(e.p_value) + " | " + fmt_p(e.q_value) + " | " + md_verdict(e.verdict) +
           " | " + md_samples(e.samples) + " |\n";
  }
  for (const auto& s : r.status_changes) {
    out += "| status | " + fmt_status(s.baseline, s.baseline_grpc) + " | " +
           fmt_status(s.candidate, s.candidate_grpc) + " | " + fmt_count(s.count) +
           " pairs | | | | " + md_samples(s.samples) + " |\n";
  }
  for (const auto& d : r.diffs) {
    out += "| diff " + md_escape(d.path) + " | | | " + fmt_count(d.differ) + "/" +
           fmt_count(d.compared) + " differ (" + fmt_pct(d.rate) + ")";
    if (d.noise_rate >= 0) out += ", noise " + fmt_pct(d.noise_rate);
    out += " | | | " + md_verdict(d.verdict) + " | " + md_samples(d.samples) + " |\n";
  }
  for (const auto& n : r.notes) out += "\n- " + md_escape(n);
  if (!r.notes.empty()) out += "\n";
}

}  // namespace

std::string to_markdown(const Report& report) {
  Tally t = tally(report);
  std::string out;
  out += "## twin compare: **" + report_verdict(report) + "**\n\n";
  out += "Candidate **" + md_escape(report.candidate) + "** against baseline **" +
         md_escape(report.baseline) + "**";
  if (!report.noise.empty()) out += " (noise target **" + md_escape(report.noise) + "**)";
  out += ": " + fmt_count(report.overall.count) + " paired exchanges on " +
         fmt_count(report.routes.size()) + " routes — " + std::to_string(t.regressed) +
         " regressed, " + std::to_string(t.warn) + " warn, " + std::to_string(t.insufficient) +
         " with too few requests, " + std::to_string(t.pass) + " pass";
  if (t.info > 0) out += ", " + std::to_string(t.info) + " info";
  out += ". False-discovery rate " + sprint("%g", report.alpha) + ", gate " +
         (report.gate.empty() ? std::string("defaults") : md_escape(report.gate)) + ".\n";
  if (!report.latency_gated) {
    out += "\nLatency is shown, not gated: the baseline is captured production.\n";
  }
  out += "\n| verdict | route | count | p50 ms | p99 ms | errors | diffs |\n";
  out += "|---|---|---:|---|---|---|---:|\n";
  auto routes = ordered_routes(report);
  auto row = [&](const RouteReport& r, const std::string& label) {
    out += "| " + md_verdict(r.verdict) + " | " + label + " | " + fmt_count(r.count) + " | " +
           md_quantile(find_latency(r, "p50")) + " | " + md_quantile(find_latency(r, "p99")) +
           " | " + (worst_error(r) == nullptr ? std::string("–") : md_escape(error_cell(r))) +
           " | " + std::to_string(diff_findings(r)) + " |\n";
  };
  for (size_t i = 0; i < routes.size() && i < kMaxMarkdownRows; ++i) {
    row(*routes[i], md_escape(route_label(*routes[i])));
  }
  row(report.overall, "**(all)**");
  if (routes.size() > kMaxMarkdownRows) {
    out += "\n… " + fmt_count(routes.size() - kMaxMarkdownRows) +
           " more routes (all of them are in the JSON and HTML reports).\n";
  }

  size_t detailed = 0, regressed = 0;
  for (const RouteReport* r : routes) {
    if (r->verdict != Verdict::kRegressed) continue;
    ++regressed;
    if (detailed == kMaxMarkdownDetails) continue;
    ++detailed;
    out += "\n### REGRESSED: " + md_escape(route_label(*r)) + "\n\n";
    out += fmt_count(r->count) +
           " paired exchanges. Look an exchange up with `twin cat --origin ID RESULTS`.\n\n";
    md_route_details(*r, out);
  }
  if (regressed > detailed) {
    out += "\n… " + std::to_string(regressed - detailed) + " more regressed routes.\n";
  }
  if (report.overall.verdict == Verdict::kRegressed) {
    out += "\n### REGRESSED: all routes together\n\n";
    md_route_details(report.overall, out);
  }
  size_t warned = 0;
  for (const RouteReport* r : routes) {
    if (r->verdict != Verdict::kWarn || warned >= kMaxMarkdownDetails) continue;
    if (warned++ == 0) out += "\n### Warnings\n";
    out += "\n#### " + md_escape(route_label(*r)) + "\n\n";
    md_route_details(*r, out);
  }
  size_t few = 0;
  for (const RouteReport* r : routes) {
    if (r->verdict != Verdict::kInsufficient) continue;
    if (few == 0) out += "\n### Too few requests to decide\n\n";
    if (++few > kMaxMarkdownDetails) continue;
    out += "- " + md_escape(route_label(*r)) + " (" + fmt_count(r->count) + " pairs)";
    for (const auto& l : r->latency) {
      if (!l.note.empty()) {
        out += ": " + md_escape(l.note);
        break;
      }
    }
    out += "\n";
  }
  if (few > kMaxMarkdownDetails) {
    out += "- … " + std::to_string(few - kMaxMarkdownDetails) + " more\n";
  }
  if (!report.notes.empty()) {
    out += "\n### Notes\n\n";
    for (const auto& n : report.notes) out += "- " + md_escape(n) + "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// JUnit XML.

namespace {

struct Case {
  std::string name;
  Verdict verdict = Verdict::kPass;
  std::string message;  // one line
  std::string details;  // the numbers
};

std::vector<Case> junit_cases(const RouteReport& r) {
  std::vector<Case> cases;
  for (const auto& l : r.latency) {
    Case c{"latency " + l.name, l.verdict, {}, {}};
    c.message = l.name + " " + fmt_ms(l.baseline_ms) + " ms → " + fmt_ms(l.candidate_ms) + " ms (" +
                fmt_ratio(l.ratio) + " [" + fmt_num2(l.low) + ", " + fmt_num2(l.high) + "], gate " +
                fmt_effect(l.min_effect) + ")";
    if (!l.note.empty()) c.message += ": " + l.note;
    c.details = c.message + "\np " + fmt_p(l.p_value) + ", q " + fmt_p(l.q_value) + "\n";
    cases.push_back(std::move(c));
  }
  for (const auto& e : r.errors) {
    Case c{"errors " + e.kind, e.verdict, {}, {}};
    c.message = e.kind + " " + fmt_pct(share(e.baseline, e.baseline_n)) + " → " +
                fmt_pct(share(e.candidate, e.candidate_n)) + (e.new_class ? " (new kind)" : "");
    c.details = e.kind + ": baseline " + fmt_count(e.baseline) + "/" + fmt_count(e.baseline_n) +
                ", candidate " + fmt_count(e.candidate) + "/" + fmt_count(e.candidate_n) + "\np " +
                fmt_p(e.p_value) + ", q " + fmt_p(e.q_value) + "\n";
    if (!e.samples.empty()) c.details += "sample ids: " + fmt_samples(e.samples, 20) + "\n";
    cases.push_back(std::move(c));
  }
  for (const auto& d : r.diffs) {
    Case c{"diff " + d.path, d.verdict == Verdict::kRegressed ? d.verdict : Verdict::kPass, {}, {}};
    c.message = d.path + ": " + fmt_count(d.differ) + "/" + fmt_count(d.compared) + " differ (" +
                fmt_pct(d.rate) + ")";
    if (d.noise_rate >= 0) c.message += ", noise " + fmt_pct(d.noise_rate);
    c.details = c.message + "\n";
    if (!d.samples.empty()) c.details += "sample ids: " + fmt_samples(d.samples, 20) + "\n";
    cases.push_back(std::move(c));
  }
  // A route's verdict must show even when no single check carries it (or there are no checks).
  bool carried = !cases.empty();
  if (r.verdict == Verdict::kRegressed || r.verdict == Verdict::kInsufficient) {
    carried = std::any_of(cases.begin(), cases.end(),
                          [&](const Case& c) { return c.verdict == r.verdict; });
  }
  if (!carried) {
    Case c{"verdict", r.verdict, std::string(to_string(r.verdict)), {}};
    for (const auto& n : r.notes) c.details += n + "\n";
    if (!r.notes.empty()) c.message = r.notes.front();
    cases.push_back(std::move(c));
  }
  return cases;
}

}  // namespace

std::string to_junit(const Report& report) {
  struct Suite {
    std::string name;
    const RouteReport* route;
    std::vector<Case> cases;
    size_t failures = 0, skipped = 0;
  };
  std::vector<Suite> suites;
  auto add = [&](const RouteReport& r, std::string name) {
    Suite s{std::move(name), &r, junit_cases(r), 0, 0};
    for (const auto& c : s.cases) {
      s.failures += c.verdict == Verdict::kRegressed ? 1 : 0;
      s.skipped += c.verdict == Verdict::kInsufficient ? 1 : 0;
    }
    suites.push_back(std::move(s));
  };
  add(report.overall, "(all)");
  if (report.verdict == Verdict::kInsufficient) {
    // Nothing was compared: a CI that reads only the JUnit file must see a failure, not a pass.
    Case c{"nothing compared",
           Verdict::kRegressed,
           "no pair of baseline and candidate answers could be checked",
           {}};
    for (const auto& n : report.notes) c.details += n + "\n";
    suites.back().cases.push_back(std::move(c));
    ++suites.back().failures;
  }
  for (const RouteReport* r : ordered_routes(report)) add(*r, route_label(*r));
  size_t tests = 0, failures = 0, skipped = 0;
  for (const auto& s : suites) {
    tests += s.cases.size();
    failures += s.failures;
    skipped += s.skipped;
  }

  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += sprint(
      "<testsuites name=\"twin compare\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
      "skipped=\"%zu\">\n",
      tests, failures, skipped);
  for (const auto& s : suites) {
    std::string suite = xml_escape(s.name, true);
    out += "  <testsuite name=\"" + suite +
           sprint("\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\">\n",
                  s.cases.size(), s.failures, s.skipped);
    out += "    <properties>\n";
    out +=
        "      <property name=\"baseline\" value=\"" + xml_escape(report.baseline, true) + "\"/>\n";
    out += "      <property name=\"candidate\" value=\"" + xml_escape(report.candidate, true) +
           "\"/>\n";
    out += "      <property name=\"count\" value=\"" + std::to_string(s.route->count) + "\"/>\n";
    out += "      <property name=\"verdict\" value=\"" + std::string(to_string(s.route->verdict)) +
           "\"/>\n";
    out += "    </properties>\n";
    for (const auto& c : s.cases) {
      out += "    <testcase classname=\"twin.compare." + suite + "\" name=\"" +
             xml_escape(c.name, true) + "\" time=\"0\"";
      if (c.verdict == Verdict::kRegressed) {
        out += ">\n      <failure message=\"" + xml_escape(c.message, true) +
               "\" type=\"regression\">" + xml_escape(c.details, false) +
               "</failure>\n    </testcase>\n";
      } else if (c.verdict == Verdict::kInsufficient) {
        out += ">\n      <skipped message=\"" +
               xml_escape(c.message.empty() ? "too few requests" : c.message, true) +
               "\"/>\n    </testcase>\n";
      } else {
        out += "/>\n";
      }
    }
    std::string system_out;
    for (const auto& sc : s.route->status_changes) {
      system_out += "status " + fmt_status(sc.baseline, sc.baseline_grpc) + " -> " +
                    fmt_status(sc.candidate, sc.candidate_grpc) + ": " + fmt_count(sc.count) +
                    " pairs";
      if (!sc.samples.empty()) system_out += ", sample ids " + fmt_samples(sc.samples, 20);
      system_out += "\n";
    }
    for (const auto& n : s.route->notes) system_out += "note: " + n + "\n";
    if (!system_out.empty()) {
      out += "    <system-out>" + xml_escape(system_out, false) + "</system-out>\n";
    }
    out += "  </testsuite>\n";
  }
  out += "</testsuites>\n";
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTML.

namespace {

constexpr const char* kBaseColor = "#0072B2";  // Okabe-Ito blue and vermilion: colour-blind safe
constexpr const char* kCandColor = "#D55E00";
constexpr const char* kGridColor = "#d9d9d9";
constexpr const char* kInkColor = "#333333";

std::string html_verdict(Verdict v) {
  return "<span class=\"v v-" + std::string(to_string(v)) + "\">" +
         (v == Verdict::kRegressed ? std::string("REGRESSED") : std::string(to_string(v))) +
         "</span>";
}

std::string coord(double v) { return sprint("%.1f", v); }

// Round-number ticks for a log axis from lo to hi: 1-2-5 per decade, thinned when the range is
// wide and filled in with 1..9 when it is narrow.
std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> ticks;
  auto collect = [&](std::initializer_list<double> mantissas) {
    ticks.clear();
    for (int k = static_cast<int>(std::floor(std::log10(lo))) - 1;
         k <= static_cast<int>(std::ceil(std::log10(hi))); ++k) {
      for (double m : mantissas) {
        double v = m * std::pow(10.0, k);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push_back(v);
      }
    }
  };
  collect({1, 2, 5});
  if (ticks.size() > 12) collect({1});
  if (ticks.size() < 3) collect({1, 2, 3, 4, 5, 6, 7, 8, 9});
  return ticks;
}

std::string tick_label(double v) { return sprint("%g", v); }

// One panel of a CDF plot: a rectangle of the SVG, a log x range and a linear y range.
struct Panel {
  double x, y, w, h;        // in SVG units
  double llo, lhi;          // log10 of the x range, ms
  double ylo = 0, yhi = 1;  // share range
  double px(double ms) const {
    double lx = std::isfinite(ms) && ms > 0 ? std::log10(ms) : llo;
    return x + (std::clamp(lx, llo, lhi) - llo) / (lhi - llo) * w;
  }
  double py(double share) const {
    return y + (1 - (std::clamp(share, ylo, yhi) - ylo) / (yhi - ylo)) * h;
  }
};

// The log10 x range of the parts of both curves at or above share `ylo`, with a 2 % margin; false
// when there is nothing to draw.
bool x_range(const RouteReport& r, double ylo, double& llo, double& lhi) {
  double lo = INFINITY, hi = -INFINITY;
  for (const Cdf* c : {&r.baseline_cdf, &r.candidate_cdf}) {
    double prev_x = NAN;
    for (const auto& [x, y] : *c) {
      if (!std::isfinite(x) || x <= 0 || !std::isfinite(y)) continue;
      if (y >= ylo) {
        // The curve enters the range between the previous point and this one.
        double from = std::isfinite(prev_x) && ylo > 0 ? prev_x : x;
        lo = std::min(lo, from);
        hi = std::max(hi, x);
      }
      prev_x = x;
    }
  }
  if (!(lo <= hi)) return false;
  if (hi / lo < 1.5) {
    lo /= 1.25;
    hi *= 1.25;
  }
  llo = std::log10(lo);
  lhi = std::log10(hi);
  double span = lhi - llo;
  llo -= span * 0.02;
  lhi += span * 0.02;
  return true;
}

void draw_panel(const Panel& p, const RouteReport& r, const std::vector<const LatencyRow*>& marks,
                std::initializer_list<double> yticks, const std::string& caption,
                const char* path_class_prefix, std::string& out) {
  out += "<rect x=\"" + coord(p.x) + "\" y=\"" + coord(p.y) + "\" width=\"" + coord(p.w) +
         "\" height=\"" + coord(p.h) + "\" fill=\"#ffffff\" stroke=\"" + kGridColor + "\"/>";
  for (double y : yticks) {
    out += "<line x1=\"" + coord(p.x) + "\" x2=\"" + coord(p.x + p.w) + "\" y1=\"" +
           coord(p.py(y)) + "\" y2=\"" + coord(p.py(y)) + "\" stroke=\"" + kGridColor + "\"/>";
    out += "<text x=\"" + coord(p.x - 6) + "\" y=\"" + coord(p.py(y) + 4) +
           "\" text-anchor=\"end\" fill=\"" + kInkColor + "\">" + sprint("%g", y) + "</text>";
  }
  for (double v : log_ticks(std::pow(10.0, p.llo), std::pow(10.0, p.lhi))) {
    out += "<line x1=\"" + coord(p.px(v)) + "\" x2=\"" + coord(p.px(v)) + "\" y1=\"" + coord(p.y) +
           "\" y2=\"" + coord(p.y + p.h) + "\" stroke=\"" + kGridColor + "\"/>";
    out += "<text class=\"xtick\" x=\"" + coord(p.px(v)) + "\" y=\"" + coord(p.y + p.h + 15) +
           "\" text-anchor=\"middle\" fill=\"" + kInkColor + "\">" + tick_label(v) + "</text>";
  }
  out += "<text x=\"" + coord(p.x + p.w / 2) + "\" y=\"" + coord(p.y + p.h + 34) +
         "\" text-anchor=\"middle\" fill=\"" + kInkColor + "\">" + caption + "</text>";
  for (const LatencyRow* m : marks) {
    if (m->q < p.ylo || m->q > p.yhi) continue;
    out += "<line x1=\"" + coord(p.x) + "\" x2=\"" + coord(p.x + p.w) + "\" y1=\"" +
           coord(p.py(m->q)) + "\" y2=\"" + coord(p.py(m->q)) +
           "\" stroke=\"#888888\" stroke-dasharray=\"4 3\"/>";
  }

  // The curves: the part at or above ylo (entering at the interpolated crossing), skipping points
  // closer than half a pixel to the last one drawn.
  auto curve = [&](const Cdf& c, const char* side, const char* color) {
    std::vector<std::pair<double, double>> pts;  // (log10 ms, share)
    for (const auto& [x, y] : c) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      pts.emplace_back(x > 0 ? std::log10(x) : -INFINITY, std::clamp(y, 0.0, 1.0));
    }
    std::sort(pts.begin(), pts.end());
    size_t first = 0;
    while (first < pts.size() && pts[first].second < p.ylo) ++first;
    if (first == pts.size()) return;
    double sx = p.x + (std::clamp(pts[first].first, p.llo, p.lhi) - p.llo) / (p.lhi - p.llo) * p.w;
    if (first > 0 && std::isfinite(pts[first - 1].first)) {
      auto [x0, y0] = pts[first - 1];
      auto [x1, y1] = pts[first];
      double lx = y1 > y0 ? x0 + (x1 - x0) * (p.ylo - y0) / (y1 - y0) : x1;
      sx = p.x + (std::clamp(lx, p.llo, p.lhi) - p.llo) / (p.lhi - p.llo) * p.w;
    }
    double ly = p.py(p.ylo), lxp = sx;
    std::string d = "M" + coord(sx) + "," + coord(ly);
    for (size_t i = first; i < pts.size(); ++i) {
      double X = p.x + (std::clamp(pts[i].first, p.llo, p.lhi) - p.llo) / (p.lhi - p.llo) * p.w;
      double Y = p.py(pts[i].second);
      bool last = i + 1 == pts.size();
      if (!last && std::fabs(X - lxp) < 0.5 && std::fabs(Y - ly) < 0.5) continue;
      d += " L" + coord(X) + "," + coord(Y);
      lxp = X;
      ly = Y;
    }
    out += std::string("<path class=\"") + path_class_prefix + side + "\" d=\"" + d +
           "\" fill=\"none\" stroke=\"" + color +
           "\" stroke-width=\"2\" stroke-linejoin=\"round\"/>";
  };
  curve(r.baseline_cdf, "baseline", kBaseColor);
  curve(r.candidate_cdf, "candidate", kCandColor);

  for (const LatencyRow* m : marks) {
    if (m->q < p.ylo || m->q > p.yhi) continue;
    for (auto [v, color] : {std::pair{m->baseline_ms, kBaseColor}, {m->candidate_ms, kCandColor}}) {
      if (!std::isfinite(v) || v <= 0) continue;
      out += "<circle class=\"mark\" cx=\"" + coord(p.px(v)) + "\" cy=\"" + coord(p.py(m->q)) +
             "\" r=\"4\" fill=\"#ffffff\" stroke=\"" + color + "\" stroke-width=\"2\"/>";
    }
  }
}

// The cumulative distribution of latency of both targets on one route, in two panels: the whole
// distribution (y 0..1) and its tail (y 0.9..1), x in ms on a log scale; p50 and p99 marked on
// both curves.
std::string cdf_svg(const RouteReport& r, const Report& report) {
  constexpr double kW = 940, kH = 330, kL = 52, kT = 14, kB = 50, kPw = 300, kGap = 64;
  constexpr double kPh = kH - kT - kB;
  std::vector<const LatencyRow*> marks;
  for (const char* name : {"p50", "p99"}) {
    if (const LatencyRow* row = find_latency(r, name)) marks.push_back(row);
  }
  std::string out = "<svg class=\"cdf\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + coord(kW) +
                    "\" height=\"" + coord(kH) + "\" viewBox=\"0 0 " + coord(kW) + " " + coord(kH) +
                    "\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">";
  out += "<title>Latency CDF of " + html_escape(route_label(r)) + "</title>";
  double llo = 0, lhi = 0;
  if (!x_range(r, 0, llo, lhi)) {
    out += "<rect x=\"" + coord(kL) + "\" y=\"" + coord(kT) + "\" width=\"" +
           coord(2 * kPw + kGap) + "\" height=\"" + coord(kPh) + "\" fill=\"#ffffff\" stroke=\"" +
           kGridColor + "\"/><text x=\"" + coord(kL + kPw + kGap / 2) + "\" y=\"" +
           coord(kT + kPh / 2) + "\" text-anchor=\"middle\" fill=\"" + kInkColor +
           "\">no latency samples for this route</text></svg>";
    return out;
  }
  Panel whole{kL, kT, kPw, kPh, llo, lhi, 0, 1};
  draw_panel(whole, r, marks, {0.0, 0.25, 0.5, 0.75, 0.9, 1.0}, "latency (ms, log scale)", "cdf-",
             out);
  Panel tail{kL + kPw + kGap, kT, kPw, kPh, llo, lhi, 0.9, 1};
  x_range(r, 0.9, tail.llo, tail.lhi);
  draw_panel(tail, r, marks, {0.9, 0.95, 0.99, 1.0}, "tail: latency (ms, log scale)", "tail-", out);
  out += "<text transform=\"translate(12," + coord(kT + kPh / 2) +
         ") rotate(-90)\" text-anchor=\"middle\" fill=\"" + kInkColor +
         "\">share of requests ≤ x</text>";

  // Legend and the marked values, right of the plots.
  double lx = kL + 2 * kPw + kGap + 16, ly = kT + 12;
  auto legend = [&](const char* color, const std::string& text) {
    out += "<line x1=\"" + coord(lx) + "\" x2=\"" + coord(lx + 22) + "\" y1=\"" + coord(ly - 4) +
           "\" y2=\"" + coord(ly - 4) + "\" stroke=\"" + color + "\" stroke-width=\"3\"/>";
    out += "<text x=\"" + coord(lx + 28) + "\" y=\"" + coord(ly) + "\" fill=\"" + kInkColor +
           "\">" + html_escape(truncate(text, 24)) + "</text>";
    ly += 18;
  };
  legend(kBaseColor, "baseline " + report.baseline);
  legend(kCandColor, "candidate " + report.candidate);
  ly += 8;
  for (const LatencyRow* m : marks) {
    out += "<text class=\"markval\" x=\"" + coord(lx) + "\" y=\"" + coord(ly) + "\" fill=\"" +
           kInkColor + "\"><tspan font-weight=\"bold\">" + html_escape(m->name) + "</tspan> " +
           fmt_ms(m->baseline_ms) + " → " + fmt_ms(m->candidate_ms) + " ms " + fmt_ratio(m->ratio) +
           "</text>";
    ly += 16;
  }
  out += "</svg>";
  return out;
}

// Error rates per kind: a bar for the baseline and one for the candidate.
std::string error_svg(const RouteReport& r) {
  std::vector<const ErrorRow*> rows;
  double max_rate = 0;
  for (const auto& e : r.errors) {
    rows.push_back(&e);
    for (double v : {share(e.baseline, e.baseline_n), share(e.candidate, e.candidate_n)}) {
      if (std::isfinite(v)) max_rate = std::max(max_rate, v);
    }
  }
  if (rows.empty()) return {};
  if (max_rate <= 0) max_rate = 0.01;
  constexpr double kW = 760, kL = 150, kR = 210, kBar = 13, kGap = 12, kT = 8;
  double pw = kW - kL - kR;
  double h = kT + static_cast<double>(rows.size()) * (2 * kBar + kGap) + 10;
  std::string out = "<svg class=\"errors\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
                    coord(kW) + "\" height=\"" + coord(h) + "\" viewBox=\"0 0 " + coord(kW) + " " +
                    coord(h) + "\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">";
  out += "<title>Error rates of " + html_escape(route_label(r)) + "</title>";
  double y = kT;
  for (const ErrorRow* e : rows) {
    bool bad = e->verdict == Verdict::kRegressed;
    out += "<text x=\"" + coord(kL - 8) + "\" y=\"" + coord(y + kBar + 4) +
           "\" text-anchor=\"end\" fill=\"" + (bad ? "#b00020" : kInkColor) + "\"" +
           (bad ? " font-weight=\"bold\"" : "") + ">" + html_escape(truncate(e->kind, 22)) +
           (e->new_class ? " (new)" : "") + "</text>";
    struct Bar {
      uint64_t count, n;
      const char* color;
    };
    for (const Bar& b : {Bar{e->baseline, e->baseline_n, kBaseColor},
                         Bar{e->candidate, e->candidate_n, kCandColor}}) {
      double rate = share(b.count, b.n);
      double w = std::isfinite(rate) ? std::max(rate / max_rate * pw, rate > 0 ? 1.0 : 0.0) : 0;
      out += "<rect class=\"bar\" x=\"" + coord(kL) + "\" y=\"" + coord(y) + "\" width=\"" +
             coord(w) + "\" height=\"" + coord(kBar - 1) + "\" fill=\"" + b.color + "\"/>";
      out += "<text x=\"" + coord(kL + w + 6) + "\" y=\"" + coord(y + kBar - 3) + "\" fill=\"" +
             kInkColor + "\">" + fmt_pct(rate) + " (" + fmt_count(b.count) + "/" + fmt_count(b.n) +
             ")</text>";
      y += kBar;
    }
    y += kGap;
  }
  out += "</svg>";
  return out;
}

std::string html_samples(const std::vector<uint64_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size() && i < 20; ++i) {
    out += (i ? " " : "") + std::string("<code>") + std::to_string(ids[i]) + "</code>";
  }
  if (ids.size() > 20) out += sprint(" (+%zu)", ids.size() - 20);
  return out;
}

void html_latency_table(const RouteReport& r, std::string& out) {
  if (r.latency.empty()) return;
  out +=
      "<table class=\"checks\"><thead><tr><th>quantile</th><th>baseline ms</th>"
      "<th>candidate ms</th><th>ratio</th><th>CI of ratio</th><th>p</th><th>q</th><th>gate</th>"
      "<th>verdict</th><th>note</th></tr></thead><tbody>";
  for (const auto& l : r.latency) {
    out += "<tr><td>" + html_escape(l.name) + "</td><td class=\"n\">" + fmt_ms(l.baseline_ms) +
           "</td><td class=\"n\">" + fmt_ms(l.candidate_ms) + "</td><td class=\"n\">" +
           fmt_ratio(l.ratio) + "</td><td class=\"n\">" + fmt_num2(l.low) + " – " +
           fmt_num2(l.high) + "</td><td class=\"n\">" + fmt_p(l.p_value) + "</td><td class=\"n\">" +
           fmt_p(l.q_value) + "</td><td class=\"n\">" + fmt_effect(l.min_effect) + "</td><td>" +
           html_verdict(l.verdict) + "</td><td>" + html_escape(l.note) + "</td></tr>";
  }
  out += "</tbody></table>";
}

void html_error_table(const RouteReport& r, std::string& out) {
  if (r.errors.empty()) return;
  out +=
      "<table class=\"checks\"><thead><tr><th>error kind</th><th>baseline</th>"
      "<th>candidate</th><th>p</th><th>q</th><th>verdict</th><th>sample ids</th></tr></thead>"
      "<tbody>";
  for (const auto& e : r.errors) {
    out += "<tr><td>" + html_escape(e.kind) + (e.new_class ? " <em>(new kind)</em>" : "") +
           "</td><td class=\"n\">" + fmt_count(e.baseline) + "/" + fmt_count(e.baseline_n) + " (" +
           fmt_pct(share(e.baseline, e.baseline_n)) + ")</td><td class=\"n\">" +
           fmt_count(e.candidate) + "/" + fmt_count(e.candidate_n) + " (" +
           fmt_pct(share(e.candidate, e.candidate_n)) + ")</td><td class=\"n\">" +
           fmt_p(e.p_value) + "</td><td class=\"n\">" + fmt_p(e.q_value) + "</td><td>" +
           html_verdict(e.verdict) + "</td><td>" + html_samples(e.samples) + "</td></tr>";
  }
  out += "</tbody></table>";
}

void html_status_table(const RouteReport& r, std::string& out) {
  if (r.status_changes.empty()) return;
  out +=
      "<table class=\"checks\"><thead><tr><th>baseline status</th><th>candidate status</th>"
      "<th>pairs</th><th>sample ids</th></tr></thead><tbody>";
  for (const auto& s : r.status_changes) {
    out += "<tr><td>" + fmt_status(s.baseline, s.baseline_grpc) + "</td><td>" +
           fmt_status(s.candidate, s.candidate_grpc) + "</td><td class=\"n\">" +
           fmt_count(s.count) + "</td><td>" + html_samples(s.samples) + "</td></tr>";
  }
  out += "</tbody></table>";
}

void html_diff_table(const RouteReport& r, std::string& out) {
  if (r.diffs.empty()) return;
  out +=
      "<table class=\"checks diffs\"><thead><tr><th>path</th><th>differ</th><th>rate</th>"
      "<th>noise rate</th><th>verdict</th><th>sample ids</th></tr></thead><tbody>";
  for (const auto& d : r.diffs) {
    out += "<tr><td><code>" + html_escape(d.path) + "</code></td><td class=\"n\">" +
           fmt_count(d.differ) + "/" + fmt_count(d.compared) + "</td><td class=\"n\">" +
           fmt_pct(d.rate) + "</td><td class=\"n\">" +
           (d.noise_rate < 0 ? std::string("no noise target") : fmt_pct(d.noise_rate)) +
           "</td><td>" + html_verdict(d.verdict) + "</td><td>" + html_samples(d.samples) +
           "</td></tr>";
  }
  out += "</tbody></table>";
}

void html_notes(const std::vector<std::string>& notes, std::string& out) {
  if (notes.empty()) return;
  out += "<ul class=\"notes\">";
  for (const auto& n : notes) out += "<li>" + html_escape(n) + "</li>";
  out += "</ul>";
}

void html_detail(const RouteReport& r, const Report& report, const std::string& id,
                 const std::string& title, std::string& out) {
  out += "<section class=\"route\" id=\"" + id + "\"><h2>" + html_verdict(r.verdict) + " " + title +
         " <small>" + fmt_count(r.count) + " pairs</small></h2>";
  out +=
      "<figure><figcaption>Latency, cumulative: a curve further right is slower. Circles mark "
      "p50 and p99.</figcaption>" +
      cdf_svg(r, report) + "</figure>";
  html_latency_table(r, out);
  std::string bars = error_svg(r);
  if (bars.empty()) {
    out += "<p class=\"muted\">No errors counted on this route in either target.</p>";
  } else {
    out +=
        "<figure><figcaption>Error rates by kind (<span style=\"color:" + std::string(kBaseColor) +
        "\">baseline</span>, <span style=\"color:" + kCandColor +
        "\">candidate</span>)</figcaption>" + bars + "</figure>";
    html_error_table(r, out);
  }
  html_status_table(r, out);
  if (!r.diffs.empty()) {
    out += "<h3>Responses that differ</h3>";
    html_diff_table(r, out);
  }
  html_notes(r.notes, out);
  out += "</section>\n";
}

constexpr const char* kCss = R"css(
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
  margin: 0 auto; padding: 0 24px 48px; max-width: 1180px; background: #fafafa; }
header.verdict { margin: 0 -24px 16px; padding: 18px 24px; color: #fff; }
header.verdict.regressed { background: #b00020; }
header.verdict.pass { background: #1b7f3b; }
header.verdict h1 { margin: 0; font-size: 28px; letter-spacing: .04em; }
header.verdict p { margin: 4px 0 0; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h2 small { font-weight: normal; color: #666; font-size: 13px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
table { border-collapse: collapse; margin: 8px 0 12px; background: #fff; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.route { font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
table.meta th { width: 130px; }
tr.r-regressed td { background: #fdecee; }
tr.r-warn td { background: #fff8e1; }
.v { font-weight: 600; }
.v-regressed { color: #b00020; }
.v-warn { color: #9a6700; }
.v-insufficient { color: #0e6d8c; }
.v-pass { color: #1b7f3b; }
.v-info { color: #666; }
figure { margin: 8px 0; }
figcaption { color: #555; font-size: 12px; margin-bottom: 2px; }
svg { background: #fff; border: 1px solid #e5e5e5; max-width: 100%; height: auto; }
.muted { color: #666; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12px; }
ul.notes { color: #444; }
footer { margin-top: 32px; color: #777; font-size: 12px; }
)css";

}  // namespace

std::string to_html(const Report& report) {
  Tally t = tally(report);
  bool regressed = report.verdict == Verdict::kRegressed;
  std::string verdict = report_verdict(report);
  std::string out;
  out.reserve(64 * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  // No script, no fetch: the policy forbids everything but the inline style and SVG.
  out +=
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>twin compare: " + verdict + " — " + html_escape(report.candidate) + " vs " +
         html_escape(report.baseline) + "</title>\n<style>" + kCss + "</style>\n</head>\n<body>\n";

  out += std::string("<header class=\"verdict ") + (regressed ? "regressed" : "pass") + "\"><h1>" +
         verdict + "</h1><p>candidate <b>" + html_escape(report.candidate) +
         "</b> against baseline <b>" + html_escape(report.baseline) + "</b>";
  if (!report.noise.empty()) out += " (noise target <b>" + html_escape(report.noise) + "</b>)";
  out += " — " + fmt_count(report.overall.count) + " paired exchanges, " +
         fmt_count(report.routes.size()) + " routes: " + std::to_string(t.regressed) +
         " regressed, " + std::to_string(t.warn) + " warn, " + std::to_string(t.insufficient) +
         " too few requests, " + std::to_string(t.pass) + " pass</p></header>\n";

  out += "<section id=\"run\"><table class=\"meta\"><tbody>";
  out += "<tr><th>inputs</th><td>";
  for (size_t i = 0; i < report.inputs.size(); ++i) {
    out += (i ? "<br>" : "") + std::string("<code>") + html_escape(report.inputs[i]) + "</code>";
  }
  out += "</td></tr><tr><th>gate</th><td>" +
         (report.gate.empty() ? std::string("defaults")
                              : "<code>" + html_escape(report.gate) + "</code>") +
         "</td></tr>";
  out += "<tr><th>false-discovery rate</th><td>" + sprint("%g", report.alpha) + "</td></tr>";
  out +=
      std::string("<tr><th>latency</th><td>") +
      (report.latency_gated ? "gated" : "shown, not gated: the baseline is captured production") +
      "</td></tr>";
  std::vector<std::string> counters;
  if (report.counters.is_object()) flatten_counters(report.counters, "", counters);
  if (!counters.empty()) {
    out += "<tr><th>counters</th><td>";
    for (size_t i = 0; i < counters.size(); ++i) {
      out += (i ? " · " : "") + html_escape(counters[i]);
    }
    out += "</td></tr>";
  }
  out += "</tbody></table></section>\n";

  // Which routes get a section with plots.
  auto routes = ordered_routes(report);
  std::vector<const RouteReport*> detailed;
  for (const RouteReport* r : routes) {
    if (r->verdict == Verdict::kRegressed && detailed.size() < kMaxHtmlDetails) {
      detailed.push_back(r);
    }
  }
  auto detail_id = [&](const RouteReport* r) -> std::string {
    for (size_t i = 0; i < detailed.size(); ++i) {
      if (detailed[i] == r) return "route-" + std::to_string(i + 1);
    }
    return {};
  };

  out +=
      "<section id=\"routes\"><h2>Routes</h2><table class=\"routes\"><thead><tr><th>verdict</th>"
      "<th>method</th><th>route</th><th>pairs</th><th>p50 ms</th><th>p50 ratio [CI]</th>"
      "<th>p99 ms</th><th>p99 ratio [CI]</th><th>errors</th><th>diffs</th></tr></thead>"
      "<tbody>\n";
  auto row = [&](const RouteReport& r, const std::string& anchor, bool overall) {
    out += "<tr class=\"r-" + std::string(to_string(r.verdict)) + "\"><td>" +
           html_verdict(r.verdict) + "</td><td>" + html_escape(r.method) +
           "</td><td class=\"route\">";
    std::string name = overall ? "(all)" : html_escape(r.route);
    out += anchor.empty() ? name : "<a href=\"#" + anchor + "\">" + name + "</a>";
    out += "</td><td class=\"n\">" + fmt_count(r.count) + "</td>";
    for (const char* q : {"p50", "p99"}) {
      const LatencyRow* l = find_latency(r, q);
      if (l == nullptr) {
        out += "<td class=\"n\">–</td><td class=\"n\">–</td>";
        continue;
      }
      out += "<td class=\"n\">" + fmt_ms(l->baseline_ms) + " → " + fmt_ms(l->candidate_ms) +
             "</td><td class=\"n\">" + fmt_ratio(l->ratio) + " [" + fmt_num2(l->low) + ", " +
             fmt_num2(l->high) + "]</td>";
    }
    out += "<td>" + html_escape(error_cell(r)) + "</td><td class=\"n\">" +
           std::to_string(diff_findings(r)) + "</td></tr>\n";
  };
  for (size_t i = 0; i < routes.size() && i < kMaxHtmlRows; ++i) {
    row(*routes[i], detail_id(routes[i]), false);
  }
  row(report.overall, "overall", true);
  out += "</tbody></table>";
  if (routes.size() > kMaxHtmlRows) {
    out += "<p class=\"muted\">… " + fmt_count(routes.size() - kMaxHtmlRows) +
           " more routes: see the JSON report.</p>";
  }
  out += "</section>\n";

  html_detail(report.overall, report, "overall", "All routes together", out);
  for (size_t i = 0; i < detailed.size(); ++i) {
    const RouteReport* r = detailed[i];
    html_detail(*r, report, detail_id(r), "<code>" + html_escape(route_label(*r)) + "</code>", out);
  }
  if (t.regressed > detailed.size()) {
    out += "<p class=\"muted\">… " + std::to_string(t.regressed - detailed.size()) +
           " more regressed routes are not plotted: see the JSON report.</p>\n";
  }

  bool warned = false;
  for (const RouteReport* r : routes) {
    if (r->verdict != Verdict::kWarn) continue;
    if (!warned) out += "<section id=\"warnings\"><h2>Warnings</h2>";
    warned = true;
    out += "<h3><code>" + html_escape(route_label(*r)) + "</code> <small>" + fmt_count(r->count) +
           " pairs</small></h3>";
    html_latency_table(*r, out);
    html_error_table(*r, out);
    html_status_table(*r, out);
    html_diff_table(*r, out);
    html_notes(r->notes, out);
  }
  if (warned) out += "</section>\n";

  bool few = false;
  for (const RouteReport* r : routes) {
    if (r->verdict != Verdict::kInsufficient) continue;
    if (!few) {
      out += "<section id=\"insufficient\"><h2>Too few requests to decide</h2><ul>";
    }
    few = true;
    out +=
        "<li><code>" + html_escape(route_label(*r)) + "</code> — " + fmt_count(r->count) + " pairs";
    for (const auto& l : r->latency) {
      if (!l.note.empty()) {
        out += ": " + html_escape(l.note);
        break;
      }
    }
    out += "</li>";
  }
  if (few) out += "</ul></section>\n";

  if (!report.notes.empty()) {
    out += "<section id=\"notes\"><h2>Notes</h2>";
    html_notes(report.notes, out);
    out += "</section>\n";
  }
  out +=
      "<footer>Made by twin compare. Sample ids are origin ids: look an exchange up with "
      "<code>twin cat --origin ID RESULTS</code>.</footer>\n</body>\n</html>\n";
  return out;
}

}  // namespace twin::compare
