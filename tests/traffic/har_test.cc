#include "twin/traffic/har.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "exchange_gen.h"
#include "twin/traffic/text.h"

namespace twin::traffic {
namespace {

using json = nlohmann::json;

const std::string kData = TWIN_TEST_DATA;

std::string temp_path(const std::string& name) { return testing::TempDir() + "har_test_" + name; }

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

Exchange through_har(const Exchange& x, uint64_t index = 0) {
  // Through text, as a file would carry it: dump() throws on invalid UTF-8, so this also
  // checks that every string in the entry is valid.
  const std::string text = to_har_entry(x).dump();
  Exchange out;
  const auto r = from_har_entry(json::parse(text), index, out);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return out;
}

// ---------------------------------------------------------------------------------------------
// twin → HAR → twin

TEST(HarRoundTrip, GeneratedExchanges) {
  for (const auto& x : gen::generate_exchanges(1, 500)) {
    ASSERT_EQ(through_har(x), x) << to_har_entry(x).dump(1).substr(0, 3000);
  }
}

TEST(HarRoundTrip, OtherSeedsIntoAReusedExchange) {
  Exchange out;
  for (uint64_t seed = 20; seed < 30; ++seed) {
    for (const auto& x : gen::generate_exchanges(seed, 60)) {
      const auto r = from_har_entry(json::parse(to_har_entry(x).dump()), 0, out);
      ASSERT_TRUE(r.has_value()) << r.error().message;
      ASSERT_EQ(out, x);
    }
  }
}

TEST(HarRoundTrip, ExtremeValues) {
  Exchange x;
  x.id = x.origin_id = x.session = x.seq = std::numeric_limits<uint64_t>::max();
  x.stream = std::numeric_limits<uint32_t>::max();
  x.protocol = Protocol::kHttp2;
  x.time = {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min() + 1, 0, -1,
            kNoTime};
  x.request.method = "";
  x.request.target = "";
  x.request.body_size = std::numeric_limits<uint64_t>::max();
  x.response.emplace();
  x.response->status = std::numeric_limits<int>::min();
  x.flags = 0xFFFFFFFFu;
  EXPECT_EQ(through_har(x), x);
  x.response->status = std::numeric_limits<int>::max();
  EXPECT_EQ(through_har(x), x);
}

TEST(HarRoundTrip, WholeDocumentThroughAFile) {
  gen::GenOptions options;
  options.huge_body = true;
  const auto exchanges = gen::generate_exchanges(4, 40, options);
  std::string doc = har_prefix("0.1.0-test");
  for (size_t i = 0; i < exchanges.size(); ++i) {
    if (i > 0) doc += ',';
    doc += to_har_entry(exchanges[i]).dump();
  }
  doc += har_suffix();
  const auto parsed = json::parse(doc);
  EXPECT_EQ(parsed["log"]["version"], "1.2");
  EXPECT_EQ(parsed["log"]["creator"], json({{"name", "twin"}, {"version", "0.1.0-test"}}));
  EXPECT_EQ(parsed["log"]["pages"], json::array());
  const std::string path = temp_path("whole.har");
  write_file(path, doc);
  const auto back = read_har_file(path);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  ASSERT_EQ(back->size(), exchanges.size());
  for (size_t i = 0; i < exchanges.size(); ++i) EXPECT_EQ((*back)[i], exchanges[i]) << i;
  std::remove(path.c_str());
}

TEST(HarRoundTrip, EmptyDocument) {
  const std::string path = temp_path("empty.har");
  write_file(path, har_prefix("1") + har_suffix());
  const auto back = read_har_file(path);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_TRUE(back->empty());
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------------------------
// What the standard fields hold

Exchange sample() {
  Exchange x;
  x.id = 12;
  x.session = 4;
  x.seq = 2;
  x.protocol = Protocol::kHttp11;
  x.time = {1709633472345000000, 1709633472346500000, 1709633472400000000, 1709633472410250000,
            kNoTime};
  x.server = *Endpoint::parse("192.0.2.7:443");
  x.request.method = "POST";
  x.request.target = "/login?next=%2Fhome&x";
  x.request.authority = "shop.example.com";
  x.request.headers = {{"Host", "shop.example.com"},
                       {"Content-Type", "application/x-www-form-urlencoded"},
                       {"Cookie", "a=1; b=two"}};
  x.request.body = "user=ann&pw=secret";
  x.request.body_size = x.request.body.size();
  x.request.framing = Framing::kContentLength;
  Response& r = x.response.emplace();
  r.status = 302;
  r.reason = "Found";
  r.headers = {{"Location", "/home"},
               {"Set-Cookie", "sid=xyz; Path=/; Domain=example.com; Secure; HttpOnly"},
               {"Content-Type", "image/png"},
               {"Content-Length", "9"}};
  r.body = std::string("\x89PNG\r\n\x1a\n\x00", 9);
  r.body_size = 9;
  r.framing = Framing::kContentLength;
  return x;
}

TEST(HarWrite, StandardFields) {
  const auto e = json::parse(to_har_entry(sample()).dump());
  EXPECT_EQ(e["startedDateTime"], "2024-03-05T10:11:12.345Z");
  EXPECT_DOUBLE_EQ(e["time"].get<double>(), 65.25);
  const auto& rq = e["request"];
  EXPECT_EQ(rq["method"], "POST");
  EXPECT_EQ(rq["url"], "https://shop.example.com/login?next=%2Fhome&x");  // port 443: https
  EXPECT_EQ(rq["httpVersion"], "HTTP/1.1");
  EXPECT_EQ(rq["queryString"], json::parse(R"([{"name":"next","value":"%2Fhome"},
                                               {"name":"x","value":""}])"));
  EXPECT_EQ(rq["cookies"], json::parse(R"([{"name":"a","value":"1"},{"name":"b","value":"two"}])"));
  EXPECT_EQ(rq["headers"][1],
            json({{"name", "Content-Type"}, {"value", "application/x-www-form-urlencoded"}}));
  EXPECT_EQ(rq["postData"]["mimeType"], "application/x-www-form-urlencoded");
  EXPECT_EQ(rq["postData"]["text"], "user=ann&pw=secret");
  EXPECT_EQ(rq["postData"]["params"], json::parse(R"([{"name":"user","value":"ann"},
                                                      {"name":"pw","value":"secret"}])"));
  EXPECT_EQ(rq["headersSize"], -1);
  EXPECT_EQ(rq["bodySize"], 18);
  const auto& rs = e["response"];
  EXPECT_EQ(rs["status"], 302);
  EXPECT_EQ(rs["statusText"], "Found");
  EXPECT_EQ(rs["redirectURL"], "/home");
  EXPECT_EQ(rs["cookies"][0]["name"], "sid");
  EXPECT_EQ(rs["cookies"][0]["value"], "xyz");
  EXPECT_EQ(rs["cookies"][0]["path"], "/");
  EXPECT_EQ(rs["cookies"][0]["domain"], "example.com");
  EXPECT_EQ(rs["cookies"][0]["secure"], true);
  EXPECT_EQ(rs["cookies"][0]["httpOnly"], true);
  EXPECT_EQ(rs["content"]["size"], 9);
  EXPECT_EQ(rs["content"]["mimeType"], "image/png");
  EXPECT_EQ(rs["content"]["encoding"], "base64");
  EXPECT_EQ(base64_decode(rs["content"]["text"].get<std::string>()), sample().response->body);
  EXPECT_EQ(e["cache"], json::object());
  EXPECT_EQ(e["timings"]["blocked"], -1);
  EXPECT_EQ(e["timings"]["dns"], -1);
  EXPECT_EQ(e["timings"]["connect"], -1);
  EXPECT_EQ(e["timings"]["ssl"], -1);
  EXPECT_DOUBLE_EQ(e["timings"]["send"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(e["timings"]["wait"].get<double>(), 53.5);
  EXPECT_DOUBLE_EQ(e["timings"]["receive"].get<double>(), 10.25);
  EXPECT_EQ(e["serverIPAddress"], "192.0.2.7");
  EXPECT_EQ(e["connection"], "4");
  // _twin holds what HAR cannot, as JSONL fields, exact.
  EXPECT_EQ(e["_twin"]["id"], 12);
  EXPECT_EQ(e["_twin"]["time"]["request_start"], 1709633472345000000);
  EXPECT_TRUE(e["_twin"]["time"]["intended"].is_null());
  EXPECT_EQ(e["_twin"]["request"]["target"], "/login?next=%2Fhome&x");
  EXPECT_FALSE(e["_twin"]["request"].contains("body"));
  EXPECT_FALSE(e["_twin"]["request"].contains("headers"));  // all UTF-8: in request.headers
  EXPECT_EQ(e["_twin"]["response"]["reason"], "Found");
}

TEST(HarWrite, NoResponseAndBytesThatAreNotUtf8) {
  Exchange x = sample();
  x.response.reset();
  x.error = ErrorKind::kTimeout;
  x.flags = kFlagNoResponse;
  x.server = {};
  x.request.authority.clear();
  x.request.headers.push_back({"X-Bin", "\xff"});
  x.request.body = "\xc0\xaf";
  x.request.body_size = 2;
  x.time.request_start = kNoTime;
  x.time.response_start = x.time.response_end = kNoTime;
  const auto e = json::parse(to_har_entry(x).dump());
  EXPECT_EQ(e["startedDateTime"], "1970-01-01T00:00:00.000Z");  // required: the epoch
  EXPECT_EQ(e["time"], 0.0);
  EXPECT_EQ(e["request"]["url"], "http://unknown.invalid/login?next=%2Fhome&x");
  EXPECT_EQ(e["request"]["headers"][3]["value"], "\xef\xbf\xbd");
  EXPECT_EQ(e["request"]["postData"]["encoding"], "base64");
  EXPECT_EQ(e["request"]["postData"]["text"], "wK8=");
  EXPECT_EQ(e["response"]["status"], 0);
  EXPECT_EQ(e["response"]["_error"], "timeout");
  EXPECT_FALSE(e.contains("serverIPAddress"));
  EXPECT_TRUE(e["_twin"]["response"].is_null());
  EXPECT_EQ(e["_twin"]["request"]["headers"][3], json::array({"WC1CaW4=", "/w==", "base64"}));
  EXPECT_TRUE(e["_twin"]["time"]["request_start"].is_null());
  EXPECT_EQ(through_har(x), x);
}

TEST(HarWrite, GeneratedEntriesHaveTheRequiredHarFields) {
  for (const auto& x : gen::generate_exchanges(6, 200)) {
    const auto e = json::parse(to_har_entry(x).dump());
    const std::string started = e["startedDateTime"];
    ASSERT_EQ(started.size(), 24u) << started;  // YYYY-MM-DDTHH:MM:SS.mmmZ
    // Milliseconds truncate toward the past, so the very lowest instants fall out of range.
    if (x.time.request_start > std::numeric_limits<int64_t>::min() + 1'000'000) {
      ASSERT_TRUE(parse_rfc3339(started).has_value()) << started;
    }
    ASSERT_GE(e["time"].get<double>(), 0);
    for (const char* k : {"send", "wait", "receive"}) ASSERT_GE(e["timings"][k].get<double>(), 0);
    for (const char* k : {"method", "url", "httpVersion", "cookies", "headers", "queryString",
                          "headersSize", "bodySize"}) {
      ASSERT_TRUE(e["request"].contains(k)) << k;
    }
    const std::string url = e["request"]["url"];
    ASSERT_TRUE(url.starts_with("http://") || url.starts_with("https://")) << url;
    for (const char* k : {"status", "statusText", "httpVersion", "cookies", "headers", "content",
                          "redirectURL", "headersSize", "bodySize"}) {
      ASSERT_TRUE(e["response"].contains(k)) << k;
    }
    ASSERT_TRUE(e["response"]["content"].contains("size"));
    ASSERT_TRUE(e["response"]["content"].contains("mimeType"));
    ASSERT_TRUE(e["cache"].is_object());
  }
}

// ---------------------------------------------------------------------------------------------
// Browser exports. Expected values are read off the fixtures by hand.

constexpr int64_t kMs = 1'000'000;

TEST(HarImport, Chromium) {
  const auto r = read_har_file(kData + "/har/chromium.har");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const auto& xs = *r;
  ASSERT_EQ(xs.size(), 5u);

  // 0: the page, over HTTP/2 with pseudo-headers.
  const int64_t t0 = 1709633472345 * kMs;  // 2024-03-05T10:11:12.345Z
  EXPECT_EQ(xs[0].id, 1u);
  EXPECT_EQ(xs[0].session, 218532u);
  EXPECT_EQ(xs[0].seq, 0u);
  EXPECT_EQ(xs[0].stream, 0u);
  EXPECT_EQ(xs[0].protocol, Protocol::kHttp2);
  EXPECT_EQ(xs[0].request.method, "GET");
  EXPECT_EQ(xs[0].request.target, "/?ref=home");
  EXPECT_EQ(xs[0].request.authority, "shop.example.com");
  ASSERT_EQ(xs[0].request.headers.size(), 11u);
  EXPECT_EQ(xs[0].request.headers[0], (Header{":authority", "shop.example.com"}));
  EXPECT_EQ(xs[0].request.headers[2], (Header{":path", "/?ref=home"}));
  EXPECT_EQ(xs[0].request.headers[7], (Header{"cookie", "session=3f9a1c; theme=dark"}));
  EXPECT_EQ(xs[0].request.body, "");
  EXPECT_EQ(xs[0].request.framing, Framing::kNone);
  EXPECT_EQ(xs[0].server.to_string(), "[2001:db8::10]:443");
  EXPECT_FALSE(xs[0].client.known());
  EXPECT_EQ(xs[0].time.request_start, t0);
  EXPECT_EQ(xs[0].time.request_end, t0 + 42'400'000);      // 1.5 + 10.2 + 30.4 + 0.3 ms
  EXPECT_EQ(xs[0].time.response_start, t0 + 112'900'000);  // + wait 70.5 ms
  EXPECT_EQ(xs[0].time.response_end, t0 + 123'456'000);    // time 123.456 ms
  EXPECT_EQ(xs[0].time.intended, kNoTime);
  ASSERT_TRUE(xs[0].response.has_value());
  EXPECT_EQ(xs[0].response->status, 200);
  EXPECT_EQ(xs[0].response->reason, "");
  EXPECT_EQ(xs[0].response->headers.size(), 6u);
  EXPECT_EQ(xs[0].response->body,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Shop</title></head><body><h1>"
            "Caf\xc3\xa9 Shop</h1></body></html>\n");
  EXPECT_EQ(xs[0].response->body_size, 104u);
  EXPECT_EQ(xs[0].response->framing, Framing::kHttp2);
  EXPECT_EQ(xs[0].error, ErrorKind::kNone);
  EXPECT_EQ(xs[0].flags, 0u);

  // 1: a JSON POST on the same connection ("h2" spelling).
  const int64_t t1 = 1709633473001 * kMs;
  EXPECT_EQ(xs[1].id, 2u);
  EXPECT_EQ(xs[1].session, 218532u);
  EXPECT_EQ(xs[1].seq, 1u);
  EXPECT_EQ(xs[1].protocol, Protocol::kHttp2);
  EXPECT_EQ(xs[1].request.method, "POST");
  EXPECT_EQ(xs[1].request.target, "/api/cart");
  EXPECT_EQ(xs[1].request.body, "{\"sku\":\"A-100\",\"qty\":2}");
  EXPECT_EQ(xs[1].request.body_size, 23u);
  EXPECT_EQ(xs[1].request.framing, Framing::kHttp2);
  EXPECT_EQ(xs[1].response->status, 201);
  EXPECT_EQ(xs[1].response->body, "{\"id\":981,\"items\":2,\"ok\":1}");
  EXPECT_EQ(xs[1].time.request_start, t1);
  EXPECT_EQ(xs[1].time.request_end, t1 + 1 * kMs);
  EXPECT_EQ(xs[1].time.response_start, t1 + 46 * kMs);
  EXPECT_EQ(xs[1].time.response_end, t1 + 47 * kMs);

  // 2: a PNG over HTTP/1.1, base64 in the HAR.
  const int64_t t2 = 1709633472502 * kMs;
  EXPECT_EQ(xs[2].id, 3u);
  EXPECT_EQ(xs[2].session, 218601u);
  EXPECT_EQ(xs[2].seq, 0u);
  EXPECT_EQ(xs[2].protocol, Protocol::kHttp11);
  EXPECT_EQ(xs[2].request.target, "/img/logo.png?v=3");
  EXPECT_EQ(xs[2].request.authority, "cdn.example.com");
  EXPECT_EQ(xs[2].server.to_string(), "93.184.216.34:80");
  EXPECT_EQ(xs[2].response->status, 200);
  EXPECT_EQ(xs[2].response->reason, "OK");
  ASSERT_EQ(xs[2].response->body.size(), 70u);
  EXPECT_EQ(xs[2].response->body.substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_EQ(xs[2].response->body.substr(66), "\xae\x42\x60\x82");  // IEND's CRC
  EXPECT_EQ(xs[2].response->framing, Framing::kContentLength);
  EXPECT_EQ(xs[2].time.request_end, t2 + 10'850'000);  // 0.25 + 2 + 8.5 + 0.1 ms
  EXPECT_EQ(xs[2].time.response_start, t2 + 20'250'000);
  EXPECT_EQ(xs[2].time.response_end, t2 + 20'750'000);

  // 3: a font whose body was not saved: size kept, flagged.
  EXPECT_EQ(xs[3].id, 4u);
  EXPECT_EQ(xs[3].seq, 2u);
  EXPECT_EQ(xs[3].request.target, "/fonts/inter.woff2");
  EXPECT_EQ(xs[3].response->body, "");
  EXPECT_EQ(xs[3].response->body_size, 23456u);
  EXPECT_EQ(xs[3].flags, static_cast<uint32_t>(kFlagResponseBodyTruncated));
  EXPECT_EQ(xs[3].time.response_end, 1709633472480 * kMs + 35'200'000);

  // 4: refused: status 0, no content.
  const int64_t t4 = 1709633472610 * kMs;
  EXPECT_EQ(xs[4].id, 5u);
  EXPECT_EQ(xs[4].session, 0u);
  EXPECT_EQ(xs[4].protocol, Protocol::kUnknown);
  EXPECT_EQ(xs[4].request.method, "GET");
  EXPECT_EQ(xs[4].request.target, "/collect?id=5&ev=view");
  EXPECT_EQ(xs[4].request.authority, "tracker.example.net");
  EXPECT_FALSE(xs[4].server.known());
  EXPECT_FALSE(xs[4].response.has_value());
  EXPECT_EQ(xs[4].error, ErrorKind::kConnect);
  EXPECT_EQ(xs[4].flags, static_cast<uint32_t>(kFlagNoResponse));
  EXPECT_EQ(xs[4].time.request_start, t4);
  EXPECT_EQ(xs[4].time.request_end, t4 + 2'100'000);
  EXPECT_EQ(xs[4].time.response_start, kNoTime);
  EXPECT_EQ(xs[4].time.response_end, kNoTime);
}

// A HAR recorded by a real headless Chromium (through playwright-core) of the requests that
// tests/data/har/record_chromium.js makes to examples/shop; the expectations are what that
// script asks for and what the shop is specified to answer (examples/shop/README.md).
TEST(HarImport, RecordedByARealChromium) {
  const auto r = read_har_file(kData + "/har/chromium-recorded.har");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const auto& xs = *r;
  const std::vector<std::tuple<std::string, std::string, int>> expected = {
      {"GET", "/healthz", 200},
      {"POST", "/api/login", 401},
      {"GET", "/api/users?limit=1&offset=0", 200},
      {"POST", "/api/login", 200},
      {"GET", "/api/users/1", 200},
      {"GET", "/api/search?q=widget&limit=2", 200},
      {"GET", "/static/logo.png", 200},
      {"GET", "/no/such/path", 404},
  };
  ASSERT_EQ(xs.size(), expected.size());
  int64_t previous_start = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const auto& [method, target, status] = expected[i];
    EXPECT_EQ(xs[i].id, i + 1);
    EXPECT_EQ(xs[i].protocol, Protocol::kHttp11) << i;
    EXPECT_EQ(xs[i].request.method, method) << i;
    EXPECT_EQ(xs[i].request.target, target) << i;
    EXPECT_EQ(xs[i].request.authority.rfind("127.0.0.1:", 0), 0u) << xs[i].request.authority;
    ASSERT_TRUE(xs[i].response.has_value()) << i;
    EXPECT_EQ(xs[i].response->status, status) << i;
    EXPECT_GE(xs[i].time.request_start, previous_start) << i;
    EXPECT_GE(xs[i].time.response_end, xs[i].time.request_start) << i;
    previous_start = xs[i].time.request_start;
  }
  // The login bodies are the JSON the script posted.
  const auto login = json::parse(xs[3].request.body);
  EXPECT_TRUE(login.contains("email"));
  EXPECT_EQ(login["password"], "secret-1");
  EXPECT_EQ(xs[3].request.framing, Framing::kContentLength);
  // The token from the login is the bearer token of the next request.
  const auto token = json::parse(xs[3].response->body)["token"].get<std::string>();
  const Header* auth = find_header(xs[4].request.headers, "authorization");
  ASSERT_NE(auth, nullptr);
  EXPECT_EQ(auth->value, "Bearer " + token);
  // The PNG came back base64 in the HAR and is bytes again here.
  const auto& png = xs[6].response->body;
  ASSERT_GE(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const Header* length = find_header(xs[6].response->headers, "content-length");
  ASSERT_NE(length, nullptr);
  EXPECT_EQ(length->value, std::to_string(png.size()));
  // And twin's own HAR of these reads back identical.
  for (const auto& x : xs) EXPECT_EQ(through_har(x), x);
}

TEST(HarImport, Firefox) {
  const auto r = read_har_file(kData + "/har/firefox.har");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const auto& xs = *r;
  ASSERT_EQ(xs.size(), 3u);

  // 0: HTTP/1.1, chunked, +01:00 offset.
  const int64_t t0 = 1709633472345 * kMs;  // 11:11:12.345+01:00 = 10:11:12.345Z
  EXPECT_EQ(xs[0].id, 1u);
  EXPECT_EQ(xs[0].session, 8080u);
  EXPECT_EQ(xs[0].protocol, Protocol::kHttp11);
  EXPECT_EQ(xs[0].request.method, "GET");
  EXPECT_EQ(xs[0].request.target, "/products?page=2&sort=price");
  EXPECT_EQ(xs[0].request.authority, "shop.example.com:8080");
  EXPECT_EQ(xs[0].request.headers.size(), 7u);
  EXPECT_EQ(xs[0].server.to_string(), "192.0.2.80:8080");
  EXPECT_EQ(xs[0].response->status, 200);
  EXPECT_EQ(xs[0].response->reason, "OK");
  EXPECT_EQ(xs[0].response->body,
            "{\"page\":2,\"items\":[{\"id\":42,\"name\":\"Caf\xc3\xa9 cr\xc3\xa8me\","
            "\"price\":3.5}]}");
  EXPECT_EQ(xs[0].response->body_size, 64u);
  EXPECT_EQ(xs[0].response->framing, Framing::kChunked);
  EXPECT_EQ(xs[0].time.request_start, t0);
  EXPECT_EQ(xs[0].time.request_end, t0);
  EXPECT_EQ(xs[0].time.response_start, t0 + 48 * kMs);
  EXPECT_EQ(xs[0].time.response_end, t0 + 50 * kMs);
  EXPECT_EQ(xs[0].flags, 0u);

  // 1: a form POST over HTTP/2 ("HTTP/2"), answered by a redirect with no body.
  const int64_t t1 = 1709633473100 * kMs;
  EXPECT_EQ(xs[1].id, 2u);
  EXPECT_EQ(xs[1].session, 443u);
  EXPECT_EQ(xs[1].seq, 0u);
  EXPECT_EQ(xs[1].protocol, Protocol::kHttp2);
  EXPECT_EQ(xs[1].request.method, "POST");
  EXPECT_EQ(xs[1].request.target, "/login");
  EXPECT_EQ(xs[1].request.authority, "shop.example.com");
  EXPECT_EQ(xs[1].request.body, "user=ann%40example.com&remember=on");
  EXPECT_EQ(xs[1].request.body_size, 34u);
  EXPECT_EQ(xs[1].request.framing, Framing::kHttp2);
  EXPECT_EQ(xs[1].server.to_string(), "[2001:db8::10]:443");
  EXPECT_EQ(xs[1].response->status, 302);
  EXPECT_EQ(xs[1].response->reason, "Found");
  EXPECT_EQ(find_header(xs[1].response->headers, "Location")->value, "/account");
  EXPECT_EQ(xs[1].response->body, "");
  EXPECT_EQ(xs[1].response->framing, Framing::kNone);
  EXPECT_EQ(xs[1].time.request_end, t1 + 17 * kMs);  // blocked 1 + connect 15 + send 1
  EXPECT_EQ(xs[1].time.response_start, t1 + 47 * kMs);
  EXPECT_EQ(xs[1].time.response_end, t1 + 47 * kMs);

  // 2: an image, base64.
  EXPECT_EQ(xs[2].id, 3u);
  EXPECT_EQ(xs[2].session, 443u);
  EXPECT_EQ(xs[2].seq, 1u);
  EXPECT_EQ(xs[2].request.target, "/img/item-42.webp");
  ASSERT_EQ(xs[2].response->body.size(), 34u);
  EXPECT_EQ(xs[2].response->body.substr(0, 4), "RIFF");
  EXPECT_EQ(xs[2].response->body.substr(8, 4), "WEBP");
  EXPECT_EQ(xs[2].response->framing, Framing::kHttp2);
  EXPECT_EQ(xs[2].time.response_end, 1709633473263 * kMs);
}

// A twin HAR read by something that dropped "_twin" still imports sensibly.
TEST(HarImport, TwinEntryWithoutTwinObject) {
  json e = json::parse(to_har_entry(sample()).dump());
  e.erase("_twin");
  Exchange out;
  const auto r = from_har_entry(e, 41, out);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const Exchange x = sample();
  EXPECT_EQ(out.id, 42u);
  EXPECT_EQ(out.session, x.session);
  EXPECT_EQ(out.protocol, x.protocol);
  EXPECT_EQ(out.request.method, x.request.method);
  EXPECT_EQ(out.request.target, x.request.target);
  EXPECT_EQ(out.request.authority, x.request.authority);
  EXPECT_EQ(out.request.headers, x.request.headers);
  EXPECT_EQ(out.request.body, x.request.body);
  EXPECT_EQ(out.response, x.response);  // framing from Content-Length
  EXPECT_EQ(out.server, x.server);
  EXPECT_EQ(out.time.request_start, x.time.request_start);
  EXPECT_EQ(out.time.response_end, x.time.response_end);
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(HarErrors, FileErrorsNameTheFile) {
  const std::string not_json = temp_path("not_json.har");
  write_file(not_json, "{\"log\": {\"entries\": [}\n");
  auto r = read_har_file(not_json);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message.rfind(not_json + ": not JSON: line 1, column 22", 0), 0u)
      << r.error().message;
  EXPECT_EQ(r.error().message.find('\n'), std::string::npos);

  const std::string empty = temp_path("empty_file.har");
  write_file(empty, "");
  r = read_har_file(empty);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message.rfind(empty + ": not JSON: ", 0), 0u) << r.error().message;

  const std::string secret = temp_path("secret.har");
  write_file(secret, "{\"log\": password123}");
  r = read_har_file(secret);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message.find("password"), std::string::npos) << "no input in the message";

  const std::string no_entries = temp_path("no_entries.har");
  for (const char* doc : {"{}", "[]", "{\"log\":{}}", "{\"log\":{\"entries\":{}}}", "3"}) {
    write_file(no_entries, doc);
    r = read_har_file(no_entries);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message, no_entries + ": not a HAR document: no log.entries") << doc;
  }

  const std::string bad_entry = temp_path("bad_entry.har");
  write_file(bad_entry, R"({"log":{"entries":[
      {"request":{"method":"GET","url":"http://a/"},"response":{"status":200}},
      {"request":{"method":"GET","url":"http:///nohost"},"response":{"status":200}}]}})");
  r = read_har_file(bad_entry);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, bad_entry + ": entry 1: request.url: no host");

  const std::string missing = temp_path("does_not_exist.har");
  r = read_har_file(missing);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, missing + ": cannot open: No such file or directory");

  for (const auto& p : {not_json, empty, secret, no_entries, bad_entry}) std::remove(p.c_str());
}

TEST(HarErrors, EntryErrorsNameTheField) {
  const json valid = json::parse(R"({
      "startedDateTime": "2024-03-05T10:11:12.345Z", "time": 5,
      "request": {"method": "GET", "url": "https://a.example/x", "httpVersion": "HTTP/1.1",
                  "headers": [{"name": "Host", "value": "a.example"}]},
      "response": {"status": 200, "statusText": "OK", "headers": [],
                   "content": {"size": 2, "mimeType": "text/plain", "text": "hi"}},
      "timings": {"send": 1, "wait": 3, "receive": 1}})");
  Exchange out;
  ASSERT_TRUE(from_har_entry(valid, 0, out).has_value());
  EXPECT_EQ(out.response->body, "hi");

  const std::vector<std::pair<const char*, const char*>> cases = {
      {R"({"request": null})", "request: expected object"},
      {R"({"request": {"method": null}})", "request.method: missing"},
      {R"({"request": {"method": 7}})", "request.method: expected string"},
      {R"({"request": {"url": null}})", "request.url: missing"},
      {R"({"request": {"url": ""}})", "request.url: empty"},
      {R"({"request": {"url": "https://a.example:99999/"}})", "request.url: bad port"},
      {R"({"request": {"url": "https://[::1/"}})", "request.url: unclosed '[' in host"},
      {R"({"request": {"headers": [{"name": "a"}]}})",
       "request.headers[0]: expected {\"name\": string, \"value\": string}"},
      {R"({"request": {"postData": {"text": "!!", "encoding": "base64"}}})",
       "request.postData.text: not valid base64"},
      {R"({"request": {"postData": {"params": [{"value": "x"}]}}})",
       "request.postData.params[0].name: missing"},
      {R"({"response": "200"})", "response: expected object"},
      {R"({"response": {"status": "200"}})", "response.status: expected integer 0..999"},
      {R"({"response": {"content": {"text": "@@", "encoding": "base64"}}})",
       "response.content.text: not valid base64"},
      {R"({"response": {"content": {"text": "x", "encoding": "gzip"}}})",
       "response.content.encoding: unsupported"},
      {R"({"response": {"content": {"size": "2"}}})", "response.content.size: expected number"},
      {R"({"startedDateTime": "yesterday"})", "startedDateTime: expected an ISO 8601 date-time"},
      {R"({"timings": {"wait": "3"}})", "timings.wait: expected number"},
      {R"({"time": 1e300})", "time: out of range"},
      {R"({"_twin": []})", "_twin: expected object"},
  };
  for (const auto& [patch, message] : cases) {
    json entry = valid;
    entry.merge_patch(json::parse(patch));
    const auto r = from_har_entry(entry, 0, out);
    ASSERT_FALSE(r.has_value()) << patch;
    EXPECT_EQ(r.error().message, message) << patch;
  }

  // Errors inside "_twin" are JSONL errors under "_twin.".
  json twin = json::parse(to_har_entry(sample()).dump());
  twin["_twin"]["time"]["request_start"] = "soon";
  auto r = from_har_entry(twin, 0, out);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "_twin.time.request_start: expected integer or null");
  twin = json::parse(to_har_entry(sample()).dump());
  twin["_twin"]["flags"] = {"gap", "nope"};
  r = from_har_entry(twin, 0, out);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message, "_twin.flags[1]: unknown flag \"nope\"");
  EXPECT_EQ(from_har_entry(json::array(), 0, out).error().message, "expected a JSON object");
}

// Entries with values swapped for junk must give a value or an error, never an exception.
TEST(HarImport, MutatedEntriesNeverThrow) {
  std::ifstream in(kData + "/har/chromium.har");
  const json doc = json::parse(in);
  std::vector<json> entries(doc["log"]["entries"].begin(), doc["log"]["entries"].end());
  for (const auto& x : gen::generate_exchanges(18, 20)) {
    entries.push_back(json::parse(to_har_entry(x).dump()));
  }
  const std::vector<json> junk = {nullptr,       -1,
                                  1.5,           "x",
                                  json::array(), json::object(),
                                  true,          json::parse("18446744073709551615"),
                                  "\xff"};
  std::mt19937_64 rng(18);
  for (int round = 0; round < 5000; ++round) {
    json entry = entries[rng() % entries.size()];
    // Walk down to a random value and replace it.
    for (int k = 0; k < 2; ++k) {
      json* v = &entry;
      while ((v->is_object() || v->is_array()) && !v->empty() && rng() % 4 != 0) {
        auto it = v->begin();
        std::advance(it, static_cast<long>(rng() % v->size()));
        v = &*it;
      }
      *v = junk[rng() % junk.size()];
    }
    Exchange out;
    const auto r = from_har_entry(entry, 0, out);
    // from_har_entry turns a stray exception into this message: there should be none.
    if (!r) {
      ASSERT_EQ(r.error().message.find("unexpected JSON shape"), std::string::npos)
          << r.error().message;
    }
  }
}

TEST(HarImport, BrowserOddities) {
  const json base = json::parse(R"({
      "startedDateTime": "2024-03-05T10:11:12.345Z",
      "request": {"method": "GET", "url": "https://user:pw@[2001:db8::1]:8443/a?b=1#frag"},
      "response": {"status": 200, "content": {"size": 0, "mimeType": ""}},
      "serverIPAddress": "2001:db8::1", "connection": "not-a-number"})");
  Exchange out;
  ASSERT_TRUE(from_har_entry(base, 9, out).has_value());
  EXPECT_EQ(out.id, 10u);
  EXPECT_EQ(out.request.target, "/a?b=1");  // the fragment never goes on the wire
  EXPECT_EQ(out.request.authority, "[2001:db8::1]:8443");
  EXPECT_EQ(out.server.to_string(), "[2001:db8::1]:8443");
  EXPECT_EQ(out.session, 0u);
  EXPECT_EQ(out.protocol, Protocol::kUnknown);
  EXPECT_EQ(out.time.request_end, out.time.request_start);  // no timings
  EXPECT_EQ(out.response->framing, Framing::kNone);

  json e = base;
  e["request"]["url"] = "https://example.com?q";
  e["request"]["httpVersion"] = "h3";
  e["response"]["httpVersion"] = "HTTP/2.0";
  ASSERT_TRUE(from_har_entry(e, 0, out).has_value());
  EXPECT_EQ(out.request.target, "/?q");
  EXPECT_EQ(out.request.authority, "example.com");
  EXPECT_EQ(out.protocol, Protocol::kUnknown);  // h3: twin has no HTTP/3

  e = base;
  e["request"]["url"] = "data:image/png;base64,AAAA";
  ASSERT_TRUE(from_har_entry(e, 0, out).has_value());
  EXPECT_EQ(out.request.target, "data:image/png;base64,AAAA");
  EXPECT_EQ(out.request.authority, "");

  e = base;  // postData with params only
  e["request"]["postData"] = json::parse(
      R"({"mimeType":"application/x-www-form-urlencoded",
          "params":[{"name":"a","value":"1"},{"name":"b"}]})");
  ASSERT_TRUE(from_har_entry(e, 0, out).has_value());
  EXPECT_EQ(out.request.body, "a=1&b");

  e = base;  // a cancelled navigation
  e["response"]["status"] = 0;
  e["response"]["_error"] = "net::ERR_ABORTED";
  ASSERT_TRUE(from_har_entry(e, 0, out).has_value());
  EXPECT_FALSE(out.response.has_value());
  EXPECT_EQ(out.error, ErrorKind::kCancelled);

  e = base;  // Firefox's failed request: status 0, nothing else
  e["response"]["status"] = 0;
  ASSERT_TRUE(from_har_entry(e, 0, out).has_value());
  EXPECT_FALSE(out.response.has_value());
  EXPECT_EQ(out.error, ErrorKind::kOther);
  EXPECT_EQ(out.flags, static_cast<uint32_t>(kFlagNoResponse));
}

}  // namespace
}  // namespace twin::traffic
