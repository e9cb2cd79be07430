#include "twin/scrubber/report.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "twin/scrubber/transform.h"

namespace twin::scrubber {
namespace {

uint32_t capped(size_t n) { return static_cast<uint32_t>(std::min<size_t>(n, 65535)); }

void merge_hist(std::map<uint32_t, uint64_t>& into, const std::map<uint32_t, uint64_t>& from) {
  for (const auto& [k, v] : from) into[k] += v;
}

nlohmann::json hist_json(const std::map<uint32_t, uint64_t>& h) {
  // Summary of a length distribution: min, median, max and mean.
  nlohmann::json j = nlohmann::json::object();
  uint64_t n = 0;
  double sum = 0;
  for (const auto& [k, v] : h) {
    n += v;
    sum += double(k) * double(v);
  }
  if (n == 0) return j;
  uint64_t seen = 0;
  uint32_t median = 0;
  for (const auto& [k, v] : h) {
    seen += v;
    if (seen * 2 >= n) {
      median = k;
      break;
    }
  }
  j["min"] = h.begin()->first;
  j["median"] = median;
  j["max"] = h.rbegin()->first;
  j["mean"] = sum / double(n);
  return j;
}

}  // namespace

bool same_shape(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size();) {
    size_t la = 1, lb = 1;
    if (shape_class(a, i, la) != shape_class(b, i, lb) || la != lb) return false;
    i += la;
  }
  return true;
}

double FieldStats::length_ks() const {
  uint64_t na = 0, nb = 0;
  for (const auto& [k, v] : length_before) na += v;
  for (const auto& [k, v] : length_after) nb += v;
  if (na == 0 || nb == 0) return 0;
  // Walk the union of lengths in order, tracking both empirical CDFs.
  auto ia = length_before.begin();
  auto ib = length_after.begin();
  uint64_t ca = 0, cb = 0;
  double d = 0;
  while (ia != length_before.end() || ib != length_after.end()) {
    uint32_t next = std::min(ia == length_before.end() ? UINT32_MAX : ia->first,
                             ib == length_after.end() ? UINT32_MAX : ib->first);
    if (ia != length_before.end() && ia->first == next) ca += (ia++)->second;
    if (ib != length_after.end() && ib->first == next) cb += (ib++)->second;
    d = std::max(d, std::fabs(double(ca) / double(na) - double(cb) / double(nb)));
  }
  return d;
}

Report::Report(uint64_t hash_seed) : seed_(hash_seed) {}

FieldStats& Report::at(std::string_view path) {
  auto it = fields_.find(path);
  if (it != fields_.end()) return it->second;
  if (admitted_ != nullptr && admitted_->find(path) == admitted_->end()) {
    return fields_["(other)"];
  }
  if (max_paths_ != 0 && fields_.size() >= max_paths_) return fields_["(other)"];
  return fields_.emplace(std::string(path), FieldStats{}).first->second;
}

// add(f, observe(...)) in one (the hot path of one engine).
void Report::record(FieldStats& f, std::string_view before, std::string_view after, Kind kind) {
  ++f.count;
  if (before != after) ++f.changed;
  ++f.kinds[static_cast<size_t>(kind)];
  if (!shape_statistics_) return;
  ++f.length_before[capped(before.size())];
  ++f.length_after[capped(after.size())];
  if (same_shape(before, after)) ++f.shape_kept;
  f.distinct_before.add(XXH3_64bits_withSeed(before.data(), before.size(), seed_));
  f.distinct_after.add(XXH3_64bits_withSeed(after.data(), after.size(), seed_));
}

Report::Observation Report::observe(std::string_view before, std::string_view after,
                                    Kind kind) const {
  Observation o;
  o.kind = kind;
  o.changed = before != after;
  if (!shape_statistics_) return o;
  o.length_before = capped(before.size());
  o.length_after = capped(after.size());
  o.shape_kept = same_shape(before, after);
  o.hash_before = XXH3_64bits_withSeed(before.data(), before.size(), seed_);
  o.hash_after = XXH3_64bits_withSeed(after.data(), after.size(), seed_);
  return o;
}

void Report::add(FieldStats& f, const Observation& o) {
  ++f.count;
  if (o.changed) ++f.changed;
  ++f.kinds[static_cast<size_t>(o.kind)];
  if (!shape_statistics_) return;
  ++f.length_before[o.length_before];
  ++f.length_after[o.length_after];
  if (o.shape_kept) ++f.shape_kept;
  f.distinct_before.add(o.hash_before);
  f.distinct_after.add(o.hash_after);
}

void Report::add_residual(FieldStats& f, uint64_t n) {
  if (n == 0) return;
  f.residual += n;
  residual_ += n;
}

namespace {
void add_stats(FieldStats& f, const FieldStats& o) {
  f.count += o.count;
  f.changed += o.changed;
  f.distinct_before.merge(o.distinct_before);
  f.distinct_after.merge(o.distinct_after);
  merge_hist(f.length_before, o.length_before);
  merge_hist(f.length_after, o.length_after);
  f.shape_kept += o.shape_kept;
  f.residual += o.residual;
  for (size_t i = 0; i < kKindCount; ++i) f.kinds[i] += o.kinds[i];
  if (o.first < f.first) f.first = o.first;
}
}  // namespace

void Report::restrict_paths(const std::set<std::string, std::less<>>& admitted) {
  admitted_ = &admitted;
  for (auto it = fields_.begin(); it != fields_.end();) {
    if (it->first == "(other)" || admitted.count(it->first) != 0) {
      ++it;
      continue;
    }
    add_stats(fields_["(other)"], it->second);
    it = fields_.erase(it);
  }
}

void Report::merge(const Report& other) {
  shape_statistics_ = shape_statistics_ && other.shape_statistics_;
  for (const auto& [path, o] : other.fields_) add_stats(at(path), o);
  residual_ += other.residual_;
  json_bodies_ += other.json_bodies_;
  json_same_structure_ += other.json_same_structure_;
  json_structure_checked_ += other.json_structure_checked_;
}

void Report::merge_in_order(const std::vector<const Report*>& reports) {
  std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string_view>> order;
  for (const Report* r : reports) {
    for (const auto& [path, f] : r->fields_) order.emplace_back(f.first, path);
  }
  std::sort(order.begin(), order.end());
  for (const auto& [first, path] : order) at(path);  // made in that order, bounded as then
  for (const Report* r : reports) merge(*r);
}

nlohmann::json Report::to_json() const {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& [path, f] : fields_) {
    nlohmann::json kinds = nlohmann::json::object();
    for (size_t i = 0; i < kKindCount; ++i) {
      if (f.kinds[i]) kinds[std::string(to_string(static_cast<Kind>(i)))] = f.kinds[i];
    }
    nlohmann::json field = {
        {"path", path},           {"count", f.count}, {"changed", f.changed},
        {"residual", f.residual}, {"kinds", kinds},
    };
    if (shape_statistics_) {
      field["distinct_before"] = f.distinct_before.count();
      field["distinct_after"] = f.distinct_after.count();
      field["distinct_exact"] = !f.distinct_before.saturated() && !f.distinct_after.saturated();
      field["length_before"] = hist_json(f.length_before);
      field["length_after"] = hist_json(f.length_after);
      field["length_ks"] = f.length_ks();
      field["shape_kept"] = f.shape_kept;
      field["shape_match"] = f.count ? double(f.shape_kept) / double(f.count) : 1.0;
    }
    fields.push_back(std::move(field));
  }
  return {
      {"shape_statistics", shape_statistics_},
      {"fields", fields},
      {"json_bodies", json_bodies_},
      {"json_structure_checked", json_structure_checked_},
      {"json_same_structure", json_same_structure_},
      {"residual", residual_},
  };
}

std::string Report::table(size_t rows) const {
  std::vector<std::pair<std::string_view, const FieldStats*>> order;
  for (const auto& [path, f] : fields_) order.emplace_back(path, &f);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second->count > b.second->count; });
  std::string out;
  char line[512];
  if (!shape_statistics_) {
    out += "(shape statistics were not gathered: distinct, after, len-KS and shape read 0)\n";
  }
  std::snprintf(line, sizeof line, "%-48s %10s %10s %10s %7s %7s %8s\n", "field", "scrubbed",
                "distinct", "after", "len-KS", "shape", "residual");
  out += line;
  size_t shown = 0;
  for (const auto& [path, f] : order) {
    if (shown++ == rows) {
      std::snprintf(line, sizeof line, "... %zu more fields (see --report)\n", order.size() - rows);
      out += line;
      break;
    }
    std::string name(path.substr(0, 48));
    std::snprintf(
        line, sizeof line, "%-48s %10llu %9llu%s %9llu%s %7.3f %6.1f%% %8llu\n", name.c_str(),
        (unsigned long long)f->count, (unsigned long long)f->distinct_before.count(),
        f->distinct_before.saturated() ? "+" : " ", (unsigned long long)f->distinct_after.count(),
        f->distinct_after.saturated() ? "+" : " ", f->length_ks(),
        f->count ? 100.0 * double(f->shape_kept) / double(f->count) : 100.0,
        (unsigned long long)f->residual);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "JSON bodies: %llu, structure checked: %llu, the same: %llu; residual "
                "detections: %llu\n",
                (unsigned long long)json_bodies_, (unsigned long long)json_structure_checked_,
                (unsigned long long)json_same_structure_, (unsigned long long)residual_);
  out += line;
  return out;
}

}  // namespace twin::scrubber
