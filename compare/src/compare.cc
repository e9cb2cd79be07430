// The comparator's engine: stream the archives merged by time, pair by origin, summarise per
// provisional route, then merge routes as learned, test, control the false-discovery rate and
// decide. The statistics live in stats.cc, the diffs in diff.cc, the routes in route.cc.

#include "twin/compare/compare.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>

#include "grpc_status.h"
#include "twin/traffic/archive.h"

namespace twin::compare {
namespace {

using traffic::ErrorKind;
using traffic::Exchange;

constexpr int kBase = 0;
constexpr int kCand = 1;
constexpr int kNoise = 2;
constexpr size_t kSamples = 3;
constexpr size_t kMaxStatusChanges = 64;  // distinct (baseline, candidate) status pairs per route
constexpr size_t kMaxErrorKinds = 32;

// The instant an exchange is placed at in time: when it was meant to be sent (replays), else when
// it was (captures).
int64_t instant_of(const Exchange& e) {
  return e.time.intended != traffic::kNoTime ? e.time.intended : e.time.request_start;
}

// Latency from the intended send instant (free of coordinated omission) to the last byte of the
// response; -1 when it cannot be told.
int64_t latency_of(const Exchange& e) {
  int64_t start = instant_of(e);
  if (start == traffic::kNoTime || e.time.response_end == traffic::kNoTime) return -1;
  return e.time.response_end >= start ? e.time.response_end - start : 0;
}

struct Side {
  bool present = false;
  uint64_t id = 0;
  uint32_t flags = 0;
  int64_t time = 0;  // offset from the start of its archive, ns
  int64_t latency = -1;
  int status = 0;  // 0: no response
  int grpc = -1;   // the gRPC status of a gRPC answer (HTTP 200), -1 otherwise, kGrpcCut unknown
  ErrorKind error = ErrorKind::kNone;
  std::optional<traffic::Response> response;  // kept for the diff until the partner arrives
};

struct Pending {
  uint32_t route = 0;
  uint64_t serial = 0;  // insertion order, for eviction
  size_t bytes = 0;
  std::string target;  // the request's, kept only with a protobuf schema (it names the method)
  Side side[3];
};

struct ErrorTally {
  std::string kind;
  uint64_t count[3] = {0, 0, 0};
  std::vector<uint64_t> samples;  // origin ids where the candidate showed it
};

struct ChangeTally {
  uint64_t count = 0;
  std::vector<uint64_t> samples;
};

struct RouteStats {
  explicit RouteStats(size_t max_blocks) : latency(max_blocks) {}
  PairedSeries latency;
  uint64_t pairs = 0;        // baseline and candidate both present
  uint64_t noise_pairs = 0;  // ... and the noise target too
  uint64_t answered = 0;     // baseline and candidate both answered (a status to compare)
  uint64_t noise_answered = 0;
  uint64_t status_changed = 0;
  uint64_t noise_status_changed = 0;
  std::vector<ErrorTally> errors;
  // (baseline status, baseline gRPC status, candidate status, candidate gRPC status)
  std::map<std::array<int, 4>, ChangeTally> changes;
  uint64_t changes_overflow = 0;
  FieldNoise fields;
  uint64_t diff_cut = 0;

  ErrorTally& error(const std::string& kind) {
    for (auto& e : errors) {
      if (e.kind == kind) return e;
    }
    if (errors.size() >= kMaxErrorKinds) return errors.back();  // cannot happen: kinds are few
    errors.push_back({kind, {0, 0, 0}, {}});
    return errors.back();
  }

  void merge(const RouteStats& o, const NoiseOptions& noise) {
    latency.merge(o.latency);
    pairs += o.pairs;
    noise_pairs += o.noise_pairs;
    answered += o.answered;
    noise_answered += o.noise_answered;
    status_changed += o.status_changed;
    noise_status_changed += o.noise_status_changed;
    for (const auto& e : o.errors) {
      auto& mine = error(e.kind);
      for (int s = 0; s < 3; ++s) mine.count[s] += e.count[s];
      for (auto id : e.samples) {
        if (mine.samples.size() < kSamples) mine.samples.push_back(id);
      }
    }
    for (const auto& [key, c] : o.changes) add_change(key, c.count, c.samples);
    changes_overflow += o.changes_overflow;
    fields.merge(o.fields, noise);
    diff_cut += o.diff_cut;
  }

  void add_change(const std::array<int, 4>& key, uint64_t n, const std::vector<uint64_t>& samples) {
    auto it = changes.find(key);
    if (it == changes.end()) {
      if (changes.size() >= kMaxStatusChanges) {
        changes_overflow += n;
        return;
      }
      it = changes.emplace(key, ChangeTally{}).first;
    }
    it->second.count += n;
    for (auto id : samples) {
      if (it->second.samples.size() < kSamples) it->second.samples.push_back(id);
    }
  }
};

// The class of error an answer shows, or "" for none worth counting.
std::string error_class(const Side& s) {
  if (s.error != ErrorKind::kNone) return std::string(traffic::to_string(s.error));
  if (s.status >= 500) return "5xx";
  if (grpc_failure(s.grpc)) return "grpc " + std::string(grpc_code_name(s.grpc));
  return "";
}

// An answer that is no failure: a status below 500 and, for gRPC, no failing gRPC status.
bool answered_fine(const Side& s) {
  return s.status > 0 && s.status < 500 && !grpc_failure(s.grpc);
}

// The candidate (or noise) refuses: a 4xx, or a gRPC status of the kind a 4xx maps to.
bool refuses(const Side& s) { return s.status >= 400 || grpc_refusal(s.grpc); }

// The same status; a gRPC answer whose status was cut off with its body matches any gRPC status.
bool same_status(const Side& a, const Side& b) {
  return a.status == b.status && (a.grpc == b.grpc || a.grpc == kGrpcCut || b.grpc == kGrpcCut);
}

bool skipped(const std::vector<std::string>& skip, const std::string& method,
             const std::string& route) {
  for (const auto& s : skip) {
    auto space = s.find(' ');
    if (space == std::string::npos) continue;  // load_gate refuses these; an API caller may not
    std::string_view m(s.data(), space);
    std::string_view p(s.data() + space + 1, s.size() - space - 1);
    if ((m == "*" || m == method) && route_pattern_matches(p, route)) return true;
  }
  return false;
}

// The CDF at each non-empty bucket's upper edge (clamped to the maximum), thinned to at most
// about 300 points for the plots; the last point is always (max, 1).
Cdf cdf_of(const traffic::Histogram& h) {
  Cdf out;
  if (h.count() == 0) return out;
  const auto& counts = h.counts();
  const double total = static_cast<double>(h.count());
  uint64_t cum = 0;
  double last_share = -1;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    cum += counts[i];
    double share = static_cast<double>(cum) / total;
    uint64_t edge = std::min(traffic::Histogram::upper(i), h.max());
    if (share - last_share >= 1.0 / 300 || cum == h.count() || share > 0.99) {
      out.emplace_back(static_cast<double>(edge) / 1e6, share);
      last_share = share;
    }
  }
  if (out.size() > 600) {
    // A long tail of distinct buckets above p99: keep every other point but the last.
    Cdf thin;
    for (size_t i = 0; i < out.size(); ++i) {
      if (i % 2 == 0 || i + 1 == out.size()) thin.push_back(out[i]);
    }
    out.swap(thin);
  }
  return out;
}

class Engine {
 public:
  explicit Engine(const CompareOptions& options)
      : options_(options),
        gate_(options.gate),
        learner_(options.gate.routes),
        differ_(options.gate.diff) {
    names_[kBase] = options.baseline;
    names_[kCand] = options.candidate;
    names_[kNoise] = options.noise;
    sides_ = options.noise.empty() ? 2 : 3;
    // A capture was answered in another environment than a replay: latency is not comparable.
    if (options.baseline == kCaptureTarget || options.candidate == kCaptureTarget) {
      gate_.latency_gated = false;
    }
  }

  Result<Report> run();

 private:
  struct Input {
    std::string path;
    traffic::ReaderPtr reader;
    Exchange next;
    bool has = false;
    uint64_t read = 0;
    // Instants are taken as offsets from the archive's first one, so that archives recorded at
    // different times (a capture and its replay, two replays an hour apart) line up.
    int64_t t0 = traffic::kNoTime;
    int64_t last = 0;    // the latest good offset, for exchanges whose instant is unusable
    int64_t offset = 0;  // of `next`
  };

  Result<void> advance(Input& in);
  void take(Exchange& e, int64_t offset);
  void complete(uint64_t key, Pending& p);
  void evict_oldest();
  RouteStats& stats(uint32_t route) {
    while (routes_.size() <= route) routes_.emplace_back(gate_.max_blocks);
    return routes_[route];
  }
  Report decide(std::vector<RouteLearner::Route>& finals, std::vector<RouteStats>& merged,
                RouteStats& overall);
  RouteReport route_report(const std::string& method, const std::string& route, RouteStats& s,
                           bool gated);

  const CompareOptions& options_;
  Gate gate_;
  RouteLearner learner_;
  ResponseDiffer differ_;
  std::string names_[3];
  int sides_ = 2;

  std::unordered_map<uint64_t, Pending> pending_;
  std::deque<std::pair<uint64_t, uint64_t>> order_;  // (key, serial), oldest first
  uint64_t serial_ = 0;
  size_t pending_bytes_ = 0;
  std::vector<RouteStats> routes_;
  std::vector<std::string> diff_paths_, noise_paths_;

  // Counters shown in the report.
  uint64_t read_ = 0;
  std::map<std::string, uint64_t> per_target_;
  uint64_t other_targets_ = 0;
  uint64_t paired_ = 0;
  uint64_t unpaired_[3] = {0, 0, 0};
  uint64_t per_side_[3] = {0, 0, 0};
  uint64_t evicted_ = 0;
  uint64_t noise_timeout_ = 0;
  uint64_t without_origin_ = 0;
  uint64_t bad_instants_ = 0;
  uint64_t diff_skipped_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t cancelled_ = 0;
  uint64_t noise_missing_ = 0;
  uint64_t no_latency_ = 0;
  uint64_t damage_ = 0;
};

Result<void> Engine::advance(Input& in) {
  auto got = in.reader->next(in.next);
  if (!got) return tl::unexpected(got.error());
  in.has = *got;
  if (!in.has) return {};
  ++in.read;
  // A run lasts hours, not months: an instant far from the archive's start is damage (a bad
  // clock, a hostile file) and would squeeze every other exchange into one time block.
  constexpr int64_t kBefore = 3600LL * 1'000'000'000;
  constexpr int64_t kAfter = 30LL * 24 * 3600 * 1'000'000'000;
  int64_t t = instant_of(in.next);
  if (t != traffic::kNoTime && in.t0 == traffic::kNoTime) in.t0 = t;
  int64_t offset = t == traffic::kNoTime ? in.last : t - in.t0;
  if (t == traffic::kNoTime || offset < -kBefore || offset > kAfter) {
    ++bad_instants_;
    offset = in.last;
  } else {
    in.last = std::max(in.last, offset);
  }
  in.offset = offset;
  return {};
}

void Engine::take(Exchange& e, int64_t offset) {
  ++read_;
  std::string_view name = e.target.empty() ? std::string_view(kCaptureTarget) : e.target;
  int side = -1;
  for (int s = 0; s < sides_; ++s) {
    if (name == names_[s]) side = s;
  }
  if (side < 0) {
    // Targets nobody asked about: counted by name, a few names at most, each at most 64 bytes.
    std::string key(name.substr(0, 64));
    if (per_target_.size() < 16 || per_target_.count(key)) {
      ++per_target_[key];
    } else {
      ++other_targets_;
    }
    return;
  }
  ++per_side_[side];
  uint64_t key = e.target.empty() ? e.id : e.origin_id;
  if (key == 0) {
    // A replayed exchange that does not say which captured one it reproduces cannot be paired.
    ++without_origin_;
    ++unpaired_[side];
    return;
  }

  auto [it, fresh] = pending_.try_emplace(key);
  if (!fresh && it->second.side[side].present) {
    // The same origin again on the same side (a looped replay): settle the older one first.
    ++duplicates_;
    complete(key, it->second);
    it = pending_.try_emplace(key).first;
    fresh = true;
  }
  Pending& q = it->second;
  if (fresh) {
    // Hostile lengths do not become route names: a method or a path this long is not an API's.
    std::string_view method = e.request.method;
    std::string_view target = e.request.target;
    if (method.size() > 32) method = "{other}";
    if (target.size() > 2048) target = "/{too-long}";
    q.route = learner_.observe(method, target);
    if (gate_.diff.protobuf) {
      q.target.assign(target);
      q.bytes += q.target.size();
      pending_bytes_ += q.target.size();
    }
    q.serial = ++serial_;
    order_.emplace_back(key, q.serial);
    // Settled entries leave stale (key, serial) behind; sweep them before they outnumber the
    // live ones, so that the queue stays proportional to the window, not to the run.
    if (order_.size() > 2 * pending_.size() + 1024) {
      std::erase_if(order_, [this](const std::pair<uint64_t, uint64_t>& ks) {
        auto found = pending_.find(ks.first);
        return found == pending_.end() || found->second.serial != ks.second;
      });
    }
  }
  Side& s = q.side[side];
  s.present = true;
  s.id = e.id;
  s.flags = e.flags;
  s.time = offset;
  s.latency = latency_of(e);
  s.error = e.error;
  s.status = e.response ? e.response->status : 0;
  s.grpc = -1;
  if (e.response && e.error == ErrorKind::kNone) {
    const uint32_t partial = traffic::kFlagResponseBodyTruncated | traffic::kFlagGap;
    s.grpc = grpc_status(*e.response, (e.flags & partial) == 0, is_grpc_request(e.request.headers));
    s.response = std::move(*e.response);
    size_t bytes = s.response->body.size() + 64;
    for (const auto& h : s.response->headers) bytes += h.name.size() + h.value.size() + 32;
    q.bytes += bytes;
    pending_bytes_ += bytes;
  }

  bool all = true;
  for (int k = 0; k < sides_; ++k) all = all && q.side[k].present;
  if (all) {
    complete(key, q);
  } else {
    while (pending_.size() > options_.max_pending || pending_bytes_ > options_.max_pending_bytes) {
      evict_oldest();
    }
  }
}

void Engine::evict_oldest() {
  while (!order_.empty()) {
    auto [key, serial] = order_.front();
    order_.pop_front();
    auto it = pending_.find(key);
    if (it == pending_.end() || it->second.serial != serial) continue;  // already settled
    const Pending& p = it->second;
    if (p.side[kBase].present && p.side[kCand].present) {
      ++noise_timeout_;  // a pair whose noise answer never came: compared without it
    } else {
      ++evicted_;
    }
    complete(key, it->second);
    return;
  }
}

// Settles one origin: its pair (or triple) goes into the route's statistics; a lone side is
// counted as unpaired. Erases the entry.
void Engine::complete(uint64_t key, Pending& p) {
  pending_bytes_ -= std::min(pending_bytes_, p.bytes);
  Side* b = &p.side[kBase];
  Side* c = &p.side[kCand];
  Side* n = sides_ == 3 && p.side[kNoise].present ? &p.side[kNoise] : nullptr;
  if (!b->present || !c->present) {
    for (int s = 0; s < sides_; ++s) {
      if (p.side[s].present) ++unpaired_[s];
    }
    pending_.erase(key);
    return;
  }
  if (b->error == ErrorKind::kCancelled || c->error == ErrorKind::kCancelled) {
    // The replay ended before this one finished: a fact about the run, not about the target.
    ++cancelled_;
    pending_.erase(key);
    return;
  }
  if (sides_ == 3 && !n) ++noise_missing_;
  if (n && n->error == ErrorKind::kCancelled) n = nullptr;
  ++paired_;
  RouteStats& r = stats(p.route);
  ++r.pairs;
  if (n) ++r.noise_pairs;

  // Errors, by class, for each side.
  std::string cls[3];
  cls[kBase] = error_class(*b);
  cls[kCand] = error_class(*c);
  if (n) cls[kNoise] = error_class(*n);
  for (int s = 0; s < 3; ++s) {
    if (cls[s].empty()) continue;
    auto& tally = r.error(cls[s]);
    ++tally.count[s];
    if (s == kCand && tally.samples.size() < kSamples) tally.samples.push_back(key);
  }
  // Status checks look at answers that are not failures: a failure (5xx, a transport error) on
  // either side is the error checks' business, and counting it again as a changed status would
  // turn the baseline's own random failures into the candidate's regressions.
  // gRPC answers are HTTP 200 either way: their gRPC status is part of the status here.
  auto fine = [](const Side* s) { return answered_fine(*s); };
  if (fine(b) && fine(c)) {
    ++r.answered;
    if (!same_status(*b, *c)) {
      ++r.status_changed;
      // A 4xx (or a refusing gRPC status) where the baseline answered otherwise: the candidate
      // refuses what it accepted.
      if (refuses(*c)) {
        auto& tally = r.error("4xx changed");
        ++tally.count[kCand];
        if (tally.samples.size() < kSamples) tally.samples.push_back(key);
      }
    }
  }
  if (n && fine(b) && fine(n)) {
    ++r.noise_answered;
    if (!same_status(*b, *n)) {
      ++r.noise_status_changed;
      if (refuses(*n)) ++r.error("4xx changed").count[kNoise];
    }
  }
  // Every change, failures included, is itemised for the reader.
  if (!same_status(*b, *c)) r.add_change({b->status, b->grpc, c->status, c->grpc}, 1, {key});

  // Latency: both answered in full.
  if (b->response && c->response && b->latency >= 0 && c->latency >= 0) {
    uint64_t block = b->time > 0 ? static_cast<uint64_t>(b->time / gate_.block_ns) : 0;
    r.latency.add(block, static_cast<uint64_t>(b->latency), static_cast<uint64_t>(c->latency));
  } else if (b->response && c->response) {
    ++no_latency_;
  }

  // Bodies (and headers): only where the statuses agree; a changed status is its own finding.
  // A body cut at --max-body or with bytes missing from the capture cannot be compared.
  const uint32_t partial = traffic::kFlagResponseBodyTruncated | traffic::kFlagGap;
  bool whole = !((b->flags | c->flags) & partial);
  if (b->response && c->response && same_status(*b, *c) && !whole) ++diff_skipped_;
  if (b->response && c->response && same_status(*b, *c) && whole) {
    if (!differ_.diff(*b->response, *c->response, diff_paths_, p.target)) ++r.diff_cut;
    const std::vector<std::string>* noise_paths = nullptr;
    if (n && n->response && same_status(*n, *b) && !(n->flags & partial)) {
      if (!differ_.diff(*b->response, *n->response, noise_paths_, p.target)) ++r.diff_cut;
      noise_paths = &noise_paths_;
    }
    r.fields.add(key, diff_paths_, noise_paths, gate_.noise);
  }
  pending_.erase(key);
}

// Percent of a share, for notes.
std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", share * 100);
  return buf;
}

RouteReport Engine::route_report(const std::string& method, const std::string& route, RouteStats& s,
                                 bool gated) {
  RouteReport rr;
  rr.method = method;
  rr.route = route;
  rr.count = s.pairs;
  BootstrapOptions boot;
  boot.resamples = gate_.resamples;
  boot.seed = gate_.seed;
  boot.confidence = 1 - 2 * gate_.alpha;  // each tail at alpha, as the one-sided test
  uint64_t n = s.latency.count();
  for (const auto& gq : gate_.quantiles) {
    LatencyRow row;
    row.name = gq.name;
    row.q = gq.q;
    row.min_effect = gq.min_effect;
    row.min_delta_ms = gq.min_delta_ms;
    row.baseline_ms = static_cast<double>(s.latency.quantile(0, gq.q)) / 1e6;
    row.candidate_ms = static_cast<double>(s.latency.quantile(1, gq.q)) / 1e6;
    row.ratio = row.baseline_ms > 0 ? row.candidate_ms / row.baseline_ms : 1;
    if (n < gq.min_count) {
      row.verdict = Verdict::kInsufficient;
      row.note = std::to_string(n) + " paired responses; " + gq.name + " needs " +
                 std::to_string(gq.min_count);
    } else if (s.latency.blocks() < gate_.min_blocks) {
      row.verdict = Verdict::kInsufficient;
      row.note = std::to_string(s.latency.blocks()) + " time blocks; the bootstrap needs " +
                 std::to_string(gate_.min_blocks);
    } else {
      auto cmp = s.latency.compare(gq.q, boot);
      row.ratio = cmp.ratio;
      row.low = cmp.low;
      row.high = cmp.high;
      row.p_value = cmp.p_value;
      row.verdict = gated ? Verdict::kPass : Verdict::kInfo;
      if (!gated) row.note = "not gated: the baseline is a capture from another environment";
    }
    rr.latency.push_back(row);
  }

  // Errors: one row per class seen on the route.
  for (const auto& e : s.errors) {
    ErrorRow row;
    row.kind = e.kind;
    row.candidate = e.count[kCand];
    row.candidate_n = s.pairs;
    if (e.kind == "4xx changed") {
      // The baseline's own rate of changed 4xx is what the noise target shows; without one, 0.
      // Both are counted among the answers that were not failures.
      row.candidate_n = s.answered;
      row.baseline = e.count[kNoise];
      row.baseline_n = sides_ == 3 ? s.noise_answered : s.answered;
    } else {
      row.baseline = e.count[kBase];
      row.baseline_n = s.pairs;
    }
    row.new_class = row.baseline == 0 && row.candidate > 0 && e.kind != "4xx changed";
    row.samples = e.samples;
    rr.errors.push_back(row);
  }
  {
    ErrorRow row;
    row.kind = "status changed";
    row.candidate = s.status_changed;
    row.candidate_n = s.answered;
    row.baseline = s.noise_status_changed;
    row.baseline_n = sides_ == 3 ? s.noise_answered : s.answered;
    if (row.candidate > 0) rr.errors.push_back(row);
  }
  for (auto& row : rr.errors) {
    if (row.candidate_n > 0 && row.baseline_n > 0 && row.candidate > 0) {
      row.p_value = fisher_greater(row.baseline, row.baseline_n, row.candidate, row.candidate_n);
    }
  }
  std::sort(rr.errors.begin(), rr.errors.end(),
            [](const ErrorRow& a, const ErrorRow& b) { return a.candidate > b.candidate; });

  for (const auto& [key, c] : s.changes) {
    rr.status_changes.push_back({key[0], key[2], c.count, c.samples, key[1], key[3]});
  }
  std::sort(rr.status_changes.begin(), rr.status_changes.end(),
            [](const StatusChange& a, const StatusChange& b) { return a.count > b.count; });
  if (s.changes_overflow) {
    rr.notes.push_back(std::to_string(s.changes_overflow) +
                       " status changes of other kinds not itemised");
  }

  size_t cancelled_fields = 0;
  // Fields are a route's own: the same path means different things on different routes, so the
  // (all) row keeps no diffs.
  const bool overall = method.empty();
  for (auto& f : overall ? std::vector<FieldNoise::Field>{} : s.fields.fields(gate_.noise)) {
    if (!f.reported) {
      if (f.differ > 0) ++cancelled_fields;
      continue;
    }
    DiffRow d;
    d.path = f.path;
    d.differ = f.differ;
    d.compared = s.fields.compared();
    d.rate = f.rate;
    d.noise_rate = sides_ == 3 ? f.noise_rate : -1;
    // The thresholds say the difference is large enough to matter; the test says it is not a
    // fluke of a few pairs (2 of 150 against 0 of 150 is not evidence).
    uint64_t noise_n = sides_ == 3 ? s.fields.with_noise() : s.fields.compared();
    uint64_t noise_k = sides_ == 3 ? f.noise_differ : 0;
    if (noise_n > 0 && d.compared > 0) {
      d.p_value = fisher_greater(noise_k, noise_n, f.differ, d.compared);
    }
    d.verdict = Verdict::kWarn;  // settled after the false-discovery control
    d.samples = f.samples;
    rr.diffs.push_back(std::move(d));
  }
  if (cancelled_fields) {
    rr.notes.push_back(std::to_string(cancelled_fields) +
                       (sides_ == 3 ? " differing fields cancelled as noise"
                                    : " differing fields below the reporting threshold"));
  }
  if (s.fields.overflow()) {
    rr.notes.push_back(std::to_string(s.fields.overflow()) +
                       " differences in fields beyond the per-route limit not itemised");
  }
  if (s.diff_cut) {
    rr.notes.push_back(std::to_string(s.diff_cut) +
                       " responses differed in more paths than diffs.max_paths");
  }
  return rr;
}

Report Engine::decide(std::vector<RouteLearner::Route>& finals, std::vector<RouteStats>& merged,
                      RouteStats& overall) {
  Report report;
  report.baseline = options_.baseline;
  report.candidate = options_.candidate;
  report.noise = options_.noise;
  report.inputs = options_.inputs;
  report.gate = options_.gate_path;
  report.alpha = gate_.alpha;
  report.latency_gated = gate_.latency_gated;

  report.overall = route_report("", "(all)", overall, gate_.latency_gated);
  for (size_t i = 0; i < finals.size(); ++i) {
    if (merged[i].pairs == 0) continue;
    report.routes.push_back(
        route_report(finals[i].method, finals[i].route, merged[i], gate_.latency_gated));
  }

  // One family for Benjamini-Hochberg: every latency and error test of the run.
  std::vector<double*> p_of;
  std::vector<double*> q_of;
  auto collect = [&](RouteReport& rr) {
    for (auto& row : rr.latency) {
      if (row.verdict == Verdict::kPass) {
        p_of.push_back(&row.p_value);
        q_of.push_back(&row.q_value);
      }
    }
    for (auto& row : rr.errors) {
      if (row.candidate > 0) {
        p_of.push_back(&row.p_value);
        q_of.push_back(&row.q_value);
      }
    }
    for (auto& d : rr.diffs) {
      p_of.push_back(&d.p_value);
      q_of.push_back(&d.q_value);
    }
  };
  collect(report.overall);
  for (auto& rr : report.routes) collect(rr);
  std::vector<double> ps;
  ps.reserve(p_of.size());
  for (auto* p : p_of) ps.push_back(*p);
  auto qs = bh_adjust(ps);
  for (size_t i = 0; i < qs.size(); ++i) *q_of[i] = qs[i];

  auto settle = [&](RouteReport& rr, RouteStats& s) {
    bool regressed = false;
    bool warn = false;
    bool decided = false;
    for (auto& row : rr.latency) {
      if (row.verdict != Verdict::kPass) continue;
      decided = true;
      bool significant = row.q_value <= gate_.alpha && row.low > 1;
      QuantileComparison c;
      c.ratio = row.ratio;
      c.low = row.low;
      c.high = row.high;
      // The calibrated rule (stats.h), and the absolute floor on top of it.
      bool slower = latency_regressed(c, row.q_value, gate_.alpha, row.min_effect) &&
                    row.baseline_ms * (row.high - 1) >= row.min_delta_ms;
      if (slower) {
        row.verdict = Verdict::kRegressed;
        regressed = true;
      } else if (significant) {
        char ms[32];
        std::snprintf(ms, sizeof ms, "%.2f ms", row.min_delta_ms);
        row.note = "slower by " + percent(row.ratio - 1) + ", within the gate's +" +
                   percent(row.min_effect) + " and +" + ms;
      }
    }
    for (auto& row : rr.errors) {
      double rb = row.baseline_n ? static_cast<double>(row.baseline) / row.baseline_n : 0;
      double rc = row.candidate_n ? static_cast<double>(row.candidate) / row.candidate_n : 0;
      double min_effect =
          row.kind == "status changed" ? gate_.status_min_effect : gate_.error_min_effect;
      if (row.candidate > 0 && row.q_value <= gate_.alpha && rc - rb >= min_effect) {
        row.verdict = Verdict::kRegressed;
      } else if (row.new_class) {
        row.verdict = gate_.fail_on_new_error_class ? Verdict::kRegressed : Verdict::kWarn;
      } else {
        row.verdict = Verdict::kPass;
      }
      regressed = regressed || row.verdict == Verdict::kRegressed;
      warn = warn || row.verdict == Verdict::kWarn;
      decided = decided || row.candidate_n > 0;
    }
    for (auto& d : rr.diffs) {
      if (d.q_value <= gate_.alpha && gate_.fail_on_diffs) d.verdict = Verdict::kRegressed;
      regressed = regressed || d.verdict == Verdict::kRegressed;
      warn = warn || d.verdict == Verdict::kWarn;
    }
    if (regressed) {
      rr.verdict = Verdict::kRegressed;
    } else if (warn) {
      rr.verdict = Verdict::kWarn;
    } else if (!decided && gate_.latency_gated) {
      rr.verdict = Verdict::kInsufficient;
    } else {
      rr.verdict = Verdict::kPass;
    }
    if (rr.verdict == Verdict::kRegressed || &rr == &report.overall) {
      rr.baseline_cdf = cdf_of(s.latency.histogram(0));
      rr.candidate_cdf = cdf_of(s.latency.histogram(1));
    }
  };
  settle(report.overall, overall);
  {
    size_t j = 0;
    for (size_t i = 0; i < finals.size(); ++i) {
      if (merged[i].pairs == 0) continue;
      settle(report.routes[j++], merged[i]);
    }
  }
  auto rank = [](Verdict v) {
    switch (v) {
      case Verdict::kRegressed:
        return 0;
      case Verdict::kWarn:
        return 1;
      default:
        return 2;
    }
  };
  std::stable_sort(report.routes.begin(), report.routes.end(),
                   [&](const RouteReport& a, const RouteReport& b) {
                     if (rank(a.verdict) != rank(b.verdict))
                       return rank(a.verdict) < rank(b.verdict);
                     return a.count > b.count;
                   });
  bool any = report.overall.verdict == Verdict::kRegressed;
  for (const auto& rr : report.routes) any = any || rr.verdict == Verdict::kRegressed;
  report.verdict = any ? Verdict::kRegressed : Verdict::kPass;
  return report;
}

Result<Report> Engine::run() {
  std::vector<Input> inputs;
  for (const auto& path : options_.inputs) {
    traffic::ReaderOptions ro;
    ro.on_damage = [this, path](const traffic::Damage& d) {
      ++damage_;
      spdlog::warn("{}", d.describe(path));
    };
    auto reader = traffic::Reader::open(path, ro);
    if (!reader) return tl::unexpected(reader.error());
    Input in;
    in.path = path;
    in.reader = std::move(*reader);
    inputs.push_back(std::move(in));
  }
  for (auto& in : inputs) {
    if (auto r = advance(in); !r) return tl::unexpected(r.error());
  }
  // Merge the inputs by time so that the partners of a pair arrive close together and the
  // pending window stays small, whether the targets share one archive or have one each.
  while (true) {
    Input* best = nullptr;
    for (auto& in : inputs) {
      if (in.has && (!best || in.offset < best->offset)) best = &in;
    }
    if (!best) break;
    take(best->next, best->offset);
    if (options_.progress && (read_ & 0xffff) == 0) options_.progress(read_);
    if (auto r = advance(*best); !r) return tl::unexpected(r.error());
  }
  if (options_.progress) options_.progress(read_);
  // What is still waiting has no partner coming.
  while (!order_.empty()) {
    auto [key, serial] = order_.front();
    order_.pop_front();
    auto it = pending_.find(key);
    if (it != pending_.end() && it->second.serial == serial) complete(key, it->second);
  }

  // Routes as learned: merge the statistics of provisional routes that became one.
  size_t provisional = learner_.size();
  uint64_t folded = learner_.folded();
  std::vector<RouteLearner::Route> finals;
  auto mapping = learner_.finish(finals);
  std::vector<RouteStats> merged;
  merged.reserve(finals.size());
  for (size_t i = 0; i < finals.size(); ++i) merged.emplace_back(gate_.max_blocks);
  // Most final routes are one provisional route: those move; the others merge. Each provisional
  // route's memory is given back as soon as it has been taken, so the peak is one copy.
  std::vector<bool> taken(finals.size(), false);
  for (size_t id = 0; id < routes_.size() && id < mapping.size(); ++id) {
    uint32_t to = mapping[id];
    if (!taken[to]) {
      merged[to] = std::move(routes_[id]);
      taken[to] = true;
    } else {
      merged[to].merge(routes_[id], gate_.noise);
    }
    routes_[id] = RouteStats(gate_.max_blocks);
  }
  routes_.clear();
  routes_.shrink_to_fit();
  RouteStats overall(gate_.max_blocks);
  uint64_t skipped_pairs = 0;
  size_t skipped_routes = 0;
  for (size_t i = 0; i < finals.size(); ++i) {
    if (merged[i].pairs == 0) continue;
    if (skipped(gate_.skip, finals[i].method, finals[i].route)) {
      skipped_pairs += merged[i].pairs;
      ++skipped_routes;
      merged[i] = RouteStats(gate_.max_blocks);
      continue;
    }
    overall.merge(merged[i], gate_.noise);
  }

  Report report = decide(finals, merged, overall);
  auto& c = report.counters;
  c["read"] = read_;
  nlohmann::ordered_json targets = nlohmann::ordered_json::object();
  for (int s = 0; s < sides_; ++s) targets[names_[s]] = per_side_[s];
  for (const auto& [name, count] : per_target_) targets[name] = count;
  if (other_targets_) targets["(other)"] = other_targets_;
  c["targets"] = targets;
  c["paired"] = paired_;
  c["unpaired_baseline"] = unpaired_[kBase];
  c["unpaired_candidate"] = unpaired_[kCand];
  if (sides_ == 3) {
    c["unpaired_noise"] = unpaired_[kNoise];
    c["noise_missing"] = noise_missing_;
  }
  c["evicted"] = evicted_;
  if (sides_ == 3) c["noise_timeout"] = noise_timeout_;
  c["without_origin"] = without_origin_;
  c["bad_instants"] = bad_instants_;
  c["diff_skipped_partial"] = diff_skipped_;
  // Body pairs read (and compared field by field) by format, and compared as bytes ($body).
  const ResponseDiffer::BodyCounts& bodies = differ_.body_counts();
  nlohmann::ordered_json read = nlohmann::ordered_json::object();
  read["json"] = bodies.json;
  read["msgpack"] = bodies.msgpack;
  read["cbor"] = bodies.cbor;
  read["protobuf"] = bodies.protobuf;
  read["xml"] = bodies.xml;
  read["thrift"] = bodies.thrift;
  read["json_lines"] = bodies.json_lines;
  read["event_stream"] = bodies.event_stream;
  read["rpc"] = bodies.rpc;
  read["unreadable"] = bodies.unreadable;
  read["unknown_format"] = bodies.unknown;
  c["bodies"] = read;
  c["duplicates"] = duplicates_;
  c["cancelled"] = cancelled_;
  c["without_latency"] = no_latency_;
  c["archive_damage"] = damage_;
  c["routes"] = report.routes.size();
  c["routes_provisional"] = provisional;
  c["routes_folded_requests"] = folded;
  c["routes_skipped"] = skipped_routes;
  c["skipped_pairs"] = skipped_pairs;

  if (paired_ == 0) {
    report.notes.push_back("no exchange of '" + options_.baseline + "' was paired with one of '" +
                           options_.candidate + "': check the target names (see counters.targets)");
  } else if (report.overall.count == 0) {
    report.notes.push_back("every pair fell on a skipped route: nothing was checked");
  }
  // A gate that checked nothing passes nothing: the reports say so, not only the exit code.
  if (report.overall.count == 0) report.verdict = Verdict::kInsufficient;
  if (!gate_.latency_gated) {
    report.notes.push_back("latency is shown, not gated: one side is a capture");
  }
  if (evicted_) {
    report.notes.push_back(std::to_string(evicted_) +
                           " responses waited too long for their partner and were given up "
                           "(they are counted as unpaired too)");
  }
  if (without_origin_) {
    report.notes.push_back(std::to_string(without_origin_) +
                           " replayed exchanges carried no origin_id and could not be paired");
  }
  if (bad_instants_) {
    report.notes.push_back(std::to_string(bad_instants_) +
                           " exchanges had no usable instant (unknown, or far from the run's)");
  }
  if (diff_skipped_) {
    report.notes.push_back(std::to_string(diff_skipped_) +
                           " pairs had a truncated or incomplete body and were not diffed");
  }
  if (damage_) {
    report.notes.push_back(std::to_string(damage_) +
                           " damaged places in the archives were skipped");
  }
  return report;
}

}  // namespace

Result<Report> compare(const CompareOptions& options) {
  if (options.inputs.empty()) return fail("compare: no input archive given");
  if (options.baseline.empty() || options.candidate.empty()) {
    return fail("compare: --baseline and --candidate name the targets to compare");
  }
  if (options.baseline == options.candidate) {
    return fail("compare: the baseline and the candidate are the same target '" + options.baseline +
                "'");
  }
  if (!options.noise.empty() &&
      (options.noise == options.baseline || options.noise == options.candidate)) {
    return fail("compare: --noise must name a third target");
  }
  Engine engine(options);
  return engine.run();
}

}  // namespace twin::compare
