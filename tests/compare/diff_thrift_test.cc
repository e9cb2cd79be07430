// Tests of response diffs over Apache Thrift bodies (compare/src/tape_thrift.cc through
// ResponseDiffer): fields by id, whatever order, protocol or sequence id wrote them; sets and
// maps in any order; a changed value named by its field path. Apache Thrift's own C++ library
// (libthrift) writes every body: an independent encoder.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "responses.h"
#include "twin/compare/diff.h"

namespace twin::compare {
namespace {

using apache::thrift::protocol::TProtocol;
using apache::thrift::transport::TMemoryBuffer;
using namespace apache::thrift::protocol;  // T_STRUCT, T_I32, …
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Paths = std::vector<std::string>;
using Writer = std::function<void(TProtocol&)>;

constexpr const char* kBinary = "application/vnd.apache.thrift.binary";
constexpr const char* kCompact = "application/vnd.apache.thrift.compact";

std::string write(const char* type, const Writer& fn) {
  auto buf = std::make_shared<TMemoryBuffer>();
  std::unique_ptr<TProtocol> p;
  if (std::string(type) == kCompact) {
    p = std::make_unique<TCompactProtocolT<TMemoryBuffer>>(buf);
  } else {
    p = std::make_unique<TBinaryProtocolT<TMemoryBuffer>>(buf);
  }
  fn(*p);
  return buf->getBufferAsString();
}

Paths diff(const traffic::Response& a, const traffic::Response& b, DiffOptions options = {}) {
  ResponseDiffer differ(std::move(options));
  Paths out{"stale"};
  EXPECT_TRUE(differ.diff(a, b, out));
  return out;
}

// An order, as a service's IDL might say:
//   struct Line { 1: string sku, 2: i32 qty }
//   struct Order { 1: i64 id, 2: string customer, 3: list<Line> lines, 4: set<string> tags,
//                  5: map<string, i32> stock, 6: double total, 7: bool paid, 8: i16 shop }
struct Order {
  int64_t id = 4215;
  std::string customer = "Ann";
  std::vector<std::pair<std::string, int32_t>> lines = {{"A-1", 2}, {"B-7", 1}};
  std::vector<std::string> tags = {"gift", "express"};
  std::vector<std::pair<std::string, int32_t>> stock = {{"en", 3}, {"fr", 0}};
  double total = 12.5;
  bool paid = true;
  int16_t shop = 7;
  bool reversed_fields = false;  // written last field first
  bool wide_id = true;           // id as i64 (else i32)
};

void write_order(TProtocol& p, const Order& o) {
  p.writeStructBegin("Order");
  std::vector<std::function<void()>> fields = {
      [&] {
        if (o.wide_id) {
          p.writeFieldBegin("id", T_I64, 1);
          p.writeI64(o.id);
        } else {
          p.writeFieldBegin("id", T_I32, 1);
          p.writeI32(static_cast<int32_t>(o.id));
        }
        p.writeFieldEnd();
      },
      [&] {
        p.writeFieldBegin("customer", T_STRING, 2);
        p.writeString(o.customer);
        p.writeFieldEnd();
      },
      [&] {
        p.writeFieldBegin("lines", T_LIST, 3);
        p.writeListBegin(T_STRUCT, static_cast<uint32_t>(o.lines.size()));
        for (const auto& [sku, qty] : o.lines) {
          p.writeStructBegin("Line");
          p.writeFieldBegin("sku", T_STRING, 1);
          p.writeString(sku);
          p.writeFieldEnd();
          p.writeFieldBegin("qty", T_I32, 2);
          p.writeI32(qty);
          p.writeFieldEnd();
          p.writeFieldStop();
          p.writeStructEnd();
        }
        p.writeListEnd();
        p.writeFieldEnd();
      },
      [&] {
        p.writeFieldBegin("tags", T_SET, 4);
        p.writeSetBegin(T_STRING, static_cast<uint32_t>(o.tags.size()));
        for (const auto& t : o.tags) p.writeString(t);
        p.writeSetEnd();
        p.writeFieldEnd();
      },
      [&] {
        p.writeFieldBegin("stock", T_MAP, 5);
        p.writeMapBegin(T_STRING, T_I32, static_cast<uint32_t>(o.stock.size()));
        for (const auto& [k, v] : o.stock) {
          p.writeString(k);
          p.writeI32(v);
        }
        p.writeMapEnd();
        p.writeFieldEnd();
      },
      [&] {
        p.writeFieldBegin("total", T_DOUBLE, 6);
        p.writeDouble(o.total);
        p.writeFieldEnd();
      },
      [&] {
        p.writeFieldBegin("paid", T_BOOL, 7);
        p.writeBool(o.paid);
        p.writeFieldEnd();
      },
      [&] {
        p.writeFieldBegin("shop", T_I16, 8);
        p.writeI16(o.shop);
        p.writeFieldEnd();
      },
  };
  if (o.reversed_fields) std::reverse(fields.begin(), fields.end());
  for (auto& f : fields) f();
  p.writeFieldStop();
  p.writeStructEnd();
}

traffic::Response order(const Order& o, const char* type = kBinary) {
  return test::response(write(type, [&](TProtocol& p) { write_order(p, o); }), type);
}

// A reply to getOrder: the message header (its sequence id), then the result struct whose field
// 0 is the order.
traffic::Response reply(const Order& o, int32_t seqid, const char* type = kBinary) {
  return test::response(write(type,
                              [&](TProtocol& p) {
                                p.writeMessageBegin("getOrder", T_REPLY, seqid);
                                p.writeStructBegin("result");
                                p.writeFieldBegin("success", T_STRUCT, 0);
                                write_order(p, o);
                                p.writeFieldEnd();
                                p.writeFieldStop();
                                p.writeStructEnd();
                                p.writeMessageEnd();
                              }),
                        type);
}

TEST(DiffThrift, TheSameOrderIsTheSameWhateverWroteIt) {
  const Order o;
  for (const char* type : {kBinary, kCompact}) {
    EXPECT_THAT(diff(order(o, type), order(o, type)), IsEmpty()) << type;
    Order reversed;
    reversed.reversed_fields = true;
    EXPECT_THAT(diff(order(o, type), order(reversed, type)), IsEmpty()) << type;
    // the sequence id differs on every call
    EXPECT_THAT(diff(reply(o, 1, type), reply(o, 99, type)), IsEmpty()) << type;
    // a set and a map in another order
    Order other;
    other.tags = {"express", "gift"};
    other.stock = {{"fr", 0}, {"en", 3}};
    EXPECT_THAT(diff(order(o, type), order(other, type)), IsEmpty()) << type;
    // an id as i32 rather than i64: the same integer
    Order narrow;
    narrow.wide_id = false;
    EXPECT_THAT(diff(order(o, type), order(narrow, type)), IsEmpty()) << type;
  }
  // the other protocol, the same values; application/x-thrift reads either
  EXPECT_THAT(diff(order(o, kBinary), order(o, kCompact)), IsEmpty());
  auto as_x = [](traffic::Response r) {
    r.headers[0].value = "application/x-thrift";
    return r;
  };
  EXPECT_THAT(diff(as_x(order(o, kBinary)), as_x(order(o, kCompact))), IsEmpty());
  // an unlabelled side is read in the protocol the other side's type names
  Order x = o;
  x.customer = "Bob";
  traffic::Response unlabelled = order(x, kCompact);
  unlabelled.headers.clear();
  EXPECT_THAT(diff(order(o, kCompact), unlabelled), ElementsAre("$.2"));
}

TEST(DiffThrift, AChangedValueNamesItsFieldPath) {
  const Order o;
  for (const char* type : {kBinary, kCompact}) {
    Order x = o;
    x.lines[1].second = 3;
    EXPECT_THAT(diff(order(o, type), order(x, type)), ElementsAre("$.3[*].2")) << type;
    x = o;
    x.customer = "Bob";
    x.total = 13;
    EXPECT_THAT(diff(order(o, type), order(x, type)), ElementsAre("$.2", "$.6")) << type;
    x = o;
    x.paid = false;
    x.shop = -7;
    EXPECT_THAT(diff(order(o, type), order(x, type)), ElementsAre("$.7", "$.8")) << type;
    x = o;
    x.stock[0].second = 4;
    EXPECT_THAT(diff(order(o, type), order(x, type)), ElementsAre("$.5.en")) << type;
    x = o;
    x.tags = {"gift"};
    EXPECT_THAT(diff(order(o, type), order(x, type)), ElementsAre("$.4")) << type;
    // a list is in order: a line inserted at the top names the list only
    x = o;
    x.lines.insert(x.lines.begin(), {"Z-0", 1});
    EXPECT_THAT(diff(order(o, type), order(x, type)), ElementsAre("$.3")) << type;
    // in a reply, under the result's field 0
    x = o;
    x.id = 4216;
    EXPECT_THAT(diff(reply(o, 1, type), reply(x, 2, type)), ElementsAre("$.0.1")) << type;
  }
}

TEST(DiffThrift, AMapWithStructKeysComparesItsEntriesInAnyOrder) {
  const auto body = [](std::vector<std::pair<int32_t, int32_t>> entries) {
    return test::response(write(kCompact,
                                [&](TProtocol& p) {
                                  p.writeStructBegin("S");
                                  p.writeFieldBegin("m", T_MAP, 1);
                                  p.writeMapBegin(T_STRUCT, T_I32,
                                                  static_cast<uint32_t>(entries.size()));
                                  for (const auto& [k, v] : entries) {
                                    p.writeStructBegin("K");
                                    p.writeFieldBegin("k", T_I32, 1);
                                    p.writeI32(k);
                                    p.writeFieldEnd();
                                    p.writeFieldStop();
                                    p.writeStructEnd();
                                    p.writeI32(v);
                                  }
                                  p.writeMapEnd();
                                  p.writeFieldEnd();
                                  p.writeFieldStop();
                                  p.writeStructEnd();
                                }),
                          kCompact);
  };
  EXPECT_THAT(diff(body({{1, 10}, {2, 20}}), body({{2, 20}, {1, 10}})), IsEmpty());
  EXPECT_THAT(diff(body({{1, 10}, {2, 20}}), body({{2, 21}, {1, 10}})), ElementsAre("$.1[*][*]"));
}

TEST(DiffThrift, TypesThatAreNotTheSameValue) {
  const auto one_field = [](TType t, const std::function<void(TProtocol&)>& value) {
    return test::response(write(kBinary,
                                [&](TProtocol& p) {
                                  p.writeStructBegin("S");
                                  p.writeFieldBegin("f", t, 1);
                                  value(p);
                                  p.writeFieldEnd();
                                  p.writeFieldStop();
                                  p.writeStructEnd();
                                }),
                          kBinary);
  };
  const auto i64 = one_field(T_I64, [](TProtocol& p) { p.writeI64(5); });
  const auto dbl = one_field(T_DOUBLE, [](TProtocol& p) { p.writeDouble(5); });
  const auto str = one_field(T_STRING, [](TProtocol& p) { p.writeString("5"); });
  EXPECT_THAT(diff(i64, dbl), ElementsAre("$.1"));
  EXPECT_THAT(diff(i64, str), ElementsAre("$.1"));
}

TEST(DiffThrift, WhatDoesNotReadWholeIsBytes) {
  const Order o;
  const traffic::Response good = order(o, kBinary);
  traffic::Response cut = good;
  cut.body.pop_back();  // the final stop byte
  traffic::Response longer = good;
  longer.body += '\0';
  for (const auto& bad : {cut, longer, test::response("not thrift", kBinary)}) {
    ResponseDiffer differ;
    Paths out;
    EXPECT_TRUE(differ.diff(good, bad, out));
    EXPECT_THAT(out, ElementsAre("$body"));
    EXPECT_EQ(differ.body_counts().unreadable, 1u);
  }
  ResponseDiffer differ;
  Paths out;
  Order x = o;
  x.customer = "Bob";
  EXPECT_TRUE(differ.diff(good, order(x, kBinary), out));
  EXPECT_EQ(differ.body_counts().thrift, 1u);
}

}  // namespace
}  // namespace twin::compare
