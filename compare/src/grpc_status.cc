// The gRPC status of a recorded answer (grpc_status.h).

#include "grpc_status.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "twin/traffic/content_coding.h"
#include "twin/traffic/rpc.h"
#include "twin/traffic/text.h"

namespace twin::compare {
namespace {

constexpr int kUnknown = 2;

constexpr std::array<std::string_view, 17> kNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// A grpc-status value: a known code, else UNKNOWN.
int code_of(std::string_view v) {
  v = trim(v);
  int code = -1;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), code);
  if (r.ec != std::errc() || r.ptr != v.data() + v.size() || code < 0 ||
      code >= static_cast<int>(kNames.size())) {
    return kUnknown;
  }
  return code;
}

enum class Kind { kNone, kGrpc, kWeb, kWebText, kConnect };

// application/grpc, application/grpc+proto, application/grpc-web(+…),
// application/grpc-web-text(+…), application/connect+… (Connect's streaming protocol)
Kind kind_of(const traffic::Headers& headers) {
  const traffic::Header* ct = traffic::find_header(headers, "content-type");
  if (ct == nullptr) return Kind::kNone;
  std::string type;
  for (const char c : trim(std::string_view(ct->value).substr(0, ct->value.find(';')))) {
    type += lower(c);
  }
  const auto is = [&](std::string_view base) {
    return type == base ||
           (type.size() > base.size() && type.starts_with(base) && type[base.size()] == '+');
  };
  if (is("application/grpc-web-text")) return Kind::kWebText;
  if (is("application/grpc-web")) return Kind::kWeb;
  if (is("application/grpc")) return Kind::kGrpc;
  if (type.starts_with("application/connect+")) return Kind::kConnect;
  return Kind::kNone;
}

// Connect's error codes (connectrpc.com/docs/protocol#error-codes): gRPC's, by name.
int connect_code(std::string_view name) {
  static constexpr std::array<std::string_view, 17> kConnect = {"",
                                                                "canceled",
                                                                "unknown",
                                                                "invalid_argument",
                                                                "deadline_exceeded",
                                                                "not_found",
                                                                "already_exists",
                                                                "permission_denied",
                                                                "resource_exhausted",
                                                                "failed_precondition",
                                                                "aborted",
                                                                "out_of_range",
                                                                "unimplemented",
                                                                "internal",
                                                                "unavailable",
                                                                "data_loss",
                                                                "unauthenticated"};
  for (size_t i = 1; i < kConnect.size(); ++i) {
    if (kConnect[i] == name) return static_cast<int>(i);
  }
  return kUnknown;
}

// A Connect stream's status: its end-of-stream frame (flag 0x02), a JSON object whose "error"
// names the code; no error is OK. nullopt when there is no such frame.
std::optional<int> connect_end_status(std::string_view body, const traffic::Headers& headers) {
  for (const traffic::Envelope& e : traffic::split_envelopes(body).items) {
    if ((e.flags & 0x02) == 0) continue;
    std::string_view end = e.payload;
    std::string decoded;
    if (e.flags & 0x01) {
      const traffic::Header* h = traffic::find_header(headers, "connect-content-encoding");
      if (h == nullptr) return kUnknown;
      const auto codings = traffic::parse_content_encoding(h->value);
      if (!codings || !traffic::decode_all(*codings, end, 1 << 20, decoded)) return kUnknown;
      end = decoded;
    }
    const nlohmann::json j = nlohmann::json::parse(end, nullptr, false);
    if (!j.is_object()) return kUnknown;
    const auto error = j.find("error");
    if (error == j.end() || error->is_null()) return 0;
    if (!error->is_object()) return kUnknown;
    const auto code = error->find("code");
    if (code == error->end() || !code->is_string()) return kUnknown;
    return connect_code(code->get<std::string>());
  }
  return std::nullopt;
}

// The grpc-status in a gRPC-Web body's trailer frame (flag 0x80), if there is one.
std::optional<int> web_trailer_status(std::string_view body) {
  for (const traffic::Envelope& e : traffic::split_envelopes(body).items) {
    if ((e.flags & 0x80) == 0) continue;
    // HTTP/1-style header lines: "grpc-status: 0\r\ngrpc-message: …\r\n"
    std::string_view block = e.payload;
    std::optional<int> status;
    while (!block.empty()) {
      const size_t eol = block.find('\n');
      const std::string_view line = block.substr(0, eol);
      block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 1);
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos &&
          traffic::ascii_iequals(trim(line.substr(0, colon)), "grpc-status")) {
        status = code_of(line.substr(colon + 1));
      }
    }
    return status ? status : std::optional<int>(kUnknown);
  }
  return std::nullopt;
}

}  // namespace

bool is_grpc_request(const traffic::Headers& request_headers) {
  return kind_of(request_headers) != Kind::kNone;
}

int grpc_status(const traffic::Response& r, bool complete, bool grpc_request) {
  if (r.status != 200) return -1;
  Kind kind = kind_of(r.headers);
  if (kind == Kind::kNone) {
    if (!grpc_request) return -1;
    // A gRPC call answered without a gRPC content-type: clients refuse it (grpc-go, Connect:
    // UNKNOWN) unless a grpc-status says otherwise, as a Trailers-Only answer's may.
    kind = Kind::kGrpc;
  }
  // The last grpc-status: the trailers' (recorded after the headers), or a Trailers-Only one.
  const traffic::Header* last = nullptr;
  for (const traffic::Header& h : r.headers) {
    if (traffic::ascii_iequals(h.name, "grpc-status")) last = &h;
  }
  if (last != nullptr) return code_of(last->value);
  if (kind != Kind::kGrpc) {
    std::optional<int> status;
    if (kind == Kind::kConnect) {
      status = connect_end_status(r.body, r.headers);
    } else if (kind == Kind::kWeb) {
      status = web_trailer_status(r.body);
    } else if (std::string decoded; traffic::decode_grpc_web_text(r.body, decoded)) {
      status = web_trailer_status(decoded);
    }
    if (status) return *status;
  }
  return complete ? kUnknown : kGrpcCut;
}

std::string_view grpc_code_name(int code) {
  if (code < 0 || code >= static_cast<int>(kNames.size())) return "UNKNOWN";
  return kNames[static_cast<size_t>(code)];
}

bool grpc_failure(int code) {
  switch (code) {
    case 2:   // UNKNOWN
    case 4:   // DEADLINE_EXCEEDED
    case 12:  // UNIMPLEMENTED
    case 13:  // INTERNAL
    case 14:  // UNAVAILABLE
    case 15:  // DATA_LOSS
      return true;
    default:
      return false;
  }
}

}  // namespace twin::compare
