#pragma once
// Delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing Input",
// 2002): ddmin reduces a failing input to a 1-minimal one — removing any single element of the
// result makes the failure go away. `twin reproduce --minimize` runs it over sessions, then over
// requests. Header-only and generic, so that the unit tests drive it with plain integers.

#include <algorithm>
#include <cstddef>
#include <map>
#include <numeric>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace twin::cli {

template <typename T>
struct DdminResult {
  std::vector<T> minimal;  // in the input's order
  size_t trials = 0;       // calls of the test
  size_t cache_hits = 0;   // subsets asked for again and answered from the cache
  /// The trial cap was reached: `minimal` is the smallest failing set found so far, which still
  /// fails but need not be 1-minimal.
  bool capped = false;
  /// The test asked to stop (it returned std::nullopt): `minimal` is as for `capped`.
  bool aborted = false;
};

/// Reduces `input` to a 1-minimal subset for which `test` still holds.
///
/// `test(const std::vector<T>& subset) -> bool` returns true when the subset still shows the
/// failure. It is assumed to hold for the whole `input` (the caller checked it) and not to hold
/// for the empty set; neither is passed to it. Subsets keep the input's order. Results are
/// cached by the set of positions, so `test` is never called twice with the same subset. At most
/// `max_trials` calls are made (0: no cap); when the cap is reached the smallest failing subset
/// found so far is returned with `capped` set. `test` may instead return std::optional<bool>:
/// std::nullopt (an interrupted run, a failed reset) stops the search at once, with `aborted`.
template <typename T, typename Test>
DdminResult<T> ddmin(const std::vector<T>& input, Test&& test, size_t max_trials = 200) {
  DdminResult<T> out;
  std::vector<size_t> current(input.size());
  std::iota(current.begin(), current.end(), size_t{0});
  std::map<std::vector<size_t>, bool> cache;
  cache.emplace(current, true);
  std::vector<T> subset;
  // nullopt: the cap was reached before this subset could be tried.
  auto run = [&](const std::vector<size_t>& positions) -> std::optional<bool> {
    if (positions.empty()) return false;
    if (auto it = cache.find(positions); it != cache.end()) {
      ++out.cache_hits;
      return it->second;
    }
    if (max_trials != 0 && out.trials >= max_trials) return std::nullopt;
    subset.clear();
    for (size_t p : positions) subset.push_back(input[p]);
    ++out.trials;
    bool failed = false;
    using Answer = decltype(test(static_cast<const std::vector<T>&>(subset)));
    if constexpr (std::is_same_v<std::decay_t<Answer>, std::optional<bool>>) {
      std::optional<bool> answer = test(static_cast<const std::vector<T>&>(subset));
      if (!answer) {
        out.aborted = true;
        return std::nullopt;
      }
      failed = *answer;
    } else {
      failed = static_cast<bool>(test(static_cast<const std::vector<T>&>(subset)));
    }
    cache.emplace(positions, failed);
    return failed;
  };

  size_t granularity = 2;
  bool capped = false;
  while (current.size() >= 2 && !capped) {
    granularity = std::min(granularity, current.size());
    // Split `current` into `granularity` parts of near-equal size.
    std::vector<std::pair<size_t, size_t>> parts;  // [begin, end) into current
    const size_t n = current.size();
    for (size_t i = 0; i < granularity; ++i) {
      parts.emplace_back(i * n / granularity, (i + 1) * n / granularity);
    }
    bool reduced = false;
    // Reduce to a part.
    for (const auto& [b, e] : parts) {
      std::vector<size_t> part(current.begin() + static_cast<std::ptrdiff_t>(b),
                               current.begin() + static_cast<std::ptrdiff_t>(e));
      auto r = run(part);
      if (!r) {
        capped = true;
        break;
      }
      if (*r) {
        current = std::move(part);
        granularity = 2;
        reduced = true;
        break;
      }
    }
    if (capped) break;
    // Reduce to a complement (with two parts, the complements are the parts: cached).
    if (!reduced) {
      for (const auto& [b, e] : parts) {
        std::vector<size_t> complement;
        complement.reserve(n - (e - b));
        complement.insert(complement.end(), current.begin(),
                          current.begin() + static_cast<std::ptrdiff_t>(b));
        complement.insert(complement.end(), current.begin() + static_cast<std::ptrdiff_t>(e),
                          current.end());
        auto r = run(complement);
        if (!r) {
          capped = true;
          break;
        }
        if (*r) {
          current = std::move(complement);
          granularity = std::max<size_t>(granularity - 1, 2);
          reduced = true;
          break;
        }
      }
    }
    if (capped) break;
    if (!reduced) {
      if (granularity >= current.size()) break;  // every single removal was tried: 1-minimal
      granularity = std::min(granularity * 2, current.size());
    }
  }
  out.capped = capped && !out.aborted;
  for (size_t p : current) out.minimal.push_back(input[p]);
  return out;
}

}  // namespace twin::cli
