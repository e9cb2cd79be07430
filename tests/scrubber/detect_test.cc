// Detectors: recall on a labelled corpus of real-world formats (alone and inside sentences, JSON,
// URLs and headers, at every offset across the 64-byte blocks of the mask pass), no false
// positives on look-alikes, exact spans, allow-list, policy regexes in Hyperscan and in RE2,
// overlap resolution, clean() against scan(), key names, and robustness on random bytes.
// Output lists counts per kind and format, never a value.

#include "twin/scrubber/detect.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "detect_check.h"
#include "pii_corpus.h"

namespace twin::scrubber {
namespace {

using corpus::LabelledValue;

constexpr uint64_t kSeed = 20240307;
constexpr size_t kPerFormat = 40;

std::unique_ptr<Detectors> make(const DetectorOptions& o = {}) {
  auto d = Detectors::build(o);
  EXPECT_TRUE(d.has_value()) << (d ? "" : d.error().message);
  return d ? std::move(*d) : nullptr;
}

class DetectTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    detectors_ = make().release();
    values_ = new std::vector<LabelledValue>(corpus::pii_values(kSeed, kPerFormat));
    lookalikes_ = new std::vector<LabelledValue>(corpus::lookalikes(kSeed, kPerFormat));
  }
  static void TearDownTestSuite() {
    delete detectors_;
    delete values_;
    delete lookalikes_;
  }
  void SetUp() override { scratch_ = detectors_->make_scratch(); }

  std::vector<Span> scan(std::string_view text) {
    std::vector<Span> out;
    detectors_->scan(text, *scratch_, out);
    return out;
  }

  static Detectors* detectors_;
  static std::vector<LabelledValue>* values_;
  static std::vector<LabelledValue>* lookalikes_;
  ScratchPtr scratch_;
};

Detectors* DetectTest::detectors_ = nullptr;
std::vector<LabelledValue>* DetectTest::values_ = nullptr;
std::vector<LabelledValue>* DetectTest::lookalikes_ = nullptr;

// Spans are sorted, within the text and do not overlap.
void expect_well_formed(const std::vector<Span>& spans, size_t size) {
  for (size_t i = 0; i < spans.size(); ++i) {
    EXPECT_LT(spans[i].begin, spans[i].end);
    EXPECT_LE(spans[i].end, size);
    if (i > 0) {
      EXPECT_LE(spans[i - 1].end, spans[i].begin);
    }
  }
}

struct Tally {
  size_t total = 0;
  size_t hit = 0;
  std::map<std::string, size_t> missed_formats;
  double rate() const { return total == 0 ? 1.0 : static_cast<double>(hit) / total; }
};

// The value is found exactly: one span of its kind with its bounds, shifted by `offset`.
bool found_exactly(const std::vector<Span>& spans, const LabelledValue& v, size_t offset) {
  for (const Span& s : spans) {
    if (s.begin == v.begin + offset && s.end == v.end + offset && s.kind == v.kind) return true;
  }
  return false;
}

void report(const char* title, const std::map<Kind, Tally>& tallies, double min_rate) {
  std::printf("  %s\n", title);
  for (const auto& [kind, t] : tallies) {
    std::printf("    %-7s %5zu / %5zu  recall %.4f\n", std::string(to_string(kind)).c_str(), t.hit,
                t.total, t.rate());
    for (const auto& [format, n] : t.missed_formats) {
      std::printf("      missed %zu x %s\n", n, format.c_str());
    }
    EXPECT_GE(t.rate(), min_rate) << title << ": " << to_string(kind);
  }
}

// ---------------------------------------------------------------------------------------------
// The small validators.

TEST(DetectCheck, Validators) {
  namespace dd = detect_detail;
  EXPECT_TRUE(dd::luhn_ok("4111111111111111"));
  EXPECT_FALSE(dd::luhn_ok("4111111111111112"));
  EXPECT_TRUE(dd::luhn_ok("378282246310005"));
  EXPECT_TRUE(dd::card_digits_ok("4111111111111111"));
  EXPECT_FALSE(dd::card_digits_ok("1111111111111117"));  // no issuer starts with 1
  EXPECT_FALSE(dd::card_digits_ok("411111111111111"));   // Visa has no 15-digit numbers
  EXPECT_TRUE(dd::card_digits_ok("378282246310005"));
  EXPECT_TRUE(dd::iban_mod97_ok("DE89370400440532013000"));
  EXPECT_TRUE(dd::iban_mod97_ok("GB29NWBK60161331926819"));
  EXPECT_FALSE(dd::iban_mod97_ok("DE89370400440532013001"));
  EXPECT_EQ(dd::iban_length('D', 'E'), 22u);
  EXPECT_EQ(dd::iban_length('N', 'O'), 15u);
  EXPECT_EQ(dd::iban_length('Z', 'Z'), 0u);
  EXPECT_NEAR(dd::shannon_entropy("abcd"), 2.0, 1e-9);
  EXPECT_NEAR(dd::shannon_entropy("aaaa"), 0.0, 1e-9);
  std::string out;
  EXPECT_TRUE(dd::base64_decode("dXNlcjpwYXNz", out, 100));
  EXPECT_EQ(out, "user:pass");
  out.clear();
  EXPECT_TRUE(dd::base64_decode("eyJhbGciOiJIUzI1NiJ9", out, 100));
  EXPECT_EQ(out, "{\"alg\":\"HS256\"}");
  EXPECT_FALSE(dd::base64_decode("abc!", out, 100));
  EXPECT_TRUE(dd::after_escape("x\\n4111", 3));
  EXPECT_TRUE(dd::after_escape("%2F4111", 3));
  EXPECT_TRUE(dd::after_escape("\\u00224111", 6));
  EXPECT_FALSE(dd::after_escape("ab4111", 2));
  EXPECT_EQ(dd::escape_tail("\\u0022abc", 1), 5u);
  EXPECT_EQ(dd::escape_tail("%2Fabc", 1), 2u);
  EXPECT_EQ(dd::escape_tail("\\nabc", 1), 1u);
}

// builtin_pair_in (16 positions at a time) says what the table of pairs says: every one of the
// 65,536 byte pairs at every offset of texts of 2 to 40 bytes (either side of a 16-byte step and
// in the padded tail), among filler bytes that begin and end no pair, and random texts of the
// bytes the pairs are made of.
TEST(DetectCheck, BuiltinPairsFastCheckAgreesWithTheTable) {
  namespace dd = detect_detail;
  size_t pairs = 0;
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      const bool want =
          dd::kBuiltinPairs.has(static_cast<unsigned char>(a), static_cast<unsigned char>(b));
      pairs += want;
      for (size_t len : {2, 3, 16, 17, 18, 31, 33, 40}) {
        for (size_t at = 0; at + 2 <= len; at += (len > 20 ? 7 : 1)) {
          std::string t(len, '\x01');
          t[at] = static_cast<char>(a);
          t[at + 1] = static_cast<char>(b);
          ASSERT_EQ(dd::builtin_pair_in(t), want)
              << a << " " << b << " len " << len << " at " << at;
        }
      }
    }
  }
  // '@' then a letter, digit or byte past ASCII (62 + 128); %4, ::, yJ; the auth schemes' last
  // letters then ' ', '%' or '+' (24); IA; p o u s r b k then '_' (7); xo; Iz
  EXPECT_EQ(pairs, 62u + 128 + 1 + 1 + 1 + 24 + 1 + 7 + 1 + 1);
  std::mt19937 rng(7);
  const std::string alphabet = "@%4:yJrRcCnNyY %+IAzpousrbk_xo09aZ.-\x80\xc3\xff";
  for (int i = 0; i < 200000; ++i) {
    std::string t(rng() % 100, ' ');
    for (char& c : t) c = rng() % 4 == 0 ? alphabet[rng() % alphabet.size()] : 'q';
    ASSERT_EQ(dd::builtin_pair_in(t), dd::kBuiltinPairs.any(t)) << t;
  }
  EXPECT_FALSE(dd::builtin_pair_in(""));
  EXPECT_FALSE(dd::builtin_pair_in("@"));
}

// ---------------------------------------------------------------------------------------------
// Recall.

TEST_F(DetectTest, CorpusCoversEveryContentKind) {
  std::map<Kind, size_t> n;
  std::map<std::string, size_t> formats;
  for (const auto& v : *values_) {
    ++n[v.kind];
    ++formats[v.format];
    ASSERT_LT(v.begin, v.end);
    ASSERT_LE(v.end, v.text.size());
  }
  for (Kind k : DetectorOptions{}.kinds) EXPECT_GT(n[k], 0u) << to_string(k);
  std::printf("  corpus: %zu values in %zu formats, %zu look-alikes\n", values_->size(),
              formats.size(), lookalikes_->size());
}

TEST_F(DetectTest, RecallOnValuesAlone) {
  std::map<Kind, Tally> tallies;
  for (const auto& v : *values_) {
    const auto spans = scan(v.text);
    expect_well_formed(spans, v.text.size());
    Tally& t = tallies[v.kind];
    ++t.total;
    // alone, the value is the only thing found
    if (spans.size() == 1 && found_exactly(spans, v, 0)) {
      ++t.hit;
    } else {
      ++t.missed_formats[v.format];
    }
  }
  report("values alone (exact span, nothing else)", tallies, 0.99);
}

struct Context {
  const char* name;
  // builds the text around the value; returns false when the value cannot appear there as is
  bool (*wrap)(const LabelledValue& v, std::string& text, size_t& offset);
};

bool url_safe(std::string_view s) {
  for (char c : s) {
    if (!(detect_detail::is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':' ||
          c == '@' || c == '+' || c == '/')) {
      return false;
    }
  }
  return true;
}

const Context kContexts[] = {
    {"sentence",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "Please contact us about ";
       text = pre + v.text + " before Friday, thanks.";
       offset = pre.size();
       return true;
     }},
    {"json-value",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "{\"id\":1000234,\"field\":\"";
       text = pre + corpus::json_escape(v.text) + "\",\"qty\":12}";
       offset = pre.size();
       return corpus::json_escape(v.text) == v.text;
     }},
    {"json-after-escape",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "{\"note\":\"see below\\n";
       text = pre + v.text + "\\tthanks\",\"at\":\"2024-03-07T12:34:56.789Z\"}";
       offset = pre.size();
       return corpus::json_escape(v.text) == v.text;
     }},
    {"json-after-unicode-escape",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "{\"html\":\"\\u003cb\\u003e";
       text = pre + v.text + "\\u003c/b\\u003e\"}";
       offset = pre.size();
       return corpus::json_escape(v.text) == v.text;
     }},
    {"json-after-quote-escape",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "{\"q\":\"\\u0022";
       text = pre + v.text + "\\u0022\"}";
       offset = pre.size();
       return corpus::json_escape(v.text) == v.text;
     }},
    {"url-encoded-spaces",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "/search?q=see%20";
       text = pre + v.text + "%20now&page=2";
       offset = pre.size();
       return url_safe(v.text) && v.text.find('+') == std::string::npos;
     }},
    {"url-query",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "GET https://api.example.com/v1/lookup?page=2&value=";
       text = pre + v.text + "&sort=asc HTTP/1.1";
       offset = pre.size();
       return url_safe(v.text);
     }},
    {"url-path",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "/v1/lookup/";
       text = pre + v.text + "/details?x=1";
       offset = pre.size();
       return url_safe(v.text) && v.text.find('/') == std::string::npos &&
              v.kind != Kind::kIpv4;  // "lookup/10.0.0.1": a path word glues (see detect.cc)
     }},
    {"header",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "Host: api.example.com\r\nX-Value: ";
       text = pre + v.text + "\r\nAccept: application/json\r\n";
       offset = pre.size();
       return true;
     }},
    {"form-body",
     [](const LabelledValue& v, std::string& text, size_t& offset) {
       const std::string pre = "name=widget&qty=3&value=";
       text = pre + v.text + "&submit=1";
       offset = pre.size();
       return url_safe(v.text) && v.text.find('&') == std::string::npos;
     }},
};

TEST_F(DetectTest, RecallInContexts) {
  for (const Context& c : kContexts) {
    std::map<Kind, Tally> tallies;
    for (const auto& v : *values_) {
      std::string text;
      size_t offset = 0;
      if (!c.wrap(v, text, offset)) continue;
      const auto spans = scan(text);
      expect_well_formed(spans, text.size());
      Tally& t = tallies[v.kind];
      ++t.total;
      if (found_exactly(spans, v, offset)) {
        ++t.hit;
      } else {
        ++t.missed_formats[v.format];
      }
    }
    report(c.name, tallies, 0.99);
  }
}

// Emails with '@' as %40 and international phones with '+' as %2B, inside a query string.
TEST_F(DetectTest, RecallPercentEncoded) {
  std::map<Kind, Tally> tallies;
  for (const auto& v : *values_) {
    const bool email = v.kind == Kind::kEmail;
    const bool phone = v.kind == Kind::kPhone && v.text[0] == '+' &&
                       v.text.find_first_of(" ()") == std::string::npos;
    if (!email && !phone) continue;
    const std::string enc = corpus::url_encode(v.text);
    const std::string pre = "/search?q=";
    const std::string text = pre + enc + "&page=1";
    const auto spans = scan(text);
    Tally& t = tallies[v.kind];
    ++t.total;
    const bool ok = std::any_of(spans.begin(), spans.end(), [&](const Span& s) {
      return s.kind == v.kind && s.begin == pre.size() && s.end == pre.size() + enc.size();
    });
    if (ok) {
      ++t.hit;
    } else {
      ++t.missed_formats[v.format];
    }
  }
  report("percent-encoded in a query", tallies, 0.99);
}

// Every offset across the 64-byte blocks of the mask pass and Hyperscan's view alike.
TEST_F(DetectTest, RecallAtEveryOffset) {
  std::map<std::string, const LabelledValue*> one_per_format;
  for (const auto& v : *values_) one_per_format.emplace(v.format, &v);
  std::map<Kind, Tally> tallies;
  for (const auto& [format, v] : one_per_format) {
    for (size_t offset = 0; offset < 140; ++offset) {
      const std::string text = std::string(offset, ' ') + v->text + " ; tail";
      const auto spans = scan(text);
      Tally& t = tallies[v->kind];
      ++t.total;
      if (found_exactly(spans, *v, offset)) {
        ++t.hit;
      } else {
        ++t.missed_formats[format];
      }
    }
  }
  report("at offsets 0..139", tallies, 1.0);
}

// ---------------------------------------------------------------------------------------------
// Look-alikes.

TEST_F(DetectTest, LookalikesAreNotDetected) {
  std::map<std::string, std::pair<size_t, size_t>> per_category;  // (false positives, total)
  std::map<std::string, std::map<std::string, size_t>> kinds_found;
  for (const auto& v : *lookalikes_) {
    const auto spans = scan(v.text);
    auto& [fp, total] = per_category[v.format];
    ++total;
    if (!spans.empty()) {
      ++fp;
      for (const Span& s : spans) ++kinds_found[v.format][std::string(to_string(s.kind))];
    }
  }
  std::printf("  look-alikes (false positives / total)\n");
  size_t all_fp = 0;
  for (const auto& [category, counts] : per_category) {
    std::printf("    %-28s %3zu / %3zu\n", category.c_str(), counts.first, counts.second);
    for (const auto& [kind, n] : kinds_found[category]) {
      std::printf("      as %s: %zu\n", kind.c_str(), n);
    }
    all_fp += counts.first;
  }
  EXPECT_EQ(all_fp, 0u);
}

TEST_F(DetectTest, LookalikesInsideJsonAreNotDetected) {
  std::string doc = "{";
  for (size_t i = 0; i < lookalikes_->size(); ++i) {
    doc +=
        "\"k" + std::to_string(i) + "\":\"" + corpus::json_escape((*lookalikes_)[i].text) + "\",";
  }
  doc += "\"end\":true}";
  const auto spans = scan(doc);
  EXPECT_TRUE(spans.empty()) << spans.size() << " spans";
  EXPECT_TRUE(detectors_->clean(doc, *scratch_));
}

// ---------------------------------------------------------------------------------------------
// Exact behaviour on chosen texts.

struct Expect {
  std::string text;
  std::vector<std::pair<std::string, Kind>> found;  // the detected substrings, in order
};

void expect_spans(Detectors& d, Scratch& s, const Expect& e) {
  std::vector<Span> spans;
  d.scan(e.text, s, spans);
  std::vector<std::pair<std::string, Kind>> got;
  for (const Span& sp : spans)
    got.emplace_back(e.text.substr(sp.begin, sp.end - sp.begin), sp.kind);
  EXPECT_EQ(got, e.found) << "in: " << e.text;
  EXPECT_EQ(d.clean(e.text, s), spans.empty()) << "in: " << e.text;
}

TEST_F(DetectTest, BoundariesAndShapes) {
  const Expect cases[] = {
      {"x4111111111111111", {}},
      {"4111111111111111x", {}},
      {"04111111111111111", {}},
      {"4111111111111111.5", {}},
      {"id_4111111111111111", {}},
      {"card:4111111111111111,", {{"4111111111111111", Kind::kCard}}},
      {"\\n4111111111111111", {{"4111111111111111", Kind::kCard}}},
      {"%0A4111111111111111", {{"4111111111111111", Kind::kCard}}},
      {"4111 1111 1111 1111 2025", {{"4111 1111 1111 1111", Kind::kCard}}},
      {"4111-1111-1111-1111-22", {}},
      {"4111 1111-1111 1111", {}},
      {"a+14155552671", {}},
      {"tel:+14155552671", {{"+14155552671", Kind::kPhone}}},
      {"4155552671", {}},
      {"call 415-555-2671.", {{"415-555-2671", Kind::kPhone}}},
      {"415-555-2671-99", {}},
      // the 00 international prefix, in groups only
      {"tel 0049 30 901820.", {{"0049 30 901820", Kind::kPhone}}},
      {"0044-20-7946-0958", {{"0044-20-7946-0958", Kind::kPhone}}},
      {"0033 1 23 45 67 89", {{"0033 1 23 45 67 89", Kind::kPhone}}},
      {"id 00493090182000", {}},
      // a country code in parentheses
      {"tel (+44) 20 7946 0958.", {{"(+44) 20 7946 0958", Kind::kPhone}}},
      {"(+91) 98765 43210", {{"(+91) 98765 43210", Kind::kPhone}}},
      {"f(+44) 20 7946 0958", {}},
      {"(+0) 20 7946 0958", {}},
      {"000 1234 5678", {}},
      {"00 12 34", {}},
      {"123-456-7890", {}},
      {"1.2.3.4.5", {}},
      {"v1.2.3.4", {}},
      {"10.0.0.0/8", {{"10.0.0.0", Kind::kIpv4}}},
      {"10.0.0.1:8080", {{"10.0.0.1", Kind::kIpv4}}},
      {"http://192.168.1.20/x", {{"192.168.1.20", Kind::kIpv4}}},
      {"Chrome/122.0.0.0", {}},
      {"256.1.1.1", {}},
      {"[2001:db8::1]:443", {{"2001:db8::1", Kind::kIpv6}}},
      {"fe80::1%eth0", {{"fe80::1", Kind::kIpv6}}},
      {"the end ::1.", {{"::1", Kind::kIpv6}}},
      {"std::vector<int>", {}},
      {"Foo::Bar", {}},
      {"12:34:56", {}},
      {"00:1a:2b:3c:4d:5e", {}},
      {"::", {}},
      {"mailto:Jane.Doe+x@Mail.Example.com.", {{"Jane.Doe+x@Mail.Example.com", Kind::kEmail}}},
      {"<jane@example.org>", {{"jane@example.org", Kind::kEmail}}},
      {"%3Cjane@example.org%3E", {{"jane@example.org", Kind::kEmail}}},
      {"\\u003cjane@example.org\\u003e", {{"jane@example.org", Kind::kEmail}}},
      {"a..b@example.org", {}},
      {"jane@example", {}},
      {"jane@example.c0m", {}},
      {"000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000", {}},
      {"ssn=078-05-1120;", {{"078-05-1120", Kind::kSsn}}},
      {"XDE89370400440532013000", {}},
      {"DE89370400440532013001", {}},
      {"iban: DE89 3704 0044 0532 0130 00.", {{"DE89 3704 0044 0532 0130 00", Kind::kIban}}},
      // in lower case, as typed into forms (2026-12-07: in groups, its tail was read as a phone
      // number and its head kept)
      {"iban: de89 3704 0044 0532 0130 00.", {{"de89 3704 0044 0532 0130 00", Kind::kIban}}},
      {"gb82west12345698765432", {{"gb82west12345698765432", Kind::kIban}}},
      {"de89370400440532013001", {}},
      {"xde89370400440532013000", {}},
      {"De89370400440532013000", {}},
      {"id=550e8400-e29b-41d4-a716-446655440000&x",
       {{"550e8400-e29b-41d4-a716-446655440000", Kind::kUuid}}},
      {"%2F550e8400-e29b-41d4-a716-446655440000",
       {{"550e8400-e29b-41d4-a716-446655440000", Kind::kUuid}}},
      {"Bearer realm=\"api\", error=\"invalid_token\"", {}},
      {"Token expired for user 12", {}},
      {"Basic authentication required", {}},
      {"Authorization: Basic dXNlcjpwYXNzd29yZA==", {{"dXNlcjpwYXNzd29yZA==", Kind::kBearer}}},
      {"MyToken abcdef123456789", {}},
      // at the end of a sentence (2026-12-07: never found when the credential held a '.')
      {"your details: Bearer rSxrnR87LEWH0_nNm.Mr.QeZkPnw8l_IThlj.Gjnse.\nBye",
       {{"rSxrnR87LEWH0_nNm.Mr.QeZkPnw8l_IThlj.Gjnse", Kind::kBearer}}},
      {"use Bearer abcdef123456789.", {{"abcdef123456789", Kind::kBearer}}},
      {"use Bearer abcdef123456789..", {{"abcdef123456789", Kind::kBearer}}},
      {"Bearer abcdef123456789.=x", {}},
      {"your details: Basic bGkxMjpCUXY3cVl4bQ==.\nBye", {{"bGkxMjpCUXY3cVl4bQ==", Kind::kBearer}}},
      {"Basic bGkxMjpCUXY3cVl4bQ==.x", {}},
      {"token%20abcdef123456789", {{"abcdef123456789", Kind::kBearer}}},
      {"boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW", {}},
      {"/api/v1/customers/8812/orders/1000234", {}},
      {"see /reset/3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c/confirm",
       {{"3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c", Kind::kSecret}}},
      {"key=3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c&x=1",
       {{"3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c", Kind::kSecret}}},
      {"sig=q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=",
       {{"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=", Kind::kSecret}}},
      {"logo@2x.png and @media print", {}},
      // A host's last label and its path are not one base64 run: each segment is judged alone.
      {"https://cdn.example.com/img/SKU-6697-J/5e8791658ded.jpg", {}},
      {"https://files.example.com/dl/q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA",
       {{"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA", Kind::kSecret}}},
      // After a '.', base64 with '/' in it is still one secret.
      {"cfg.q83vEjRW/eJCrze8SNFZ4kKvN7xI0Vni/Qq83vEjRWeJA=",
       {{"q83vEjRW/eJCrze8SNFZ4kKvN7xI0Vni/Qq83vEjRWeJA=", Kind::kSecret}}},
  };
  for (const Expect& e : cases) expect_spans(*detectors_, *scratch_, e);
}

TEST_F(DetectTest, OverlapResolution) {
  const std::string jwt =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
      "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
  const Expect cases[] = {
      // the credential after "Bearer" is the JWT: one span, kind jwt
      {"Authorization: Bearer " + jwt, {{jwt, Kind::kJwt}}},
      // the IPv4 inside an IPv6 address is part of the longer span
      {"from ::ffff:192.0.2.128 today", {{"::ffff:192.0.2.128", Kind::kIpv6}}},
      // a phone inside an email
      {"+14155552671@sms.example.com", {{"+14155552671@sms.example.com", Kind::kEmail}}},
      // a UUID inside a run of base64 bytes stays a uuid; the rest is no secret
      {"user-550e8400-e29b-41d4-a716-446655440000",
       {{"550e8400-e29b-41d4-a716-446655440000", Kind::kUuid}}},
      // a secret around a uuid keeps its random remainder
      {"550e8400-e29b-41d4-a716-446655440000-q83vEjRWeJCrze8SNFZ4kKvN7xI0",
       {{"550e8400-e29b-41d4-a716-446655440000", Kind::kUuid},
        {"q83vEjRWeJCrze8SNFZ4kKvN7xI0", Kind::kSecret}}},
      // a GitHub token is a bearer credential, not a secret
      {"ghp_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83v",
       {{"ghp_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83v", Kind::kBearer}}},
  };
  for (const Expect& e : cases) expect_spans(*detectors_, *scratch_, e);
}

// JWTs some issuers write in standard base64 ('+', '/', '=' padding) are JWTs to their end; a
// '/' after a base64url signature of a signature's length ends the JWT (2026-12-07, fuzz_scrub:
// the detector stopped at a '/' in a signature and left the rest of it).
TEST_F(DetectTest, JwtInStandardBase64) {
  const std::string head = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.";
  const std::string body = "eyJzdWIiOiIxMjM0NTY3ODkwIn0";  // {"sub":"1234567890"}
  const std::string url = head + body + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
  // SHA-256 of "3" in standard base64: a '+' and a '/' inside, '=' at the end
  const std::string std_sig = "TgdAhWK+24tgzgXB3s/jrRa3IjCWfeAfZAt+Rym0n84";
  const std::string std_jwt = head + body + "=." + std_sig + "=";
  const Expect cases[] = {
      {"Bearer " + head + body + "." + std_sig, {{head + body + "." + std_sig, Kind::kJwt}}},
      {"token=" + std_jwt + "&x=1", {{std_jwt, Kind::kJwt}}},
      {url + "=", {{url + "=", Kind::kJwt}}},
      // padded header and payload, empty signature ({"alg":"none"}.{"x":1}.)
      {"t: eyJhbGciOiJub25lIn0=.eyJ4IjoxfQ==. ok",
       {{"eyJhbGciOiJub25lIn0=.eyJ4IjoxfQ==.", Kind::kJwt}}},
      // in a path: the segment after it is not the signature's, even where the two together
      // would be as long as a longer signature (43 + 1 + 20 = 64, HMAC-SHA-384's)
      {"/t/" + url + "/profile", {{url, Kind::kJwt}}},
      {"/t/" + url + "/order-history-export", {{url, Kind::kJwt}}},
      // a '/' that does not make the signature a signature's length: the JWT ends there and
      // the 15 bytes after it are no secret on their own
      {head + body + ".SUyGdkVu_-m3cy1dHgoZVRQR1f/D1edeVDRBAEi5G",
       {{head + body + ".SUyGdkVu_-m3cy1dHgoZVRQR1f", Kind::kJwt}}},
      // padding that cannot be: no JWT (its segments are judged as secrets)
      {head + body + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U==",
       {{head.substr(0, head.size() - 1), Kind::kSecret},
        {body, Kind::kSecret},
        {"dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U==", Kind::kSecret}}},
  };
  for (const Expect& e : cases) expect_spans(*detectors_, *scratch_, e);
}

// Internationalized addresses (RFC 6531) and an apostrophe in the local part (2026-12-07:
// "müller@example.de" was found from "ller", leaving "mü"; "o'brien@x.io" from "brien"; an IDN
// domain in Unicode was no address at all), raw and percent-encoded; punctuation past ASCII
// around an address is not part of it.
TEST_F(DetectTest, InternationalizedEmails) {
  const Expect cases[] = {
      {"mail müller@example.de", {{"müller@example.de", Kind::kEmail}}},
      {"jane@münchen.de", {{"jane@münchen.de", Kind::kEmail}}},
      {"иван@пример.рф", {{"иван@пример.рф", Kind::kEmail}}},
      {"李雷@例子.中国", {{"李雷@例子.中国", Kind::kEmail}}},
      {"x jane@ñandú.com.", {{"jane@ñandú.com", Kind::kEmail}}},
      {"{\"email\":\"zoë@café.fr\"}", {{"zoë@café.fr", Kind::kEmail}}},
      {"“jane@example.org”", {{"jane@example.org", Kind::kEmail}}},
      {"«jane@example.org»", {{"jane@example.org", Kind::kEmail}}},
      {"jane@example.org—next", {{"jane@example.org", Kind::kEmail}}},
      {"Zoë.O'Brien@x.io", {{"Zoë.O'Brien@x.io", Kind::kEmail}}},
      {"x='o'brien@x.io'", {{"o'brien@x.io", Kind::kEmail}}},
      {"/u?to=m%C3%BCller%40example.de&x=1", {{"m%C3%BCller%40example.de", Kind::kEmail}}},
      {"/u?to=jane%40m%C3%BCnchen.de&x=1", {{"jane%40m%C3%BCnchen.de", Kind::kEmail}}},
      {"/u?to=jane%40%C3%B1and%C3%BA.com", {{"jane%40%C3%B1and%C3%BA.com", Kind::kEmail}}},
      {"/u?q=%E2%80%9Cjane%40example.org%E2%80%9D", {{"jane%40example.org", Kind::kEmail}}},
      // not addresses: a one-letter TLD, a TLD with a symbol, a lone quote
      {"a@b.c€", {}},
      {"user@domain.c", {}},
      {"''@x.io", {}},
  };
  for (const Expect& e : cases) expect_spans(*detectors_, *scratch_, e);
}

TEST(DetectCheck, Utf8WordCharacters) {
  namespace dd = detect_detail;
  EXPECT_EQ(dd::utf8_word_char("ü", 0), 2u);
  EXPECT_EQ(dd::utf8_word_char("и", 0), 2u);
  EXPECT_EQ(dd::utf8_word_char("李", 0), 3u);
  EXPECT_EQ(dd::utf8_word_char("𠀀", 0), 4u);  // U+20000, CJK Extension B
  for (std::string_view not_word : {"a",
                                    "\xC2\xA0",
                                    "«",
                                    "»",
                                    "×",
                                    "÷",
                                    "“",
                                    "—",
                                    "€",
                                    "→",
                                    "、",
                                    "。",
                                    "！",
                                    "\xEF\xBB\xBF",
                                    "\xEF\xBF\xBD",
                                    "😀",
                                    "\xC0\xAF",
                                    "\xE0\x80\xAF",
                                    "\xED\xA0\x80",
                                    "\xC3",
                                    "\xE6\x9D",
                                    "\x80",
                                    "\xF5\x80\x80\x80"}) {
    EXPECT_EQ(dd::utf8_word_char(not_word, 0), 0u) << not_word;
  }
  const std::string text = "aü李b";
  EXPECT_EQ(dd::utf8_word_char_before(text, 3), 2u);
  EXPECT_EQ(dd::utf8_word_char_before(text, 6), 3u);
  EXPECT_EQ(dd::utf8_word_char_before(text, 1), 0u);
  EXPECT_EQ(dd::utf8_word_char_before(text, 5), 0u);  // inside 李
}

// A URL's user name and password (RFC 3986 userinfo) are one bearer span, never an e-mail made
// of the password and the host (2026-12-06: "https://jdoe:pw@partner.example.com" kept "jdoe" and
// tokenized the host as an address's domain).
TEST_F(DetectTest, UrlUserinfoIsACredential) {
  const Expect cases[] = {
      {"https://jdoe:s3cretPassw0rd@partner.example.com/cb",
       {{"jdoe:s3cretPassw0rd", Kind::kBearer}}},
      {"postgres://app:hunter2@db.internal:5432/shop", {{"app:hunter2", Kind::kBearer}}},
      {"redis://:p%40ss@cache:6379/0", {{":p%40ss", Kind::kBearer}}},
      {"{\"dsn\":\"amqp://guest:guest@10.0.0.7/\"}",
       {{"guest:guest", Kind::kBearer}, {"10.0.0.7", Kind::kIpv4}}},
      {"ftp://anna.kowalska@files.example.pl/x", {{"anna.kowalska", Kind::kBearer}}},
      // not a URL's userinfo: e-mails as before
      {"mailto:jane@example.org", {{"jane@example.org", Kind::kEmail}}},
      {"https://example.com/u/jane@example.org", {{"jane@example.org", Kind::kEmail}}},
      {"https://example.com/?to=jane@example.org", {{"jane@example.org", Kind::kEmail}}},
      {"://jane@example.org", {{"jane@example.org", Kind::kEmail}}},
      {"http://@example.org", {}},
  };
  for (const Expect& e : cases) expect_spans(*detectors_, *scratch_, e);
  // With e-mails off the userinfo is still found; with bearer off it is not, and is no e-mail.
  DetectorOptions o;
  o.kinds = {Kind::kBearer};
  auto bearer_only = make(o);
  ASSERT_TRUE(bearer_only);
  auto s1 = bearer_only->make_scratch();
  expect_spans(*bearer_only, *s1,
               {"https://jdoe:pw@host.example.com/", {{"jdoe:pw", Kind::kBearer}}});
  o.kinds = {Kind::kEmail};
  auto email_only = make(o);
  ASSERT_TRUE(email_only);
  auto s2 = email_only->make_scratch();
  expect_spans(*email_only, *s2, {"https://jdoe:pw@host.example.com/", {}});
}

// Texts up to 96 bytes go to Hyperscan only when they hold a byte pair that begins one of the
// built-in literal patterns (detect.cc, kBuiltinPairs). One short text per pattern, with no other
// such pair in it, so that a pair missing from the table loses that pattern here.
TEST_F(DetectTest, ShortTextsReachEveryLiteralPattern) {
  const Expect cases[] = {
      {"jo@example.com", {{"jo@example.com", Kind::kEmail}}},
      {"jo%40example.com", {{"jo%40example.com", Kind::kEmail}}},
      {"jo@ñandú.com", {{"jo@ñandú.com", Kind::kEmail}}},
      {"fe80::1", {{"fe80::1", Kind::kIpv6}}},
      // {"alg":"none"}.{"x":1}. : "yJ" is its only pair
      {"eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.", {{"eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.", Kind::kJwt}}},
      {"Bearer 9f86d081884c7d65", {{"9f86d081884c7d65", Kind::kBearer}}},
      {"basic+dXNlcjpwYXNz", {{"dXNlcjpwYXNz", Kind::kBearer}}},
      {"TOKEN%209f86d081884c7d65", {{"9f86d081884c7d65", Kind::kBearer}}},
      {"apikey 9f86d081884c7d65", {{"9f86d081884c7d65", Kind::kBearer}}},
      {"AKIAIOSFODNN7EXAMPLE", {{"AKIAIOSFODNN7EXAMPLE", Kind::kBearer}}},
      {"ghs_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83v",
       {{"ghs_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83v", Kind::kBearer}}},
      {"github_pat_11ABCDEFG0q83vEjRWeJCrze8SNFZ4kKvN7",
       {{"github_pat_11ABCDEFG0q83vEjRWeJCrze8SNFZ4kKvN7", Kind::kBearer}}},
      {"xoxb-2401-q83vEjRWeJCrze8SNFZ4", {{"xoxb-2401-q83vEjRWeJCrze8SNFZ4", Kind::kBearer}}},
      {"rk_test_q83vEjRWeJCrze8SNFZ4kKvN", {{"rk_test_q83vEjRWeJCrze8SNFZ4kKvN", Kind::kBearer}}},
      {"AIzaSyq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq",
       {{"AIzaSyq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq", Kind::kBearer}}},
  };
  for (const Expect& e : cases) {
    ASSERT_LE(e.text.size(), 96u) << e.text;
    expect_spans(*detectors_, *scratch_, e);
  }
}

TEST(DetectCustom, CustomOverlapsWithBuiltins) {
  DetectorOptions o;
  o.custom = {"\\d{3}-\\d{2}", "\\d{3}-\\d{2}-\\d{4}", "ID-\\d{3}-\\d{2}-\\d{4}-X"};
  auto d = make(o);
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  std::vector<Span> out;
  // the SSN is longer than regex 0; regex 1 has the same span and wins the tie
  d->scan("ssn 123-45-6789.", *s, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (Span{4, 15, Kind::kCustom, 1}));
  // regex 2 is longer than the SSN inside it
  out.clear();
  d->scan("ID-123-45-6789-X", *s, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (Span{0, 16, Kind::kCustom, 2}));
}

// The spans of one scan() of `t`.
std::vector<Span> spans_of(const Detectors& d, Scratch& s, std::string_view t) {
  std::vector<Span> out;
  d.scan(t, s, out);
  return out;
}

// A run of base64 bytes that is one UUID leaves its secret piece to be worked out only when the
// UUID loses to a longer candidate (detect.cc, kDeferred): then what the winner leaves of the
// run is still a secret when it reads as random, as when every run's piece was worked out first.
TEST(DetectCustom, LongerCandidateOverAUuidLeavesTheRestToSecrets) {
  DetectorOptions o;
  o.custom = {"ref [a-z]+ [0-9a-f]{8}-[0-9a-f]{4}"};
  auto d = make(o);
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  using V = std::vector<Span>;
  const std::string words = "ref abcdefghijklmnopqrstuvwxyzabcd ";
  const std::string uuid = "9f3b7c1e-5a2d-4e8f-b6c9-0d1e2f3a4b5c";
  // the regex takes the UUID's first 13 bytes (48 in all, longer than the UUID's 36); the rest,
  // "4e8f-b6c9-0d1e2f3a4b5c", is a secret
  EXPECT_EQ(spans_of(*d, *s, words + uuid),
            (V{{0, 48, Kind::kCustom, 0}, {49, 71, Kind::kSecret, 0}}));
  // a longer regex leaves too little for a secret (under 20 bytes): its span alone
  DetectorOptions o2;
  o2.custom = {"ref [a-z]+ [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}"};
  auto d2 = make(o2);
  ASSERT_TRUE(d2);
  auto s2 = d2->make_scratch();
  EXPECT_EQ(spans_of(*d2, *s2, words + uuid), (V{{0, 58, Kind::kCustom, 0}}));
  // no UUID (not hex enough): the regex's span alone
  EXPECT_EQ(spans_of(*d, *s, words + "9f3b7c1e-5a2d-4e8f-000000000000"),
            (V{{0, 48, Kind::kCustom, 0}}));
  // the UUID alone, and two in a row with a byte between: UUIDs, no secret
  EXPECT_EQ(spans_of(*d, *s, uuid), (V{{0, 36, Kind::kUuid, 0}}));
  EXPECT_EQ(spans_of(*d, *s, uuid + " 0d1e2f3a-4b5c-4e8f-96c9-9f3b7c1e5a2d"),
            (V{{0, 36, Kind::kUuid, 0}, {37, 73, Kind::kUuid, 0}}));
  // an allowed UUID is no uuid, and its run is judged as a secret as any other run
  DetectorOptions allow;
  allow.allow = {uuid};
  auto da = make(allow);
  ASSERT_TRUE(da);
  auto sa = da->make_scratch();
  EXPECT_EQ(spans_of(*da, *sa, "id " + uuid), V{});
}

// ---------------------------------------------------------------------------------------------
// Options.

// A text that is one UUID (a JSON id) is one uuid span, whatever number clusters its digit groups
// make; allowed, it is no uuid; a policy regex still sees inside it.
TEST(DetectOptions, TextThatIsOneUuid) {
  using V = std::vector<Span>;
  auto d = make();
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  for (std::string u :
       {"9f3b7c1e-5a2d-4e8f-b6c9-0d1e2f3a4b5c", "12345678-1234-1234-1234-123456789012",
        "9F3B7C1E-5A2D-4E8F-B6C9-0D1E2F3A4B5C"}) {
    EXPECT_EQ(spans_of(*d, *s, u), (V{{0, 36, Kind::kUuid, 0}})) << u;
    EXPECT_FALSE(d->clean(u, *s)) << u;
  }
  const std::string digits = "12345678-1234-1234-1234-123456789012";
  DetectorOptions allow;
  allow.allow = {digits};
  auto da = make(allow);
  ASSERT_TRUE(da);
  auto sa = da->make_scratch();
  for (const Span& sp : spans_of(*da, *sa, digits)) EXPECT_NE(sp.kind, Kind::kUuid);
  DetectorOptions custom;
  custom.custom = {"1234-12345678"};  // shorter than the UUID, which wins
  auto dc = make(custom);
  ASSERT_TRUE(dc);
  auto sc = dc->make_scratch();
  EXPECT_EQ(spans_of(*dc, *sc, digits), (V{{0, 36, Kind::kUuid, 0}}));
  custom.custom = {"[0-9a-f-]{36}"};  // as long: the regex wins the tie
  auto dc2 = make(custom);
  ASSERT_TRUE(dc2);
  auto sc2 = dc2->make_scratch();
  EXPECT_EQ(spans_of(*dc2, *sc2, digits), (V{{0, 36, Kind::kCustom, 0}}));
}

// A text that is one UTC timestamp holds nothing, whatever its digits; a policy regex still
// sees inside it, and so do secrets of 13 bytes or fewer (its "2024-03-07T12").
TEST(DetectOptions, TextThatIsOneTimestamp) {
  using V = std::vector<Span>;
  auto d = make();
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  for (const char* ts :
       {"2024-03-07T12:34:56Z", "2024-03-07T12:34:56.789Z", "1999-12-31T23:59:59.123456789Z",
        "4111-11-11T11:11:11.111Z", "9999-99-99T99:99:99.9Z"}) {
    EXPECT_EQ(spans_of(*d, *s, ts), V{}) << ts;
    EXPECT_TRUE(d->clean(ts, *s)) << ts;
  }
  DetectorOptions custom;
  custom.custom = {"\\d{4}-\\d{2}"};
  auto dc = make(custom);
  ASSERT_TRUE(dc);
  auto sc = dc->make_scratch();
  EXPECT_EQ(spans_of(*dc, *sc, "2024-03-07T12:34:56.789Z"), (V{{0, 7, Kind::kCustom, 0}}));
  DetectorOptions short_secrets;
  short_secrets.secret_min_length = 8;
  auto ds = make(short_secrets);
  ASSERT_TRUE(ds);
  auto ss = ds->make_scratch();
  EXPECT_EQ(spans_of(*ds, *ss, "9182-73-64T50:27:36.481Z"), (V{{0, 13, Kind::kSecret, 0}}));
  EXPECT_EQ(spans_of(*ds, *ss, "2024-03-07T12:34:56Z"), V{});
}

TEST(DetectOptions, AllowList) {
  DetectorOptions o;
  o.allow = {"127.0.0.1", "test@example.com"};
  auto d = make(o);
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  const std::string text = "from 127.0.0.1 and test@example.com to 10.0.0.1 and jo@example.com";
  std::vector<Span> out;
  d->scan(text, *s, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(text.substr(out[0].begin, out[0].end - out[0].begin), "10.0.0.1");
  EXPECT_EQ(text.substr(out[1].begin, out[1].end - out[1].begin), "jo@example.com");
  EXPECT_TRUE(d->clean("only 127.0.0.1 and test@example.com here", *s));
  EXPECT_FALSE(d->clean(text, *s));
}

TEST(DetectOptions, KindsSwitchDetectorsOff) {
  DetectorOptions o;
  o.kinds = {Kind::kEmail};
  auto d = make(o);
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  const std::string text = "+14155552671 10.0.0.1 4111111111111111 jo@example.com " +
                           std::string("3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c");
  std::vector<Span> out;
  d->scan(text, *s, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kEmail);
  // nothing switched on: nothing found, and build still works
  o.kinds.clear();
  auto none = make(o);
  ASSERT_TRUE(none);
  auto s2 = none->make_scratch();
  out.clear();
  none->scan(text, *s2, out);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(none->clean(text, *s2));
}

TEST(DetectOptions, SecretThresholds) {
  const std::string hex = "k=3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c";
  const std::string twelve = "k=aB3cD4eF5gH6aB3cD4eF5gH6";  // 12 symbols twice: ~3.9 bits
  DetectorOptions o;
  auto d = make(o);
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  EXPECT_FALSE(d->clean(hex, *s));
  EXPECT_FALSE(d->clean(twelve, *s));
  o.secret_min_length = 40;
  d = make(o);
  s = d->make_scratch();
  EXPECT_TRUE(d->clean(hex, *s));  // 32 < 40
  o.secret_min_length = 20;
  o.secret_min_entropy = 4.5;  // above what hex carries, but hex uses min(4.5, 3.0)
  d = make(o);
  s = d->make_scratch();
  EXPECT_FALSE(d->clean(hex, *s));
  EXPECT_TRUE(d->clean(twelve, *s));
}

// Where a key format is glued to other bytes it is no credential.
TEST(DetectOptions, KeyFormatsNeedBoundaries) {
  DetectorOptions o;
  o.kinds = {Kind::kBearer};
  auto d = make(o);
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  for (const char* text :
       {"xAKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLEX", "AKIAIOSFODNN7EXAMPL",
        "my_ghp_q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83v",
        "AIzaSyA1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVwXyZ12", "sk_live_short", "xoxb-abcdefghijklmnop"}) {
    EXPECT_TRUE(d->clean(text, *s)) << "case " << std::string_view(text).substr(0, 6);
  }
  EXPECT_FALSE(d->clean("key AKIAIOSFODNN7EXAMPLE.", *s));
  EXPECT_FALSE(d->clean("AIzaSyA1b2c3d4e5f6g7h8i9j0kLmNoPqRsTuVw", *s));
}

// ---------------------------------------------------------------------------------------------
// Policy regexes.

TEST(DetectCustom, HyperscanRegexes) {
  DetectorOptions o;
  o.custom = {"ORD-[0-9]{6}", "\\bcust_[a-z0-9]+\\b", "q.*?z", "(?i)secret-[a-z]{4}"};
  auto d = make(o);
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  const std::string text = "order ORD-123456 for cust_ab12 xcust_no q12z34z and SECRET-abcd.";
  std::vector<Span> out;
  d->scan(text, *s, out);
  std::vector<std::pair<std::string, uint16_t>> got;
  for (const Span& sp : out) {
    EXPECT_EQ(sp.kind, Kind::kCustom);
    got.emplace_back(text.substr(sp.begin, sp.end - sp.begin), sp.custom);
  }
  const std::vector<std::pair<std::string, uint16_t>> want = {
      {"ORD-123456", 0}, {"cust_ab12", 1}, {"q12z", 2}, {"SECRET-abcd", 3}};
  EXPECT_EQ(got, want);
  EXPECT_FALSE(d->clean(text, *s));
  EXPECT_TRUE(d->clean("nothing to see", *s));
}

TEST(DetectCustom, Re2OnlyRegexes) {
  // (?U) swaps greediness and \x{263a} is above \xFF: Hyperscan rejects both; \p{Greek} and
  // non-ASCII literals mean something else to Hyperscan's byte mode; k* matches the empty
  // string, which Hyperscan refuses.
  DetectorOptions o;
  o.custom = {"(?U)X\\d+", "\\x{263a}+", "\\p{Greek}+", "caf\xc3\xa9+", "k*"};
  auto d = make(o);
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  const std::string text =
      "X123 \xe2\x98\xba\xe2\x98\xba \xce\xb1\xce\xb2\xce\xb3 caf\xc3\xa9\xc3\xa9 kkk";
  std::vector<Span> out;
  d->scan(text, *s, out);
  std::vector<std::pair<std::string, uint16_t>> got;
  for (const Span& sp : out) got.emplace_back(text.substr(sp.begin, sp.end - sp.begin), sp.custom);
  const std::vector<std::pair<std::string, uint16_t>> want = {{"X1", 0},
                                                              {"\xe2\x98\xba\xe2\x98\xba", 1},
                                                              {"\xce\xb1\xce\xb2\xce\xb3", 2},
                                                              {"caf\xc3\xa9\xc3\xa9", 3},
                                                              {"kkk", 4}};
  EXPECT_EQ(got, want);
  EXPECT_FALSE(d->clean("only kk", *s));
  EXPECT_TRUE(d->clean("nothing", *s));
}

TEST(DetectCustom, BadRegexFailsNamingIt) {
  const std::vector<std::string> bad = {"(unclosed", "a(?=b)", "(a)\\1", "x{2,1}", "a++"};
  for (const std::string& re : bad) {
    DetectorOptions o;
    o.custom = {"fine[0-9]+", re};
    auto d = Detectors::build(o);
    ASSERT_FALSE(d.has_value()) << re;
    EXPECT_NE(d.error().message.find("policy regex 1"), std::string::npos) << d.error().message;
    EXPECT_NE(d.error().message.find(re), std::string::npos) << d.error().message;
  }
}

TEST(DetectCustom, ManyRegexesKeepTheirIndexes) {
  DetectorOptions o;
  for (int i = 0; i < 50; ++i) o.custom.push_back("tag" + std::to_string(i) + "-[0-9]{3}\\b");
  o.custom.push_back("(?U)zz\\d+");
  auto d = make(o);
  ASSERT_TRUE(d);
  auto s = d->make_scratch();
  std::string text;
  for (int i = 49; i >= 0; --i) text += "tag" + std::to_string(i) + "-123 ";
  text += "zz77";
  std::vector<Span> out;
  d->scan(text, *s, out);
  ASSERT_EQ(out.size(), 51u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(out[static_cast<size_t>(i)].custom, 49 - i);
  EXPECT_EQ(out[50].custom, 50);
  EXPECT_EQ(out[50].end - out[50].begin, 3u);
}

// ---------------------------------------------------------------------------------------------
// clean() and scan().

TEST_F(DetectTest, CleanAgreesWithScan) {
  size_t checked = 0;
  auto check = [&](std::string_view text) {
    ++checked;
    const bool empty = scan(text).empty();
    EXPECT_EQ(detectors_->clean(text, *scratch_), empty) << "scan found " << !empty;
  };
  for (const auto& v : *values_) {
    check(v.text);
    for (const Context& c : kContexts) {
      std::string text;
      size_t offset;
      if (c.wrap(v, text, offset)) check(text);
    }
  }
  for (const auto& v : *lookalikes_) {
    check(v.text);
    check("{\"v\":\"" + v.text + "\"}");
  }
  std::printf("  clean() == scan().empty() on %zu texts\n", checked);
}

// Random mixtures of values, look-alikes and separators: well-formed spans, clean() agrees,
// and values between hard separators are still found.
TEST_F(DetectTest, MixturesOfValuesAndLookalikes) {
  std::mt19937_64 rng(11);
  const std::array<std::string_view, 6> seps = {" ; ", "\",\"", "&x=", "\r\nX-A: ", " | ", "\n"};
  size_t total = 0;
  size_t found = 0;
  for (int round = 0; round < 400; ++round) {
    std::string text;
    std::vector<std::pair<size_t, const LabelledValue*>> placed;
    for (int k = 0; k < 12; ++k) {
      text += seps[rng() % seps.size()];
      if (rng() % 2 == 0) {
        const auto& v = (*values_)[rng() % values_->size()];
        placed.emplace_back(text.size(), &v);
        text += v.text;
      } else {
        text += (*lookalikes_)[rng() % lookalikes_->size()].text;
      }
    }
    text += seps[0];
    const auto spans = scan(text);
    expect_well_formed(spans, text.size());
    EXPECT_EQ(detectors_->clean(text, *scratch_), spans.empty());
    for (const auto& [offset, v] : placed) {
      ++total;
      found += found_exactly(spans, *v, offset);
    }
  }
  std::printf("  mixtures: %zu of %zu values found exactly\n", found, total);
  EXPECT_GE(static_cast<double>(found) / static_cast<double>(total), 0.99);
}

TEST_F(DetectTest, ScanAppendsAndStaysWellFormedOnABigDocument) {
  std::string doc = "[";
  for (size_t i = 0; i < values_->size(); ++i) {
    const auto& v = (*values_)[i];
    const auto& l = (*lookalikes_)[i % lookalikes_->size()];
    doc += "{\"i\":" + std::to_string(i) + ",\"v\":\"" + corpus::json_escape(v.text) +
           "\",\"l\":\"" + corpus::json_escape(l.text) + "\"},";
  }
  doc += "{}]";
  std::vector<Span> out = {Span{1, 2, Kind::kNone}};
  detectors_->scan(doc, *scratch_, out);
  ASSERT_GE(out.size(), values_->size() / 2);
  EXPECT_EQ(out[0], (Span{1, 2, Kind::kNone}));  // appended, not cleared
  out.erase(out.begin());
  expect_well_formed(out, doc.size());
}

TEST_F(DetectTest, RandomBytesAndTextDoNotBreakIt) {
  std::mt19937_64 rng(7);
  const std::string alphabet = "0123456789abcdefABCDEF:.-+/_@ ()%\\eyJ=\n";
  for (int round = 0; round < 300; ++round) {
    const size_t n = rng() % 3000;
    std::string text(n, '\0');
    for (auto& c : text) {
      c = round % 2 == 0 ? static_cast<char>(rng() & 0xFF) : alphabet[rng() % alphabet.size()];
    }
    const auto spans = scan(text);
    expect_well_formed(spans, text.size());
    EXPECT_EQ(detectors_->clean(text, *scratch_), spans.empty());
  }
  // long runs: a megabyte of base64, of digits, of colons and hex
  for (const char* unit : {"q83vEjRW+/", "4111 ", "fe80:", "a@b.", "::::", "eyJ."}) {
    std::string text;
    while (text.size() < (1u << 20)) text += unit;
    expect_well_formed(scan(text), text.size());
  }
  EXPECT_TRUE(scan("").empty());
  EXPECT_TRUE(detectors_->clean("", *scratch_));
}

TEST_F(DetectTest, ThreadsShareOneDetectors) {
  std::string doc;
  for (const auto& v : *values_) doc += v.text + " | ";
  const auto want = scan(doc);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto s = detectors_->make_scratch();
      bool same = true;
      for (int k = 0; k < 5; ++k) {
        std::vector<Span> got;
        detectors_->scan(doc, *s, got);
        same = same && got == want;
      }
      ok[static_cast<size_t>(i)] = same;
    });
  }
  for (auto& t : threads) t.join();
  for (int v : ok) EXPECT_TRUE(v);
}

// ---------------------------------------------------------------------------------------------
// Key names.

TEST_F(DetectTest, PersonKeys) {
  for (const char* key :
       {"author",      "owner",        "assignee",   "customer",          "user",
        "recipient",   "created_by",   "approvedBy", "ship_to",           "billTo",
        "assigned_to", "next_of_kin",  "care_of",    "emergency_contact", "attn",
        "Patient",     "primaryOwner", "shipto",     "authors",           "owners",
        "attendees",   "participants", "organizer"}) {
    EXPECT_TRUE(detectors_->person_key(key)) << key;
  }
  for (const char* key : {"title", "status", "owner_id", "customer_type", "user_agent", "userAgent",
                          "billing", "shipping", "by", "to", "path_to", "nearby", "standby",
                          "go_to", "", "__", "status", "news", "users_count"}) {
    EXPECT_FALSE(detectors_->person_key(key)) << key;
  }
}

TEST(NameShaped, FullNamesAndNotIdsOrLabels) {
  for (const char* v :
       {"Maria Gonzalez", "Jean-Luc O'Brien", "Ludwig van Beethoven", "J. R. Smith",
        "Ana María Pérez", "Łukasz Żak", "Zoë De la Cruz", "JOHN SMITH", "Mary Ann Lee Park"}) {
    EXPECT_TRUE(name_shaped(v)) << v;
  }
  for (const char* v :
       {"", "Maria", "admin", "cus_9a8b7c", "team-payments", "Maria  Gonzalez", " Maria Gonzalez",
        "Maria Gonzalez ", "maria gonzalez", "Maria gonzalez", "van Beethoven", "Maria Gonzalez2",
        "Maria Gonzalez (admin)", "A B C D E F", "Mozilla/5.0 Gecko", "R2 D2", "- -",
        "Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa Bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}) {
    EXPECT_FALSE(name_shaped(v)) << v;
  }
}

TEST_F(DetectTest, ClassifyKey) {
  struct Case {
    const char* key;
    const char* parent;
    Kind want;
  };
  const Case cases[] = {
      {"dob", "", Kind::kDob},
      {"date_of_birth", "", Kind::kDob},
      {"birthDate", "user", Kind::kDob},
      {"BIRTHDAY", "", Kind::kDob},
      {"bday", "", Kind::kDob},
      {"firstName", "", Kind::kName},
      {"last_name", "", Kind::kName},
      {"customer_first_name", "", Kind::kName},
      {"userfirstname", "", Kind::kName},
      {"surname", "", Kind::kName},
      {"displayName", "", Kind::kName},
      {"username", "", Kind::kName},
      {"name", "user", Kind::kName},
      {"name", "customers", Kind::kName},
      {"name", "billing_address", Kind::kName},
      {"name", "shipping", Kind::kName},
      {"name", "cardholder", Kind::kName},
      {"name", "product", Kind::kNone},
      {"name", "item", Kind::kNone},
      {"name", "sku", Kind::kNone},
      {"name", "category", Kind::kNone},
      {"name", "", Kind::kNone},
      {"customer_name", "", Kind::kName},
      {"contactName", "", Kind::kName},
      {"product_name", "", Kind::kNone},
      {"company_name", "user", Kind::kNone},
      {"hostname", "", Kind::kNone},
      {"filename", "", Kind::kNone},
      {"first", "name", Kind::kName},
      {"first", "page", Kind::kNone},
      {"street", "", Kind::kAddress},
      {"streetAddress", "", Kind::kAddress},
      {"address", "", Kind::kAddress},
      {"billing_address", "", Kind::kAddress},
      {"address_line_1", "", Kind::kAddress},
      {"line1", "address", Kind::kAddress},
      {"line1", "shippingAddress", Kind::kAddress},
      {"line1", "invoice_items", Kind::kNone},
      {"city", "", Kind::kAddress},
      {"zip", "", Kind::kAddress},
      {"postalCode", "", Kind::kAddress},
      {"post_code", "", Kind::kAddress},
      {"country", "", Kind::kNone},
      {"state", "", Kind::kNone},
      {"ip_address", "", Kind::kNone},
      {"remoteAddr", "", Kind::kNone},
      {"mac_address", "", Kind::kNone},
      {"email", "", Kind::kEmail},
      {"emailAddress", "", Kind::kEmail},
      {"email_address", "", Kind::kEmail},
      {"e-mail", "", Kind::kEmail},
      {"X-User-Email", "", Kind::kEmail},
      {"customeremail", "", Kind::kEmail},
      {"email_verified", "", Kind::kNone},
      {"phone", "", Kind::kPhone},
      {"phoneNumber", "", Kind::kPhone},
      {"mobile", "", Kind::kPhone},
      {"home_phone", "", Kind::kPhone},
      {"tel", "", Kind::kPhone},
      {"hotel", "", Kind::kNone},
      {"iphone", "", Kind::kNone},
      {"number", "phone", Kind::kPhone},
      {"ssn", "", Kind::kSsn},
      {"social_security_number", "", Kind::kSsn},
      {"tax_id", "", Kind::kSsn},
      // National and personal identifiers with a "number" word (2026-12-06: all were kept).
      {"ssn_number", "", Kind::kSsn},
      {"ssnNumber", "", Kind::kSsn},
      {"ssn_num", "", Kind::kSsn},
      {"tax_id_number", "", Kind::kSsn},
      {"taxNumber", "", Kind::kSsn},
      {"national_id_number", "", Kind::kSsn},
      {"identification_number", "", Kind::kSsn},
      {"passport", "", Kind::kSsn},
      {"passport_number", "", Kind::kSsn},
      {"passportNo", "", Kind::kSsn},
      {"number", "passport", Kind::kSsn},
      {"passport_country", "", Kind::kNone},
      {"passport_expiry", "", Kind::kNone},
      {"drivers_license", "", Kind::kSsn},
      {"driverLicenseNumber", "", Kind::kSsn},
      {"driving_licence_number", "", Kind::kSsn},
      {"number", "driversLicense", Kind::kSsn},
      {"license", "", Kind::kNone},
      {"license_number", "", Kind::kNone},
      {"license_key", "", Kind::kNone},
      {"number", "license", Kind::kNone},
      {"nino", "", Kind::kSsn},
      {"national_insurance_number", "", Kind::kSsn},
      {"mrn", "", Kind::kSsn},
      {"patient_mrn", "", Kind::kSsn},
      {"medical_record_number", "", Kind::kSsn},
      {"medicalRecordNo", "", Kind::kSsn},
      {"id_number", "", Kind::kNone},
      {"order_id_number", "", Kind::kNone},
      {"vat_number", "", Kind::kNone},
      {"account_number", "", Kind::kNone},
      {"routing_number", "", Kind::kNone},
      {"cardNumber", "", Kind::kCard},
      {"cc_number", "", Kind::kCard},
      {"pan", "", Kind::kCard},
      {"credit_card", "", Kind::kCard},
      {"number", "card", Kind::kCard},
      {"number", "order", Kind::kNone},
      {"cvv", "", Kind::kCard},
      {"iban", "", Kind::kIban},
      {"password", "", Kind::kBearer},
      {"new_password", "", Kind::kBearer},
      {"passwd", "", Kind::kBearer},
      {"pwd", "", Kind::kBearer},
      {"secret", "", Kind::kBearer},
      {"client_secret", "", Kind::kBearer},
      {"access_token", "", Kind::kBearer},
      {"refreshToken", "", Kind::kBearer},
      {"x-api-key", "", Kind::kBearer},
      {"X-Auth-Token", "", Kind::kBearer},
      {"Authorization", "", Kind::kBearer},
      {"Proxy-Authorization", "", Kind::kBearer},
      {"apiKey", "", Kind::kBearer},
      {"session_id", "", Kind::kBearer},
      {"JSESSIONID", "", Kind::kBearer},
      {"latitude", "", Kind::kGeo},
      {"homeLongitude", "", Kind::kGeo},
      {"lat", "", Kind::kGeo},
      {"lng", "location", Kind::kGeo},
      {"coordinates", "geometry", Kind::kGeo},
      {"platform", "", Kind::kNone},
      {"flat", "", Kind::kNone},
      {"latency", "", Kind::kNone},
      {"long", "", Kind::kNone},
      {"login", "", Kind::kName},
      {"user_login", "", Kind::kName},
      {"customerLogin", "", Kind::kName},
      {"last_login", "", Kind::kNone},
      {"login_count", "", Kind::kNone},
      {"loginUrl", "", Kind::kNone},
      {"screen_name", "", Kind::kName},
      {"login_hint", "", Kind::kName},
      {"userPrincipalName", "", Kind::kName},
      {"upn", "", Kind::kName},
      {"twitter", "", Kind::kName},
      {"github_handle", "", Kind::kName},
      {"handle", "", Kind::kNone},
      {"pin", "", Kind::kBearer},
      {"card_pin", "", Kind::kBearer},
      {"pinCode", "", Kind::kBearer},
      {"security_answer", "", Kind::kBearer},
      {"secretAnswer", "", Kind::kBearer},
      {"spin", "", Kind::kNone},
      {"pinned", "", Kind::kNone},
      {"pin_count", "", Kind::kNone},
      {"token_type", "", Kind::kNone},
      {"max_tokens", "", Kind::kNone},
      {"primary_key", "", Kind::kNone},
      {"Content-Type", "", Kind::kNone},
      {"X-Request-Id", "", Kind::kNone},
      {"price", "", Kind::kNone},
      // Keys in Spanish, German, French, Italian, Portuguese and Dutch, accents folded, the
      // qualifier last (2026-12-07: none of them was known, so "vorname": "Anna" stayed).
      {"nombre", "cliente", Kind::kName},
      {"nombre", "", Kind::kNone},
      {"nombre", "producto", Kind::kNone},
      {"nombre_cliente", "", Kind::kName},
      {"nombreDelCliente", "", Kind::kName},
      {"nombre_producto", "", Kind::kNone},
      {"nombre_archivo", "", Kind::kNone},
      {"apellidos", "", Kind::kName},
      {"Nombre_Completo", "", Kind::kName},
      {"correo_electrónico", "", Kind::kEmail},
      {"Teléfono", "", Kind::kPhone},
      {"telefono_del_usuario", "", Kind::kPhone},
      {"numeroTelefono", "", Kind::kPhone},
      {"fecha_de_nacimiento", "", Kind::kDob},
      {"dirección", "", Kind::kAddress},
      {"direccion_ip", "", Kind::kNone},
      {"código_postal", "", Kind::kAddress},
      {"contraseña", "", Kind::kBearer},
      {"dni", "", Kind::kSsn},
      {"Vorname", "", Kind::kName},
      {"nachname", "kunde", Kind::kName},
      {"Geburtsdatum", "", Kind::kDob},
      {"Straße", "", Kind::kAddress},
      {"PLZ", "", Kind::kAddress},
      {"E-Mail-Adresse", "", Kind::kEmail},
      {"IP-Adresse", "", Kind::kNone},
      {"Telefonnummer", "", Kind::kPhone},
      {"Passwort", "", Kind::kBearer},
      {"steuer_id", "", Kind::kSsn},
      {"prénom", "", Kind::kName},
      {"nom", "utilisateur", Kind::kName},
      {"nom_du_client", "", Kind::kName},
      {"nom_fichier", "", Kind::kNone},
      {"date_de_naissance", "", Kind::kDob},
      {"adresse_postale", "", Kind::kAddress},
      {"code_postal", "", Kind::kAddress},
      {"mot_de_passe", "", Kind::kBearer},
      {"cognome", "", Kind::kName},
      {"nome_utente", "", Kind::kName},
      {"nome", "prodotto", Kind::kNone},
      {"data_di_nascita", "", Kind::kDob},
      {"indirizzo", "", Kind::kAddress},
      {"codice_fiscale", "", Kind::kSsn},
      {"sobrenome", "", Kind::kName},
      {"endereço", "", Kind::kAddress},
      {"cpf", "", Kind::kSsn},
      {"senha", "", Kind::kBearer},
      {"voornaam", "", Kind::kName},
      {"naam_van_de_klant", "", Kind::kName},
      {"naam_bestand", "", Kind::kNone},
      {"geboortedatum", "", Kind::kDob},
      {"huisnummer", "", Kind::kAddress},
      {"nhs_number", "", Kind::kSsn},
      {"contact_number", "", Kind::kPhone},
      {"contactNo", "", Kind::kPhone},
      {"whatsapp", "", Kind::kPhone},
      {"po_box", "", Kind::kAddress},
      {"contact_id", "", Kind::kNone},
      // the qualifier last in English too, and what it must not take
      {"email_user", "", Kind::kEmail},
      {"phone_type", "", Kind::kNone},
      {"name_type", "", Kind::kNone},
      {"address_format", "", Kind::kNone},
      {"hotel_name", "", Kind::kNone},
      {"", "", Kind::kNone},
      {"___", "user", Kind::kNone},
      {"an_extremely_long_key_name_with_many_many_words_that_keeps_going_and_going_until_the_"
       "very_end_email",
       "", Kind::kEmail},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(detectors_->classify_key(c.key, c.parent), c.want)
        << "key '" << c.key << "' parent '" << c.parent << "'";
  }
}

}  // namespace
}  // namespace twin::scrubber
