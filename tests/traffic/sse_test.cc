// The server-sent events line reader (twin/traffic/sse.h).

#include "twin/traffic/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace {

using twin::traffic::sse_retry_value;
using twin::traffic::SseLine;
using twin::traffic::SseReader;

// Each line as "B" (blank), "C:<comment>" or "F:<name>=<value>", and whether it was ended.
std::vector<std::string> lines_of(std::string_view body, std::vector<bool>* ended = nullptr) {
  std::vector<std::string> out;
  SseReader r(body);
  SseLine l;
  while (r.next(l)) {
    const std::string_view value = body.substr(l.value_begin, l.end - l.value_begin);
    switch (l.kind) {
      case SseLine::Kind::kBlank:
        out.push_back("B");
        break;
      case SseLine::Kind::kComment:
        out.push_back("C:" + std::string(value));
        break;
      case SseLine::Kind::kField:
        out.push_back("F:" + std::string(l.name) + "=" + std::string(value));
        break;
    }
    if (ended) ended->push_back(l.ended);
  }
  return out;
}

TEST(SseReader, FieldsCommentsAndBlankLines) {
  EXPECT_EQ(lines_of("event: add\ndata: {\"a\":1}\nid:7\n: ping\n\ndata\n"),
            (std::vector<std::string>{"F:event=add", "F:data={\"a\":1}", "F:id=7", "C: ping", "B",
                                      "F:data="}));
}

TEST(SseReader, OneSpaceAfterTheColonIsDroppedNoMore) {
  EXPECT_EQ(lines_of("data:  two\ndata:x\ndata: a: b\n"),
            (std::vector<std::string>{"F:data= two", "F:data=x", "F:data=a: b"}));
}

TEST(SseReader, EveryEndOfLineEndsALine) {
  std::vector<bool> ended;
  // CRLF is one end of line; CR alone and LF alone each one; "\n\r" is two.
  EXPECT_EQ(lines_of("data: a\r\ndata: b\rdata: c\n\r\ndata: d", &ended),
            (std::vector<std::string>{"F:data=a", "F:data=b", "F:data=c", "B", "F:data=d"}));
  EXPECT_EQ(ended, (std::vector<bool>{true, true, true, true, false}));
}

TEST(SseReader, OffsetsPointIntoTheBody) {
  const std::string_view body =
      "\xEF\xBB\xBF"
      "data: x\r\n\r\n";
  SseReader r(body);
  EXPECT_EQ(r.start(), 3u);
  SseLine l;
  ASSERT_TRUE(r.next(l));
  EXPECT_EQ(l.kind, SseLine::Kind::kField);
  EXPECT_EQ(l.begin, 3u);
  EXPECT_EQ(l.value_begin, 9u);
  EXPECT_EQ(l.end, 10u);
  EXPECT_EQ(l.next, 12u);
  ASSERT_TRUE(r.next(l));
  EXPECT_EQ(l.kind, SseLine::Kind::kBlank);
  EXPECT_EQ(l.begin, 12u);
  EXPECT_EQ(l.next, 14u);
  EXPECT_FALSE(r.next(l));
}

TEST(SseReader, AnEmptyBodyHasNoLines) {
  EXPECT_TRUE(lines_of("").empty());
  EXPECT_TRUE(lines_of("\xEF\xBB\xBF").empty());
  EXPECT_EQ(lines_of("\n"), (std::vector<std::string>{"B"}));
}

TEST(SseReader, RetryTakesDigitsAlone) {
  EXPECT_TRUE(sse_retry_value("3000"));
  EXPECT_TRUE(sse_retry_value("0"));
  EXPECT_FALSE(sse_retry_value(""));
  EXPECT_FALSE(sse_retry_value(" 3000"));
  EXPECT_FALSE(sse_retry_value("3e3"));
  EXPECT_FALSE(sse_retry_value("-1"));
}

}  // namespace
