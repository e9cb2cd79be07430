#include "twin/traffic/exchange.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "twin/traffic/text.h"

namespace twin::traffic {
namespace {

constexpr std::string_view kProtocolNames[] = {"unknown", "http/1.0", "http/1.1", "h2"};
constexpr std::string_view kErrorNames[] = {
    "none", "connect", "timeout", "reset", "protocol", "truncated", "tls", "cancelled", "other"};
constexpr std::string_view kFramingNames[] = {"none", "content-length", "chunked", "close", "h2"};
constexpr std::string_view kFlagNames[] = {"gap",
                                           "request_body_truncated",
                                           "response_body_truncated",
                                           "midstream",
                                           "upgrade",
                                           "no_response",
                                           "scrubbed"};
static_assert(sizeof(kFlagNames) / sizeof(kFlagNames[0]) == 7);

template <typename Enum, size_t N>
std::optional<Enum> parse_name(const std::string_view (&names)[N], std::string_view s) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Protocol p) {
  auto i = static_cast<size_t>(p);
  return i < std::size(kProtocolNames) ? kProtocolNames[i] : "unknown";
}
std::string_view to_string(ErrorKind e) {
  auto i = static_cast<size_t>(e);
  return i < std::size(kErrorNames) ? kErrorNames[i] : "other";
}
std::string_view to_string(Framing f) {
  auto i = static_cast<size_t>(f);
  return i < std::size(kFramingNames) ? kFramingNames[i] : "none";
}
std::string_view flag_name(Flag f) {
  for (size_t i = 0; i < std::size(kFlagNames); ++i) {
    if (static_cast<uint32_t>(f) == (1u << i)) return kFlagNames[i];
  }
  return "unknown";
}
std::optional<Protocol> parse_protocol(std::string_view s) {
  return parse_name<Protocol>(kProtocolNames, s);
}
std::optional<ErrorKind> parse_error_kind(std::string_view s) {
  return parse_name<ErrorKind>(kErrorNames, s);
}
std::optional<Framing> parse_framing(std::string_view s) {
  return parse_name<Framing>(kFramingNames, s);
}
std::optional<Flag> parse_flag(std::string_view s) {
  for (size_t i = 0; i < std::size(kFlagNames); ++i) {
    if (kFlagNames[i] == s) return static_cast<Flag>(1u << i);
  }
  return std::nullopt;
}

const Header* find_header(const Headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (ascii_iequals(h.name, name)) return &h;
  }
  return nullptr;
}

std::string Endpoint::to_string() const {
  if (family != 4 && family != 6) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, address.data(), buf, sizeof(buf));
  // Built by appending: GCC 12 at -O3 warns (-Wrestrict) on "[" + std::string(...) chains.
  std::string out;
  out.reserve(INET6_ADDRSTRLEN + 8);
  if (family == 6) out.push_back('[');
  out.append(buf);
  if (family == 6) out.push_back(']');
  out.push_back(':');
  out.append(std::to_string(port));
  return out;
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  Endpoint e;
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    e.family = 6;
    if (inet_pton(AF_INET6, host.c_str(), e.address.data()) != 1) return std::nullopt;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    e.family = 4;
    if (inet_pton(AF_INET, host.c_str(), e.address.data()) != 1) return std::nullopt;
  }
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535 ||
      port_text.empty()) {
    return std::nullopt;
  }
  e.port = static_cast<uint16_t>(port);
  return e;
}

}  // namespace twin::traffic
