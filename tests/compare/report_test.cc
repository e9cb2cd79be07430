// The report writers on hand-built reports: JSON keys and nulls, the terminal table's order and
// width, Markdown and XML escaping, JUnit counts and well-formedness, and the HTML page's plots,
// escaping and lack of any URL. With TWIN_HTML_OUT (and TWIN_JUNIT_OUT) set, the sample report
// is also written there for tests/compare/html_render_test.py to open in a browser.

#include "twin/compare/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "files.h"

namespace twin::compare {
namespace {

using J = nlohmann::ordered_json;

// A CDF shaped like a latency distribution: median `median_ms`, a tail `tail` times heavier.
Cdf make_cdf(double median_ms, double tail) {
  Cdf cdf;
  for (int i = 1; i <= 400; ++i) {
    double share = i / 400.0;
    double x =
        median_ms * std::pow(1 / (1 - share * 0.999), 0.6 * tail) / std::pow(2.0, 0.6 * tail);
    cdf.emplace_back(x, share);
  }
  return cdf;
}

LatencyRow latency(const std::string& name, double q, double base, double cand, Verdict v) {
  LatencyRow row;
  row.name = name;
  row.q = q;
  row.baseline_ms = base;
  row.candidate_ms = cand;
  row.ratio = cand / base;
  row.low = row.ratio * 0.9;
  row.high = row.ratio * 1.1;
  row.p_value = v == Verdict::kRegressed ? 0.0004 : 0.4;
  row.q_value = v == Verdict::kRegressed ? 0.002 : 0.6;
  row.min_effect = 0.1;
  row.verdict = v;
  return row;
}

RouteReport route(const std::string& method, const std::string& path, uint64_t count,
                  Verdict verdict) {
  RouteReport r;
  r.method = method;
  r.route = path;
  r.count = count;
  r.verdict = verdict;
  return r;
}

// Two regressed routes (one slower, one failing with a new error kind), a warning, a pass and an
// insufficient one — given in an order that is not the report order.
Report sample_report() {
  Report rep;
  rep.verdict = Verdict::kRegressed;
  rep.baseline = "v1.4.2";
  rep.candidate = "v1.5.0-rc1";
  rep.inputs = {"runs/base.twin", "runs/cand.twin"};
  rep.gate = "gate.yaml";
  rep.alpha = 0.01;
  rep.counters = J{{"paired", 10500}, {"unpaired", J{{"baseline", 3}, {"candidate", 1}}}};

  RouteReport pass = route("GET", "/health", 3000, Verdict::kPass);
  pass.latency = {latency("p50", 0.5, 1.2, 1.21, Verdict::kPass),
                  latency("p99", 0.99, 4.0, 4.1, Verdict::kPass)};

  RouteReport slow = route("GET", "/users/{id}", 4120, Verdict::kRegressed);
  slow.latency = {latency("p50", 0.5, 12.1, 15.3, Verdict::kRegressed),
                  latency("p99", 0.99, 120, 190, Verdict::kRegressed)};
  slow.baseline_cdf = make_cdf(12.1, 1.0);
  slow.candidate_cdf = make_cdf(15.3, 1.2);
  slow.diffs = {DiffRow{"$.items[*].price", 120, 4000, 0.03, 0.001, Verdict::kWarn, {7, 8, 9}}};

  RouteReport failing = route("POST", "/orders", 2200, Verdict::kRegressed);
  failing.latency = {latency("p50", 0.5, 30, 31, Verdict::kPass),
                     latency("p99", 0.99, 210, 220, Verdict::kPass)};
  failing.baseline_cdf = make_cdf(30, 1.0);
  failing.candidate_cdf = make_cdf(31, 1.0);
  ErrorRow e5xx{"5xx", 3, 52, 2200, 2200, 1e-9, 2e-8, false, Verdict::kRegressed, {101, 102, 103}};
  ErrorRow timeout{"timeout", 0, 9, 2200, 2200, 0.002, 0.01, true, Verdict::kRegressed, {201}};
  failing.errors = {e5xx, timeout};
  failing.status_changes = {StatusChange{200, 503, 49, {101, 102}}, StatusChange{200, 0, 9, {201}},
                            StatusChange{200, 200, 7, {301}, 0, 14}};  // gRPC OK → UNAVAILABLE

  RouteReport warn = route("PUT", "/cart", 900, Verdict::kWarn);
  warn.latency = {latency("p50", 0.5, 8, 8.1, Verdict::kPass)};
  warn.diffs = {DiffRow{"header.etag", 900, 900, 1.0, -1, Verdict::kWarn, {5}}};

  RouteReport few = route("DELETE", "/orders/{id}", 40, Verdict::kInsufficient);
  LatencyRow few_p99 = latency("p99", 0.99, 50, 70, Verdict::kInsufficient);
  few_p99.note = "40 requests; p99 needs 1000";
  few.latency = {few_p99};

  rep.routes = {pass, slow, warn, few, failing};

  rep.overall = route("", "(all)", 10260, Verdict::kRegressed);
  rep.overall.latency = {latency("p50", 0.5, 10, 11, Verdict::kPass),
                         latency("p99", 0.99, 150, 180, Verdict::kRegressed)};
  rep.overall.baseline_cdf = make_cdf(10, 1.0);
  rep.overall.candidate_cdf = make_cdf(11, 1.1);
  rep.overall.errors = {
      ErrorRow{"5xx", 5, 54, 10260, 10260, 1e-8, 1e-7, false, Verdict::kRegressed, {101}}};
  rep.notes = {"3 baseline exchanges had no candidate pair"};
  return rep;
}

size_t count_of(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = 0; (pos = s.find(needle, pos)) != std::string::npos; pos += needle.size()) ++n;
  return n;
}

// The values of every ` name="…"` attribute in `text`.
std::vector<std::string> attribute_values(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  std::string key = " " + name + "=\"";
  for (size_t pos = 0; (pos = text.find(key, pos)) != std::string::npos;) {
    pos += key.size();
    size_t end = text.find('"', pos);
    out.push_back(text.substr(pos, end - pos));
  }
  return out;
}

// Checks that `xml` is well-formed enough for a JUnit consumer: tags balance, attribute values are
// quoted and hold no '<', '&' starts only a known entity or a character reference, and no
// character outside XML 1.0's set appears. Returns "" or what is wrong.
std::string xml_problem(const std::string& xml) {
  std::vector<std::string> stack;
  size_t i = 0;
  auto entity_ok = [&](size_t at) {
    size_t semi = xml.find(';', at);
    if (semi == std::string::npos || semi - at > 10) return false;
    std::string name = xml.substr(at + 1, semi - at - 1);
    if (name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos") {
      return true;
    }
    if (name.size() < 2 || name[0] != '#') return false;
    bool hex = name[1] == 'x';
    if (hex && name.size() < 3) return false;
    for (size_t k = hex ? 2 : 1; k < name.size(); ++k) {
      if (!(hex ? std::isxdigit(static_cast<unsigned char>(name[k]))
                : std::isdigit(static_cast<unsigned char>(name[k])))) {
        return false;
      }
    }
    return true;
  };
  for (unsigned char c : xml) {
    if (c < 0x20 && c != '\n' && c != '\t' && c != '\r') return "control character";
  }
  if (xml.rfind("<?xml", 0) == 0) i = xml.find("?>") + 2;
  while (i < xml.size()) {
    if (xml[i] == '&') {
      if (!entity_ok(i)) return "bare & at " + std::to_string(i);
      ++i;
    } else if (xml[i] == '>') {
      ++i;  // allowed in text, though we escape it
    } else if (xml[i] != '<') {
      ++i;
    } else if (xml.compare(i, 2, "</") == 0) {
      size_t end = xml.find('>', i);
      if (end == std::string::npos) return "unterminated end tag";
      std::string name = xml.substr(i + 2, end - i - 2);
      if (stack.empty() || stack.back() != name) return "mismatched </" + name + ">";
      stack.pop_back();
      i = end + 1;
    } else {
      size_t j = i + 1;
      while (j < xml.size() && (std::isalnum(static_cast<unsigned char>(xml[j])) || xml[j] == '-'))
        ++j;
      std::string name = xml.substr(i + 1, j - i - 1);
      if (name.empty()) return "bad tag at " + std::to_string(i);
      // Attributes: name="value" pairs until > or />.
      while (true) {
        while (j < xml.size() && xml[j] == ' ') ++j;
        if (j >= xml.size()) return "unterminated tag";
        if (xml[j] == '>') {
          stack.push_back(name);
          ++j;
          break;
        }
        if (xml.compare(j, 2, "/>") == 0) {
          j += 2;
          break;
        }
        size_t eq = xml.find('=', j);
        if (eq == std::string::npos || xml[eq + 1] != '"') return "unquoted attribute";
        size_t close = xml.find('"', eq + 2);
        if (close == std::string::npos) return "unterminated attribute";
        for (size_t k = eq + 2; k < close; ++k) {
          if (xml[k] == '<') return "< in attribute";
          if (xml[k] == '&' && !entity_ok(k)) return "bare & in attribute";
        }
        j = close + 1;
      }
      i = j;
    }
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  return "";
}

TEST(Verdict, Names) {
  EXPECT_EQ(to_string(Verdict::kPass), "pass");
  EXPECT_EQ(to_string(Verdict::kRegressed), "regressed");
  EXPECT_EQ(to_string(Verdict::kInsufficient), "insufficient");
  EXPECT_EQ(to_string(Verdict::kInfo), "info");
  EXPECT_EQ(to_string(Verdict::kWarn), "warn");
}

// ---- JSON

TEST(ReportJson, TopLevelKeysInOrder) {
  J j = to_json(sample_report());
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"schema_version", "verdict", "baseline", "candidate",
                                            "noise", "inputs", "gate", "alpha", "latency_gated",
                                            "counters", "summary", "overall", "routes", "notes"}));
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["verdict"], "regressed");
  EXPECT_EQ(j["baseline"], "v1.4.2");
  EXPECT_EQ(j["candidate"], "v1.5.0-rc1");
  EXPECT_TRUE(j["noise"].is_null());
  EXPECT_EQ(j["inputs"], J::array({"runs/base.twin", "runs/cand.twin"}));
  EXPECT_EQ(j["gate"], "gate.yaml");
  EXPECT_DOUBLE_EQ(j["alpha"].get<double>(), 0.01);
  EXPECT_EQ(j["latency_gated"], true);
  EXPECT_EQ(j["counters"]["unpaired"]["baseline"], 3);
  EXPECT_EQ(j["summary"], (J{{"routes", 5},
                             {"regressed", 2},
                             {"warn", 1},
                             {"insufficient", 1},
                             {"pass", 1},
                             {"info", 0}}));
  EXPECT_EQ(j["overall"]["route"], "(all)");
  EXPECT_EQ(j["overall"]["method"], "");
  EXPECT_EQ(j["notes"][0], "3 baseline exchanges had no candidate pair");

  Report with_noise = sample_report();
  with_noise.noise = "v1.4.2-bis";
  EXPECT_EQ(to_json(with_noise)["noise"], "v1.4.2-bis");
}

TEST(ReportJson, RoutesRegressedFirstThenWarnThenGivenOrder) {
  J j = to_json(sample_report());
  std::vector<std::string> order;
  for (const auto& r : j["routes"])
    order.push_back(r["method"].get<std::string>() + " " + r["route"].get<std::string>());
  EXPECT_EQ(order, (std::vector<std::string>{"GET /users/{id}", "POST /orders", "PUT /cart",
                                             "GET /health", "DELETE /orders/{id}"}));
}

TEST(ReportJson, RouteFields) {
  J j = to_json(sample_report());
  const J& slow = j["routes"][0];
  std::vector<std::string> keys;
  for (auto it = slow.begin(); it != slow.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"method", "route", "count", "verdict", "latency",
                                            "errors", "status_changes", "diffs", "notes"}));
  EXPECT_EQ(slow["count"], 4120);
  EXPECT_EQ(slow["verdict"], "regressed");
  const J& p99 = slow["latency"]["p99"];
  EXPECT_DOUBLE_EQ(p99["q"].get<double>(), 0.99);
  EXPECT_DOUBLE_EQ(p99["baseline_ms"].get<double>(), 120);
  EXPECT_DOUBLE_EQ(p99["candidate_ms"].get<double>(), 190);
  EXPECT_NEAR(p99["ratio"].get<double>(), 190.0 / 120, 1e-12);
  ASSERT_TRUE(p99["ci"].is_array());
  ASSERT_EQ(p99["ci"].size(), 2u);
  EXPECT_NEAR(p99["ci"][0].get<double>(), 190.0 / 120 * 0.9, 1e-12);
  EXPECT_DOUBLE_EQ(p99["p_value"].get<double>(), 0.0004);
  EXPECT_DOUBLE_EQ(p99["q_value"].get<double>(), 0.002);
  EXPECT_DOUBLE_EQ(p99["min_effect"].get<double>(), 0.1);
  EXPECT_EQ(p99["verdict"], "regressed");
  EXPECT_FALSE(p99.contains("note"));  // only when there is one
  EXPECT_EQ(j["routes"][4]["latency"]["p99"]["note"], "40 requests; p99 needs 1000");

  const J& diff = slow["diffs"][0];
  EXPECT_EQ(diff["path"], "$.items[*].price");
  EXPECT_EQ(diff["differ"], 120);
  EXPECT_EQ(diff["compared"], 4000);
  EXPECT_DOUBLE_EQ(diff["rate"].get<double>(), 0.03);
  EXPECT_DOUBLE_EQ(diff["noise_rate"].get<double>(), 0.001);
  EXPECT_EQ(diff["verdict"], "warn");
  EXPECT_EQ(diff["samples"], J::array({7, 8, 9}));
  // No noise target: noise_rate is null.
  EXPECT_TRUE(j["routes"][2]["diffs"][0]["noise_rate"].is_null());

  const J& failing = j["routes"][1];
  const J& e = failing["errors"]["5xx"];
  EXPECT_EQ(e["baseline"], 3);
  EXPECT_EQ(e["candidate"], 52);
  EXPECT_EQ(e["baseline_n"], 2200);
  EXPECT_EQ(e["candidate_n"], 2200);
  EXPECT_NEAR(e["baseline_rate"].get<double>(), 3.0 / 2200, 1e-15);
  EXPECT_NEAR(e["candidate_rate"].get<double>(), 52.0 / 2200, 1e-15);
  EXPECT_EQ(e["new_class"], false);
  EXPECT_EQ(e["verdict"], "regressed");
  EXPECT_EQ(e["samples"], J::array({101, 102, 103}));
  EXPECT_EQ(failing["errors"]["timeout"]["new_class"], true);
  EXPECT_EQ(failing["status_changes"][0],
            (J{{"baseline", 200}, {"candidate", 503}, {"count", 49}, {"samples", {101, 102}}}));
  EXPECT_EQ(failing["status_changes"][1]["candidate"], 0);
  EXPECT_FALSE(failing["status_changes"][1].contains("candidate_grpc"));  // not a gRPC answer
  EXPECT_EQ(failing["status_changes"][2], (J{{"baseline", 200},
                                             {"candidate", 200},
                                             {"count", 7},
                                             {"samples", {301}},
                                             {"baseline_grpc", 0},
                                             {"candidate_grpc", 14}}));
}

TEST(ReportJson, NonFiniteNumbersAreNull) {
  Report rep = sample_report();
  LatencyRow& row = rep.routes[1].latency[1];
  row.ratio = std::nan("");
  row.low = -INFINITY;
  row.high = INFINITY;
  row.p_value = std::nan("");
  rep.routes[1].diffs[0].rate = std::nan("");
  rep.routes[3].errors = {ErrorRow{"5xx", 0, 0, 0, 0, 1, 1, false, Verdict::kPass, {}}};
  rep.alpha = std::nan("");
  J j = to_json(rep);
  const J& p99 = j["routes"][0]["latency"]["p99"];
  EXPECT_TRUE(p99["ratio"].is_null());
  EXPECT_TRUE(p99["ci"][0].is_null());
  EXPECT_TRUE(p99["ci"][1].is_null());
  EXPECT_TRUE(p99["p_value"].is_null());
  EXPECT_TRUE(j["routes"][0]["diffs"][0]["rate"].is_null());
  EXPECT_TRUE(j["alpha"].is_null());
  // A rate among zero exchanges is undefined: null, not NaN and not 0.
  const J& e = j["routes"][4]["errors"]["5xx"];
  EXPECT_TRUE(e["baseline_rate"].is_null());
  EXPECT_TRUE(e["candidate_rate"].is_null());
  std::string text = j.dump();
  for (const char* bad : {":nan", ":-nan", ":inf", ":-inf", "NaN", "Infinity"}) {
    EXPECT_EQ(text.find(bad), std::string::npos) << bad;
  }
  // Round trip: a strict parser takes it.
  EXPECT_EQ(J::parse(text), j);
}

TEST(ReportJson, EmptyReport) {
  Report rep;
  J j = to_json(rep);
  EXPECT_EQ(j["verdict"], "pass");
  EXPECT_TRUE(j["routes"].is_array());
  EXPECT_TRUE(j["routes"].empty());
  EXPECT_TRUE(j["overall"]["latency"].is_object());
  EXPECT_TRUE(j["overall"]["errors"].is_object());
  EXPECT_TRUE(j["gate"].is_string());
}

// ---- terminal table

TEST(ReportTable, HeaderRowsInOrderAndFindings) {
  std::string t = to_table(sample_report(), false);
  EXPECT_EQ(t.rfind("twin compare  REGRESSED  candidate \"v1.5.0-rc1\" vs baseline \"v1.4.2\"", 0),
            0u)
      << t;
  EXPECT_NE(t.find("10,260 pairs, 5 routes: 2 regressed, 1 warn, 1 too few, 1 pass"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("counters: paired 10,500 · unpaired.baseline 3 · unpaired.candidate 1"),
            std::string::npos)
      << t;
  EXPECT_EQ(t.find("\x1b["), std::string::npos);
  size_t header = t.find("VERDICT");
  ASSERT_NE(header, std::string::npos);
  std::vector<std::string> rows = {"REGRESSED  GET /users/{id}",     "REGRESSED  POST /orders",
                                   "warn       PUT /cart",           "pass       GET /health",
                                   "too few    DELETE /orders/{id}", "REGRESSED  (all)"};
  size_t at = header;
  for (const auto& row : rows) {
    size_t pos = t.find(row, at);
    ASSERT_NE(pos, std::string::npos) << row << "\n" << t;
    at = pos;
  }
  // The slow route's p99 cell: baseline→candidate, ratio and interval.
  EXPECT_NE(t.find("120→190 ×1.58 [1.43,1.74]"), std::string::npos) << t;
  EXPECT_NE(t.find("5xx 0.14%→2.36%"), std::string::npos) << t;
  // Findings below the table, with ids and notes.
  size_t findings = t.find("Findings");
  ASSERT_NE(findings, std::string::npos);
  EXPECT_GT(findings, at);
  EXPECT_NE(t.find("errors 5xx  3/2,200 (0.14%) → 52/2,200 (2.36%)", findings), std::string::npos)
      << t;
  EXPECT_NE(t.find("ids 101 102 103", findings), std::string::npos);
  EXPECT_NE(t.find("new kind", findings), std::string::npos);
  EXPECT_NE(t.find("status 200→no response  9 pairs", findings), std::string::npos) << t;
  EXPECT_NE(t.find("status grpc OK→grpc UNAVAILABLE  7 pairs", findings), std::string::npos) << t;
  EXPECT_NE(t.find("diff header.etag  900/900 differ (100%)  q 1  warn", findings),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("DELETE /orders/{id}  (40 pairs): 40 requests; p99 needs 1000"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("Notes:\n  3 baseline exchanges had no candidate pair"), std::string::npos);
}

TEST(ReportTable, WidthIsBoundedAndLongRoutesAreCut) {
  Report rep = sample_report();
  rep.routes[0].route = "/a/very/long/route/" + std::string(200, 'x');
  std::string t = to_table(rep, false);
  size_t header = t.find("VERDICT");
  size_t end = t.find("\n\n", header);
  std::string table = t.substr(header, end - header);
  size_t line_start = 0;
  while (line_start < table.size()) {
    size_t nl = table.find('\n', line_start);
    if (nl == std::string::npos) nl = table.size();
    std::string line = table.substr(line_start, nl - line_start);
    size_t cols = 0;
    for (char c : line) cols += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    EXPECT_LE(cols, 145u) << line;
    line_start = nl + 1;
  }
  EXPECT_NE(t.find("GET /a/very/long/route/xxx"), std::string::npos);
  EXPECT_NE(t.find("x…"), std::string::npos);
  EXPECT_EQ(t.find(std::string(100, 'x')), std::string::npos);
}

TEST(ReportTable, ColorAndControlCharacters) {
  Report rep = sample_report();
  rep.routes[0].route = "/evil\x1b[2J\n";
  std::string plain = to_table(rep, false);
  std::string color = to_table(rep, true);
  EXPECT_NE(color.find("\x1b[1;31mREGRESSED\x1b[0m"), std::string::npos);
  EXPECT_NE(color.find("\x1b[32mpass"), std::string::npos);
  // A route cannot drive the terminal: its ESC and newline are shown as '?'.
  EXPECT_EQ(plain.find("\x1b"), std::string::npos);
  EXPECT_NE(plain.find("/evil?[2J?"), std::string::npos);
}

TEST(ReportTable, NotGatedAndEmpty) {
  Report rep;
  rep.latency_gated = false;
  std::string t = to_table(rep, true);
  EXPECT_NE(t.find("PASS"), std::string::npos);
  EXPECT_NE(t.find("not gated"), std::string::npos);
  EXPECT_NE(t.find("(all)"), std::string::npos);
}

TEST(ReportTable, ManyInsufficientRoutesAreCapped) {
  Report rep;
  for (int i = 0; i < 30; ++i) {
    rep.routes.push_back(route("GET", "/r" + std::to_string(i), 5, Verdict::kInsufficient));
  }
  std::string t = to_table(rep, false);
  EXPECT_NE(t.find("GET /r19  (5 pairs)"), std::string::npos);
  EXPECT_EQ(t.find("GET /r20  (5 pairs)"), std::string::npos);
  EXPECT_NE(t.find("… 10 more"), std::string::npos);
}

// ---- Markdown

TEST(ReportMarkdown, HeadingTableAndDetails) {
  std::string md = to_markdown(sample_report());
  EXPECT_NE(md.find("| status | grpc OK | grpc UNAVAILABLE | 7 pairs |"), std::string::npos) << md;
  EXPECT_EQ(md.rfind("## twin compare: **REGRESSED**\n", 0), 0u) << md;
  size_t a = md.find("| **REGRESSED** | GET /users/{id} | 4,120 |");
  size_t b = md.find("| **REGRESSED** | POST /orders | 2,200 |");
  size_t c = md.find("| warn | PUT /cart |");
  size_t d = md.find("| pass | GET /health |");
  size_t e = md.find("| insufficient | DELETE /orders/{id} |");
  size_t f = md.find("| **REGRESSED** | **(all)** |");
  ASSERT_NE(a, std::string::npos) << md;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, d);
  EXPECT_LT(d, e);
  EXPECT_LT(e, f);
  EXPECT_NE(md.find("### REGRESSED: GET /users/{id}"), std::string::npos);
  EXPECT_NE(md.find("### REGRESSED: POST /orders"), std::string::npos);
  EXPECT_NE(md.find("| errors timeout | 0/2,200 (0%) | 9/2,200 (0.41%) | new kind |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| latency p99 | 120 ms | 190 ms | ×1.58 [1.43, 1.74], gate +10% |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("### Warnings"), std::string::npos);
  EXPECT_EQ(md.find("### REGRESSED: GET /health"), std::string::npos);
  EXPECT_NE(md.find("### Too few requests to decide\n\n- DELETE /orders/{id} (40 pairs): "
                    "40 requests; p99 needs 1000\n"),
            std::string::npos)
      << md;
}

// Every table row has as many unescaped pipes as the header.
void expect_table_rows_intact(const std::string& md) {
  size_t start = 0;
  size_t want = 0;
  while (start < md.size()) {
    size_t nl = md.find('\n', start);
    if (nl == std::string::npos) nl = md.size();
    std::string line = md.substr(start, nl - start);
    start = nl + 1;
    if (line.empty() || line[0] != '|') {
      want = 0;
      continue;
    }
    size_t pipes = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\\') {
        ++i;
        continue;
      }
      pipes += line[i] == '|' ? 1 : 0;
    }
    if (want == 0) want = pipes;
    EXPECT_EQ(pipes, want) << line;
  }
}

TEST(ReportMarkdown, EscapesRouteNames) {
  Report rep = sample_report();
  rep.routes[1].route = "/a|b`c`*d*_e_<x>[l](u)&amp;\n#";
  std::string md = to_markdown(rep);
  std::string escaped = "/a\\|b\\`c\\`\\*d\\*\\_e\\_\\<x\\>\\[l\\](u)\\&amp;  \\#";
  // The newline became a space; in the table and in the heading of the route's details.
  EXPECT_NE(md.find("| **REGRESSED** | GET " + escaped.substr(0, escaped.size() - 4)),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("### REGRESSED: GET /a\\|b\\`c\\`"), std::string::npos);
  EXPECT_EQ(md.find("/a|b"), std::string::npos);
  EXPECT_EQ(md.find("b`c"), std::string::npos);
  expect_table_rows_intact(md);
}

TEST(ReportMarkdown, CapsTheTable) {
  Report rep;
  for (int i = 0; i < 60; ++i) {
    rep.routes.push_back(route("GET", "/r" + std::to_string(i), 100, Verdict::kPass));
  }
  std::string md = to_markdown(rep);
  EXPECT_NE(md.find("| pass | GET /r49 |"), std::string::npos);
  EXPECT_EQ(md.find("| pass | GET /r50 |"), std::string::npos);
  EXPECT_NE(md.find("… 10 more routes"), std::string::npos);
  EXPECT_EQ(md.rfind("## twin compare: **PASS**", 0), 0u);
  expect_table_rows_intact(md);
}

// ---- JUnit

TEST(ReportJunit, CheckerCatchesBadXml) {
  EXPECT_NE(xml_problem("<a>&</a>"), "");
  EXPECT_NE(xml_problem("<a><b></a></b>"), "");
  EXPECT_NE(xml_problem("<a x=\"<\"/>"), "");
  EXPECT_NE(xml_problem("<a>\x01</a>"), "");
  EXPECT_NE(xml_problem("<a>"), "");
  EXPECT_EQ(xml_problem("<a x=\"&amp;&#9;\"><b/>&lt;&#x41;</a>"), "");
}

TEST(ReportJunit, CountsMatch) {
  std::string x = to_junit(sample_report());
  EXPECT_EQ(xml_problem(x), "") << x;
  // Suites: (all) and the five routes.
  EXPECT_EQ(count_of(x, "<testsuite "), 6u);
  EXPECT_EQ(count_of(x, "<testsuite name=\"GET /users/{id}\""), 1u);
  EXPECT_EQ(count_of(x, "<testsuite name=\"(all)\""), 1u);
  // Testcases: overall 2 latency + 1 error; health 2; users 2 + 1 diff; orders 2 + 2 errors;
  // cart 1 + 1 diff; delete 1.
  size_t testcases = count_of(x, "<testcase ");
  EXPECT_EQ(testcases, 3u + 2 + 3 + 4 + 2 + 1);
  // Failures: overall p99 and 5xx; users p50 and p99; orders 5xx and timeout.
  size_t failures = count_of(x, "<failure ");
  EXPECT_EQ(failures, 6u);
  size_t skipped = count_of(x, "<skipped ");
  EXPECT_EQ(skipped, 1u);
  EXPECT_NE(x.find("<testsuites name=\"twin compare\" tests=\"" + std::to_string(testcases) +
                   "\" failures=\"6\" errors=\"0\" skipped=\"1\">"),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("<testcase classname=\"twin.compare.GET /users/{id}\" name=\"latency p99\""),
            std::string::npos);
  EXPECT_NE(x.find("<failure message=\"p99 120 ms → 190 ms (×1.58 [1.43, 1.74], gate +10%)\""),
            std::string::npos)
      << x;
  EXPECT_NE(x.find("<skipped message=\"p99 50.0 ms → 70.0 ms"), std::string::npos) << x;
  EXPECT_NE(x.find("sample ids: 101 102 103"), std::string::npos);
  EXPECT_NE(x.find("<system-out>status 200 -&gt; 503: 49 pairs"), std::string::npos) << x;
  EXPECT_NE(x.find("status grpc OK -&gt; grpc UNAVAILABLE: 7 pairs"), std::string::npos) << x;
}

TEST(ReportJunit, EscapesEverything) {
  Report rep = sample_report();
  rep.routes[1].route = "/a&b<c>\"d'";
  rep.routes[1].diffs[0].path = "$.x\x01y\x7f\tz";
  rep.routes[1].notes = {"bad utf-8: \xff\xc3 end"};
  rep.baseline = "]]> & <!--";
  std::string x = to_junit(rep);
  EXPECT_EQ(xml_problem(x), "") << x;
  EXPECT_NE(x.find("<testsuite name=\"GET /a&amp;b&lt;c&gt;&quot;d&apos;\""), std::string::npos)
      << x;
  EXPECT_NE(x.find("classname=\"twin.compare.GET /a&amp;b&lt;c&gt;&quot;d&apos;\""),
            std::string::npos);
  // Controls XML 1.0 forbids are dropped; a tab in an attribute is a character reference.
  EXPECT_NE(x.find("name=\"diff $.xy&#9;z\""), std::string::npos) << x;
  // Invalid UTF-8 becomes U+FFFD.
  EXPECT_NE(x.find("bad utf-8: \xef\xbf\xbd\xef\xbf\xbd end"), std::string::npos);
  EXPECT_NE(x.find("value=\"]]&gt; &amp; &lt;!--\""), std::string::npos);
}

TEST(ReportJunit, EveryRouteHasATestcase) {
  Report rep;
  rep.verdict = Verdict::kRegressed;
  rep.routes.push_back(route("GET", "/no-checks", 10, Verdict::kPass));
  RouteReport odd = route("GET", "/regressed-by-note", 10, Verdict::kRegressed);
  odd.notes = {"all responses were truncated"};
  rep.routes.push_back(odd);
  std::string x = to_junit(rep);
  EXPECT_EQ(xml_problem(x), "") << x;
  EXPECT_EQ(count_of(x, "<testsuite "), 3u);
  EXPECT_EQ(count_of(x, "name=\"verdict\" time="), 3u);
  EXPECT_NE(x.find("<failure message=\"all responses were truncated\""), std::string::npos) << x;
  EXPECT_NE(x.find("failures=\"1\""), std::string::npos);
}

// ---- HTML

TEST(ReportHtml, OnePlotPerRegressedRouteAndOverall) {
  std::string h = to_html(sample_report());
  EXPECT_EQ(h.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count_of(h, "<svg class=\"cdf\""), 3u);  // 2 regressed routes + overall
  // Each plot with data has both curves.
  EXPECT_EQ(count_of(h, "<path class=\"cdf-baseline\""), 3u);
  EXPECT_EQ(count_of(h, "<path class=\"cdf-candidate\""), 3u);
  EXPECT_EQ(count_of(h, "<path class=\"tail-baseline\""), 3u);
  EXPECT_EQ(count_of(h, "<path class=\"tail-candidate\""), 3u);
  // p50 and p99 marked on both curves of each plot.
  EXPECT_EQ(count_of(h, "<circle class=\"mark\""), 3u * (4 + 2));  // p99 in both panels
  // Error bars where a route has error rows: overall and POST /orders.
  EXPECT_EQ(count_of(h, "<svg class=\"errors\""), 2u);
  EXPECT_EQ(count_of(h, "<rect class=\"bar\""), 2u * (1 + 2));
  EXPECT_NE(h.find("<h1>REGRESSED</h1>"), std::string::npos);
  EXPECT_NE(h.find("<header class=\"verdict regressed\">"), std::string::npos);
  // Diff samples.
  EXPECT_NE(h.find("<code>$.items[*].price</code>"), std::string::npos);
  EXPECT_NE(h.find("<code>7</code> <code>8</code> <code>9</code>"), std::string::npos);
  // The routes table in report order, linking to the plotted sections.
  size_t a = h.find("<a href=\"#route-1\">/users/{id}</a>");
  size_t b = h.find("<a href=\"#route-2\">/orders</a>");
  size_t c = h.find(">/cart<");
  size_t d = h.find(">/health<");
  size_t e = h.find(">/orders/{id}<");
  ASSERT_NE(a, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_LT(c, d);
  EXPECT_LT(d, e);
  EXPECT_NE(h.find("id=\"route-1\""), std::string::npos);
  EXPECT_NE(h.find("id=\"overall\""), std::string::npos);
}

TEST(ReportHtml, NoUrlNoScriptNoNonFinite) {
  Report rep = sample_report();
  rep.routes[1].route = "http://proxy.example/x";  // absolute-form target
  rep.routes[1].latency[0].ratio = std::nan("");
  rep.routes[1].baseline_cdf.emplace_back(std::nan(""), 1.0);
  rep.routes[1].baseline_cdf.emplace_back(0.0, 0.0);
  std::string h = to_html(rep);
  std::string stripped = h;
  const std::string ns = "xmlns=\"http://www.w3.org/2000/svg\"";
  for (size_t pos; (pos = stripped.find(ns)) != std::string::npos;) stripped.erase(pos, ns.size());
  EXPECT_EQ(stripped.find("http://"), std::string::npos);
  EXPECT_EQ(stripped.find("https://"), std::string::npos);
  EXPECT_EQ(stripped.find("://"), std::string::npos);
  EXPECT_NE(h.find("http&#58;//proxy.example/x"), std::string::npos);
  EXPECT_EQ(h.find("<script"), std::string::npos);
  EXPECT_EQ(h.find("src="), std::string::npos);
  EXPECT_EQ(h.find("@import"), std::string::npos);
  EXPECT_EQ(h.find("url("), std::string::npos);
  for (const std::string& v : attribute_values(h, "href")) EXPECT_EQ(v[0], '#') << v;
  // Coordinates are always numbers.
  for (const char* name : {"d", "cx", "cy", "x", "y", "x1", "x2", "y1", "y2", "width", "height"}) {
    for (const std::string& v : attribute_values(h, name)) {
      EXPECT_EQ(v.find("nan"), std::string::npos) << name << "=" << v;
      EXPECT_EQ(v.find("inf"), std::string::npos) << name << "=" << v;
    }
  }
}

TEST(ReportHtml, EscapesText) {
  Report rep = sample_report();
  rep.routes[1].route = "/<script>alert('x')</script>&\"";
  rep.candidate = "<b>cand</b>";
  rep.routes[1].diffs[0].path = "$.a<b>";
  rep.notes = {"note <i>&</i>"};
  std::string h = to_html(rep);
  EXPECT_EQ(h.find("<script>"), std::string::npos);
  EXPECT_EQ(h.find("<b>cand</b>"), std::string::npos);
  EXPECT_EQ(h.find("<i>&</i>"), std::string::npos);
  EXPECT_NE(h.find("/&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;&amp;&quot;"),
            std::string::npos);
  EXPECT_NE(h.find("&lt;b&gt;cand&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(h.find("$.a&lt;b&gt;"), std::string::npos);
  EXPECT_NE(h.find("note &lt;i&gt;&amp;&lt;/i&gt;"), std::string::npos);
}

TEST(ReportHtml, PassAndEmptyCdf) {
  Report rep;
  rep.baseline = "a";
  rep.candidate = "b";
  std::string h = to_html(rep);
  EXPECT_NE(h.find("<h1>PASS</h1>"), std::string::npos);
  EXPECT_EQ(count_of(h, "<svg class=\"cdf\""), 1u);  // the overall row, without samples
  EXPECT_NE(h.find("no latency samples"), std::string::npos);
  EXPECT_NE(h.find("No errors counted"), std::string::npos);
}

TEST(ReportHtml, NarrowRangeStillHasTicks) {
  Report rep = sample_report();
  rep.overall.baseline_cdf = {{100, 0.5}, {101, 1.0}};
  rep.overall.candidate_cdf = {{100.5, 0.5}, {101.5, 1.0}};
  std::string h = to_html(rep);
  size_t start = h.find("<svg class=\"cdf\"");
  size_t end = h.find("</svg>", start);
  std::string svg = h.substr(start, end - start);
  EXPECT_GE(count_of(svg, "class=\"xtick\""), 2u) << svg;
}

// Writes the sample report where tests/compare/html_render_test.py asks (TWIN_HTML_OUT, and
// TWIN_JUNIT_OUT for a strict XML parser), else to a temporary file; either way checks the file.
TEST(ReportHtml, WritesSample) {
  test::TempDir dir;
  const char* html_env = std::getenv("TWIN_HTML_OUT");
  std::string path = html_env != nullptr && *html_env ? html_env : dir.file("report.html");
  Report rep = sample_report();
  test::spit(path, to_html(rep));
  EXPECT_EQ(test::slurp(path), to_html(rep));
  if (const char* junit = std::getenv("TWIN_JUNIT_OUT"); junit != nullptr && *junit) {
    test::spit(junit, to_junit(rep));
  }
}

}  // namespace
}  // namespace twin::compare
