// Fuzz target for reading a recorded answer's gRPC status (compare/src/grpc_status.cc): the
// frames, base64 text and JSON of bodies a target sent back, untrusted. The input is
//   byte 0   the Content-Type (low three bits): application/grpc, grpc+proto, grpc-web,
//            grpc-web-text, connect+proto, connect+json, application/json, none; bit 3 a
//            grpc-status header from the next byte (as text); bit 4 connect-content-encoding
//            gzip; bit 5 the body is cut (complete = false); bit 6 it answers a gRPC call
//   rest     the body
// Properties: the status is -1, a code 0-16, or kGrpcCut for a cut body only; -1 for a type that is
// not gRPC unless it answers a gRPC call; a complete answer of a gRPC type, or to a gRPC call,
// always has a code (a missing status is UNKNOWN); a grpc-status header decides whatever the body
// holds; an HTTP status other than 200 is never judged by gRPC.
//
// Run with -DTWIN_FUZZ=ON (clang): build-fuzz/bin/fuzz_grpc_status -max_len=4096
//   /tmp/gs-corpus tests/fuzz/corpus/grpc_status

#include <cstdint>
#include <cstdlib>
#include <string>

#include "grpc_status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const char* const kTypes[] = {"application/grpc",          "application/grpc+proto",
                                       "application/grpc-web",      "application/grpc-web-text",
                                       "application/connect+proto", "application/connect+json",
                                       "application/json",          nullptr};
  const uint8_t opt = data[0];
  const char* type = kTypes[opt & 7];
  twin::traffic::Response r;
  r.status = 200;
  if (type != nullptr) r.headers.push_back({"content-type", type});
  const bool header = opt & 8;
  if (header) r.headers.push_back({"grpc-status", std::to_string(data[1] % 20)});
  if (opt & 16) r.headers.push_back({"connect-content-encoding", "gzip"});
  r.body.assign(reinterpret_cast<const char*>(data) + 2, size - 2);
  r.body_size = r.body.size();
  const bool complete = (opt & 32) == 0;
  const bool call = (opt & 64) != 0;
  const int status = twin::compare::grpc_status(r, complete, call);
  if (status < twin::compare::kGrpcCut || status > 16) std::abort();
  if (status == twin::compare::kGrpcCut && complete) std::abort();
  const bool grpc = call || (type != nullptr && (opt & 7) != 6);
  if (!grpc && status != -1) std::abort();
  if (grpc && complete && status < 0) std::abort();
  if (grpc && header && status != (data[1] % 20 <= 16 ? data[1] % 20 : 2)) std::abort();
  r.status = 503;
  if (twin::compare::grpc_status(r, complete, call) != -1) std::abort();
  return 0;
}
