// The planner: streams the input archive, filters it, orders it by captured start, gives each
// request its intended instant and hands it to the worker that owns its session.

#include "planner.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <queue>
#include <random>
#include <thread>

namespace twin::replay {

bool route_match(std::string_view p, std::string_view t) {
  // Backtracking matcher; patterns are short and given by the user, paths are bounded.
  if (p.empty()) return t.empty();
  if (p[0] == '*') {
    bool deep = p.size() > 1 && p[1] == '*';
    std::string_view rest = p.substr(deep ? 2 : 1);
    for (size_t i = 0; i <= t.size(); ++i) {
      if (route_match(rest, t.substr(i))) return true;
      if (i < t.size() && !deep && t[i] == '/') return false;
    }
    return false;
  }
  if (t.empty() || p[0] != t[0]) return false;
  return route_match(p.substr(1), t.substr(1));
}

bool sample_keeps(uint64_t session, double fraction, uint64_t seed) {
  if (fraction >= 1.0) return true;
  // Whole sessions, chosen by a keyed hash of the session id: the same sessions every run.
  uint64_t key[2] = {session, seed};
  uint64_t h = XXH3_64bits(key, sizeof key);
  return static_cast<double>(h >> 11) * 0x1.0p-53 < fraction;
}

std::string_view route_path(std::string_view target) {
  auto sep = target.find("://");
  if (sep != std::string_view::npos && !target.empty() && target[0] != '/') {
    auto start = target.find('/', sep + 3);
    target = start == std::string_view::npos ? std::string_view("/") : target.substr(start);
  }
  auto q = target.find_first_of("?#");
  return q == std::string_view::npos ? target : target.substr(0, q);
}

}  // namespace twin::replay

namespace twin::replay::detail {

namespace {

// A window entry carries its sort key: the heap's comparisons then stay within its own array
// instead of reaching into each exchange (a cache miss each, a dozen per request: most of the
// planner's time with a window of 4096).
struct Windowed {
  int64_t start;
  uint64_t id;
  traffic::Exchange* e;
};

struct Later {
  bool operator()(const Windowed& a, const Windowed& b) const {
    if (a.start != b.start) return a.start > b.start;
    return a.id > b.id;
  }
};

}  // namespace

Planner::Planner(const Options& options, std::vector<Inbox>& inboxes, int64_t start,
                 std::atomic<bool>& stop)
    : options_(options), inboxes_(inboxes), stop_(stop) {
  if (start >= 0) set_start(start);
  per_worker_limit_ =
      std::max<size_t>(options_.max_ahead / std::max<size_t>(inboxes_.size(), 1), 64);
  if (options_.mode == Mode::kMax) {
    size_t conns = options_.connections ? options_.connections : 64;
    per_worker_limit_ = std::min(per_worker_limit_, 4 * conns * options_.targets.size() + 1024);
  }
  sessions_.resize(kSessionSlots);
}

void Planner::set_start(int64_t start) {
  start_ = start;
  end_ = options_.duration > 0 ? start_ + static_cast<int64_t>(options_.duration * 1e9) : 0;
  warmup_end_ = start_ + static_cast<int64_t>(options_.warmup * 1e9);
  started_.store(true, std::memory_order_release);
}

bool Planner::keep(const Meta& c, const traffic::Request& r) {
  const Filter& f = options_.filter;
  if (!f.methods.empty() &&
      std::find(f.methods.begin(), f.methods.end(), r.method) == f.methods.end())
    return false;
  if (!f.routes.empty()) {
    auto path = route_path(r.target);
    bool any = false;
    for (const auto& r : f.routes) any = any || route_match(r, path);
    if (!any) return false;
  }
  if (f.from != traffic::kNoTime &&
      (c.request_start == traffic::kNoTime || c.request_start < f.from))
    return false;
  if (f.until != traffic::kNoTime &&
      (c.request_start == traffic::kNoTime || c.request_start >= f.until))
    return false;
  if (f.from_offset >= 0 || f.until_offset >= 0) {
    if (c.request_start == traffic::kNoTime || t0_ == traffic::kNoTime) return false;
    double at = static_cast<double>(c.request_start - t0_) / 1e9;
    if (f.from_offset >= 0 && at < f.from_offset) return false;
    if (f.until_offset >= 0 && at >= f.until_offset) return false;
  }
  if (f.sample < 1.0 && !sample_keeps(c.session, f.sample, f.sample_seed)) return false;
  return true;
}

Planner::Skip Planner::check(const Meta& m, const traffic::Request& r) {
  const std::string& method = r.method;
  if (method.empty() || method == "CONNECT" || method == "PRI") return Skip::kNoRequest;
  if (t0_ == traffic::kNoTime) t0_ = m.request_start;
  if (!keep(m, r)) return Skip::kFiltered;
  if (options_.skip_truncated && (m.flags & traffic::kFlagRequestBodyTruncated) != 0)
    return Skip::kTruncated;
  return Skip::kNone;
}

void Planner::count(Skip skip) {
  switch (skip) {
    case Skip::kNone:
      break;
    case Skip::kNoRequest:
      skipped_no_request_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Skip::kFiltered:
      skipped_filtered_.fetch_add(1, std::memory_order_relaxed);
      break;
    case Skip::kTruncated:
      skipped_truncated_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
}

Result<void> Planner::run() {
  caching_ = options_.loop && options_.loop_cache_bytes > 0;
  // The first captured instant: from the index when the archive has one, else the smallest of
  // the first records (the reorder window below absorbs the rest).
  for (;;) {
    if (pass_ > 0 && cache_full_) {
      pass_from_memory();
      loops_from_memory_.fetch_add(1, std::memory_order_relaxed);
      ++pass_;
      if (stopped() || done_ || planned_in_pass_ == 0) break;
      loops_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    // The captured responses are not replayed: only whether there was one is read (session
    // order, below), not their headers and bodies.
    auto opened = traffic::Reader::open(
        options_.input,
        {.on_damage = [this](const auto&) { damage_.fetch_add(1, std::memory_order_relaxed); },
         .request_only = true});
    if (!opened) return tl::unexpected(opened.error());
    auto& reader = *opened;
    if (pass_ == 0) {
      total_ = reader->indexed_count();
      for (const auto& b : reader->index())
        if (b.first_time != traffic::kNoTime)
          t0_ = t0_ == traffic::kNoTime ? b.first_time : std::min(t0_, b.first_time);
    }
    auto r = pass(*reader);
    if (!r) return r;
    if (pass_ == 0) {
      // Whole only when the pass was: stopped early, it holds the beginning of the input.
      // Not whole, it is not read again, but not freed either: items in flight point into it.
      cache_full_ = caching_ && !stopped() && !done_;
      caching_ = false;
    }
    ++pass_;
    if (!options_.loop || stopped() || done_ || planned_in_pass_ == 0) break;
    loops_.fetch_add(1, std::memory_order_relaxed);
  }
  flush_all();
  return {};
}

Result<void> Planner::pass(traffic::Reader& reader) {
  // A window of decoded exchanges, ordered by captured start: archives are written as exchanges
  // complete, so a long request can be stored after many that started later.
  std::priority_queue<Windowed, std::vector<Windowed>, Later> window;
  std::vector<std::unique_ptr<traffic::Exchange>> owned;
  std::vector<traffic::Exchange*> spare;
  constexpr size_t kWindow = 4096;
  planned_in_pass_ = 0;
  bool more = true;
  while (more || !window.empty()) {
    if (stopped() || done_) return {};
    while (more && window.size() < kWindow) {
      traffic::Exchange* e;
      if (spare.empty()) {
        owned.push_back(std::make_unique<traffic::Exchange>());
        e = owned.back().get();
      } else {
        e = spare.back();
        spare.pop_back();
      }
      auto got = reader.next(*e);
      if (!got) return tl::unexpected(got.error());
      if (!*got) {
        more = false;
        spare.push_back(e);
        break;
      }
      window.push({e->time.request_start, e->id, e});
    }
    if (window.empty()) break;
    traffic::Exchange* e = window.top().e;
    window.pop();
    spare.push_back(e);
    if (caching_) {
      if (const Cached* c = remember(*e)) {
        plan_cached(*c);
        continue;
      }
    }
    // Not kept: the item takes the decoded request, and the exchange the buffers of one a
    // worker is done with, to decode the next record into.
    const Meta m{e->id,
                 e->session,
                 e->time.request_start,
                 e->time.response_end,
                 e->flags,
                 e->response.has_value()};
    if (Skip skip = check(m, e->request); skip != Skip::kNone) {
      count(skip);
      continue;
    }
    Item item;
    if (spare_.empty()) {
      item.owned = std::make_unique<traffic::Request>();
    } else {
      item.owned = std::move(spare_.back());
      spare_.pop_back();
    }
    std::swap(*item.owned, e->request);
    item.request = item.owned.get();
    item.head = item.request->method == "HEAD";
    plan(m, std::move(item));
  }
  end_pass();
  return {};
}

// Keeps what plan() will read of `e`, in the order plan() sees it, while the first pass fits in
// Options::loop_cache_bytes; past it, nothing more is kept (nullptr) and every later pass reads
// the input. A request to be planned is kept as each target is sent it (Prepared: rewrites
// applied, its HTTP/1.1 bytes), built here once instead of by a worker at every send; bodies
// over kPreparedBody and heads over kPreparedHead are kept whole instead (a copy per target
// would multiply the largest part of the cache), as is every request when there is no target.
Planner::Cached* Planner::remember(traffic::Exchange& e) {
  static_assert(sizeof(Cached) <= 64);
  constexpr size_t kPreparedBody = 16u << 10, kPreparedHead = 64u << 10;
  const Meta m{
      e.id, e.session, e.time.request_start, e.time.response_end, e.flags, e.response.has_value()};
  const traffic::Request& r = e.request;
  const Skip skip = check(m, r);
  size_t bytes = sizeof(Cached);
  const size_t n = options_.targets.size();
  bool prepare = false, whole = false;
  if (skip == Skip::kNone) {
    size_t head = r.method.size() + r.target.size() + r.authority.size();
    for (const auto& h : r.headers) head += h.name.size() + h.value.size();
    prepare = n > 0 && r.body.size() <= kPreparedBody && head <= kPreparedHead;
    whole = !prepare;
  }
  size_t prepared = 0;
  if (prepare) {
    const bool truncated = (m.flags & traffic::kFlagRequestBodyTruncated) != 0;
    outs_.resize(n);
    for (size_t t = 0; t < n; ++t) {
      const Target& target = options_.targets[t];
      auto& out = outs_[t];
      out.invalid =
          static_cast<uint32_t>(replay::prepare(r, truncated, target, options_.rewrite, out.r));
      // https:// speaks what ALPN agrees on: HTTP/1.1 bytes too.
      out.wire.clear();
      if (target.scheme == Scheme::kHttp || target.scheme == Scheme::kHttps)
        serialize_http1(out.r, out.wire);
      prepared += Prepared::bytes_for(out.r, out.wire);
    }
    prepared += Arena::rounded(n * sizeof(Prepared));
  }
  if (whole) {
    auto heap = [](const std::string& x) { return x.size() > 15 ? x.capacity() + 1 : 0; };
    bytes += sizeof(traffic::Request) + heap(r.method) + heap(r.target) + heap(r.authority) +
             heap(r.body) + r.headers.capacity() * sizeof(traffic::Header);
    for (const auto& h : r.headers) bytes += heap(h.name) + heap(h.value);
  }
  if (cache_bytes_ + arena_.bytes() + bytes + prepared > options_.loop_cache_bytes) {
    caching_ = false;
    return nullptr;
  }
  constexpr size_t kChunk = size_t{1} << kChunkBits;
  if ((cached_ & (kChunk - 1)) == 0) cache_.push_back(std::make_unique<Cached[]>(kChunk));
  Cached& c = cache_[cached_ >> kChunkBits][cached_ & (kChunk - 1)];
  ++cached_;
  cache_bytes_ += bytes;
  static_cast<Meta&>(c) = m;
  c.skip = skip;
  c.head = r.method == "HEAD";
  if (prepare) {
    auto* forms = reinterpret_cast<Prepared*>(arena_.allocate(n * sizeof(Prepared)));
    for (size_t t = 0; t < n; ++t)
      new (forms + t) Prepared(outs_[t].r, outs_[t].wire, outs_[t].invalid, arena_);
    c.prepared = forms;
  } else if (whole) {
    whole_.push_back(std::make_unique<traffic::Request>(std::move(e.request)));
    e.request = traffic::Request();
    c.whole = whole_.back().get();
  }
  return &c;
}

// A later pass of --loop from the first pass's copy: the same exchanges in the same order, so
// the same plan, without reading and decoding the input again, nor copying a request.
void Planner::pass_from_memory() {
  planned_in_pass_ = 0;
  for (size_t i = 0; i < cached_; ++i) {
    if (stopped() || done_) return;
    plan_cached(cache_[i >> kChunkBits][i & ((size_t{1} << kChunkBits) - 1)]);
  }
  end_pass();
}

void Planner::end_pass() {
  // The next pass starts one mean gap after this one's last request.
  if (planned_in_pass_ > 1 && last_capture_ != traffic::kNoTime && t0_ != traffic::kNoTime) {
    int64_t span = last_capture_ - first_capture_;
    int64_t gap = span / static_cast<int64_t>(planned_in_pass_ - 1);
    pass_offset_ += span + gap;
  } else {
    pass_offset_ += 1'000'000;  // a single request: 1 ms apart
  }
}

void Planner::plan_cached(const Cached& c) {
  if (c.skip != Skip::kNone) {
    count(c.skip);
    return;
  }
  Item item;
  item.request = c.whole;
  item.prepared = c.prepared;
  item.head = c.head;
  plan(c, std::move(item));
}

void Planner::plan(const Meta& c, Item&& item) {
  const bool truncated = (c.flags & traffic::kFlagRequestBodyTruncated) != 0;
  int64_t captured = c.request_start;
  if (captured == traffic::kNoTime)
    captured = last_capture_ == traffic::kNoTime ? 0 : last_capture_;
  if (t0_ == traffic::kNoTime) t0_ = captured;
  if (planned_in_pass_ == 0) first_capture_ = captured;
  last_capture_ = std::max(last_capture_ == traffic::kNoTime ? captured : last_capture_, captured);

  // The schedule's zero is the first planned request, a little ahead of the clock: reading
  // the input up to it (the reorder window) does not make the first requests late.
  int64_t now = now_ns();  // read once a request: the clock was a tenth of the planner's time
  if (!started_.load(std::memory_order_relaxed)) set_start(now + 20'000'000);
  item.origin_id = c.id;
  switch (options_.mode) {
    case Mode::kFaithful: {
      double offset = static_cast<double>(captured - t0_ + pass_offset_) / options_.speed;
      item.intended = start_ + static_cast<int64_t>(std::max(0.0, offset));
      break;
    }
    case Mode::kRate: {
      double step = 1e9 / options_.rate;
      if (options_.poisson) {
        std::exponential_distribution<double> gap(1.0);
        rate_clock_ += step * gap(rng_);
      } else {
        rate_clock_ = step * static_cast<double>(planned_total_);
      }
      item.intended = start_ + static_cast<int64_t>(rate_clock_);
      break;
    }
    case Mode::kMax:
      item.intended = 0;
      break;
  }
  if (end_ != 0 && options_.mode != Mode::kMax && item.intended >= end_) {
    done_ = true;
    return;
  }
  if (end_ != 0 && options_.mode == Mode::kMax && now >= end_) {
    done_ = true;
    return;
  }
  item.warmup = options_.warmup > 0 &&
                (options_.mode == Mode::kMax ? now < warmup_end_ : item.intended < warmup_end_);
  item.body_truncated = truncated;

  // Session order: a request waits for the earlier ones of its captured connection when the
  // capture shows it was sent after the previous response ended (not pipelined, not a
  // concurrent HTTP/2 stream). Sessions are remembered in a fixed table: bounded memory.
  if (options_.keep_order && options_.mode != Mode::kMax) {
    // Each pass replays the sessions anew: a loop's session ids are made distinct.
    item.session = c.session * 1315423911u + pass_ + 1;
    auto& slot = sessions_[item.session % kSessionSlots];
    if (slot.session == item.session) {
      item.wait_previous = slot.last_end == traffic::kNoTime || slot.last_end <= captured;
    }
    slot.session = item.session;
    int64_t end = c.has_response ? c.response_end : traffic::kNoTime;
    slot.last_end = end == traffic::kNoTime ? traffic::kNoTime : std::max(slot.last_end, end);
  }
  size_t worker;
  if (item.session != 0) {
    worker = static_cast<size_t>(XXH3_64bits(&item.session, sizeof item.session) % inboxes_.size());
  } else {
    worker = static_cast<size_t>(planned_total_ % inboxes_.size());
  }
  // Pace: stay at most ahead_seconds ahead of the clock and within the per-worker limit.
  auto& inbox = inboxes_[worker];
  for (bool first = true;; first = false) {
    if (stopped()) return;
    if (!first) now = now_ns();
    bool too_early = options_.mode != Mode::kMax &&
                     item.intended - now > static_cast<int64_t>(options_.ahead_seconds * 1e9);
    bool too_many =
        inbox.queued.load(std::memory_order_relaxed) + pending_[worker].size() >= per_worker_limit_;
    if (!too_early && !too_many) break;
    flush_all();
    if (end_ != 0 && options_.mode == Mode::kMax && now >= end_) {
      done_ = true;
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(too_early ? 2000 : 1000));
  }
  pending_[worker].push_back(std::move(item));
  ++planned_total_;
  ++planned_in_pass_;
  planned_.fetch_add(1, std::memory_order_relaxed);
  // Hand over in batches, but never hold a request that is due soon, nor (closed loop) one
  // that a worker running short could use now. A hand-over per request cost the worker a
  // wake-up, a posted handler and the inbox's lock each: about a microsecond a request.
  const bool due = options_.mode == Mode::kMax ? inbox.queued.load(std::memory_order_relaxed) < 256
                                               : pending_[worker].back().intended - now < 5'000'000;
  if (pending_[worker].size() >= 64 || due) flush(worker);
}

void Planner::flush(size_t worker) {
  auto& batch = pending_[worker];
  if (batch.empty()) return;
  auto& inbox = inboxes_[worker];
  inbox.queued.fetch_add(batch.size(), std::memory_order_relaxed);
  {
    std::lock_guard lock(inbox.mutex);
    for (auto& item : batch) inbox.items.push_back(std::move(item));
    if (spare_.empty()) spare_.swap(inbox.spare);
  }
  batch.clear();
  if (wake_) wake_(worker);
}

void Planner::flush_all() {
  for (size_t w = 0; w < pending_.size(); ++w) flush(w);
}

}  // namespace twin::replay::detail
