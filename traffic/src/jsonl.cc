#include "twin/traffic/jsonl.h"

#include <charconv>
#include <limits>
#include <string_view>

#include "twin/traffic/text.h"

// The JSONL object, keys in this order (docs/FORMAT.md):
//   id, origin_id, session, seq, stream, protocol, target,
//   time{request_start, request_end, response_start, response_end, intended},
//   client, server,
//   request{method, target, authority, headers, body, body_encoding, body_size, framing},
//   response{status, reason, headers, body, body_encoding, body_size, framing} | null,
//   error, flags
// Everything written is valid UTF-8, so that any JSON tool reads it:
// - a body that is not UTF-8 is base64 with body_encoding "base64";
// - a header whose name or value is not UTF-8 is [name_b64, value_b64, "base64"];
// - any other string (target, method, request target, authority, reason) that is not UTF-8 is
//   the object {"base64": "..."}.
// append_jsonl_line writes the text directly (no DOM); it is byte-identical to
// to_jsonl_object(x).dump(), which the tests check.

namespace twin::traffic {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Writing

constexpr char kHex[] = "0123456789abcdef";

// A JSON string literal of `s`, which must be valid UTF-8. Escapes exactly what nlohmann's
// dump() escapes with ensure_ascii off: '"', '\\' and the C0 controls.
void put_string(std::string& out, std::string_view s) {
  out += '"';
  size_t run = 0;  // start of the pending unescaped run
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(esc, sizeof(esc));
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

template <typename Int>
void put_int(std::string& out, Int v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, static_cast<size_t>(end - buf));
}

void put_time(std::string& out, int64_t t) {
  if (t == kNoTime) {
    out += "null";
  } else {
    put_int(out, t);
  }
}

// A string field: the string itself, or {"base64": "..."} when it is not UTF-8.
void put_text(std::string& out, std::string_view s) {
  if (is_valid_utf8(s)) {
    put_string(out, s);
  } else {
    out += "{\"base64\":";
    put_string(out, base64_encode(s));
    out += '}';
  }
}

void put_endpoint(std::string& out, const Endpoint& e) {
  const std::string text = e.to_string();
  if (text.empty()) {
    out += "null";
  } else {
    put_string(out, text);
  }
}

void put_headers(std::string& out, const Headers& headers) {
  out += '[';
  bool first = true;
  for (const auto& h : headers) {
    if (!first) out += ',';
    first = false;
    out += '[';
    if (is_valid_utf8(h.name) && is_valid_utf8(h.value)) {
      put_string(out, h.name);
      out += ',';
      put_string(out, h.value);
    } else {
      put_string(out, base64_encode(h.name));
      out += ',';
      put_string(out, base64_encode(h.value));
      out += ",\"base64\"";
    }
    out += ']';
  }
  out += ']';
}

// "body", "body_encoding", "body_size" and "framing", which requests and responses share.
void put_body(std::string& out, std::string_view body, uint64_t body_size, Framing framing) {
  out += ",\"body\":";
  if (is_valid_utf8(body)) {
    put_string(out, body);
    out += ",\"body_encoding\":\"utf8\"";
  } else {
    put_string(out, base64_encode(body));
    out += ",\"body_encoding\":\"base64\"";
  }
  out += ",\"body_size\":";
  put_int(out, body_size);
  out += ",\"framing\":";
  put_string(out, to_string(framing));
}

std::string flag_text(unsigned bit) {
  const auto f = static_cast<Flag>(1u << bit);
  if ((kKnownFlags & f) != 0) return std::string(flag_name(f));
  return "bit:" + std::to_string(bit);
}

// The DOM counterparts of the writers above.
ordered_json text_value(const std::string& s) {
  if (is_valid_utf8(s)) return s;
  ordered_json o = ordered_json::object();
  o["base64"] = base64_encode(s);
  return o;
}

ordered_json time_value(int64_t t) {
  return t == kNoTime ? ordered_json(nullptr) : ordered_json(t);
}

ordered_json endpoint_value(const Endpoint& e) {
  std::string text = e.to_string();
  return text.empty() ? ordered_json(nullptr) : ordered_json(std::move(text));
}

ordered_json headers_value(const Headers& headers) {
  ordered_json a = ordered_json::array();
  for (const auto& h : headers) {
    if (is_valid_utf8(h.name) && is_valid_utf8(h.value)) {
      a.push_back(ordered_json::array({h.name, h.value}));
    } else {
      a.push_back(ordered_json::array({base64_encode(h.name), base64_encode(h.value), "base64"}));
    }
  }
  return a;
}

void body_values(ordered_json& o, const std::string& body, uint64_t body_size, Framing framing) {
  if (is_valid_utf8(body)) {
    o["body"] = body;
    o["body_encoding"] = "utf8";
  } else {
    o["body"] = base64_encode(body);
    o["body_encoding"] = "base64";
  }
  o["body_size"] = body_size;
  o["framing"] = to_string(framing);
}

// ---------------------------------------------------------------------------------------------
// Reading. Every failure names the field; null counts as absent for optional fields.

tl::unexpected<Error> field_error(std::string_view path, std::string_view what) {
  std::string m;
  m.reserve(path.size() + what.size() + 2);
  m.append(path).append(": ").append(what);
  return fail(std::move(m));
}

std::string join(std::string_view a, std::string_view b) {
  std::string s(a);
  s += '.';
  s += b;
  return s;
}

// The member `key`, or nullptr when it is missing or null.
const json* member(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<void> read_u64(const json& v, std::string_view path, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return {};
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(v.get<int64_t>());
    return {};
  }
  return field_error(path, "expected unsigned integer");
}

Result<void> read_u64(const json& object, const char* key, std::string_view path, bool required,
                      uint64_t& out) {
  const json* v = member(object, key);
  if (v == nullptr) {
    if (required) return field_error(path, "missing");
    out = 0;
    return {};
  }
  return read_u64(*v, path, out);
}

Result<void> read_time(const json& object, const char* key, std::string_view path, int64_t& out) {
  const json* v = member(object, key);
  out = kNoTime;
  if (v == nullptr) return {};
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() &&
        v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return field_error(path, "out of range");
    }
    out = v->get<int64_t>();
    if (out != kNoTime) return {};
    // INT64_MIN itself is the in-memory "unknown": it can only be written as null.
    return field_error(path, "out of range");
  }
  return field_error(path, "expected integer or null");
}

// A string field written by put_text: a string or {"base64": "..."}.
Result<void> read_text(const json& v, std::string_view path, std::string& out) {
  if (v.is_string()) {
    out = v.get_ref<const std::string&>();
    return {};
  }
  if (v.is_object() && v.size() == 1) {
    const auto it = v.find("base64");
    if (it != v.end() && it->is_string()) {
      auto bytes = base64_decode(it->get_ref<const std::string&>());
      if (!bytes) return field_error(join(path, "base64"), "not valid base64");
      out = std::move(*bytes);
      return {};
    }
  }
  return field_error(path, "expected string or {\"base64\": string}");
}

Result<void> read_text(const json& object, const char* key, std::string_view path, bool required,
                       std::string& out) {
  const json* v = member(object, key);
  if (v == nullptr) {
    if (required) return field_error(path, "missing");
    out.clear();
    return {};
  }
  return read_text(*v, path, out);
}

Result<void> read_endpoint(const json& object, const char* key, Endpoint& out) {
  const json* v = member(object, key);
  out = Endpoint{};
  if (v == nullptr) return {};
  if (!v->is_string()) return field_error(key, "expected \"address:port\" or null");
  const auto& text = v->get_ref<const std::string&>();
  if (text.empty()) return {};
  auto e = Endpoint::parse(text);
  if (!e) return field_error(key, "expected \"1.2.3.4:80\" or \"[::1]:80\"");
  out = *e;
  return {};
}

Result<void> read_headers(const json& object, std::string_view path, Headers& out) {
  const json* v = member(object, "headers");
  if (v == nullptr) {
    out.clear();
    return {};
  }
  if (!v->is_array()) return field_error(join(path, "headers"), "expected array");
  // resize() rather than clear(): the strings of a reused Exchange keep their capacity.
  out.resize(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const json& h = (*v)[i];
    const bool pair = h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string();
    const bool triple = h.is_array() && h.size() == 3 && h[0].is_string() && h[1].is_string() &&
                        h[2].is_string() && h[2] == "base64";
    if (!pair && !triple) {
      return field_error(join(path, "headers") + "[" + std::to_string(i) + "]",
                         "expected [name, value] or [name_base64, value_base64, \"base64\"]");
    }
    if (pair) {
      out[i].name = h[0].get_ref<const std::string&>();
      out[i].value = h[1].get_ref<const std::string&>();
      continue;
    }
    auto name = base64_decode(h[0].get_ref<const std::string&>());
    auto value = base64_decode(h[1].get_ref<const std::string&>());
    if (!name || !value) {
      return field_error(join(path, "headers") + "[" + std::to_string(i) + "]", "not valid base64");
    }
    out[i].name = std::move(*name);
    out[i].value = std::move(*value);
  }
  return {};
}

Result<void> read_body(const json& object, std::string_view path, std::string& body,
                       uint64_t& body_size, Framing& framing) {
  const json* v = member(object, "body");
  const json* encoding = member(object, "body_encoding");
  std::string_view enc = "utf8";
  if (encoding != nullptr) {
    if (!encoding->is_string()) {
      return field_error(join(path, "body_encoding"), "expected \"utf8\" or \"base64\"");
    }
    enc = encoding->get_ref<const std::string&>();
    if (enc != "utf8" && enc != "base64") {
      return field_error(join(path, "body_encoding"), "expected \"utf8\" or \"base64\"");
    }
  }
  if (v == nullptr) {
    body.clear();
  } else if (!v->is_string()) {
    return field_error(join(path, "body"), "expected string");
  } else if (enc == "utf8") {
    body = v->get_ref<const std::string&>();
  } else {
    auto bytes = base64_decode(v->get_ref<const std::string&>());
    if (!bytes) return field_error(join(path, "body"), "not valid base64");
    body = std::move(*bytes);
  }

  if (const json* size = member(object, "body_size"); size != nullptr) {
    if (auto r = read_u64(*size, join(path, "body_size"), body_size); !r) return r;
    if (body_size < body.size()) {
      return field_error(join(path, "body_size"), "smaller than the body (" +
                                                      std::to_string(body_size) + " < " +
                                                      std::to_string(body.size()) + ")");
    }
  } else {
    body_size = body.size();
  }

  if (const json* f = member(object, "framing"); f != nullptr) {
    std::optional<Framing> parsed;
    if (f->is_string()) parsed = parse_framing(f->get_ref<const std::string&>());
    if (!parsed) {
      return field_error(join(path, "framing"),
                         "expected one of none, content-length, chunked, close, h2");
    }
    framing = *parsed;
  } else {
    framing = body.empty() ? Framing::kNone : Framing::kContentLength;
  }
  return {};
}

Result<void> read_flags(const json& object, uint32_t& out) {
  out = 0;
  const json* v = member(object, "flags");
  if (v == nullptr) return {};
  if (!v->is_array()) return field_error("flags", "expected array of flag names");
  for (size_t i = 0; i < v->size(); ++i) {
    const json& f = (*v)[i];
    const std::string path = "flags[" + std::to_string(i) + "]";
    if (!f.is_string()) return field_error(path, "expected a flag name");
    const auto& name = f.get_ref<const std::string&>();
    if (auto flag = parse_flag(name)) {
      out |= *flag;
      continue;
    }
    // "bit:N" keeps flags this version does not know about.
    const std::string_view sv = name;
    unsigned bit = 0;
    if (sv.starts_with("bit:")) {
      const char* first = sv.data() + 4;
      const char* last = sv.data() + sv.size();
      auto [end, ec] = std::from_chars(first, last, bit);
      if (ec == std::errc() && end == last && first != last && bit < 32) {
        out |= 1u << bit;
        continue;
      }
    }
    return field_error(path, "unknown flag \"" + to_valid_utf8(name) + "\"");
  }
  return {};
}

}  // namespace

ordered_json to_jsonl_object(const Exchange& x) {
  ordered_json o = ordered_json::object();
  o["id"] = x.id;
  o["origin_id"] = x.origin_id;
  o["session"] = x.session;
  o["seq"] = x.seq;
  o["stream"] = x.stream;
  o["protocol"] = to_string(x.protocol);
  o["target"] = text_value(x.target);
  ordered_json& t = o["time"] = ordered_json::object();
  t["request_start"] = time_value(x.time.request_start);
  t["request_end"] = time_value(x.time.request_end);
  t["response_start"] = time_value(x.time.response_start);
  t["response_end"] = time_value(x.time.response_end);
  t["intended"] = time_value(x.time.intended);
  o["client"] = endpoint_value(x.client);
  o["server"] = endpoint_value(x.server);

  ordered_json& rq = o["request"] = ordered_json::object();
  rq["method"] = text_value(x.request.method);
  rq["target"] = text_value(x.request.target);
  rq["authority"] = text_value(x.request.authority);
  rq["headers"] = headers_value(x.request.headers);
  body_values(rq, x.request.body, x.request.body_size, x.request.framing);

  if (x.response) {
    const Response& r = *x.response;
    ordered_json& rs = o["response"] = ordered_json::object();
    rs["status"] = r.status;
    rs["reason"] = text_value(r.reason);
    rs["headers"] = headers_value(r.headers);
    body_values(rs, r.body, r.body_size, r.framing);
  } else {
    o["response"] = nullptr;
  }
  o["error"] = to_string(x.error);
  ordered_json& flags = o["flags"] = ordered_json::array();
  for (unsigned bit = 0; bit < 32; ++bit) {
    if ((x.flags >> bit) & 1u) flags.push_back(flag_text(bit));
  }
  return o;
}

void append_jsonl_line(const Exchange& x, std::string& out) {
  out += "{\"id\":";
  put_int(out, x.id);
  out += ",\"origin_id\":";
  put_int(out, x.origin_id);
  out += ",\"session\":";
  put_int(out, x.session);
  out += ",\"seq\":";
  put_int(out, x.seq);
  out += ",\"stream\":";
  put_int(out, x.stream);
  out += ",\"protocol\":";
  put_string(out, to_string(x.protocol));
  out += ",\"target\":";
  put_text(out, x.target);
  out += ",\"time\":{\"request_start\":";
  put_time(out, x.time.request_start);
  out += ",\"request_end\":";
  put_time(out, x.time.request_end);
  out += ",\"response_start\":";
  put_time(out, x.time.response_start);
  out += ",\"response_end\":";
  put_time(out, x.time.response_end);
  out += ",\"intended\":";
  put_time(out, x.time.intended);
  out += "},\"client\":";
  put_endpoint(out, x.client);
  out += ",\"server\":";
  put_endpoint(out, x.server);

  out += ",\"request\":{\"method\":";
  put_text(out, x.request.method);
  out += ",\"target\":";
  put_text(out, x.request.target);
  out += ",\"authority\":";
  put_text(out, x.request.authority);
  out += ",\"headers\":";
  put_headers(out, x.request.headers);
  put_body(out, x.request.body, x.request.body_size, x.request.framing);
  out += '}';

  out += ",\"response\":";
  if (x.response) {
    const Response& r = *x.response;
    out += "{\"status\":";
    put_int(out, r.status);
    out += ",\"reason\":";
    put_text(out, r.reason);
    out += ",\"headers\":";
    put_headers(out, r.headers);
    put_body(out, r.body, r.body_size, r.framing);
    out += '}';
  } else {
    out += "null";
  }
  out += ",\"error\":";
  put_string(out, to_string(x.error));
  out += ",\"flags\":[";
  bool first = true;
  for (unsigned bit = 0; bit < 32; ++bit) {
    if (((x.flags >> bit) & 1u) == 0) continue;
    if (!first) out += ',';
    first = false;
    put_string(out, flag_text(bit));
  }
  out += "]}\n";
}

Result<void> from_jsonl_object(const json& o, Exchange& out) {
  if (!o.is_object()) return fail("expected a JSON object");

  if (auto r = read_u64(o, "id", "id", true, out.id); !r) return r;
  if (auto r = read_u64(o, "origin_id", "origin_id", false, out.origin_id); !r) return r;
  if (auto r = read_u64(o, "session", "session", true, out.session); !r) return r;
  if (auto r = read_u64(o, "seq", "seq", true, out.seq); !r) return r;
  uint64_t stream = 0;
  if (auto r = read_u64(o, "stream", "stream", false, stream); !r) return r;
  if (stream > std::numeric_limits<uint32_t>::max()) {
    return field_error("stream", "out of range (more than 32 bits)");
  }
  out.stream = static_cast<uint32_t>(stream);

  {
    const json* p = member(o, "protocol");
    if (p == nullptr) return field_error("protocol", "missing");
    std::optional<Protocol> parsed;
    if (p->is_string()) parsed = parse_protocol(p->get_ref<const std::string&>());
    if (!parsed) return field_error("protocol", "expected one of unknown, http/1.0, http/1.1, h2");
    out.protocol = *parsed;
  }
  if (auto r = read_text(o, "target", "target", false, out.target); !r) return r;

  out.time = Timing{};
  if (const json* t = member(o, "time"); t != nullptr) {
    if (!t->is_object()) return field_error("time", "expected object");
    if (auto r = read_time(*t, "request_start", "time.request_start", out.time.request_start); !r) {
      return r;
    }
    if (auto r = read_time(*t, "request_end", "time.request_end", out.time.request_end); !r) {
      return r;
    }
    if (auto r = read_time(*t, "response_start", "time.response_start", out.time.response_start);
        !r) {
      return r;
    }
    if (auto r = read_time(*t, "response_end", "time.response_end", out.time.response_end); !r) {
      return r;
    }
    if (auto r = read_time(*t, "intended", "time.intended", out.time.intended); !r) return r;
  }
  if (auto r = read_endpoint(o, "client", out.client); !r) return r;
  if (auto r = read_endpoint(o, "server", out.server); !r) return r;

  {
    const json* rq = member(o, "request");
    if (rq == nullptr) return field_error("request", "missing");
    if (!rq->is_object()) return field_error("request", "expected object");
    Request& q = out.request;
    if (auto r = read_text(*rq, "method", "request.method", true, q.method); !r) return r;
    if (auto r = read_text(*rq, "target", "request.target", true, q.target); !r) return r;
    if (auto r = read_text(*rq, "authority", "request.authority", false, q.authority); !r) {
      return r;
    }
    if (auto r = read_headers(*rq, "request", q.headers); !r) return r;
    if (auto r = read_body(*rq, "request", q.body, q.body_size, q.framing); !r) return r;
  }

  if (const json* rs = member(o, "response"); rs == nullptr) {
    out.response.reset();
  } else {
    if (!rs->is_object()) return field_error("response", "expected object or null");
    if (!out.response) out.response.emplace();
    Response& s = *out.response;
    const json* status = member(*rs, "status");
    if (status == nullptr) return field_error("response.status", "missing");
    if (!status->is_number_integer() ||
        (status->is_number_unsigned() &&
         status->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int>::max())) ||
        (!status->is_number_unsigned() &&
         (status->get<int64_t>() < std::numeric_limits<int>::min() ||
          status->get<int64_t>() > std::numeric_limits<int>::max()))) {
      return field_error("response.status", "expected integer");
    }
    s.status = status->get<int>();
    if (auto r = read_text(*rs, "reason", "response.reason", false, s.reason); !r) return r;
    if (auto r = read_headers(*rs, "response", s.headers); !r) return r;
    if (auto r = read_body(*rs, "response", s.body, s.body_size, s.framing); !r) return r;
  }

  out.error = ErrorKind::kNone;
  if (const json* e = member(o, "error"); e != nullptr) {
    std::optional<ErrorKind> parsed;
    if (e->is_string()) parsed = parse_error_kind(e->get_ref<const std::string&>());
    if (!parsed) {
      return field_error("error",
                         "expected one of none, connect, timeout, reset, protocol, truncated, "
                         "tls, cancelled, other");
    }
    out.error = *parsed;
  }
  return read_flags(o, out.flags);
}

}  // namespace twin::traffic
