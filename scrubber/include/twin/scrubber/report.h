#pragma once
// The shape report: for every field path where values were scrubbed, how well the shape of the
// traffic survived — count, distinct values before and after (cardinality), the distance
// between the length distributions before and after (Kolmogorov–Smirnov), how many values kept
// their character-class shape, JSON structure identity — and the residual count: personal data
// the detectors still find in scrubbed output that is not a token twin wrote. Never holds a
// value: distinct counts are kept as keyed 64-bit hashes, lengths as histograms.

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twin/scrubber/kind.h"

namespace twin::scrubber {

/// Exact distinct count of hashes up to a cap; beyond it the count is a lower bound. An
/// open-addressing set (linear probing, at most half full). A set of a busy field is up to 1 MiB,
/// so nearly every probe is a cache miss: add() only queues the hash, and every kBatch hashes
/// the queue goes in at once, its slots asked for (prefetched) first so that the misses overlap
/// instead of stalling one after another. The result does not depend on the order of insertion
/// (the count is the number of distinct hashes up to the cap, saturated whether there were
/// more), so count() and saturated() are exact: they insert what is queued first. Not
/// thread-safe, not even the const members.
class DistinctCount {
 public:
  static constexpr size_t kCap = 1u << 16;
  void add(uint64_t hash) {
    pending_[pending_count_++] = hash | 1;  // 0 marks an empty slot
    if (pending_count_ == kBatch) flush();
  }
  void merge(const DistinctCount& other) {
    flush();
    other.flush();
    for (auto h : other.slots_) {
      if (h) insert(h);
    }
    saturated_ = saturated_ || other.saturated_;
  }
  uint64_t count() const {
    flush();
    return count_;
  }
  bool saturated() const {
    flush();
    return saturated_;
  }

 private:
  static constexpr size_t kBatch = 16;
  void flush() const {
    if (pending_count_ == 0) return;
    if (slots_.empty()) slots_.assign(64, 0);
    const size_t mask = slots_.size() - 1;
    for (size_t i = 0; i < pending_count_; ++i) __builtin_prefetch(&slots_[pending_[i] & mask]);
    const size_t n = pending_count_;
    pending_count_ = 0;
    for (size_t i = 0; i < n; ++i) insert(pending_[i]);
  }
  void insert(uint64_t hash) const {
    if (slots_.empty()) slots_.assign(64, 0);
    size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      if (slots_[i] == hash) return;
      if (slots_[i] == 0) {
        if (count_ >= kCap) {
          saturated_ = true;
          return;
        }
        slots_[i] = hash;
        if (++count_ * 2 > slots_.size()) grow();
        return;
      }
    }
  }
  void grow() const {
    std::vector<uint64_t> old(slots_.size() * 2, 0);
    old.swap(slots_);
    size_t mask = slots_.size() - 1;
    for (auto h : old) {
      if (!h) continue;
      size_t i = h & mask;
      while (slots_[i]) i = (i + 1) & mask;
      slots_[i] = h;
    }
  }
  // mutable: count() and saturated() insert what is queued (see above).
  mutable std::vector<uint64_t> slots_;
  mutable uint64_t count_ = 0;
  mutable bool saturated_ = false;
  mutable std::array<uint64_t, kBatch> pending_{};
  mutable size_t pending_count_ = 0;
};

/// Statistics of one field path ("request.json:user.email", "request.header:authorization").
struct FieldStats {
  uint64_t count = 0;    // values scrubbed here
  uint64_t changed = 0;  // of which the output differs from the input
  DistinctCount distinct_before;
  DistinctCount distinct_after;
  std::map<uint32_t, uint64_t> length_before;  // length (capped at 65535) → values
  std::map<uint32_t, uint64_t> length_after;
  uint64_t shape_kept = 0;  // values whose character-class shape is the same after
  uint64_t residual = 0;    // detections left in the output that twin did not write
  std::array<uint64_t, kKindCount> kinds{};
  /// When the path was first met: Report::field(path, first) of its making (reports of several
  /// threads merge in that order: merge_in_order).
  std::pair<uint64_t, uint64_t> first{UINT64_MAX, UINT64_MAX};

  /// Kolmogorov–Smirnov distance between the two length distributions, in [0, 1].
  double length_ks() const;
};

/// The character-class shape of a value: each character as shape_class() sees it ('d' digit,
/// 'U' upper, 'l' lower, a letter of a script tokens keep letters within as its script, any
/// other byte itself). Tokens keep it; redaction does not.
bool same_shape(std::string_view a, std::string_view b);

class Report {
 public:
  /// `hash_seed` keys the distinct-value hashes (so the report leaks nothing on its own).
  explicit Report(uint64_t hash_seed);

  static constexpr size_t kMaxPaths = 4096;  // beyond, values are counted under "(other)"

  /// The shape statistics (distinct counts, length distributions, shape match) cost about a
  /// tenth of a scrub; a run whose report nobody reads (`-q` without `--report`) turns them off.
  /// Counts, kinds and residuals are kept either way; to_json() says which it was.
  void set_shape_statistics(bool on) { shape_statistics_ = on; }
  bool shape_statistics() const { return shape_statistics_; }

  void record(std::string_view path, std::string_view before, std::string_view after, Kind kind) {
    record(field(path), before, after, kind);
  }
  /// The statistics of a path, created when new; the reference stays valid for the report's life
  /// (callers on the hot path keep it instead of looking the path up again).
  FieldStats& field(std::string_view path) { return at(path); }
  /// The same, noting `first` (an ordering key: the place in the input of the exchange, and of
  /// the record within it) when the path is new.
  FieldStats& field(std::string_view path, std::pair<uint64_t, uint64_t> first) {
    FieldStats& f = at(path);
    if (first < f.first) f.first = first;
    return f;
  }
  /// 0: no bound on the number of paths (a report of one of several threads, merged later in
  /// order); kMaxPaths by default.
  void set_max_paths(size_t n) { max_paths_ = n; }
  /// For a report of one of several threads, once the kMaxPaths paths first met in the input
  /// are known (`admitted`, which must outlive the report): the paths it holds that are not
  /// among them are folded into "(other)", and so is every one it meets from now on — as one
  /// report of all the input does past kMaxPaths. References from field() are invalid after.
  void restrict_paths(const std::set<std::string, std::less<>>& admitted);
  void record(FieldStats& field, std::string_view before, std::string_view after, Kind kind);

  /// What record() takes from one value, computed apart from adding it: a scrub on several
  /// threads computes it where the value is scrubbed and adds it later, in input order, on
  /// another thread (see ParallelScrubber).
  struct Observation {
    uint64_t hash_before = 0, hash_after = 0;  // with shape statistics only
    uint32_t length_before = 0, length_after = 0;
    Kind kind = Kind::kNone;
    bool changed = false;
    bool shape_kept = false;
  };
  Observation observe(std::string_view before, std::string_view after, Kind kind) const;
  void add(FieldStats& field, const Observation& o);
  void add_residual(std::string_view path, uint64_t n) { add_residual(field(path), n); }
  void add_residual(FieldStats& field, uint64_t n);
  /// A valid JSON body was scrubbed; `checked` when its structure before and after was
  /// compared (the engine checks the changed bodies of the first 64 exchanges and of one
  /// exchange in 16 after, by a hash of its place in the input: a full second and third pass
  /// over every body would cost more than the scrub itself).
  void add_json_body(bool checked, bool same_structure) {
    ++json_bodies_;
    if (checked) ++json_structure_checked_;
    if (checked && same_structure) ++json_same_structure_;
  }

  uint64_t residual() const { return residual_; }
  uint64_t json_bodies() const { return json_bodies_; }
  uint64_t json_same_structure() const { return json_same_structure_; }
  uint64_t json_structure_checked() const { return json_structure_checked_; }
  const std::map<std::string, FieldStats, std::less<>>& fields() const { return fields_; }

  /// Adds another report (from another thread) into this one.
  void merge(const Report& other);
  /// Adds reports of several threads whose paths were noted with field(path, first): paths are
  /// made in the order they were first met across all of them, so that the bound on paths
  /// (kMaxPaths, then "(other)") takes the paths one report of all the input would have.
  void merge_in_order(const std::vector<const Report*>& reports);

  /// The report as JSON (docs/scrub.md documents the schema).
  nlohmann::json to_json() const;
  /// A table for a terminal: the `rows` busiest paths, then the totals.
  std::string table(size_t rows = 30) const;

 private:
  FieldStats& at(std::string_view path);
  uint64_t seed_;
  size_t max_paths_ = kMaxPaths;
  const std::set<std::string, std::less<>>* admitted_ = nullptr;
  bool shape_statistics_ = true;
  std::map<std::string, FieldStats, std::less<>> fields_;
  uint64_t residual_ = 0;
  uint64_t json_bodies_ = 0;
  uint64_t json_same_structure_ = 0;
  uint64_t json_structure_checked_ = 0;
};

}  // namespace twin::scrubber
