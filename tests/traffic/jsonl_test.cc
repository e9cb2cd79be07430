#include "twin/traffic/jsonl.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "exchange_gen.h"
#include "twin/traffic/text.h"

namespace twin::traffic {
namespace {

using json = nlohmann::json;

Exchange read_back(const std::string& line) {
  Exchange out;
  const auto r = from_jsonl_object(json::parse(line), out);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  return out;
}

// A small exchange with every field set, used by the contract and error tests.
Exchange sample() {
  Exchange x;
  x.id = 7;
  x.origin_id = 3;
  x.session = 2;
  x.seq = 1;
  x.stream = 5;
  x.protocol = Protocol::kHttp2;
  x.target = "candidate";
  x.time = {1000, 2000, 3000, kNoTime, -5};
  x.client = *Endpoint::parse("10.0.0.1:50000");
  x.server = *Endpoint::parse("[::1]:443");
  x.request.method = "POST";
  x.request.target = "/api?x=1";
  x.request.authority = "example.com";
  x.request.headers = {{":method", "POST"}, {"Content-Type", "application/json"}};
  x.request.body = "{\"a\":1}";
  x.request.body_size = 7;
  x.request.framing = Framing::kHttp2;
  Response& r = x.response.emplace();
  r.status = 201;
  r.reason = "Created";
  r.headers = {{"X-Bin", "\xff\xfe"}};
  r.body = std::string("\x00\x01\x02\xff", 4);
  r.body_size = 10;
  r.framing = Framing::kHttp2;
  x.error = ErrorKind::kTimeout;
  x.flags = kFlagGap | kFlagScrubbed | (1u << 20);
  return x;
}

TEST(JsonlContract, ExactTextOfASample) {
  std::string line;
  append_jsonl_line(sample(), line);
  EXPECT_EQ(line,
            "{\"id\":7,\"origin_id\":3,\"session\":2,\"seq\":1,\"stream\":5,\"protocol\":\"h2\","
            "\"target\":\"candidate\",\"time\":{\"request_start\":1000,\"request_end\":2000,"
            "\"response_start\":3000,\"response_end\":null,\"intended\":-5},"
            "\"client\":\"10.0.0.1:50000\",\"server\":\"[::1]:443\","
            "\"request\":{\"method\":\"POST\",\"target\":\"/api?x=1\",\"authority\":"
            "\"example.com\",\"headers\":[[\":method\",\"POST\"],[\"Content-Type\","
            "\"application/json\"]],\"body\":\"{\\\"a\\\":1}\",\"body_encoding\":\"utf8\","
            "\"body_size\":7,\"framing\":\"h2\"},"
            "\"response\":{\"status\":201,\"reason\":\"Created\",\"headers\":[[\"WC1CaW4=\","
            "\"//4=\",\"base64\"]],\"body\":\"AAEC/w==\",\"body_encoding\":\"base64\","
            "\"body_size\":10,\"framing\":\"h2\"},"
            "\"error\":\"timeout\",\"flags\":[\"gap\",\"scrubbed\",\"bit:20\"]}\n");
}

TEST(JsonlContract, KeysInTheDocumentedOrder) {
  const auto o = to_jsonl_object(sample());
  std::vector<std::string> keys;
  for (const auto& [k, v] : o.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "origin_id", "session", "seq", "stream",
                                            "protocol", "target", "time", "client", "server",
                                            "request", "response", "error", "flags"}));
  keys.clear();
  for (const auto& [k, v] : o["time"].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"request_start", "request_end", "response_start",
                                            "response_end", "intended"}));
  keys.clear();
  for (const auto& [k, v] : o["request"].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"method", "target", "authority", "headers", "body",
                                            "body_encoding", "body_size", "framing"}));
  keys.clear();
  for (const auto& [k, v] : o["response"].items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"status", "reason", "headers", "body", "body_encoding",
                                            "body_size", "framing"}));
}

TEST(JsonlContract, NoResponseUnknownEndpointsAndTimes) {
  Exchange x;
  x.request.method = "GET";
  x.request.target = "/";
  std::string line;
  append_jsonl_line(x, line);
  const auto o = json::parse(line);
  EXPECT_TRUE(o["response"].is_null());
  EXPECT_TRUE(o["client"].is_null());
  EXPECT_TRUE(o["server"].is_null());
  for (const auto& [k, v] : o["time"].items()) EXPECT_TRUE(v.is_null()) << k;
  EXPECT_EQ(o["request"]["framing"], "none");
  EXPECT_EQ(o["flags"], json::array());
  EXPECT_EQ(o["error"], "none");
  EXPECT_EQ(read_back(line), x);
}

TEST(JsonlContract, StringsThatAreNotUtf8AreBase64Objects) {
  Exchange x = sample();
  x.request.method = "G\xc0T";
  x.request.target = "/\xff";
  x.request.authority = "h\x80";
  x.response->reason = "\xfe";
  x.target = "\xed\xa0\x80";
  x.request.headers = {{"X-Name-\xff", "ok"}, {"ok", "plain"}};
  std::string line;
  append_jsonl_line(x, line);
  ASSERT_TRUE(is_valid_utf8(line));
  const auto o = json::parse(line);
  EXPECT_EQ(o["request"]["method"], json({{"base64", base64_encode("G\xc0T")}}));
  EXPECT_EQ(o["request"]["target"], json({{"base64", "L/8="}}));
  EXPECT_EQ(o["response"]["reason"], json({{"base64", "/g=="}}));
  EXPECT_EQ(o["request"]["headers"][0], json::array({"WC1OYW1lLf8=", "b2s=", "base64"}));
  EXPECT_EQ(o["request"]["headers"][1], json::array({"ok", "plain"}));
  EXPECT_EQ(read_back(line), x);
}

TEST(JsonlContract, EscapesLikeNlohmann) {
  Exchange x = sample();
  std::string all_ascii;
  for (int c = 0; c < 128; ++c) all_ascii += static_cast<char>(c);
  x.request.body = all_ascii + "\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80";
  x.request.body_size = x.request.body.size();
  x.request.headers = {{"X-Ctl", all_ascii}};
  std::string line;
  append_jsonl_line(x, line);
  EXPECT_EQ(line, to_jsonl_object(x).dump() + "\n");
  EXPECT_EQ(read_back(line), x);
}

void expect_round_trip(const std::vector<Exchange>& exchanges) {
  std::string text;
  for (const auto& x : exchanges) {
    const size_t start = text.size();
    append_jsonl_line(x, text);
    const std::string_view line = std::string_view(text).substr(start);
    ASSERT_EQ(line.back(), '\n');
    ASSERT_EQ(line.find('\n'), line.size() - 1) << "one line per exchange";
    // The direct writer and the DOM agree byte for byte.
    ASSERT_EQ(line, to_jsonl_object(x).dump() + "\n") << x.id;
    ASSERT_TRUE(is_valid_utf8(line));
    Exchange back;
    const auto r = from_jsonl_object(json::parse(line), back);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(back, x) << line.substr(0, 2000);
  }
}

TEST(JsonlRoundTrip, GeneratedExchanges) { expect_round_trip(gen::generate_exchanges(1, 500)); }

TEST(JsonlRoundTrip, OtherSeeds) {
  for (uint64_t seed = 2; seed < 12; ++seed) expect_round_trip(gen::generate_exchanges(seed, 60));
}

TEST(JsonlRoundTrip, TenMegabyteBody) {
  gen::GenOptions options;
  options.huge_body = true;
  const auto exchanges = gen::generate_exchanges(5, 3, options);
  ASSERT_EQ(exchanges[1].response->body.size(), 10u << 20);
  expect_round_trip(exchanges);
}

TEST(JsonlRoundTrip, ExtremeValues) {
  Exchange x = sample();
  x.id = x.origin_id = x.session = x.seq = std::numeric_limits<uint64_t>::max();
  x.stream = std::numeric_limits<uint32_t>::max();
  x.time = {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min() + 1, 0, -1,
            kNoTime};
  x.request.body.clear();
  x.request.body_size = std::numeric_limits<uint64_t>::max();
  x.response->status = -1;
  x.flags = 0xFFFFFFFFu;
  expect_round_trip({x});
}

TEST(JsonlRoundTrip, ReusesTheOutputExchange) {
  // Reading into an exchange that held something else leaves nothing of it behind.
  const auto exchanges = gen::generate_exchanges(8, 100);
  Exchange out;
  for (const auto& x : exchanges) {
    std::string line;
    append_jsonl_line(x, line);
    ASSERT_TRUE(from_jsonl_object(json::parse(line), out).has_value());
    ASSERT_EQ(out, x);
  }
}

TEST(JsonlRead, MinimalObjectGetsDefaults) {
  const json input = json::parse(R"({
      "id": 1, "session": 0, "seq": 0, "protocol": "http/1.1",
      "request": {"method": "GET", "target": "/", "body": "hi"},
      "response": {"status": 200, "body": ""}})");
  Exchange out = sample();  // dirty on purpose
  const auto r = from_jsonl_object(input, out);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  Exchange expected;
  expected.id = 1;
  expected.protocol = Protocol::kHttp11;
  expected.request.method = "GET";
  expected.request.target = "/";
  expected.request.body = "hi";
  expected.request.body_size = 2;
  expected.request.framing = Framing::kContentLength;
  expected.response.emplace().status = 200;
  EXPECT_EQ(out, expected);
}

TEST(JsonlRead, NullsCountAsAbsentForOptionalFields) {
  const json input = json::parse(R"({
      "id": 1, "origin_id": null, "session": 0, "seq": 0, "stream": null, "protocol": "h2",
      "target": null, "time": null, "client": null, "server": "",
      "request": {"method": "GET", "target": "/", "headers": null, "body": null,
                  "body_encoding": null, "body_size": null, "framing": null},
      "response": null, "error": null, "flags": null})");
  Exchange out;
  const auto r = from_jsonl_object(input, out);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(out.response.has_value());
  EXPECT_EQ(out.time, Timing{});
}

struct BadCase {
  const char* patch;    // merged (RFC 7386) into a valid object
  const char* message;  // the exact error
};

TEST(JsonlRead, ErrorsNameTheField) {
  const std::vector<BadCase> cases = {
      {R"({"id":null})", "id: missing"},
      {R"({"id":-1})", "id: expected unsigned integer"},
      {R"({"id":1.5})", "id: expected unsigned integer"},
      {R"({"id":"1"})", "id: expected unsigned integer"},
      {R"({"origin_id":true})", "origin_id: expected unsigned integer"},
      {R"({"session":null})", "session: missing"},
      {R"({"seq":[]})", "seq: expected unsigned integer"},
      {R"({"stream":4294967296})", "stream: out of range (more than 32 bits)"},
      {R"({"protocol":"h3"})", "protocol: expected one of unknown, http/1.0, http/1.1, h2"},
      {R"({"protocol":null})", "protocol: missing"},
      {R"({"target":5})", "target: expected string or {\"base64\": string}"},
      {R"({"target":{"base64":"!!"}})", "target.base64: not valid base64"},
      {R"({"time":[]})", "time: expected object"},
      {R"({"time":{"request_start":"2024-01-01"}})",
       "time.request_start: expected integer or null"},
      {R"({"time":{"response_end":1.5}})", "time.response_end: expected integer or null"},
      {R"({"time":{"intended":9223372036854775808}})", "time.intended: out of range"},
      {R"({"time":{"request_end":-9223372036854775808}})", "time.request_end: out of range"},
      {R"({"client":"localhost:80"})", "client: expected \"1.2.3.4:80\" or \"[::1]:80\""},
      {R"({"server":80})", "server: expected \"address:port\" or null"},
      {R"({"request":null})", "request: missing"},
      {R"({"request":"GET /"})", "request: expected object"},
      {R"({"request":{"method":null}})", "request.method: missing"},
      {R"({"request":{"target":null}})", "request.target: missing"},
      {R"({"request":{"method":1}})", "request.method: expected string or {\"base64\": string}"},
      {R"({"request":{"authority":{"b64":"x"}}})",
       "request.authority: expected string or {\"base64\": string}"},
      {R"({"request":{"headers":{}}})", "request.headers: expected array"},
      {R"({"request":{"headers":[["a","b"],["a","b"],["a","b"],["x"]]}})",
       "request.headers[3]: expected [name, value] or [name_base64, value_base64, \"base64\"]"},
      {R"({"request":{"headers":[["a",1]]}})",
       "request.headers[0]: expected [name, value] or [name_base64, value_base64, \"base64\"]"},
      {R"({"request":{"headers":[["a","b","hex"]]}})",
       "request.headers[0]: expected [name, value] or [name_base64, value_base64, \"base64\"]"},
      {R"({"request":{"headers":[["a","b"],["!","b","base64"]]}})",
       "request.headers[1]: not valid base64"},
      {R"({"request":{"body":42}})", "request.body: expected string"},
      {R"({"request":{"body_encoding":"hex"}})",
       "request.body_encoding: expected \"utf8\" or \"base64\""},
      {R"({"request":{"body":"***","body_encoding":"base64"}})", "request.body: not valid base64"},
      {R"({"request":{"body":"abc","body_size":2}})",
       "request.body_size: smaller than the body (2 < 3)"},
      {R"({"request":{"body_size":-2}})", "request.body_size: expected unsigned integer"},
      {R"({"request":{"framing":"gzip"}})",
       "request.framing: expected one of none, content-length, chunked, close, h2"},
      {R"({"response":[]})", "response: expected object or null"},
      {R"({"response":{"status":null}})", "response.status: missing"},
      {R"({"response":{"status":"200"}})", "response.status: expected integer"},
      {R"({"response":{"status":4294967296}})", "response.status: expected integer"},
      {R"({"response":{"reason":false}})",
       "response.reason: expected string or {\"base64\": string}"},
      {R"({"response":{"headers":[{"name":"a","value":"b"}]}})",
       "response.headers[0]: expected [name, value] or [name_base64, value_base64, \"base64\"]"},
      {R"({"response":{"body":"=","body_encoding":"base64"}})", "response.body: not valid base64"},
      {R"({"response":{"framing":1}})",
       "response.framing: expected one of none, content-length, chunked, close, h2"},
      {R"({"error":"exploded"})",
       "error: expected one of none, connect, timeout, reset, protocol, truncated, tls, "
       "cancelled, other"},
      {R"({"flags":"gap"})", "flags: expected array of flag names"},
      {R"({"flags":["gap",7]})", "flags[1]: expected a flag name"},
      {R"({"flags":["gap","bogus"]})", "flags[1]: unknown flag \"bogus\""},
      {R"({"flags":["bit:32"]})", "flags[0]: unknown flag \"bit:32\""},
      {R"({"flags":["bit:"]})", "flags[0]: unknown flag \"bit:\""},
      {R"({"flags":["bit:1x"]})", "flags[0]: unknown flag \"bit:1x\""},
  };
  std::string line;
  append_jsonl_line(sample(), line);
  const json valid = json::parse(line);
  for (const auto& c : cases) {
    json object = valid;
    object.merge_patch(json::parse(c.patch));
    // merge_patch deletes the keys patched with null: that is how cases make a field missing.
    Exchange out;
    const auto r = from_jsonl_object(object, out);
    ASSERT_FALSE(r.has_value()) << c.patch;
    EXPECT_EQ(r.error().message, c.message) << c.patch;
  }
  Exchange out;
  EXPECT_EQ(from_jsonl_object(json::array(), out).error().message, "expected a JSON object");
}

// Mutated lines that still parse as JSON must give a value or an error, never an exception.
TEST(JsonlRead, MutatedObjectsNeverThrow) {
  std::mt19937_64 rng(17);
  const auto exchanges = gen::generate_exchanges(17, 50);
  static constexpr std::string_view kJunk[] = {
      "null",          "-1", "1.5", "\"x\"", "[]", "{}", "true", "18446744073709551616", "[[1,2]]",
      "{\"base64\":1}"};
  size_t parsed = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string line;
    append_jsonl_line(exchanges[rng() % exchanges.size()], line);
    // Replace one value (the text after a ':' up to the next ',' or '}') with junk.
    for (int k = 0; k < 3; ++k) {
      const size_t colon = line.find(':', rng() % line.size());
      if (colon == std::string::npos) continue;
      const size_t end = line.find_first_of(",}", colon);
      if (end == std::string::npos) continue;
      line.replace(colon + 1, end - colon - 1, kJunk[rng() % std::size(kJunk)]);
    }
    const json object = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded()) continue;
    ++parsed;
    Exchange out;
    EXPECT_NO_THROW((void)from_jsonl_object(object, out)) << line;
  }
  EXPECT_GT(parsed, 1000u);
}

TEST(JsonlRead, AcceptsUnknownFlagBitsAndUnknownKeys) {
  std::string line;
  append_jsonl_line(sample(), line);
  json object = json::parse(line);
  object["flags"] = json::array({"bit:31", "midstream", "bit:0"});
  object["a_future_field"] = {1, 2, 3};
  Exchange out;
  ASSERT_TRUE(from_jsonl_object(object, out).has_value());
  EXPECT_EQ(out.flags, (1u << 31) | kFlagMidstream | kFlagGap);
}

}  // namespace
}  // namespace twin::traffic
