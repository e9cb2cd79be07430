#pragma once
// A scrub policy: which detectors run, what each kind of personal data becomes, and rules by
// place (header, query parameter, path segment, cookie, JSON key path, form field, address).
// Read from YAML (docs/scrub.md documents the format; examples/policies/default.yaml is the
// secure default, compiled into the binary so that it is there without the source tree).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twin/scrubber/detect.h"
#include "twin/scrubber/kind.h"
#include "twin/scrubber/transform.h"
#include "twin/traffic/result.h"

namespace twin::scrubber {

/// Where in an exchange a value sits.
enum class Location : uint8_t {
  kHeader = 0,  // a header value; the pattern matches the header name
  kQuery,       // a query parameter value; the pattern matches the parameter name
  kPath,        // a path segment; the pattern matches the segment's index ("0", "1", …) or "*"
  kCookie,      // a Cookie or Set-Cookie value; the pattern matches the cookie name
  kJson,        // a JSON value in a body; the pattern matches its key path ("user.email",
                // "items[].sku", "**.password")
  kForm,        // a urlencoded or multipart form field; the pattern matches its name
  kText,        // a body that is not JSON or a form; the pattern is ignored ("*")
  kAddress,     // the client or server address; the pattern is "client" or "server"
  kXml,         // an XML element's text or attribute value in a body; the pattern matches its
                // element path ("Envelope.Body.GetCustomer.ssn", "**.ssn"; an attribute is a
                // last segment: "user.email")
  kCsv,         // a CSV or TSV field after the header row; the pattern matches its column's
                // name from the header row
  kYaml,        // a YAML scalar in a body; the pattern matches its key path as for JSON
                // ("spec.containers[].env[].value", "**.password")
  kProtobuf,    // a length-delimited field of a Protocol Buffers message (gRPC, x-protobuf);
                // the pattern matches its field numbers from the top ("1.3", "**.4"), or with
                // a schema its names as for JSON ("user.addresses[].street")
  kThrift,      // a string or number of an Apache Thrift body; the pattern matches its field
                // ids from the top ("1.2[].3", "**.3"; a map's keys "N[].1", values "N[].2")
};
inline constexpr size_t kLocationCount = static_cast<size_t>(Location::kThrift) + 1;
std::string_view to_string(Location location);

enum class Side : uint8_t { kBoth = 0, kRequest, kResponse };

/// One place pattern: "[request.|response.]LOCATION:GLOB". Globs: '*' matches within one
/// segment (not '.'), '**' matches any run of segments, '?' one character. Header, query,
/// cookie and form names match case-insensitively.
struct Selector {
  Side side = Side::kBoth;
  Location location = Location::kHeader;
  std::string pattern;
};
/// Parses a selector; nullopt when it is not one.
std::optional<Selector> parse_selector(std::string_view text);
/// Glob matching as described above (`fold` for case-insensitive names).
bool glob_match(std::string_view pattern, std::string_view text, bool fold);

/// A rule by place: values at any of `where` get `action` (first matching rule wins). With
/// `kind`, the rule applies only to values detected or named as that kind.
struct Rule {
  std::string name;
  std::vector<Selector> where;
  std::optional<Kind> kind;
  ActionParams action;
  int line = 0;  // where it was defined, for messages
};

struct Policy {
  std::string source;  // file name (or "built-in default policy") for messages

  /// Content detectors, their thresholds, policy regexes (custom) and allowlisted values.
  DetectorOptions detectors;
  /// Names of the policy regexes, parallel to detectors.custom, and their actions.
  std::vector<std::string> custom_names;
  std::vector<ActionParams> custom_actions;

  /// What each kind becomes when found by a detector or by key name.
  std::array<ActionParams, kKindCount> by_kind{};
  /// Place rules, in order.
  std::vector<Rule> rules;
  /// Places never scrubbed (after the rules: a rule can still scrub there).
  std::vector<Selector> allow_where;

  /// The capture's client and server addresses.
  ActionParams client_address{};
  ActionParams server_address{};

  /// Built-in rules for credentials: Authorization / Proxy-Authorization (scheme kept), Cookie
  /// and Set-Cookie values (names and attributes kept), and API-key, token, secret and session
  /// headers. On by default.
  bool builtin_rules = true;
  /// Names of key-name detectors to use (dob, name, address and the kinds named by key).
  bool key_names = true;
  /// Multipart filenames: tokenized (extension kept) when true.
  bool token_filenames = true;
  /// Upper bound for a decompressed body; a bigger one is dropped and counted.
  size_t max_decoded_body = 64u << 20;
  /// Referential memory: values scrubbed anywhere are remembered (by keyed hash) so that the
  /// same value met later in a place no rule covers (a path segment, a query) is scrubbed the
  /// same way. Values shorter than memory_min_length are not remembered.
  size_t memory_values = 1u << 20;
  size_t memory_min_length = 4;
  /// The token scheme (transform.h, kTokenScheme): 3 unless the policy asks for 1 or 2, whose
  /// tokens are those of archives scrubbed before 2026-12-06 and 2026-12-07 under the same key
  /// (and which leave letters past ASCII as they are).
  int token_scheme = 3;
  /// Protocol Buffers schemas for gRPC, Connect and protobuf bodies (`protobuf_descriptors:`,
  /// FileDescriptorSets written by protoc --descriptor_set_out, paths relative to the policy
  /// file): the file names and their bytes, read when the policy is parsed. With them a
  /// message's fields are read by name.
  std::vector<std::pair<std::string, std::string>> protobuf_descriptors;
};

/// Parses a policy from YAML text. Errors: "FILE:LINE:COLUMN: message".
Result<Policy> parse_policy(std::string_view yaml, const std::string& source);
/// Reads and parses a policy file.
Result<Policy> load_policy(const std::string& path);
/// The secure default policy (examples/policies/default.yaml, compiled in).
const Policy& default_policy();
std::string_view default_policy_text();

}  // namespace twin::scrubber
