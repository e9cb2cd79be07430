// The planner: intended instants for each schedule, capture order restored, session order,
// filters and sampling — read back from the inboxes it fills, without a network.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "files.h"
#include "plan.h"
#include "planner.h"
#include "twin/replay/http1.h"
#include "twin/replay/http2.h"
#include "twin/traffic/archive.h"

namespace twin::replay::detail {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000'000;  // a capture's first instant
constexpr int64_t kMs = 1'000'000;

struct Captured {
  uint64_t id;
  uint64_t session;
  int64_t start_ms;
  int64_t end_ms;  // response end
  std::string method = "GET";
  std::string target = "/";
  uint32_t flags = 0;
};

std::string write_archive(const test::TempDir& dir, const std::vector<Captured>& xs) {
  std::string path = dir.file("in.twin");
  auto w = traffic::Writer::open(path);
  EXPECT_TRUE(w);
  for (const auto& c : xs) {
    traffic::Exchange e;
    e.id = c.id;
    e.session = c.session;
    e.time.request_start = kT0 + c.start_ms * kMs;
    e.time.request_end = e.time.request_start;
    e.time.response_end = kT0 + c.end_ms * kMs;
    e.request.method = c.method;
    e.request.target = c.target;
    e.response = traffic::Response{};
    e.response->status = 200;
    e.flags = c.flags;
    EXPECT_TRUE((*w)->append(e));
  }
  EXPECT_TRUE((*w)->close());
  return path;
}

// Writes exchanges 1..n to `path`, each with its id set and then filled by `fill(i, e)`.
template <typename Fill>
void write_exchanges(const std::string& path, uint64_t n, Fill fill) {
  auto w = traffic::Writer::open(path);
  ASSERT_TRUE(w);
  for (uint64_t i = 1; i <= n; ++i) {
    traffic::Exchange e;
    e.id = i;
    fill(i, e);
    ASSERT_TRUE((*w)->append(e));
  }
  ASSERT_TRUE((*w)->close());
}

struct Planned {
  std::vector<Item> items;  // every item of every inbox, sorted by (intended, origin_id)
  std::unique_ptr<Planner> planner;
};

Planned plan(Options o, size_t workers = 1) {
  o.ahead_seconds = 1e6;  // plan everything at once
  o.max_ahead = 1 << 20;
  if (o.targets.empty()) o.targets.push_back(*parse_target("http://127.0.0.1:1"));
  auto inboxes = std::make_unique<std::vector<Inbox>>(workers);
  std::atomic<bool> stop{false};
  Planned out;
  // The planner keeps references: the inboxes must outlive it; keep them with the result.
  static std::vector<std::unique_ptr<std::vector<Inbox>>> keep;
  static std::vector<std::unique_ptr<Options>> keep_options;
  keep_options.push_back(std::make_unique<Options>(o));
  out.planner = std::make_unique<Planner>(*keep_options.back(), *inboxes, 0, stop);
  auto r = out.planner->run();
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  for (auto& inbox : *inboxes) {
    EXPECT_EQ(inbox.queued.load(), inbox.items.size());
    for (auto& it : inbox.items) out.items.push_back(std::move(it));
  }
  keep.push_back(std::move(inboxes));
  std::sort(out.items.begin(), out.items.end(), [](const Item& a, const Item& b) {
    return a.intended != b.intended ? a.intended < b.intended : a.origin_id < b.origin_id;
  });
  return out;
}

// What target `t` is sent for `it`: the planner's prepared form when it has one, else what a
// worker prepares from the item's request.
OutRequest sent(const Item& it, const Options& o, size_t t) {
  OutRequest r;
  if (it.prepared) {
    const Prepared& p = it.prepared[t];
    r.method = p.method();
    r.path = p.path();
    r.authority = p.authority();
    for (size_t i = 0; i < p.headers(); ++i)
      r.headers.push_back({std::string(p.name(i)), std::string(p.value(i))});
    r.body = p.body();
    r.body_truncated = p.body_truncated();
  } else {
    prepare(it.req(), it.body_truncated,
            o.targets.empty() ? *parse_target("http://127.0.0.1:1") : o.targets[t], o.rewrite, r);
  }
  return r;
}

void expect_same(const OutRequest& a, const OutRequest& b, uint64_t id) {
  EXPECT_EQ(a.method, b.method) << id;
  EXPECT_EQ(a.path, b.path) << id;
  EXPECT_EQ(a.authority, b.authority) << id;
  EXPECT_EQ(a.headers, b.headers) << id;
  EXPECT_EQ(a.body, b.body) << id;
  EXPECT_EQ(a.body_truncated, b.body_truncated) << id;
}

TEST(RouteMatch, SegmentsAndDeepStars) {
  EXPECT_TRUE(route_match("/api/users/*", "/api/users/7"));
  EXPECT_FALSE(route_match("/api/users/*", "/api/users/7/orders"));
  EXPECT_TRUE(route_match("/api/**", "/api/users/7/orders"));
  EXPECT_TRUE(route_match("/static/*.css", "/static/style.css"));
  EXPECT_FALSE(route_match("/static/*.css", "/static/app.js"));
  EXPECT_TRUE(route_match("*", "x"));
  EXPECT_FALSE(route_match("/a", "/ab"));
  EXPECT_TRUE(route_match("**", "/any/thing"));
}

TEST(Planner, FaithfulScalesCapturedGapsAndRestoresOrder) {
  test::TempDir dir;
  // Stored out of capture order, as a capture writes exchanges when they complete.
  std::vector<Captured> xs = {
      {3, 1, 300, 310}, {1, 1, 0, 10}, {2, 2, 100, 5000}, {5, 3, 1000, 1001}, {4, 2, 200, 210}};
  Options o;
  o.input = write_archive(dir, xs);
  o.speed = 2;
  auto p = plan(o);
  ASSERT_EQ(p.items.size(), 5u);
  std::map<uint64_t, int64_t> want = {{1, 0}, {2, 50}, {3, 150}, {4, 100}, {5, 500}};
  for (const auto& it : p.items) EXPECT_EQ(it.intended, want[it.origin_id] * kMs) << it.origin_id;
  EXPECT_EQ(p.planner->planned(), 5u);
}

TEST(Planner, SessionOrderFollowsTheCapture) {
  test::TempDir dir;
  // Session 1: sequential. Session 2: request 5 was sent before 4's response ended (pipelined):
  // it must not wait for it.
  std::vector<Captured> xs = {{1, 1, 0, 10},  {2, 1, 20, 30},  {3, 1, 40, 50},
                              {4, 2, 0, 100}, {5, 2, 50, 120}, {6, 2, 200, 210}};
  Options o;
  o.input = write_archive(dir, xs);
  auto p = plan(o);
  std::map<uint64_t, bool> waits;
  std::map<uint64_t, uint64_t> session;
  for (const auto& it : p.items) {
    waits[it.origin_id] = it.wait_previous;
    session[it.origin_id] = it.session;
  }
  EXPECT_FALSE(waits[1]);
  EXPECT_TRUE(waits[2]);
  EXPECT_TRUE(waits[3]);
  EXPECT_FALSE(waits[4]);
  EXPECT_FALSE(waits[5]);
  EXPECT_TRUE(waits[6]);  // after both 4 and 5 ended
  EXPECT_EQ(session[1], session[2]);
  EXPECT_NE(session[1], session[4]);
  EXPECT_NE(session[1], 0u);

  o.keep_order = false;
  auto q = plan(o);
  for (const auto& it : q.items) {
    EXPECT_FALSE(it.wait_previous);
    EXPECT_EQ(it.session, 0u);
  }
}

TEST(Planner, UniformRate) {
  test::TempDir dir;
  std::vector<Captured> xs;
  for (uint64_t i = 1; i <= 100; ++i) xs.push_back({i, i, static_cast<int64_t>(i * 7 % 13), 20});
  Options o;
  o.input = write_archive(dir, xs);
  o.mode = Mode::kRate;
  o.rate = 400;  // 2.5 ms apart
  auto p = plan(o);
  ASSERT_EQ(p.items.size(), 100u);
  for (size_t i = 0; i < p.items.size(); ++i)
    EXPECT_EQ(p.items[i].intended, static_cast<int64_t>(i) * 2'500'000);
}

TEST(Planner, PoissonArrivalsHaveTheRateAndTheVariance) {
  test::TempDir dir;
  std::vector<Captured> xs;
  for (uint64_t i = 1; i <= 20000; ++i) xs.push_back({i, i, static_cast<int64_t>(i), 0});
  Options o;
  o.input = write_archive(dir, xs);
  o.mode = Mode::kRate;
  o.rate = 1000;
  o.poisson = true;
  // Over seeds, the mean gap is 1 ms within 3 % and the coefficient of variation is ~1 (an
  // exponential's), not ~0 (uniform).
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    o.seed = seed;
    auto p = plan(o);
    ASSERT_EQ(p.items.size(), xs.size());
    double sum = 0, sum2 = 0;
    int64_t prev = 0;
    for (const auto& it : p.items) {
      double gap = static_cast<double>(it.intended - prev) / 1e6;
      prev = it.intended;
      sum += gap;
      sum2 += gap * gap;
    }
    double n = static_cast<double>(p.items.size());
    double mean = sum / n;
    double cv = std::sqrt(sum2 / n - mean * mean) / mean;
    EXPECT_NEAR(mean, 1.0, 0.03) << seed;
    EXPECT_NEAR(cv, 1.0, 0.05) << seed;
  }
}

TEST(Planner, FiltersAndWindow) {
  test::TempDir dir;
  std::vector<Captured> xs = {
      {1, 1, 0, 1, "GET", "/api/users/7"},
      {2, 1, 1000, 1001, "POST", "/api/orders"},
      {3, 2, 2000, 2001, "GET", "/static/a.css"},
      {4, 2, 3000, 3001, "GET", "/api/users/8?x"},
      {5, 3, 4000, 4001, "get", "/api/users/9"},
      {6, 3, 5000, 5001, "", "/"},
      {7, 4, 6000, 6001, "PUT", "/api/users/1", traffic::kFlagRequestBodyTruncated}};
  Options o;
  o.input = write_archive(dir, xs);
  o.filter.methods = {"GET"};
  o.filter.routes = {"/api/users/*"};
  auto p = plan(o);
  std::set<uint64_t> got;
  for (const auto& it : p.items) got.insert(it.origin_id);
  EXPECT_EQ(got, (std::set<uint64_t>{1, 4}));  // methods are matched as written: "get" is not GET
  EXPECT_EQ(p.planner->skipped_no_request(), 1u);

  Options w;
  w.input = o.input;
  w.filter.from_offset = 1;
  w.filter.until_offset = 4;
  auto q = plan(w);
  got.clear();
  for (const auto& it : q.items) got.insert(it.origin_id);
  EXPECT_EQ(got, (std::set<uint64_t>{2, 3, 4}));

  Options a;
  a.input = o.input;
  a.filter.from = kT0 + 3000 * kMs;
  auto r = plan(a);
  got.clear();
  for (const auto& it : r.items) got.insert(it.origin_id);
  EXPECT_EQ(got, (std::set<uint64_t>{4, 5}));  // 7's body was cut at capture: not sent
  EXPECT_EQ(r.planner->skipped_truncated(), 1u);
  a.skip_truncated = false;
  EXPECT_EQ(plan(a).items.size(), 3u);
}

TEST(Planner, SamplingKeepsWholeSessionsAtTheRate) {
  test::TempDir dir;
  std::vector<Captured> xs;
  for (uint64_t i = 1; i <= 12000; ++i) xs.push_back({i, i % 3000 + 1, static_cast<int64_t>(i), 0});
  Options o;
  o.input = write_archive(dir, xs);
  o.filter.sample = 0.25;
  std::set<uint64_t> first;
  for (uint64_t key = 1; key <= 4; ++key) {
    o.filter.sample_seed = key;
    auto p = plan(o);
    std::map<uint64_t, int> per_session;
    for (const auto& it : p.items) per_session[(it.origin_id) % 3000 + 1]++;
    for (const auto& [s, n] : per_session) EXPECT_EQ(n, 4) << "session " << s << " split";
    double kept = static_cast<double>(per_session.size()) / 3000.0;
    EXPECT_NEAR(kept, 0.25, 0.03) << key;
    std::set<uint64_t> ids;
    for (const auto& it : p.items) ids.insert(it.origin_id);
    if (key == 1)
      first = ids;
    else
      EXPECT_NE(ids, first);  // another key, other sessions
  }
  o.filter.sample_seed = 1;
  auto again = plan(o);
  std::set<uint64_t> ids;
  for (const auto& it : again.items) ids.insert(it.origin_id);
  EXPECT_EQ(ids, first);  // stable for the same key
}

TEST(Planner, LoopWithDurationRepeatsTheInputInTime) {
  test::TempDir dir;
  std::vector<Captured> xs = {{1, 1, 0, 1}, {2, 1, 100, 101}, {3, 2, 200, 201}};
  Options o;
  o.input = write_archive(dir, xs);
  o.loop = true;
  o.duration = 1.0;  // 1 s of a 300 ms cycle (200 ms span + one 100 ms mean gap)
  auto p = plan(o);
  ASSERT_EQ(p.items.size(), 10u);  // 0,100,200, 300,400,500, 600,700,800, 900
  for (size_t i = 0; i < p.items.size(); ++i)
    EXPECT_EQ(p.items[i].intended, static_cast<int64_t>(i) * 100 * kMs);
  EXPECT_EQ(p.planner->loops(), 3u);
  // Each pass is a new set of sessions, so that a loop's first request does not wait for the
  // last of the previous pass.
  EXPECT_NE(p.items[0].session, p.items[3].session);
}

// --loop plans its later passes from the first pass's copy: the same items (order, instants,
// sessions, session order, filters, skipped counts, the requests whole) as reading the input
// on every pass; over the budget it reads the input every time.
TEST(Planner, LoopFromMemoryPlansWhatReadingPlans) {
  test::TempDir dir;
  const std::string path = dir.file("in.twin");
  write_exchanges(path, 40, [](uint64_t i, traffic::Exchange& e) {
    e.session = 1 + i % 5;
    // stored out of captured order (the reorder window puts them back)
    const int64_t start_ms = static_cast<int64_t>(((i * 7) % 40) * 10);
    e.time.request_start = kT0 + start_ms * kMs;
    e.time.request_end = e.time.request_start;
    e.request.method = i % 9 == 0 ? "DELETE" : "GET";
    e.request.target = "/items/" + std::to_string(i) + "?q=a-fairly-long-query-string";
    e.request.authority = "shop.example";
    e.request.headers = {{"User-Agent", "twin-test/1.0 (a header longer than SSO)"},
                         {"X-Seq", std::to_string(i)}};
    e.request.body = i % 4 == 0 ? std::string(100 + i, 'b') : "";
    if (i % 11 == 0) e.flags = traffic::kFlagRequestBodyTruncated;
    if (i % 6 != 0) {
      e.response = traffic::Response{};
      e.response->status = 200;
      // some responses end after the session's next request started (no wait for them)
      e.time.response_end =
          e.time.request_start + (i % 3 == 2 ? 400 * kMs : static_cast<int64_t>(i % 3) * kMs);
    }
  });
  for (Mode mode : {Mode::kFaithful, Mode::kRate}) {
    Options o;
    o.input = path;
    o.loop = true;
    o.mode = mode;
    o.rate = 1000;
    o.duration = mode == Mode::kFaithful ? 1.5 : 0.15;  // several passes, the last one cut
    o.filter.methods = {"GET"};
    Options off = o;
    off.loop_cache_bytes = 0;
    Options small = o;
    small.loop_cache_bytes = 2000;  // a few requests' worth: not kept
    auto a = plan(o);
    auto b = plan(off);
    auto c = plan(small);
    EXPECT_GE(a.planner->loops(), 2u);
    EXPECT_EQ(a.planner->loops_from_memory(), a.planner->loops());
    EXPECT_EQ(b.planner->loops_from_memory(), 0u);
    EXPECT_EQ(c.planner->loops_from_memory(), 0u);
    for (const auto* other : {&b, &c}) {
      EXPECT_EQ(a.planner->loops(), other->planner->loops());
      EXPECT_EQ(a.planner->skipped_filtered(), other->planner->skipped_filtered());
      EXPECT_EQ(a.planner->skipped_truncated(), other->planner->skipped_truncated());
      ASSERT_EQ(a.items.size(), other->items.size());
      for (size_t i = 0; i < a.items.size(); ++i) {
        const Item& x = a.items[i];
        const Item& y = other->items[i];
        ASSERT_EQ(x.origin_id, y.origin_id) << i;
        EXPECT_EQ(x.intended, y.intended) << i;
        EXPECT_EQ(x.session, y.session) << i;
        EXPECT_EQ(x.wait_previous, y.wait_previous) << i;
        EXPECT_EQ(x.head, y.head) << i;
        expect_same(sent(x, o, 0), sent(y, o, 0), x.origin_id);
      }
    }
    size_t waits = 0;
    for (const auto& it : a.items) waits += it.wait_previous;
    EXPECT_GT(waits, 0u);
    EXPECT_LT(waits, a.items.size());
    EXPECT_GT(a.planner->skipped_filtered(), 0u);
    EXPECT_GT(a.planner->skipped_truncated(), 0u);
    // the requests are whole, headers and bodies included
    bool body = false;
    for (const auto& it : a.items) {
      const OutRequest r = sent(it, o, 0);
      EXPECT_EQ(r.headers.size(), 2u);
      body = body || !r.body.empty();
    }
    EXPECT_TRUE(body);
    // Kept, every pass hands over what the kept request is sent as (no copy: one per captured
    // exchange, whatever the number of passes), without the request itself; not kept, each
    // item has its own request. With a budget of a few requests, the first ones are kept and
    // stay valid (ASan would tell).
    std::map<uint64_t, const Prepared*> kept;
    for (const auto& it : a.items) {
      ASSERT_NE(it.prepared, nullptr) << it.origin_id;
      EXPECT_EQ(it.request, nullptr) << it.origin_id;
      EXPECT_EQ(it.owned, nullptr) << it.origin_id;
      auto [at, fresh] = kept.try_emplace(it.origin_id, it.prepared);
      EXPECT_EQ(at->second, it.prepared) << it.origin_id;
    }
    EXPECT_LT(kept.size(), 40u);
    for (const auto& it : b.items) {
      ASSERT_NE(it.owned, nullptr);
      EXPECT_EQ(it.request, it.owned.get());
      EXPECT_EQ(it.prepared, nullptr);
    }
    size_t small_kept = 0;
    for (const auto& it : c.items) small_kept += it.owned == nullptr;
    EXPECT_GT(small_kept, 0u);
    EXPECT_LT(small_kept, c.items.size());
  }
}

// --loop also keeps what each target is sent for a kept request (Prepared): built once, from
// the first pass on, equal to what a worker would prepare and serialize itself, and the same
// object on every pass; not for large bodies, nor past its budget, nor without the cache.
TEST(Planner, LoopPreparesEachKeptRequestOncePerTarget) {
  test::TempDir dir;
  const std::string path = dir.file("in.twin");
  constexpr uint64_t kBig = 7;  // a body over the prepared limit
  write_exchanges(path, 30, [](uint64_t i, traffic::Exchange& e) {
    e.session = 1 + i % 4;
    e.time.request_start = kT0 + static_cast<int64_t>(i) * kMs;
    e.time.request_end = e.time.request_start;
    e.request.method = i % 5 == 0 ? "POST" : "GET";
    e.request.target = i % 6 == 0 ? "http://shop.example/api/abs?i=" + std::to_string(i)
                                  : "/api/items/" + std::to_string(i) + "?q=long-enough-query";
    e.request.authority = "shop.example";
    e.request.headers = {{"Host", "shop.example"},
                         {"User-Agent", "twin-test/1.0 (a header longer than SSO)"},
                         {"Connection", "keep-alive"},
                         {"X-Seq", std::to_string(i)}};
    if (i % 4 == 0) e.request.headers.push_back({"X-Bad", "a\r\nInjected: 1"});
    if (i % 3 == 0) e.request.headers.push_back({"TE", "trailers"});
    e.request.body = i == kBig ? std::string(20000, 'B') : i % 5 == 0 ? "{\"n\":1}" : "";
    if (i % 10 == 0) e.flags = traffic::kFlagRequestBodyTruncated;
    e.response = traffic::Response{};
    e.response->status = 200;
    e.time.response_end = e.time.request_start;
  });
  Options o;
  o.input = path;
  o.loop = true;
  o.mode = Mode::kRate;
  o.rate = 1000;
  o.duration = 0.1;  // 100 requests: three passes and a bit
  o.skip_truncated = false;
  o.targets = {*parse_target("base=http://127.0.0.1:1/v1"), *parse_target("h2=h2c://[::1]:2"),
               *parse_target("tls=https://localhost:3")};
  o.rewrite.set_headers = {{"X-Replay", "1"}, {"User-Agent", "replayer"}};
  o.rewrite.remove_headers = {"x-seq"};
  o.rewrite.strip_prefix = "/api";
  o.rewrite.path_prefix = "/p";
  auto a = plan(o);
  ASSERT_GE(a.planner->loops(), 3u);
  // What a worker would prepare itself: the requests as read without the cache.
  Options off = o;
  off.loop_cache_bytes = 0;
  const auto fresh = plan(off);
  std::map<uint64_t, const traffic::Request*> original;
  for (const auto& it : fresh.items) {
    EXPECT_EQ(it.prepared, nullptr);
    original.emplace(it.origin_id, &it.req());
  }
  ASSERT_EQ(original.size(), 30u);
  std::map<uint64_t, const Prepared*> seen;
  size_t prepared = 0;
  for (const auto& it : a.items) {
    ASSERT_EQ(it.owned, nullptr);
    auto [at, first] = seen.try_emplace(it.origin_id, it.prepared);
    EXPECT_EQ(at->second, it.prepared) << "origin " << it.origin_id << ": prepared again";
    const traffic::Request& req = *original.at(it.origin_id);
    EXPECT_EQ(it.head, req.method == "HEAD");
    if (it.origin_id == kBig) {  // kept whole
      EXPECT_EQ(it.prepared, nullptr);
      ASSERT_NE(it.request, nullptr);
      EXPECT_EQ(it.req(), req);
      continue;
    }
    ASSERT_NE(it.prepared, nullptr) << it.origin_id;
    EXPECT_EQ(it.request, nullptr) << it.origin_id;  // only what is sent is kept
    ++prepared;
    for (size_t t = 0; t < o.targets.size(); ++t) {
      const Prepared& p = it.prepared[t];
      OutRequest want;
      size_t invalid = prepare(req, it.body_truncated, o.targets[t], o.rewrite, want);
      EXPECT_EQ(p.invalid(), invalid);
      expect_same(sent(it, o, t), want, it.origin_id);
      std::string wire;
      if (t != 1) serialize_http1(want, wire);  // h2c: never HTTP/1.1
      EXPECT_EQ(p.http1(), wire) << it.origin_id << " target " << t;
      // HTTP/2 submits the prepared form as it would the OutRequest: the same frames
      if (t != 0) {
        auto x = Http2Session::create({}, [](Completion&) {});
        auto y = Http2Session::create({}, [](Completion&) {});
        ASSERT_TRUE(x && y);
        std::string from_out, from_prepared;
        (*x)->pending_output(from_out);  // the preface and SETTINGS
        (*y)->pending_output(from_prepared);
        EXPECT_EQ((*x)->submit(want, "https", 1, 0), 1);
        EXPECT_EQ((*y)->submit(p, "https", 1, 0), 1);
        from_out.clear();
        from_prepared.clear();
        (*x)->pending_output(from_out);
        (*y)->pending_output(from_prepared);
        EXPECT_GT(from_out.size(), 9u);  // a HEADERS frame at least
        EXPECT_EQ(from_prepared, from_out) << it.origin_id << " target " << t;
      }
    }
    // what the rewrites did, so that the comparison above is not of two empty things
    EXPECT_EQ(it.prepared[0].path().rfind("/v1/p/", 0), 0u) << it.prepared[0].path();
    EXPECT_EQ(it.prepared[0].invalid(), it.origin_id % 4 == 0 ? 1u : 0u);
    EXPECT_NE(it.prepared[0].http1().find("X-Replay: 1\r\n"), std::string::npos);
    EXPECT_EQ(it.prepared[0].body().empty(), req.body.empty());
  }
  EXPECT_EQ(seen.size(), 30u);
  EXPECT_GT(prepared, 80u);
  // One budget for the slots, the requests kept whole and the prepared forms: with room for
  // part of them, the first exchanges are kept (and their items point at them) and the
  // cache is not used for later passes, which read the input again; none without the cache.
  const size_t all = a.planner->cache_bytes() + a.planner->prepared_bytes();
  ASSERT_GT(a.planner->prepared_bytes(), 0u);
  ASSERT_LE(all, o.loop_cache_bytes);
  Options tight = o;
  tight.loop_cache_bytes = all / 2;
  auto b = plan(tight);
  EXPECT_EQ(b.planner->loops_from_memory(), 0u);
  EXPECT_EQ(b.planner->loops(), a.planner->loops());
  EXPECT_LE(b.planner->cache_bytes() + b.planner->prepared_bytes(), tight.loop_cache_bytes);
  // (the large body does not fit: what comes before it is kept, once, and nothing after)
  EXPECT_GT(b.planner->prepared_bytes(), 0u);
  size_t some = 0, none = 0;
  for (const auto& it : b.items) {
    (it.prepared ? some : none)++;
    if (it.prepared) {
      EXPECT_LT(it.origin_id, kBig);
    } else {
      EXPECT_NE(it.request, nullptr);
    }
  }
  EXPECT_GT(some, 3u) << none;
  EXPECT_LT(some, kBig) << none;
  ASSERT_EQ(b.items.size(), a.items.size());
  for (size_t i = 0; i < a.items.size(); ++i)
    for (size_t t = 0; t < o.targets.size(); ++t)
      expect_same(sent(b.items[i], o, t), sent(a.items[i], o, t), a.items[i].origin_id);
}

TEST(Planner, UnreadableInputIsAnErrorNamingTheFile) {
  test::TempDir dir;
  test::spit(dir.file("bad.twin"), "not an archive");
  Options o;
  o.input = dir.file("bad.twin");
  o.targets.push_back(*parse_target("http://127.0.0.1:1"));
  std::vector<Inbox> inboxes(1);
  std::atomic<bool> stop{false};
  Planner planner(o, inboxes, 0, stop);
  auto r = planner.run();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("bad.twin"), std::string::npos);
}

}  // namespace
}  // namespace twin::replay::detail
