#include "twin/scrubber/ff1.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace twin::scrubber {
namespace {

std::vector<uint8_t> hex_bytes(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Numerals in radix <= 36 written as 0-9a-z, as NIST's samples do.
std::vector<uint16_t> numerals(std::string_view text) {
  std::vector<uint16_t> out;
  for (char c : text) {
    out.push_back(static_cast<uint16_t>(c <= '9' ? c - '0' : 10 + (c - 'a')));
  }
  return out;
}

struct Sample {
  int number;
  const char* key;
  uint32_t radix;
  const char* tweak;
  const char* plaintext;
  const char* ciphertext;
};

// NIST SP 800-38G, FF1 samples (csrc.nist.gov, "FF1samples.pdf"), all nine.
constexpr const char* kKey128 = "2B7E151628AED2A6ABF7158809CF4F3C";
constexpr const char* kKey192 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F";
constexpr const char* kKey256 = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94";
constexpr Sample kSamples[] = {
    {1, kKey128, 10, "", "0123456789", "2433477484"},
    {2, kKey128, 10, "39383736353433323130", "0123456789", "6124200773"},
    {3, kKey128, 36, "3737373770717273373737", "0123456789abcdefghi", "a9tv40mll9kdu509eum"},
    {4, kKey192, 10, "", "0123456789", "2830668132"},
    {5, kKey192, 10, "39383736353433323130", "0123456789", "2496655549"},
    {6, kKey192, 36, "3737373770717273373737", "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"},
    {7, kKey256, 10, "", "0123456789", "6657667009"},
    {8, kKey256, 10, "39383736353433323130", "0123456789", "1001623463"},
    {9, kKey256, 36, "3737373770717273373737", "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"},
};

TEST(Ff1Test, NistSamplesEncryptAndDecrypt) {
  for (const Sample& s : kSamples) {
    SCOPED_TRACE("NIST FF1 sample " + std::to_string(s.number));
    auto ff1 = Ff1::create(hex_bytes(s.key), s.radix);
    ASSERT_TRUE(ff1) << ff1.error().message;
    const auto tweak = hex_bytes(s.tweak);
    auto ct = ff1->encrypt(numerals(s.plaintext), tweak);
    ASSERT_TRUE(ct) << ct.error().message;
    EXPECT_EQ(*ct, numerals(s.ciphertext));
    auto pt = ff1->decrypt(numerals(s.ciphertext), tweak);
    ASSERT_TRUE(pt) << pt.error().message;
    EXPECT_EQ(*pt, numerals(s.plaintext));
  }
}

// Long inputs and radices far from 10 and 36 exercise the multi-limb arithmetic (NUM_radix of
// hundreds of numerals, b of up to 57 bytes, radix 65536). Expected values come from a plain
// transcription of the spec over Python's integers and the `cryptography` package's AES,
// itself checked against the NIST samples above.
struct Vector {
  const char* key;
  uint32_t radix;
  const char* tweak;
  std::vector<uint16_t> plaintext;
  std::vector<uint16_t> ciphertext;
};

TEST(Ff1Test, LongAndWideRadixVectors) {
  const std::vector<Vector> vectors = {
      {"2b7e151628aed2a6abf7158809cf4f3c",
       65536,
       "7477",
       {11053, 49117, 56182, 28763, 16113, 31164, 35796, 2562,  55896, 30499, 29928,
        26227, 20587, 28514, 57380, 43478, 48330, 30435, 15848, 11413, 31478, 53121,
        49877, 62271, 1722,  9306,  30931, 51802, 32588, 44894, 51418, 55971, 6370,
        10221, 14535, 14619, 53671, 29660, 46895, 41144, 20540},
       {64151, 4818,  25638, 63504, 16607, 59661, 32155, 63498, 2541,  58806, 38603,
        64513, 38781, 7060,  22718, 20234, 325,   199,   49272, 45597, 33690, 5284,
        23849, 43627, 47807, 347,   24844, 55023, 5082,  16843, 5217,  6087,  56893,
        54432, 16877, 24186, 62973, 50047, 38792, 30949, 11324}},
      {"2b7e151628aed2a6abf7158809cf4f3cef4359d8d580aa4f7f036d6f04fc6a94",
       2,
       "",
       {1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 0,
        0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 1,
        0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1,
        0, 0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0,
        1, 0, 0, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 1},
       {0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1,
        0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0,
        1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1,
        1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1,
        1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0, 1}},
      {"2b7e151628aed2a6abf7158809cf4f3c",
       10,
       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627",
       {5, 4, 6, 6, 4, 4, 5, 3, 7, 6, 9, 8, 3, 9, 1, 7, 3, 6, 5, 0, 9, 0, 7, 1, 9,
        4, 7, 9, 1, 9, 6, 1, 4, 7, 6, 5, 2, 9, 3, 6, 9, 3, 6, 0, 3, 1, 6, 8, 9, 9,
        3, 7, 6, 3, 5, 6, 4, 6, 2, 1, 9, 6, 8, 7, 2, 8, 2, 0, 8, 8, 9, 0, 2, 4, 1,
        6, 8, 1, 7, 6, 3, 2, 0, 1, 3, 5, 2, 3, 1, 0, 9, 2, 3, 5, 0, 2, 1},
       {0, 1, 0, 7, 8, 2, 5, 9, 8, 1, 6, 1, 2, 0, 2, 6, 0, 1, 9, 6, 1, 4, 5, 5, 3,
        6, 0, 3, 4, 5, 1, 8, 2, 0, 4, 7, 9, 5, 0, 0, 5, 9, 5, 2, 2, 2, 4, 1, 7, 7,
        6, 7, 9, 1, 1, 0, 9, 9, 5, 6, 8, 6, 8, 1, 7, 8, 9, 5, 6, 3, 2, 3, 2, 5, 1,
        1, 1, 5, 7, 2, 2, 0, 7, 8, 3, 1, 7, 0, 8, 9, 4, 7, 7, 1, 9, 9, 3}},
      {"2b7e151628aed2a6abf7158809cf4f3cef4359d8d580aa4f7f036d6f04fc6a94",
       62,
       "7477696e",
       {7,  29, 58, 0,  39, 11, 37, 20, 19, 40, 19, 20, 17, 3,  61, 9, 14,
        60, 42, 16, 54, 50, 54, 10, 50, 59, 23, 27, 20, 37, 33, 30, 49},
       {55, 27, 7,  9, 2,  54, 40, 53, 23, 17, 39, 15, 2,  29, 39, 53, 6,
        38, 22, 42, 0, 59, 48, 3,  55, 3,  3,  15, 2,  46, 55, 14, 48}},
      {"000102030405060708090a0b0c0d0e0f1011121314151617",
       7,
       "78",
       {6, 2, 4, 1, 5, 6, 6, 0, 2, 2, 5, 0, 0, 5, 6, 6, 5, 4, 3, 4, 3, 0, 5, 3, 1, 6, 6, 4, 1,
        3, 1, 0, 0, 1, 0, 5, 3, 3, 5, 6, 3, 3, 4, 3, 4, 3, 3, 4, 3, 6, 6, 2, 3, 6, 6, 2, 0, 3,
        2, 1, 1, 1, 6, 5, 0, 6, 1, 0, 1, 6, 0, 1, 2, 5, 2, 0, 0, 4, 0, 0, 4, 0, 2, 4, 1, 2, 1,
        0, 0, 5, 5, 2, 2, 2, 3, 5, 3, 3, 6, 5, 6, 6, 1, 0, 4, 4, 1, 3, 6, 1, 2, 5, 3, 3, 3, 0,
        5, 0, 0, 5, 2, 3, 6, 3, 0, 4, 2, 1, 4, 3, 2, 1, 2, 3, 2, 0, 0, 1, 0, 3, 0, 6, 4, 4, 3,
        3, 0, 0, 5, 2, 5, 2, 2, 3, 1, 0, 5, 0, 4, 2, 6, 1, 5, 2, 6, 2, 4, 2, 3, 0, 5, 4, 3, 0,
        5, 1, 3, 4, 0, 1, 3, 6, 1, 4, 0, 2, 3, 6, 4, 4, 6, 5, 6, 3, 6, 3, 0, 3, 1, 1},
       {4, 2, 3, 4, 1, 0, 6, 0, 3, 4, 4, 6, 4, 6, 1, 6, 5, 5, 3, 2, 0, 0, 6, 5, 0, 1, 3, 5, 5,
        0, 5, 6, 0, 2, 2, 4, 5, 1, 5, 3, 3, 4, 0, 1, 5, 6, 6, 2, 1, 2, 2, 5, 3, 4, 0, 5, 3, 1,
        3, 1, 1, 6, 6, 1, 1, 6, 0, 1, 6, 3, 2, 3, 5, 6, 0, 6, 3, 6, 4, 5, 6, 5, 6, 2, 1, 4, 0,
        3, 1, 5, 4, 3, 2, 4, 6, 6, 6, 1, 4, 1, 3, 1, 3, 2, 5, 6, 6, 6, 6, 0, 2, 1, 0, 4, 5, 0,
        0, 0, 6, 3, 0, 0, 3, 4, 4, 1, 2, 0, 1, 2, 2, 3, 5, 2, 0, 6, 2, 5, 1, 3, 1, 5, 1, 6, 3,
        5, 2, 4, 5, 5, 3, 2, 4, 1, 4, 1, 0, 1, 4, 5, 2, 3, 5, 3, 4, 6, 4, 5, 3, 5, 5, 3, 5, 0,
        1, 0, 5, 0, 0, 3, 4, 6, 5, 4, 3, 6, 0, 3, 1, 4, 0, 0, 6, 6, 2, 2, 2, 2, 6, 2}},
      {"2b7e151628aed2a6abf7158809cf4f3c", 40000, "", {35820, 6391, 31416}, {35616, 26123, 12801}},
  };
  for (const Vector& v : vectors) {
    SCOPED_TRACE("radix " + std::to_string(v.radix) + ", " + std::to_string(v.plaintext.size()) +
                 " numerals");
    auto ff1 = Ff1::create(hex_bytes(v.key), v.radix);
    ASSERT_TRUE(ff1);
    const auto tweak = hex_bytes(v.tweak);
    auto ct = ff1->encrypt(v.plaintext, tweak);
    ASSERT_TRUE(ct) << ct.error().message;
    EXPECT_EQ(*ct, v.ciphertext);
    auto pt = ff1->decrypt(v.ciphertext, tweak);
    ASSERT_TRUE(pt) << pt.error().message;
    EXPECT_EQ(*pt, v.plaintext);
  }
}

TEST(Ff1Test, RoundTripOverRandomInputsAndRadices) {
  std::mt19937_64 rng(0x7731);
  const uint32_t radices[] = {2,  3,   7,   10,  16,   26,    36,    62,
                              64, 255, 256, 257, 1000, 40000, 65535, 65536};
  for (uint32_t radix : radices) {
    std::vector<uint8_t> key(16 + 8 * (rng() % 3));
    for (auto& b : key) b = static_cast<uint8_t>(rng());
    auto ff1 = Ff1::create(key, radix);
    ASSERT_TRUE(ff1);
    for (int trial = 0; trial < 40; ++trial) {
      const size_t n = ff1->min_length() + rng() % 70;
      std::vector<uint16_t> pt(n);
      for (auto& d : pt) d = static_cast<uint16_t>(rng() % radix);
      std::vector<uint8_t> tweak(rng() % 40);
      for (auto& b : tweak) b = static_cast<uint8_t>(rng());
      auto ct = ff1->encrypt(pt, tweak);
      ASSERT_TRUE(ct) << ct.error().message;
      ASSERT_EQ(ct->size(), n);
      for (uint16_t d : *ct) ASSERT_LT(d, radix);
      auto back = ff1->decrypt(*ct, tweak);
      ASSERT_TRUE(back);
      ASSERT_EQ(*back, pt) << "radix " << radix << " length " << n;
      // A different tweak gives a different ciphertext (for all but tiny domains).
      tweak.push_back(1);
      auto other = ff1->encrypt(pt, tweak);
      ASSERT_TRUE(other);
      if (n >= 8) {
        EXPECT_NE(*other, *ct);
      }
    }
  }
}

TEST(Ff1Test, PermutesSmallDomainWithoutCollisions) {
  // Radix 1000 at its minimum length 2: a slice of 143,000 inputs has as many distinct images.
  auto ff1 = Ff1::create(hex_bytes(kKey128), 1000);
  ASSERT_TRUE(ff1);
  ASSERT_EQ(ff1->min_length(), 2u);
  std::vector<bool> seen(1000 * 1000);
  for (uint16_t a = 0; a < 1000; ++a) {
    for (uint16_t b = 0; b < 1000; b += 7) {
      const std::vector<uint16_t> pt = {a, b};
      auto ct = ff1->encrypt(pt, {});
      ASSERT_TRUE(ct);
      const size_t index = size_t{(*ct)[0]} * 1000 + (*ct)[1];
      ASSERT_FALSE(seen[index]);
      seen[index] = true;
    }
  }
}

TEST(Ff1Test, MinLengthFollowsRevisionOne) {
  struct Case {
    uint32_t radix;
    size_t min_length;
  };
  for (const Case c : {Case{2, 20}, Case{10, 6}, Case{16, 5}, Case{36, 4}, Case{62, 4},
                       Case{1000, 2}, Case{1001, 2}, Case{65536, 2}}) {
    auto ff1 = Ff1::create(hex_bytes(kKey128), c.radix);
    ASSERT_TRUE(ff1);
    EXPECT_EQ(ff1->min_length(), c.min_length) << "radix " << c.radix;
    EXPECT_EQ(ff1->radix(), c.radix);
    const std::vector<uint16_t> short_input(c.min_length - 1, 1);
    auto r = ff1->encrypt(short_input, {});
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, testing::HasSubstr("minimum"));
    EXPECT_FALSE(ff1->decrypt(short_input, {}));
    EXPECT_TRUE(ff1->encrypt(std::vector<uint16_t>(c.min_length, 1), {}));
  }
}

TEST(Ff1Test, RejectsBadKeysRadicesAndNumerals) {
  EXPECT_FALSE(Ff1::create(std::vector<uint8_t>(15), 10));
  EXPECT_FALSE(Ff1::create(std::vector<uint8_t>(33), 10));
  EXPECT_FALSE(Ff1::create(std::vector<uint8_t>(16), 1));
  EXPECT_FALSE(Ff1::create(std::vector<uint8_t>(16), 65537));
  auto ff1 = Ff1::create(std::vector<uint8_t>(16), 10);
  ASSERT_TRUE(ff1);
  auto r = ff1->encrypt(std::vector<uint16_t>{1, 2, 3, 10, 4, 5}, {});
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message, testing::HasSubstr("position 3"));
}

TEST(Ff1Test, MovedObjectKeepsWorking) {
  auto made = Ff1::create(hex_bytes(kKey128), 10);
  ASSERT_TRUE(made);
  Ff1 moved(std::move(*made));
  Ff1 assigned = std::move(moved);
  auto ct = assigned.encrypt(numerals("0123456789"), {});
  ASSERT_TRUE(ct);
  EXPECT_EQ(*ct, numerals("2433477484"));
}

}  // namespace
}  // namespace twin::scrubber
