#pragma once
// The gRPC status of a recorded answer. A gRPC call answers HTTP 200 whether it succeeded or
// failed: the outcome is the grpc-status field, in the trailers (recorded after the response's
// header fields), in the headers of a Trailers-Only answer, or, for gRPC-Web over HTTP/1, in the
// trailer frame at the end of the body (flag 0x80; base64 for application/grpc-web-text). A
// Connect stream (application/connect+…) ends in a frame flagged 0x02 whose JSON "error" names
// the code (Connect's unary calls fail with an HTTP status, judged as such). Status
// codes and their classes follow grpc/grpc's doc/statuscodes.md and google.rpc.Code's mapping
// to HTTP: the codes that map to 5xx are failures, the other non-zero ones refusals.

#include <string>
#include <string_view>

#include "twin/traffic/exchange.h"

namespace twin::compare {

/// Whether a request is a gRPC (or Connect streaming) call: its Content-Type is
/// application/grpc… or application/connect+….
bool is_grpc_request(const traffic::Headers& request_headers);

/// -1 when `r` is not a gRPC answer (its Content-Type is not application/grpc… or
/// application/connect+…, and it does not answer a gRPC call, `grpc_request`) or its HTTP
/// status is not 200; otherwise its gRPC status code, 0-16. A gRPC answer whose status cannot be
/// read, or is not a known code, is UNKNOWN (2), as gRPC clients take it; so is the answer to a
/// gRPC call that comes without a gRPC content-type and without a grpc-status. `complete` false
/// (a body cut by --max-body or a capture gap) with no status outside the body: kGrpcCut, not a
/// guess.
int grpc_status(const traffic::Response& r, bool complete = true, bool grpc_request = false);

/// grpc_status() of a gRPC answer whose status would be in the part of the body that is
/// missing: a gRPC answer, of no known status (it matches any).
inline constexpr int kGrpcCut = -2;

/// "OK", "CANCELLED", … "UNAUTHENTICATED".
std::string_view grpc_code_name(int code);

/// UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS: the codes
/// google.rpc.Code maps to HTTP 5xx, the server's failures.
bool grpc_failure(int code);

/// Any other code but OK: the server refused the call (INVALID_ARGUMENT, NOT_FOUND, …), as a
/// 4xx does.
inline bool grpc_refusal(int code) { return code > 0 && !grpc_failure(code); }

}  // namespace twin::compare
