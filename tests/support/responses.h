#pragma once
// A response as a target answered it, for the comparator's diff tests: status 200, the body
// framed by Content-Length, a Content-Type (none when `type` is empty) and any more headers.

#include <string>
#include <utility>

#include "twin/traffic/exchange.h"

namespace twin::test {

inline traffic::Response response(std::string body, std::string type, traffic::Headers more = {}) {
  traffic::Response r;
  r.status = 200;
  r.reason = "OK";
  if (!type.empty()) r.headers.push_back({"Content-Type", std::move(type)});
  for (auto& h : more) r.headers.push_back(std::move(h));
  r.body = std::move(body);
  r.body_size = r.body.size();
  r.framing = traffic::Framing::kContentLength;
  return r;
}

}  // namespace twin::test
