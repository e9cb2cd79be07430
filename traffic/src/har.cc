#include "twin/traffic/har.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string_view>
#include <unordered_map>

#include "twin/traffic/jsonl.h"
#include "twin/traffic/text.h"

// Writing: the standard HAR fields carry what they can, as valid UTF-8 (bytes that are not
// UTF-8 become U+FFFD there; a request body that is not UTF-8 is base64 in postData.text with
// "encoding": "base64", as content.text does for responses). "_twin" is a partial JSONL object
// (jsonl.h): the JSONL fields minus what the standard fields already hold exactly, namely
//   request.method        when it is UTF-8 (then request.method holds it),
//   request.headers       when every header is UTF-8 (then request.headers holds them),
//   request.body(_encoding), response.body(_encoding)  (always in postData / content),
//   response.status       (always in response.status),
//   response.headers      when every header is UTF-8.
// request.target, request.authority and response.reason stay in "_twin" always: a URL cannot
// say "*" or an authority-form target exactly, and the scheme is a guess.
// Reading an entry with "_twin" fills those fields back from the standard ones and reads the
// result as a JSONL object, so twin → HAR → twin is exact. An entry without "_twin" is a
// browser's and is mapped as well as HAR allows (see from_browser_entry).

namespace twin::traffic {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr double kNanosPerMilli = 1e6;
// A HAR duration above this many milliseconds (about 31 years) is treated as garbage.
constexpr double kMaxMillis = 1e12;

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii_iequals(s.substr(0, prefix.size()), prefix);
}

bool icontains(std::string_view s, std::string_view needle) {
  if (needle.size() > s.size()) return false;
  for (size_t i = 0; i + needle.size() <= s.size(); ++i) {
    if (ascii_iequals(s.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool all_utf8(const Headers& headers) {
  for (const auto& h : headers) {
    if (!is_valid_utf8(h.name) || !is_valid_utf8(h.value)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Writing

// Milliseconds from a to b, or 0 when either is unknown or b is before a (HAR's send, wait and
// receive must be non-negative).
double ms_between(int64_t a, int64_t b) {
  if (a == kNoTime || b == kNoTime) return 0;
  int64_t d = 0;
  if (__builtin_sub_overflow(b, a, &d) || d < 0) return 0;
  return static_cast<double>(d) / kNanosPerMilli;
}

std::string_view http_version(Protocol p) {
  switch (p) {
    case Protocol::kHttp10:
      return "HTTP/1.0";
    case Protocol::kHttp11:
      return "HTTP/1.1";
    case Protocol::kHttp2:
      return "HTTP/2.0";
    default:
      return "";
  }
}

ordered_json har_headers(const Headers& headers) {
  ordered_json a = ordered_json::array();
  for (const auto& h : headers) {
    a.push_back({{"name", to_valid_utf8(h.name)}, {"value", to_valid_utf8(h.value)}});
  }
  return a;
}

// "a=1&b=2" → [{name, value}], kept as written (HAR stores them as in the URL).
ordered_json name_value_pairs(std::string_view text) {
  ordered_json a = ordered_json::array();
  while (!text.empty()) {
    const size_t amp = text.find('&');
    const std::string_view part = text.substr(0, amp);
    if (!part.empty()) {
      const size_t eq = part.find('=');
      a.push_back(
          {{"name", std::string(part.substr(0, eq))},
           {"value", eq == std::string_view::npos ? "" : std::string(part.substr(eq + 1))}});
    }
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return a;
}

ordered_json request_cookies(const Headers& headers) {
  ordered_json a = ordered_json::array();
  for (const auto& h : headers) {
    if (!ascii_iequals(h.name, "cookie")) continue;
    const std::string value = to_valid_utf8(h.value);
    std::string_view rest = value;
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      const std::string_view part = trim(rest.substr(0, semi));
      const size_t eq = part.find('=');
      if (eq != std::string_view::npos && eq > 0) {
        a.push_back({{"name", std::string(trim(part.substr(0, eq)))},
                     {"value", std::string(trim(part.substr(eq + 1)))}});
      }
      if (semi == std::string_view::npos) break;
      rest.remove_prefix(semi + 1);
    }
  }
  return a;
}

ordered_json response_cookies(const Headers& headers) {
  ordered_json a = ordered_json::array();
  for (const auto& h : headers) {
    if (!ascii_iequals(h.name, "set-cookie")) continue;
    const std::string value = to_valid_utf8(h.value);
    std::string_view rest = value;
    const size_t semi = rest.find(';');
    const std::string_view first = trim(rest.substr(0, semi));
    const size_t eq = first.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    ordered_json c = {{"name", std::string(trim(first.substr(0, eq)))},
                      {"value", std::string(trim(first.substr(eq + 1)))}};
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    while (!rest.empty()) {
      const size_t next = rest.find(';');
      const std::string_view attr = trim(rest.substr(0, next));
      const size_t aeq = attr.find('=');
      const std::string_view key = trim(attr.substr(0, aeq));
      const std::string_view val =
          aeq == std::string_view::npos ? std::string_view() : trim(attr.substr(aeq + 1));
      if (ascii_iequals(key, "path")) c["path"] = std::string(val);
      if (ascii_iequals(key, "domain")) c["domain"] = std::string(val);
      if (ascii_iequals(key, "expires")) c["expires"] = std::string(val);
      if (ascii_iequals(key, "httponly")) c["httpOnly"] = true;
      if (ascii_iequals(key, "secure")) c["secure"] = true;
      if (next == std::string_view::npos) break;
      rest.remove_prefix(next + 1);
    }
    a.push_back(std::move(c));
  }
  return a;
}

std::string header_text(const Headers& headers, std::string_view name) {
  const Header* h = find_header(headers, name);
  return h == nullptr ? std::string() : to_valid_utf8(h->value);
}

bool is_absolute_url(std::string_view t) {
  const size_t colon = t.find("://");
  if (colon == std::string_view::npos || colon == 0) return false;
  for (size_t i = 0; i < colon; ++i) {
    const char c = t[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!ok) return false;
  }
  return true;
}

// The request's URL. twin does not record whether a connection used TLS, so the scheme is a
// guess from the port (443 → https); the exact target and authority are in "_twin".
std::string url_of(const Exchange& x) {
  const std::string& t = x.request.target;
  if (is_absolute_url(t)) return to_valid_utf8(t);
  std::string_view authority = x.request.authority;
  std::string fallback;
  if (authority.empty()) {
    fallback = x.server.known() ? x.server.to_string() : "unknown.invalid";
    authority = fallback;
  }
  const bool tls = x.server.port == 443 || authority.ends_with(":443");
  std::string url = tls ? "https://" : "http://";
  if (!t.empty() && t.front() == '/') {
    url.append(authority).append(t);
  } else if (t == "*" || t.empty()) {
    url.append(authority).append("/");
  } else {
    url.append(t).append("/");  // authority-form (CONNECT host:port)
  }
  return to_valid_utf8(url);
}

std::string server_ip(const Endpoint& e) {
  std::string s = e.to_string();
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos) return {};
  s.resize(colon);
  if (s.size() >= 2 && s.front() == '[') s = s.substr(1, s.size() - 2);
  return s;
}

// A copy without the bodies: "_twin" does not carry them, so they need not be encoded.
Exchange without_bodies(const Exchange& x) {
  Exchange c;
  c.id = x.id;
  c.origin_id = x.origin_id;
  c.session = x.session;
  c.seq = x.seq;
  c.stream = x.stream;
  c.protocol = x.protocol;
  c.target = x.target;
  c.time = x.time;
  c.client = x.client;
  c.server = x.server;
  c.request.method = x.request.method;
  c.request.target = x.request.target;
  c.request.authority = x.request.authority;
  c.request.headers = x.request.headers;
  c.request.body_size = x.request.body_size;
  c.request.framing = x.request.framing;
  if (x.response) {
    Response& r = c.response.emplace();
    r.status = x.response->status;
    r.reason = x.response->reason;
    r.headers = x.response->headers;
    r.body_size = x.response->body_size;
    r.framing = x.response->framing;
  }
  c.error = x.error;
  c.flags = x.flags;
  return c;
}

ordered_json twin_object(const Exchange& x) {
  ordered_json t = to_jsonl_object(without_bodies(x));
  ordered_json& rq = t["request"];
  rq.erase("body");
  rq.erase("body_encoding");
  if (is_valid_utf8(x.request.method)) rq.erase("method");
  if (all_utf8(x.request.headers)) rq.erase("headers");
  if (x.response) {
    ordered_json& rs = t["response"];
    rs.erase("status");
    rs.erase("body");
    rs.erase("body_encoding");
    if (all_utf8(x.response->headers)) rs.erase("headers");
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Reading

tl::unexpected<Error> field_error(std::string_view path, std::string_view what) {
  std::string m(path);
  m.append(": ").append(what);
  return fail(std::move(m));
}

// The member `key` of an object, or nullptr when it is missing or null.
const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<const std::string*> string_member(const json& object, const char* key,
                                         const std::string& path, bool required) {
  const json* v = member(object, key);
  if (v == nullptr) {
    if (required) return field_error(path, "missing");
    return nullptr;
  }
  if (!v->is_string()) return field_error(path, "expected string");
  return &v->get_ref<const std::string&>();
}

// HAR headers [{name, value}] as Headers.
Result<void> read_har_headers(const json& message, const std::string& path, Headers& out) {
  out.clear();
  const json* v = member(message, "headers");
  if (v == nullptr) return {};
  if (!v->is_array()) return field_error(path + ".headers", "expected array");
  out.resize(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const json& h = (*v)[i];
    const json* name = member(h, "name");
    const json* value = member(h, "value");
    if (name == nullptr || value == nullptr || !name->is_string() || !value->is_string()) {
      return field_error(path + ".headers[" + std::to_string(i) + "]",
                         "expected {\"name\": string, \"value\": string}");
    }
    out[i].name = name->get_ref<const std::string&>();
    out[i].value = value->get_ref<const std::string&>();
  }
  return {};
}

json headers_as_pairs(const Headers& headers) {
  json a = json::array();
  for (const auto& h : headers) a.push_back(json::array({h.name, h.value}));
  return a;
}

// request.postData: text, or text with "encoding": "base64", or only params.
Result<void> read_post_data(const json& request, std::string& body) {
  body.clear();
  const json* post = member(request, "postData");
  if (post == nullptr) return {};
  if (!post->is_object()) return field_error("request.postData", "expected object");
  auto text = string_member(*post, "text", "request.postData.text", false);
  if (!text) return tl::unexpected(text.error());
  auto encoding = string_member(*post, "encoding", "request.postData.encoding", false);
  if (!encoding) return tl::unexpected(encoding.error());
  if (*text != nullptr) {
    if (*encoding != nullptr && !(*encoding)->empty()) {
      if (**encoding != "base64") return field_error("request.postData.encoding", "unsupported");
      auto bytes = base64_decode(**text);
      if (!bytes) return field_error("request.postData.text", "not valid base64");
      body = std::move(*bytes);
    } else {
      body = **text;
    }
    return {};
  }
  // No text: rebuild a form body from params, as written.
  const json* params = member(*post, "params");
  if (params == nullptr) return {};
  if (!params->is_array()) return field_error("request.postData.params", "expected array");
  for (size_t i = 0; i < params->size(); ++i) {
    const std::string path = "request.postData.params[" + std::to_string(i) + "]";
    auto name = string_member((*params)[i], "name", path + ".name", true);
    if (!name) return tl::unexpected(name.error());
    auto value = string_member((*params)[i], "value", path + ".value", false);
    if (!value) return tl::unexpected(value.error());
    if (i > 0) body += '&';
    body += **name;
    if (*value != nullptr) body.append("=").append(**value);
  }
  return {};
}

// response.content: text, decoded when "encoding" is "base64"; `size` is content.size or -1.
Result<void> read_content(const json& response, std::string& body, double& size) {
  body.clear();
  size = -1;
  const json* content = member(response, "content");
  if (content == nullptr) return {};
  if (!content->is_object()) return field_error("response.content", "expected object");
  if (const json* s = member(*content, "size"); s != nullptr) {
    if (!s->is_number()) return field_error("response.content.size", "expected number");
    size = s->get<double>();
  }
  auto text = string_member(*content, "text", "response.content.text", false);
  if (!text) return tl::unexpected(text.error());
  auto encoding = string_member(*content, "encoding", "response.content.encoding", false);
  if (!encoding) return tl::unexpected(encoding.error());
  if (*text == nullptr) return {};
  if (*encoding != nullptr && !(*encoding)->empty()) {
    if (**encoding != "base64") return field_error("response.content.encoding", "unsupported");
    auto bytes = base64_decode(**text);
    if (!bytes) return field_error("response.content.text", "not valid base64");
    body = std::move(*bytes);
  } else {
    body = **text;
  }
  return {};
}

// A browser's status is 0..999; twin writes whatever int the exchange holds.
Result<int> read_status(const json& response, bool any_int) {
  const json* s = member(response, "status");
  if (s == nullptr) return field_error("response.status", "missing");
  const int64_t lo = any_int ? std::numeric_limits<int>::min() : 0;
  const int64_t hi = any_int ? std::numeric_limits<int>::max() : 999;
  if (!s->is_number_integer() ||
      (s->is_number_unsigned() && s->get<uint64_t>() > static_cast<uint64_t>(hi)) ||
      s->get<int64_t>() < lo || s->get<int64_t>() > hi) {
    return field_error("response.status", any_int ? "expected integer" : "expected integer 0..999");
  }
  return static_cast<int>(s->get<int64_t>());
}

// An entry written by twin: "_twin" plus the standard fields it leaves out.
Result<void> from_twin_entry(const json& entry, const json& twin, Exchange& out) {
  if (!twin.is_object()) return field_error("_twin", "expected object");
  const json* request = member(entry, "request");
  if (request == nullptr || !request->is_object()) return field_error("request", "expected object");
  json object = twin;
  json& rq = object["request"];
  if (!rq.is_object()) return field_error("_twin.request", "expected object");
  if (!rq.contains("method")) {
    auto method = string_member(*request, "method", "request.method", true);
    if (!method) return tl::unexpected(method.error());
    rq["method"] = **method;
  }
  if (!rq.contains("headers")) {
    Headers headers;
    if (auto r = read_har_headers(*request, "request", headers); !r) return r;
    rq["headers"] = headers_as_pairs(headers);
  }
  std::string body;
  if (auto r = read_post_data(*request, body); !r) return r;
  // Raw bytes under "utf8" are taken as they are: from_jsonl_object copies the string.
  rq["body"] = std::move(body);
  rq["body_encoding"] = "utf8";

  auto rs = object.find("response");
  if (rs != object.end() && !rs->is_null()) {
    if (!rs->is_object()) return field_error("_twin.response", "expected object or null");
    const json* response = member(entry, "response");
    if (response == nullptr || !response->is_object()) {
      return field_error("response", "expected object");
    }
    auto status = read_status(*response, true);
    if (!status) return tl::unexpected(status.error());
    (*rs)["status"] = *status;
    if (!rs->contains("headers")) {
      Headers headers;
      if (auto r = read_har_headers(*response, "response", headers); !r) return r;
      (*rs)["headers"] = headers_as_pairs(headers);
    }
    double size = 0;
    if (auto r = read_content(*response, body, size); !r) return r;
    (*rs)["body"] = std::move(body);
    (*rs)["body_encoding"] = "utf8";
  }
  if (auto r = from_jsonl_object(object, out); !r) return fail("_twin." + r.error().message);
  return {};
}

Protocol protocol_of(std::string_view version) {
  if (ascii_iequals(version, "http/1.0")) return Protocol::kHttp10;
  if (ascii_iequals(version, "http/1.1")) return Protocol::kHttp11;
  if (ascii_iequals(version, "http/2.0") || ascii_iequals(version, "http/2") ||
      ascii_iequals(version, "h2") || ascii_iequals(version, "h2c")) {
    return Protocol::kHttp2;
  }
  return Protocol::kUnknown;  // "h3", "http/3", "" and anything else
}

struct Url {
  std::string scheme;  // lower case; empty for a path-only URL
  std::string authority;
  std::string host;   // without brackets
  uint16_t port = 0;  // explicit or the scheme's default; 0 when neither
  std::string target;
};

Result<Url> parse_url(std::string_view url) {
  Url u;
  if (url.empty()) return field_error("request.url", "empty");
  if (!is_absolute_url(url)) {
    // A path ("/a?b"), or a URL without an authority (data:, blob:, about:) kept whole.
    u.target = url.substr(0, url.front() == '/' ? url.find('#') : std::string_view::npos);
    return u;
  }
  const size_t sep = url.find("://");
  for (char c : url.substr(0, sep)) u.scheme += ascii_lower(c);
  std::string_view rest = url.substr(sep + 3);
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);  // user:password@
  }
  if (authority.empty()) return field_error("request.url", "no host");
  u.authority = authority;
  std::string_view port_text;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return field_error("request.url", "unclosed '[' in host");
    u.host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return field_error("request.url", "bad port");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) return field_error("request.url", "bad port");
      port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port > 65535) return field_error("request.url", "bad port");
    u.port = static_cast<uint16_t>(port);
  } else if (u.scheme == "http" || u.scheme == "ws") {
    u.port = 80;
  } else if (u.scheme == "https" || u.scheme == "wss") {
    u.port = 443;
  }
  rest = rest.substr(0, rest.find('#'));
  if (rest.empty() || rest.front() == '?') u.target = "/";
  u.target.append(rest);
  return u;
}

// A HAR duration in milliseconds: nullopt when absent or negative (-1 means "not applicable").
Result<std::optional<double>> read_ms(const json& object, const char* key,
                                      const std::string& path) {
  const json* v = member(object, key);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_number()) return field_error(path, "expected number");
  const double ms = v->get<double>();
  if (!std::isfinite(ms) || ms > kMaxMillis) return field_error(path, "out of range");
  if (ms < 0) return std::optional<double>();
  return std::optional<double>(ms);
}

int64_t add_ms(int64_t t, double ms) {
  if (t == kNoTime) return kNoTime;
  int64_t r = 0;
  if (__builtin_add_overflow(t, std::llround(ms * kNanosPerMilli), &r)) return kNoTime;
  return r;
}

// Chromium writes net error names ("net::ERR_CONNECTION_REFUSED") in response._error.
ErrorKind error_of(std::string_view e) {
  if (icontains(e, "ABORTED")) return ErrorKind::kCancelled;
  if (icontains(e, "TIMED_OUT") || icontains(e, "TIMEOUT")) return ErrorKind::kTimeout;
  if (icontains(e, "REFUSED") || icontains(e, "NAME_NOT_RESOLVED") || icontains(e, "UNREACHABLE") ||
      icontains(e, "CONNECTION_FAILED")) {
    return ErrorKind::kConnect;
  }
  if (icontains(e, "RESET") || icontains(e, "CONNECTION_CLOSED")) return ErrorKind::kReset;
  if (icontains(e, "SSL") || icontains(e, "CERT")) return ErrorKind::kTls;
  if (icontains(e, "PROTOCOL") || icontains(e, "INVALID_HTTP")) return ErrorKind::kProtocol;
  if (icontains(e, "INCOMPLETE") || icontains(e, "LENGTH_MISMATCH")) return ErrorKind::kTruncated;
  return ErrorKind::kOther;
}

Framing framing_of(Protocol protocol, const Headers& headers, bool has_body, bool response) {
  if (protocol == Protocol::kHttp2) return has_body ? Framing::kHttp2 : Framing::kNone;
  if (const Header* te = find_header(headers, "transfer-encoding");
      te != nullptr && icontains(te->value, "chunked")) {
    return Framing::kChunked;
  }
  if (find_header(headers, "content-length") != nullptr) return Framing::kContentLength;
  if (!has_body) return Framing::kNone;
  return response ? Framing::kClose : Framing::kContentLength;
}

void reset(Exchange& out) {
  out.id = out.origin_id = out.session = out.seq = 0;
  out.stream = 0;
  out.protocol = Protocol::kUnknown;
  out.target.clear();
  out.time = Timing{};
  out.client = Endpoint{};
  out.server = Endpoint{};
  out.request.method.clear();
  out.request.target.clear();
  out.request.authority.clear();
  out.request.headers.clear();
  out.request.body.clear();
  out.request.body_size = 0;
  out.request.framing = Framing::kNone;
  out.error = ErrorKind::kNone;
  out.flags = 0;
}

// An entry written by a browser (or anything but twin). The mapping:
//   id = index + 1; session = "connection" when it is a decimal number, else 0; seq = 0
//     (read_har_file numbers entries within a session in file order);
//   protocol from request.httpVersion (else response.httpVersion): HTTP/1.0, HTTP/1.1,
//     HTTP/2(.0) or h2; anything else (h3) is unknown;
//   request target = the URL's path and query; authority = the :authority or Host header, else
//     the URL's host[:port]; server = serverIPAddress with the URL's port (default 80/443);
//   request_start = startedDateTime; request_end = start + blocked + dns + connect + send;
//     response_start = request_end + wait; response_end = start + time (the non-negative
//     timings; ssl is part of connect in HAR 1.2);
//   bodies from postData.text (params joined when there is no text) and content.text, base64
//     decoded when "encoding" is "base64"; when content.size is larger than the stored body,
//     body_size keeps the larger size and the response-body-truncated flag is set;
//   status 0 with no content is a request without a response: flag no_response and error from
//     Chromium's response._error (net::ERR_* names), "other" when there is none;
//   framing from Transfer-Encoding / Content-Length, or h2 for HTTP/2 with a body.
Result<void> from_browser_entry(const json& entry, uint64_t index, Exchange& out) {
  reset(out);
  out.id = index + 1;
  const json* request = member(entry, "request");
  if (request == nullptr || !request->is_object()) return field_error("request", "expected object");
  const json* response = member(entry, "response");
  if (response != nullptr && !response->is_object()) {
    return field_error("response", "expected object");
  }

  auto method = string_member(*request, "method", "request.method", true);
  if (!method) return tl::unexpected(method.error());
  out.request.method = **method;
  auto url_text = string_member(*request, "url", "request.url", true);
  if (!url_text) return tl::unexpected(url_text.error());
  auto url = parse_url(**url_text);
  if (!url) return tl::unexpected(url.error());
  out.request.target = std::move(url->target);

  // The request's httpVersion; the response's only when the request has none (Chromium leaves
  // some empty).
  for (const json* message : {request, response}) {
    const json* v = message != nullptr ? member(*message, "httpVersion") : nullptr;
    if (v == nullptr || !v->is_string() || v->get_ref<const std::string&>().empty()) continue;
    out.protocol = protocol_of(v->get_ref<const std::string&>());
    break;
  }

  if (auto r = read_har_headers(*request, "request", out.request.headers); !r) return r;
  const Header* host = find_header(out.request.headers, ":authority");
  if (host == nullptr) host = find_header(out.request.headers, "host");
  out.request.authority = host != nullptr ? host->value : url->authority;
  if (auto r = read_post_data(*request, out.request.body); !r) return r;
  out.request.body_size = out.request.body.size();
  out.request.framing =
      framing_of(out.protocol, out.request.headers, !out.request.body.empty(), false);

  if (auto connection = string_member(entry, "connection", "connection", false); !connection) {
    return tl::unexpected(connection.error());
  } else if (*connection != nullptr && !(*connection)->empty() && (*connection)->size() <= 19 &&
             (*connection)->find_first_not_of("0123456789") == std::string::npos) {
    out.session = std::stoull(**connection);
  }
  if (auto ip = string_member(entry, "serverIPAddress", "serverIPAddress", false); !ip) {
    return tl::unexpected(ip.error());
  } else if (*ip != nullptr) {
    std::string_view address = **ip;
    if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
      address = address.substr(1, address.size() - 2);
    }
    std::string text = address.find(':') != std::string_view::npos
                           ? "[" + std::string(address) + "]:" + std::to_string(url->port)
                           : std::string(address) + ":" + std::to_string(url->port);
    if (auto e = Endpoint::parse(text)) out.server = *e;
  }

  // Response.
  std::string error_name;
  bool has_response = false;
  if (response != nullptr) {
    auto status = read_status(*response, false);
    if (!status) return tl::unexpected(status.error());
    Response& rs = out.response ? *out.response : out.response.emplace();
    rs.status = *status;
    auto reason = string_member(*response, "statusText", "response.statusText", false);
    if (!reason) return tl::unexpected(reason.error());
    rs.reason = *reason != nullptr ? **reason : std::string();
    if (auto r = read_har_headers(*response, "response", rs.headers); !r) return r;
    double size = -1;
    if (auto r = read_content(*response, rs.body, size); !r) return r;
    rs.body_size = rs.body.size();
    if (size > static_cast<double>(rs.body_size) && size < 1e18) {
      rs.body_size = static_cast<uint64_t>(size);
      out.flags |= kFlagResponseBodyTruncated;
    }
    rs.framing = framing_of(out.protocol, rs.headers, rs.body_size > 0, true);
    has_response = !(rs.status == 0 && rs.body_size == 0);
    if (const json* e = member(*response, "_error"); e != nullptr && e->is_string()) {
      error_name = e->get_ref<const std::string&>();
    }
  }
  if (!has_response) {
    out.response.reset();
    out.flags &= ~static_cast<uint32_t>(kFlagResponseBodyTruncated);
    out.flags |= kFlagNoResponse;
    out.error = error_name.empty() ? ErrorKind::kOther : error_of(error_name);
  } else if (!error_name.empty()) {
    out.error = error_of(error_name);
  }

  // Instants.
  auto started = string_member(entry, "startedDateTime", "startedDateTime", false);
  if (!started) return tl::unexpected(started.error());
  if (*started == nullptr) return {};
  const auto start = parse_rfc3339(**started);
  if (!start) return field_error("startedDateTime", "expected an ISO 8601 date-time");
  out.time.request_start = *start;
  double before_send = 0;  // blocked + dns + connect + send
  double wait = 0;
  double receive = 0;
  if (const json* timings = member(entry, "timings"); timings != nullptr) {
    if (!timings->is_object()) return field_error("timings", "expected object");
    for (const char* key : {"blocked", "dns", "connect", "send", "wait", "receive"}) {
      auto ms = read_ms(*timings, key, std::string("timings.") + key);
      if (!ms) return tl::unexpected(ms.error());
      const double v = ms->value_or(0);
      if (std::strcmp(key, "wait") == 0) {
        wait = v;
      } else if (std::strcmp(key, "receive") == 0) {
        receive = v;
      } else {
        before_send += v;
      }
    }
  }
  out.time.request_end = add_ms(*start, before_send);
  if (!has_response) return {};
  out.time.response_start = add_ms(out.time.request_end, wait);
  auto total = read_ms(entry, "time", "time");
  if (!total) return tl::unexpected(total.error());
  out.time.response_end =
      *total ? add_ms(*start, **total) : add_ms(out.time.response_start, receive);
  if (out.time.response_start != kNoTime && out.time.response_end != kNoTime &&
      out.time.response_end < out.time.response_start) {
    out.time.response_end = out.time.response_start;  // rounding in the browser's sums
  }
  return {};
}

// "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error while parsing
// object - unexpected '}'; last read: '...'" → "line 3, column 5: syntax error while parsing
// object - unexpected '}'". What follows "last read" quotes the input, which may be personal.
std::string parse_error_position(const std::string& what) {
  std::string_view m = what;
  if (const size_t at = m.find(" at line "); at != std::string_view::npos) {
    m.remove_prefix(at + 4);
  } else if (const size_t at2 = m.find("] "); at2 != std::string_view::npos) {
    m.remove_prefix(at2 + 2);
  }
  if (const size_t last = m.find("; last read"); last != std::string_view::npos) {
    m = m.substr(0, last);
  }
  return std::string(m);
}

}  // namespace

ordered_json to_har_entry(const Exchange& x) {
  ordered_json e = ordered_json::object();
  const Timing& t = x.time;
  const double send = ms_between(t.request_start, t.request_end);
  const double wait = ms_between(t.request_end, t.response_start);
  const double receive = ms_between(t.response_start, t.response_end);
  // HAR requires startedDateTime; an unknown start is written as the epoch ("_twin" has null).
  e["startedDateTime"] = format_rfc3339(t.request_start == kNoTime ? 0 : t.request_start, 3);
  e["time"] = send + wait + receive;

  const Request& q = x.request;
  ordered_json& rq = e["request"] = ordered_json::object();
  rq["method"] = to_valid_utf8(q.method);
  const std::string url = url_of(x);
  rq["url"] = url;
  rq["httpVersion"] = http_version(x.protocol);
  rq["cookies"] = request_cookies(q.headers);
  rq["headers"] = har_headers(q.headers);
  const size_t question = url.find('?');
  rq["queryString"] = question == std::string::npos
                          ? ordered_json::array()
                          : name_value_pairs(std::string_view(url).substr(question + 1));
  if (!q.body.empty()) {
    ordered_json& post = rq["postData"] = ordered_json::object();
    const std::string mime = header_text(q.headers, "content-type");
    post["mimeType"] = mime;
    if (is_valid_utf8(q.body)) {
      if (istarts_with(mime, "application/x-www-form-urlencoded")) {
        post["params"] = name_value_pairs(q.body);
      }
      post["text"] = q.body;
    } else {
      // HAR 1.2 has no encoding for postData; base64 with "encoding" as content has is what
      // other tools read, and is more useful to a reader than U+FFFD replacements.
      post["text"] = base64_encode(q.body);
      post["encoding"] = "base64";
    }
  }
  rq["headersSize"] = -1;
  rq["bodySize"] = q.body_size;

  ordered_json& rs = e["response"] = ordered_json::object();
  if (x.response) {
    const Response& r = *x.response;
    rs["status"] = r.status;
    rs["statusText"] = to_valid_utf8(r.reason);
    rs["httpVersion"] = http_version(x.protocol);
    rs["cookies"] = response_cookies(r.headers);
    rs["headers"] = har_headers(r.headers);
    ordered_json& content = rs["content"] = ordered_json::object();
    content["size"] = r.body_size;
    content["mimeType"] = header_text(r.headers, "content-type");
    if (is_valid_utf8(r.body)) {
      content["text"] = r.body;
    } else {
      content["text"] = base64_encode(r.body);
      content["encoding"] = "base64";
    }
    rs["redirectURL"] = header_text(r.headers, "location");
    rs["headersSize"] = -1;
    rs["bodySize"] = r.body_size;
  } else {
    // HAR has no entry without a response: status 0, as browsers write failed requests.
    rs["status"] = 0;
    rs["statusText"] = "";
    rs["httpVersion"] = http_version(x.protocol);
    rs["cookies"] = ordered_json::array();
    rs["headers"] = ordered_json::array();
    rs["content"] = {{"size", 0}, {"mimeType", ""}};
    rs["redirectURL"] = "";
    rs["headersSize"] = -1;
    rs["bodySize"] = -1;
    if (x.error != ErrorKind::kNone) rs["_error"] = to_string(x.error);
  }
  e["cache"] = ordered_json::object();
  e["timings"] = {{"blocked", -1}, {"dns", -1},    {"connect", -1},     {"ssl", -1},
                  {"send", send},  {"wait", wait}, {"receive", receive}};
  if (x.server.known()) e["serverIPAddress"] = server_ip(x.server);
  e["connection"] = std::to_string(x.session);
  e["_twin"] = twin_object(x);
  return e;
}

std::string har_prefix(const std::string& creator_version) {
  return "{\"log\":{\"version\":\"1.2\",\"creator\":{\"name\":\"twin\",\"version\":" +
         json(to_valid_utf8(creator_version)).dump() + "},\"pages\":[],\"entries\":[";
}

std::string har_suffix() { return "]}}\n"; }

Result<void> from_har_entry(const json& entry, uint64_t index, Exchange& out) {
  if (!entry.is_object()) return fail("expected a JSON object");
  // Every access above checks the type first; this only keeps a missed case from throwing
  // out of the data path.
  try {
    if (const json* twin = member(entry, "_twin"); twin != nullptr) {
      return from_twin_entry(entry, *twin, out);
    }
    return from_browser_entry(entry, index, out);
  } catch (const json::exception& e) {
    return fail(std::string("unexpected JSON shape (") + e.what() + ")");
  }
}

Result<std::vector<Exchange>> read_har_file(const std::string& path) {
  // HAR is one JSON document, so it is read and parsed whole: memory is proportional to the
  // file, unlike .twin and .jsonl, which stream. Use those for large captures.
  const bool is_stdin = path == "-";
  std::FILE* file = is_stdin ? stdin : std::fopen(path.c_str(), "rb");
  if (file == nullptr) return fail(path + ": cannot open: " + std::strerror(errno));
  std::string text;
  char buffer[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
  const bool read_failed = std::ferror(file) != 0;
  const int read_errno = errno;
  if (!is_stdin) std::fclose(file);
  if (read_failed) return fail(path + ": read failed: " + std::strerror(read_errno));

  json doc;
  // nlohmann reports where parsing failed only through its exception; it stays in here.
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    return fail(path + ": not JSON: " + parse_error_position(e.what()));
  } catch (const json::exception&) {
    // A number past a double's range (1e999) is out_of_range, its message the number.
    return fail(path + ": not JSON: a number out of range");
  }
  std::string().swap(text);
  const json* log = member(doc, "log");
  const json* entries = log != nullptr ? member(*log, "entries") : nullptr;
  if (entries == nullptr || !entries->is_array()) {
    return fail(path + ": not a HAR document: no log.entries");
  }

  std::vector<Exchange> exchanges(entries->size());
  std::unordered_map<uint64_t, uint64_t> next_seq;  // session → seq, for browser entries
  for (size_t i = 0; i < entries->size(); ++i) {
    const json& entry = (*entries)[i];
    if (auto r = from_har_entry(entry, i, exchanges[i]); !r) {
      return fail(path + ": entry " + std::to_string(i) + ": " + r.error().message);
    }
    if (member(entry, "_twin") == nullptr) exchanges[i].seq = next_seq[exchanges[i].session]++;
  }
  return exchanges;
}

}  // namespace twin::traffic
