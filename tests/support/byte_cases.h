#pragma once
// Test inputs for checks that classify bytes (word-at-a-time tricks against byte loops, our
// checks against a library's): every byte value at every place of strings of each length up to
// `max_len`, over each fill byte; then random strings of mostly printable bytes with a byte of
// any value one time in `any_one_in`. `check(s)` is called for each; the cases stop at the first
// gtest failure.

#include <gtest/gtest.h>

#include <cstddef>
#include <initializer_list>
#include <random>
#include <string>

namespace twin::test {

template <typename Check>
void for_byte_cases(size_t max_len, std::initializer_list<char> fills, unsigned seed,
                    size_t max_random_len, unsigned any_one_in, Check&& check) {
  for (size_t n = 0; n <= max_len; ++n) {
    for (char fill : fills) {
      check(std::string(n, fill));
      for (size_t at = 0; at < n; ++at) {
        for (int b = 0; b < 256; ++b) {
          std::string s(n, fill);
          s[at] = static_cast<char>(b);
          check(s);
          if (::testing::Test::HasFailure()) return;
        }
      }
    }
  }
  std::mt19937 rng(seed);
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % (max_random_len + 1), 'x');
    for (auto& c : s) c = static_cast<char>(rng() % any_one_in ? 0x21 + rng() % 0x5E : rng() % 256);
    check(s);
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace twin::test
