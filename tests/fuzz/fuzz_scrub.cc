// Fuzz target for the whole scrub engine (Scrubber), on exchanges made from the input: every
// place and body format it reads from untrusted bytes, and the scrub on several threads against
// one engine. The input:
//   byte 0        the run's settings: bits 0-1 the threads (2 + value, at most 4), bit 2 pieces in
//                 turn, bit 3 every suspect scrubbed again, bits 4-5 break_every (0-3), bit 6 the
//                 policy (the default one; or rules by key name and a memory of 16 values, which
//                 evicts), bit 7 two batches instead of one
//   the rest      messages separated by "\n|\n", taken in pairs: a request, then its response
//                 (at most 12 exchanges). A message: its first line ("METHOD TARGET" or a target
//                 for a request, a status for a response), header lines ("Name: value") up to an
//                 empty line, then the body ("X-Fuzz-Encode: gzip", deflate or br: encoded so).
// Checked, for every input:
//   - the exchanges scrubbed by scrub_batch() on several threads are byte for byte those of an
//     engine on one thread scrubbing them one by one, and the counters and report are equal
//     (scrubber.h's promise). Each pair of engines lives as long as the process: it sees every
//     input of its settings, so their memories of values and reports grow alike across inputs;
//   - an encoded body that decodes is encoded again in its coding and decodes;
//   - a body that was valid JSON (decoded) and declared JSON, text/plain or
//     application/octet-stream is valid JSON after, with the same structure (containers,
//     members in their order, value types; a key's text may be scrubbed);
//   - a gRPC stream of whole uncompressed protobuf messages is one after, message for message,
//     each with the same fields at its top (numbers and wire types), and so is a protobuf
//     body's stream of varint-delimited ones (`encoding=delimited`);
//   - a server-sent event stream holds as many events after, and an event's data that was a
//     JSON document is one of the same structure;
//   - a MessagePack or CBOR body that nlohmann/json reads as one document still is one, of the
//     same shape (containers, their sizes, the kinds of their values);
//   - a message whose Content-Length was its body's size still says its body's size, and the
//     recorded body size follows the body;
//   - an e-mail address, card number, IBAN, IPv4 address, UUID or JWT of the seeds met apart in
//     a body (decoded) is not there after, whatever the body's format (kCanaries);
//   - the engine's re-scan of what it wrote around its replacements finds nothing left
//     (ScrubCounters::residual stays 0).

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../support/binary_json_shape.h"
#include "../support/protobuf_wire.h"
#include "json_rewrite.h"
#include "msgpack_cbor.h"
#include "parallel_hooks.h"
#include "protobuf.h"
#include "twin/scrubber/policy.h"
#include "twin/scrubber/scrubber.h"
#include "twin/traffic/content_coding.h"
#include "twin/traffic/exchange.h"
#include "twin/traffic/sse.h"
#include "twin/traffic/text.h"

namespace {

using twin::scrubber::Scrubber;
using twin::traffic::Exchange;
using twin::traffic::Headers;

constexpr size_t kMaxExchanges = 12;
constexpr std::string_view kSeparator = "\n|\n";
constexpr size_t kMaxPlain = size_t{1} << 24;  // what a decoded body may grow to here

twin::scrubber::Policy policy_of(bool rules) {
  if (!rules) {
    twin::scrubber::Policy p = twin::scrubber::default_policy();
    p.memory_values = 1024;  // (the default's million slots, per engine, are not needed here)
    return p;
  }
  auto p = twin::scrubber::parse_policy(
      "version: 1\n"
      "memory:\n  values: 16\n  min_length: 4\n"
      "rules:\n"
      "  - where: json:**.order_id\n    action: token\n"
      "  - where: json:**.ref\n    action: token\n"
      "  - where: query:ref\n    action: token\n"
      "  - where: header:X-Account\n    action: token\n",
      "fuzz.yaml");
  if (!p) std::abort();
  return *p;
}

// One engine on one thread and one on `threads`, built alike.
struct Pair {
  std::unique_ptr<Scrubber> one;
  std::unique_ptr<Scrubber> many;
};

Pair& pair_for(bool rules, int threads) {
  static std::map<std::pair<bool, int>, Pair> pairs;
  Pair& p = pairs[{rules, threads}];
  if (!p.one) {
    const auto policy = policy_of(rules);
    const auto key = twin::scrubber::Key::from_material("fuzz_scrub key");
    auto one = Scrubber::create(policy, key, 1);
    auto many = Scrubber::create(policy, key, threads);
    if (!one || !many) std::abort();
    p.one = std::move(*one);
    p.many = std::move(*many);
  }
  return p;
}

std::string_view next_line(std::string_view& rest) {
  const size_t nl = rest.find('\n');
  const std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return line;
}

// The header lines up to an empty line; `rest` is left at the body.
Headers read_headers(std::string_view& rest) {
  Headers headers;
  while (!rest.empty()) {
    const std::string_view line = next_line(rest);
    if (line.empty()) break;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      headers.push_back({std::string(line), ""});
      continue;
    }
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
  }
  return headers;
}

// A message's body from the input. A header "X-Fuzz-Encode: gzip" (or deflate, br, zstd) is taken
// out and the body encoded so, with a Content-Encoding header, and a Content-Length that gave
// the plain size then gives the encoded one: the scrub's decode and encode again, on bodies
// that decode, which the fuzzer would seldom write itself.
void set_body(Headers& headers, std::string_view body, std::string& out, uint64_t& size,
              twin::traffic::Framing& framing) {
  out.assign(body);
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    if (!twin::traffic::ascii_iequals(it->name, "X-Fuzz-Encode")) continue;
    const std::string coding = it->value;
    headers.erase(it);
    const auto codings = twin::traffic::parse_content_encoding(coding);
    if (!codings || codings->size() != 1 || codings->front() == twin::traffic::Coding::kIdentity) {
      break;
    }
    std::string encoded;
    if (!twin::traffic::encode(codings->front(), body, encoded)) std::abort();
    for (auto& h : headers) {
      if (twin::traffic::ascii_iequals(h.name, "Content-Length") &&
          h.value == std::to_string(body.size())) {
        h.value = std::to_string(encoded.size());
      }
    }
    headers.push_back({"Content-Encoding", coding});
    out = std::move(encoded);
    break;
  }
  size = out.size();
  if (!out.empty()) framing = twin::traffic::Framing::kContentLength;
}

std::vector<Exchange> read_exchanges(std::string_view in) {
  std::vector<std::string_view> pieces;
  while (!in.empty() && pieces.size() < 2 * kMaxExchanges) {
    const size_t at = in.find(kSeparator);
    pieces.push_back(in.substr(0, at));
    if (at == std::string_view::npos) break;
    in.remove_prefix(at + kSeparator.size());
  }
  std::vector<Exchange> out;
  for (size_t i = 0; i < pieces.size(); i += 2) {
    Exchange e;
    e.id = out.size() + 1;
    e.session = 1 + out.size() % 3;
    e.protocol = twin::traffic::Protocol::kHttp11;
    e.time.request_start = int64_t(out.size()) * 1000;
    e.client.family = 4;
    e.client.address = {10, 0, 0, uint8_t(1 + out.size() % 4)};
    e.client.port = uint16_t(40000 + out.size());
    e.server.family = 4;
    e.server.address = {10, 9, 0, 1};
    e.server.port = 8080;
    std::string_view rest = pieces[i];
    const std::string_view first = next_line(rest);
    const size_t space = first.find(' ');
    e.request.method =
        space == std::string_view::npos ? "GET" : std::string(first.substr(0, space));
    e.request.target =
        std::string(space == std::string_view::npos ? first : first.substr(space + 1));
    e.request.headers = read_headers(rest);
    if (const auto* host = twin::traffic::find_header(e.request.headers, "Host")) {
      e.request.authority = host->value;
    }
    set_body(e.request.headers, rest, e.request.body, e.request.body_size, e.request.framing);
    if (i + 1 < pieces.size()) {
      rest = pieces[i + 1];
      const std::string_view status = next_line(rest);
      auto& r = e.response.emplace();
      r.status = 200;
      if (status.size() == 3 && status.find_first_not_of("0123456789") == std::string_view::npos) {
        r.status = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
      }
      r.reason = "OK";
      r.headers = read_headers(rest);
      set_body(r.headers, rest, r.body, r.body_size, r.framing);
    } else {
      e.flags |= twin::traffic::kFlagNoResponse;
    }
    out.push_back(std::move(e));
  }
  return out;
}

// Every key written as "k": the scrub tokenizes a key that holds personal data (a map keyed by
// e-mail address), and the structure it keeps is the rest.
class KeysAsK : public twin::scrubber::JsonVisitor {
 public:
  bool visit(twin::scrubber::JsonToken token, std::string_view, std::string_view, std::string_view,
             std::string& replacement) override {
    if (token != twin::scrubber::JsonToken::kKey) return false;
    replacement = "k";
    return true;
  }
};

// json_structure_hash() of the text with its keys as "k": 0 when it is not valid JSON.
// The data of each event of a server-sent event stream, as a client reads it (twin/traffic/sse.h;
// an event the body does not end is none).
std::vector<std::string> event_data(std::string_view body) {
  std::vector<std::string> events;
  std::string data;
  bool has = false;
  twin::traffic::SseReader r(body);
  twin::traffic::SseLine l;
  while (r.next(l)) {
    if (l.kind == twin::traffic::SseLine::Kind::kBlank) {
      if (has) events.push_back(data);
      data.clear();
      has = false;
    } else if (l.kind == twin::traffic::SseLine::Kind::kField && l.name == "data") {
      if (has) data += '\n';
      data.append(body.substr(l.value_begin, l.end - l.value_begin));
      has = true;
    }
  }
  return events;
}

uint64_t json_shape(std::string_view text) {
  KeysAsK keys;
  std::string out;
  if (!twin::scrubber::rewrite_json(text, keys, out).valid) return 0;
  return twin::scrubber::json_structure_hash(out);
}

// Personal data of the seeds that the default detectors find wherever it stands apart (an
// e-mail address, a card number, an IBAN, an IPv4 address, a UUID, a JWT; an internationalized
// e-mail, a lower-case IBAN in groups, a phone after the 00 prefix): met apart in a body, it
// must not be there apart after the scrub, whatever the format around it.
constexpr std::array<std::string_view, 9> kCanaries = {
    "müller@example.de",
    "de89 3704 0044 0532 0130 00",
    "0049 30 901820",
    "ada.lovelace@mail.example",
    "4111111111111111",
    "GB46708843467668009621",
    "76.180.82.181",
    "99da7f7c-f716-481b-a6f5-ffc80b25593a",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjI5MiJ9.SUyGdkVu_-m3cy1dHgoZVRQR1fHD1edeVDRB"
    "AEi5MRz",
};

// Whether `text` holds `what` with a separator or an end on either side (a space, a quote,
// ',', ';', '&', '=', '<', '>', a line end or a tab): not part of a longer run of letters,
// digits or dots, which may be another value altogether.
bool holds_apart(std::string_view text, std::string_view what) {
  auto separator = [](char c) {
    return std::string_view(" \"',;&=<>\n\r\t").find(c) != std::string_view::npos;
  };
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) {
    const size_t end = at + what.size();
    if ((at == 0 || separator(text[at - 1])) && (end == text.size() || separator(text[end]))) {
      return true;
    }
  }
  return false;
}

// The promises on one message (headers and body before, and after).
void check_message(const Headers& before, std::string_view body_before, const Headers& after,
                   std::string_view body_after, uint64_t body_size_after) {
  if (body_size_after != body_after.size()) std::abort();
  size_t lengths = 0;
  for (const auto& h : before) lengths += twin::traffic::ascii_iequals(h.name, "Content-Length");
  const auto* length = twin::traffic::find_header(before, "Content-Length");
  if (lengths == 1 && length->value == std::to_string(body_before.size())) {
    const auto* now = twin::traffic::find_header(after, "Content-Length");
    if (now == nullptr || now->value != std::to_string(body_after.size())) std::abort();
  }
  // An encoded body that decodes is encoded again in the same coding, and decodes.
  std::string plain_before, plain_after;
  if (const auto* coding = twin::traffic::find_header(before, "Content-Encoding")) {
    const auto codings = twin::traffic::parse_content_encoding(coding->value);
    if (!codings || codings->size() != 1) return;
    if (!twin::traffic::decode(codings->front(), body_before, kMaxPlain, plain_before)) return;
    const auto* now = twin::traffic::find_header(after, "Content-Encoding");
    if (now == nullptr || now->value != coding->value) std::abort();
    if (!twin::traffic::decode(codings->front(), body_after, kMaxPlain, plain_after)) {
      std::abort();
    }
    body_before = plain_before;
    body_after = plain_after;
  }
  for (const auto canary : kCanaries) {
    if (holds_apart(body_before, canary) && holds_apart(body_after, canary)) std::abort();
  }
  const auto* type = twin::traffic::find_header(before, "Content-Type");
  if (type != nullptr && type->value.rfind("application/grpc", 0) == 0 &&
      type->value.find('+') == std::string::npos && type->value.find("text") == std::string::npos) {
    // A gRPC stream of whole uncompressed protobuf messages stays one, message for message,
    // with the same fields at the top of each.
    const auto was = twin::scrubber::split_envelopes(body_before);
    const bool whole =
        was.rest.empty() && std::all_of(was.items.begin(), was.items.end(), [](const auto& m) {
          return m.flags == 0 && twin::scrubber::is_protobuf_message(m.payload);
        });
    if (whole) {
      const auto now = twin::scrubber::split_envelopes(body_after);
      if (!now.rest.empty() || now.items.size() != was.items.size()) std::abort();
      for (size_t i = 0; i < now.items.size(); ++i) {
        if (twin::test::pb::shape(now.items[i].payload) !=
            twin::test::pb::shape(was.items[i].payload)) {
          std::abort();
        }
      }
    }
  }
  if (type != nullptr && type->value.find("protobuf; encoding=delimited") != std::string::npos) {
    const auto was = twin::scrubber::split_delimited(body_before);
    const bool whole = was.rest.empty() && std::all_of(was.items.begin(), was.items.end(),
                                                       twin::scrubber::is_protobuf_message);
    if (whole) {
      const auto now = twin::scrubber::split_delimited(body_after);
      if (!now.rest.empty() || now.items.size() != was.items.size()) std::abort();
      for (size_t i = 0; i < now.items.size(); ++i) {
        if (twin::test::pb::shape(now.items[i]) != twin::test::pb::shape(was.items[i])) {
          std::abort();
        }
      }
    }
  }
  // (the media types the scrub reads as such: a mangled one, "applicatio\xdc/msgpack", makes a
  // binary body, scanned as bytes, which this does not promise)
  std::string_view subtype;
  if (type != nullptr && type->value.rfind("application/", 0) == 0) {
    subtype = std::string_view(type->value).substr(12);
    subtype = subtype.substr(0, subtype.find(';'));
    while (!subtype.empty() && (subtype.back() == ' ' || subtype.back() == '\t')) {
      subtype.remove_suffix(1);
    }
  }
  const bool msgpack_type = subtype == "msgpack" || subtype == "x-msgpack" ||
                            subtype == "vnd.msgpack" || subtype.ends_with("+msgpack");
  const bool cbor_type = subtype == "cbor" || subtype == "cbor-seq" || subtype.ends_with("+cbor");
  if (msgpack_type || cbor_type) {
    const bool cbor = cbor_type;
    // (nlohmann's reader has no depth cap: only bodies the scrub's reader, which stops at 512,
    // reads whole go to it)
    KeysAsK reader;
    std::string ignored;
    const bool bounded = cbor ? twin::scrubber::rewrite_cbor(body_before, reader, ignored).valid
                              : twin::scrubber::rewrite_msgpack(body_before, reader, ignored).valid;
    const std::string before = bounded ? twin::test::binary_json_shape(cbor, body_before) : "";
    if (!before.empty() && twin::test::binary_json_shape(cbor, body_after) != before) {
      std::abort();
    }
  }
  if (type != nullptr && type->value.find("event-stream") != std::string::npos) {
    // A client reads as many events after as before, and an event's data that was a JSON
    // document is one of the same structure.
    const auto was = event_data(body_before), now = event_data(body_after);
    if (was.size() != now.size()) std::abort();
    for (size_t i = 0; i < was.size(); ++i) {
      const uint64_t structure = json_shape(was[i]);
      if (structure != 0 && json_shape(now[i]) != structure) std::abort();
    }
    return;
  }
  // (JSON is also read as JSON under text/plain and application/octet-stream)
  if (type == nullptr ||
      (type->value.find("json") == std::string::npos && type->value != "text/plain" &&
       type->value != "application/octet-stream")) {
    return;
  }
  const uint64_t structure = json_shape(body_before);
  if (structure != 0 && json_shape(body_after) != structure) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > (1u << 16)) return 0;
  const uint8_t settings = data[0];
  const int threads = 2 + std::min(settings & 3, 2);
  const bool rules = (settings & 0x40) != 0;
  std::vector<Exchange> in =
      read_exchanges(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (in.empty()) return 0;

  Pair& p = pair_for(rules, threads);
  const uint64_t residual_before = p.one->counters().residual;
  std::vector<Exchange> one = in;
  for (auto& e : one) p.one->scrub(e);

  auto& hooks = twin::scrubber::testing::parallel_hooks();
  hooks.pieces_in_turn = (settings & 4) != 0;
  hooks.again_every_suspect = (settings & 8) != 0;
  hooks.break_every = (settings >> 4) & 3;
  std::vector<Exchange> many = in;
  const size_t first = (settings & 0x80) != 0 ? many.size() / 2 : many.size();
  p.many->scrub_batch(std::span<Exchange>(many.data(), first));
  if (first < many.size()) {
    p.many->scrub_batch(std::span<Exchange>(many.data() + first, many.size() - first));
  }
  hooks.pieces_in_turn = false;
  hooks.again_every_suspect = false;
  hooks.break_every = 0;

  if (one != many) std::abort();
  if (p.one->counters().to_json() != p.many->counters().to_json()) std::abort();
  if (!(p.one->report().to_json() == p.many->report().to_json())) std::abort();

  if (p.one->counters().residual != residual_before) std::abort();
  for (size_t i = 0; i < in.size(); ++i) {
    if (!one[i].has(twin::traffic::kFlagScrubbed)) std::abort();
    check_message(in[i].request.headers, in[i].request.body, one[i].request.headers,
                  one[i].request.body, one[i].request.body_size);
    if (in[i].response && one[i].response) {
      check_message(in[i].response->headers, in[i].response->body, one[i].response->headers,
                    one[i].response->body, one[i].response->body_size);
    }
  }
  return 0;
}
