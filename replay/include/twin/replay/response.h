#pragma once
// What a client (HTTP/1.1 or HTTP/2) hands back for one request: the response as recorded into
// the results archive, or why there is none.

#include <cstdint>

#include "twin/traffic/exchange.h"

namespace twin::replay {

struct Completion {
  uint64_t token = 0;  // the caller's id for the request, given when it was submitted
  traffic::Response response;
  bool has_response = false;  // a status line / :status was received
  traffic::ErrorKind error = traffic::ErrorKind::kNone;
  uint32_t flags = 0;                         // traffic::Flag bits, e.g. kFlagResponseBodyTruncated
  int64_t response_start = traffic::kNoTime;  // the `now` of the first byte of the response
  int64_t response_end = traffic::kNoTime;    // the `now` of its last byte
};

}  // namespace twin::replay
