#include "twin/scrubber/scrubber.h"

#include <arpa/inet.h>
#include <sys/mman.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base64_text.h"
#include "csv.h"
#include "graphql.h"
#include "html.h"
#include "json_rewrite.h"
#include "keyvalue.h"
#include "msgpack_cbor.h"
#include "multipart.h"
#include "parallel_hooks.h"
#include "protobuf.h"
#include "thrift.h"
#include "twin/scrubber/detect.h"
#include "twin/scrubber/transform.h"
#include "twin/traffic/content_coding.h"
#include "twin/traffic/small_copy.h"
#include "twin/traffic/sse.h"
#include "urlencoded.h"
#include "xml.h"
#include "yaml.h"

namespace twin::scrubber {

void ScrubCounters::merge(const ScrubCounters& o) {
  exchanges += o.exchanges;
  exchanges_changed += o.exchanges_changed;
  values += o.values;
  for (size_t i = 0; i < kKindCount; ++i) by_kind[i] += o.by_kind[i];
  for (size_t i = 0; i < kLocationCount; ++i) by_location[i] += o.by_location[i];
  dropped += o.dropped;
  memory_hits += o.memory_hits;
  memory_evictions += o.memory_evictions;
  fallbacks += o.fallbacks;
  json_bodies += o.json_bodies;
  json_malformed += o.json_malformed;
  json_truncated += o.json_truncated;
  form_bodies += o.form_bodies;
  multipart_bodies += o.multipart_bodies;
  multipart_malformed += o.multipart_malformed;
  text_bodies += o.text_bodies;
  binary_bodies += o.binary_bodies;
  decoded_bodies += o.decoded_bodies;
  bodies_dropped += o.bodies_dropped;
  residual += o.residual;
  metadata_values += o.metadata_values;
  base64_texts += o.base64_texts;
  embedded_json += o.embedded_json;
  embedded_urls += o.embedded_urls;
  grpc_messages += o.grpc_messages;
  grpc_malformed += o.grpc_malformed;
  protobuf_messages += o.protobuf_messages;
  protobuf_malformed += o.protobuf_malformed;
  msgpack_bodies += o.msgpack_bodies;
  msgpack_malformed += o.msgpack_malformed;
  cbor_bodies += o.cbor_bodies;
  cbor_malformed += o.cbor_malformed;
  thrift_bodies += o.thrift_bodies;
  thrift_malformed += o.thrift_malformed;
  event_streams += o.event_streams;
  json_line_bodies += o.json_line_bodies;
  html_bodies += o.html_bodies;
  json_in_text += o.json_in_text;
  xml_bodies += o.xml_bodies;
  xml_malformed += o.xml_malformed;
  xml_truncated += o.xml_truncated;
  csv_bodies += o.csv_bodies;
  csv_malformed += o.csv_malformed;
  csv_truncated += o.csv_truncated;
  yaml_bodies += o.yaml_bodies;
  yaml_malformed += o.yaml_malformed;
  yaml_truncated += o.yaml_truncated;
  graphql_documents += o.graphql_documents;
  key_value_bodies += o.key_value_bodies;
}

nlohmann::json ScrubCounters::to_json() const {
  nlohmann::json kinds = nlohmann::json::object();
  for (size_t i = 0; i < kKindCount; ++i) {
    if (by_kind[i]) {
      kinds[i == 0 ? std::string("by place") : std::string(to_string(static_cast<Kind>(i)))] =
          by_kind[i];
    }
  }
  nlohmann::json places = nlohmann::json::object();
  for (size_t i = 0; i < kLocationCount; ++i) {
    if (by_location[i]) places[std::string(to_string(static_cast<Location>(i)))] = by_location[i];
  }
  return {{"exchanges", exchanges},
          {"exchanges_changed", exchanges_changed},
          {"values", values},
          {"by_kind", kinds},
          {"by_place", places},
          {"dropped", dropped},
          {"memory_hits", memory_hits},
          {"memory_evictions", memory_evictions},
          {"fallbacks", fallbacks},
          {"json_bodies", json_bodies},
          {"json_malformed", json_malformed},
          {"json_truncated", json_truncated},
          {"form_bodies", form_bodies},
          {"multipart_bodies", multipart_bodies},
          {"multipart_malformed", multipart_malformed},
          {"text_bodies", text_bodies},
          {"binary_bodies", binary_bodies},
          {"decoded_bodies", decoded_bodies},
          {"bodies_dropped", bodies_dropped},
          {"residual", residual},
          {"metadata_values", metadata_values},
          {"base64_texts", base64_texts},
          {"embedded_json", embedded_json},
          {"embedded_urls", embedded_urls},
          {"xml_bodies", xml_bodies},
          {"xml_malformed", xml_malformed},
          {"xml_truncated", xml_truncated},
          {"csv_bodies", csv_bodies},
          {"csv_malformed", csv_malformed},
          {"csv_truncated", csv_truncated},
          {"yaml_bodies", yaml_bodies},
          {"yaml_malformed", yaml_malformed},
          {"yaml_truncated", yaml_truncated},
          {"graphql_documents", graphql_documents},
          {"key_value_bodies", key_value_bodies},
          {"grpc_messages", grpc_messages},
          {"grpc_malformed", grpc_malformed},
          {"protobuf_messages", protobuf_messages},
          {"protobuf_malformed", protobuf_malformed},
          {"msgpack_bodies", msgpack_bodies},
          {"msgpack_malformed", msgpack_malformed},
          {"cbor_bodies", cbor_bodies},
          {"cbor_malformed", cbor_malformed},
          {"thrift_bodies", thrift_bodies},
          {"thrift_malformed", thrift_malformed},
          {"event_streams", event_streams},
          {"json_line_bodies", json_line_bodies},
          {"html_bodies", html_bodies},
          {"json_in_text", json_in_text}};
}

namespace {

using traffic::Coding;
using traffic::Exchange;
using traffic::Header;
using traffic::Headers;

// a == b, without the out-of-line three-way compare string_view's operator== goes through, and
// without a call to memcmp for the short names and paths most compares are about.
inline bool same_bytes(std::string_view a, std::string_view b) {
  return traffic::equal_small(a, b);
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

// `in` in ASCII lower case into `out`, eight bytes at a time (every header name of every
// exchange goes through it): a byte is upper case when it is ASCII and at least 'A' and not
// above 'Z', tested on its low seven bits for all eight bytes at once.
void lower_into(std::string_view in, std::string& out) {
  out.resize(in.size());
  char* o = out.data();
  const size_t n = in.size();
  size_t i = 0;
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = kOnes * 0x80;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, in.data() + i, 8);
    const uint64_t low7 = w & ~kHigh;
    const uint64_t ge_a = low7 + kOnes * (0x80 - 'A');  // high bit: low7 >= 'A'
    const uint64_t gt_z = low7 + kOnes * (0x7f - 'Z');  // high bit: low7 > 'Z'
    const uint64_t upper = (ge_a ^ gt_z) & ~w & kHigh;
    w |= upper >> 2;  // 0x80 >> 2 == 0x20
    std::memcpy(o + i, &w, 8);
  }
  for (; i < n; ++i) o[i] = lower(in[i]);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool icontains(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > hay.size()) return false;
  // Most positions differ in their first byte: that test alone, the rest compared only after it.
  const char first = lower(needle[0]);
  const std::string_view rest = needle.substr(1);
  for (size_t i = 0, last = hay.size() - needle.size(); i <= last; ++i) {
    if (lower(hay[i]) == first && iequals(hay.substr(i + 1, rest.size()), rest)) return true;
  }
  return false;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A name as it may appear in a report path or a decision: names that look like identifiers
// are kept; anything else (an email used as a JSON key, an id, a long or odd name) becomes
// "{key}", so that the report never holds a value and the number of paths stays bounded.
bool identifier_like(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  // An id, an SSN, a UUID or a key used as a name has digits; field names have few.
  if (std::count_if(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) > 4) {
    return false;
  }
  bool all_digits = true, all_hex = true;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '$' || c == ':';
    if (!ok) return false;
    if (!(c >= '0' && c <= '9')) all_digits = false;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      all_hex = false;
    }
  }
  return !all_digits && !(all_hex && s.size() >= 16);
}

void append_name(std::string& out, std::string_view name, bool fold) {
  if (!identifier_like(name)) {
    out += "{key}";
    return;
  }
  for (char c : name) out += fold ? lower(c) : c;
}

// Normalises a JSON key path segment by segment (see identifier_like).
void append_json_path(std::string& out, std::string_view path) {
  size_t i = 0;
  while (i <= path.size()) {
    // A segment runs to the next unescaped '.' or '['.
    size_t j = i;
    while (j < path.size() && path[j] != '.' && path[j] != '[') {
      if (path[j] == '\\') ++j;
      ++j;
    }
    j = std::min(j, path.size());
    if (j > i) append_name(out, path.substr(i, j - i), false);
    if (j >= path.size()) break;
    if (path[j] == '[') {
      out += "[]";
      j += 2;
      if (j < path.size() && path[j] == '.') {
        out += '.';
        ++j;
      }
    } else {
      out += '.';
      ++j;
    }
    i = j;
  }
}

// The last key of a normalised JSON path and the one before it ("user.addresses[].street" →
// "street", "addresses").
std::pair<std::string_view, std::string_view> last_keys(std::string_view path) {
  auto strip = [](std::string_view s) {
    while (s.ends_with("[]")) s.remove_suffix(2);
    return s;
  };
  path = strip(path);
  auto dot = path.rfind('.');
  std::string_view key = dot == std::string_view::npos ? path : path.substr(dot + 1);
  std::string_view rest = dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
  rest = strip(rest);
  auto dot2 = rest.rfind('.');
  std::string_view parent = dot2 == std::string_view::npos ? rest : rest.substr(dot2 + 1);
  return {key, parent};
}

bool is_json_number(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size()) return false;
  if (s[i] == '0') {
    ++i;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  } else {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t d = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == d) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t d = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == d) return false;
  }
  return i == s.size();
}

bool is_pchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("-._~!$&'()*+,;=:@", c) != nullptr;
}

// Headers whose value is a credential as a whole (built-in rule). A client certificate or its
// subject, as TLS-terminating proxies forward them (X-Forwarded-Client-Cert, Ssl-Client-Cert,
// X-SSL-Client-S-DN), names its holder.
bool credential_header(std::string_view lname) {
  static constexpr std::string_view kWords[] = {
      "token",       "api-key",    "apikey",      "api_key",   "secret",        "session",
      "csrf",        "xsrf",       "signature",   "password",  "x-auth",        "x-amz-security",
      "client-cert", "clientcert", "client-s-dn", "client-dn", "client-subject"};
  for (auto w : kWords) {
    if (icontains(lname, w)) return true;
  }
  return false;
}

// Headers in which an authenticating proxy passes on who the user is (Remote-User,
// X-Forwarded-User, X-Auth-Request-User, X-WEBAUTH-USER, X-Ms-Client-Principal, X-Amzn-Oidc-
// Identity): a login name rarely reads as a name or an e-mail, so the header's name decides.
bool identity_header(std::string_view lname) {
  const size_t dash = lname.rfind('-');
  const std::string_view last = dash == std::string_view::npos ? lname : lname.substr(dash + 1);
  return last == "user" || last == "username" || last == "login" || last == "principal" ||
         last == "upn" || last == "identity";
}

bool credential_like(std::string_view v) {
  if (v.size() < 8) return false;
  bool letter = false, digit = false;
  for (char c : v) {  // until both are seen: a credential shows both within a few bytes
    if (c >= '0' && c <= '9') digit = true;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) letter = true;
    if (letter && digit) return true;
  }
  return false;
}

enum class Change : uint8_t { kUnchanged, kChanged, kDrop };

// The place name of Scrubber::scrub_text(): a text place reported as "metadata".
constexpr std::string_view kMetadataName = "{metadata}";

// Where a value sits, as the engine walks an exchange.
struct Place {
  Side side = Side::kRequest;
  Location location = Location::kHeader;
  std::string_view name;            // header/query/cookie/form name, JSON path, path segment index
  Kind default_kind = Kind::kNone;  // built-in rules: the value is this kind as a whole
  bool binary = false;              // replacements must keep the length
  bool number = false;              // a JSON number: the replacement must be one too
  bool content_only = false;        // a JSON key: content detectors only
  bool plus_is_space = false;       // raw urlencoded text (a query, a form): '+' is a space
};

// How the engine treats a header, by its name (built-in rules).
enum class HeaderClass : uint8_t {
  kPlain,          // a value like any other
  kPath,           // :path (HTTP/2): the request target
  kAuthority,      // :authority: the request's authority
  kAuthorization,  // Authorization, Proxy-Authorization: scheme kept, credentials a token
  kCookie,         // Cookie
  kSetCookie,      // Set-Cookie
  kUrl,            // Referer, Location, Content-Location: a URL
  kLink,           // Link (RFC 8288): <URL>; rel="next", … — each URL as a request target
  kCredential,     // a token, API key, secret or session header: the whole value
  kBinary,         // gRPC binary metadata ("…-bin"): base64 of bytes, read decoded
};

// What the policy says about one place, computed once per distinct place and cached.
struct Decision {
  std::string path;                     // the report path, "request.json:user.email"
  mutable FieldStats* stats = nullptr;  // the report's entry for `path`, made when first used
  HeaderClass header = HeaderClass::kPlain;
  int rule = -1;                              // a whole-value rule (no kind, or kind == key_kind)
  std::array<int16_t, kKindCount> span_rule;  // rules by kind for detected spans
  bool allow = false;
  Kind key_kind = Kind::kNone;
  // key_kind is kNone but the key names a person (Detectors::person_key): a value that reads as
  // a name (name_shaped()) is one.
  bool person_value = false;
};

// A remembered value: trivially constructible, so that a table of them can be zeroed pages.
struct Memo {
  uint64_t hash;  // 0: empty
  Kind kind;
  const ActionParams* action;
};

// The memory's table: zeroed anonymous pages, on huge pages where the kernel gives them. Its
// probes are random by design, and with 4 KiB pages nearly every one also missed the TLB and a
// first touch cost a page fault (24 MiB for the default 1M values: 6,000 faults).
class MemoTable {
 public:
  MemoTable() = default;
  explicit MemoTable(size_t slots) : bytes_(slots * sizeof(Memo)) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
    madvise(p, bytes_, MADV_HUGEPAGE);  // advice only: 4 KiB pages work as well, slower
#endif
    slots_ = static_cast<Memo*>(p);
  }
  MemoTable(const MemoTable&) = delete;
  MemoTable& operator=(const MemoTable&) = delete;
  ~MemoTable() {
    if (slots_) munmap(slots_, bytes_);
  }
  Memo* get() const { return slots_; }

 private:
  size_t bytes_ = 0;
  Memo* slots_ = nullptr;
};

struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return XXH3_64bits(s.data(), s.size()); }
};

// ---- a scrub on several threads (ParallelEngine, below) ----
// Every exchange can be scrubbed apart from the others but for the memory of values: a value a
// rule or key name chose is remembered, and scrubbed where it comes back in a place no rule
// covers. Which values are remembered never depends on what the memory answered (only values
// chosen by their place are remembered, and the memory is asked only about values no place
// chose), so workers scrub their exchanges at once, each asking the memory as it stood when the
// batch began plus what it remembered itself since, and note every question with its answer
// and every value remembered. An exchange that asked only about slots of the memory's table no
// other worker's earlier exchange wrote saw the memory as it is in input order, and stands; the
// others have their answers checked against the memory as the exchanges before them left it
// (known from what every exchange remembered), and one whose answer differs is scrubbed again
// from a copy, on its worker (ParallelEngine).
// The output, counters and report are those of one engine, byte for byte, whatever the thread
// count.

// A small map from slots of the memory's table to V, emptied often: open addressing, at most
// half full, emptied by the cells it used. Most questions are about slots it does not hold: a
// bitmap small enough for the first-level cache answers them without a probe.
template <typename V>
class SlotMap {
 public:
  void clear() {
    for (uint32_t i : used_) cells_[i].key = 0;
    used_.clear();
    bits_.fill(0);
  }
  using Bits = std::array<uint64_t, 512>;
  // Whether a map whose bitmap is (or is within) `bits` may hold `slot`.
  static bool may_hold(const Bits& bits, size_t slot) {
    const size_t b = bit(slot + 1);
    return ((bits[b >> 6] >> (b & 63)) & 1) != 0;
  }
  const Bits& bits() const { return bits_; }
  const V* get(size_t slot) const {
    if (!may_hold(bits_, slot)) return nullptr;
    const size_t key = slot + 1;
    for (size_t i = home(key);; i = (i + 1) & (cells_.size() - 1)) {
      if (cells_[i].key == key) return &cells_[i].value;
      if (cells_[i].key == 0) return nullptr;
    }
  }
  // The value at `slot`, made (value-initialised) when new.
  V& put(size_t slot) {
    if ((used_.size() + 1) * 2 > cells_.size()) grow();
    const size_t key = slot + 1;
    size_t i = home(key);
    while (cells_[i].key != 0 && cells_[i].key != key) i = (i + 1) & (cells_.size() - 1);
    if (cells_[i].key == 0) {
      used_.push_back(uint32_t(i));
      cells_[i] = Cell{key, V{}};
      bits_[bit(key) >> 6] |= uint64_t{1} << (bit(key) & 63);
    }
    return cells_[i].value;
  }

 private:
  struct Cell {
    size_t key = 0;  // slot + 1; 0: free
    V value{};
  };
  static size_t bit(size_t key) { return (key * 0xC2B2AE3D27D4EB4Full) >> (64 - 15); }
  size_t home(size_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }
  void grow() {
    std::vector<Cell> old;
    old.swap(cells_);
    cells_.assign(old.empty() ? 1024 : old.size() * 2, Cell{});
    shift_ = 64 - size_t(__builtin_ctzll(cells_.size()));
    std::vector<uint32_t> was;
    was.swap(used_);
    for (uint32_t i : was) put(old[i].key - 1) = old[i].value;
  }
  std::vector<Cell> cells_;
  std::vector<uint32_t> used_;  // the cells in use
  Bits bits_{};                 // by bit(key): a cell may hold the key
  size_t shift_ = 64;
};

// One question to the memory, or one value remembered, in the order a worker met them.
struct MemoryEvent {
  enum Type : uint8_t { kMissed, kFound, kRemembered };
  uint64_t hash;
  const ActionParams* action;  // kFound: the answer's; kRemembered: the value's
  Kind kind;
  Type type;
};

// What a worker would have added to the report, kept until its exchange stands.
struct JournalEntry {
  enum Type : uint8_t { kRecord, kResidual, kJsonBody };
  const std::string* path;  // the decision's report path (kRecord, kResidual)
  Report::Observation observation;
  uint64_t n;  // kResidual: the count; kJsonBody: bit 0 checked, bit 1 the same structure
  Type type;
};

class Engine final : public Scrubber {
 public:
  // `master`: this engine is a worker of a ParallelEngine and speculates (see above) on
  // `master`'s memory of values, which it only reads, and only while `master` does not change
  // it. Engines share the policy (its actions are compared by address) and the detectors.
  Engine(std::shared_ptr<const Policy> policy, const Key& key,
         std::shared_ptr<const Detectors> detectors, const Engine* master = nullptr)
      : policy_holder_(std::move(policy)),
        policy_(*policy_holder_),
        detectors_(std::move(detectors)),
        scratch_(detectors_->make_scratch()),
        transformer_(key, policy_.token_scheme),
        report_(seed_of(key, "report")),
        memory_seed_(seed_of(key, "memory")),
        master_(master) {
    for (const auto& r : policy_.rules) {
      if (!r.action.entity.empty()) uses_entities_ = true;
    }
    for (const auto& [file, bytes] : policy_.protobuf_descriptors) {
      std::string error;
      schema_.add(bytes, error);  // (parse_policy read it once already)
    }
    scan_everything_ = !policy_.detectors.custom.empty();
    min_scan_length_ = std::min<size_t>(policy_.detectors.secret_min_length, 20);
    if (master_) {
      memory_slots_ = master_->memory_slots_;
    } else if (policy_.memory_values > 0) {
      size_t n = 1;
      while (n < policy_.memory_values) n <<= 1;
      memory_ = std::make_unique<MemoTable>(n);
      memory_slots_ = n;
      filter_.assign(kFilterBits / 64, 0);
    }
    for (const auto& a : policy_.by_kind) {
      if (!a.entity.empty()) uses_entities_ = true;
    }
    for (const auto& a : policy_.custom_actions) {
      if (!a.entity.empty()) uses_entities_ = true;
    }
  }

  void scrub(Exchange& ex) override { scrub_at(ex, counters_.exchanges); }

  // `ordinal`: the exchange's place in the input, from 0 (counters_.exchanges for one engine).
  void scrub_at(Exchange& ex, uint64_t ordinal) {
    ordinal_ = ordinal;
    records_ = 0;
    ++counters_.exchanges;
    changed_ = false;
    if (uses_entities_) collect_entities(ex);
    url_person_ = url_names_person(ex.request.target);
    // The messages a gRPC or Connect method's path names, read before the target is scrubbed.
    rpc_types_ =
        schema_.empty()
            ? std::pair<const ProtobufSchema::MessageType*, const ProtobufSchema::MessageType*>{}
            : schema_.method(ex.request.target);

    // A body is read as its headers say before they are scrubbed (a policy may scrub or drop
    // a Content-Type, and a scrubbed header must not change what in the body is scrubbed or
    // remembered: ParallelEngine counts on that).
    body_headers_[0].take(ex.request.headers);
    if (ex.response) body_headers_[1].take(ex.response->headers);

    scrub_addresses(ex);
    scrub_target(ex.request.target, Side::kRequest);
    scrub_headers(ex.request.headers, Side::kRequest, &ex.request.target);
    if (!ex.request.authority.empty()) {
      Place p{Side::kRequest, Location::kHeader, "host"};
      apply_in_place(p, ex.request.authority);
      for (auto& h : ex.request.headers) {
        if (h.name == ":authority") h.value = ex.request.authority;
      }
    }
    scrub_body(ex.request.headers, body_headers_[0], ex.request.body, ex.request.body_size,
               ex.has(traffic::kFlagRequestBodyTruncated), Side::kRequest);
    if (ex.response) {
      if (!ex.response->reason.empty()) {
        scrub_text(ex.response->reason, Side::kResponse, false, Location::kHeader);
      }
      scrub_headers(ex.response->headers, Side::kResponse, nullptr);
      scrub_body(ex.response->headers, body_headers_[1], ex.response->body, ex.response->body_size,
                 ex.has(traffic::kFlagResponseBodyTruncated), Side::kResponse);
    }
    ex.flags |= traffic::kFlagScrubbed;
    if (changed_) ++counters_.exchanges_changed;
  }

  const ScrubCounters& counters() const override { return counters_; }
  const Report& report() const override { return report_; }
  void set_shape_statistics(bool on) override { report_.set_shape_statistics(on); }

 private:
  friend class ParallelEngine;

  // A worker, before its part of a batch: what the master's memory did not have when the last
  // batch began it has now (the batch was added), and the last batch's journal was added.
  void begin_batch() {
    overlay_.clear();
    events_.clear();
    writes_.clear();
    checks_.clear();
    journal_.clear();
    first_write_.clear();
    first_value_.clear();
    report_paths_.clear();
    if (decisions_.size() > 100000) clear_decisions();
  }

  static uint64_t seed_of(const Key& key, std::string_view purpose) {
    auto k = key.derive(purpose);
    uint64_t seed = 0;
    std::memcpy(&seed, k.bytes().data(), sizeof seed);
    return seed;
  }

  // ---- decisions ----

  // A place's decision is looked up once per value; most places come back within a few values
  // (the keys of one object, the same object again in a list). A direct-mapped front of
  // decisions_ answers them with a compare of the name instead of building and hashing the
  // whole key and walking a hash bucket. Its slot is picked by the name's length and its first
  // and last bytes: cheap, and the compare makes it exact. 1,024 slots: with 256, a request's
  // headers and its body's paths took each other's (8 slow lookups an exchange).
  struct RecentDecision {
    const Decision* decision = nullptr;
    Side side = Side::kRequest;
    Location location = Location::kHeader;
    bool url_person = false;
    std::string name;
  };
  static size_t recent_slot(const Place& p) {
    const std::string_view n = p.name;
    uint64_t head = 0, tail = 0;
    if (!n.empty()) std::memcpy(&head, n.data(), std::min<size_t>(n.size(), 8));
    if (n.size() > 8) std::memcpy(&tail, n.data() + n.size() - 8, 8);
    uint64_t h = (head * 0x9E3779B97F4A7C15ull) ^ (tail * 0xC2B2AE3D27D4EB4Full) ^
                 (uint64_t(n.size()) << 8) ^ (uint64_t(p.location) << 3) ^ uint64_t(p.side);
    h ^= h >> 29;
    return size_t(h * 0xBF58476D1CE4E5B9ull >> 54);  // 1,024 slots
  }

  const Decision& decide(const Place& p) {
    const bool url_person = p.location == Location::kJson && url_person_;
    RecentDecision& recent = recent_decisions_[recent_slot(p)];
    if (recent.decision && recent.side == p.side && recent.location == p.location &&
        recent.url_person == url_person && same_bytes(recent.name, p.name)) {
      return *recent.decision;
    }
    const Decision& d = decide_slow(p);
    recent.decision = &d;
    recent.side = p.side;
    recent.location = p.location;
    recent.url_person = url_person;
    recent.name.assign(p.name);
    return d;
  }

  const Decision& decide_slow(const Place& p) {
    cache_key_.clear();
    cache_key_ += char('0' + int(p.side));
    cache_key_ += char('0' + int(p.location));
    if (p.location == Location::kJson) cache_key_ += url_person_ ? '1' : '0';
    cache_key_ += p.name;
    auto it = decisions_.find(std::string_view(cache_key_));
    if (it != decisions_.end()) return it->second;
    // (A worker's journal names decisions' paths by address until its batch is added:
    // begin_batch() clears its decisions.)
    if (decisions_.size() > 100000 && !master_) clear_decisions();

    Decision d;
    d.span_rule.fill(-1);
    d.path = p.side == Side::kRequest ? "request." : "response.";
    d.path += to_string(p.location);
    std::string name;
    switch (p.location) {
      case Location::kJson:
      case Location::kXml:   // element names hold no '.' or '[' (rewrite_xml makes them '_')
      case Location::kYaml:  // nor do YAML keys (rewrite_yaml), sequences are "[]" as in JSON
        // A segment that is not an identifier (an e-mail as an element name) is "{key}": the
        // report never holds a value.
        append_json_path(name, p.name);
        break;
      case Location::kPath:
      case Location::kProtobuf:  // field numbers joined by '.'
      case Location::kThrift:    // field ids joined by '.'
        name = p.name;
        break;
      case Location::kText:
        name = p.name;
        if (p.name == kMetadataName) d.path = "metadata";  // scrub_text(): no side, no body
        break;
      case Location::kAddress:
        name = p.name;
        d.path = std::string(p.name) + ".address";
        break;
      default:
        append_name(name, p.name, true);
    }
    if (p.location != Location::kText && p.location != Location::kAddress) {
      d.path += ':';
      d.path += name;
    }
    bool fold = p.location != Location::kJson && p.location != Location::kPath &&
                p.location != Location::kXml && p.location != Location::kYaml &&
                p.location != Location::kProtobuf && p.location != Location::kThrift;
    // Rules and key names see the name as sent, not the report's "{key}" spelling; a name in
    // brackets ("user[password]", Rails and PHP forms) is also seen as its last key.
    std::string_view raw = p.name;
    std::string_view bracket_key, bracket_parent;
    if (p.location != Location::kJson && p.location != Location::kXml &&
        p.location != Location::kYaml && p.location != Location::kProtobuf &&
        p.location != Location::kThrift && raw.ends_with(']')) {
      auto open = raw.rfind('[');
      if (open != std::string_view::npos && open > 0) {
        bracket_key = raw.substr(open + 1, raw.size() - open - 2);
        bracket_parent = raw.substr(0, open);
        auto inner = bracket_parent.rfind('[');
        if (inner != std::string_view::npos && bracket_parent.ends_with(']')) {
          bracket_parent = bracket_parent.substr(inner + 1, bracket_parent.size() - inner - 2);
        }
      }
    }
    if (policy_.key_names && detectors_) {
      if (p.location == Location::kJson) {
        auto [key, parent] = last_keys(raw);
        // A key at the top of a body has no parent to say what it belongs to: the URL does
        // ("name" in the answer to /api/users/7 is a person's).
        if (parent.empty() && url_person_) parent = "user";
        d.key_kind = detectors_->classify_key(key, parent);
        d.person_value = d.key_kind == Kind::kNone && detectors_->person_key(key);
      } else if (p.location == Location::kXml || p.location == Location::kYaml ||
                 p.location == Location::kProtobuf) {
        // An element's (or attribute's) name and its parent element's, or a YAML key and the
        // one above it, as JSON keys are read.
        auto [key, parent] = last_keys(raw);
        d.key_kind = detectors_->classify_key(key, parent);
        d.person_value = d.key_kind == Kind::kNone && detectors_->person_key(key);
      } else if (p.location == Location::kQuery || p.location == Location::kForm ||
                 p.location == Location::kCookie || p.location == Location::kHeader ||
                 p.location == Location::kCsv) {
        d.key_kind = bracket_key.empty() ? detectors_->classify_key(raw, "")
                                         : detectors_->classify_key(bracket_key, bracket_parent);
        // Headers are known by the built-in rules and the allowlist; a header's name only
        // decides when it says plainly what it holds (X-User-Email, X-Customer-Phone).
        if (p.location == Location::kHeader && (d.key_kind == Kind::kBearer)) {
          d.key_kind = Kind::kNone;
        }
        if (p.location == Location::kHeader && d.key_kind == Kind::kNone && policy_.builtin_rules &&
            identity_header(p.name)) {
          d.key_kind = Kind::kName;
        }
        if ((p.location == Location::kQuery || p.location == Location::kForm ||
             p.location == Location::kCsv) &&
            d.key_kind == Kind::kNone) {
          d.person_value = detectors_->person_key(bracket_key.empty() ? raw : bracket_key);
        }
      }
    }
    auto matches = [&](const Selector& s) {
      if (s.location != p.location) return false;
      if (s.side != Side::kBoth && s.side != p.side) return false;
      if (glob_match(s.pattern, raw, fold)) return true;
      if (!bracket_key.empty() && glob_match(s.pattern, bracket_key, fold)) return true;
      return name != raw && glob_match(s.pattern, name, fold);
    };
    for (size_t i = 0; i < policy_.rules.size(); ++i) {
      const auto& r = policy_.rules[i];
      if (!std::any_of(r.where.begin(), r.where.end(), matches)) continue;
      if (!r.kind || *r.kind == d.key_kind || *r.kind == p.default_kind) {
        if (d.rule < 0) d.rule = int(i);
      } else if (d.span_rule[size_t(*r.kind)] < 0) {
        d.span_rule[size_t(*r.kind)] = int16_t(i);
      }
    }
    d.allow = std::any_of(policy_.allow_where.begin(), policy_.allow_where.end(), matches);
    if (p.location == Location::kHeader) d.header = header_class(name, p.side);
    return decisions_.emplace(cache_key_, std::move(d)).first->second;
  }

  // Whether a changed JSON body's structure is compared before and after (a third and fourth
  // pass over it): in the first 64 exchanges, then in one exchange in 16, picked by a hash of
  // its place in the input, so that the choice is the same whatever the thread count.
  bool check_json_structure() const {
    if (ordinal_ < 64) return true;
    uint64_t x = ordinal_ + 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return ((x ^ (x >> 31)) & 15) == 0;
  }

  // The report's fields may have moved (Report::restrict_paths): look them up again.
  void forget_report_fields() {
    for (auto& [key, d] : decisions_) d.stats = nullptr;
  }

  void clear_decisions() {
    decisions_.clear();
    for (auto& r : recent_decisions_) r.decision = nullptr;
    for (auto& o : outcomes_) o.hash = 0;  // they name decisions by address
  }

  FieldStats& stats_of(const Decision& d) {
    const auto first = next_record();
    if (!d.stats) d.stats = &report_.field(d.path, first);
    return *d.stats;
  }
  // The place of the next report entry: the exchange's place in the input (2n + 1), or the
  // place of a text scrubbed between exchanges (2n, n the exchanges before it), then the
  // entry's within it. The reports of several threads merge by it (Report::merge_in_order).
  std::pair<uint64_t, uint64_t> next_record() {
    if (in_text_) {
      return {2 * (text_ordinal_ != UINT64_MAX ? text_ordinal_ : counters_.exchanges),
              text_records_++};
    }
    return {2 * ordinal_ + 1, records_++};
  }

  // The report's entries go through these: a worker keeps them in its journal instead (an
  // entry's place in the journal is its place within its exchange, as next_record() counts).
  void report_record(const Decision& d, std::string_view before, std::string_view after,
                     Kind kind) {
    if (master_) {
      journal_.push_back({&d.path, report_.observe(before, after, kind), 0, JournalEntry::kRecord});
      return;
    }
    report_.record(stats_of(d), before, after, kind);
  }
  void report_residual(const Decision& d, uint64_t n) {
    if (master_) {
      journal_.push_back({&d.path, {}, n, JournalEntry::kResidual});
      return;
    }
    report_.add_residual(stats_of(d), n);
  }
  void report_json_body(bool checked, bool same) {
    if (master_) {
      journal_.push_back(
          {nullptr, {}, uint64_t(checked) | uint64_t(same) << 1, JournalEntry::kJsonBody});
      return;
    }
    next_record();
    report_.add_json_body(checked, same);
  }

  HeaderClass header_class(std::string_view lname, Side side) const {
    if (lname == ":path" && side == Side::kRequest) return HeaderClass::kPath;
    if (lname == ":authority" && side == Side::kRequest) return HeaderClass::kAuthority;
    if (lname == "referer" || lname == "location" || lname == "content-location") {
      return HeaderClass::kUrl;
    }
    if (lname == "link") return HeaderClass::kLink;
    const bool binary = lname.size() > 4 && lname.ends_with("-bin");
    if (!policy_.builtin_rules) return binary ? HeaderClass::kBinary : HeaderClass::kPlain;
    if (lname == "authorization" || lname == "proxy-authorization") {
      return HeaderClass::kAuthorization;
    }
    if (lname == "cookie") return HeaderClass::kCookie;
    if (lname == "set-cookie") return HeaderClass::kSetCookie;
    if (credential_header(lname)) return HeaderClass::kCredential;
    return binary ? HeaderClass::kBinary : HeaderClass::kPlain;
  }

  const ActionParams& action_for(const Decision& d, Kind kind, uint16_t custom) {
    if (d.span_rule[size_t(kind)] >= 0)
      return policy_.rules[size_t(d.span_rule[size_t(kind)])].action;
    if (kind == Kind::kCustom && custom < policy_.custom_actions.size()) {
      return policy_.custom_actions[custom];
    }
    return policy_.by_kind[size_t(kind)];
  }

  // Whether the last alphabetic segment of a target's path names people ("users", "customer",
  // "contacts"), judged by the key-name detector as a parent of "name"; cached by segment.
  bool url_names_person(std::string_view target) {
    auto q = target.find_first_of("?#");
    std::string_view path = target.substr(0, q);
    std::string_view seg;
    size_t i = 0;
    while (i < path.size()) {
      size_t slash = path.find('/', i);
      auto s = path.substr(i, (slash == std::string_view::npos ? path.size() : slash) - i);
      bool alpha = !s.empty() && s.size() <= 32 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
      });
      if (alpha) seg = s;
      if (slash == std::string_view::npos) break;
      i = slash + 1;
    }
    if (seg.empty() || !detectors_) return false;
    auto it = url_person_cache_.find(seg);
    if (it != url_person_cache_.end()) return it->second;
    bool person = detectors_->classify_key("name", seg) == Kind::kName;
    if (!person && seg.size() > 1 && (seg.back() == 's' || seg.back() == 'S')) {
      person = detectors_->classify_key("name", seg.substr(0, seg.size() - 1)) == Kind::kName;
    }
    if (url_person_cache_.size() > 4096) url_person_cache_.clear();
    url_person_cache_.emplace(std::string(seg), person);
    return person;
  }

  // ---- memory ----

  uint64_t memory_hash(std::string_view v) const {
    return XXH3_64bits_withSeed(v.data(), v.size(), memory_seed_);
  }

  // The memory is a table of memory.values slots (rounded up to a power of two), indexed by the
  // keyed hash: constant time and memory. A value that lands on a slot held by another one
  // replaces it, and that is counted as an eviction.
  // Most lookups miss, and the table is large: a bitmap small enough to stay in cache answers
  // most misses without touching the table.
  static constexpr size_t kFilterBits = size_t{1} << 20;
  bool filter_test(uint64_t h) const {
    size_t i = (h >> 40) & (kFilterBits - 1);
    return (filter_[i >> 6] >> (i & 63)) & 1;
  }
  void filter_set(uint64_t h) {
    size_t i = (h >> 40) & (kFilterBits - 1);
    filter_[i >> 6] |= uint64_t{1} << (i & 63);
  }

  // `h`: memory_hash(v) | 1, or 0 to compute it here.
  const Memo* recall(std::string_view v, uint64_t h = 0) {
    if (memory_slots_ == 0 || v.size() < policy_.memory_min_length) return nullptr;
    if (master_) return worker_recall(h != 0 ? h : memory_hash(v) | 1);
    if (remembered_ == 0) return nullptr;
    if (h == 0) h = memory_hash(v) | 1;
    return find(h);
  }
  // A worker's recall(): its own values first, then the master's as the batch began (or, when
  // it scrubs an exchange again, as that exchange found them). Out of line: the one-thread path
  // inlines recall(), and this would push decide() out of scrub_value_once().
  [[gnu::noinline]] const Memo* worker_recall(uint64_t h) {
    const Memo* m = overlay_.find(h, *master_, view_, view_as_of_);
    events_.push_back({h, m ? m->action : nullptr, m ? m->kind : Kind::kNone,
                       m ? MemoryEvent::kFound : MemoryEvent::kMissed});
    return m;
  }
  // The memory's answer for hash `h` (of a value long enough).
  const Memo* find(uint64_t h) const {
    if (remembered_ == 0 || !filter_test(h)) return nullptr;
    const Memo& m = memory_->get()[h & (memory_slots_ - 1)];
    return m.hash == h ? &m : nullptr;
  }
  // The hash held by the table's slot for `h` (0: none).
  uint64_t slot_hash(uint64_t h) const { return memory_->get()[h & (memory_slots_ - 1)].hash; }

  // Values remembered on top of a master's memory, slot by slot as the master's table would
  // take them: a worker's own since its batch began, or (ParallelEngine) one exchange's while
  // its answers are checked.
  class BatchView;
  class MemoryOverlay {
   public:
    void clear() { slots_.clear(); }
    // Below the overlay: the master's memory, or, with `view`, the memory as exchange `as_of`
    // of the view's batch found it.
    const Memo* find(uint64_t h, const Engine& master, const BatchView* view = nullptr,
                     uint32_t as_of = 0) const {
      const Memo* m = slots_.get(h & (master.memory_slots_ - 1));
      if (m == nullptr) return view ? view->find(h, as_of, master) : master.find(h);
      return m->hash == h ? m : nullptr;
    }
    void remember(uint64_t h, Kind kind, const ActionParams* action, const Engine& master,
                  const BatchView* view = nullptr, uint32_t as_of = 0) {
      const size_t slot = h & (master.memory_slots_ - 1);
      const Memo* m = slots_.get(slot);
      const uint64_t held = m != nullptr      ? m->hash
                            : view != nullptr ? view->slot_hash(h, as_of, master)
                                              : master.slot_hash(h);
      if (held != h) slots_.put(slot) = Memo{h, kind, action};
    }

   private:
    SlotMap<Memo> slots_;
  };

  // The memory of values as each exchange of a batch found it (ParallelEngine): the master's
  // table as the batch began and, slot by slot, the values the batch's exchanges remembered,
  // in input order. Which values an exchange remembers does not depend on what the memory
  // answered, so the first scrub of the batch gives them all; an exchange scrubbed again on a
  // worker asks the view as of its own place, as the master would have answered it then.
  class BatchView {
   public:
    void clear() {
      heads_.clear();
      entries_.clear();
    }
    bool empty() const { return entries_.empty(); }
    // A value exchange i remembered, after those of every exchange before it.
    void remember(uint32_t i, uint64_t h, Kind kind, const ActionParams* action,
                  const Engine& master) {
      uint32_t& head = heads_.put(h & (master.memory_slots_ - 1));
      const uint64_t held = head != 0 ? entries_[head - 1].memo.hash : master.slot_hash(h);
      if (held == h) return;  // (the table keeps the first kind and action of a value)
      entries_.push_back(Entry{i, head, Memo{h, kind, action}});
      head = uint32_t(entries_.size());
    }
    const Memo* find(uint64_t h, uint32_t as_of, const Engine& master) const {
      const Entry* e = before(h, as_of, master);
      if (e == nullptr) return master.find(h);
      return e->memo.hash == h ? &e->memo : nullptr;
    }
    uint64_t slot_hash(uint64_t h, uint32_t as_of, const Engine& master) const {
      const Entry* e = before(h, as_of, master);
      return e != nullptr ? e->memo.hash : master.slot_hash(h);
    }

   private:
    struct Entry {
      uint32_t exchange;
      uint32_t previous;  // the slot's entry before, + 1 (0: none)
      Memo memo;
    };
    // The slot's last entry from an exchange before `as_of`, or nullptr.
    const Entry* before(uint64_t h, uint32_t as_of, const Engine& master) const {
      const uint32_t* head = heads_.get(h & (master.memory_slots_ - 1));
      for (uint32_t k = head != nullptr ? *head : 0; k != 0; k = entries_[k - 1].previous) {
        if (entries_[k - 1].exchange < as_of) return &entries_[k - 1];
      }
      return nullptr;
    }
    SlotMap<uint32_t> heads_;  // slot → its last entry, + 1
    std::vector<Entry> entries_;
  };

  // Whether remember(v, ...) would look at the table.
  bool rememberable(std::string_view v, const ActionParams& action) const {
    return memory_slots_ != 0 && v.size() >= policy_.memory_min_length &&
           action.action != Action::kKeep;
  }

  // Values remembered lately, by hash: a value met again soon after it was remembered (the
  // same address as shipping and billing address, a user's e-mail in the body and in the JWT,
  // the next page of the same list) is known to be in the table without touching it. Exact: a
  // hash is here only while the table's slot holds it (an eviction takes it out), so a hit
  // means what the table's own check (m.hash == h) would say.
  static constexpr size_t kMemoryFront = 4096;  // 32 KiB
  uint64_t& memory_front(uint64_t h) { return memory_front_[(h >> 32) & (kMemoryFront - 1)]; }

  // The table slot of remember(v) and its filter word, asked for ahead of time: the probe is a
  // cache miss almost always, and it can overlap the token cache's and the transform's work.
  // Returns the hash for remember().
  uint64_t prefetch_memory(std::string_view v, uint64_t h = 0) {
    if (h == 0) h = memory_hash(v) | 1;
    if (master_) {  // a worker reads the master's slot (MemoryOverlay::remember)
      __builtin_prefetch(&master_->memory_->get()[h & (memory_slots_ - 1)]);
      return h;
    }
    if (memory_front(h) == h) return h;
    __builtin_prefetch(&memory_->get()[h & (memory_slots_ - 1)], 1);
    __builtin_prefetch(&filter_[((h >> 40) & (kFilterBits - 1)) >> 6], 1);
    return h;
  }

  // `h`: prefetch_memory(v), or 0 to compute it here.
  void remember(std::string_view v, Kind kind, const ActionParams* action, uint64_t h = 0) {
    if (!rememberable(v, *action)) return;
    if (h == 0) h = memory_hash(v) | 1;
    if (master_) {
      worker_remember(h, kind, action);
      return;
    }
    remember_hash(h, kind, action);
  }
  // A worker's remember(): noted, and on top of the master's memory (out of line, as
  // worker_recall()).
  [[gnu::noinline]] void worker_remember(uint64_t h, Kind kind, const ActionParams* action) {
    events_.push_back({h, action, kind, MemoryEvent::kRemembered});
    writes_.push_back(events_.back());
    overlay_.remember(h, kind, action, *master_, view_, view_as_of_);
    if (view_ != nullptr) return;  // a second scrub: the maps below are being read
    // (its exchanges come in input order: the first write is the earliest)
    if (uint32_t& first = first_write_.put(h & (memory_slots_ - 1)); first == 0) {
      first = batch_index_ + 1;
    }
    if (uint32_t& first = first_value_.put(h >> 1); first == 0) first = batch_index_ + 1;
  }
  void remember_hash(uint64_t h, Kind kind, const ActionParams* action) {
    uint64_t& front = memory_front(h);
    if (front == h) return;  // in the table, and in the filter since it went in
    filter_set(h);
    Memo& m = memory_->get()[h & (memory_slots_ - 1)];
    if (m.hash != h) {
      if (m.hash != 0) {
        ++counters_.memory_evictions;
        uint64_t& evicted = memory_front(m.hash);
        if (evicted == m.hash) evicted = 0;
      } else {
        ++remembered_;
      }
      m = Memo{h, kind, action};
    }
    front = h;
  }

  // ---- transforms ----

  std::string_view entity_for(const ActionParams& a) {
    if (a.entity.empty()) return {};
    auto it = entities_.find(a.entity);
    return it == entities_.end() ? std::string_view() : std::string_view(it->second);
  }

  // Transforms a whole value, honouring the constraints of its place; appends to `out`.
  // `memory_h`: memory_hash(v) | 1 when the caller has it, else 0.
  void transform(const Place& p, std::string_view v, Kind kind, const ActionParams& a,
                 std::string& out, uint64_t memory_h = 0) {
    if (recording_ && !a.entity.empty()) recording_->ok = false;  // depends on the exchange
    size_t start = out.size();
    if (p.number && a.action == Action::kToken) {
      // A JSON number: its digits get the token they would get as a string of digits (so that
      // 4155552671 and "4155552671" agree), sign, point and exponent stay. Only when that
      // gives no valid number (a leading zero) does the first digit stay as it was.
      number_digits_.clear();
      for (char c : v) {
        if (c >= '0' && c <= '9') number_digits_ += c;
      }
      number_token_.clear();
      cached_token(number_digits_, kind, number_token_);
      bool ok = number_token_.size() == number_digits_.size();
      for (int attempt = 0; ok && attempt < 2; ++attempt) {
        out.resize(start);
        size_t k = 0;
        for (char c : v) out += (c >= '0' && c <= '9') ? number_token_[k++] : c;
        if (is_json_number(std::string_view(out).substr(start))) break;
        // Keep the first digit, token the others.
        std::string rest;
        transformer_.token(std::string_view(number_digits_).substr(1), Kind::kNone, rest);
        number_token_ = number_digits_.substr(0, 1) + rest;
        ok = number_token_.size() == number_digits_.size();
      }
    } else if (a.action == Action::kToken && v.size() <= kLongCachedLength) {
      cached_token(v, kind, out, memory_h);
    } else if (transformer_.apply(v, kind, a, entity_for(a), out) == Outcome::kFallback) {
      ++counters_.fallbacks;
    }
    std::string_view got(out.data() + start, out.size() - start);
    if (p.number && a.action != Action::kDrop && !is_json_number(got)) {
      // redact, mask or an FF1 result with a leading zero: not a number any more.
      out.resize(start);
      out += '0';
      ++counters_.fallbacks;
    } else if (p.binary && got.size() != v.size() && a.action != Action::kDrop) {
      out.resize(start);
      transformer_.token(v, Kind::kNone, out);
      ++counters_.fallbacks;
    }
  }

  // Traffic repeats its values (a session's token in every request, a user's e-mail in every
  // response), and a token costs a keyed permutation: a direct-mapped cache of recent tokens
  // saves most of that. Exact: a hit compares the kind and the whole input.
  // A slot is two cache lines holding the hash, the input and its token side by side, so that a
  // probe costs one miss, not three (std::string members put both strings past 15 bytes on the
  // heap). An input and token too long for a slot go to a smaller table of strings.
  static constexpr size_t kCachedLength = 128;
  // Inputs up to this long go through the cache (the longer ones to the table of strings): a
  // bearer token or a session's JWT comes back with every request, and a JWT of a few hundred
  // bytes costs tens of thousands of instructions. Longer inputs are tokenized every time, so
  // that the table holds at most 4,096 × 2 KiB.
  static constexpr size_t kLongCachedLength = 1024;
  struct alignas(64) TokenSlot {
    uint64_t hash = 0;  // 0: empty
    Kind kind = Kind::kNone;
    uint8_t in_len = 0;
    uint8_t out_len = 0;
    char bytes[117];  // the input, then its token
  };
  static_assert(sizeof(TokenSlot) == 128);
  static constexpr size_t kTokenSlots = 16384;  // 2 MiB
  static constexpr size_t kLongInput = 40;      // shorter inputs and their tokens fit a slot
  struct LongToken {
    uint64_t hash = 0;
    Kind kind = Kind::kNone;
    std::string in, out;
  };
  // A slot's hash: the memory's hash of the value (memory_hash(v) | 1, which scrub_value_once
  // has most often computed already: `memory_h`, or 0 to compute it here) mixed with the kind,
  // so that a value costs one pass of XXH3, not three.
  uint64_t token_hash(std::string_view v, Kind kind, uint64_t memory_h) const {
    uint64_t h = memory_h != 0 ? memory_h : memory_hash(v) | 1;
    h ^= (uint64_t(kind) + 1) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h | 1;
  }
  // A value's slot depends on the value only, not on its kind (which is compared), so that
  // scrub_value_once() can ask for it before the place's decision says the kind.
  static size_t token_slot(uint64_t memory_h) { return (memory_h >> 20) & (kTokenSlots - 1); }
  void prefetch_token_slot(size_t size, uint64_t memory_h) const {
    const char* slot = reinterpret_cast<const char*>(&token_cache_[token_slot(memory_h)]);
    __builtin_prefetch(slot);
    if (size > 64 - offsetof(TokenSlot, bytes)) __builtin_prefetch(slot + 64);
  }
  void prefetch_token(std::string_view v, uint64_t memory_h) const {
    prefetch_token_slot(v.size(), memory_h != 0 ? memory_h : memory_hash(v) | 1);
  }
  void cached_token(std::string_view v, Kind kind, std::string& out, uint64_t memory_h = 0) {
    if (memory_h == 0) memory_h = memory_hash(v) | 1;
    const uint64_t h = token_hash(v, kind, memory_h);
    TokenSlot& slot = token_cache_[token_slot(memory_h)];
    if (v.size() < sizeof(slot.bytes) && slot.hash == h && slot.kind == kind &&
        slot.in_len == v.size() && std::memcmp(slot.bytes, v.data(), v.size()) == 0) {
      out.append(slot.bytes + slot.in_len, slot.out_len);
      return;
    }
    LongToken* long_slot = nullptr;
    if (v.size() > kLongInput) {
      long_slot = &long_tokens_[h & (long_tokens_.size() - 1)];
      if (long_slot->hash == h && long_slot->kind == kind && long_slot->in == v) {
        out += long_slot->out;
        return;
      }
    }
    const size_t start = out.size();
    transformer_.token(v, kind, out);
    const size_t out_len = out.size() - start;
    if (v.size() + out_len <= sizeof(slot.bytes)) {
      slot.hash = h;
      slot.kind = kind;
      slot.in_len = uint8_t(v.size());
      slot.out_len = uint8_t(out_len);
      std::memcpy(slot.bytes, v.data(), v.size());
      std::memcpy(slot.bytes + v.size(), out.data() + start, out_len);
    } else if (long_slot) {
      long_slot->hash = h;
      long_slot->kind = kind;
      long_slot->in.assign(v);
      long_slot->out.assign(out, start, std::string::npos);
    }
  }

  // The detectors' spans of values that come back verbatim. scan() is a pure function of the
  // text (detect.h), so a remembered result is the result. Only places whose values repeat use
  // it: JSON keys (a few distinct names, met in every object), header values and the format
  // check of place-chosen values (the same host, bearer token or session cookie in every
  // request of a session). JSON values are not memoized: most are met once, or again from too
  // far away for a table that fits a cache (tried on 2026-12-04).
  struct ScanMemoSlot {
    uint64_t hash = 0;  // 0: empty
    std::string text;
    std::vector<Span> spans;
  };
  static constexpr size_t kScanMemoSlots = 4096;
  static constexpr size_t kScanMemoLength = 512;  // longer values are scanned every time
  void memo_scan(std::string_view v, std::vector<Span>& out) {
    if (v.size() > kScanMemoLength) {
      detectors_->scan(v, *scratch_, out);
      return;
    }
    const uint64_t h = XXH3_64bits(v.data(), v.size()) | 1;
    ScanMemoSlot& slot = scan_memo_[h & (kScanMemoSlots - 1)];
    if (slot.hash == h && slot.text == v) {
      out.insert(out.end(), slot.spans.begin(), slot.spans.end());
      return;
    }
    const size_t first = out.size();
    detectors_->scan(v, *scratch_, out);
    slot.hash = h;
    slot.text.assign(v);
    slot.spans.assign(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
  }

  void count(const Place& p, Kind kind) {
    ++counters_.values;
    ++counters_.by_kind[size_t(kind)];
    ++counters_.by_location[size_t(p.location)];
    changed_ = true;
    if (recording_) {
      if (recording_->n_kinds < OutcomeSlot::kKinds) {
        recording_->kinds[recording_->n_kinds] = kind;
      }
      ++recording_->n_kinds;
    }
  }

  // ---- outcomes ----
  // Traffic repeats its long values too: a product's description and image URL in every
  // catalog page that lists it, an app's user agent in every event. What the detectors make of
  // such a value and what replaces it depend on the value, its place's decision and the key
  // only — unless an action reads the exchange's entity (date shifting) or a transform falls
  // back — so the whole outcome of a content-detected value (the result, the replacement, the
  // counts, the report's record and the residual re-scan's count) is kept here and replayed
  // when the value comes back at a place with the same decision. Exact: a hit compares the
  // decision, the place's flags and the whole value. Only values of kOutcomeMinLength to
  // kOutcomeMaxLength bytes come here: a shorter one's scan costs about what a probe that
  // misses the cache costs (a direct-mapped table of all JSON values was slower, 2026-12-04),
  // and a longer one is rarely met again. The values and replacements kept take at most
  // kOutcomeBytes; past that, a slot is only reused in the room it has.
  static constexpr size_t kOutcomeMinLength = 40;
  static constexpr size_t kOutcomeMaxLength = 1024;
  static constexpr size_t kOutcomeSlots = 32768;
  static constexpr size_t kOutcomeBytes = size_t{8} << 20;
  struct OutcomeSlot {
    static constexpr uint8_t kKinds = 6;
    uint64_t hash = 0;  // 0: empty
    const Decision* decision = nullptr;
    uint32_t in_len = 0;
    uint8_t place = 0;  // outcome_place()
    Change change = Change::kUnchanged;
    bool recorded = false;  // report_.record() was called, with record_kind
    Kind record_kind = Kind::kNone;
    uint16_t n_kinds = 0;  // count() calls, their kinds below (more than kKinds: not kept)
    std::array<Kind, kKinds> kinds{};
    // false: the outcome is not to be replayed (an entity, a fallback, too many spans)
    bool ok = true;
    uint32_t dropped = 0;
    uint32_t residual = 0;
    std::string bytes;  // the value, then its replacement
  };
  static uint8_t outcome_place(const Place& p) {
    return uint8_t(uint8_t(p.location) << 3 | uint8_t(p.binary) << 2 | uint8_t(p.number) << 1 |
                   uint8_t(p.plus_is_space));
  }
  // The slot for a value found by content at `p`, or nullptr when such a value is not kept.
  // `h`: memory_hash(v) | 1, or 0.
  OutcomeSlot* outcome_slot(const Place& p, std::string_view v, uint64_t h) {
    if (v.size() < kOutcomeMinLength || v.size() > kOutcomeMaxLength || p.number ||
        std::memchr(v.data(), '%', v.size()) != nullptr) {
      return nullptr;  // numbers are short; escapes go through scrub_encoded_span()
    }
    if (h == 0) h = memory_hash(v) | 1;
    OutcomeSlot& slot = outcomes_[h & (kOutcomeSlots - 1)];
    outcome_hash_ = h;
    return &slot;
  }
  bool outcome_hit(const OutcomeSlot& slot, const Place& p, const Decision& d,
                   std::string_view v) const {
    return slot.hash == outcome_hash_ && slot.decision == &d && slot.in_len == v.size() &&
           slot.place == outcome_place(p) &&
           std::memcmp(slot.bytes.data(), v.data(), v.size()) == 0;
  }
  Change replay_outcome(const OutcomeSlot& slot, const Place& p, const Decision& d,
                        std::string_view v, std::string& out) {
    for (size_t i = 0; i < slot.n_kinds; ++i) count(p, slot.kinds[i]);
    counters_.dropped += slot.dropped;
    const std::string_view replaced = std::string_view(slot.bytes).substr(slot.in_len);
    if (slot.recorded) report_record(d, v, replaced, slot.record_kind);
    if (slot.residual) {
      counters_.residual += slot.residual;
      report_residual(d, slot.residual);
    }
    if (slot.change != Change::kUnchanged) out.assign(replaced);
    return slot.change;
  }
  // Starts keeping the outcome of the value about to be scanned in `slot`.
  void record_outcome(OutcomeSlot& slot, const Place& p, const Decision& d, std::string_view v) {
    slot.hash = 0;  // until the outcome is complete
    slot.decision = &d;
    slot.in_len = uint32_t(v.size());
    slot.place = outcome_place(p);
    slot.recorded = false;
    slot.n_kinds = 0;
    slot.ok = true;
    outcome_counters_ = {counters_.dropped, counters_.fallbacks, counters_.residual};
    recording_ = &slot;
  }
  void finish_outcome(std::string_view v, Change change, std::string_view out) {
    OutcomeSlot& slot = *recording_;
    recording_ = nullptr;
    if (!slot.ok || slot.n_kinds > OutcomeSlot::kKinds ||
        counters_.fallbacks != outcome_counters_[1] ||
        (!slot.recorded && change != Change::kUnchanged)) {  // (a replacement is recorded)
      return;
    }
    const size_t need = v.size() + (slot.recorded ? out.size() : 0);
    const size_t had = slot.bytes.capacity();
    if (need > had && outcome_bytes_ - had + need > kOutcomeBytes) return;
    slot.bytes.assign(v);
    if (slot.recorded) slot.bytes.append(out);
    outcome_bytes_ = outcome_bytes_ - had + slot.bytes.capacity();
    slot.change = change;
    slot.dropped = uint32_t(counters_.dropped - outcome_counters_[0]);
    slot.residual = uint32_t(counters_.residual - outcome_counters_[2]);
    slot.hash = outcome_hash_;
  }
  // report_record() for scrub_value(), noted in the outcome being kept.
  void record_value(const Decision& d, std::string_view v, std::string_view out, Kind kind) {
    report_record(d, v, out, kind);
    if (recording_) {
      recording_->recorded = true;
      recording_->record_kind = kind;
    }
  }

  // Rescans scrubbed output: anything the detectors find outside the regions twin wrote is
  // residual personal data. A detection that runs from a region twin wrote into the text kept
  // around it (a secret run of a token and the rest of a signature after a '/' the detectors
  // ended a JWT at) is residual only where the kept pieces hold something on their own: the
  // token is not the input's, and the input's scan judged the pieces the same way (a secret
  // run is cut around the specific spans in it).
  void check_residual(const Place& p, const Decision& d, std::string_view out) {
    rescan_.clear();
    detectors_->scan(out, *scratch_, rescan_);
    uint64_t residual = 0;
    auto ours = [&](size_t begin, size_t end) {
      return std::any_of(written_.begin(), written_.end(),
                         [&](const auto& r) { return begin >= r.first && end <= r.second; });
    };
    for (const auto& s : rescan_) {
      if (ours(s.begin, s.end)) continue;
      if (std::any_of(written_.begin(), written_.end(),
                      [&](const auto& r) { return s.begin < r.second && r.first < s.end; })) {
        // written_ is in output order: the kept pieces are the gaps between its regions
        size_t at = s.begin;
        for (const auto& r : written_) {
          if (r.second <= at) continue;
          if (r.first >= s.end) break;
          if (r.first > at) residual += kept_piece_findings(out.substr(at, r.first - at));
          at = r.second;
        }
        if (at < s.end) residual += kept_piece_findings(out.substr(at, s.end - at));
        continue;
      }
      std::string_view piece = out.substr(s.begin, s.end - s.begin);
      if (!p.binary && !p.number && has_percent_escape(piece)) {
        // Read as scrub_value reads it: decoded ("x+tok%40en.com" in a query is "x tok@en.com",
        // of which only "tok%40en.com" was found and written).
        percent_decode_mapped(piece, p.plus_is_space, span_decoded_, span_offsets_);
        span_found_.clear();
        detectors_->scan(span_decoded_, *scratch_, span_found_);
        if (!span_found_.empty()) {
          for (const auto& f : span_found_) {
            if (!ours(s.begin + span_offsets_[f.begin], s.begin + span_offsets_[f.end])) {
              ++residual;
            }
          }
          continue;
        }
      }
      ++residual;
    }
    if (residual) {
      counters_.residual += residual;
      report_residual(d, residual);
    }
  }

  size_t kept_piece_findings(std::string_view piece) {
    piece_found_.clear();
    detectors_->scan(piece, *scratch_, piece_found_);
    return piece_found_.size();
  }

  // A cheap test before the detectors: every built-in content kind needs a digit, '@', ':' or
  // '%' (an encoded '@'), or is at least as long as the shortest secret; a JSON number shorter
  // than 9 characters can be none of them (an SSN has 9 digits, a card 12, and a number holds no
  // separators). Policy regexes can match anything, so with any of them everything is scanned.
  bool may_hold_pii(std::string_view v, bool number) const {
    if (scan_everything_) return true;
    if (number) return v.size() >= 9;
    if (v.size() >= min_scan_length_) return true;
    // Eight bytes at a time (most JSON keys and many short values have none of them).
    size_t i = 0;
    for (; i + 8 <= v.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, v.data() + i, 8);
      if (has_pii_hint(w)) return true;
    }
    for (; i < v.size(); ++i) {
      if (kPiiHint[static_cast<uint8_t>(v[i])]) return true;
    }
    return false;
  }
  // Whether one of the eight bytes of `w` is a kPiiHint byte: '0'-':' (0x30-0x3A), '@' or '%'.
  // Exact: the range test looks at the low seven bits of bytes whose top bit is clear only.
  static bool has_pii_hint(uint64_t w) {
    constexpr uint64_t kOnes = 0x0101010101010101ULL;
    constexpr uint64_t kHigh = kOnes * 0x80;
    const uint64_t low7 = w & ~kHigh;
    // top bit of (b + 0x50) set iff b >= 0x30; of (b + 0x45) set iff b >= 0x3B (b < 0x80)
    const uint64_t ge30 = low7 + kOnes * (0x80 - 0x30);
    const uint64_t ge3b = low7 + kOnes * (0x80 - 0x3B);
    const uint64_t in_range = ge30 & ~ge3b & ~w & kHigh;
    auto zero_byte = [&](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
    return (in_range | zero_byte(w ^ (kOnes * '@')) | zero_byte(w ^ (kOnes * '%'))) != 0;
  }
  // The bytes may_hold_pii() looks for: a digit, '@', ':' or '%'.
  static constexpr std::array<bool, 256> kPiiHint = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    t['@'] = t[':'] = t['%'] = true;
    return t;
  }();

  // The heart: decides and transforms one value. `out` receives the new value when the result
  // is kChanged.
  // (Inlined: a call of its own costs its callers about 20 instructions a value.)
  [[gnu::always_inline]] Change scrub_value(const Place& p, std::string_view v, std::string& out) {
    const Change c = scrub_value_once(p, v, out);
    if (recording_) finish_outcome(v, c, out);
    return c;
  }

  Change scrub_value_once(const Place& p, std::string_view v, std::string& out) {
    if (v.empty()) return Change::kUnchanged;
    // Content only (a JSON key, a text): nothing but the detectors can claim it, so what they
    // cannot find needs no decision (most JSON keys).
    if (p.content_only && !may_hold_pii(v, p.number)) return Change::kUnchanged;
    // The memory's hash of the value, and its filter word asked for now: the word is a cache
    // miss more often than not, and the decision's lookup can run while it comes. recall() and
    // remember() below take the hash.
    uint64_t memory_h = 0;
    if (!p.content_only && memory_slots_ != 0 && v.size() >= policy_.memory_min_length) {
      memory_h = memory_hash(v) | 1;
      // (a worker's memory is its master's, and what it remembered itself)
      if (const Engine& m = master_ ? *master_ : *this; m.remembered_ != 0) {
        __builtin_prefetch(&m.filter_[((memory_h >> 40) & (kFilterBits - 1)) >> 6]);
      }
      if (v.size() >= kOutcomeMinLength && p.location != Location::kHeader) {
        __builtin_prefetch(&outcomes_[memory_h & (kOutcomeSlots - 1)]);  // outcome_slot()
      }
    }
    const Decision& d = decide(p);
    const ActionParams* act = nullptr;
    Kind kind = Kind::kNone;
    bool from_memory = false;
    if (!p.content_only) {
      if (d.rule >= 0) {
        const auto& r = policy_.rules[size_t(d.rule)];
        act = &r.action;
        kind = r.kind ? *r.kind : (d.key_kind != Kind::kNone ? d.key_kind : p.default_kind);
      } else if (d.allow) {
        return Change::kUnchanged;
      } else if (p.default_kind != Kind::kNone) {
        kind = p.default_kind;
        act = &action_for(d, kind, 0);
      } else if (d.key_kind != Kind::kNone) {
        kind = d.key_kind;
        act = &action_for(d, kind, 0);
      } else if (d.person_value && !p.number && name_shaped(v)) {
        kind = Kind::kName;
        act = &action_for(d, kind, 0);
      } else if (const Memo* m = recall(v, memory_h)) {
        kind = m->kind;
        act = m->action;
        from_memory = true;
      }
    } else if (d.allow) {
      return Change::kUnchanged;
    }
    // A token's slot, asked for as soon as the place says a token: its miss overlaps what
    // comes before the transform.
    if (act != nullptr && memory_h != 0 && act->action == Action::kToken && !p.number &&
        v.size() <= kCachedLength) {
      prefetch_token_slot(v.size(), memory_h);
    }

    // Percent-escapes ("alice%40example.com" in a URL) are read through wherever a value can be
    // decoded and encoded again: not in a binary body or a JSON number, whose replacement must
    // keep its length or stay a number. A value is then detected and transformed decoded, and
    // what replaces it is encoded in its original style, so that it gets the token the same
    // value gets where it is met decoded (a query value, a path segment, a JSON string).
    // Only spans and values that are replaced are looked at for escapes, never a whole body.
    const bool decodable = !p.binary && !p.number;
    bool decoded_whole = false;  // `act` applies to decoded_value_, v decoded
    spans_.clear();
    if (!act) {
      // A JSON document or a URL held in the value: its first byte tells, at next to no cost
      // to the others; a bare query string only where the detectors would look anyway.
      const char first = v[0];
      if ((first == '{' || first == '[' || first == 'h' || first == '/') && !p.content_only) {
        Change change;
        if (first == '{' || first == '[' ? embedded_json(p, v, out, change)
                                         : embedded_url(p, v, out, change)) {
          return change;
        }
      }
      if (!may_hold_pii(v, p.number)) return Change::kUnchanged;
      if (!p.content_only && first != 'h' && std::memchr(v.data(), '&', v.size()) != nullptr) {
        Change change;
        if (embedded_url(p, v, out, change)) return change;
      }
      if (p.content_only || p.location == Location::kHeader) {
        memo_scan(v, spans_);
      } else {
        if (OutcomeSlot* slot = outcome_slot(p, v, memory_h)) {
          if (outcome_hit(*slot, p, d, v)) return replay_outcome(*slot, p, d, v, out);
          record_outcome(*slot, p, d, v);
        }
        detectors_->scan(v, *scratch_, spans_);
      }
      if (spans_.empty()) return Change::kUnchanged;
      if (spans_.size() == 1 && spans_[0].begin == 0 && spans_[0].end == v.size() &&
          !(decodable && has_percent_escape(v)) &&
          !(spans_[0].kind == Kind::kSecret && base64_text_candidate(p, d, v))) {
        kind = spans_[0].kind;
        act = &action_for(d, kind, spans_[0].custom);
      }
    } else {
      if (decodable && act->action != Action::kKeep && act->action != Action::kDrop &&
          has_percent_escape(v)) {
        // A value chosen by its place (a cookie, a rule, a key name): when its decoded bytes
        // are one detected value, that is what is transformed, by its detected kind where the
        // place names none.
        decoded_value_.clear();
        percent_decode(v, p.plus_is_space, decoded_value_);
        detectors_->scan(decoded_value_, *scratch_, spans_);
        if (spans_.size() == 1 && spans_[0].begin == 0 && spans_[0].end == decoded_value_.size()) {
          decoded_whole = true;
          if (kind == Kind::kNone || (kind == Kind::kBearer && p.default_kind == kind)) {
            kind = spans_[0].kind;
          }
        }
        spans_.clear();
      }
      if (!decoded_whole &&
          (kind == Kind::kNone || (kind == Kind::kBearer && p.default_kind == kind)) &&
          act->action == Action::kToken) {
        // A place rule or a credential header: let the token keep the format of what the value
        // is, when it is one thing (an e-mail stays an e-mail, a JWT keeps its header).
        memo_scan(v, spans_);
        if (spans_.size() == 1 && spans_[0].begin == 0 && spans_[0].end == v.size()) {
          kind = spans_[0].kind;
        }
        spans_.clear();
      }
    }

    out.clear();
    written_.clear();
    if (act) {
      if (act->action == Action::kKeep) return Change::kUnchanged;
      if (from_memory) ++counters_.memory_hits;
      // Values chosen by their place are remembered; what the detectors found by content they
      // will find again wherever it comes back.
      // A cookie or credential header's value is remembered only when it looks like a
      // credential (8 or more characters, letters and digits): "json" or "true" in a cookie
      // must not turn every later "json" into a token.
      bool by_default = d.rule < 0 && d.key_kind == Kind::kNone && p.default_kind != Kind::kNone;
      const bool to_remember = !from_memory && spans_.empty() &&
                               (!by_default || credential_like(v)) && rememberable(v, *act);
      // Both the memory's slot and the token cache's are cache misses more often than not:
      // asked for together, they overlap.
      if (to_remember) memory_h = prefetch_memory(v, memory_h);
      if (!decoded_whole && !p.number && act->action == Action::kToken &&
          v.size() <= kCachedLength) {
        prefetch_token(v, memory_h);
      }
      if (decoded_whole) {
        span_token_.clear();
        transform(p, decoded_value_, kind, *act, span_token_);
        percent_encode_like(span_token_, v, p.plus_is_space, out);
      } else {
        transform(p, v, kind, *act, out, memory_h);
      }
      count(p, kind);
      if (to_remember) remember(v, kind, act, memory_h);
      record_value(d, v, out, kind);
      if (act->action == Action::kDrop) {
        ++counters_.dropped;
        return Change::kDrop;
      }
      return same_bytes(out, v) ? Change::kUnchanged : Change::kChanged;
    }

    // Spans within the value: each replaced on its own, the text between kept.
    size_t at = 0;
    bool drop_whole = false;
    for (auto& s : spans_) {
      out.append(v.substr(at, s.begin - at));
      auto piece = v.substr(s.begin, s.end - s.begin);
      if (decodable && has_percent_escape(piece)) {
        const EncodedSpan r = scrub_encoded_span(p, d, piece, out);
        if (r.found) {
          if (r.one_whole) s.kind = r.kind;
          // One value, all of v, that is to be dropped: v goes, as it would decoded.
          drop_whole =
              r.one_whole && r.drop && spans_.size() == 1 && s.begin == 0 && s.end == v.size();
          at = s.end;
          continue;
        }
      }
      if (s.kind == Kind::kSecret && scrub_base64_text(p, d, piece, out)) {
        s.kind = Kind::kNone;  // (for the report: no secret was there)
        at = s.end;
        continue;
      }
      const auto& a = action_for(d, s.kind, s.custom);
      size_t from = out.size();
      if (a.action == Action::kKeep) {
        out.append(piece);
      } else {
        Place sp = p;
        sp.number = false;
        sp.binary = p.binary || p.number;  // inside a number, digits must stay digits
        transform(sp, piece, s.kind, a, out);
        count(p, s.kind);
        if (a.action == Action::kDrop) {
          ++counters_.dropped;
          // All of v (met here only when it is encoded): it goes, as it does when it is not.
          drop_whole = spans_.size() == 1 && s.begin == 0 && s.end == v.size();
        }
        written_.emplace_back(uint32_t(from), uint32_t(out.size()));
      }
      at = s.end;
    }
    out.append(v.substr(at));
    if (p.number && !is_json_number(out)) {
      out.assign("0");
      ++counters_.fallbacks;
    }
    record_value(d, v, out, spans_.size() == 1 ? spans_[0].kind : Kind::kNone);
    if (drop_whole) return Change::kDrop;
    if (same_bytes(out, v)) return Change::kUnchanged;
    check_residual(p, d, out);
    return Change::kChanged;
  }

  struct EncodedSpan {
    bool found = false;      // the decoded bytes hold something (and `out` got the span)
    bool one_whole = false;  // one value, all of the decoded bytes, of `kind`
    bool drop = false;       // a value found is dropped
    Kind kind = Kind::kNone;
  };

  // A span the detectors found in its percent-encoded spelling ("alice%40example.com" in a URL in
  // a header, a JSON string or a text body): read again decoded, each value found there is
  // transformed decoded and encoded again in the span's own style, appended to `out`; the bytes
  // around what the decoded scan finds keep their spelling. Nothing is appended when the decoded
  // bytes hold nothing (found false): the caller transforms the span as it was found, since a
  // policy regex may describe an encoded spelling.
  EncodedSpan scrub_encoded_span(const Place& p, const Decision& d, std::string_view piece,
                                 std::string& out) {
    EncodedSpan r;
    percent_decode_mapped(piece, p.plus_is_space, span_decoded_, span_offsets_);
    span_found_.clear();
    detectors_->scan(span_decoded_, *scratch_, span_found_);
    if (span_found_.empty()) return r;
    r.found = true;
    r.one_whole = span_found_.size() == 1 && span_found_[0].begin == 0 &&
                  span_found_[0].end == span_decoded_.size();
    r.kind = span_found_[0].kind;
    const std::string_view decoded = span_decoded_;
    size_t at = 0;
    for (const auto& s : span_found_) {
      const size_t begin = span_offsets_[s.begin];
      const size_t end = span_offsets_[s.end];
      out.append(piece.substr(at, begin - at));
      const std::string_view raw = piece.substr(begin, end - begin);
      const auto& a = action_for(d, s.kind, s.custom);
      if (a.action == Action::kKeep) {
        out.append(raw);
      } else {
        const size_t from = out.size();
        span_token_.clear();
        transform(p, decoded.substr(s.begin, s.end - s.begin), s.kind, a, span_token_);
        percent_encode_like(span_token_, raw, p.plus_is_space, out);
        count(p, s.kind);
        if (a.action == Action::kDrop) {
          ++counters_.dropped;
          r.drop = true;
        }
        written_.emplace_back(uint32_t(from), uint32_t(out.size()));
      }
      at = end;
    }
    out.append(piece.substr(at));
    return r;
  }

  // Text in base64 (base64_text.h): a pagination cursor, OAuth state, a session's payload.
  // Tokenized as the secret it looks like, a replayed cursor is one the candidate cannot
  // decode; read decoded instead, JSON by its keys and content and other text by content, and
  // encoded again in its own style, it stays what it was unless it holds personal data, and
  // then holds tokens where that was. Only where secrets are tokenized (the policy's action
  // for them), two levels deep at most, and plain text only of letters, digits and
  // punctuation between them, not a "user:password" pair ("arrayconnection:19",
  // "created_at:1700000000"); anything else stays a secret. Says whether `piece` was such text
  // (appended to `out` then, nothing appended otherwise).
  [[gnu::noinline]] bool base64_text_candidate(const Place& p, const Decision& d,
                                               std::string_view piece) {
    if (p.binary || p.number || nesting_ >= kMaxNesting ||
        action_for(d, Kind::kSecret, 0).action != Action::kToken) {
      return false;
    }
    if (!decode_base64_text(piece, base64_text_, base64_style_)) return false;
    size_t lead = 0;
    while (lead < base64_text_.size() && is_json_space(base64_text_[lead])) ++lead;
    base64_json_ =
        lead < base64_text_.size() && (base64_text_[lead] == '{' || base64_text_[lead] == '[');
    if (base64_json_) {
      JsonCheck check;
      return rewrite_json(base64_text_, check, json_check_).valid;
    }
    return plain_text_cursor(base64_text_);
  }
  static bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  // Printable ASCII whose runs of letters and digits are each letters only or digits only, not
  // a "name:word" pair (a credential, as in Basic), and without a "key=value" or "key:value"
  // pair whose key is a key name ("password=hunter", "email:…"): those stay secrets whole.
  bool plain_text_cursor(std::string_view t) const {
    if (!plain_text_shape(t)) return false;
    if (!detectors_ || !policy_.key_names) return true;
    size_t i = 0;
    while (i < t.size()) {
      size_t end = t.find_first_of("&;, ", i);
      if (end == std::string_view::npos) end = t.size();
      const std::string_view piece = t.substr(i, end - i);
      const size_t sep = piece.find_first_of("=:");
      if (sep != std::string_view::npos && sep > 0) {
        const std::string_view key = piece.substr(0, sep);
        if (detectors_->classify_key(key, "") != Kind::kNone || detectors_->person_key(key)) {
          return false;
        }
      }
      i = end + 1;
    }
    return true;
  }
  static bool plain_text_shape(std::string_view t) {
    bool letters = false, digits = false;
    for (char c : t) {
      if (c < 0x20 || c > 0x7e) return false;
      if (is_alnum(c)) {
        const bool digit = c >= '0' && c <= '9';
        letters |= !digit;
        digits |= digit;
        if (letters && digits) return false;
      } else {
        letters = digits = false;
      }
    }
    const size_t colon = t.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return true;
    const std::string_view after = t.substr(colon + 1);
    return after.empty() || !std::all_of(after.begin(), after.end(), [](char c) {
             return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
           });
  }
  static bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  struct JsonCheck final : JsonVisitor {
    bool visit(JsonToken, std::string_view, std::string_view, std::string_view,
               std::string&) override {
      return false;
    }
    bool wants_key(std::string_view, bool) override { return false; }
  };
  [[gnu::noinline]] bool scrub_base64_text(const Place& p, const Decision& d,
                                           std::string_view piece, std::string& out) {
    if (!base64_text_candidate(p, d, piece)) return false;
    const std::string text = std::move(base64_text_);
    const Base64Style style = base64_style_;
    std::string scrubbed;
    bool dropped = false;
    const bool changed = scrub_nested(p, text, base64_json_, scrubbed, dropped);
    if (dropped) return false;
    ++counters_.base64_texts;
    // The run is the engine's either way: what it holds was read, and the residual re-scan
    // would find it a secret again.
    const size_t from = out.size();
    if (changed) {
      encode_base64(scrubbed, style, out);
    } else {
      out.append(piece);
    }
    written_.emplace_back(uint32_t(from), uint32_t(out.size()));
    return true;
  }

  // Runs `scrub` on text met inside the value being scrubbed (decoded from it, or all of it)
  // as values of its own: the value's spans, written regions and outcome slot, and the
  // buffers of the engine's places (a path segment's decoded bytes and its replacement, a
  // query's written regions) are set aside meanwhile, so that `scrub` may go through any
  // place's code; the value's outcome is not replayed. `scrub` must not read the value's own
  // bytes (copy them first: they may be in one of those buffers).
  static constexpr int kMaxNesting = 2;
  template <class F>
  auto nested(F&& scrub) {
    std::vector<Span> spans;
    spans.swap(spans_);
    std::vector<std::pair<uint32_t, uint32_t>> written;
    written.swap(written_);
    std::string tmp, decoded;
    tmp.swap(tmp_);
    decoded.swap(decoded_);
    std::vector<std::pair<size_t, size_t>> query_written;
    query_written.swap(query_written_);
    OutcomeSlot* const recording = recording_;
    recording_ = nullptr;
    const uint64_t outcome_hash = outcome_hash_;
    const auto outcome_counters = outcome_counters_;
    ++nesting_;
    const auto result = scrub();
    --nesting_;
    spans_.swap(spans);
    written_.swap(written);
    tmp_.swap(tmp);
    decoded_.swap(decoded);
    query_written_.swap(query_written);
    recording_ = recording;
    if (recording_) recording_->ok = false;
    outcome_hash_ = outcome_hash;
    outcome_counters_ = outcome_counters;
    return result;
  }

  // `text` (its own bytes, not the value's) scrubbed into `scrubbed` as a JSON document (`json`:
  // valid JSON, checked before) with its paths under p's, or by content (`dropped`: content the
  // policy drops). Returns whether it changed.
  bool scrub_nested(const Place& p, const std::string& text, bool json, std::string& scrubbed,
                    bool& dropped) {
    dropped = false;
    scrubbed.clear();
    return nested([&] {
      if (json) {
        JsonScrub v(*this, p.side, p.name);
        return rewrite_json(text, v, scrubbed).replaced > 0 && scrubbed != text;
      }
      Place tp = p;
      tp.content_only = true;
      tp.plus_is_space = false;
      const Change c = scrub_value(tp, text, scrubbed);
      dropped = c == Change::kDrop;
      return c == Change::kChanged;
    });
  }

  // A JSON document held in a string (stringified JSON in a JSON member, a query or form
  // value, a header): {"payload": "{\"first_name\": …}"}, ?filter={"email": …}. Read by content
  // alone, its names, addresses and dates of birth — known by their keys only — stayed, and
  // a value remembered elsewhere turned the whole document, keys too, into one token. It is
  // scrubbed as the JSON it is, its paths under the value's ("payload.first_name"), when no
  // rule or key name claims the value as a whole (a credential stays one token). Says whether
  // `v` was one (`out` and the change then set).
  [[gnu::noinline]] bool embedded_json(const Place& p, std::string_view v, std::string& out,
                                       Change& change) {
    if (p.binary || p.number || p.content_only || nesting_ >= kMaxNesting || v.size() < 2) {
      return false;
    }
    size_t b = 0, e = v.size();
    while (b < e && is_json_space(v[b])) ++b;
    while (e > b && is_json_space(v[e - 1])) --e;
    if (e - b < 2 || !((v[b] == '{' && v[e - 1] == '}') || (v[b] == '[' && v[e - 1] == ']'))) {
      return false;
    }
    JsonCheck check;
    if (!rewrite_json(v, check, json_check_).valid) return false;
    bool dropped;
    std::string scrubbed;
    const bool changed = scrub_nested(p, std::string(v), true, scrubbed, dropped);
    ++counters_.embedded_json;
    if (changed) out.swap(scrubbed);
    change = changed ? Change::kChanged : Change::kUnchanged;
    return true;
  }

  // A URL with a query, or a query string, held in a value: a JSON member's redirect or next
  // link ("https://shop.example/welcome?first_name=Ana&dob=…"), an OAuth redirect_uri in a
  // query, a form body kept in a string ("first_name=Ana&city=Lisboa"). Read by content alone,
  // its parameters' names said nothing, so a first name or a date of birth in one stayed where
  // the same URL in a Location header was scrubbed. It is scrubbed as a request target is
  // (scrub_target: host by content, path segments, query parameters by name and content,
  // fragment), so its tokens are the ones the requests that follow the link get. One token of
  // printable ASCII, no spaces: a URL in a sentence is read by content as before.
  [[gnu::noinline]] bool embedded_url(const Place& p, std::string_view v, std::string& out,
                                      Change& change) {
    if (p.binary || p.number || p.content_only || p.location == Location::kPath ||
        nesting_ >= kMaxNesting || v.size() < 4 || v.size() > 16384) {
      return false;
    }
    const size_t q = v.find('?');
    const bool url = v[0] == '/' || v.starts_with("https://") || v.starts_with("http://");
    if (url ? q == std::string_view::npos || v.find('=', q) == std::string_view::npos
            : !bare_query(v)) {
      return false;
    }
    for (char c : v) {
      if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
        return false;
      }
    }
    std::string target(v);
    const bool changed = nested([&] {
      return url ? scrub_target(target, p.side) : scrub_query(target, p.side, Location::kQuery);
    });
    ++counters_.embedded_urls;
    if (changed) out.swap(target);
    change = changed ? Change::kChanged : Change::kUnchanged;
    return true;
  }
  // "name=value&name=value…": two pairs at least, names of letters, digits, '_', '-', '.',
  // '[' and ']' ("items[0].qty").
  static bool bare_query(std::string_view v) {
    size_t pairs = 0;
    size_t i = 0;
    while (i <= v.size()) {
      size_t amp = v.find('&', i);
      if (amp == std::string_view::npos) amp = v.size();
      const std::string_view pair = v.substr(i, amp - i);
      const size_t eq = pair.find('=');
      if (eq == 0 || eq == std::string_view::npos) return false;
      for (char c : pair.substr(0, eq)) {
        if (!is_alnum(c) && c != '_' && c != '-' && c != '.' && c != '[' && c != ']') return false;
      }
      ++pairs;
      i = amp + 1;
    }
    return pairs >= 2;
  }

  // Scrubs `value` in place; returns false when it is to be dropped.
  bool apply_in_place(const Place& p, std::string& value) {
    switch (scrub_value(p, value, tmp_)) {
      case Change::kUnchanged:
        return true;
      case Change::kChanged:
        value.swap(tmp_);
        return true;
      case Change::kDrop:
        value.clear();
        return false;
    }
    return true;
  }

  // ---- addresses ----

  void scrub_addresses(Exchange& ex) {
    scrub_endpoint(ex.client, "client", policy_.client_address);
    scrub_endpoint(ex.server, "server", policy_.server_address);
  }

  void scrub_endpoint(traffic::Endpoint& e, std::string_view which, const ActionParams& dflt) {
    if (!e.known()) return;
    Place p{Side::kRequest, Location::kAddress, which};
    const Decision& d = decide(p);
    const ActionParams& a = d.rule >= 0 ? policy_.rules[size_t(d.rule)].action : dflt;
    if (a.action == Action::kKeep || (d.rule < 0 && d.allow)) return;
    Kind kind = e.family == 6 ? Kind::kIpv6 : Kind::kIpv4;
    // A capture has few distinct addresses and every exchange carries two: remember the last
    // results (exact: the whole address and the action are compared, and a hit counts the
    // fallbacks the transform counted; an action that reads the exchange's entity is not kept).
    auto& slot = endpoint_cache_[(XXH3_64bits(e.address.data(), e.address.size()) ^ uintptr_t(&a)) &
                                 (endpoint_cache_.size() - 1)];
    if (slot.action != &a || slot.in_family != e.family || slot.in != e.address ||
        !a.entity.empty()) {
      slot.action = &a;
      slot.in_family = e.family;
      slot.in = e.address;
      char text[64];
      inet_ntop(e.family == 6 ? AF_INET6 : AF_INET, e.address.data(), text, sizeof text);
      slot.text_in = text;
      slot.text_out.clear();
      const uint64_t fallbacks = counters_.fallbacks;
      transform(p, slot.text_in, kind, a, slot.text_out);
      slot.fallbacks = counters_.fallbacks - fallbacks;
      unsigned char buf[16] = {};
      slot.ok = inet_pton(e.family == 6 ? AF_INET6 : AF_INET, slot.text_out.c_str(), buf) == 1;
      std::memcpy(slot.out.data(), buf, 16);
    } else {
      counters_.fallbacks += slot.fallbacks;
    }
    count(p, kind);
    report_record(d, slot.text_in, slot.text_out, kind);
    if (slot.ok) {
      e.address = slot.out;
    } else {
      // redact, mask, drop or anything that is no longer an address: the address is gone.
      e = traffic::Endpoint{};
      if (a.action != Action::kDrop) ++counters_.fallbacks;
    }
  }

  // ---- URLs ----

  // Scrubs a URL in place: the path segment by segment, the query pair by pair, and what comes
  // before the path (userinfo, host) and the fragment (OAuth puts tokens there) by content.
  // Returns whether it changed.
  bool scrub_target(std::string& target, Side side) {
    if (target.empty() || target == "*") return false;
    size_t path_start = 0;
    if (target[0] != '/') {
      auto scheme = target.find("://");
      if (scheme != std::string::npos) {
        path_start = target.find_first_of("/?#", scheme + 3);
        if (path_start == std::string::npos) path_start = target.size();
      } else {
        // A relative reference ("login?x=1") or an authority (CONNECT): path from the start.
        path_start = 0;
      }
    }
    size_t end = target.find_first_of("?#", path_start);
    std::string prefix = target.substr(0, path_start);
    std::string path =
        target.substr(path_start, (end == std::string::npos ? target.size() : end) - path_start);
    std::string query, fragment;
    bool has_query = end != std::string::npos && target[end] == '?';
    if (has_query) {
      size_t hash = target.find('#', end);
      query = target.substr(end + 1, (hash == std::string::npos ? target.size() : hash) - end - 1);
      if (hash != std::string::npos) fragment = target.substr(hash);
    } else if (end != std::string::npos) {
      fragment = target.substr(end);
    }
    bool changed = false;
    if (!prefix.empty()) changed = scrub_text(prefix, side, false, Location::kQuery);
    changed = scrub_path(path, side) || changed;
    if (!query.empty()) changed = scrub_query(query, side, Location::kQuery) || changed;
    if (fragment.size() > 1) {
      std::string frag = fragment.substr(1);
      bool f = frag.find('=') != std::string::npos
                   ? scrub_query(frag, side, Location::kQuery)
                   : scrub_text(frag, side, false, Location::kQuery);
      if (f) {
        fragment = "#" + frag;
        changed = true;
      }
    }
    if (!changed) return false;
    std::string rebuilt = prefix + path;
    if (has_query) rebuilt += "?" + query;
    rebuilt += fragment;
    target.swap(rebuilt);
    return true;
  }

  // A Link header (RFC 8288, pagination: `<https://api.example/users?page=3&email=…>;
  // rel="next"`): each URL between '<' and '>' as a request target (query parameters by name,
  // so a link's tokens are the ones the request that follows it gets), the parameters between
  // by content. Returns whether it changed.
  bool scrub_link(std::string& value, Side side) {
    std::string out, piece;
    bool changed = false;
    size_t at = 0;
    while (at < value.size()) {
      const size_t open = value.find('<', at);
      const size_t close = open == std::string::npos ? open : value.find('>', open + 1);
      const size_t gap_end = close == std::string::npos ? value.size() : open + 1;
      piece.assign(value, at, gap_end - at);
      changed = scrub_text(piece, side, false, Location::kHeader) || changed;
      out += piece;
      if (close == std::string::npos) break;
      piece.assign(value, open + 1, close - open - 1);
      changed = scrub_target(piece, side) || changed;
      out += piece;
      out += '>';
      at = close + 1;
    }
    if (changed) value.swap(out);
    return changed;
  }

  bool scrub_path(std::string& path, Side side) {
    bool changed = false;
    std::string out;
    size_t index = 0;
    size_t i = 0;
    char index_text[16];
    while (i < path.size()) {
      size_t slash = path.find('/', i);
      size_t seg_end = slash == std::string::npos ? path.size() : slash;
      std::string_view seg(path.data() + i, seg_end - i);
      bool replaced = false;
      if (!seg.empty()) {
        decoded_.clear();
        percent_decode(seg, false, decoded_);
        const auto text_end = std::to_chars(index_text, index_text + sizeof index_text, index).ptr;
        Place p{side, Location::kPath, std::string_view(index_text, size_t(text_end - index_text))};
        auto c = scrub_value(p, decoded_, tmp_);
        if (c != Change::kUnchanged) {
          replaced = true;
          changed = true;
          if (c == Change::kChanged) {
            bool raw_ok = seg.find('%') == std::string_view::npos &&
                          std::all_of(tmp_.begin(), tmp_.end(), [](char ch) {
                            return is_pchar(static_cast<unsigned char>(ch));
                          });
            if (raw_ok) {
              out += tmp_;
            } else {
              percent_encode(tmp_, false, out);
            }
          }
        }
        ++index;
      }
      if (!replaced) out.append(seg);
      if (slash != std::string::npos) out += '/';
      i = seg_end + 1;
    }
    if (changed) path.swap(out);
    return changed;
  }

  class FormScrub final : public FormVisitor {
   public:
    FormScrub(Engine& e, Side side, Location loc) : e_(e), side_(side), loc_(loc) {}
    bool odd = false;  // a bare pair, or a name that may hold a value
    bool visit(std::string_view name, std::string_view value, bool has_value,
               std::string& replacement, bool& drop) override {
      if (!has_value || !identifier_like(name)) odd = true;
      if (!has_value) return false;
      if (name == "query" && looks_like_graphql(value)) {  // GET /graphql?query={…}
        const Change g = e_.scrub_graphql(side_, "query", value, replacement);
        if (g != Change::kDrop) return g == Change::kChanged;
      }
      Place p{side_, loc_, name};
      auto c = e_.scrub_value(p, value, replacement);
      if (c == Change::kDrop) drop = true;
      return c != Change::kUnchanged;
    }

   private:
    Engine& e_;
    Side side_;
    Location loc_;
  };

  bool scrub_query(std::string& query, Side side, Location loc) {
    FormScrub v(*this, side, loc);
    std::string out;
    query_written_.clear();
    auto r = rewrite_urlencoded(query, v, out, &query_written_);
    bool changed = r.replaced > 0 || r.dropped > 0;
    if (v.odd) {
      // Bare pairs ("?alice@example.com") and names that are values ("optout[a@b.c]=1", a JSON
      // text posted as a form) are not seen as values: the detectors read the raw text (its
      // escapes read through, '+' as a space), all of it but the values just replaced, which
      // hold tokens that must not be tokenized again.
      if (!changed) out = query;
      if (scrub_text_around(out, query_written_, side, loc)) changed = true;
    }
    if (!changed) return false;
    query.swap(out);
    return true;
  }

  // scrub_text of raw urlencoded `text` between the [begin, end) ranges of `skip` (in order).
  bool scrub_text_around(std::string& text, const std::vector<std::pair<size_t, size_t>>& skip,
                         Side side, Location loc) {
    if (skip.empty()) return scrub_text(text, side, false, loc, true);
    std::string out, gap;
    bool changed = false;
    size_t at = 0;
    for (size_t i = 0; i <= skip.size(); ++i) {
      const size_t begin = i < skip.size() ? skip[i].first : text.size();
      gap.assign(text, at, begin - at);
      if (!gap.empty() && scrub_text(gap, side, false, loc, true)) changed = true;
      out += gap;
      if (i == skip.size()) break;
      out.append(text, begin, skip[i].second - begin);
      at = skip[i].second;
    }
    if (changed) text.swap(out);
    return changed;
  }

  // ---- headers ----

  void scrub_headers(Headers& headers, Side side, const std::string* target) {
    for (size_t i = 0; i < headers.size();) {
      auto& h = headers[i];
      lower_into(h.name, lname_);
      Place p{side, Location::kHeader, lname_};
      const Decision& d = decide(p);
      bool keep = true;
      switch (d.header) {
        case HeaderClass::kPath:
          if (target) h.value = *target;
          break;
        case HeaderClass::kAuthority:
          break;  // done with the request's authority
        case HeaderClass::kAuthorization:
          keep = scrub_authorization(h.value, side);
          break;
        case HeaderClass::kCookie:
          scrub_cookies(h.value, side, false);
          break;
        case HeaderClass::kSetCookie:
          scrub_cookies(h.value, side, true);
          break;
        case HeaderClass::kUrl:
        case HeaderClass::kLink:
          if (d.rule >= 0 || d.allow) {
            keep = apply_in_place(p, h.value);
          } else if (d.header == HeaderClass::kUrl) {
            scrub_target(h.value, side);
          } else {
            scrub_link(h.value, side);
          }
          break;
        case HeaderClass::kCredential:
          p.default_kind = Kind::kBearer;
          keep = apply_in_place(p, h.value);
          break;
        case HeaderClass::kBinary:
          if (d.rule >= 0 || d.allow || !scrub_binary_header(h.value, side)) {
            keep = apply_in_place(p, h.value);
          }
          break;
        case HeaderClass::kPlain:
          keep = apply_in_place(p, h.value);
          break;
      }
      if (keep) {
        ++i;
      } else {
        headers.erase(headers.begin() + long(i));
      }
    }
  }

  // gRPC binary metadata (grpc-status-details-bin: a google.rpc.Status whose details say which
  // field of the request was wrong, and how): decoded, read as a protobuf message under the
  // header's name (protobuf:grpc-status-details-bin.2), or as bytes, and encoded again with
  // its padding or without. False when the value is not base64: it is read as any value is.
  bool scrub_binary_header(std::string& value, Side side) {
    if (value.empty()) return true;
    std::string bytes;
    bool padded = false;
    if (!decode_binary_header(value, bytes, padded)) return false;
    const std::string name = lname_;  // (lname_ is the header loop's)
    ProtobufScrub v(*this, side, name);
    std::string out;
    const ProtobufRewriteResult r = rewrite_protobuf(bytes, v, out);
    if (r.valid) {
      ++counters_.protobuf_messages;
      if (r.replaced == 0 || out == bytes) return true;
    } else {
      ++counters_.protobuf_malformed;
      out = bytes;
      if (!scrub_text(out, side, true)) return true;
    }
    value.clear();
    encode_base64(out, Base64Style{false, padded}, value);
    return true;
  }

  bool scrub_authorization(std::string& value, Side side) {
    Place p{side, Location::kHeader, lname_};
    p.default_kind = Kind::kBearer;
    std::string_view v = value;
    auto sp = v.find(' ');
    if (sp == std::string_view::npos) return apply_in_place(p, value);
    // "Scheme credentials": the scheme stays, the credentials are a token.
    std::string scheme(v.substr(0, sp + 1));
    std::string cred(v.substr(sp + 1));
    bool keep = apply_in_place(p, cred);
    if (!keep) return false;
    value = scheme + cred;
    return true;
  }

  void scrub_cookies(std::string& value, Side side, bool set_cookie) {
    // Cookie: "a=1; b=2". Set-Cookie: "a=1; Path=/; HttpOnly" (only the first pair is a cookie).
    std::string out;
    std::string_view v = value;
    bool changed = false;
    size_t i = 0;
    bool first = true;
    while (i <= v.size()) {
      size_t semi = v.find(';', i);
      size_t end = semi == std::string_view::npos ? v.size() : semi;
      std::string_view pair = v.substr(i, end - i);
      bool handled = false;
      if (first || !set_cookie) {
        auto eq = pair.find('=');
        if (eq != std::string_view::npos) {
          std::string_view name = trim(pair.substr(0, eq));
          std::string_view val = pair.substr(eq + 1);
          bool quoted = val.size() >= 2 && val.front() == '"' && val.back() == '"';
          if (quoted) val = val.substr(1, val.size() - 2);
          Place p{side, Location::kCookie, name};
          p.default_kind = Kind::kBearer;
          auto c = scrub_value(p, val, tmp_);
          if (c != Change::kUnchanged) {
            changed = true;
            handled = true;
            if (c == Change::kChanged) {
              out.append(pair.substr(0, eq + 1));
              if (quoted) out += '"';
              out += tmp_;
              if (quoted) out += '"';
            } else if (!out.empty() && semi != std::string_view::npos) {
              // dropped: skip it and its separator
              i = end + 1;
              while (i < v.size() && v[i] == ' ') ++i;
              first = false;
              continue;
            }
          }
        }
      }
      if (!handled) {
        // A pair without '=' and every Set-Cookie attribute (Path=/u/alice@…) are read by the
        // detectors; Expires, Max-Age and the flags hold nothing personal and are kept.
        std::string piece(pair);
        std::string_view attr = trim(pair);
        bool known = attr.empty() || icontains(attr.substr(0, 8), "expires") ||
                     icontains(attr.substr(0, 8), "max-age") ||
                     icontains(attr.substr(0, 9), "samesite") || iequals(attr, "secure") ||
                     iequals(attr, "httponly") || iequals(attr, "partitioned");
        if (!known && scrub_text(piece, side, false, Location::kCookie)) changed = true;
        out += piece;
      }
      if (semi == std::string_view::npos) break;
      out += ';';
      i = end + 1;
      first = false;
    }
    if (changed) value.swap(out);
  }

  // ---- bodies ----

  enum class BodyType : uint8_t {
    kJson,
    kForm,
    kMultipart,
    kXml,
    kCsv,
    kTsv,
    kYaml,
    kGraphql,
    kGrpc,      // gRPC, gRPC-Web, Connect streams: length-prefixed messages
    kProtobuf,  // one Protocol Buffers message
    kMsgpack,   // MessagePack
    kCbor,      // CBOR (and CBOR sequences)
    kThrift,    // Apache Thrift, binary or compact protocol
    kText,
    kBinary
  };

  // "grpc+proto" of "application/grpc+proto; charset=…": the subtype of an application/ type
  // (without its parameters and white space), or "".
  static std::string_view application_subtype(std::string_view ct) {
    const std::string_view type = trim(ct.substr(0, ct.find(';')));
    if (type.size() <= 12 || !istarts_with(type, "application/")) return {};
    return type.substr(12);
  }

  // One Protocol Buffers message in binary (application/protobuf, RFC 9996's, and the names
  // in use before it; Spring's application/*+x-protobuf), not its JSON form (…+json).
  static bool protobuf_subtype(std::string_view sub) {
    if (sub.empty()) return false;
    const char c = lower(sub[0]);
    if (c == 'x' || c == 'p' || c == 'v') {
      for (std::string_view proto : {"x-protobuf", "protobuf", "vnd.google.protobuf",
                                     "x-google-protobuf", "x-protobuffer", "proto"}) {
        if (iequals(sub, proto)) return true;
      }
    }
    return (sub.size() > 9 && iequals(sub.substr(sub.size() - 9), "+protobuf")) ||
           (sub.size() > 11 && iequals(sub.substr(sub.size() - 11), "+x-protobuf"));
  }

  static BodyType body_type(std::string_view ct, std::string_view body) {
    if (ct.empty()) {
      size_t i = 0;
      while (i < body.size() &&
             (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t')) {
        ++i;
      }
      if (i < body.size() && (body[i] == '{' || body[i] == '[')) return BodyType::kJson;
      if (body.substr(i, 5) == "<?xml") return BodyType::kXml;
      bool printable = std::all_of(
          body.begin(), body.begin() + long(std::min<size_t>(body.size(), 512)), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return u >= 0x20 || u == '\n' || u == '\r' || u == '\t';
          });
      return printable ? BodyType::kText : BodyType::kBinary;
    }
    if (const std::string_view sub = application_subtype(ct); !sub.empty()) {
      // (before JSON: application/grpc+json and application/connect+json are framed; the
      // first letter tells most types apart at once)
      const char c = lower(sub[0]);
      if ((c == 'g' && istarts_with(sub, "grpc")) || (c == 'c' && istarts_with(sub, "connect+"))) {
        return BodyType::kGrpc;
      }
      if (protobuf_subtype(sub)) return BodyType::kProtobuf;
      // application/msgpack (x-msgpack, vnd.msgpack, …+msgpack), application/cbor (cbor-seq,
      // …+cbor: SenML, COSE)
      if (iequals(sub, "msgpack") || iequals(sub, "x-msgpack") || iequals(sub, "vnd.msgpack") ||
          (sub.size() > 8 && iequals(sub.substr(sub.size() - 8), "+msgpack"))) {
        return BodyType::kMsgpack;
      }
      // application/x-thrift (Jaeger, Zipkin v1: the binary protocol), and the protocol named:
      // vnd.apache.thrift.binary, vnd.apache.thrift.compact (.json is JSON)
      if (iequals(sub, "x-thrift") || iequals(sub, "vnd.apache.thrift.binary") ||
          iequals(sub, "vnd.apache.thrift.compact")) {
        return BodyType::kThrift;
      }
      if (iequals(sub, "cbor") || iequals(sub, "cbor-seq") ||
          (sub.size() > 5 && iequals(sub.substr(sub.size() - 5), "+cbor"))) {
        return BodyType::kCbor;
      }
    }
    if (icontains(ct, "json")) return BodyType::kJson;
    if (icontains(ct, "x-www-form-urlencoded")) return BodyType::kForm;
    if (icontains(ct, "multipart/")) return BodyType::kMultipart;
    // application/xml, text/xml, application/soap+xml, application/atom+xml, …; not XHTML
    // (markup, not data) nor a media type that only mentions xml in a parameter.
    {
      std::string_view type = ct;
      type = type.substr(0, type.find(';'));
      // Office documents (…openxmlformats…) are zip archives: bytes, whose length must stay.
      if (icontains(type, "openxmlformats") || icontains(type, "zip")) return BodyType::kBinary;
      while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
      const bool xml_type = type.size() >= 4 && (icontains(type.substr(type.size() - 4), "/xml") ||
                                                 icontains(type.substr(type.size() - 4), "+xml"));
      if (xml_type && !icontains(type, "xhtml")) return BodyType::kXml;
      if (icontains(type, "/csv")) return BodyType::kCsv;
      if (icontains(type, "tab-separated-values")) return BodyType::kTsv;
      if (icontains(type, "/graphql")) return BodyType::kGraphql;  // (…+json is JSON, above)
      // application/yaml (RFC 9512), the older x-yaml and text/yaml, and …+yaml types
      // (OpenAPI documents).
      if (type.size() >= 5 &&
          (icontains(type.substr(type.size() - 5), "/yaml") ||
           icontains(type.substr(type.size() - 5), "+yaml") || icontains(type, "/x-yaml"))) {
        return BodyType::kYaml;
      }
    }
    if (icontains(ct, "text/") || icontains(ct, "xml") || icontains(ct, "javascript") ||
        icontains(ct, "csv") || icontains(ct, "yaml") || icontains(ct, "html") ||
        icontains(ct, "graphql")) {
      return BodyType::kText;
    }
    return BodyType::kBinary;
  }

  // The headers that say how to read a body, as they came (BodyHeaders::take before the
  // headers are scrubbed).
  struct BodyHeaders {
    std::string ce, ct, te;  // Content-Encoding, Content-Type, Transfer-Encoding
    // the coding of compressed gRPC messages (grpc-encoding) or Connect stream messages
    // (connect-content-encoding)
    std::string message_coding;
    // the type of a Protocol Buffers body as Spring names it (X-Protobuf-Message: shop.v1.User)
    std::string protobuf_message;
    bool has_ce = false, has_te = false;
    void take(const Headers& headers) {
      auto value = [&](std::string_view name, std::string& out) {
        const Header* h = traffic::find_header(headers, name);
        out.assign(h ? std::string_view(h->value) : std::string_view());
        return h != nullptr;
      };
      has_ce = value("content-encoding", ce);
      value("content-type", ct);
      has_te = value("transfer-encoding", te);
      message_coding.clear();
      protobuf_message.clear();
      if (const std::string_view sub = application_subtype(ct);
          !sub.empty() && (lower(sub[0]) == 'g' || lower(sub[0]) == 'c')) {
        if (!value("grpc-encoding", message_coding)) {
          value("connect-content-encoding", message_coding);
        }
      } else if (protobuf_subtype(sub)) {
        value("x-protobuf-message", protobuf_message);
      }
    }
  };
  std::array<BodyHeaders, 2> body_headers_;  // the request's, the response's

  void scrub_body(Headers& headers, const BodyHeaders& how, std::string& body, uint64_t& body_size,
                  bool truncated, Side side) {
    if (body.empty()) return;
    const std::string& ct = how.ct;
    size_t before = body.size();
    bool changed = false;
    message_coding_ = how.message_coding;
    protobuf_message_ = how.protobuf_message;

    std::vector<Coding> codings;
    if (how.has_ce) {
      auto parsed = traffic::parse_content_encoding(how.ce);
      if (!parsed) {
        drop_body(headers, body, body_size);
        return;
      }
      for (auto c : *parsed) {
        if (c != Coding::kIdentity) codings.push_back(c);
      }
    }
    // Transfer codings other than chunked ("gzip, chunked"): the capture removed the chunking
    // only, so they wrap the content codings and are undone the same way.
    if (how.has_te) {
      std::string rest;
      std::string_view v = how.te;
      size_t i = 0;
      while (i <= v.size()) {
        size_t comma = v.find(',', i);
        auto item = trim(v.substr(i, (comma == std::string_view::npos ? v.size() : comma) - i));
        if (!item.empty() && !iequals(item, "chunked")) {
          if (!rest.empty()) rest += ',';
          rest += item;
        }
        if (comma == std::string_view::npos) break;
        i = comma + 1;
      }
      if (!rest.empty()) {
        auto parsed = traffic::parse_content_encoding(rest);
        if (!parsed) {
          drop_body(headers, body, body_size);
          return;
        }
        for (auto c : *parsed) {
          if (c != Coding::kIdentity) codings.push_back(c);
        }
      }
    }
    if (!codings.empty()) {
      std::string plain;
      if (!traffic::decode_all(codings, body, policy_.max_decoded_body, plain)) {
        drop_body(headers, body, body_size);
        return;
      }
      ++counters_.decoded_bodies;
      if (!scrub_plain(ct, plain, side, false)) return;  // nothing changed: keep the bytes
      std::string encoded;
      for (auto c : codings) {
        encoded.clear();
        if (!traffic::encode(c, plain, encoded)) {
          drop_body(headers, body, body_size);
          return;
        }
        plain.swap(encoded);
      }
      body.swap(plain);
      changed = true;
    } else {
      changed = scrub_plain(ct, body, side, truncated);
    }
    if (!changed) return;
    if (!truncated) {
      body_size = body.size();
      if (body.size() != before) set_content_length(headers, body.size());
    } else {
      body_size = std::max<uint64_t>(body_size, body.size());
    }
  }

  void drop_body(Headers& headers, std::string& body, uint64_t& body_size) {
    // A body twin cannot read cannot be scrubbed: it goes, and the message stays consistent.
    body.clear();
    body_size = 0;
    ++counters_.bodies_dropped;
    changed_ = true;
    std::erase_if(headers, [](const Header& h) { return iequals(h.name, "content-encoding"); });
    set_content_length(headers, 0);
  }

  static void set_content_length(Headers& headers, size_t n) {
    for (auto& h : headers) {
      if (iequals(h.name, "content-length")) h.value = std::to_string(n);
    }
  }

  class JsonScrub final : public JsonVisitor {
   public:
    JsonScrub(Engine& e, Side side, std::string_view prefix)
        : e_(e), side_(side), prefix_(prefix) {}
    bool visit(JsonToken token, std::string_view path, std::string_view /*parent*/,
               std::string_view value, std::string& replacement) override {
      std::string_view full = path;
      if (!prefix_.empty()) {
        buf_.assign(prefix_);
        if (!path.empty() && path[0] != '[') buf_ += '.';
        buf_ += path;
        full = buf_;
      }
      if (!label.empty() && token != JsonToken::kKey) full = e_.relabel(full, label, relabelled_);
      if (token == JsonToken::kString && last_key_is_query(full) && looks_like_graphql(value)) {
        const Change g = e_.scrub_graphql(side_, full, value, replacement);
        if (g != Change::kDrop) return g == Change::kChanged;  // else not GraphQL after all
      }
      Place p{side_, Location::kJson, full};
      p.number = token == JsonToken::kNumber;
      p.content_only = token == JsonToken::kKey;
      p.binary = bytes;  // a MessagePack or CBOR binary string
      auto c = e_.scrub_value(p, value, replacement);
      if (c == Change::kDrop) {
        // Dropping a JSON value would change the structure: it becomes empty (or 0).
        replacement = p.number ? "0" : "";
        return true;
      }
      return c == Change::kChanged;
    }

    // "query", or "….query" (a batch of GraphQL requests: "[].query")
    static bool last_key_is_query(std::string_view path) {
      if (path.size() < 5 || path.back() != 'y') return false;  // (most paths: one byte tells)
      return path == "query" || (path.size() > 6 && path.ends_with(".query"));
    }

    // scrub_value() keeps a key at once unless it may hold personal data (a key is content
    // only): such keys need not be visited.
    // may_hold_pii(key), with the parser's word on the hint bytes.
    bool wants_key(std::string_view key, bool may_hint) override {
      if (key.empty()) return false;
      if (!may_hint) return e_.scan_everything_ || key.size() >= e_.min_scan_length_;
      return e_.may_hold_pii(key, false);
    }

   private:
    Engine& e_;
    Side side_;
    std::string_view prefix_;
    std::string buf_;
    std::string relabelled_;  // relabel()'s path
  };

  // A name/value record's value ({"name": "ssn", "value": "078051120"} in JSON, "- name:
  // DB_PASSWORD / value: …" in YAML) is read as if the record's name were its key:
  // "fields[].value" becomes "fields[].ssn" for rules, key names and the report, when the name
  // is one the key-name detectors know (so never a value: {"name": "Maria Okafor", "value": 3}
  // stays "….value"). Other characters than letters, digits, '_' and '-' become '_' ("Last
  // Name" → "Last_Name"). `path` ends with the value's key; the new path goes to `buf`.
  std::string_view relabel(std::string_view path, std::string_view label, std::string& buf) {
    if (label.size() > 64 || !detectors_ || !policy_.key_names) return path;
    label_.clear();
    for (char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
      label_ += ok ? c : '_';
    }
    if (!identifier_like(label_) ||
        (detectors_->classify_key(label_, "") == Kind::kNone && !detectors_->person_key(label_))) {
      return path;
    }
    const size_t dot = path.rfind('.');
    buf.assign(path.substr(0, dot == std::string_view::npos ? 0 : dot + 1));
    buf += label_;
    return buf;
  }
  std::string label_;  // relabel(): the label as a key

  // Scrubs a decoded body in place; returns whether it changed.
  bool scrub_plain(std::string_view ct, std::string& body, Side side, bool truncated,
                   std::string_view json_prefix = {}) {
    // (by the media type, not a parameter: "…+json; profile=html" is JSON)
    const std::string_view media = ct.substr(0, ct.find(';'));
    if (icontains(media, "event-stream")) return scrub_event_stream(body, side, truncated);
    if (icontains(media, "html")) return scrub_html(body, side);
    if (icontains(ct, "ndjson") || icontains(ct, "jsonl") ||  // (and "jsonlines")
        icontains(ct, "json-seq")) {
      // One JSON text a line (NDJSON, JSON Lines, JSON text sequences): each line on its own,
      // so that rules and key names reach every record, not just the first. A JSON text
      // sequence's record separators (RS, RFC 7464) before a record are kept as they are.
      ++counters_.json_line_bodies;
      std::string out, line;
      bool changed = false;
      size_t i = 0;
      while (i < body.size()) {
        size_t nl = body.find('\n', i);
        size_t end = nl == std::string::npos ? body.size() : nl + 1;
        line.assign(body, i, end - i);
        size_t content = line.size();
        while (content > 0 && (line[content - 1] == '\n' || line[content - 1] == '\r')) {
          --content;
        }
        const size_t rs = std::min(line.find_first_not_of('\x1e'), content);
        std::string record = line.substr(rs, content - rs);
        if (!record.empty() && scrub_plain("application/json", record, side,
                                           truncated && end == body.size(), json_prefix)) {
          changed = true;
        }
        out.append(line, 0, rs);
        out += record;
        out.append(line, content, std::string::npos);
        i = end;
      }
      if (!changed) return false;
      body.swap(out);
      return true;
    }
    BodyType type = body_type(ct, body);
    if ((type == BodyType::kText || type == BodyType::kBinary) && !ct.empty()) {
      // JSON under another media type (text/plain, application/octet-stream: a framework's or
      // a server's default), or a JSONP answer: read as JSON, or the key names are lost.
      if (icontains(ct, "javascript") || icontains(ct, "ecmascript")) {
        size_t begin = 0, end = 0;
        if (jsonp_argument(body, begin, end)) {
          std::string argument = body.substr(begin, end - begin);
          if (nlohmann::json::accept(argument)) {
            ++counters_.json_in_text;
            std::string head = body.substr(0, begin), tail = body.substr(end);
            bool changed = scrub_text(head, side, false);
            changed =
                scrub_plain("application/json", argument, side, false, json_prefix) || changed;
            changed = scrub_text(tail, side, false) || changed;
            if (!changed) return false;
            body = head + argument + tail;
            return true;
          }
        }
      } else {
        const size_t first = body.find_first_not_of(" \t\r\n");
        if (first != std::string::npos && (body[first] == '{' || body[first] == '[') &&
            nlohmann::json::accept(body)) {
          ++counters_.json_in_text;
          type = BodyType::kJson;
        }
      }
    }
    switch (type) {
      case BodyType::kJson: {
        ++counters_.json_bodies;
        JsonScrub v(*this, side, json_prefix);
        std::string out;
        auto r = rewrite_json(body, v, out);
        if (!r.valid) {
          ++(truncated ? counters_.json_truncated : counters_.json_malformed);
          // The rest of the input was copied unchanged: scan it as text, from the quote that
          // opened the string the error fell in (a cut at --max-body lands in a string more
          // often than not, and that string was never visited).
          size_t tail = body.size() - std::min(body.size(), r.error_offset);
          size_t from = out.size() - tail;
          for (size_t q = from; q > 0;) {
            q = out.rfind('"', q - 1);
            if (q == std::string::npos) break;
            size_t slashes = 0;
            while (q > slashes && out[q - 1 - slashes] == '\\') ++slashes;
            if (slashes % 2 == 0) {
              from = q;
              break;
            }
          }
          std::string rest = out.substr(from);
          out.resize(from);
          scrub_text(rest, side, false);
          out += rest;
        } else {
          const bool check = r.replaced > 0 && check_json_structure();
          report_json_body(check || r.replaced == 0,
                           !check || json_structure_hash(body) == json_structure_hash(out));
        }
        if (out == body) return false;
        body.swap(out);
        return true;
      }
      case BodyType::kXml: {
        ++counters_.xml_bodies;
        XmlScrub v(*this, side);
        std::string out;
        auto r = rewrite_xml(body, v, out);
        if (!r.valid) {
          // Not XML after all, or cut at --max-body: the whole body as text, by content. What
          // the walk replaced before it stopped is thrown away with it; the content detectors
          // find again what they found, and the key names are lost only here.
          ++(truncated ? counters_.xml_truncated : counters_.xml_malformed);
          return scrub_text(body, side, false);
        }
        if (r.replaced == 0 || out == body) return false;
        body.swap(out);
        return true;
      }
      case BodyType::kCsv:
      case BodyType::kTsv: {
        ++counters_.csv_bodies;
        CsvScrub v(*this, side);
        std::string out;
        auto r = rewrite_csv(body, type == BodyType::kTsv ? '\t' : ',', v, out);
        if (!r.valid) {
          // A quoted field that never ends (or cut at --max-body): the whole body as text.
          ++(truncated ? counters_.csv_truncated : counters_.csv_malformed);
          return scrub_text(body, side, false);
        }
        if (r.replaced == 0 || out == body) return false;
        body.swap(out);
        return true;
      }
      case BodyType::kYaml: {
        ++counters_.yaml_bodies;
        YamlScrub v(*this, side);
        std::string out;
        if (icontains(body, "val")) {
          // name/value records ("env: [{name: DB_PASSWORD, value: …}]"): a first walk finds
          // their labels
          YamlLabels labels;
          if (rewrite_yaml(body, labels, out).valid) v.labels = labels.finish();
        }
        auto r = rewrite_yaml(body, v, out);
        if (!r.valid) {
          // YAML this reader does not take (complex keys, odd indentation), or cut at
          // --max-body: the whole body as text, by content, as for XML.
          ++(truncated ? counters_.yaml_truncated : counters_.yaml_malformed);
          return scrub_text(body, side, false);
        }
        if (r.replaced == 0 || out == body) return false;
        body.swap(out);
        return true;
      }
      case BodyType::kGraphql: {
        // application/graphql: the document alone, read as a request's "query" member is.
        std::string out;
        const Change c =
            looks_like_graphql(body) ? scrub_graphql(side, "query", body, out) : Change::kDrop;
        if (c == Change::kDrop) {
          ++counters_.text_bodies;
          return scrub_text(body, side, false);
        }
        if (c == Change::kUnchanged) return false;
        body.swap(out);
        return true;
      }
      case BodyType::kForm: {
        ++counters_.form_bodies;
        return scrub_query(body, side, Location::kForm);
      }
      case BodyType::kMultipart: {
        ++counters_.multipart_bodies;
        auto boundary = multipart_boundary(ct);
        if (!boundary) {
          ++counters_.multipart_malformed;
          return scrub_text(body, side, false);
        }
        return scrub_multipart(body, *boundary, side);
      }
      case BodyType::kText: {
        ++counters_.text_bodies;
        // .properties, .env: every line a key=value pair (or a comment), each value by its
        // key's name as a form field's, then by content; anything else as text
        KeyValueScrub v(*this, side);
        std::string out;
        const auto r = rewrite_key_value_lines(body, v, out);
        if (!r.valid) return scrub_text(body, side, false);
        ++counters_.key_value_bodies;
        if (r.replaced == 0 || out == body) return false;
        body.swap(out);
        return true;
      }
      case BodyType::kGrpc:
        return scrub_grpc(ct, body, side, truncated);
      case BodyType::kProtobuf:
        return scrub_protobuf_body(ct, body, side, truncated);
      case BodyType::kThrift:
        return scrub_thrift(ct, body, side);
      case BodyType::kMsgpack:
      case BodyType::kCbor: {
        // Value by value, as JSON (msgpack_cbor.h): a scan of the raw bytes would read a
        // string's length byte as part of the value after it, and a token over it would break
        // the document. What does not parse, from where it stops: bytes, their length kept.
        const bool msgpack = type == BodyType::kMsgpack;
        ++(msgpack ? counters_.msgpack_bodies : counters_.cbor_bodies);
        JsonScrub v(*this, side, json_prefix);
        std::string out;
        const auto r = msgpack ? rewrite_msgpack(body, v, out) : rewrite_cbor(body, v, out);
        if (!r.valid) {
          if (!truncated) ++(msgpack ? counters_.msgpack_malformed : counters_.cbor_malformed);
          const size_t rest = body.size() - r.error_offset;  // out ends with it, as it was
          std::string tail = out.substr(out.size() - rest);
          out.resize(out.size() - rest);
          scrub_text(tail, side, true);
          out += tail;
        }
        if (out == body) return false;
        body.swap(out);
        return true;
      }
      case BodyType::kBinary:
        ++counters_.binary_bodies;
        return scrub_text(body, side, true);
    }
    return false;
  }

  // ---- HTML pages (html.h) ----

  // An HTML page (or XHTML): the JSON in its scripts as JSON bodies, each form control's value as
  // the form field it is submitted as (so that a value the page offers and the form sends gets
  // one token), the text around them by content, as the whole page was before.
  bool scrub_html(std::string& body, Side side) {
    ++counters_.html_bodies;
    find_html_regions(body, html_regions_);
    std::string out, piece, replacement;
    bool changed = false;
    size_t at = 0;
    const auto text = [&](size_t begin, size_t end) {
      piece.assign(body, begin, end - begin);
      if (!piece.empty() && scrub_text(piece, side, false)) changed = true;
      out += piece;
    };
    for (const HtmlRegion& r : html_regions_) {
      text(at, r.begin);
      at = r.end;
      piece.assign(body, r.begin, r.end - r.begin);
      if (r.kind == HtmlRegion::Kind::kJson) {
        if (!nlohmann::json::accept(piece)) {
          text(r.begin, r.end);  // (JavaScript, not JSON)
          continue;
        }
        ++counters_.json_in_text;
        if (scrub_plain("application/json", piece, side, false)) changed = true;
        out += piece;
        continue;
      }
      // A value with a character reference (&amp;) is read by content, as it is written.
      if (piece.find('&') != std::string::npos) {
        text(r.begin, r.end);
        continue;
      }
      const Place p{side, Location::kForm, r.name};
      const Change c = scrub_value(p, piece, replacement);
      if (c == Change::kChanged) out += replacement;
      if (c == Change::kUnchanged) out += piece;
      changed = changed || c != Change::kUnchanged;
    }
    text(at, body.size());
    if (!changed || out == body) return false;
    body.swap(out);
    return true;
  }
  std::vector<HtmlRegion> html_regions_;

  // ---- Server-sent events (twin/traffic/sse.h) ----

  // text/event-stream: each event's data — its data lines joined by LF, as a client reads them
  // — scrubbed as the JSON document it is (an object or an array that parses: by key path, key
  // name and content, as a JSON body), else as text by content; every other line (event types, ids,
  // comments, unknown fields) by content. Lines keep their fields, their space after the colon
  // and their ends of line; a data line's value is the piece of the scrubbed data between two
  // LFs, so that a client joins the same data again (should the scrubbed data have more or
  // fewer LFs, as when a dropped member spanned lines, the last data line takes the rest, or
  // data lines with no piece left go). An event the body does not end is scrubbed all the same.
  bool scrub_event_stream(std::string& body, Side side, bool truncated) {
    ++counters_.event_streams;
    traffic::SseReader reader(body);
    std::vector<traffic::SseLine> lines;  // the event's, up to its blank line
    std::string out, data, value;
    out.append(body, 0, reader.start());
    bool changed = false;
    const auto end_of_line = [&](const traffic::SseLine& l) {
      return std::string_view(body).substr(l.end, l.next - l.end);
    };
    const auto flush = [&](bool last) {
      data.clear();
      size_t data_lines = 0;
      for (const auto& l : lines) {
        if (l.kind != traffic::SseLine::Kind::kField || l.name != "data") continue;
        if (data_lines++ > 0) data += '\n';
        data.append(body, l.value_begin, l.end - l.value_begin);
      }
      if (data_lines > 0) {
        // (JSON when it parses, or may have been cut at --max-body: "[DONE]", an LLM stream's
        // last event, is text, not malformed JSON)
        const size_t first = data.find_first_not_of(" \t\r\n");
        const bool json = first != std::string::npos &&
                          (data[first] == '{' || data[first] == '[') &&
                          ((last && truncated) || nlohmann::json::accept(data));
        if (json ? scrub_plain("application/json", data, side, last && truncated)
                 : scrub_text(data, side, false)) {
          changed = true;
        }
      }
      size_t piece = 0, seen = 0;  // the next piece of `data`, and data lines written
      for (const auto& l : lines) {
        if (l.kind == traffic::SseLine::Kind::kField && l.name == "data") {
          ++seen;
          if (piece > data.size()) continue;  // no piece left for it
          size_t stop = seen == data_lines ? data.size() : data.find('\n', piece);
          if (stop == std::string::npos) stop = data.size();
          // (the last data line: the rest, each further piece a data line of its own)
          for (size_t from = piece;;) {
            const size_t nl = std::min(data.find('\n', from), stop);
            out.append(body, l.begin, l.value_begin - l.begin);
            out.append(data, from, nl - from);
            out += end_of_line(l);
            if (nl >= stop) break;
            from = nl + 1;
          }
          piece = stop + 1;
          continue;
        }
        // Any other line by content, whole (a field with no colon is all name). One that a
        // policy dropped whole becomes an empty comment: a blank line would end the event.
        value.assign(body, l.begin, l.end - l.begin);
        if (!value.empty() && scrub_text(value, side, false)) changed = true;
        out += value.empty() && l.end > l.begin ? std::string_view(":") : std::string_view(value);
        out += end_of_line(l);
      }
      lines.clear();
    };
    traffic::SseLine line;
    while (reader.next(line)) {
      lines.push_back(line);
      if (line.kind == traffic::SseLine::Kind::kBlank) flush(false);
    }
    flush(true);
    if (!changed || out == body) return false;
    body.swap(out);
    return true;
  }

  // ---- gRPC and Protocol Buffers (protobuf.h) ----

  // The coding of compressed messages of the body being scrubbed, and the type its
  // X-Protobuf-Message header names (BodyHeaders).
  std::string_view message_coding_;
  std::string_view protobuf_message_;
  // The policy's Protocol Buffers schemas, and the request's and response's message types of
  // the exchange being scrubbed (by its method's path), or nullptr.
  ProtobufSchema schema_;
  std::pair<const ProtobufSchema::MessageType*, const ProtobufSchema::MessageType*> rpc_types_{};
  const ProtobufSchema::MessageType* rpc_type(Side side) const {
    return side == Side::kRequest ? rpc_types_.first : rpc_types_.second;
  }

  // A gRPC, gRPC-Web or Connect stream: each message on its own, decoded when it is
  // compressed and encoded again when something in it changed, its length prefix written
  // again; gRPC-Web's trailers (a message of "name: value" lines) by content; Connect's
  // end-of-stream message and the messages of a …+json stream as JSON. A compressed message
  // that cannot be decoded (an unknown coding, corrupt, over max_decoded_body, cut at
  // --max-body) cannot be scrubbed: the body goes, as one in an unknown Content-Encoding does.
  bool scrub_grpc(std::string_view ct, std::string& body, Side side, bool truncated) {
    const std::string_view type = application_subtype(ct);
    const bool web_text = istarts_with(type, "grpc-web-text");
    const bool connect = istarts_with(type, "connect+");
    const bool json_messages = type.size() >= 5 && iequals(type.substr(type.size() - 5), "+json");
    auto drop = [&] {
      body.clear();
      ++counters_.bodies_dropped;
      changed_ = true;
      return true;
    };
    std::string decoded;
    std::string_view stream = body;
    if (web_text) {
      if (!decode_grpc_web_text(body, decoded)) {
        ++counters_.grpc_malformed;
        ++counters_.text_bodies;
        return scrub_text(body, side, false);
      }
      stream = decoded;
    }
    std::optional<Coding> coding;
    if (auto parsed = traffic::parse_content_encoding(message_coding_);
        parsed && parsed->size() == 1 && parsed->front() != Coding::kIdentity) {
      coding = parsed->front();
    }
    const Envelopes envelopes = split_envelopes(stream);
    std::string out, payload, encoded;
    bool changed = false;
    for (const Envelope& m : envelopes.items) {
      ++counters_.grpc_messages;
      const bool compressed = (m.flags & 1) != 0;
      payload.clear();
      if (compressed) {
        if (!coding || !traffic::decode(*coding, m.payload, policy_.max_decoded_body, payload)) {
          return drop();
        }
      } else {
        payload.assign(m.payload);
      }
      bool c = false;
      if (!connect && (m.flags & 0x80) != 0) {
        ++counters_.text_bodies;
        c = scrub_text(payload, side, false);  // gRPC-Web trailers
      } else if (json_messages || (connect && (m.flags & 0x02) != 0)) {
        c = scrub_plain("application/json", payload, side, false);
      } else {
        c = scrub_protobuf(payload, side, rpc_type(side));
      }
      if (c && compressed) {
        encoded.clear();
        if (!traffic::encode(*coding, payload, encoded)) return drop();
        payload.swap(encoded);
      }
      if (!append_envelope(m.flags, c ? std::string_view(payload) : m.payload, out)) {
        return drop();
      }
      changed |= c;
    }
    if (!envelopes.rest.empty()) {
      // A message cut at --max-body, or a body that is not such a stream: bytes, their length
      // kept. A cut compressed message cannot be read at all.
      if (!truncated) ++counters_.grpc_malformed;
      if (truncated && envelopes.rest.size() >= 5 && (envelopes.rest[0] & 1) != 0) return drop();
      std::string rest(envelopes.rest);
      changed |= scrub_text(rest, side, true);
      out += rest;
    }
    if (!changed) return false;
    if (web_text) {
      encoded.clear();
      encode_base64(out, Base64Style{false, true}, encoded);
      body.swap(encoded);
    } else {
      body.swap(out);
    }
    return true;
  }

  // An application/protobuf body (and its kin): one message, or with the parameter
  // `encoding=delimited` (Prometheus) a stream of them, each after its length as a varint. Its
  // type is named by the media type's `proto` (Prometheus) or `messageType` parameter, or by an
  // X-Protobuf-Message header (Spring), else by the gRPC method the path names; a name the
  // schema does not hold reads the message without it.
  bool scrub_protobuf_body(std::string_view ct, std::string& body, Side side, bool truncated) {
    const ProtobufSchema::MessageType* type = nullptr;
    bool delimited = false;
    if (ct.find(';') != std::string_view::npos) {
      if (auto e = media_type_parameter(ct, "encoding")) delimited = iequals(*e, "delimited");
      if (!schema_.empty()) {
        auto name = media_type_parameter(ct, "proto");
        if (!name) name = media_type_parameter(ct, "messagetype");
        if (name) type = schema_.message(*name);
      }
    }
    if (!type && !protobuf_message_.empty() && !schema_.empty()) {
      type = schema_.message(trim(protobuf_message_));
    }
    if (!type) type = rpc_type(side);
    if (!delimited) return scrub_protobuf(body, side, type);
    const DelimitedMessages stream = split_delimited(body);
    // A stream of which a piece is no message is not such a stream (text, another codec):
    // scanned whole, so that no value is cut where a "length" fell.
    if (!std::all_of(stream.items.begin(), stream.items.end(), is_protobuf_message)) {
      ++counters_.protobuf_malformed;
      return scrub_text(body, side, true);
    }
    std::string out, message;
    bool changed = false;
    for (const std::string_view m : stream.items) {
      message.assign(m);
      const bool c = scrub_protobuf(message, side, type);
      append_delimited(c ? std::string_view(message) : m, out);
      changed |= c;
    }
    if (!stream.rest.empty()) {
      // a message cut at --max-body, or a body that is no such stream: bytes, their length kept
      if (!truncated) ++counters_.protobuf_malformed;
      std::string rest(stream.rest);
      changed |= scrub_text(rest, side, true);
      out += rest;
    }
    if (!changed) return false;
    body.swap(out);
    return true;
  }

  // An Apache Thrift body (thrift.h): in the protocol its media type names, or for
  // application/x-thrift the binary one, else the compact one; in neither, bytes with their
  // length kept.
  bool scrub_thrift(std::string_view ct, std::string& body, Side side) {
    ++counters_.thrift_bodies;
    const std::string_view sub = application_subtype(ct);
    const bool compact_only = icontains(sub, "compact");
    const bool binary_only = icontains(sub, "binary");
    ProtobufScrub v(*this, side, {}, Location::kThrift);
    std::string out;
    ThriftRewriteResult r;
    if (!compact_only) r = rewrite_thrift(body, ThriftProtocol::kBinary, v, out);
    if (!r.valid && !binary_only) r = rewrite_thrift(body, ThriftProtocol::kCompact, v, out);
    if (!r.valid) {
      ++counters_.thrift_malformed;
      return scrub_text(body, side, true);
    }
    if (r.replaced == 0 || out == body) return false;
    body.swap(out);
    return true;
  }

  // One Protocol Buffers message, field by field (protobuf.h), read as `type` (or without a
  // schema); one that does not parse as a message by content, its length kept.
  bool scrub_protobuf(std::string& message, Side side, const ProtobufSchema::MessageType* type) {
    ProtobufScrub v(*this, side);
    std::string out;
    const ProtobufRewriteResult r = rewrite_protobuf(message, v, out, &schema_, type);
    if (!r.valid) {
      ++counters_.protobuf_malformed;
      return scrub_text(message, side, true);
    }
    ++counters_.protobuf_messages;
    if (r.replaced == 0 || out == message) return false;
    message.swap(out);
    return true;
  }

  class ProtobufScrub final : public ProtobufVisitor {
   public:
    // `prefix`: the name the message's field paths are under (a binary header's), or none;
    // `location`: kProtobuf, or kThrift for a Thrift body's fields (thrift.h).
    ProtobufScrub(Engine& e, Side side, std::string_view prefix = {},
                  Location location = Location::kProtobuf)
        : e_(e), side_(side), prefix_(prefix), location_(location) {}
    bool text(std::string_view path, std::string_view value, std::string& replacement) override {
      Place p{side_, location_, full(path)};
      const Change c = e_.scrub_value(p, value, replacement);
      if (c == Change::kDrop) replacement.clear();  // the field stays, empty
      return c != Change::kUnchanged;
    }
    bool bytes(std::string_view path, std::string_view value, std::string& replacement) override {
      Place p{side_, location_, full(path)};
      p.binary = true;
      const Change c = e_.scrub_value(p, value, replacement);
      if (c == Change::kDrop) replacement.assign(value.size(), '\0');
      return c != Change::kUnchanged;
    }

    bool number(std::string_view path, std::string_view value, std::string& replacement) override {
      Place p{side_, location_, full(path)};
      p.number = true;
      const Change c = e_.scrub_value(p, value, replacement);
      if (c == Change::kDrop) replacement = "0";
      return c != Change::kUnchanged;
    }

   private:
    std::string_view full(std::string_view path) {
      if (prefix_.empty()) return path;
      buf_.assign(prefix_);
      buf_ += '.';
      buf_ += path;
      return buf_;
    }
    Engine& e_;
    Side side_;
    std::string_view prefix_;
    Location location_;
    std::string buf_;
  };

  bool scrub_text(std::string& text, Side side, bool binary, Location location = Location::kText,
                  bool plus_is_space = false) {
    Place p{side, location, location == Location::kText ? "*" : "{text}"};
    p.binary = binary;
    p.content_only = true;
    p.plus_is_space = plus_is_space;
    auto c = scrub_value(p, text, tmp_);
    if (c != Change::kChanged) return false;
    text.swap(tmp_);
    return true;
  }

  bool scrub_text(std::string& text) override {
    Place p{Side::kRequest, Location::kText, kMetadataName};
    p.content_only = true;
    in_text_ = true;
    const Change c = scrub_value(p, text, tmp_);
    in_text_ = false;
    if (c != Change::kChanged) return false;
    text.swap(tmp_);
    ++counters_.metadata_values;
    return true;
  }

  // A CSV body's fields by column name; the header row's names by content.
  class CsvScrub final : public CsvVisitor {
   public:
    CsvScrub(Engine& e, Side side) : e_(e), side_(side) {}
    bool visit(bool header, std::string_view column, std::string_view value,
               std::string& replacement) override {
      Change c;
      if (header) {
        Place p{side_, Location::kCsv, "{header}"};
        p.content_only = true;
        c = e_.scrub_value(p, value, replacement);
      } else {
        Place p{side_, Location::kCsv, column};
        c = e_.scrub_value(p, value, replacement);
      }
      if (c == Change::kDrop) replacement.clear();
      return c != Change::kUnchanged;
    }

   private:
    Engine& e_;
    Side side_;
  };

  // A GraphQL document (a request's "query", an application/graphql body, a "query" parameter):
  // its string literals as JSON values at `base` + their argument path ("query.input.lastName"),
  // its comments and unnamed literals by content. kDrop: not readable as GraphQL (nothing
  // written), for the caller to read it as before.
  Change scrub_graphql(Side side, std::string_view base, std::string_view doc, std::string& out) {
    GraphqlScrub v(*this, side, base);
    std::string rewritten;
    const auto r = rewrite_graphql(doc, v, rewritten);
    if (!r.valid) return Change::kDrop;
    ++counters_.graphql_documents;
    if (r.replaced == 0 || rewritten == doc) return Change::kUnchanged;
    out.swap(rewritten);
    return Change::kChanged;
  }

  class GraphqlScrub final : public GraphqlVisitor {
   public:
    GraphqlScrub(Engine& e, Side side, std::string_view base) : e_(e), side_(side), base_(base) {}
    bool visit(bool literal, std::string_view path, std::string_view value,
               std::string& replacement) override {
      path_.assign(base_);
      if (literal && !path.empty()) {
        if (!path_.empty()) path_ += '.';
        path_ += path;
      }
      Place p{side_, Location::kJson, path_};
      p.content_only = !literal || path.empty();
      const Change c = e_.scrub_value(p, value, replacement);
      if (c == Change::kDrop) replacement.clear();
      return c != Change::kUnchanged;
    }

   private:
    Engine& e_;
    Side side_;
    std::string_view base_;
    std::string path_;
  };

  // A key=value text body's values by key, as form fields; its comments by content.
  class KeyValueScrub final : public KeyValueVisitor {
   public:
    KeyValueScrub(Engine& e, Side side) : e_(e), side_(side) {}
    bool visit(std::string_view key, std::string_view value, std::string& replacement) override {
      Place p{side_, Location::kForm, key.empty() ? std::string_view("{text}") : key};
      p.content_only = key.empty();
      const Change c = e_.scrub_value(p, value, replacement);
      if (c == Change::kDrop) replacement.clear();
      return c != Change::kUnchanged;
    }

   private:
    Engine& e_;
    Side side_;
  };

  // A YAML body's scalars by key path, as JSON values are read; its keys by content.
  class YamlScrub final : public YamlVisitor {
   public:
    YamlScrub(Engine& e, Side side) : e_(e), side_(side) {}
    bool visit(bool key, std::string_view path, std::string_view value,
               std::string& replacement) override {
      const size_t index = visits_++;
      if (!key && index < labels.size() && !labels[index].empty()) {
        path = e_.relabel(path, labels[index], relabelled_);
      }
      Place p{side_, Location::kYaml, path};
      p.content_only = key;
      const Change c = e_.scrub_value(p, value, replacement);
      if (c == Change::kDrop) replacement.clear();
      return c != Change::kUnchanged;
    }
    // Comments: by content, as text.
    bool comment(std::string_view text, std::string& replacement) override {
      replacement.assign(text);
      return e_.scrub_text(replacement, side_, false);
    }
    std::vector<std::string> labels;  // by visit: a name/value record's label (YamlLabels)

   private:
    Engine& e_;
    Side side_;
    size_t visits_ = 0;
    std::string relabelled_;
  };

  // The labels of a YAML body's name/value records (JsonVisitor::label), by visit, from a walk
  // that replaces nothing. A mapping's members are the visits at its path from one of its keys
  // up to a key it already had (the next item of a sequence of such mappings: "env[]"); among
  // them a member named as is_label_key() says with a scalar value labels the one named as
  // is_value_key() says.
  class YamlLabels final : public YamlVisitor {
   public:
    bool visit(bool key, std::string_view path, std::string_view value, std::string&) override {
      const size_t index = visits_++;
      if (key) {
        Record& r = open_[std::string(path)];
        if (r.keys.count(std::string(value))) close(r);
        r.keys.emplace(value);
        return false;
      }
      const size_t dot = path.rfind('.');
      if (dot == std::string_view::npos) return false;
      auto it = open_.find(std::string(path.substr(0, dot)));
      if (it == open_.end()) return false;
      const std::string_view member = path.substr(dot + 1);
      if (is_label_key(member)) it->second.label.assign(value);
      if (is_value_key(member)) it->second.value = index;
      return false;
    }
    std::vector<std::string> finish() {
      for (auto& [path, r] : open_) close(r);
      return std::move(labels_);
    }

   private:
    struct Record {
      std::set<std::string> keys;
      std::string label;
      size_t value = SIZE_MAX;
    };
    void close(Record& r) {
      if (!r.label.empty() && r.value != SIZE_MAX) {
        if (labels_.size() <= r.value) labels_.resize(r.value + 1);
        labels_[r.value] = r.label;
      }
      r = Record{};
    }
    size_t visits_ = 0;
    std::map<std::string, Record> open_;  // by mapping path
    std::vector<std::string> labels_;
  };

  // An XML body's text runs and attribute values, by element path.
  class XmlScrub final : public XmlVisitor {
   public:
    XmlScrub(Engine& e, Side side) : e_(e), side_(side) {}
    bool visit(std::string_view path, std::string_view value, std::string& replacement) override {
      if (!label.empty()) path = e_.relabel(path, label, relabelled_);
      Place p{side_, Location::kXml, path};
      const Change c = e_.scrub_value(p, value, replacement);
      if (c == Change::kDrop) replacement.clear();
      return c != Change::kUnchanged;
    }
    // Comments and processing instructions: by content, as text.
    bool markup(std::string_view content, std::string& replacement) override {
      replacement.assign(content);
      return e_.scrub_text(replacement, side_, false);
    }

   private:
    Engine& e_;
    Side side_;
    std::string relabelled_;
  };

  class PartScrub final : public MultipartVisitor {
   public:
    PartScrub(Engine& e, Side side) : e_(e), side_(side) {}
    bool visit(const MultipartPart& part, std::string& body, std::string& filename) override {
      bool changed = false;
      if (!part.filename.empty() && e_.policy_.token_filenames) {
        // The stem is a token, the extension stays.
        auto dot = part.filename.rfind('.');
        std::string_view stem = part.filename.substr(0, dot);
        filename.clear();
        e_.transformer_.token(stem, Kind::kNone, filename);
        if (dot != std::string_view::npos) filename.append(part.filename.substr(dot));
        Place p{side_, Location::kForm, part.name};
        e_.count(p, Kind::kNone);
        changed = filename != part.filename;
        if (!changed) filename.clear();
      }
      body.assign(part.body);
      bool body_changed = false;
      auto type = body_type(part.content_type, part.body);
      if (part.filename.empty() && (part.content_type.empty() || type == BodyType::kText)) {
        // A form field: a value with a name.
        Place p{side_, Location::kForm, part.name};
        auto c = e_.scrub_value(p, part.body, body);
        body_changed = c != Change::kUnchanged;
        if (c == Change::kDrop) body.clear();
        if (c == Change::kUnchanged) body.assign(part.body);
      } else {
        body_changed = e_.scrub_plain(part.content_type, body, side_, false, part.name);
      }
      return changed || body_changed;
    }
    // The preamble, the epilogue, part headers other than Content-Disposition and Content-Type
    // and the unparsed rest of an invalid body: the content detectors, once.
    bool text(MultipartText /*where*/, std::string_view /*header*/, std::string_view raw,
              std::string& replacement) override {
      replacement.assign(raw);
      return e_.scrub_text(replacement, side_, false);
    }

   private:
    Engine& e_;
    Side side_;
  };

  bool scrub_multipart(std::string& body, std::string_view boundary, Side side) {
    // Multipart inside multipart inside ...: past a few levels it is read as text, so that a
    // hostile body cannot exhaust the stack or copy itself level after level.
    if (multipart_depth_ >= 4) return scrub_text(body, side, false);
    ++multipart_depth_;
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{multipart_depth_};
    PartScrub v(*this, side);
    std::string out;
    auto r = rewrite_multipart(body, boundary, v, out);
    // An invalid body's unparsed rest went to PartScrub::text, alone: rescanning the whole
    // output would find the tokens written for its fields again and tokenize them twice.
    if (!r.valid) ++counters_.multipart_malformed;
    if (out == body) return false;
    body.swap(out);
    return true;
  }

  // ---- entities for date shifts ----

  void collect_entities(const Exchange& ex) {
    entities_.clear();
    auto want = [&](const ActionParams& a) {
      if (a.entity.empty() || entities_.count(a.entity)) return;
      auto s = parse_selector(a.entity);
      if (!s) return;
      std::string value;
      if (s->location == Location::kHeader) {
        if (auto* h = traffic::find_header(ex.request.headers, s->pattern)) value = h->value;
      } else if (s->location == Location::kQuery) {
        auto q = ex.request.target.find('?');
        if (q != std::string::npos) {
          std::string_view query(ex.request.target);
          query.remove_prefix(q + 1);
          size_t i = 0;
          while (i < query.size()) {
            size_t amp = query.find('&', i);
            auto pair = query.substr(i, amp == std::string_view::npos ? query.size() - i : amp - i);
            auto eq = pair.find('=');
            if (eq != std::string_view::npos && iequals(pair.substr(0, eq), s->pattern)) {
              percent_decode(pair.substr(eq + 1), true, value);
              break;
            }
            if (amp == std::string_view::npos) break;
            i = amp + 1;
          }
        }
      } else if (s->location == Location::kCookie) {
        if (auto* h = traffic::find_header(ex.request.headers, "cookie")) {
          std::string_view c = h->value;
          size_t i = 0;
          while (i < c.size()) {
            size_t semi = c.find(';', i);
            auto pair = trim(c.substr(i, semi == std::string_view::npos ? c.size() - i : semi - i));
            auto eq = pair.find('=');
            if (eq != std::string_view::npos && pair.substr(0, eq) == s->pattern) {
              value = pair.substr(eq + 1);
              break;
            }
            if (semi == std::string_view::npos) break;
            i = semi + 1;
          }
        }
      }
      entities_.emplace(a.entity, std::move(value));
    };
    for (const auto& r : policy_.rules) want(r.action);
    for (const auto& a : policy_.by_kind) want(a);
    for (const auto& a : policy_.custom_actions) want(a);
  }

  std::shared_ptr<const Policy> policy_holder_;
  const Policy& policy_;
  std::shared_ptr<const Detectors> detectors_;
  ScratchPtr scratch_;
  Transformer transformer_;
  ScrubCounters counters_;
  Report report_;
  uint64_t memory_seed_;
  std::unique_ptr<MemoTable> memory_;
  size_t memory_slots_ = 0;
  std::vector<uint64_t> filter_;
  std::vector<uint64_t> memory_front_ = std::vector<uint64_t>(kMemoryFront);
  std::vector<TokenSlot> token_cache_ = std::vector<TokenSlot>(kTokenSlots);
  std::vector<LongToken> long_tokens_ = std::vector<LongToken>(4096);
  std::vector<ScanMemoSlot> scan_memo_ = std::vector<ScanMemoSlot>(kScanMemoSlots);
  std::vector<OutcomeSlot> outcomes_ = std::vector<OutcomeSlot>(kOutcomeSlots);
  OutcomeSlot* recording_ = nullptr;  // the outcome being kept (scrub_value)
  uint64_t outcome_hash_ = 0;
  size_t outcome_bytes_ = 0;                    // the capacity of the outcomes' strings
  std::array<uint64_t, 3> outcome_counters_{};  // dropped, fallbacks, residual at its start
  struct CachedEndpoint {
    const ActionParams* action = nullptr;
    uint8_t in_family = 0;
    std::array<uint8_t, 16> in{}, out{};
    std::string text_in, text_out;
    uint64_t fallbacks = 0;  // counted by the transform
    bool ok = false;
  };
  std::vector<CachedEndpoint> endpoint_cache_ = std::vector<CachedEndpoint>(1024);
  uint64_t remembered_ = 0;
  std::unordered_map<std::string, Decision, TransparentHash, std::equal_to<>> decisions_;
  std::array<RecentDecision, 1024> recent_decisions_;
  std::unordered_map<std::string, std::string> entities_;
  uint64_t ordinal_ = 0;  // the exchange being scrubbed: its place in the input
  uint64_t records_ = 0;  // report entries of the exchange so far (next_record())
  // scrub_text(): its entries come before the exchange of this place (UINT64_MAX: the next)
  bool in_text_ = false;
  uint64_t text_ordinal_ = UINT64_MAX;
  uint64_t text_records_ = 0;
  // A worker's (master_ set): its memory overlay, its questions and values remembered, and its
  // report entries since begin_batch().
  const Engine* master_ = nullptr;
  MemoryOverlay overlay_;
  std::vector<MemoryEvent> events_;
  std::vector<MemoryEvent> writes_;  // the kRemembered of events_
  std::vector<MemoryEvent> checks_;  // ParallelEngine::settle_own()
  std::vector<JournalEntry> journal_;
  // A worker scrubbing exchange view_as_of_ of the batch again: the memory as it found it.
  const BatchView* view_ = nullptr;
  uint32_t view_as_of_ = 0;
  uint32_t batch_index_ = 0;       // of the exchange being scrubbed
  SlotMap<uint32_t> first_write_;  // slot → the first exchange of the batch that wrote it, + 1
  SlotMap<uint32_t> first_value_;  // the same by the value's hash (h >> 1: h is odd)
  ScrubCounters committed_;        // of the exchanges that stood as scrubbed here
  std::unordered_map<const std::string*, FieldStats*> report_paths_;  // for one batch
  int multipart_depth_ = 0;
  bool uses_entities_ = false;
  bool url_person_ = false;
  std::unordered_map<std::string, bool, TransparentHash, std::equal_to<>> url_person_cache_;
  bool scan_everything_ = false;
  size_t min_scan_length_ = 20;
  bool changed_ = false;
  std::vector<Span> spans_, rescan_;
  std::vector<std::pair<uint32_t, uint32_t>> written_;
  std::vector<Span> piece_found_;  // check_residual(): what a kept piece holds on its own
  std::string cache_key_, tmp_, decoded_, lname_, number_digits_, number_token_;
  // Percent-encoded values and spans (scrub_value, scrub_encoded_span, check_residual).
  std::string decoded_value_, span_decoded_, span_token_;
  std::vector<uint32_t> span_offsets_;
  std::vector<Span> span_found_;
  std::vector<std::pair<size_t, size_t>> query_written_;
  // Text in base64 (base64_text_candidate, scrub_base64_text).
  std::string base64_text_;
  Base64Style base64_style_;
  bool base64_json_ = false;
  int nesting_ = 0;         // scrub_nested() calls under way
  std::string json_check_;  // embedded_json()'s validation (its output, unused)
};

}  // namespace

namespace testing {
ParallelHooks& parallel_hooks() {
  static ParallelHooks hooks;
  return hooks;
}
}  // namespace testing

namespace {

// A scrub on several threads with the output of one (see "a scrub on several threads" above).
// scrub_batch() goes in four steps:
//  1. The batch is cut into pieces of a few exchanges that the workers (the calling thread and
//     threads - 1 of the engine's own) take in turn; each keeps a copy of an exchange before
//     scrubbing it, notes its questions to the memory, the values it remembered (and the first
//     exchange that remembered each value, and each slot of the table) and its report entries.
//  2. Each worker looks at its own exchanges: one whose answers no other worker's earlier
//     exchange can have changed (it remembered no value the exchange did not find, and wrote
//     no slot of a value it found: written_before()) saw the memory as it is in input order,
//     so it stands, and the worker adds its counters and report entries to its own. The others
//     are suspect: the worker lists their values remembered and those questions, in order.
//  3. When there are suspects, the calling thread puts the batch's values remembered together
//     in input order (Engine::BatchView: the memory as each exchange found it), and each worker
//     checks its suspects' listed answers against the view as of the suspect's place: one
//     stands, or is put back from its copy and scrubbed again by its worker, asking the view.
//     Then the calling thread writes every exchange's values into the master's memory, in
//     input order.
//  4. Each worker adds the counters and report entries of its exchanges that stood or were
//     scrubbed again.
// (Each thread reads what another wrote only where it must: the values remembered, and the
// lists of suspect exchanges.)
// Everything else an engine keeps between exchanges is a cache whose hits give what a miss
// would, so it does not matter which worker had which exchange. counters() and report() add
// up the master's and the workers' (the report's paths in the order they were first met).
class ParallelEngine final : public Scrubber {
 public:
  ParallelEngine(const std::shared_ptr<const Policy>& policy, const Key& key,
                 const std::shared_ptr<const Detectors>& detectors, int threads)
      : master_(policy, key, detectors),
        report_seed_(Engine::seed_of(key, "report")),
        merged_report_(report_seed_) {
    master_.report_.set_max_paths(0);
    for (int i = 0; i < threads; ++i) {
      workers_.push_back(std::make_unique<Engine>(policy, key, detectors, &master_));
      workers_.back()->report_.set_max_paths(0);
    }
    try {
      for (int i = 1; i < threads; ++i) helpers_.emplace_back([this, i] { helper(size_t(i)); });
    } catch (...) {
      stop_helpers();  // those that started (a thread that cannot start throws system_error)
      throw;
    }
  }
  ~ParallelEngine() override { stop_helpers(); }

  void scrub(Exchange& ex) override {
    master_.scrub_at(ex, next_ordinal_++);
    bound_paths();
  }
  bool scrub_text(std::string& text) override {
    master_.text_ordinal_ = next_ordinal_;
    return master_.scrub_text(text);
  }
  const ScrubCounters& counters() const override {
    merged_counters_ = master_.counters_;
    for (const auto& w : workers_) merged_counters_.merge(w->committed_);
    return merged_counters_;
  }
  const Report& report() const override {
    merged_report_ = Report(report_seed_);
    merged_report_.set_shape_statistics(master_.report_.shape_statistics());
    std::vector<const Report*> all{&master_.report_};
    for (const auto& w : workers_) all.push_back(&w->report_);
    merged_report_.merge_in_order(all);
    return merged_report_;
  }
  void set_shape_statistics(bool on) override {
    master_.set_shape_statistics(on);
    for (auto& w : workers_) w->set_shape_statistics(on);
  }
  ParallelStats parallel_stats() const override { return stats_; }

  void scrub_batch(std::span<Exchange> batch) override {
    if (batch.empty()) return;
    if (slots_.size() < batch.size()) slots_.resize(batch.size());
    batch_ = batch;
    base_ = next_ordinal_;
    next_ordinal_ += batch.size();
    // Pieces small enough for every worker to get several (the work per exchange varies).
    piece_ = std::clamp<size_t>(batch.size() / (4 * workers_.size()), 1, 8);
    next_.store(0, std::memory_order_relaxed);
    suspects_ = 0;
    for (auto& w : workers_) w->begin_batch();
    run(kScrub);
    written_.fill(0);
    written_values_.fill(0);
    for (const auto& w : workers_) {
      const auto& bits = w->first_write_.bits();
      const auto& value_bits = w->first_value_.bits();
      for (size_t k = 0; k < written_.size(); ++k) {
        written_[k] |= bits[k];
        written_values_[k] |= value_bits[k];
      }
    }
    run(kSettle);
    if (suspects_ > 0) {
      build_view();
      run(kAgain);
    }
    broken_ = false;
    for (size_t i = 0; i < batch.size(); ++i) settle(i);
    run(kCommit);
    // The copies keep their strings' capacity for the next batch, but not a large body's.
    for (size_t i = 0; i < batch.size(); ++i) {
      Exchange& o = slots_[i].original;
      if (o.request.body.capacity() > kKeepCapacity) std::string().swap(o.request.body);
      if (o.response && o.response->body.capacity() > kKeepCapacity) {
        std::string().swap(o.response->body);
      }
    }
    bound_paths();
    for (const auto& w : workers_) {
      stats_.report_paths = std::max<uint64_t>(stats_.report_paths, w->report_.fields().size());
    }
    stats_.report_paths = std::max<uint64_t>(stats_.report_paths, master_.report_.fields().size());
    ++stats_.batches;
    stats_.exchanges += batch.size();
  }

 private:
  enum Step : uint8_t { kScrub, kSettle, kAgain, kCommit };
  static constexpr size_t kKeepCapacity = 64 * 1024;
  struct Slot {
    Exchange original;  // as it came in (a copy whose strings keep their capacity)
    size_t worker = 0;
    size_t events_begin = 0, events_end = 0, journal_begin = 0, journal_end = 0;
    size_t writes_begin = 0, writes_end = 0, checks_begin = 0, checks_end = 0;
    ScrubCounters counters;  // its own
    bool suspect = false;
    bool again = false;       // scrubbed again by its worker
    bool broken = false;      // scrubbed again by its worker, it remembered otherwise (never seen)
    bool rescrubbed = false;  // scrubbed again by the master, in input order, after a break
  };

  void stop_helpers() {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    start_.notify_all();
    for (auto& t : helpers_) t.join();
    helpers_.clear();
  }

  // Runs `step` on every worker, the calling thread being worker 0; rethrows what one threw.
  void run(Step step) {
    {
      std::lock_guard lock(mu_);
      step_ = step;
      ++generation_;
      busy_ = helpers_.size();
    }
    start_.notify_all();
    do_step(step, 0);
    {
      std::unique_lock lock(mu_);
      done_.wait(lock, [&] { return busy_ == 0; });
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

  void helper(size_t w) {
    uint64_t seen = 0;
    while (true) {
      Step step;
      {
        std::unique_lock lock(mu_);
        start_.wait(lock, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
        step = step_;
      }
      do_step(step, w);
      {
        std::lock_guard lock(mu_);
        if (--busy_ == 0) done_.notify_one();
      }
    }
  }

  void do_step(Step step, size_t w) {
    try {
      if (step == kScrub) {
        scrub_pieces(w);
      } else if (step == kSettle) {
        settle_own(w);
      } else if (step == kAgain) {
        again_own(w);
      } else {
        commit_own(w);
      }
    } catch (...) {
      std::lock_guard lock(mu_);
      if (!error_) error_ = std::current_exception();
      next_.store(batch_.size(), std::memory_order_relaxed);  // the others stop scrubbing
    }
  }

  // Step 1.
  void scrub_pieces(size_t w) {
    Engine& e = *workers_[w];
    const bool in_turn = testing::parallel_hooks().pieces_in_turn.load();
    for (size_t turn = w;; turn += workers_.size()) {
      const size_t begin =
          in_turn ? turn * piece_ : next_.fetch_add(piece_, std::memory_order_relaxed);
      if (begin >= batch_.size()) break;
      const size_t end = std::min(begin + piece_, batch_.size());
      for (size_t i = begin; i < end; ++i) {
        Slot& s = slots_[i];
        s.original = batch_[i];
        s.worker = w;
        s.events_begin = e.events_.size();
        s.writes_begin = e.writes_.size();
        s.journal_begin = e.journal_.size();
        e.counters_ = ScrubCounters{};
        e.batch_index_ = uint32_t(i);
        e.scrub_at(batch_[i], base_ + i);
        s.events_end = e.events_.size();
        s.writes_end = e.writes_.size();
        s.journal_end = e.journal_.size();
        s.counters = e.counters_;
      }
    }
  }

  // Step 2, for worker w's exchanges.
  void settle_own(size_t w) {
    Engine& e = *workers_[w];
    size_t suspects = 0;
    for (size_t i = 0; i < batch_.size(); ++i) {
      Slot& s = slots_[i];
      if (s.worker != w) continue;
      s.rescrubbed = false;
      s.again = false;
      s.broken = false;
      s.checks_begin = e.checks_.size();
      bool suspect = false;
      for (size_t k = s.events_begin; k < s.events_end; ++k) {
        const MemoryEvent& ev = e.events_[k];
        if (ev.type == MemoryEvent::kRemembered) {
          e.checks_.push_back(ev);
        } else if (written_before(ev, i, w)) {
          e.checks_.push_back(ev);
          suspect = true;
        }
      }
      s.suspect = suspect;
      if (suspect) {
        ++suspects;
        s.checks_end = e.checks_.size();
        continue;
      }
      e.checks_.resize(s.checks_begin);
    }
    if (suspects > 0) {
      std::lock_guard lock(mu_);
      suspects_ += suspects;
    }
  }

  // Whether the answer to question `ev` of exchange i, asked by worker w, can differ from the
  // answer in input order. A value found may have been evicted since from its slot of the
  // memory's table, by a value that another worker remembered in an exchange before i: then
  // yes. A value not found would be found only if another worker remembered that very value
  // before i (a value is only in the table if remembered, and the worker saw its own values).
  bool written_before(const MemoryEvent& ev, size_t i, size_t w) const {
    const bool found = ev.type == MemoryEvent::kFound;
    const size_t key = found ? ev.hash & (master_.memory_slots_ - 1) : ev.hash >> 1;
    if (!SlotMap<uint32_t>::may_hold(found ? written_ : written_values_, key)) return false;
    for (size_t o = 0; o < workers_.size(); ++o) {
      if (o == w) continue;
      const auto& map = found ? workers_[o]->first_write_ : workers_[o]->first_value_;
      const uint32_t* first = map.get(key);
      if (first != nullptr && *first - 1 < i) return true;
    }
    return false;
  }

  // Step 3, the calling thread's part before the workers': the values each exchange of the
  // batch remembered, in input order.
  void build_view() {
    view_.clear();
    for (size_t i = 0; i < batch_.size(); ++i) {
      const Slot& s = slots_[i];
      const Engine& w = *workers_[s.worker];
      for (size_t k = s.writes_begin; k < s.writes_end; ++k) {
        __builtin_prefetch(
            &master_.memory_->get()[w.writes_[k].hash & (master_.memory_slots_ - 1)]);
      }
      for (size_t k = s.writes_begin; k < s.writes_end; ++k) {
        const MemoryEvent& ev = w.writes_[k];
        view_.remember(uint32_t(i), ev.hash, ev.kind, ev.action, master_);
      }
    }
  }

  // Step 3, for worker w's suspect exchanges: checked against the memory as each found it,
  // and scrubbed again where an answer differs.
  void again_own(size_t w) {
    Engine& e = *workers_[w];
    const bool every = testing::parallel_hooks().again_every_suspect.load();
    const uint64_t break_every = testing::parallel_hooks().break_every.load();
    uint64_t checked = 0, again = 0;
    for (size_t i = 0; i < batch_.size(); ++i) {
      Slot& s = slots_[i];
      if (s.worker != w || !s.suspect) continue;
      ++checked;
      if (!every && holds(e, s, i)) continue;
      scrub_again(e, s, i);
      s.again = true;
      if (break_every != 0 && (base_ + i) % break_every == 0) s.broken = true;
      ++again;
    }
    std::lock_guard lock(mu_);
    stats_.checked += checked;
    stats_.rescrubbed += again;
  }

  // Whether suspect exchange i's answers are those the memory gives as of its place. The
  // worker saw the master's memory as the batch began with the values of its own exchanges
  // before this one: the view as of i but in slots that another worker's exchanges before this
  // one wrote, which are the questions listed (with the exchange's own values remembered).
  bool holds(Engine& e, const Slot& s, size_t i) {
    Engine::MemoryOverlay& check = e.overlay_;  // free once the worker's batch is scrubbed
    check.clear();
    const auto as_of = uint32_t(i);
    for (size_t k = s.checks_begin; k < s.checks_end; ++k) {
      const MemoryEvent& ev = e.checks_[k];
      if (ev.type == MemoryEvent::kRemembered) {
        check.remember(ev.hash, ev.kind, ev.action, master_, &view_, as_of);
        continue;
      }
      const Memo* m = check.find(ev.hash, master_, &view_, as_of);
      const bool same = ev.type == MemoryEvent::kFound
                            ? m != nullptr && m->kind == ev.kind && m->action == ev.action
                            : m == nullptr;
      if (!same) return false;
    }
    return true;
  }

  // Exchange i put back from its copy (which stays) and scrubbed again by worker e, asking
  // the memory as of its place. Its values remembered do not depend on the answers; were
  // they ever otherwise than in its first scrub, the exchanges after it were judged against a
  // wrong view: settle() then scrubs them all again, in order (s.broken).
  void scrub_again(Engine& e, Slot& s, size_t i) {
    batch_[i] = s.original;
    e.overlay_.clear();
    e.view_ = &view_;
    e.view_as_of_ = uint32_t(i);
    const size_t from = e.writes_.size();
    s.journal_begin = e.journal_.size();
    e.counters_ = ScrubCounters{};
    e.batch_index_ = uint32_t(i);
    try {
      e.scrub_at(batch_[i], base_ + i);
    } catch (...) {
      e.view_ = nullptr;
      throw;
    }
    e.view_ = nullptr;
    s.journal_end = e.journal_.size();
    s.counters = e.counters_;
    s.broken = !std::equal(
        e.writes_.begin() + long(from), e.writes_.end(), e.writes_.begin() + long(s.writes_begin),
        e.writes_.begin() + long(s.writes_end), [](const MemoryEvent& a, const MemoryEvent& b) {
          return a.hash == b.hash && a.kind == b.kind && a.action == b.action;
        });
    s.writes_begin = from;  // what it remembered
    s.writes_end = e.writes_.size();
  }

  // Step 4, for worker w's exchanges.
  void commit_own(size_t w) {
    Engine& e = *workers_[w];
    for (size_t i = 0; i < batch_.size(); ++i) {
      const Slot& s = slots_[i];
      if (s.worker != w || s.rescrubbed) continue;
      e.committed_.merge(s.counters);
      add_journal(e, s, i, e.report_, e.report_paths_);
    }
  }

  // Adds exchange i's report entries (kept by worker `w`) to `report`.
  void add_journal(const Engine& w, const Slot& s, size_t i, Report& report,
                   std::unordered_map<const std::string*, FieldStats*>& paths) {
    const uint64_t place = 2 * (base_ + i) + 1;  // as Engine::next_record() numbers them
    for (size_t k = s.journal_begin; k < s.journal_end; ++k) {
      const JournalEntry& j = w.journal_[k];
      if (j.type == JournalEntry::kJsonBody) {
        report.add_json_body((j.n & 1) != 0, (j.n & 2) != 0);
        continue;
      }
      const std::pair<uint64_t, uint64_t> first{place, k - s.journal_begin};
      auto [it, fresh] = paths.try_emplace(j.path, nullptr);
      if (fresh) it->second = &report.field(*j.path, first);
      FieldStats& f = *it->second;
      if (first < f.first) f.first = first;
      if (j.type == JournalEntry::kRecord) {
        report.add(f, j.observation);
      } else {
        report.add_residual(f, j.n);
      }
    }
  }

  // Step 3, the calling thread's part after the workers', for exchange i, all before it done:
  // its values go into the master's memory. After an exchange that remembered otherwise when
  // scrubbed again (never seen), every later one is scrubbed again by the master, in order.
  void settle(size_t i) {
    Slot& s = slots_[i];
    if (broken_) {
      rescrub(i);
      return;
    }
    const Engine& w = *workers_[s.worker];
    for (size_t k = s.writes_begin; k < s.writes_end; ++k) {
      __builtin_prefetch(&master_.memory_->get()[w.writes_[k].hash & (master_.memory_slots_ - 1)]);
    }
    for (size_t k = s.writes_begin; k < s.writes_end; ++k) {
      const MemoryEvent& ev = w.writes_[k];
      master_.remember_hash(ev.hash, ev.kind, ev.action);
    }
    if (s.broken) {
      broken_ = true;
      ++stats_.broken_batches;
    }
  }

  // The reports of the threads keep every path until more than kMaxPaths were met in all;
  // then the kMaxPaths first met are known for good (the paths met later come later in the
  // input), and each report folds the others into "(other)" from then on, as one report of
  // all the input does: so that they stay bounded.
  void bound_paths() {
    if (paths_bounded_) return;
    size_t held = master_.report_.fields().size();
    for (const auto& w : workers_) held += w->report_.fields().size();
    if (held <= Report::kMaxPaths) return;  // nor can the paths met in all be more
    std::vector<const Report*> all{&master_.report_};
    for (const auto& w : workers_) all.push_back(&w->report_);
    std::map<std::string_view, std::pair<uint64_t, uint64_t>> first;
    for (const Report* r : all) {
      for (const auto& [path, f] : r->fields()) {
        auto [it, fresh] = first.try_emplace(path, f.first);
        if (!fresh && f.first < it->second) it->second = f.first;
      }
    }
    if (first.size() <= Report::kMaxPaths) return;
    std::vector<std::pair<std::pair<uint64_t, uint64_t>, std::string_view>> order;
    for (const auto& [path, f] : first) order.emplace_back(f, path);
    std::sort(order.begin(), order.end());
    for (size_t k = 0; k < Report::kMaxPaths; ++k) admitted_.emplace(order[k].second);
    master_.report_.restrict_paths(admitted_);
    master_.forget_report_fields();
    for (auto& w : workers_) w->report_.restrict_paths(admitted_);
    paths_bounded_ = true;
  }

  // Exchange i put back from its copy and scrubbed by the master.
  void rescrub(size_t i) {
    Slot& s = slots_[i];
    std::swap(batch_[i], s.original);
    master_.scrub_at(batch_[i], base_ + i);
    s.rescrubbed = true;
    if (!s.again) ++stats_.rescrubbed;  // (an exchange counts once, however often redone)
  }

  Engine master_;
  std::vector<std::unique_ptr<Engine>> workers_;
  std::vector<std::thread> helpers_;
  std::mutex mu_;
  std::condition_variable start_, done_;
  uint64_t generation_ = 0;
  Step step_ = kScrub;
  size_t busy_ = 0;
  bool quit_ = false;
  std::exception_ptr error_;
  uint64_t next_ordinal_ = 0;  // exchanges scrubbed so far
  // The batch being scrubbed.
  std::span<Exchange> batch_;
  uint64_t base_ = 0;
  size_t piece_ = 1;
  std::atomic<size_t> next_{0};
  std::vector<Slot> slots_;
  Engine::BatchView view_;                       // built when the batch has suspects
  size_t suspects_ = 0;                          // in the batch (settle_own())
  bool paths_bounded_ = false;                   // bound_paths()
  std::set<std::string, std::less<>> admitted_;  // the paths with their own report entry
  bool broken_ = false;  // a second scrub remembered otherwise than its first (never seen)
  SlotMap<uint32_t>::Bits written_;         // the workers' first_write_ bitmaps together
  SlotMap<uint32_t>::Bits written_values_;  // and their first_value_ bitmaps
  ParallelStats stats_;
  uint64_t report_seed_;
  mutable ScrubCounters merged_counters_;
  mutable Report merged_report_;
};

}  // namespace

Result<std::unique_ptr<Scrubber>> Scrubber::create(const Policy& policy, const Key& key,
                                                   int threads) {
  auto detectors = Detectors::build(policy.detectors);
  if (!detectors) return fail(policy.source + ": " + detectors.error().message);
  auto shared_policy = std::make_shared<const Policy>(policy);
  std::shared_ptr<const Detectors> shared_detectors(std::move(*detectors));
  if (threads > 1) {
    try {
      return std::unique_ptr<Scrubber>(
          new ParallelEngine(shared_policy, key, shared_detectors, threads));
    } catch (const std::system_error& e) {
      return fail("cannot start " + std::to_string(threads - 1) + " scrub threads: " + e.what());
    }
  }
  return std::unique_ptr<Scrubber>(new Engine(shared_policy, key, shared_detectors));
}

}  // namespace twin::scrubber
