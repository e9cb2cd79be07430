#include "twin/traffic/exchange.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "exchange_gen.h"

namespace twin::traffic {
namespace {

TEST(ExchangeEndpoint, ParsesAndPrintsIpv4) {
  const auto e = Endpoint::parse("192.0.2.10:8080");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->family, 4);
  EXPECT_EQ(e->address[0], 192);
  EXPECT_EQ(e->address[1], 0);
  EXPECT_EQ(e->address[2], 2);
  EXPECT_EQ(e->address[3], 10);
  for (size_t i = 4; i < 16; ++i) EXPECT_EQ(e->address[i], 0) << i;
  EXPECT_EQ(e->port, 8080);
  EXPECT_TRUE(e->known());
  EXPECT_EQ(e->to_string(), "192.0.2.10:8080");
  EXPECT_EQ(Endpoint::parse("0.0.0.0:0")->to_string(), "0.0.0.0:0");
  EXPECT_EQ(Endpoint::parse("255.255.255.255:65535")->to_string(), "255.255.255.255:65535");
}

TEST(ExchangeEndpoint, ParsesAndPrintsIpv6) {
  const auto e = Endpoint::parse("[::1]:443");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->family, 6);
  EXPECT_EQ(e->address[15], 1);
  EXPECT_EQ(e->port, 443);
  EXPECT_EQ(e->to_string(), "[::1]:443");
  // The canonical (RFC 5952) text comes back whatever the input spelling.
  EXPECT_EQ(Endpoint::parse("[2001:0db8:0000:0000:0000:0000:0000:0001]:80")->to_string(),
            "[2001:db8::1]:80");
  EXPECT_EQ(Endpoint::parse("[::ffff:192.0.2.1]:1")->to_string(), "[::ffff:192.0.2.1]:1");
  EXPECT_EQ(Endpoint::parse("[fe80::1:2:3:4]:65535")->port, 65535);
}

TEST(ExchangeEndpoint, UnknownPrintsEmpty) {
  Endpoint e;
  EXPECT_FALSE(e.known());
  EXPECT_EQ(e.to_string(), "");
}

TEST(ExchangeEndpoint, RejectsBadInput) {
  for (const char* bad : {"",
                          ":",
                          "1.2.3.4",
                          "1.2.3.4:",
                          "1.2.3.4:65536",
                          "1.2.3.4:-1",
                          "1.2.3.4:80x",
                          "1.2.3.4: 80",
                          "1.2.3:80",
                          "1.2.3.256:80",
                          "example.com:80",
                          "[::1]",
                          "[::1]:",
                          "[::1]443",
                          "::1:443",
                          "[::1:443",
                          "[1.2.3.4]:80",
                          "[::g]:80",
                          "[]:80",
                          "1.2.3.4:99999999999999999999"}) {
    EXPECT_FALSE(Endpoint::parse(bad).has_value()) << bad;
  }
}

TEST(ExchangeEndpoint, RoundTripsGeneratedEndpoints) {
  for (const auto& x : gen::generate_exchanges(3, 300)) {
    for (const Endpoint& e : {x.client, x.server}) {
      if (!e.known()) continue;
      const auto back = Endpoint::parse(e.to_string());
      ASSERT_TRUE(back.has_value()) << e.to_string();
      EXPECT_EQ(*back, e) << e.to_string();
    }
  }
}

TEST(ExchangeNames, ProtocolsRoundTrip) {
  for (auto p : {Protocol::kUnknown, Protocol::kHttp10, Protocol::kHttp11, Protocol::kHttp2}) {
    EXPECT_EQ(parse_protocol(to_string(p)), p) << to_string(p);
  }
  EXPECT_EQ(to_string(Protocol::kHttp11), "http/1.1");
  EXPECT_EQ(to_string(Protocol::kHttp2), "h2");
  EXPECT_FALSE(parse_protocol("HTTP/1.1").has_value());  // names are exact
  EXPECT_FALSE(parse_protocol("h3").has_value());
}

TEST(ExchangeNames, ErrorKindsRoundTrip) {
  std::set<std::string_view> seen;
  for (int i = 0; i <= static_cast<int>(ErrorKind::kOther); ++i) {
    const auto e = static_cast<ErrorKind>(i);
    EXPECT_EQ(parse_error_kind(to_string(e)), e) << i;
    EXPECT_TRUE(seen.insert(to_string(e)).second) << "duplicate name " << to_string(e);
  }
  EXPECT_EQ(to_string(ErrorKind::kNone), "none");
  EXPECT_FALSE(parse_error_kind("bogus").has_value());
}

TEST(ExchangeNames, FramingsRoundTrip) {
  for (int i = 0; i <= static_cast<int>(Framing::kHttp2); ++i) {
    const auto f = static_cast<Framing>(i);
    EXPECT_EQ(parse_framing(to_string(f)), f) << i;
  }
  EXPECT_EQ(to_string(Framing::kContentLength), "content-length");
  EXPECT_FALSE(parse_framing("Chunked").has_value());
}

TEST(ExchangeNames, FlagsRoundTrip) {
  std::set<std::string_view> seen;
  for (unsigned bit = 0; bit < 32; ++bit) {
    const auto f = static_cast<Flag>(1u << bit);
    if ((kKnownFlags & f) == 0) {
      EXPECT_EQ(flag_name(f), "unknown") << bit;
      continue;
    }
    EXPECT_EQ(parse_flag(flag_name(f)), f) << bit;
    EXPECT_TRUE(seen.insert(flag_name(f)).second);
  }
  EXPECT_EQ(seen.size(), 7u);
  EXPECT_EQ(flag_name(kFlagNoResponse), "no_response");
  EXPECT_FALSE(parse_flag("unknown").has_value());
  EXPECT_FALSE(parse_flag("bit:3").has_value());  // "bit:N" is JSONL's business
}

TEST(ExchangeHeaders, FindHeaderIsCaseInsensitive) {
  const Headers headers = {{":authority", "example.com"},
                           {"Content-Type", "text/html"},
                           {"X-Dup", "first"},
                           {"x-dup", "second"},
                           {"Content-Type-Extra", "no"}};
  ASSERT_NE(find_header(headers, "content-type"), nullptr);
  EXPECT_EQ(find_header(headers, "content-type")->value, "text/html");
  EXPECT_EQ(find_header(headers, "CONTENT-TYPE")->value, "text/html");
  EXPECT_EQ(find_header(headers, "x-DUP")->value, "first");  // the first match
  EXPECT_EQ(find_header(headers, ":Authority")->value, "example.com");
  EXPECT_EQ(find_header(headers, "content"), nullptr);  // no prefix match
  EXPECT_EQ(find_header(headers, "content-type-extra2"), nullptr);
  EXPECT_EQ(find_header(headers, ""), nullptr);
  EXPECT_EQ(find_header({}, "host"), nullptr);
}

TEST(ExchangeGen, IsDeterministicAndCoversTheCases) {
  const auto a = gen::generate_exchanges(99, 200);
  const auto b = gen::generate_exchanges(99, 200);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, gen::generate_exchanges(100, 200));
  std::set<ErrorKind> errors;
  uint32_t flags = 0;
  bool no_response = false, max_id = false, unknown_time = false, pseudo = false;
  for (const auto& x : a) {
    errors.insert(x.error);
    flags |= x.flags;
    no_response |= !x.response.has_value();
    max_id |= x.id == UINT64_MAX;
    unknown_time |= x.time.request_start == kNoTime;
    pseudo |= find_header(x.request.headers, ":path") != nullptr;
  }
  EXPECT_EQ(errors.size(), 9u);
  EXPECT_EQ(flags & kKnownFlags, kKnownFlags);
  EXPECT_NE(flags & ~kKnownFlags, 0u);
  EXPECT_TRUE(no_response && max_id && unknown_time && pseudo);
}

}  // namespace
}  // namespace twin::traffic
