// ddmin (pipelines/src/minimize.h): planted causes found among many elements, 1-minimal results,
// the cache (no subset tried twice), and the trial cap.

#include "minimize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace twin::cli {
namespace {

std::vector<int> range(int n) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

bool contains(const std::vector<int>& v, int x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

/// A test that records every subset it is given and fails on a repeat, the empty set or the
/// whole input.
struct Recorder {
  explicit Recorder(size_t n) : whole(n) {}
  size_t whole;
  std::set<std::vector<int>> seen;
  bool repeated = false;
  bool bad_call = false;
  void note(const std::vector<int>& s) {
    if (!seen.insert(s).second) repeated = true;
    if (s.empty() || s.size() == whole) bad_call = true;
    // Subsets keep the input's order.
    if (!std::is_sorted(s.begin(), s.end())) bad_call = true;
  }
};

// Removing any one element of `result` makes `test` fail.
template <typename Test>
void expect_one_minimal(const std::vector<int>& result, Test test) {
  for (size_t i = 0; i < result.size(); ++i) {
    std::vector<int> less = result;
    less.erase(less.begin() + static_cast<std::ptrdiff_t>(i));
    EXPECT_FALSE(test(less)) << "still fails without element " << result[i];
  }
}

TEST(Ddmin, FindsAPlantedPairAmongAThousand) {
  const auto input = range(1000);
  Recorder rec(input.size());
  auto test = [&](const std::vector<int>& s) {
    rec.note(s);
    return contains(s, 137) && contains(s, 802);
  };
  auto r = ddmin(input, test, 1000);
  EXPECT_EQ(r.minimal, (std::vector<int>{137, 802}));
  EXPECT_FALSE(r.capped);
  EXPECT_EQ(r.trials, rec.seen.size());
  EXPECT_LT(r.trials, 120u);    // logarithmic-ish, far from 1000
  EXPECT_GT(r.cache_hits, 0u);  // with two parts, the complements are the parts
  EXPECT_FALSE(rec.repeated);
  EXPECT_FALSE(rec.bad_call);
}

TEST(Ddmin, FindsASingleElement) {
  const auto input = range(1000);
  Recorder rec(input.size());
  auto r = ddmin(
      input,
      [&](const std::vector<int>& s) {
        rec.note(s);
        return contains(s, 999);
      },
      1000);
  EXPECT_EQ(r.minimal, (std::vector<int>{999}));
  EXPECT_LE(r.trials, 20u);  // halving: about log2(1000) tests
  EXPECT_FALSE(rec.repeated);
  EXPECT_FALSE(rec.bad_call);
}

TEST(Ddmin, KeepsEverythingWhenAllIsNeeded) {
  const auto input = range(9);
  Recorder rec(input.size());
  auto test = [&](const std::vector<int>& s) { return s.size() == 9; };
  auto r = ddmin(
      input,
      [&](const std::vector<int>& s) {
        rec.note(s);
        return test(s);
      },
      1000);
  EXPECT_EQ(r.minimal, input);
  EXPECT_FALSE(r.capped);
  expect_one_minimal(r.minimal, test);
  EXPECT_FALSE(rec.repeated);
  EXPECT_FALSE(rec.bad_call);
}

TEST(Ddmin, SmallInputsNeedNoTrial) {
  auto never = [](const std::vector<int>&) -> bool {
    ADD_FAILURE() << "called";
    return false;
  };
  EXPECT_EQ(ddmin(std::vector<int>{}, never).minimal, std::vector<int>{});
  auto one = ddmin(std::vector<int>{7}, never);
  EXPECT_EQ(one.minimal, std::vector<int>{7});
  EXPECT_EQ(one.trials, 0u);
}

TEST(Ddmin, ResultsAreOneMinimalForManyMonotoneCauses) {
  // Random failure causes: "any of these sets is wholly present" (monotone, like a bug that
  // needs several requests). The result must fail and be 1-minimal; no subset is tried twice.
  std::mt19937 rng(5);
  for (int round = 0; round < 60; ++round) {
    const int n = 2 + static_cast<int>(rng() % 120);
    const auto input = range(n);
    std::vector<std::vector<int>> causes(1 + rng() % 3);
    for (auto& c : causes) {
      const size_t k = 1 + rng() % 4;
      for (size_t i = 0; i < k; ++i)
        c.push_back(static_cast<int>(rng() % static_cast<unsigned>(n)));
    }
    auto test = [&](const std::vector<int>& s) {
      for (const auto& c : causes) {
        if (std::all_of(c.begin(), c.end(), [&](int x) { return contains(s, x); })) return true;
      }
      return false;
    };
    Recorder rec(input.size());
    auto r = ddmin(
        input,
        [&](const std::vector<int>& s) {
          rec.note(s);
          return test(s);
        },
        0);
    EXPECT_TRUE(test(r.minimal)) << "round " << round;
    expect_one_minimal(r.minimal, test);
    EXPECT_FALSE(rec.repeated) << "round " << round;
    EXPECT_EQ(r.trials, rec.seen.size());
  }
}

TEST(Ddmin, CacheAnswersRepeatedSubsetsWithoutCallingTheTest) {
  // An interaction of three elements: at granularity 2 every complement is a part, and later
  // rounds ask again for sets already tried.
  const auto input = range(64);
  std::multiset<std::vector<int>> calls;
  auto r = ddmin(
      input,
      [&](const std::vector<int>& s) {
        calls.insert(s);
        return contains(s, 3) && contains(s, 40) && contains(s, 41);
      },
      0);
  EXPECT_EQ(r.minimal, (std::vector<int>{3, 40, 41}));
  for (const auto& c : calls) EXPECT_EQ(calls.count(c), 1u);
  EXPECT_EQ(r.trials, calls.size());
  EXPECT_GT(r.cache_hits, 0u);
}

TEST(Ddmin, StopsAtTheTrialCapWithTheBestSoFar) {
  const auto input = range(1000);
  auto test = [](const std::vector<int>& s) { return contains(s, 10) && contains(s, 990); };
  size_t calls = 0;
  auto r = ddmin(
      input,
      [&](const std::vector<int>& s) {
        ++calls;
        return test(s);
      },
      10);
  // Two halves and four quarters fail alone; without the second quarter it still fails (trial
  // 8); of those 750, thirds are quarters tried already (cached) and without the third
  // quarter it fails too (trial 9): 500 left, and one trial on eighths reaches the cap.
  EXPECT_TRUE(r.capped);
  EXPECT_EQ(r.trials, 10u);
  EXPECT_EQ(calls, 10u);
  EXPECT_TRUE(test(r.minimal));       // still fails
  EXPECT_EQ(r.minimal.size(), 500u);  // and progress was made
  // Without a cap it goes all the way.
  auto full = ddmin(input, test, 0);
  EXPECT_FALSE(full.capped);
  EXPECT_EQ(full.minimal, (std::vector<int>{10, 990}));
}

TEST(Ddmin, StopsAtOnceWhenTheTestAborts) {
  const auto input = range(1000);
  size_t calls = 0;
  auto r = ddmin(
      input,
      [&](const std::vector<int>& s) -> std::optional<bool> {
        if (++calls == 3) return std::nullopt;  // e.g. Ctrl-C, or a reset that failed
        return contains(s, 10) && contains(s, 990);
      },
      0);
  EXPECT_TRUE(r.aborted);
  EXPECT_FALSE(r.capped);
  EXPECT_EQ(calls, 3u);  // no trial after the abort, no cap needed to end it
  EXPECT_EQ(r.trials, 3u);
  EXPECT_TRUE(contains(r.minimal, 10) && contains(r.minimal, 990));
}

TEST(Ddmin, WorksOnAnyElementType) {
  const std::vector<std::string> input = {"login", "profile", "search", "order", "logout"};
  auto r = ddmin(
      input,
      [](const std::vector<std::string>& s) {
        auto a = std::find(s.begin(), s.end(), "profile");
        auto b = std::find(s.begin(), s.end(), "search");
        return a != s.end() && b != s.end() && a < b;
      },
      100);
  EXPECT_EQ(r.minimal, (std::vector<std::string>{"profile", "search"}));
}

}  // namespace
}  // namespace twin::cli
