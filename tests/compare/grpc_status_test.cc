// Tests of reading a recorded answer's gRPC status (compare/src/grpc_status.h): trailers,
// Trailers-Only, gRPC-Web trailer frames (binary and base64 text), and what is not gRPC.

#include "grpc_status.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <string>

#include "protobuf_wire.h"
#include "twin/traffic/content_coding.h"
#include "twin/traffic/text.h"

namespace twin::compare {
namespace {

traffic::Response answer(std::string type, std::string body, traffic::Headers more = {},
                         int status = 200) {
  traffic::Response r;
  r.status = status;
  r.headers.push_back({":status", std::to_string(status)});
  if (!type.empty()) r.headers.push_back({"content-type", std::move(type)});
  for (auto& h : more) r.headers.push_back(std::move(h));
  r.body = std::move(body);
  r.body_size = r.body.size();
  return r;
}

// A gRPC length-prefixed frame: flags, big-endian length, payload.
std::string frame(uint8_t flags, const std::string& payload) {
  return test::pb::envelope(flags, payload);
}

const std::string kMessage = frame(0,
                                   "\x0a\x03"
                                   "abc");

TEST(GrpcStatus, FromTheTrailers) {
  EXPECT_EQ(grpc_status(answer("application/grpc", kMessage, {{"grpc-status", "0"}})), 0);
  EXPECT_EQ(grpc_status(answer("application/grpc+proto", kMessage,
                               {{"grpc-status", "14"}, {"grpc-message", "no backend"}})),
            14);
  // a Trailers-Only answer: the status in the one header block, no body
  EXPECT_EQ(grpc_status(answer("application/grpc", "", {{"grpc-status", "12"}})), 12);
  // headers then trailers: the trailers' status is the call's
  EXPECT_EQ(grpc_status(answer("application/grpc", kMessage,
                               {{"grpc-status", "0"}, {"Grpc-Status", " 13 "}})),
            13);
  EXPECT_EQ(
      grpc_status(answer("Application/GRPC; charset=binary", kMessage, {{"grpc-status", "5"}})), 5);
}

TEST(GrpcStatus, MissingOrUnreadableIsUnknown) {
  EXPECT_EQ(grpc_status(answer("application/grpc", kMessage)), 2);
  EXPECT_EQ(grpc_status(answer("application/grpc", kMessage, {{"grpc-status", "abc"}})), 2);
  EXPECT_EQ(grpc_status(answer("application/grpc", kMessage, {{"grpc-status", "17"}})), 2);
  EXPECT_EQ(grpc_status(answer("application/grpc", kMessage, {{"grpc-status", "-1"}})), 2);
  EXPECT_EQ(grpc_status(answer("application/grpc", kMessage, {{"grpc-status", "1x"}})), 2);
  // a body cut short, with no status outside it: no judgement
  EXPECT_EQ(grpc_status(answer("application/grpc", kMessage), false), kGrpcCut);
  EXPECT_EQ(grpc_status(answer("application/grpc-web", kMessage), false), kGrpcCut);
  EXPECT_EQ(grpc_status(answer("application/grpc", kMessage, {{"grpc-status", "4"}}), false), 4);
}

TEST(GrpcStatus, NotGrpc) {
  EXPECT_EQ(grpc_status(answer("application/json", "{}", {{"grpc-status", "14"}})), -1);
  EXPECT_EQ(grpc_status(answer("", kMessage, {{"grpc-status", "14"}})), -1);
  EXPECT_EQ(grpc_status(answer("application/grpcfoo", kMessage, {{"grpc-status", "14"}})), -1);
  // an HTTP failure (a proxy's 503) is judged by its HTTP status
  EXPECT_EQ(grpc_status(answer("application/grpc", "", {{"grpc-status", "14"}}, 503)), -1);
}

TEST(GrpcStatus, AnswersToGrpcCalls) {
  // a gRPC call answered without a gRPC content-type (nghttpd serving a file, a misrouted
  // request): its grpc-status if it has one, else UNKNOWN, as clients take it
  EXPECT_EQ(grpc_status(answer("", kMessage, {{"grpc-status", "0"}}), true, true), 0);
  EXPECT_EQ(grpc_status(answer("", kMessage, {{"grpc-status", "14"}}), true, true), 14);
  EXPECT_EQ(grpc_status(answer("", kMessage), true, true), 2);
  EXPECT_EQ(grpc_status(answer("text/html", "<html>", {}), true, true), 2);
  EXPECT_EQ(grpc_status(answer("text/html", "<html>", {}, 404), true, true), -1);
  EXPECT_EQ(grpc_status(answer("", kMessage, {{"grpc-status", "14"}}), true, false), -1);
  traffic::Headers call{{"content-type", "application/grpc+proto"}, {"te", "trailers"}};
  EXPECT_TRUE(is_grpc_request(call));
  EXPECT_TRUE(is_grpc_request({{"Content-Type", "application/grpc-web-text"}}));
  EXPECT_TRUE(is_grpc_request({{"content-type", "application/connect+json"}}));
  EXPECT_FALSE(is_grpc_request({{"content-type", "application/json"}}));
  EXPECT_FALSE(is_grpc_request({}));
}

TEST(GrpcStatus, GrpcWebTrailerFrame) {
  const std::string trailer = frame(0x80, "grpc-status:7\r\ngrpc-message:denied\r\n");
  EXPECT_EQ(grpc_status(answer("application/grpc-web+proto", kMessage + trailer)), 7);
  EXPECT_EQ(grpc_status(answer("application/grpc-web", frame(0x80, "GRPC-STATUS: 0\r\n"))), 0);
  // a header wins over the body (a Trailers-Only gRPC-Web answer)
  EXPECT_EQ(grpc_status(answer("application/grpc-web", "", {{"grpc-status", "3"}})), 3);
  // a trailer frame without a status, no trailer frame, a frame running past the body
  EXPECT_EQ(grpc_status(answer("application/grpc-web", kMessage + frame(0x80, "x: y\r\n"))), 2);
  EXPECT_EQ(grpc_status(answer("application/grpc-web", kMessage)), 2);
  EXPECT_EQ(grpc_status(answer("application/grpc-web", kMessage + trailer.substr(0, 9))), 2);
}

TEST(GrpcStatus, GrpcWebTextInChunks) {
  const std::string message = kMessage;  // 10 bytes: base64 with padding
  const std::string trailer = frame(0x80, "grpc-status: 14\r\n");
  // each flushed chunk base64-encoded on its own, padding and all, then joined
  const std::string text = traffic::base64_encode(message) + traffic::base64_encode(trailer);
  ASSERT_NE(text.find('='), text.size() - 1);  // padding inside, not only at the end
  EXPECT_EQ(grpc_status(answer("application/grpc-web-text", text)), 14);
  EXPECT_EQ(grpc_status(answer("application/grpc-web-text+proto",
                               traffic::base64_encode(message + trailer))),
            14);
  EXPECT_EQ(grpc_status(answer("application/grpc-web-text", "not base64!")), 2);
}

TEST(GrpcStatus, ConnectEndOfStream) {
  const std::string ok = frame(0x02, "{}");
  const std::string failed =
      frame(0x02, R"({"error":{"code":"unavailable","message":"x"},"metadata":{}})");
  EXPECT_EQ(grpc_status(answer("application/connect+proto", kMessage + ok)), 0);
  EXPECT_EQ(grpc_status(answer("application/connect+json", frame(0, "{}") + failed)), 14);
  EXPECT_EQ(grpc_status(answer("application/connect+proto",
                               frame(0x02, R"({"error":{"code":"not_found"}})"))),
            5);
  EXPECT_EQ(grpc_status(answer("application/connect+proto",
                               frame(0x02, R"({"error":{"code":"no_such_code"}})"))),
            2);
  EXPECT_EQ(grpc_status(answer("application/connect+proto", frame(0x02, "not json"))), 2);
  // no end of stream: UNKNOWN, or no judgement when the body is cut
  EXPECT_EQ(grpc_status(answer("application/connect+proto", kMessage)), 2);
  EXPECT_EQ(grpc_status(answer("application/connect+proto", kMessage), false), kGrpcCut);
  // a compressed end of stream, by connect-content-encoding
  std::string packed;
  ASSERT_TRUE(
      traffic::encode(traffic::Coding::kGzip, R"({"error":{"code":"deadline_exceeded"}})", packed));
  EXPECT_EQ(grpc_status(answer("application/connect+proto", kMessage + frame(0x03, packed),
                               {{"connect-content-encoding", "gzip"}})),
            4);
  EXPECT_EQ(grpc_status(answer("application/connect+proto", kMessage + frame(0x03, packed))), 2);
  // Connect's unary protocol is not this one: its errors are HTTP statuses
  EXPECT_EQ(grpc_status(answer("application/proto", kMessage)), -1);
}

TEST(GrpcStatus, Classes) {
  const int failures[] = {2, 4, 12, 13, 14, 15};
  for (int code = 0; code <= 16; ++code) {
    const bool failure =
        std::find(std::begin(failures), std::end(failures), code) != std::end(failures);
    EXPECT_EQ(grpc_failure(code), failure) << code;
    EXPECT_EQ(grpc_refusal(code), code != 0 && !failure) << code;
  }
  EXPECT_FALSE(grpc_failure(-1));
  EXPECT_FALSE(grpc_refusal(-1));
  EXPECT_EQ(grpc_code_name(0), "OK");
  EXPECT_EQ(grpc_code_name(4), "DEADLINE_EXCEEDED");
  EXPECT_EQ(grpc_code_name(14), "UNAVAILABLE");
  EXPECT_EQ(grpc_code_name(16), "UNAUTHENTICATED");
}

}  // namespace
}  // namespace twin::compare
