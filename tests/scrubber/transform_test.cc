#include "twin/scrubber/transform.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "prp.h"
#include "siphash.h"

namespace twin::scrubber {
namespace {

using testing::HasSubstr;

const Key& test_key() {
  static const Key key = Key::from_material("transform test key material, long enough");
  return key;
}

std::string tok(Transformer& t, std::string_view value, Kind kind = Kind::kNone) {
  std::string out;
  t.token(value, kind, out);
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
bool is_hex_letter(char c) { return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// The documented hex rule: all letters hex, and digits too or at least 8 letters.
bool hex_rule(std::string_view s) {
  size_t letters = 0;
  size_t digits = 0;
  for (char c : s) {
    if (is_digit(c)) ++digits;
    if (is_alpha(c)) {
      if (!is_hex_letter(c)) return false;
      ++letters;
    }
  }
  return letters > 0 && (digits > 0 || letters >= 8);
}

// Every position keeps its class; everything else stays as it was.
// The letters past ASCII that a scheme-3 token keeps within their script (transform.cc's kUni),
// written again here from the Unicode charts: [first, last] code points and a script number.
struct ScriptRange {
  uint32_t first, last;
  int script;
};
constexpr ScriptRange kScripts[] = {
    {0xC0, 0xD6, 0},      {0xD8, 0xDE, 0},      {0xDF, 0xF6, 1},      {0xF8, 0xFF, 1},
    {0x100, 0x17F, 2},    {0x391, 0x3A1, 3},    {0x3A3, 0x3AB, 3},    {0x3AC, 0x3CE, 4},
    {0x400, 0x42F, 5},    {0x430, 0x45F, 6},    {0x5D0, 0x5EA, 7},    {0x621, 0x63A, 8},
    {0x641, 0x64A, 8},    {0x905, 0x939, 9},    {0xE01, 0xE2E, 10},   {0x3041, 0x3096, 11},
    {0x30A1, 0x30FA, 12}, {0x4E00, 0x9FFF, 13}, {0xAC00, 0xD7A3, 14},
};

// The script of the 2- or 3-byte UTF-8 letter at s[i] (its length in `len`), or -1.
int script_at(std::string_view s, size_t i, size_t& len) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint32_t cp = 0;
  len = 0;
  if ((b(i) & 0xE0) == 0xC0 && i + 1 < s.size() && (b(i + 1) & 0xC0) == 0x80) {
    len = 2;
    cp = uint32_t(b(i) & 0x1F) << 6 | (b(i + 1) & 0x3F);
  } else if ((b(i) & 0xF0) == 0xE0 && i + 2 < s.size() && (b(i + 1) & 0xC0) == 0x80 &&
             (b(i + 2) & 0xC0) == 0x80) {
    len = 3;
    cp = uint32_t(b(i) & 0x0F) << 12 | uint32_t(b(i + 1) & 0x3F) << 6 | (b(i + 2) & 0x3F);
  }
  if (len == 0 || (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800)) return -1;
  for (const auto& r : kScripts) {
    if (cp >= r.first && cp <= r.last) return r.script;
  }
  return -1;
}

// Same length; digits stay digits, ASCII letters keep their case (hex letters stay hex in a
// hex-ruled value); with `scripts` (scheme 3) a letter of kScripts stays a letter of its script
// and length; every other byte stays as it is.
void expect_same_shape(std::string_view in, std::string_view out, bool scripts = true) {
  ASSERT_EQ(in.size(), out.size()) << "length changed";
  const bool hex = hex_rule(in);
  for (size_t i = 0; i < in.size(); ++i) {
    const char a = in[i];
    const char b = out[i];
    size_t len = 0;
    if (is_digit(a)) {
      ASSERT_TRUE(is_digit(b)) << "position " << i;
    } else if (is_upper(a)) {
      ASSERT_TRUE(is_upper(b)) << "position " << i;
      if (hex) {
        ASSERT_TRUE(is_hex_letter(b)) << "position " << i;
      }
    } else if (is_lower(a)) {
      ASSERT_TRUE(is_lower(b)) << "position " << i;
      if (hex) {
        ASSERT_TRUE(is_hex_letter(b)) << "position " << i;
      }
    } else if (const int script = script_at(in, i, len); scripts && script >= 0) {
      size_t out_len = 0;
      ASSERT_EQ(script_at(out, i, out_len), script) << "position " << i;
      ASSERT_EQ(out_len, len) << "position " << i;
      i += len - 1;
    } else {
      ASSERT_EQ(a, b) << "position " << i;
    }
  }
}

std::string random_value(std::mt19937_64& rng, size_t max_len) {
  static constexpr std::string_view kPool =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.@+: /";
  const size_t n = 1 + rng() % max_len;
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (rng() % 40 == 0) {
      s += "\xc3\xa9";  // é: a Latin-1 letter, one of its kind under scheme 3
    } else {
      s += kPool[rng() % kPool.size()];
    }
  }
  return s;
}

std::string random_from(std::mt19937_64& rng, std::string_view alphabet, size_t n) {
  std::string s(n, ' ');
  for (char& c : s) c = alphabet[rng() % alphabet.size()];
  return s;
}

// ---------------------------------------------------------------------------------------------
// The building blocks.

TEST(SipHashTest, ReferenceVectors) {
  // Aumasson and Bernstein's reference vectors: key 00..0f, message 00..(len-1).
  uint8_t key_bytes[16];
  for (int i = 0; i < 16; ++i) key_bytes[i] = static_cast<uint8_t>(i);
  const SipKey key = SipKey::from_bytes(key_bytes);
  auto sip64 = [&](size_t len) {
    SipHasher h(key);
    for (size_t i = 0; i < len; ++i) h.update(static_cast<uint8_t>(i));
    return h.finish64();
  };
  EXPECT_EQ(sip64(0), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(sip64(1), 0x74f839c593dc67fdULL);
  EXPECT_EQ(sip64(2), 0x0d6c8009d9a94f5aULL);
  EXPECT_EQ(sip64(15), 0xa129ca6149be45e5ULL);

  auto sip128 = [&](size_t len) {
    SipHasher h(key, true);
    for (size_t i = 0; i < len; ++i) h.update(static_cast<uint8_t>(i));
    uint64_t lo = 0;
    uint64_t hi = 0;
    h.finish128(&lo, &hi);
    std::array<uint8_t, 16> out;
    for (int i = 0; i < 8; ++i) {
      out[static_cast<size_t>(i)] = static_cast<uint8_t>(lo >> (8 * i));
      out[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(hi >> (8 * i));
    }
    return out;
  };
  EXPECT_EQ(sip128(0), (std::array<uint8_t, 16>{0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25, 0xa8, 0xe6,
                                                0x6d, 0xf6, 0x72, 0x14, 0xc7, 0x55, 0x02, 0x93}));
  EXPECT_EQ(sip128(1), (std::array<uint8_t, 16>{0xda, 0x87, 0xc1, 0xd8, 0x6b, 0x99, 0xaf, 0x44,
                                                0x34, 0x76, 0x59, 0x11, 0x9b, 0x22, 0xfc, 0x45}));
  EXPECT_EQ(sip128(2), (std::array<uint8_t, 16>{0x81, 0x77, 0x22, 0x8d, 0xa4, 0xa4, 0x5d, 0xc7,
                                                0xfc, 0xa3, 0x8b, 0xde, 0xf6, 0x0a, 0xff, 0xe4}));

  // Bulk updates (whole words, from any alignment) and update_u64 at any offset give what byte
  // by byte gives.
  std::string msg(64, '\0');
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>(i * 7 + 3);
  for (size_t len = 0; len <= msg.size(); ++len) {
    for (size_t split = 0; split <= len; ++split) {
      SipHasher bytewise(key);
      for (size_t i = 0; i < len; ++i) bytewise.update(static_cast<uint8_t>(msg[i]));
      SipHasher bulk(key);
      bulk.update(std::string_view(msg).substr(0, split));
      bulk.update(std::string_view(msg).substr(split, len - split));
      ASSERT_EQ(bulk.finish64(), bytewise.finish64()) << len << " split at " << split;
    }
    SipHasher word(key);
    SipHasher bytes(key);
    word.update(std::string_view(msg).substr(0, len % 9));
    bytes.update(std::string_view(msg).substr(0, len % 9));
    word.update_u64(0x0102030405060708ULL * (len + 1));
    for (int i = 0; i < 8; ++i)
      bytes.update(static_cast<uint8_t>((0x0102030405060708ULL * (len + 1)) >> (8 * i)));
    ASSERT_EQ(word.finish64(), bytes.finish64()) << len;
  }

  // The unrolled one-word form agrees with the incremental one.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 100; ++i) {
    const uint64_t m = rng();
    SipHasher h(key);
    h.update_u64(m);
    EXPECT_EQ(siphash_u64(key, m), h.finish64());
  }
}

// SipHash with c compression and d finalization rounds, written from the paper for any message,
// as plainly as possible: checked against the reference vectors at (2, 4), it checks the
// unrolled SipHash-1-3 of token scheme 2 at (1, 3).
uint64_t reference_siphash(const SipKey& key, const uint8_t* msg, size_t len, int c, int d) {
  uint64_t v0 = key.k0 ^ 0x736f6d6570736575ULL, v1 = key.k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = key.k0 ^ 0x6c7967656e657261ULL, v3 = key.k1 ^ 0x7465646279746573ULL;
  auto rotl = [](uint64_t x, int b) { return (x << b) | (x >> (64 - b)); };
  auto round = [&] {
    v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);
    v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;
    v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;
    v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);
  };
  auto block = [&](uint64_t m) {
    v3 ^= m;
    for (int i = 0; i < c; ++i) round();
    v0 ^= m;
  };
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t m = 0;
    for (int j = 7; j >= 0; --j) m = (m << 8) | msg[i + static_cast<size_t>(j)];
    block(m);
  }
  uint64_t last = static_cast<uint64_t>(len & 0xff) << 56;
  for (size_t j = 0; i + j < len; ++j) last |= static_cast<uint64_t>(msg[i + j]) << (8 * j);
  block(last);
  v2 ^= 0xff;
  for (int r = 0; r < d; ++r) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

TEST(SipHashTest, SipHash13OfAWordAndAByteIsSipHash13) {
  uint8_t key_bytes[16];
  for (int i = 0; i < 16; ++i) key_bytes[i] = static_cast<uint8_t>(i);
  const SipKey ref_key = SipKey::from_bytes(key_bytes);
  uint8_t msg[64];
  for (int i = 0; i < 64; ++i) msg[i] = static_cast<uint8_t>(i);
  // the plain implementation at (2, 4) is SipHash-2-4: the reference vectors and SipHasher
  EXPECT_EQ(reference_siphash(ref_key, msg, 0, 2, 4), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(reference_siphash(ref_key, msg, 1, 2, 4), 0x74f839c593dc67fdULL);
  EXPECT_EQ(reference_siphash(ref_key, msg, 15, 2, 4), 0xa129ca6149be45e5ULL);
  for (size_t len = 0; len <= 64; ++len) {
    SipHasher h(ref_key);
    h.update(msg, len);
    ASSERT_EQ(reference_siphash(ref_key, msg, len, 2, 4), h.finish64()) << len;
  }
  std::mt19937_64 rng(21);
  for (int i = 0; i < 2000; ++i) {
    const SipKey key{rng(), rng()};
    const uint64_t m = rng();
    const auto b = static_cast<uint8_t>(rng());
    uint8_t bytes[9];
    for (int j = 0; j < 8; ++j) bytes[j] = static_cast<uint8_t>(m >> (8 * j));
    bytes[8] = b;
    ASSERT_EQ(siphash13_u64_byte(key, m, b), reference_siphash(key, bytes, 9, 1, 3)) << i;
    ASSERT_NE(siphash13_u64_byte(key, m, b), reference_siphash(key, bytes, 9, 2, 4));
  }
}

// Scheme 2's network is a permutation of [0, da * db) for every pair of half sizes, including
// the largest that fit 64 bits, and it mixes: changing the last digit of a value changes each
// digit of its image with the probability of a random permutation (9 in 10 for decimal).
TEST(PrpTest, Scheme2PermutesEveryPairOfHalvesAndMixes) {
  std::mt19937_64 rng(12);
  for (uint64_t da = 2; da <= 40; ++da) {
    for (uint64_t db = 2; db <= 40; ++db) {
      const SipKey key{rng(), rng()};
      const uint64_t m = da * db;
      std::vector<bool> seen(m);
      for (uint64_t x = 0; x < m; ++x) {
        const uint64_t y = prp2_permute(key, da, db, x / db, x % db);
        ASSERT_LT(y, m) << da << " x " << db;
        ASSERT_FALSE(seen[y]) << "collision in " << da << " x " << db;
        seen[y] = true;
      }
    }
  }
  // larger domains, whole: halves of letters and digits, of decimal digits, and uneven ones
  for (auto [da, db] : {std::pair<uint64_t, uint64_t>{26 * 26, 10 * 26 * 26},
                        {1000, 1000},
                        {16, 100000},
                        {1031, 977}}) {
    const SipKey key{rng(), rng()};
    std::vector<bool> seen(da * db);
    for (uint64_t x = 0; x < da * db; ++x) {
      const uint64_t y = prp2_permute(key, da, db, x / db, x % db);
      ASSERT_LT(y, da * db);
      ASSERT_FALSE(seen[y]) << "collision in " << da << " x " << db;
      seen[y] = true;
    }
  }
  // the top of the range: halves near 2^32 each, and one near 2^62 with one of 3
  const SipKey key{3, 4};
  for (auto [da, db] : {std::pair<uint64_t, uint64_t>{4294967291ULL, 4294967279ULL},
                        {(1ULL << 62) + 7, 3},
                        {3, (1ULL << 62) + 7}}) {
    for (uint64_t x : {uint64_t{0}, uint64_t{1}, da * db - 1, da * db / 2}) {
      EXPECT_LT(prp2_permute(key, da, db, x / db, x % db), da * db);
    }
  }
  // mixing: 10-digit decimal values (da = db = 10^5), the last digit changed
  size_t changed = 0, digits = 0;
  for (int i = 0; i < 20000; ++i) {
    const SipKey k{rng(), rng()};
    const uint64_t x = rng() % 10'000'000'000ULL;
    const uint64_t x2 = x - x % 10 + (x % 10 + 1 + rng() % 9) % 10;
    uint64_t y = prp2_permute(k, 100000, 100000, x / 100000, x % 100000);
    uint64_t y2 = prp2_permute(k, 100000, 100000, x2 / 100000, x2 % 100000);
    for (int d = 0; d < 10; ++d, y /= 10, y2 /= 10) changed += (y % 10) != (y2 % 10), ++digits;
  }
  const double share = static_cast<double>(changed) / static_cast<double>(digits);
  EXPECT_NEAR(share, 0.9, 0.01);
}

TEST(PrpTest, PermutesEveryDomainSize) {
  std::mt19937_64 rng(11);
  std::vector<uint64_t> sizes;
  for (uint64_t m = 1; m <= 300; ++m) sizes.push_back(m);
  for (uint64_t m : {1000u, 1024u, 1025u, 4096u, 10007u, 65536u, 100000u}) sizes.push_back(m);
  for (uint64_t m : sizes) {
    const SipKey key{rng(), rng()};
    std::vector<bool> seen(m);
    for (uint64_t x = 0; x < m; ++x) {
      const uint64_t y = prp_permute(key, m, x);
      ASSERT_LT(y, m);
      ASSERT_FALSE(seen[y]) << "collision in a domain of " << m;
      seen[y] = true;
    }
  }
  EXPECT_EQ(prp_bits(2), 2);
  EXPECT_EQ(prp_bits(5), 4);
  EXPECT_EQ(prp_bits(1ULL << 20), 20);
  EXPECT_EQ(prp_bits((1ULL << 20) + 1), 22);
  EXPECT_EQ(prp_bits(~0ULL), 64);
  // The top of the 64-bit range works too.
  const SipKey key{1, 2};
  const uint64_t m = 18'000'000'000'000'000'000ULL;
  for (uint64_t x : {uint64_t{0}, uint64_t{1}, m - 1, m / 2}) EXPECT_LT(prp_permute(key, m, x), m);
}

TEST(ValidationTest, Luhn) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_TRUE(luhn_valid("79927398713"));
  EXPECT_TRUE(luhn_valid("0"));
  EXPECT_FALSE(luhn_valid("79927398710"));
  EXPECT_FALSE(luhn_valid(""));
  EXPECT_FALSE(luhn_valid("4111 1111 1111 1111"));
  EXPECT_EQ(luhn_check_digit("7992739871"), '3');
  EXPECT_EQ(luhn_check_digit("411111111111111"), '1');
  std::mt19937_64 rng(3);
  for (int i = 0; i < 1000; ++i) {
    const std::string payload = random_from(rng, "0123456789", 1 + rng() % 20);
    const std::string full = payload + luhn_check_digit(payload);
    ASSERT_TRUE(luhn_valid(full)) << full;
    std::string broken = full;
    broken.back() = static_cast<char>('0' + (broken.back() - '0' + 1 + rng() % 9) % 10);
    ASSERT_FALSE(luhn_valid(broken)) << broken;
  }
}

TEST(ValidationTest, Iban) {
  EXPECT_TRUE(iban_valid("DE89370400440532013000"));
  EXPECT_TRUE(iban_valid("GB82WEST12345698765432"));
  EXPECT_TRUE(iban_valid("FR1420041010050500013M02606"));
  EXPECT_TRUE(iban_valid("NL91ABNA0417164300"));
  EXPECT_TRUE(iban_valid("gb82west12345698765432"));  // case does not matter
  EXPECT_FALSE(iban_valid("DE88370400440532013000"));
  EXPECT_FALSE(iban_valid("DE89 3704 0044 0532 0130 00"));
  EXPECT_FALSE(iban_valid("D189370400440532013000"));
  EXPECT_FALSE(iban_valid("DE8937040044053201300!"));
  EXPECT_FALSE(iban_valid("DE89"));
  EXPECT_FALSE(iban_valid(""));
  EXPECT_FALSE(iban_valid("DE89" + std::string(31, '0')));
}

TEST(ActionTest, NamesRoundTrip) {
  for (auto a : {Action::kKeep, Action::kToken, Action::kFf1, Action::kNoise, Action::kBucket,
                 Action::kShiftDate, Action::kMask, Action::kRedact, Action::kDrop}) {
    EXPECT_EQ(parse_action(to_string(a)), a);
  }
  EXPECT_EQ(to_string(Action::kShiftDate), "shift-date");
  EXPECT_FALSE(parse_action("shred"));
}

// ---------------------------------------------------------------------------------------------
// Plain tokens.

TEST(TokenTest, DeterministicAcrossCallsAndObjects) {
  Transformer a(test_key());
  Transformer b(Key::from_material("transform test key material, long enough"));
  Transformer other(Key::from_material("a different key, just as long as the first"));
  std::mt19937_64 rng(1);
  size_t differing = 0;
  const int kValues = 5000;
  for (int i = 0; i < kValues; ++i) {
    const std::string v = random_value(rng, 40);
    const std::string t = tok(a, v);
    ASSERT_EQ(t, tok(a, v));
    ASSERT_EQ(t, tok(b, v));
    const std::string o = tok(other, v);
    if (o != t) ++differing;
  }
  // Only values without letters and digits (or with a tiny domain) can agree under two keys.
  EXPECT_GT(differing, kValues * 95 / 100);
}

TEST(TokenTest, KeepsLengthClassesAndSeparators) {
  Transformer t(test_key());
  std::mt19937_64 rng(2);
  for (int i = 0; i < 20000; ++i) {
    const std::string v = random_value(rng, i % 2 == 0 ? 12 : 120);
    const std::string out = tok(t, v);
    expect_same_shape(v, out);
    if (testing::Test::HasFatalFailure()) FAIL() << "input of length " << v.size();
    ASSERT_EQ(hex_rule(v), hex_rule(out)) << "hex and non-hex values stay apart";
  }
  EXPECT_EQ(tok(t, ""), "");
  EXPECT_EQ(tok(t, "-- ..//"), "-- ..//");
  const std::string utf8 = "Jos\xc3\xa9 M\xc3\xbcller";
  expect_same_shape(utf8, tok(t, utf8));
}

TEST(TokenTest, HexValuesStayHex) {
  Transformer t(test_key());
  std::mt19937_64 rng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string v = random_from(rng, "0123456789abcdef", 4 + rng() % 60);
    v.front() = 'a';
    v.back() = '7';
    ASSERT_TRUE(hex_rule(v));
    const std::string out = tok(t, v);
    expect_same_shape(v, out);
    for (char c : out) ASSERT_TRUE(is_digit(c) || (c >= 'a' && c <= 'f')) << out;
  }
  // Upper-case hex, and long all-letter hex.
  for (std::string_view v : {"3FA9C0DE12", "DEADBEEFCAFE", "deadbeefcafebabe"}) {
    const std::string out = tok(t, v);
    expect_same_shape(v, out);
  }
  // A short hex-looking word is an ordinary word: its letters may go anywhere in a-z.
  EXPECT_FALSE(hex_rule("cafe"));
  std::set<char> letters;
  for (std::string_view w : {"bad", "cafe", "face", "bead", "deaf", "dab", "fab", "ace"}) {
    for (char c : tok(t, w)) letters.insert(c);
  }
  EXPECT_TRUE(std::any_of(letters.begin(), letters.end(), [](char c) { return c > 'f'; }));
}

TEST(TokenTest, NoCollisionsWithinAShape) {
  Transformer t(test_key());
  {
    std::unordered_set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
      char v[8];
      std::snprintf(v, sizeof(v), "%04d", i);
      const std::string out = tok(t, v);
      ASSERT_EQ(out.size(), 4u);
      ASSERT_TRUE(seen.insert(out).second) << "collision for " << v;
    }
  }
  {
    std::unordered_set<std::string> seen;
    for (char a = 'a'; a <= 'z'; ++a) {
      for (char b = 'a'; b <= 'z'; ++b) {
        const std::string out = tok(t, std::string{a, b});
        ASSERT_TRUE(is_lower(out[0]) && is_lower(out[1]));
        ASSERT_TRUE(seen.insert(out).second);
      }
    }
    EXPECT_EQ(seen.size(), 676u);
  }
  {
    // Mixed classes with a separator: "A-7x", 26 * 10 * 26 values, some of them hex ("B-7c")
    // and some not: the whole class pattern maps one-to-one.
    std::unordered_set<std::string> seen;
    for (char a = 'A'; a <= 'Z'; ++a) {
      for (char d = '0'; d <= '9'; ++d) {
        for (char c = 'a'; c <= 'z'; ++c) {
          const std::string v = {a, '-', d, c};
          const std::string out = tok(t, v);
          expect_same_shape(v, out);
          ASSERT_TRUE(seen.insert(out).second);
        }
      }
    }
  }
  {
    // Hex ids of one shape: 10 * 6 * 6 * 10 values.
    std::unordered_set<std::string> seen;
    for (char a = '0'; a <= '9'; ++a) {
      for (char b = 'a'; b <= 'f'; ++b) {
        for (char c = 'a'; c <= 'f'; ++c) {
          for (char d = '0'; d <= '9'; ++d) {
            const std::string out = tok(t, std::string{a, b, c, d});
            ASSERT_TRUE(is_hex_letter(out[1]) && is_hex_letter(out[2]));
            ASSERT_TRUE(seen.insert(out).second);
          }
        }
      }
    }
  }
}

// Both token schemes keep every property above; they give different tokens under one key.
TEST(TokenTest, LettersPastAsciiBecomeLettersOfTheirScript) {
  // Scheme 3: a name in Cyrillic, Greek, Hebrew, Arabic, Devanagari, Thai, kana, Han or Hangul
  // is personal data as much as one in ASCII. Under schemes 1 and 2 such letters stayed as they
  // were ("Иван Петров" was its own token).
  Transformer three(test_key(), 3);
  Transformer two(test_key(), 2);
  const std::vector<std::string> names = {
      "Иван Петров",   "Ζωή Παπαδοπούλου", "Łukasz Żółć",        "José Müller-Øre",
      "דוד כהן",       "محمد علي",         "राहुल शर्मा",          "สมชาย ใจดี",
      "たなか はなこ", "タナカ ハナコ",    "東京都新宿区西新宿", "김민준",
  };
  for (const auto& v : names) {
    const std::string out = tok(three, v, Kind::kName);
    expect_same_shape(v, out);
    if (testing::Test::HasFatalFailure()) FAIL() << "name " << names.size();
    // every letter of a listed script changed or not, but the value as a whole did
    EXPECT_NE(out, v);
    EXPECT_EQ(out, tok(three, v, Kind::kName)) << "deterministic";
    EXPECT_EQ(tok(two, v, Kind::kName).size(), v.size());
  }
  EXPECT_EQ(tok(two, "Иван Петров"), "Иван Петров") << "scheme 2 as it was";
  // How many letters changed: a token that kept most of them would still tell the name.
  const std::string cyrillic = "Александра Владимировна Кузнецова";
  const std::string out = tok(three, cyrillic);
  size_t same = 0, letters = 0;
  for (size_t i = 0; i + 1 < cyrillic.size(); i += 2) {
    if (cyrillic[i] == ' ') {
      --i;
      continue;
    }
    ++letters;
    same += cyrillic.compare(i, 2, out, i, 2) == 0;
  }
  EXPECT_LT(same * 8, letters) << "about 1 in 48 stays by chance";
  // A permutation within a shape: 2,000 Cyrillic names of one shape, no two alike.
  std::mt19937_64 rng(31);
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    std::string v;
    for (int k = 0; k < 5; ++k) {
      const uint32_t cp = 0x430 + rng() % 32;  // а-я
      v += static_cast<char>(0xC0 | (cp >> 6));
      v += static_cast<char>(0x80 | (cp & 0x3F));
    }
    const std::string o = tok(three, v);
    expect_same_shape(v, o);
    ASSERT_TRUE(seen.insert(o).second || seen.size() < 2000) << "collision";
  }
  // What is not a letter of a listed script stays: an emoji, a combining accent, a stray byte.
  const std::string others = "ok \xF0\x9F\x98\x80 e\xCC\x81 \xFF\xC3";
  const std::string kept = tok(three, others);
  expect_same_shape(others, kept);  // (its bytes past ASCII checked equal)
  EXPECT_EQ(kept.substr(3, 4), others.substr(3, 4));
  // All-ASCII values: the tokens of scheme 2.
  for (std::string_view v : {"Ada Lovelace", "ORD-550007-X1", "ada@mail.example"}) {
    EXPECT_EQ(tok(three, v), tok(two, v)) << v;
  }
}

TEST(TokenTest, KindTokensKeepAPartOnlyWhenTheValueHasTheKindsForm) {
  // Scheme 3: an e-mail keeps its TLD, a JWT its header, a phone its punctuation; a value
  // chosen by its place (a key named email) that has not that form is a plain token, since
  // the part kept could be anything (under scheme 2 the "TLD" was all after the last dot).
  Transformer three(test_key(), 3);
  Transformer two(test_key(), 2);
  const std::string mixed = "g.hopper@corp.example\",\"card\":\"4111111111111111\"";
  EXPECT_THAT(tok(two, mixed, Kind::kEmail), HasSubstr("4111111111111111")) << "the old leak";
  const std::string out = tok(three, mixed, Kind::kEmail);
  expect_same_shape(mixed, out);
  EXPECT_THAT(out, testing::Not(HasSubstr("4111111111111111")));
  EXPECT_THAT(out, testing::Not(HasSubstr("example")));
  // A real address still keeps its TLD, also an IDN's.
  EXPECT_THAT(tok(three, "ada@mail.example.com", Kind::kEmail), testing::EndsWith(".com"));
  EXPECT_THAT(tok(three, "ada@mail.xn--p1ai", Kind::kEmail), testing::EndsWith(".xn--p1ai"));
  EXPECT_EQ(tok(three, "ada@mail.example.com", Kind::kEmail),
            tok(two, "ada@mail.example.com", Kind::kEmail));
  // A JWT's header is kept only when it is one.
  const std::string jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
  EXPECT_EQ(tok(three, jwt, Kind::kJwt).substr(0, 21), jwt.substr(0, 21));
  const std::string not_jwt = "Alice Smith.secret.value";
  EXPECT_EQ(tok(two, not_jwt, Kind::kJwt).substr(0, 12), "Alice Smith.") << "the old leak";
  EXPECT_THAT(tok(three, not_jwt, Kind::kJwt), testing::Not(HasSubstr("Alice")));
  // A phone with letters of another script is a plain token: those letters change too.
  const std::string phone = "+7 (495) Иван 123-45-67";
  EXPECT_THAT(tok(two, phone, Kind::kPhone), HasSubstr("Иван")) << "the old leak";
  const std::string p3 = tok(three, phone, Kind::kPhone);
  expect_same_shape(phone, p3);
  EXPECT_THAT(p3, testing::Not(HasSubstr("Иван")));
}

TEST(TokenTest, SchemesOneTwoAndThreeKeepShapesAndPermute) {
  Transformer one(test_key(), 1);
  Transformer two(test_key(), 2);
  Transformer standard(test_key());
  std::mt19937_64 rng(22);
  size_t differing = 0, compared = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string v = random_value(rng, i % 2 == 0 ? 12 : 120);
    const std::string a = tok(one, v), b = tok(two, v);
    expect_same_shape(v, a, false);
    expect_same_shape(v, b, false);
    if (testing::Test::HasFatalFailure()) FAIL() << "input of length " << v.size();
    // scheme 3, the default, is scheme 2 where a value is all ASCII
    if (std::all_of(v.begin(), v.end(), [](char c) { return (c & 0x80) == 0; })) {
      ASSERT_EQ(b, tok(standard, v)) << "scheme 3 is scheme 2 on ASCII";
    }
    size_t classed = 0;
    for (char c : v) classed += is_alpha(c) || is_digit(c);
    if (classed >= 4 && classed <= 12) {
      ++compared;
      differing += a != b;
    }
  }
  EXPECT_GT(compared, 500u);
  EXPECT_GT(differing, compared * 99 / 100);
  // Past 64 bits of shape (a keyed PRF, not a permutation): the shape kept, the schemes
  // apart, and no collision among 20,000 values of one such shape under either.
  const std::string wide = "Kq8ZmW2pXv9LrT4nYb6HcJ3sDf7GhA1e";  // 32 letters and digits
  expect_same_shape(wide, tok(two, wide));
  EXPECT_NE(tok(one, wide), tok(two, wide));
  for (Transformer* t : {&one, &two}) {
    std::unordered_set<std::string> seen;
    for (int i = 0; i < 20000; ++i) {
      const std::string v = "Street " + random_from(rng, "abcdefghijklmnopqrstuvwxyz", 14);
      const std::string out = tok(*t, v);
      expect_same_shape(v, out);
      ASSERT_TRUE(seen.insert(out).second) << v;
      ASSERT_EQ(out, tok(*t, v));
    }
  }
  for (Transformer* t : {&one, &two}) {
    std::unordered_set<std::string> seen;
    for (int i = 0; i < 100000; ++i) {
      char v[8];
      std::snprintf(v, sizeof(v), "%05d", i);
      ASSERT_TRUE(seen.insert(tok(*t, v)).second) << "collision for " << v;
    }
    std::unordered_set<std::string> words;
    for (char a = 'a'; a <= 'z'; ++a)
      for (char b = 'A'; b <= 'Z'; ++b)
        for (char c = '0'; c <= '9'; ++c)
          ASSERT_TRUE(words.insert(tok(*t, std::string{a, b, c})).second);
  }
  // kinds built on the shape token stay valid under both
  for (Transformer* t : {&one, &two}) {
    std::string card;
    t->token("4111111111111111", Kind::kCard, card);
    EXPECT_TRUE(luhn_valid(card)) << card;
    std::string iban;
    t->token("DE89370400440532013000", Kind::kIban, iban);
    EXPECT_TRUE(iban_valid(iban)) << iban;
  }
}

TEST(TokenTest, ShapesMapIndependently) {
  // The same letters in different shapes do not map to the same letters.
  Transformer t(test_key());
  const std::string a = tok(t, "john.smith");
  const std::string b = tok(t, "john_smith");
  const std::string c = tok(t, "johnsmith");
  EXPECT_NE(a.substr(0, 4), b.substr(0, 4));
  EXPECT_NE(a.substr(0, 4), c.substr(0, 4));
}

// ---------------------------------------------------------------------------------------------
// Kind-aware tokens.

std::string random_card(std::mt19937_64& rng, size_t digits, char first) {
  std::string payload(1, first);
  payload += random_from(rng, "0123456789", digits - 2);
  return payload + luhn_check_digit(payload);
}

// The caches inside a Transformer (shape round keys, e-mail labels) change how fast, not what:
// a long-lived Transformer that has seen thousands of shapes, under both schemes, gives every
// value the token a fresh one gives it, for plain values and for the kinds with tags of their
// own (cards, phones, IBANs), including shapes that differ only by their tag.
TEST(TokenTest, CachesNeverChangeAToken) {
  for (int scheme : {1, 2}) {
    Transformer warm(test_key(), scheme);
    std::mt19937_64 rng(40 + static_cast<uint64_t>(scheme));
    const Kind kinds[] = {Kind::kNone, Kind::kCard, Kind::kPhone, Kind::kIban, Kind::kEmail};
    std::vector<std::pair<std::string, Kind>> values;
    for (int i = 0; i < 600; ++i) {
      const Kind kind = kinds[static_cast<size_t>(i) % std::size(kinds)];
      std::string v;
      switch (kind) {
        case Kind::kCard:
          v = random_card(rng, 16, '4');
          break;
        case Kind::kPhone:
          v = "+1 " + random_from(rng, "0123456789", 3) + "-555-" +
              random_from(rng, "0123456789", 4);
          break;
        case Kind::kIban:
          v = "DE89370400440532013000";
          v[4 + rng() % 18] = static_cast<char>('0' + rng() % 10);
          break;
        case Kind::kEmail:
          v = random_from(rng, "abcdefghij", 1 + rng() % 8) + "@" +
              random_from(rng, "abcdefghij", 1 + rng() % 6) + ".example.com";
          break;
        default:
          v = random_value(rng, 14);
      }
      values.emplace_back(v, kind);
      // digit runs as long as a card's or a phone's tokenized part, without their tags
      values.emplace_back(random_from(rng, "0123456789", 10 + static_cast<size_t>(i) % 7),
                          Kind::kNone);
    }
    for (const auto& [v, kind] : values) (void)tok(warm, v, kind);  // fill the caches
    for (const auto& [v, kind] : values) {
      Transformer fresh(test_key(), scheme);
      ASSERT_EQ(tok(warm, v, kind), tok(fresh, v, kind)) << "scheme " << scheme << ": " << v;
    }
  }
}

TEST(KindTokenTest, CardsStayLuhnValid) {
  Transformer t(test_key());
  std::mt19937_64 rng(4);
  for (int i = 0; i < 5000; ++i) {
    const size_t n = 12 + rng() % 8;
    const std::string card = random_card(rng, n, static_cast<char>('1' + rng() % 9));
    std::string text = card;
    if (i % 3 == 1 && n == 16) {
      text = card.substr(0, 4) + " " + card.substr(4, 4) + " " + card.substr(8, 4) + " " +
             card.substr(12);
    } else if (i % 3 == 2 && n == 16) {
      text = card.substr(0, 4) + "-" + card.substr(4, 4) + "-" + card.substr(8, 4) + "-" +
             card.substr(12);
    }
    const std::string out = tok(t, text, Kind::kCard);
    ASSERT_EQ(out.size(), text.size());
    std::string digits;
    for (size_t j = 0; j < out.size(); ++j) {
      if (is_digit(text[j])) {
        ASSERT_TRUE(is_digit(out[j]));
        digits += out[j];
      } else {
        ASSERT_EQ(out[j], text[j]);
      }
    }
    ASSERT_EQ(digits[0], card[0]);
    ASSERT_TRUE(luhn_valid(digits)) << "not Luhn-valid";
    // The grouping does not change the digits.
    ASSERT_EQ(digits, tok(t, card, Kind::kCard));
  }
}

TEST(KindTokenTest, CardsOfOneLengthAndFirstDigitNeverCollide) {
  // Every Luhn-valid 8-digit card starting with 4: 10^6 of them, as many tokens.
  Transformer t(test_key());
  std::vector<bool> seen(1'000'000);
  for (int middle = 0; middle < 1'000'000; ++middle) {
    char payload[16];
    std::snprintf(payload, sizeof(payload), "4%06d", middle);
    const std::string card = std::string(payload) + luhn_check_digit(payload);
    const std::string out = tok(t, card, Kind::kCard);
    ASSERT_EQ(out.size(), 8u);
    ASSERT_EQ(out[0], '4');
    ASSERT_TRUE(luhn_valid(out));
    const int index = std::stoi(out.substr(1, 6));
    ASSERT_FALSE(seen[static_cast<size_t>(index)]) << "collision";
    seen[static_cast<size_t>(index)] = true;
  }
}

TEST(KindTokenTest, InvalidCardsStayInvalidByTheSameCheckDigitError) {
  // A mistyped card number is shape too: a service rejects it, and must still reject the token.
  Transformer t(test_key());
  std::mt19937_64 rng(41);
  for (int i = 0; i < 2000; ++i) {
    const size_t n = 13 + rng() % 7;
    std::string card = random_card(rng, n, static_cast<char>('1' + rng() % 9));
    const int off = 1 + static_cast<int>(rng() % 9);
    card.back() = static_cast<char>('0' + (card.back() - '0' + off) % 10);
    ASSERT_FALSE(luhn_valid(card));
    const std::string out = tok(t, card, Kind::kCard);
    ASSERT_EQ(out.size(), card.size());
    ASSERT_FALSE(luhn_valid(out)) << "an invalid card became valid";
    const std::string body = out.substr(0, n - 1);
    ASSERT_EQ((out.back() - luhn_check_digit(body) + 10) % 10, off);
  }
}

TEST(KindTokenTest, CardThatIsNotACardFallsBackToClassToken) {
  Transformer t(test_key());
  for (std::string_view v : {"4111x1111", "41", "card number unknown"}) {
    const std::string out = tok(t, v, Kind::kCard);
    expect_same_shape(v, out);
    EXPECT_EQ(out, tok(t, v));
  }
}

bool valid_email(std::string_view e) {
  const size_t at = e.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == e.size()) return false;
  for (char c : e.substr(0, at)) {
    if (!is_alpha(c) && !is_digit(c) && std::string_view("._%+-").find(c) == std::string::npos) {
      return false;
    }
  }
  const std::string_view domain = e.substr(at + 1);
  size_t start = 0;
  while (start <= domain.size()) {
    size_t dot = domain.find('.', start);
    if (dot == std::string_view::npos) dot = domain.size();
    const std::string_view label = domain.substr(start, dot - start);
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
    }
    start = dot + 1;
  }
  return true;
}

TEST(KindTokenTest, EmailsStayValidAndKeepTheirTld) {
  Transformer t(test_key());
  std::mt19937_64 rng(6);
  const std::vector<std::string> tlds = {"com", "org", "de", "co.uk", "io"};
  for (int i = 0; i < 3000; ++i) {
    std::string local = random_from(rng, "abcdefghijklmnopqrstuvwxyz0123456789", 1 + rng() % 10);
    if (rng() % 2) local += random_from(rng, "._+-", 1) + random_from(rng, "abcxyz789", 3);
    std::string domain = random_from(rng, "abcdefghijklmnopqrstuvwxyz", 2 + rng() % 8);
    if (rng() % 3 == 0) domain += "-" + random_from(rng, "abcdefghijklmnopqrstuvwxyz012", 3);
    if (rng() % 3 == 0) domain = "mail." + domain;
    const std::string tld = tlds[rng() % tlds.size()];
    const std::string email = local + "@" + domain + "." + tld;
    ASSERT_TRUE(valid_email(email)) << email;
    const std::string out = tok(t, email, Kind::kEmail);
    ASSERT_TRUE(valid_email(out)) << out;
    expect_same_shape(email, out);
    const std::string kept = tld.substr(tld.rfind('.') + 1);
    ASSERT_EQ(out.substr(out.size() - kept.size()), kept);
  }
  // Labels map alike wherever they appear: one domain, one token.
  const std::string a = tok(t, "alice@example.com", Kind::kEmail);
  const std::string b = tok(t, "bob@example.com", Kind::kEmail);
  EXPECT_EQ(a.substr(a.find('@')), b.substr(b.find('@')));
  EXPECT_EQ(tok(t, "alice@example.com", Kind::kEmail).substr(0, 5), tok(t, "alice").substr(0, 5));
  // Not an email: a class token.
  EXPECT_EQ(tok(t, "no-at-sign", Kind::kEmail), tok(t, "no-at-sign"));
  EXPECT_EQ(tok(t, "@x.com", Kind::kEmail), tok(t, "@x.com"));
}

// Domain labels' tokens are cached by the Transformer: whether a label is met for the first
// time, again, or again after more other labels than the cache holds, its token is the plain
// token of the label that a fresh Transformer computes.
TEST(KindTokenTest, EmailLabelsGetTheirPlainTokenHoweverOftenTheyCome) {
  Transformer t(test_key());
  std::mt19937_64 rng(61);
  const std::vector<std::string> common = {"example", "mail", "gmail", "corp-eu", "x"};
  for (int i = 0; i < 6000; ++i) {
    const std::string local = random_from(rng, "abcdefghijklmnopqrstuvwxyz", 3 + rng() % 6);
    const std::string label = rng() % 2 ? common[rng() % common.size()]
                                        : random_from(rng, "abcdefghij0123456789", 4 + rng() % 8);
    const std::string out = tok(t, local + "@" + label + ".com", Kind::kEmail);
    const size_t at = out.find('@');
    ASSERT_NE(at, std::string::npos) << out;
    Transformer fresh(test_key());
    ASSERT_EQ(out.substr(at + 1, label.size()), tok(fresh, label)) << "label " << i;
  }
}

int common_prefix_bits(const uint8_t* a, const uint8_t* b, size_t len) {
  for (size_t i = 0; i < len * 8; ++i) {
    const int x = (a[i / 8] >> (7 - i % 8)) & 1;
    const int y = (b[i / 8] >> (7 - i % 8)) & 1;
    if (x != y) return static_cast<int>(i);
  }
  return static_cast<int>(len * 8);
}

std::string ntop(int family, const uint8_t* bytes) {
  char text[INET6_ADDRSTRLEN];
  EXPECT_NE(inet_ntop(family, bytes, text, sizeof(text)), nullptr);
  return text;
}

// Two addresses sharing a random prefix, then random bits.
void random_pair(std::mt19937_64& rng, uint8_t* a, uint8_t* b, size_t len) {
  for (size_t i = 0; i < len; ++i) a[i] = static_cast<uint8_t>(rng());
  std::memcpy(b, a, len);
  const size_t shared = rng() % (len * 8 + 1);
  for (size_t i = shared; i < len * 8; ++i) {
    if (rng() % 2) b[i / 8] ^= static_cast<uint8_t>(1 << (7 - i % 8));
  }
}

TEST(KindTokenTest, Ipv4IsPrefixPreserving) {
  Transformer t(test_key());
  std::mt19937_64 rng(7);
  for (int i = 0; i < 3000; ++i) {
    uint8_t a[4];
    uint8_t b[4];
    random_pair(rng, a, b, 4);
    const std::string ta = tok(t, ntop(AF_INET, a), Kind::kIpv4);
    const std::string tb = tok(t, ntop(AF_INET, b), Kind::kIpv4);
    uint8_t oa[4];
    uint8_t ob[4];
    ASSERT_EQ(inet_pton(AF_INET, ta.c_str(), oa), 1) << "not an IPv4 address";
    ASSERT_EQ(inet_pton(AF_INET, tb.c_str(), ob), 1);
    ASSERT_EQ(ntop(AF_INET, oa), ta) << "not in dotted-quad form";
    ASSERT_EQ(common_prefix_bits(a, b, 4), common_prefix_bits(oa, ob, 4));
  }
  // A permutation of the address space: a whole /16 maps to 65536 distinct addresses.
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 65536; ++i) {
    const std::string ip = "10.20." + std::to_string(i >> 8) + "." + std::to_string(i & 255);
    ASSERT_TRUE(seen.insert(tok(t, ip, Kind::kIpv4)).second);
  }
  // Not an address: a class token.
  EXPECT_EQ(tok(t, "999.1.2.3", Kind::kIpv4), tok(t, "999.1.2.3"));
  EXPECT_EQ(tok(t, "localhost", Kind::kIpv4), tok(t, "localhost"));
}

TEST(KindTokenTest, Ipv6IsPrefixPreservingAndCanonical) {
  Transformer t(test_key());
  std::mt19937_64 rng(8);
  for (int i = 0; i < 2000; ++i) {
    uint8_t a[16];
    uint8_t b[16];
    random_pair(rng, a, b, 16);
    if (i % 4 == 0) std::memset(a + 8, 0, 6);  // runs of zeros to compress in the input
    const std::string ta = tok(t, ntop(AF_INET6, a), Kind::kIpv6);
    const std::string tb = tok(t, ntop(AF_INET6, b), Kind::kIpv6);
    uint8_t oa[16];
    uint8_t ob[16];
    ASSERT_EQ(inet_pton(AF_INET6, ta.c_str(), oa), 1) << "not an IPv6 address";
    ASSERT_EQ(inet_pton(AF_INET6, tb.c_str(), ob), 1);
    ASSERT_EQ(common_prefix_bits(a, b, 16), common_prefix_bits(oa, ob, 16));
    // RFC 5952 form: glibc's inet_ntop writes it too, for addresses outside ::/96.
    ASSERT_EQ(ntop(AF_INET6, oa), ta);
  }
  // Any text form of one address gives the same token; the zone is kept.
  const std::string canonical = tok(t, "2001:db8::1", Kind::kIpv6);
  EXPECT_EQ(tok(t, "2001:0DB8:0000:0000:0000:0000:0000:0001", Kind::kIpv6), canonical);
  const std::string zoned = tok(t, "fe80::1%eth0", Kind::kIpv6);
  EXPECT_THAT(zoned, testing::EndsWith("%eth0"));
  // The detector may call an IPv6 address IPv4 and vice versa: the text decides.
  EXPECT_EQ(tok(t, "2001:db8::1", Kind::kIpv4), canonical);
  uint8_t v6[16];
  EXPECT_EQ(inet_pton(AF_INET6, tok(t, "::ffff:192.0.2.1", Kind::kIpv6).c_str(), v6), 1);
  EXPECT_EQ(tok(t, "2001:db8:::1", Kind::kIpv6), tok(t, "2001:db8:::1"));
}

std::string random_iban(std::mt19937_64& rng) {
  const std::string country = random_from(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2);
  std::string bban = random_from(rng, "0123456789", 4 + rng() % 12);
  if (rng() % 2) bban = random_from(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4) + bban;
  const std::string zeroed = country + "00" + bban;
  for (int check = 2; check <= 98; ++check) {
    char cd[3];
    std::snprintf(cd, sizeof(cd), "%02d", check);
    const std::string candidate = country + cd + bban;
    if (iban_valid(candidate)) return candidate;
  }
  return zeroed;
}

TEST(KindTokenTest, IbansStayMod97Valid) {
  Transformer t(test_key());
  std::mt19937_64 rng(9);
  for (int i = 0; i < 3000; ++i) {
    const std::string iban = random_iban(rng);
    ASSERT_TRUE(iban_valid(iban)) << iban;
    std::string text = iban;
    if (i % 2) {
      text.clear();
      for (size_t j = 0; j < iban.size(); ++j) {
        if (j > 0 && j % 4 == 0) text += ' ';
        text += iban[j];
      }
    }
    const std::string out = tok(t, text, Kind::kIban);
    ASSERT_EQ(out.size(), text.size());
    std::string compact;
    for (size_t j = 0; j < out.size(); ++j) {
      ASSERT_EQ(out[j] == ' ', text[j] == ' ');
      if (out[j] != ' ') compact += out[j];
    }
    ASSERT_EQ(compact.substr(0, 2), iban.substr(0, 2));
    ASSERT_TRUE(iban_valid(compact));
    for (size_t j = 4; j < compact.size(); ++j) {
      ASSERT_EQ(is_digit(compact[j]), is_digit(iban[j]));
    }
    // The spaces do not change the token.
    ASSERT_EQ(compact, tok(t, iban, Kind::kIban));
  }
  EXPECT_TRUE(iban_valid(tok(t, "DE89370400440532013000", Kind::kIban)));
  // one in lower case stays in lower case, with its country and valid
  const std::string lower = tok(t, "gb82 west 1234 5698 7654 32", Kind::kIban);
  EXPECT_THAT(lower, ::testing::MatchesRegex("gb[0-9]{2} [a-z]{4}( [0-9]{4}){3} [0-9]{2}"));
  std::string compact = lower;
  std::erase(compact, ' ');
  EXPECT_TRUE(iban_valid(compact)) << lower;
  EXPECT_EQ(tok(t, "not an iban", Kind::kIban), tok(t, "not an iban"));
}

TEST(KindTokenTest, UuidsKeepVersionAndVariant) {
  Transformer t(test_key());
  std::mt19937_64 rng(10);
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 3000; ++i) {
    std::string u = random_from(rng, "0123456789abcdef", 36);
    u[8] = u[13] = u[18] = u[23] = '-';
    u[14] = "1345"[rng() % 4];
    u[19] = "89ab"[rng() % 4];
    const bool upper = i % 5 == 0;
    if (upper) {
      for (char& c : u) c = static_cast<char>(std::toupper(c));
    }
    const std::string out = tok(t, u, Kind::kUuid);
    ASSERT_EQ(out.size(), 36u);
    for (size_t j = 0; j < 36; ++j) {
      if (j == 8 || j == 13 || j == 18 || j == 23) {
        ASSERT_EQ(out[j], '-');
      } else {
        ASSERT_TRUE(is_digit(out[j]) ||
                    (upper ? (out[j] >= 'A' && out[j] <= 'F') : (out[j] >= 'a' && out[j] <= 'f')))
            << out;
      }
    }
    ASSERT_EQ(out[14], u[14]);
    ASSERT_EQ(out[19], u[19]);
    ASSERT_TRUE(seen.insert(out).second);
  }
  // The case of the input does not change which UUID it becomes.
  const std::string lower = tok(t, "123e4567-e89b-42d3-a456-426614174000", Kind::kUuid);
  std::string upper = tok(t, "123E4567-E89B-42D3-A456-426614174000", Kind::kUuid);
  for (char& c : upper) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(lower, upper);
  // 32 bare hex digits.
  const std::string bare = tok(t, "123e4567e89b42d3a456426614174000", Kind::kUuid);
  EXPECT_EQ(bare[12], '4');
  EXPECT_EQ(bare[16], 'a');
  EXPECT_EQ(tok(t, "not-a-uuid", Kind::kUuid), tok(t, "not-a-uuid"));
}

// Scheme 2's UUID token, written here from its description (transform.cc, shape_token's wide
// path): the keystream of SipHash-2-4-128 under the second half of the "token" key of the tag
// 'U' | 0x80, the length and the length of `extra` (0) as 64-bit little-endian words, the shape
// (the version, the variant and the dashes in lower case, 'x' for each hex position) and each
// hex position's value; each hex position then takes the top four bits of the next 16 bits of
// SipHash-1-3 of (counter, byte 0), four to a counter value. Fed here byte by byte.
TEST(KindTokenTest, UuidTokensAreTheKeystreamOfTheirDescription) {
  const Key key = test_key();
  const SipKey stream = SipKey::from_bytes(key.derive("token").bytes().data() + 16);
  Transformer t(key, 2);
  std::mt19937_64 rng(11);
  for (int i = 0; i < 2000; ++i) {
    const bool dashed = i % 3 != 0;
    std::string u = random_from(rng, "0123456789abcdef", dashed ? 36 : 32);
    if (dashed) u[8] = u[13] = u[18] = u[23] = '-';
    const bool upper = i % 4 == 0;
    if (upper) {
      for (char& c : u) c = static_cast<char>(std::toupper(c));
    }
    const size_t version = dashed ? 14 : 12;
    const size_t variant = dashed ? 19 : 16;
    auto classed = [&](size_t j) { return j != version && j != variant && u[j] != '-'; };
    auto nibble = [](char c) {
      return static_cast<uint8_t>(is_digit(c) ? c - '0' : (std::tolower(c) - 'a') + 10);
    };
    SipHasher seed(stream, true);
    seed.update(static_cast<uint8_t>('U' | 0x80));
    seed.update_u64(u.size());
    seed.update_u64(0);
    for (size_t j = 0; j < u.size(); ++j) {
      seed.update(classed(j) ? uint8_t{'x'} : static_cast<uint8_t>(std::tolower(u[j])));
    }
    for (size_t j = 0; j < u.size(); ++j) {
      if (classed(j)) seed.update(nibble(u[j]));
    }
    SipKey ks;
    seed.finish128(&ks.k0, &ks.k1);
    std::string want = u;
    uint64_t counter = 0;
    int used = 4;
    uint64_t bits = 0;
    for (size_t j = 0; j < u.size(); ++j) {
      if (!classed(j)) continue;
      if (used == 4) {
        bits = siphash13_u64_byte(ks, counter++, 0);
        used = 0;
      }
      const char c = "0123456789abcdef"[((bits >> (16 * used++)) & 0xffff) >> 12];
      want[j] = upper ? static_cast<char>(std::toupper(c)) : c;
    }
    ASSERT_EQ(tok(t, u, Kind::kUuid), want) << u;
  }
}

TEST(KindTokenTest, JwtKeepsItsHeader) {
  Transformer t(test_key());
  const std::string jwt =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
      "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  const std::string out = tok(t, jwt, Kind::kJwt);
  const size_t dot = jwt.find('.');
  EXPECT_EQ(out.substr(0, dot + 1), jwt.substr(0, dot + 1));
  expect_same_shape(jwt, out);
  EXPECT_NE(out.substr(dot), jwt.substr(dot));
  EXPECT_EQ(tok(t, "opaque_token_value", Kind::kJwt), tok(t, "opaque_token_value"));
}

TEST(KindTokenTest, PhonesKeepPlusAndSeparators) {
  Transformer t(test_key());
  std::mt19937_64 rng(12);
  for (int i = 0; i < 2000; ++i) {
    const std::string digits = random_from(rng, "0123456789", 10);
    const std::string spaced =
        "+1 (" + digits.substr(0, 3) + ") " + digits.substr(3, 3) + "-" + digits.substr(6);
    const std::string out = tok(t, spaced, Kind::kPhone);
    expect_same_shape(spaced, out);
    ASSERT_EQ(out[0], '+');
    // The layout does not change the digits.
    std::string out_digits;
    for (char c : out) {
      if (is_digit(c)) out_digits += c;
    }
    ASSERT_EQ(out_digits, tok(t, "+1" + digits, Kind::kPhone).substr(1));
  }
  std::unordered_set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(seen.insert(tok(t, "+49 30 " + std::to_string(10000 + i), Kind::kPhone)).second);
  }
}

// ---------------------------------------------------------------------------------------------
// apply().

Outcome run(Transformer& t, std::string_view value, const ActionParams& p, std::string& out,
            std::string_view entity = {}) {
  out.clear();
  return t.apply(value, Kind::kNone, p, entity, out);
}

TEST(ApplyTest, KeepDropRedactMask) {
  Transformer t(test_key());
  ActionParams p;
  std::string out = "prefix:";
  p.action = Action::kKeep;
  EXPECT_EQ(t.apply("value", Kind::kNone, p, {}, out), Outcome::kDone);
  EXPECT_EQ(out, "prefix:value");  // appended, not cleared
  p.action = Action::kDrop;
  EXPECT_EQ(run(t, "value", p, out), Outcome::kDone);
  EXPECT_EQ(out, "");
  p.action = Action::kRedact;
  EXPECT_EQ(run(t, "value", p, out), Outcome::kDone);
  EXPECT_EQ(out, "REDACTED");
  p.redact_text = "[gone]";
  run(t, "value", p, out);
  EXPECT_EQ(out, "[gone]");
  p.action = Action::kToken;
  EXPECT_EQ(run(t, "value", p, out), Outcome::kDone);
  EXPECT_EQ(out, tok(t, "value"));

  p.action = Action::kMask;
  run(t, "4111111111111111", p, out);
  EXPECT_EQ(out, "****************");
  p.mask_keep_last = 4;
  run(t, "4111-1111-1111-1234", p, out);
  EXPECT_EQ(out, "***************1234");
  p.mask_keep_first = 2;
  p.mask_char = '#';
  run(t, "secret", p, out);
  EXPECT_EQ(out, "######");  // keeping 6 of 6 would show it all: nothing kept
  run(t, "secret-value", p, out);
  EXPECT_EQ(out, "se######alue");
  run(t,
      "Jos\xc3\xa9 Mar\xc3\xad"
      "a",
      p, out);  // characters, not bytes
  EXPECT_EQ(out,
            "Jo####ar\xc3\xad"
            "a");
  run(t, "", p, out);
  EXPECT_EQ(out, "");
}

struct ParsedNumber {
  bool ok = false;
  bool negative = false;
  bool plus = false;
  bool point = false;
  size_t decimals = 0;
  std::string exponent;
  double value = 0;
};

ParsedNumber parse(const std::string& s) {
  ParsedNumber n;
  size_t pos = 0;
  if (pos < s.size() && (s[pos] == '-' || s[pos] == '+')) {
    n.negative = s[pos] == '-';
    n.plus = s[pos] == '+';
    ++pos;
  }
  const size_t e = s.find_first_of("eE");
  const std::string mantissa = s.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
  if (mantissa.empty() || mantissa.find_first_not_of("0123456789.") != std::string::npos) return n;
  const size_t point = mantissa.find('.');
  n.point = point != std::string::npos;
  n.decimals = n.point ? mantissa.size() - point - 1 : 0;
  if (e != std::string::npos) n.exponent = s.substr(e);
  n.value = std::stod(s);
  n.ok = true;
  return n;
}

TEST(ApplyTest, NoiseKeepsFormatSignAndBounds) {
  Transformer t(test_key());
  ActionParams p;
  p.action = Action::kNoise;
  std::mt19937_64 rng(13);
  std::string out;
  size_t changed = 0;
  for (int i = 0; i < 5000; ++i) {
    const double r = i % 2 ? 0.05 : 0.5;
    p.noise_relative = r;
    std::string v;
    if (rng() % 3 == 0) v += '-';
    v += std::to_string(1 + rng() % 100000);
    const size_t decimals = rng() % 4;
    if (decimals > 0) v += "." + random_from(rng, "0123456789", decimals);
    const ParsedNumber in = parse(v);
    ASSERT_EQ(run(t, v, p, out), Outcome::kDone);
    const ParsedNumber got = parse(out);
    ASSERT_TRUE(got.ok) << "not a number";
    ASSERT_EQ(got.negative, in.negative);
    ASSERT_EQ(got.point, in.point);
    ASSERT_EQ(got.decimals, in.decimals);
    const double unit = std::pow(10.0, -static_cast<double>(in.decimals));
    ASSERT_LE(std::fabs(got.value - in.value), r * std::fabs(in.value) + unit / 2 + 1e-9);
    ASSERT_NE(got.value, 0);
    if (got.value != in.value) ++changed;
    std::string again;
    run(t, v, p, again);
    ASSERT_EQ(again, out);
  }
  EXPECT_GT(changed, 4000u);
  // Formats: explicit plus, leading zeros, exponent, bare point, zero.
  p.noise_relative = 0.05;
  run(t, "+1500", p, out);
  EXPECT_EQ(out[0], '+');
  run(t, "000123", p, out);
  EXPECT_EQ(out.size(), 6u);
  EXPECT_EQ(out.substr(0, 3), "000");
  run(t, "1.25e3", p, out);
  EXPECT_THAT(out, testing::EndsWith("e3"));
  EXPECT_EQ(out.size(), 6u);
  run(t, "0", p, out);
  EXPECT_EQ(out, "0");
  run(t, "0.000", p, out);
  EXPECT_EQ(out, "0.000");
  run(t, "1", p, out);
  EXPECT_EQ(out, "1");  // ±5 % of 1 rounds back to 1, never to 0
  // Even a relative noise of 100 % or more never flips the sign or reaches zero.
  p.noise_relative = 3;
  for (int i = 1; i < 200; ++i) {
    run(t, std::to_string(i), p, out);
    ASSERT_GT(std::stod(out), 0);
    run(t, "-" + std::to_string(i), p, out);
    ASSERT_LT(std::stod(out), 0);
  }
}

TEST(ApplyTest, NoiseOnTextFallsBackToToken) {
  Transformer t(test_key());
  ActionParams p;
  p.action = Action::kNoise;
  std::string out;
  for (std::string_view v : {"abc", "12abc", "1.2.3", "", "-", "1e", "0x1F", " 12"}) {
    EXPECT_EQ(run(t, v, p, out), Outcome::kFallback) << v;
    EXPECT_EQ(out, tok(t, v));
  }
}

TEST(ApplyTest, BucketFloorsInTheSameFormat) {
  Transformer t(test_key());
  ActionParams p;
  p.action = Action::kBucket;
  std::string out;
  struct Case {
    double width;
    const char* in;
    const char* expected;
  };
  const Case cases[] = {
      {10, "1234", "1230"},   {10, "1239", "1230"},    {10, "-3", "-10"},
      {10, "-10", "-10"},     {10, "7", "0"},          {10, "+7", "+0"},
      {10, "12.75", "10.00"}, {0.5, "3.74", "3.50"},   {0.1, "0.3", "0.3"},
      {0.1, "0.29", "0.20"},  {100, "1.5e3", "1.5e3"}, {1000, "1.75e3", "1.00e3"},
      {5, "0042", "0040"},    {25, "99", "75"},        {1, "-0.5", "-1.0"},
      {10, "0.001", "0.000"}, {2.5, "7", "5"},
  };
  for (const Case& c : cases) {
    p.bucket_width = c.width;
    EXPECT_EQ(run(t, c.in, p, out), Outcome::kDone) << c.in;
    EXPECT_EQ(out, c.expected) << c.in << " by " << c.width;
  }
  p.bucket_width = 0;
  EXPECT_EQ(run(t, "12", p, out), Outcome::kFallback);
  p.bucket_width = 10;
  EXPECT_EQ(run(t, "twelve", p, out), Outcome::kFallback);
  EXPECT_EQ(out, tok(t, "twelve"));
}

// A date in `format` (chrono-checked), for the round trip of shift tests.
std::string format_date(std::chrono::year_month_day d, int style) {
  const int y = static_cast<int>(d.year());
  const unsigned m = static_cast<unsigned>(d.month());
  const unsigned day = static_cast<unsigned>(d.day());
  char buf[32];
  switch (style) {
    case 0:
      std::snprintf(buf, sizeof(buf), "%04d-%02u-%02u", y, m, day);
      break;
    case 1:
      std::snprintf(buf, sizeof(buf), "%02u/%02u/%04d", m, day, y);
      break;
    case 2:
      std::snprintf(buf, sizeof(buf), "%02u.%02u.%04d", day, m, y);
      break;
    default:
      std::snprintf(buf, sizeof(buf), "%04d%02u%02u", y, m, day);
      break;
  }
  return buf;
}

std::chrono::year_month_day parse_styled(const std::string& s, int style) {
  int y = 0;
  unsigned m = 0;
  unsigned d = 0;
  switch (style) {
    case 0:
      std::sscanf(s.c_str(), "%d-%u-%u", &y, &m, &d);
      break;
    case 1:
      std::sscanf(s.c_str(), "%u/%u/%d", &m, &d, &y);
      break;
    case 2:
      std::sscanf(s.c_str(), "%u.%u.%d", &d, &m, &y);
      break;
    default:
      y = std::stoi(s.substr(0, 4));
      m = static_cast<unsigned>(std::stoi(s.substr(4, 2)));
      d = static_cast<unsigned>(std::stoi(s.substr(6, 2)));
      break;
  }
  return std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d};
}

TEST(ApplyTest, ShiftDateMovesWholeDaysPerEntity) {
  using namespace std::chrono;
  Transformer t(test_key());
  ActionParams p;
  p.action = Action::kShiftDate;
  std::mt19937_64 rng(14);
  std::string out;
  for (int i = 0; i < 4000; ++i) {
    const sys_days day = sys_days{1900y / January / 1} + days{rng() % (200 * 365)};
    const year_month_day ymd{day};
    const int style = i % 4;
    const std::string entity = "user-" + std::to_string(rng() % 50);
    p.shift_max_days = 1 + static_cast<int>(rng() % 400);
    const std::string in = format_date(ymd, style);
    ASSERT_EQ(run(t, in, p, out, entity), Outcome::kDone) << in;
    ASSERT_EQ(out.size(), in.size());
    const year_month_day shifted = parse_styled(out, style);
    ASSERT_TRUE(shifted.ok()) << "not a calendar date";
    ASSERT_EQ(out, format_date(shifted, style)) << "format changed";
    const int delta = static_cast<int>((sys_days{shifted} - day).count());
    ASSERT_EQ(delta, t.date_shift_days(entity, p.shift_max_days));
  }
}

TEST(ApplyTest, ShiftDateFormats) {
  Transformer t(test_key());
  ActionParams p;
  p.action = Action::kShiftDate;
  p.shift_max_days = 365;
  std::string out;
  const int shift = t.date_shift_days("alice", 365);
  ASSERT_NE(shift, 0);
  auto expect_shift = [&](std::string_view in, std::string_view date_part) {
    EXPECT_EQ(run(t, in, p, out, "alice"), Outcome::kDone) << in;
    EXPECT_EQ(out.size(), in.size()) << in;
    EXPECT_EQ(out.substr(date_part.size()), in.substr(date_part.size())) << "time kept: " << in;
    EXPECT_NE(out.substr(0, date_part.size()), date_part) << in;
  };
  expect_shift("2024-03-07", "2024-03-07");
  expect_shift("2024-03-07T12:34:56Z", "2024-03-07");
  expect_shift("2024-03-07T12:34:56.123456+05:30", "2024-03-07");
  expect_shift("2024-03-07 12:34", "2024-03-07");
  expect_shift("2024-03-07t12:34:56-0800", "2024-03-07");
  expect_shift("03/07/2024", "03/07/2024");
  expect_shift("03/07/2024 08:00:00", "03/07/2024");
  expect_shift("07.03.2024", "07.03.2024");
  expect_shift("20240307", "20240307");
  expect_shift("20240307T123456Z", "20240307");
  expect_shift("2024/03/07", "2024/03/07");

  // All styles of one date land on one date.
  run(t, "2024-03-07", p, out, "alice");
  const std::string iso = out;
  run(t, "03/07/2024", p, out, "alice");
  EXPECT_EQ(out.substr(6, 4) + "-" + out.substr(0, 2) + "-" + out.substr(3, 2), iso);
  run(t, "07.03.2024", p, out, "alice");
  EXPECT_EQ(out.substr(6, 4) + "-" + out.substr(3, 2) + "-" + out.substr(0, 2), iso);
  run(t, "20240307", p, out, "alice");
  EXPECT_EQ(out.substr(0, 4) + "-" + out.substr(4, 2) + "-" + out.substr(6, 2), iso);
  // Day-first with slashes when only that reading is a date; unpadded fields stay unpadded.
  using namespace std::chrono;
  auto delta = [](year_month_day from, year_month_day to) {
    return static_cast<int>((sys_days{to} - sys_days{from}).count());
  };
  run(t, "25/12/2024", p, out, "alice");
  unsigned d = 0;
  unsigned m = 0;
  int y = 0;
  ASSERT_EQ(std::sscanf(out.c_str(), "%u/%u/%d", &d, &m, &y), 3);
  EXPECT_EQ(delta(2024y / December / 25, year{y} / month{m} / day{d}), shift);
  EXPECT_EQ(run(t, "3/7/2024", p, out, "alice"), Outcome::kDone);
  ASSERT_EQ(std::sscanf(out.c_str(), "%u/%u/%d", &m, &d, &y), 3);
  EXPECT_EQ(delta(2024y / March / 7, year{y} / month{m} / day{d}), shift);
  EXPECT_EQ(out, std::to_string(m) + "/" + std::to_string(d) + "/" + std::to_string(y));

  // Months by name (2026-12-06: a token, "Feb 29, 1984" became "Bdb 82, 4685"): the same date
  // as the ISO form, the name as long and in the same case, the ordinal suffix right.
  const std::pair<std::string_view, std::string_view> named[] = {
      {"Mar 7, 2024", "%b %d, %Y"}, {"March 7, 2024", "%B %d, %Y"},
      {"7 March 2024", "%d %B %Y"}, {"07-Mar-2024", "%d-%b-%Y"},
      {"MAR 7 2024", "%b %d %Y"},   {"march 7th, 2024", "%B %d, %Y"},
      {"2024 Mar 07", "%Y %b %d"},  {"Sept 7, 2024", ""}};
  for (const auto& [in, format] : named) {
    ASSERT_EQ(run(t, in, p, out, "alice"), Outcome::kDone) << in;
    if (format.empty()) continue;
    std::tm tm{};
    std::string plain = out;
    for (std::string_view suffix : {"st,", "nd,", "rd,", "th,"}) {
      if (auto at = plain.find(suffix); at != std::string::npos) plain.erase(at, 2);
    }
    std::istringstream ss(plain);
    ss >> std::get_time(&tm, std::string(format).c_str());
    ASSERT_FALSE(ss.fail()) << in << " -> " << out;
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    EXPECT_EQ(std::string(buf), iso) << in << " -> " << out;
    EXPECT_EQ(
        std::isupper(static_cast<unsigned char>(
            out[std::string_view(out).find_first_not_of("0123456789 -")])) != 0,
        std::isupper(static_cast<unsigned char>(in[in.find_first_not_of("0123456789 -")])) != 0)
        << in << " -> " << out;
  }
  run(t, "march 7th, 2024", p, out, "alice");
  EXPECT_THAT(out, ::testing::MatchesRegex("[a-z]+ [0-9]+(st|nd|rd|th), [0-9]{4}"));
  run(t, "MAR 7 2024", p, out, "alice");
  EXPECT_THAT(out, ::testing::MatchesRegex("[A-Z]{3} [0-9]+ [0-9]{4}"));

  // Not dates: a token.
  for (std::string_view v :
       {"2024-02-30", "2023-02-29", "2024-13-01", "13/13/2024", "hello", "2024-03-07X",
        "2024-03-07T25:00", "12345678", "", "Feb 30, 2024", "Foo 7, 2024", "May I help 2024",
        "Mar 7, 2024 at noon", "mAr 7, 2024", "Mar 7 Apr 2024",
        // a run of digits past an int (fuzz_scrub, 2026-12-07: signed overflow under UBSan)
        "Mar 11111111111, 2024"}) {
    EXPECT_EQ(run(t, v, p, out, "alice"), Outcome::kFallback) << v;
    EXPECT_EQ(out, tok(t, v)) << v;
  }
}

TEST(ApplyTest, ShiftDateHandlesLeapDays) {
  using namespace std::chrono;
  Transformer t(test_key());
  ActionParams p;
  p.action = Action::kShiftDate;
  std::string out;
  for (int i = 0; i < 300; ++i) {
    const std::string entity = "e" + std::to_string(i);
    p.shift_max_days = 1 + i;
    for (const char* in : {"2024-02-29", "2000-02-29", "2023-12-31", "2024-03-01", "1999-12-31"}) {
      ASSERT_EQ(run(t, in, p, out, entity), Outcome::kDone);
      const year_month_day got = parse_styled(out, 0);
      ASSERT_TRUE(got.ok()) << out;
      const year_month_day was = parse_styled(in, 0);
      ASSERT_EQ((sys_days{got} - sys_days{was}).count(), t.date_shift_days(entity, 1 + i));
    }
  }
}

TEST(ApplyTest, DateShiftDaysIsKeyedBoundedAndNeverZero) {
  Transformer t(test_key());
  Transformer same(test_key());
  Transformer other(Key::from_material("a different key, just as long as the first"));
  int negative = 0;
  int positive = 0;
  int differs = 0;
  for (int i = 0; i < 5000; ++i) {
    const std::string entity = "entity-" + std::to_string(i);
    const int max = 1 + i % 365;
    const int d = t.date_shift_days(entity, max);
    ASSERT_NE(d, 0);
    ASSERT_GE(d, -max);
    ASSERT_LE(d, max);
    ASSERT_EQ(d, t.date_shift_days(entity, max));
    ASSERT_EQ(d, same.date_shift_days(entity, max));
    if (other.date_shift_days(entity, max) != d) ++differs;
    (d < 0 ? negative : positive)++;
  }
  EXPECT_GT(negative, 2000);
  EXPECT_GT(positive, 2000);
  EXPECT_GT(differs, 4000);
  const int whole_key = t.date_shift_days("", 180);
  EXPECT_NE(whole_key, 0);
  EXPECT_EQ(whole_key, t.date_shift_days("", 180));
  // A degenerate maximum still moves the date.
  EXPECT_EQ(std::abs(t.date_shift_days("x", 0)), 1);
  EXPECT_EQ(std::abs(t.date_shift_days("x", 1)), 1);
}

// ---------------------------------------------------------------------------------------------
// FF1 through the transformer.

TEST(Ff1TransformTest, RoundTripKeepsSeparatorsAndClass) {
  Transformer t(test_key());
  std::mt19937_64 rng(15);
  const std::vector<std::string_view> alphabets = {
      "0123456789", "0123456789abcdefghijklmnopqrstuvwxyz", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"};
  for (int i = 0; i < 4000; ++i) {
    const std::string_view alphabet = alphabets[static_cast<size_t>(i) % alphabets.size()];
    std::string v = random_from(rng, alphabet, 6 + rng() % 20);
    if (i % 4 == 1) v[rng() % v.size()] = 'q';
    if (i % 4 == 2) v[rng() % v.size()] = 'Q';
    if (i % 4 == 3) {
      v[0] = 'q';
      v[1] = 'Q';
    }
    if (rng() % 2) v.insert(rng() % v.size(), "-");
    if (rng() % 2) v.insert(rng() % v.size(), " \xc3\xa9 ");
    const std::string tweak = i % 3 ? "" : "tweak-" + std::to_string(i % 7);
    auto enc = t.ff1_encrypt(v, tweak);
    ASSERT_TRUE(enc) << enc.error().message;
    ASSERT_EQ(enc->size(), v.size());
    bool in_upper = false;
    bool in_lower = false;
    bool out_upper = false;
    bool out_lower = false;
    for (size_t j = 0; j < v.size(); ++j) {
      const bool alnum = is_digit(v[j]) || is_alpha(v[j]);
      ASSERT_EQ(alnum, is_digit((*enc)[j]) || is_alpha((*enc)[j]));
      if (!alnum) {
        ASSERT_EQ(v[j], (*enc)[j]);
      }
      in_upper |= is_upper(v[j]);
      in_lower |= is_lower(v[j]);
      out_upper |= is_upper((*enc)[j]);
      out_lower |= is_lower((*enc)[j]);
    }
    ASSERT_EQ(in_upper, out_upper);
    ASSERT_EQ(in_lower, out_lower);
    auto dec = t.ff1_decrypt(*enc, tweak);
    ASSERT_TRUE(dec) << dec.error().message;
    ASSERT_EQ(*dec, v);
    ASSERT_EQ(*t.ff1_encrypt(v, tweak), *enc);  // deterministic
  }
}

TEST(Ff1TransformTest, ApplyUsesTweakAndFallsBackWhenTooShort) {
  Transformer t(test_key());
  ActionParams p;
  p.action = Action::kFf1;
  std::string out;
  EXPECT_EQ(run(t, "123-45-6789", p, out), Outcome::kDone);
  EXPECT_EQ(out, *t.ff1_encrypt("123-45-6789", ""));
  p.ff1_tweak = "ssn";
  std::string tweaked;
  EXPECT_EQ(run(t, "123-45-6789", p, tweaked), Outcome::kDone);
  EXPECT_NE(tweaked, out);
  EXPECT_EQ(*t.ff1_decrypt(tweaked, "ssn"), "123-45-6789");

  // Radix 10 needs 6 digits, radix 36 and 62 need 4 characters.
  auto short_digits = t.ff1_encrypt("12-345", "");
  ASSERT_FALSE(short_digits);
  EXPECT_THAT(short_digits.error().message, HasSubstr("too few"));
  EXPECT_FALSE(t.ff1_encrypt("ab1", ""));
  EXPECT_TRUE(t.ff1_encrypt("ab12", ""));
  EXPECT_TRUE(t.ff1_encrypt("123456", ""));
  EXPECT_EQ(run(t, "12-345", p, out), Outcome::kFallback);
  EXPECT_EQ(out, tok(t, "12-345"));
  // Letters past ASCII would stay under FF1's ASCII alphabets: a token instead (scheme 3).
  EXPECT_EQ(run(t, "Иван 12345678", p, out), Outcome::kFallback);
  EXPECT_EQ(out, tok(t, "Иван 12345678"));
  EXPECT_THAT(out, testing::Not(HasSubstr("Иван")));
  EXPECT_EQ(run(t, "", p, out), Outcome::kFallback);
  EXPECT_EQ(out, "");
}

TEST(TransformerTest, MovesKeepTheirKeys) {
  Transformer a(test_key());
  const std::string expected = tok(a, "Hello World 42");
  Transformer b(std::move(a));
  EXPECT_EQ(tok(b, "Hello World 42"), expected);
  Transformer c(Key::from_material("whatever other key material, long"));
  c = std::move(b);
  EXPECT_EQ(tok(c, "Hello World 42"), expected);
}

}  // namespace
}  // namespace twin::scrubber
