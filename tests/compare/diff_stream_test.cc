// Tests of response diffs over streams of records: JSON Lines / NDJSON, JSON text sequences
// (RFC 7464) and server-sent events (compare/src/tape.cc, compare/src/tape_sse.cc through
// ResponseDiffer). A stream is an array of its records (`$[*]`), each compared by the JSON rules;
// an event stream is the events a client's EventSource dispatches, so that what a client does not
// see (comments, CRLF, a space after the colon, data over several lines, an id set once) is no
// difference. Seeded property tests write random streams in two styles and change one value.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "responses.h"
#include "twin/compare/diff.h"

namespace twin::compare {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Paths = std::vector<std::string>;

constexpr const char* kNdjson = "application/x-ndjson";
constexpr const char* kSse = "text/event-stream";

Paths diff(const std::string& a, const std::string& b, const std::string& type,
           const std::string& type_b = "", ResponseDiffer* differ = nullptr) {
  ResponseDiffer own{DiffOptions{}};
  ResponseDiffer& d = differ ? *differ : own;
  Paths out{"stale"};
  EXPECT_TRUE(
      d.diff(test::response(a, type), test::response(b, type_b.empty() ? type : type_b), out));
  return out;
}

// ---- JSON Lines

TEST(DiffJsonLines, RecordsCompareByTheJsonRules) {
  const std::string a = "{\"id\":1,\"qty\":2}\n{\"id\":2,\"qty\":5}\n";
  // spaces, key order, CRLF, a blank line, no final end of line, 2.0 for 2
  const std::string b = "{ \"qty\": 2.0, \"id\": 1 }\r\n\r\n{\"qty\":5,\"id\":2}";
  EXPECT_THAT(diff(a, b, kNdjson), IsEmpty());
  EXPECT_THAT(diff(a, "{\"id\":1,\"qty\":2}\n{\"id\":2,\"qty\":6}\n", kNdjson),
              ElementsAre("$[*].qty"));
  // a record inserted at the top names the stream, and nothing else differs
  EXPECT_THAT(diff(a, "{\"id\":0,\"qty\":1}\n" + a, kNdjson), ElementsAre("$"));
}

TEST(DiffJsonLines, EveryMediaTypeOfTheFormat) {
  for (const char* type :
       {"application/x-ndjson", "application/ndjson", "application/jsonl",
        "application/x-jsonlines", "application/jsonlines; charset=utf-8", "application/x-jsonl"}) {
    ResponseDiffer differ{DiffOptions{}};
    EXPECT_THAT(diff("{\"a\":1}\n{\"a\":2}\n", "{\"a\":1}\n{\"a\":3}\n", type, "", &differ),
                ElementsAre("$[*].a"))
        << type;
    EXPECT_EQ(differ.body_counts().json_lines, 1u) << type;
    EXPECT_EQ(differ.body_counts().json, 0u) << type;
  }
}

TEST(DiffJsonLines, ARecordOverTwoLinesOrNotJsonIsNotJsonLines) {
  const std::string good = "{\"a\":1}\n{\"a\":2}\n";
  for (const std::string bad : {"{\"a\":\n1}\n{\"a\":2}\n", "{\"a\":1} {\"a\":2}\n",
                                "{\"a\":1}\n{\"a\":2\n", "{\"a\":1}\nnot json\n"}) {
    ResponseDiffer differ{DiffOptions{}};
    EXPECT_THAT(diff(good, bad, kNdjson, "", &differ), ElementsAre("$body")) << bad;
    EXPECT_EQ(differ.body_counts().unreadable, 1u) << bad;
  }
  // A stream of none is an empty array: one record more names the stream.
  EXPECT_THAT(diff("", "{\"a\":1}\n", kNdjson), ElementsAre("$"));
  EXPECT_THAT(diff("\n\n", "\r\n", kNdjson), IsEmpty());
}

TEST(DiffJsonLines, JsonTextSequences) {
  const std::string a = "\x1e{\"a\":1}\n\x1e{\"a\":2}\n";
  const std::string b = "\x1e\x1e{ \"a\": 1 }\x1e{\"a\":2}";  // RS twice: no empty record
  ResponseDiffer differ{DiffOptions{}};
  EXPECT_THAT(diff(a, b, "application/json-seq", "", &differ), IsEmpty());
  EXPECT_EQ(differ.body_counts().json_lines, 1u);
  EXPECT_THAT(diff(a, "\x1e{\"a\":1}\n\x1e{\"a\":5}\n", "application/geo+json-seq"),
              ElementsAre("$[*].a"));
  // a record must begin with RS
  EXPECT_THAT(diff(a, "{\"a\":1}\n\x1e{\"a\":2}\n", "application/json-seq"), ElementsAre("$body"));
}

TEST(DiffJsonLines, AJsonAnswerAgainstJsonLinesIsTwoFormats) {
  ResponseDiffer differ{DiffOptions{}};
  EXPECT_THAT(diff("{\"a\":1}\n", "{\"a\":2}\n", "application/json", kNdjson, &differ),
              ElementsAre("$body"));
  EXPECT_EQ(differ.body_counts().unreadable, 1u);
  // a side whose type names none of the formats is read as the other side's type says
  EXPECT_THAT(diff("{\"a\":1}\n{\"a\":2}\n", "{\"a\":1}\n{\"a\":3}\n", kNdjson, "text/plain"),
              ElementsAre("$[*].a"));
}

// ---- Server-sent events

TEST(DiffEventStream, WhatAClientDoesNotSeeIsNoDifference) {
  const std::string a =
      "event: delta\nid: 1\ndata: {\"text\":\"Hel\",\"n\":1}\n\n"
      "event: delta\nid: 2\ndata: {\"text\":\"lo\",\"n\":2}\n\n"
      "data: [DONE]\n\n";
  // CRLF, no space after the colons, a comment, the JSON over two data lines, an id field of
  // its own line order, an unknown field, a retry-less stream and `event: message` said aloud.
  const std::string b =
      ": keep-alive\r\nid:1\r\nevent:delta\r\ndata:{\"n\":1,\r\ndata: \"text\":\"Hel\"}\r\n\r\n"
      "event: delta\r\nfoo: bar\r\nid: 2\r\ndata: {\"text\":\"lo\", \"n\":2}\r\n\r\n"
      ": ping\r\n\r\nevent: message\r\ndata: [DONE]\r\n\r\n";
  ResponseDiffer differ{DiffOptions{}};
  EXPECT_THAT(diff(a, b, kSse, "", &differ), IsEmpty());
  EXPECT_EQ(differ.body_counts().event_stream, 1u);
  // An id set once stays the event's last id, as a client's lastEventId does.
  EXPECT_THAT(diff("id: 7\ndata: a\n\ndata: b\n\n", "id: 7\ndata: a\n\nid: 7\ndata: b\n\n", kSse),
              IsEmpty());
  // An event with no data is none; a lone CR ends a line too.
  EXPECT_THAT(diff("data: a\n\n", "event: x\n\ndata: a\r\r", kSse), IsEmpty());
}

TEST(DiffEventStream, ChangesAreNamedByTheirPaths) {
  const std::string a =
      "event: delta\nid: 1\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
      "event: delta\nid: 2\ndata: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n";
  std::string b = a;
  b.replace(b.find("lo"), 2, "LO");
  EXPECT_THAT(diff(a, b, kSse), ElementsAre("$[*].data.choices[*].delta.content"));
  std::string c = a;
  c.replace(c.rfind("delta\n"), 5, "final");
  EXPECT_THAT(diff(a, c, kSse), ElementsAre("$[*].event"));
  std::string d = a;
  d.replace(d.find("id: 2"), 5, "id: 3");
  EXPECT_THAT(diff(a, d, kSse), ElementsAre("$[*].id"));
  // an id no more: the member is gone on one side
  EXPECT_THAT(diff("id: 1\ndata: a\n\n", "data: a\n\n", kSse), ElementsAre("$[*].id"));
  // a reconnection time goes with the next event, read as a number
  EXPECT_THAT(diff("retry: 3000\ndata: a\n\n", "retry: 03000\n\ndata: a\n\n", kSse), IsEmpty());
  EXPECT_THAT(diff("retry: 3000\ndata: a\n\n", "retry: 5000\ndata: a\n\n", kSse),
              ElementsAre("$[*].retry"));
  EXPECT_THAT(diff("retry: 3000\ndata: a\n\n", "retry: 3s\ndata: a\n\n", kSse),
              ElementsAre("$[*].retry"));  // (not a valid retry: the client ignores it)
}

TEST(DiffEventStream, DataIsJsonOnlyWhenItIsAnObjectOrAnArray) {
  // 42 against "42": a client that parses neither sees two texts
  EXPECT_THAT(diff("data: 42\n\n", "data: \"42\"\n\n", kSse), ElementsAre("$[*].data"));
  EXPECT_THAT(diff("data: 42\n\n", "data: 42.0\n\n", kSse), ElementsAre("$[*].data"));
  // an object against broken JSON: a change of kind at the data
  EXPECT_THAT(diff("data: {\"a\":1}\n\n", "data: {\"a\":1\n\n", kSse), ElementsAre("$[*].data"));
  // two data lines are joined by LF: a text split otherwise is another text
  EXPECT_THAT(diff("data: a\ndata: b\n\n", "data: a b\n\n", kSse), ElementsAre("$[*].data"));
  EXPECT_THAT(diff("data: a\ndata: b\n\n", "data:a\ndata:b\n\n", kSse), IsEmpty());
}

TEST(DiffEventStream, AnEventTheStreamDoesNotEndIsNotDispatched) {
  const std::string a = "data: {\"n\":1}\n\ndata: {\"n\":2}\n\n";
  // cut before the last blank line: a client dispatches one event, and so does the reader
  EXPECT_THAT(diff(a, "data: {\"n\":1}\n\ndata: {\"n\":2}\n", kSse), ElementsAre("$"));
  EXPECT_THAT(diff("data: {\"n\":1}\n\n", "data: {\"n\":1}\n\ndata: {\"n\":3}", kSse), IsEmpty());
}

TEST(DiffEventStream, ADeclaredJsonAnswerAgainstAnEventStreamIsTwoFormats) {
  ResponseDiffer differ{DiffOptions{}};
  EXPECT_THAT(diff("data: {\"a\":1}\n\n", "{\"a\":1}", kSse, "application/json", &differ),
              ElementsAre("$body"));
  EXPECT_EQ(differ.body_counts().unreadable, 1u);
}

// ---- Seeded property tests: one stream in two styles is no difference; one value changed
// names exactly its path.

struct Record {
  std::vector<std::pair<std::string, int>> fields;  // k0.. with values
  std::string type;                                 // an event's type, "" for none
};

std::string json_of(const Record& r, bool other, std::mt19937& rng) {
  std::vector<size_t> order(r.fields.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (other) std::shuffle(order.begin(), order.end(), rng);
  std::string s = other ? "{ " : "{";
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& [k, v] = r.fields[order[i]];
    if (i > 0) s += other ? ", " : ",";
    s += "\"" + k + "\"" + (other ? ": " : ":") + std::to_string(v);
    if (other && rng() % 3 == 0) s += ".0";
  }
  return s + (other ? " }" : "}");
}

std::vector<Record> records(std::mt19937& rng) {
  std::vector<Record> rs(1 + rng() % 8);
  const char* types[] = {"", "delta", "update"};
  for (auto& r : rs) {
    const size_t n = 1 + rng() % 5;
    for (size_t i = 0; i < n; ++i) {
      r.fields.emplace_back("k" + std::to_string(i), static_cast<int>(rng() % 1000));
    }
    r.type = types[rng() % 3];
  }
  return rs;
}

std::string json_lines(const std::vector<Record>& rs, bool other, std::mt19937& rng) {
  std::string s;
  for (const auto& r : rs) {
    if (other && rng() % 4 == 0) s += "\r\n";  // a blank line
    s += json_of(r, other, rng);
    s += other ? "\r\n" : "\n";
  }
  return s;
}

std::string event_stream(const std::vector<Record>& rs, bool other, std::mt19937& rng) {
  const std::string eol = other ? "\r\n" : "\n";
  std::string s;
  for (size_t i = 0; i < rs.size(); ++i) {
    const Record& r = rs[i];
    if (other && rng() % 3 == 0) s += ": keep-alive" + eol;
    // the same id on every event: said once (other) or each time
    if (i == 0 || !other) s += "id: stream-1" + eol;
    if (!r.type.empty()) {
      s += "event: " + r.type + eol;
    } else if (other && rng() % 2 == 0) {
      s += "event: message" + eol;
    }
    std::string json = json_of(r, other, rng);
    if (other) {
      // over several data lines, split after commas
      size_t at = 0;
      for (size_t c = json.find(','); c != std::string::npos; c = json.find(',', c + 1)) {
        if (rng() % 2 == 0) continue;
        s += "data:" + json.substr(at, c + 1 - at) + eol;
        at = c + 1;
      }
      s += "data:" + json.substr(at) + eol;
    } else {
      s += "data: " + json + eol;
    }
    s += eol;
  }
  return s;
}

TEST(DiffStreamProperty, TwoStylesAreEqualAndOneChangeIsNamed) {
  for (const bool sse : {false, true}) {
    std::mt19937 rng(sse ? 20261208 : 8122026);
    for (int round = 0; round < 300; ++round) {
      const auto rs = records(rng);
      const auto write = [&](const std::vector<Record>& x, bool other) {
        return sse ? event_stream(x, other, rng) : json_lines(x, other, rng);
      };
      const std::string type = sse ? kSse : kNdjson;
      const std::string a = write(rs, false);
      ASSERT_THAT(diff(a, write(rs, true), type), IsEmpty()) << a;
      // one value changed, in one record
      auto changed = rs;
      Record& r = changed[rng() % changed.size()];
      auto& field = r.fields[rng() % r.fields.size()];
      field.second += 1 + static_cast<int>(rng() % 50);
      const std::string path = sse ? "$[*].data." + field.first : "$[*]." + field.first;
      ASSERT_THAT(diff(a, write(changed, true), type), ElementsAre(path)) << a;
      // one record more, at a random place: the stream itself
      auto longer = rs;
      longer.insert(longer.begin() + static_cast<ptrdiff_t>(rng() % (rs.size() + 1)),
                    Record{{{"k0", 1000 + round}}, ""});
      ASSERT_THAT(diff(a, write(longer, true), type), ElementsAre("$")) << a;
    }
  }
}

}  // namespace
}  // namespace twin::compare
