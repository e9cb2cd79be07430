// The comparator end to end on archives written by the test: pairing, routes, the checks and
// their verdicts, the counters, and the gate file.

#include "twin/compare/compare.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "files.h"
#include "protobuf_wire.h"
#include "twin/traffic/archive.h"

namespace twin::compare {
namespace {

using traffic::Exchange;

// One simulated request as both targets answer it.
struct Answer {
  int status = 200;
  std::string body = R"({"ok":true})";
  double latency_ms = 10;
  traffic::ErrorKind error = traffic::ErrorKind::kNone;
  // A gRPC answer (HTTP 200) with this gRPC status, -1 for none; its form: 0 status in the
  // trailers after a message, 1 Trailers-Only, 2 gRPC-Web with the status in the body's
  // trailer frame.
  int grpc = -1;
  int grpc_form = 0;
  bool cut = false;  // the body cut before its gRPC-Web trailer frame (--max-body)
};

// A gRPC length-prefixed frame.
std::string grpc_frame(uint8_t flags, const std::string& payload) {
  return test::pb::envelope(flags, payload);
}

Exchange make(uint64_t id, uint64_t origin, const std::string& target, const std::string& method,
              const std::string& path, int64_t intended, const Answer& a) {
  Exchange e;
  e.id = id;
  e.origin_id = origin;
  e.target = target;
  e.session = origin;
  e.protocol = traffic::Protocol::kHttp11;
  e.request.method = method;
  e.request.target = path;
  e.request.authority = "shop";
  e.time.intended = intended;
  e.time.request_start = intended + 20'000;
  e.time.request_end = intended + 30'000;
  e.error = a.error;
  if (a.error == traffic::ErrorKind::kNone) {
    int64_t lat = static_cast<int64_t>(a.latency_ms * 1e6);
    e.time.response_start = intended + lat - 1000;
    e.time.response_end = intended + lat;
    traffic::Response r;
    r.status = a.status;
    r.reason = "X";
    r.body = a.body;
    if (a.grpc < 0) {
      r.headers.push_back({"Content-Type", "application/json"});
    } else if (a.grpc_form == 2) {
      r.headers.push_back({"content-type", "application/grpc-web+proto"});
      r.body = grpc_frame(0, a.body);
      if (a.cut) {
        e.flags |= traffic::kFlagResponseBodyTruncated;
      } else {
        r.body += grpc_frame(0x80, "grpc-status:" + std::to_string(a.grpc) + "\r\n");
      }
    } else {
      r.headers.push_back({"content-type", "application/grpc"});
      r.body = a.grpc_form == 1 ? "" : grpc_frame(0, a.body);
      r.headers.push_back({"grpc-status", std::to_string(a.grpc)});
    }
    r.body_size = a.body.size();
    r.framing = traffic::Framing::kContentLength;
    e.response = std::move(r);
  }
  return e;
}

// Writes a paired replay: for each request, the baseline's and the candidate's (and the noise
// target's) answers, at the same intended instant, in the order a replay's writer would.
class Sim {
 public:
  Sim(const std::string& path, uint64_t seed) : rng_(seed) {
    auto w = traffic::Writer::open(path);
    EXPECT_TRUE(w.has_value());
    writer_ = std::move(*w);
  }
  ~Sim() { close(); }
  void close() {
    if (writer_) {
      EXPECT_TRUE(writer_->close().has_value());
      writer_.reset();
    }
  }
  // The environment's slow drift, shared by every target (a paired replay sees it alike).
  double environment(int64_t t) {
    double s = static_cast<double>(t) / 1e9;
    return 1.0 + 0.3 * std::sin(s / 7.0) + 0.1 * std::sin(s / 1.3);
  }
  double lognormal(double median) {
    std::lognormal_distribution<double> d(std::log(median), 0.5);
    return d(rng_);
  }
  void add(const std::string& method, const std::string& path, const Answer& base,
           const Answer& cand, const Answer* noise = nullptr) {
    ++origin_;
    int64_t t = t_;
    EXPECT_TRUE(writer_->append(make(++id_, origin_, "baseline", method, path, t, base)));
    EXPECT_TRUE(writer_->append(make(++id_, origin_, "candidate", method, path, t, cand)));
    if (noise) {
      EXPECT_TRUE(writer_->append(make(++id_, origin_, "noise", method, path, t, *noise)));
    }
  }
  void tick(int64_t ns) { t_ += ns; }
  int64_t now() const { return t_; }
  std::mt19937_64& rng() { return rng_; }

 private:
  traffic::WriterPtr writer_;
  std::mt19937_64 rng_;
  uint64_t id_ = 0;
  uint64_t origin_ = 0;
  int64_t t_ = 1'700'000'000'000'000'000;
};

const RouteReport* find_route(const Report& r, const std::string& method,
                              const std::string& route) {
  for (const auto& rr : r.routes) {
    if (rr.method == method && rr.route == route) return &rr;
  }
  return nullptr;
}

const LatencyRow* latency_row(const RouteReport& rr, const std::string& name) {
  for (const auto& row : rr.latency) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

const ErrorRow* error_row(const RouteReport& rr, const std::string& kind) {
  for (const auto& row : rr.errors) {
    if (row.kind == kind) return &row;
  }
  return nullptr;
}

CompareOptions options_for(const std::string& path) {
  CompareOptions o;
  o.inputs = {path};
  o.baseline = "baseline";
  o.candidate = "candidate";
  o.gate.resamples = 400;  // enough for the decisions below; keeps the suite quick under ASan
  return o;
}

// A realistic run: three routes over 120 s, latencies lognormal around a per-route median times
// the shared environment, each target with its own per-request noise. `slow` multiplies the
// candidate's latency on /api/search; `fail` is the candidate's 5xx share on /api/orders/{id}.
void simulate(Sim& sim, int n, double slow, double fail, bool with_users_collapse = false) {
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < n; ++i) {
    sim.tick(120'000'000'000LL / n);
    double env = sim.environment(sim.now());
    double pick = u(sim.rng());
    Answer b, c;
    std::string method = "GET", path;
    double median;
    if (pick < 0.5) {
      path = "/api/search?q=lamp&page=" + std::to_string(i % 7);
      median = 20;
    } else if (pick < 0.8) {
      path = "/api/orders/" + std::to_string(100000 + i);
      median = 8;
    } else {
      path = with_users_collapse ? "/api/users/user" + std::to_string(i % 100) + "/profile"
                                 : "/api/users/" + std::to_string(i % 200);
      median = 5;
    }
    b.latency_ms = sim.lognormal(median) * env;
    c.latency_ms = sim.lognormal(median) * env;
    if (path.rfind("/api/search", 0) == 0) c.latency_ms *= slow;
    if (path.rfind("/api/orders/", 0) == 0 && u(sim.rng()) < fail) c.status = 503;
    sim.add(method, path, b, c);
  }
}

TEST(Compare, AaRunPassesAndPairsEverything) {
  test::TempDir dir;
  std::string path = dir.file("run.twin");
  {
    Sim sim(path, 7);
    simulate(sim, 30000, 1.0, 0.0);
  }
  auto r = compare(options_for(path));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->verdict, Verdict::kPass);
  EXPECT_EQ(r->counters["paired"], 30000);
  EXPECT_EQ(r->counters["unpaired_baseline"], 0);
  EXPECT_EQ(r->counters["unpaired_candidate"], 0);
  EXPECT_EQ(r->counters["evicted"], 0);
  EXPECT_EQ(r->overall.count, 30000u);
  // Routes learned from the paths: ids collapse, the query never makes a route.
  ASSERT_EQ(r->routes.size(), 3u);
  EXPECT_NE(find_route(*r, "GET", "/api/search"), nullptr);
  EXPECT_NE(find_route(*r, "GET", "/api/orders/{id}"), nullptr);
  EXPECT_NE(find_route(*r, "GET", "/api/users/{id}"), nullptr);
  for (const auto& rr : r->routes) EXPECT_EQ(rr.verdict, Verdict::kPass) << rr.route;
}

// The whole comparator, not only its statistics, must stay quiet when nothing changed: 40 seeded
// A/A runs with everything an A/A run has — latency noise with a shared drift, a 0.5 % error rate
// on both sides, the same answers — find a regression in at most 2 (the issue: >= 95 % quiet).
TEST(Compare, AaCalibrationOverFortySeeds) {
  test::TempDir dir;
  int regressed = 0;
  std::uniform_real_distribution<double> u(0, 1);
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    std::string path = dir.file("aa" + std::to_string(seed) + ".twin");
    {
      Sim sim(path, 1000 + seed);
      for (int i = 0; i < 6000; ++i) {
        sim.tick(60'000'000'000LL / 6000);
        double env = sim.environment(sim.now());
        Answer b, c;
        const char* paths[] = {"/api/a", "/api/b/", "/api/c"};
        std::string path_i = paths[i % 3];
        if (i % 3 == 1) path_i += std::to_string(i % 50);
        b.latency_ms = sim.lognormal(5 + i % 3) * env;
        c.latency_ms = sim.lognormal(5 + i % 3) * env;
        if (u(sim.rng()) < 0.005) b.status = 503;
        if (u(sim.rng()) < 0.005) c.status = 503;
        sim.add("GET", path_i, b, c);
      }
    }
    auto o = options_for(path);
    o.gate.resamples = 200;
    auto r = compare(o);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(r->counters["paired"], 6000);
    if (r->verdict == Verdict::kRegressed) ++regressed;
  }
  EXPECT_LE(regressed, 2);
  RecordProperty("aa_regressed", regressed);
}

TEST(Compare, SlowerRouteAndFailingRouteAreTheOnesReported) {
  test::TempDir dir;
  std::string path = dir.file("run.twin");
  {
    Sim sim(path, 11);
    simulate(sim, 30000, 1.3, 0.03);
  }
  auto r = compare(options_for(path));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->verdict, Verdict::kRegressed);
  const auto* search = find_route(*r, "GET", "/api/search");
  const auto* orders = find_route(*r, "GET", "/api/orders/{id}");
  const auto* users = find_route(*r, "GET", "/api/users/{id}");
  ASSERT_TRUE(search && orders && users);
  EXPECT_EQ(search->verdict, Verdict::kRegressed);
  const auto* p50 = latency_row(*search, "p50");
  ASSERT_NE(p50, nullptr);
  EXPECT_EQ(p50->verdict, Verdict::kRegressed);
  EXPECT_GT(p50->low, 1.0);
  EXPECT_NEAR(p50->ratio, 1.3, 0.1);
  EXPECT_FALSE(search->baseline_cdf.empty());
  EXPECT_FALSE(search->candidate_cdf.empty());

  EXPECT_EQ(orders->verdict, Verdict::kRegressed);
  const auto* e5 = error_row(*orders, "5xx");
  ASSERT_NE(e5, nullptr);
  EXPECT_EQ(e5->verdict, Verdict::kRegressed);
  EXPECT_EQ(e5->baseline, 0u);
  EXPECT_TRUE(e5->new_class);
  EXPECT_FALSE(e5->samples.empty());
  // Latency of orders did not change.
  for (const auto& row : orders->latency) EXPECT_NE(row.verdict, Verdict::kRegressed) << row.name;

  EXPECT_EQ(users->verdict, Verdict::kPass);
  // Regressed routes come first.
  EXPECT_EQ(r->routes[0].verdict, Verdict::kRegressed);
  EXPECT_EQ(r->routes[1].verdict, Verdict::kRegressed);
}

TEST(Compare, FewRequestsAreInsufficientNotGuessed) {
  test::TempDir dir;
  std::string path = dir.file("run.twin");
  {
    Sim sim(path, 3);
    for (int i = 0; i < 300; ++i) {
      sim.tick(100'000'000);
      Answer b, c;
      b.latency_ms = sim.lognormal(10);
      c.latency_ms = sim.lognormal(10) * 3;  // much slower, but on few requests
      sim.add("GET", "/rare", b, c);
    }
  }
  auto r = compare(options_for(path));
  ASSERT_TRUE(r.has_value());
  const auto* rare = find_route(*r, "GET", "/rare");
  ASSERT_NE(rare, nullptr);
  const auto* p99 = latency_row(*rare, "p99");
  ASSERT_NE(p99, nullptr);
  EXPECT_EQ(p99->verdict, Verdict::kInsufficient);
  EXPECT_NE(p99->note.find("needs 1000"), std::string::npos) << p99->note;
  // p50 has enough: a 3x slowdown there is caught.
  EXPECT_EQ(latency_row(*rare, "p50")->verdict, Verdict::kRegressed);
}

TEST(Compare, StatusChangesAndBodyDiffsWithNoiseCancellation) {
  test::TempDir dir;
  std::string path = dir.file("run.twin");
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  {
    Sim sim(path, 5);
    for (int i = 0; i < 4000; ++i) {
      sim.tick(10'000'000);
      auto body = [&](int price, bool fresh_ts) {
        return R"({"id":)" + std::to_string(i) + R"(,"price":)" + std::to_string(price) +
               R"(,"ts":")" + (fresh_ts ? std::to_string(rng()) : "x") + R"("})";
      };
      Answer b, c, n;
      b.body = body(10, true);
      n.body = body(10, true);
      // The candidate: a different price on 10 % of products, and 404 on 2 % of lookups.
      c.body = body(u(rng) < 0.10 ? 12 : 10, true);
      if (u(rng) < 0.02) {
        c.status = 404;
        c.body = R"({"error":"not found"})";
      }
      sim.add("GET", "/api/products/" + std::to_string(i % 300), b, c, &n);
    }
  }
  auto o = options_for(path);
  o.noise = "noise";
  auto r = compare(o);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->verdict, Verdict::kRegressed);
  ASSERT_EQ(r->routes.size(), 1u);
  const auto& rr = r->routes[0];
  EXPECT_EQ(rr.route, "/api/products/{id}");
  ASSERT_EQ(rr.diffs.size(), 1u);  // $.ts differs everywhere, also in the noise: cancelled
  EXPECT_EQ(rr.diffs[0].path, "$.price");
  EXPECT_NEAR(rr.diffs[0].rate, 0.10, 0.02);
  EXPECT_GE(rr.diffs[0].noise_rate, 0.0);
  EXPECT_EQ(rr.diffs[0].verdict, Verdict::kRegressed);
  const auto* changed = error_row(rr, "status changed");
  ASSERT_NE(changed, nullptr);
  EXPECT_EQ(changed->verdict, Verdict::kRegressed);
  ASSERT_FALSE(rr.status_changes.empty());
  EXPECT_EQ(rr.status_changes[0].baseline, 200);
  EXPECT_EQ(rr.status_changes[0].candidate, 404);
  const auto* changed4xx = error_row(rr, "4xx changed");
  ASSERT_NE(changed4xx, nullptr);
  EXPECT_GT(changed4xx->candidate, 40u);

  // Without the noise target the timestamps are reported too.
  auto plain = options_for(path);
  auto r2 = compare(plain);
  ASSERT_TRUE(r2.has_value());
  bool ts = false;
  for (const auto& d : r2->routes[0].diffs) ts = ts || d.path == "$.ts";
  EXPECT_TRUE(ts);

  // And a gate that ignores them and does not fail on diffs only warns about the price.
  auto gated = options_for(path);
  auto gate = parse_gate("diffs:\n  fail: false\n  ignore: ['$.ts']\n", "g.yaml");
  ASSERT_TRUE(gate.has_value()) << gate.error().message;
  gated.gate = *gate;
  gated.gate.resamples = 400;
  auto r3 = compare(gated);
  ASSERT_TRUE(r3.has_value());
  ASSERT_EQ(r3->routes[0].diffs.size(), 1u);
  EXPECT_EQ(r3->routes[0].diffs[0].verdict, Verdict::kWarn);
}

// gRPC answers are HTTP 200 whether the call worked or not: a candidate failing 8 % of its calls
// with UNAVAILABLE (and refusing 4 % with NOT_FOUND) regresses by its gRPC statuses, in any of
// the forms they come in; a candidate failing as often as the baseline does not.
TEST(Compare, GrpcStatusesAreTheCallsOutcome) {
  test::TempDir dir;
  std::uniform_real_distribution<double> u(0, 1);
  auto run = [&](uint64_t seed, double unavailable, double not_found) {
    const std::string path = dir.file("grpc" + std::to_string(seed) + ".twin");
    {
      Sim sim(path, seed);
      for (int i = 0; i < 3000; ++i) {
        sim.tick(20'000'000);
        Answer b, c;
        b.grpc = c.grpc = 0;
        b.grpc_form = c.grpc_form = i % 3;
        b.body = c.body = "\x0a\x02id";
        b.latency_ms = sim.lognormal(4);
        c.latency_ms = sim.lognormal(4);
        if (u(sim.rng()) < 0.01) b.grpc = 14;  // the baseline's own few failures
        const double x = u(sim.rng());
        if (x < unavailable) {
          c.grpc = 14;
          c.grpc_form = 1;  // a failure is most often Trailers-Only
        } else if (x < unavailable + not_found) {
          c.grpc = 5;
        } else if (x < unavailable + not_found + 0.01) {
          c.grpc = 14;
        }
        sim.add("POST", "/shop.v1.Orders/GetOrder", b, c);
      }
    }
    auto o = options_for(path);
    o.gate.resamples = 200;
    auto r = compare(o);
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return *r;
  };

  const Report bad = run(31, 0.08, 0.04);
  EXPECT_EQ(bad.verdict, Verdict::kRegressed);
  ASSERT_EQ(bad.routes.size(), 1u);
  const RouteReport* rr = find_route(bad, "POST", "/shop.v1.Orders/GetOrder");
  ASSERT_NE(rr, nullptr);
  const ErrorRow* unavailable = error_row(*rr, "grpc UNAVAILABLE");
  ASSERT_NE(unavailable, nullptr);
  EXPECT_EQ(unavailable->verdict, Verdict::kRegressed);
  EXPECT_NEAR(static_cast<double>(unavailable->candidate) / 3000, 0.09, 0.02);
  EXPECT_NEAR(static_cast<double>(unavailable->baseline) / 3000, 0.01, 0.006);
  EXPECT_EQ(error_row(*rr, "5xx"), nullptr);  // every answer was HTTP 200
  const ErrorRow* refused = error_row(*rr, "4xx changed");
  ASSERT_NE(refused, nullptr);
  EXPECT_NEAR(static_cast<double>(refused->candidate) / static_cast<double>(refused->candidate_n),
              0.04, 0.015);
  EXPECT_EQ(refused->verdict, Verdict::kRegressed);
  bool ok_to_unavailable = false, ok_to_not_found = false;
  for (const StatusChange& sc : rr->status_changes) {
    EXPECT_EQ(sc.baseline, 200);
    EXPECT_EQ(sc.candidate, 200);
    ok_to_unavailable |= sc.baseline_grpc == 0 && sc.candidate_grpc == 14 && sc.count > 150;
    ok_to_not_found |= sc.baseline_grpc == 0 && sc.candidate_grpc == 5 && sc.count > 60;
  }
  EXPECT_TRUE(ok_to_unavailable);
  EXPECT_TRUE(ok_to_not_found);

  // The same failure rate on both sides passes, over seeds.
  int regressed = 0;
  for (uint64_t seed = 40; seed < 50; ++seed) {
    const Report same = run(seed, 0, 0);
    if (same.verdict == Verdict::kRegressed) ++regressed;
  }
  EXPECT_LE(regressed, 1);
}

// A gRPC-Web answer whose body (and the status in its trailer frame) was cut at --max-body has no
// known status: no status change, no failure, no body diff is made of it.
TEST(Compare, GrpcStatusCutWithTheBodyIsNotAChange) {
  test::TempDir dir;
  const std::string path = dir.file("cut.twin");
  {
    Sim sim(path, 3);
    for (int i = 0; i < 400; ++i) {
      sim.tick(20'000'000);
      Answer b, c;
      b.grpc = c.grpc = 0;
      b.grpc_form = c.grpc_form = 2;
      b.body = c.body = "\x0a\x02id";
      b.cut = i % 2 == 0;
      sim.add("POST", "/shop.v1.Orders/GetOrder", b, c);
    }
  }
  auto o = options_for(path);
  o.gate.resamples = 200;
  auto r = compare(o);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->routes.size(), 1u);
  const RouteReport& rr = r->routes[0];
  EXPECT_EQ(error_row(rr, "status changed"), nullptr);
  EXPECT_TRUE(rr.status_changes.empty());
  EXPECT_TRUE(rr.errors.empty());
  EXPECT_EQ(r->counters["diff_skipped_partial"], 200);
}

TEST(Compare, SeparateArchivesPairAndLonelyResponsesAreCounted) {
  test::TempDir dir;
  std::string a = dir.file("a.twin"), b = dir.file("b.twin");
  {
    auto wa = traffic::Writer::open(a);
    auto wb = traffic::Writer::open(b);
    ASSERT_TRUE(wa && wb);
    int64_t t = 1'700'000'000'000'000'000;
    for (uint64_t i = 1; i <= 3000; ++i) {
      t += 10'000'000;
      Answer x;
      ASSERT_TRUE((*wa)->append(make(i, i, "baseline", "GET", "/x", t, x)));
      if (i % 100 != 0) {
        ASSERT_TRUE((*wb)->append(make(i, i, "candidate", "GET", "/x", t, x)));
      }
      if (i % 500 == 0) {
        // A target nobody asked about.
        ASSERT_TRUE((*wb)->append(make(100000 + i, i, "other", "GET", "/x", t, x)));
      }
    }
    ASSERT_TRUE((*wa)->close());
    ASSERT_TRUE((*wb)->close());
  }
  auto o = options_for(a);
  o.inputs.push_back(b);
  o.max_pending = 1000;
  auto r = compare(o);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->counters["paired"], 2970);
  EXPECT_EQ(r->counters["unpaired_baseline"], 30);
  EXPECT_EQ(r->counters["unpaired_candidate"], 0);
  EXPECT_EQ(r->counters["evicted"], 0);  // merged by time: partners arrive together
  EXPECT_EQ(r->counters["targets"]["other"], 6);
  EXPECT_EQ(r->verdict, Verdict::kPass);
}

// Writes 5000 pairs whose candidate answer comes `lag` records after the baseline's, all at one
// instant (so that merging by time cannot bring them together).
void write_lagged(const std::string& path, uint64_t lag) {
  auto w = traffic::Writer::open(path);
  ASSERT_TRUE(w);
  int64_t t0 = 1'700'000'000'000'000'000;
  Answer x;
  for (uint64_t i = 1; i <= 5000 + lag; ++i) {
    if (i <= 5000) {
      ASSERT_TRUE((*w)->append(make(i, i, "baseline", "GET", "/x", t0, x)));
    }
    if (i > lag) {
      uint64_t k = i - lag;
      ASSERT_TRUE((*w)->append(make(10000 + k, k, "candidate", "GET", "/x", t0, x)));
    }
  }
  ASSERT_TRUE((*w)->close());
}

TEST(Compare, AWindowTooSmallEvictsAndCounts) {
  test::TempDir dir;
  std::string near = dir.file("near.twin"), far = dir.file("far.twin");
  write_lagged(near, 800);
  write_lagged(far, 1500);
  auto o = options_for(near);
  o.max_pending = 1000;
  auto r = compare(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->counters["paired"], 5000);  // partners within the window
  EXPECT_EQ(r->counters["evicted"], 0);

  o.inputs = {far};
  r = compare(o);
  ASSERT_TRUE(r.has_value());
  // Each baseline answer waited 1500 records for its partner, beyond the window of 1000: all
  // were given up, counted, and their partners found nobody.
  EXPECT_EQ(r->counters["paired"], 0);
  EXPECT_EQ(r->counters["unpaired_baseline"], 5000);
  EXPECT_EQ(r->counters["unpaired_candidate"], 5000);
  EXPECT_GE(r->counters["evicted"].get<uint64_t>(), 5000u);
  bool noted = false;
  for (const auto& n : r->notes) noted = noted || n.find("given up") != std::string::npos;
  EXPECT_TRUE(noted);

  o.max_pending = 2000;
  r = compare(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->counters["paired"], 5000);
  EXPECT_EQ(r->counters["evicted"], 0);
}

TEST(Compare, CaptureAsBaselineShowsLatencyWithoutGatingIt) {
  test::TempDir dir;
  std::string cap = dir.file("cap.twin"), res = dir.file("res.twin");
  {
    auto wc = traffic::Writer::open(cap);
    auto wr = traffic::Writer::open(res);
    ASSERT_TRUE(wc && wr);
    int64_t t = 1'700'000'000'000'000'000;
    std::mt19937_64 rng(1);
    std::lognormal_distribution<double> d(std::log(5.0), 0.4);
    for (uint64_t i = 1; i <= 3000; ++i) {
      t += 20'000'000;
      Answer prod, replayed;
      prod.latency_ms = d(rng);
      replayed.latency_ms = d(rng) * 2;  // another environment, twice as slow
      Exchange e = make(i, 0, "", "GET", "/api/users/" + std::to_string(i % 50), t, prod);
      e.time.intended = traffic::kNoTime;  // a capture has no intended instant
      ASSERT_TRUE((*wc)->append(e));
      ASSERT_TRUE((*wr)->append(make(50000 + i, i, "candidate", "GET",
                                     "/api/users/" + std::to_string(i % 50),
                                     t + 3'600'000'000'000LL, replayed)));
    }
    ASSERT_TRUE((*wc)->close());
    ASSERT_TRUE((*wr)->close());
  }
  CompareOptions o;
  o.inputs = {cap, res};
  o.baseline = kCaptureTarget;
  o.candidate = "candidate";
  o.gate.resamples = 400;
  o.max_pending = 100'000;
  auto r = compare(o);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->counters["paired"], 3000);
  EXPECT_FALSE(r->latency_gated);
  EXPECT_EQ(r->verdict, Verdict::kPass);
  const auto* p50 = latency_row(r->overall, "p50");
  ASSERT_NE(p50, nullptr);
  EXPECT_EQ(p50->verdict, Verdict::kInfo);
  EXPECT_NEAR(p50->ratio, 2.0, 0.2);
}

TEST(Compare, SkippedRoutesAndTargetMistakes) {
  test::TempDir dir;
  std::string path = dir.file("run.twin");
  {
    Sim sim(path, 9);
    for (int i = 0; i < 2000; ++i) {
      sim.tick(50'000'000);
      Answer b, c;
      c.status = 500;  // the health check fails on the candidate, and nothing else happens
      sim.add("GET", "/healthz", b, c);
      sim.add("GET", "/api/a", Answer{}, Answer{});
    }
  }
  auto o = options_for(path);
  auto gate = parse_gate("routes:\n  skip: ['GET /healthz']\n", "g.yaml");
  ASSERT_TRUE(gate.has_value()) << gate.error().message;
  o.gate = *gate;
  o.gate.resamples = 400;
  auto r = compare(o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->verdict, Verdict::kPass);
  EXPECT_EQ(r->counters["routes_skipped"], 1);
  EXPECT_EQ(r->counters["skipped_pairs"], 2000);
  EXPECT_EQ(r->overall.count, 2000u);
  // Without the skip the same run fails.
  auto r2 = compare(options_for(path));
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->verdict, Verdict::kRegressed);

  auto wrong = options_for(path);
  wrong.candidate = "candidat";
  auto r3 = compare(wrong);
  ASSERT_TRUE(r3.has_value());
  EXPECT_EQ(r3->counters["paired"], 0);
  EXPECT_EQ(r3->counters["unpaired_baseline"], 4000);

  auto same = options_for(path);
  same.candidate = "baseline";
  EXPECT_FALSE(compare(same).has_value());
  auto missing = options_for(dir.file("nope.twin"));
  auto r4 = compare(missing);
  ASSERT_FALSE(r4.has_value());
  EXPECT_NE(r4.error().message.find("nope.twin"), std::string::npos);
}

TEST(Compare, ArchivesRecordedAtDifferentTimesPairByOffset) {
  // One replay per target, the second run an hour after the first: each archive's instants are
  // taken from its own start, so the partners still meet within a small window.
  test::TempDir dir;
  std::string a = dir.file("a.twin"), b = dir.file("b.twin");
  {
    auto wa = traffic::Writer::open(a);
    auto wb = traffic::Writer::open(b);
    ASSERT_TRUE(wa && wb);
    int64_t t = 1'700'000'000'000'000'000;
    for (uint64_t i = 1; i <= 3000; ++i) {
      t += 10'000'000;
      Answer x;
      ASSERT_TRUE((*wa)->append(make(i, i, "baseline", "GET", "/x", t, x)));
      ASSERT_TRUE((*wb)->append(make(i, i, "candidate", "GET", "/x", t + 3'600'000'000'000, x)));
    }
    ASSERT_TRUE((*wa)->close());
    ASSERT_TRUE((*wb)->close());
  }
  auto o = options_for(a);
  o.inputs.push_back(b);
  o.max_pending = 1000;
  auto r = compare(o);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->counters["paired"], 3000);
  EXPECT_EQ(r->counters["evicted"], 0);
  EXPECT_EQ(r->verdict, Verdict::kPass);
}

TEST(Compare, WhatCannotBeComparedIsCountedNotGuessed) {
  test::TempDir dir;
  std::string path = dir.file("run.twin");
  {
    auto w = traffic::Writer::open(path);
    ASSERT_TRUE(w);
    int64_t t = 1'700'000'000'000'000'000;
    for (uint64_t i = 1; i <= 2000; ++i) {
      t += 10'000'000;
      Answer b, c;
      c.body = R"({"ok":false})";  // differs everywhere...
      Exchange eb = make(2 * i, i, "baseline", "GET", "/metrics", t, b);
      Exchange ec = make(2 * i + 1, i, "candidate", "GET", "/metrics", t, c);
      if (i % 2 == 0) ec.flags |= traffic::kFlagResponseBodyTruncated;  // ...half cut short
      ASSERT_TRUE((*w)->append(eb));
      ASSERT_TRUE((*w)->append(ec));
    }
    // A replayed exchange that names no origin, and one with an absurd instant.
    Answer x;
    ASSERT_TRUE((*w)->append(make(90001, 0, "candidate", "GET", "/x", t, x)));
    ASSERT_TRUE((*w)->append(make(90002, 5000, "baseline", "GET", "/metrics",
                                  t + 400LL * 24 * 3600 * 1'000'000'000, x)));
    ASSERT_TRUE((*w)->append(make(90003, 5000, "candidate", "GET", "/metrics",
                                  t + 400LL * 24 * 3600 * 1'000'000'000, x)));
    ASSERT_TRUE((*w)->close());
  }
  auto r = compare(options_for(path));
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->counters["without_origin"], 1);
  EXPECT_EQ(r->counters["unpaired_candidate"], 1);
  EXPECT_EQ(r->counters["bad_instants"], 2);
  EXPECT_EQ(r->counters["paired"], 2001);
  EXPECT_EQ(r->counters["diff_skipped_partial"], 1000);
  ASSERT_EQ(r->routes.size(), 1u);
  ASSERT_EQ(r->routes[0].diffs.size(), 1u);
  EXPECT_EQ(r->routes[0].diffs[0].compared, 1001u);  // the whole bodies only
  // The absurd instant did not squeeze the run into one time block: latency is still decided.
  EXPECT_EQ(latency_row(r->overall, "p50")->verdict, Verdict::kPass);

  // Every pair on a skipped route (the '**' of a skip matches nothing too): nothing compared.
  auto o = options_for(path);
  auto gate = parse_gate("routes:\n  skip: ['* /metrics/**']\n", "g.yaml");
  ASSERT_TRUE(gate.has_value()) << gate.error().message;
  o.gate = *gate;
  auto skipped = compare(o);
  ASSERT_TRUE(skipped.has_value());
  EXPECT_EQ(skipped->counters["skipped_pairs"], 2001);
  EXPECT_EQ(skipped->verdict, Verdict::kInsufficient);
}

TEST(Gate, DefaultsAndAFullFile) {
  auto g = parse_gate("", "g.yaml");
  ASSERT_TRUE(g.has_value());
  EXPECT_DOUBLE_EQ(g->alpha, 0.01);
  ASSERT_EQ(g->quantiles.size(), 4u);
  EXPECT_EQ(g->quantiles[2].name, "p99");
  EXPECT_DOUBLE_EQ(g->quantiles[2].min_effect, 0.10);

  auto full = parse_gate(R"(
alpha: 0.05
latency:
  quantiles:
    p50: 5%
    p99: {min_effect: 0.2, min_count: 500, min_delta: 2ms}
    p99.9: {min_effect: 30%}
  min_blocks: 10
  block: 250ms
errors:
  min_effect: 0.5%
  fail_on_new_class: true
status:
  min_effect: 1%
diffs:
  fail: false
  headers: true
  ignore: ['$.meta.**', header.etag]
  unordered: ['$.tags', '$.items[*].roles']
  noise: {relative: 50%, absolute: 0.2%}
routes:
  max_literals: 10
  overrides:
    - {method: GET, pattern: '/files/**', route: '/files/{path}'}
  skip: ['* /healthz']
)",
                         "full.yaml");
  ASSERT_TRUE(full.has_value()) << full.error().message;
  EXPECT_DOUBLE_EQ(full->alpha, 0.05);
  ASSERT_EQ(full->quantiles.size(), 3u);
  EXPECT_DOUBLE_EQ(full->quantiles[0].q, 0.5);
  EXPECT_DOUBLE_EQ(full->quantiles[0].min_effect, 0.05);
  EXPECT_EQ(full->quantiles[1].min_count, 500u);
  EXPECT_DOUBLE_EQ(full->quantiles[1].min_delta_ms, 2.0);
  EXPECT_DOUBLE_EQ(full->quantiles[0].min_delta_ms, 0.5);
  EXPECT_DOUBLE_EQ(full->quantiles[2].q, 0.999);
  EXPECT_EQ(full->quantiles[2].min_count, 10000u);
  EXPECT_EQ(full->min_blocks, 10u);
  EXPECT_EQ(full->block_ns, 250'000'000);
  EXPECT_DOUBLE_EQ(full->error_min_effect, 0.005);
  EXPECT_TRUE(full->fail_on_new_error_class);
  EXPECT_DOUBLE_EQ(full->status_min_effect, 0.01);
  EXPECT_FALSE(full->fail_on_diffs);
  EXPECT_TRUE(full->diff.headers);
  EXPECT_EQ(full->diff.ignore.size(), 2u);
  EXPECT_EQ(full->diff.unordered, (std::vector<std::string>{"$.tags", "$.items[*].roles"}));
  EXPECT_DOUBLE_EQ(full->noise.relative, 0.5);
  EXPECT_DOUBLE_EQ(full->noise.absolute, 0.002);
  EXPECT_EQ(full->routes.max_literals, 10u);
  ASSERT_EQ(full->routes.overrides.size(), 1u);
  EXPECT_EQ(full->routes.overrides[0].route, "/files/{path}");
  ASSERT_EQ(full->skip.size(), 1u);
}

TEST(Gate, TheExampleGatesParseAndTheDefaultOneIsTheDefaults) {
  auto def = load_gate(std::string(TWIN_SOURCE_DIR) + "/examples/gates/default.yaml");
  ASSERT_TRUE(def.has_value()) << def.error().message;
  Gate builtin;
  EXPECT_EQ(def->alpha, builtin.alpha);
  ASSERT_EQ(def->quantiles.size(), builtin.quantiles.size());
  for (size_t i = 0; i < builtin.quantiles.size(); ++i) {
    EXPECT_EQ(def->quantiles[i].name, builtin.quantiles[i].name);
    EXPECT_DOUBLE_EQ(def->quantiles[i].q, builtin.quantiles[i].q);
    EXPECT_DOUBLE_EQ(def->quantiles[i].min_effect, builtin.quantiles[i].min_effect);
    EXPECT_DOUBLE_EQ(def->quantiles[i].min_delta_ms, builtin.quantiles[i].min_delta_ms);
    EXPECT_EQ(def->quantiles[i].min_count, builtin.quantiles[i].min_count);
  }
  EXPECT_EQ(def->min_blocks, builtin.min_blocks);
  EXPECT_EQ(def->block_ns, builtin.block_ns);
  EXPECT_EQ(def->max_blocks, builtin.max_blocks);
  EXPECT_EQ(def->resamples, builtin.resamples);
  EXPECT_DOUBLE_EQ(def->error_min_effect, builtin.error_min_effect);
  EXPECT_DOUBLE_EQ(def->status_min_effect, builtin.status_min_effect);
  EXPECT_EQ(def->fail_on_diffs, builtin.fail_on_diffs);
  EXPECT_DOUBLE_EQ(def->noise.relative, builtin.noise.relative);
  EXPECT_DOUBLE_EQ(def->noise.absolute, builtin.noise.absolute);
  EXPECT_EQ(def->noise.samples, builtin.noise.samples);
  EXPECT_EQ(def->diff.max_paths, builtin.diff.max_paths);
  EXPECT_EQ(def->routes.max_literals, builtin.routes.max_literals);
  EXPECT_EQ(def->routes.max_templates, builtin.routes.max_templates);
  auto shop = load_gate(std::string(TWIN_SOURCE_DIR) + "/examples/gates/shop.yaml");
  ASSERT_TRUE(shop.has_value()) << shop.error().message;
}

TEST(Gate, ProtobufDescriptorsAreReadRelativeToTheGateFile) {
  namespace pb = test::pb;
  test::TempDir dir;
  // A FileDescriptorSet written by hand: package p, message M { int32 x = 1; }.
  const std::string field = pb::ld(1, "x") + pb::vi(3, 1) + pb::vi(4, 1) + pb::vi(5, 5);
  const std::string message = pb::ld(1, "M") + pb::ld(2, field);
  test::spit(dir.file("m.pb"),
             pb::ld(1, pb::ld(1, "m.proto") + pb::ld(2, "p") + pb::ld(4, message)));
  test::spit(dir.file("junk.pb"), std::string("\x0a\x05"
                                              "ab",
                                              4));
  const std::string gate = dir.file("gate.yaml");
  test::spit(gate, "diffs:\n  protobuf_descriptors: [m.pb]\n");
  auto g = load_gate(gate);
  ASSERT_TRUE(g.has_value()) << g.error().message;
  ASSERT_NE(g->diff.protobuf, nullptr);
  const auto* m = g->diff.protobuf->message("p.M");
  ASSERT_NE(m, nullptr);
  ASSERT_NE(m->field(1), nullptr);
  EXPECT_EQ(m->field(1)->name, "x");
  // Read as the gate says: field 1 of a body of type p.M is named.
  ResponseDiffer differ(g->diff);
  traffic::Response a, b;
  a.status = b.status = 200;
  a.headers = b.headers = {{"Content-Type", "application/x-protobuf; proto=p.M"}};
  a.body = pb::vi(1, 1);
  b.body = pb::vi(1, 2);
  std::vector<std::string> out;
  ASSERT_TRUE(differ.diff(a, b, out));
  EXPECT_EQ(out, std::vector<std::string>{"$.x"});
  // A missing file and one that is not a descriptor set: file:line:column, and which file.
  test::spit(gate, "diffs:\n  protobuf_descriptors: [nope.pb]\n");
  g = load_gate(gate);
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error().message.rfind(gate + ":2:26:", 0), 0u) << g.error().message;
  EXPECT_NE(g.error().message.find("nope.pb: cannot open"), std::string::npos);
  test::spit(gate, "diffs:\n  protobuf_descriptors: [m.pb, junk.pb]\n");
  g = load_gate(gate);
  ASSERT_FALSE(g.has_value());
  EXPECT_NE(g.error().message.find("junk.pb: not a FileDescriptorSet"), std::string::npos)
      << g.error().message;
  test::spit(gate, "diffs:\n  protobuf_descriptors: m.pb\n");
  g = load_gate(gate);
  ASSERT_FALSE(g.has_value());
  EXPECT_NE(g.error().message.find("must be a list of files"), std::string::npos);
}

TEST(Gate, MistakesNameTheLineAndColumn) {
  struct Case {
    const char* text;
    const char* where;
    const char* what;
  };
  const Case cases[] = {
      {"alpha: 0.01\nlatencyy: {}\n", "g.yaml:2:1:", "unknown key 'latencyy'"},
      {"latency:\n  quantiles:\n    q99: 10%\n", "g.yaml:3:5:", "p50, p99"},
      {"latency:\n  quantiles:\n    p99: ten\n", "g.yaml:3:10:", "share"},
      {"alpha: 2\n", "g.yaml:1:8:", "between"},
      {"errors:\n  min_effect: 150%\n", "g.yaml:2:15:", "at most"},
      {"routes:\n  skip: ['healthz']\n", "g.yaml:2:9:", "METHOD /pattern"},
      {"diffs:\n  ignore: ['price']\n", "g.yaml:2:11:", "starts with '$'"},
      {"latency:\n  block: 5 minutes\n", "g.yaml:2:10:", "duration"},
      {"diffs:\n  ignore: ['$[\"a']\n", "g.yaml:2:11:", "unclosed"},
      {"diffs:\n  unordered: ['tags']\n", "g.yaml:2:14:", "starts with '$'"},
      {"diffs:\n  unordered: [header.x]\n", "g.yaml:2:14:", "starts with '$'"},
      {"diffs:\n  unordered: ['$[\"a']\n", "g.yaml:2:14:", "unclosed"},
      {"latency:\n  min_blocks: 100\n", "g.yaml:2:3:", "at most half"},
      {"alpha: [1\n", "g.yaml:", ""},
  };
  for (const auto& c : cases) {
    auto g = parse_gate(c.text, "g.yaml");
    ASSERT_FALSE(g.has_value()) << c.text;
    EXPECT_EQ(g.error().message.rfind(c.where, 0), 0u) << g.error().message;
    EXPECT_NE(g.error().message.find(c.what), std::string::npos) << g.error().message;
    EXPECT_EQ(g.error().message.find('\n'), std::string::npos);
  }
  auto missing = load_gate("/nonexistent/gate.yaml");
  ASSERT_FALSE(missing.has_value());
  EXPECT_NE(missing.error().message.find("/nonexistent/gate.yaml"), std::string::npos);
}

}  // namespace
}  // namespace twin::compare
