#pragma once
// The kinds of personal data the scrubber knows.

#include <cstdint>
#include <optional>
#include <string_view>

namespace twin::scrubber {

/// Values are used as array indices (kKindCount) and in reports by name: append only.
enum class Kind : uint8_t {
  kNone = 0,  // not personal data (or not known to be)
  kEmail,     // local@domain.tld
  kCard,      // payment card number, 12–19 digits, Luhn-valid, optional space/dash groups
  kPhone,     // E.164 (+CC…) and common national formats
  kSsn,       // US social security number, ddd-dd-dddd (and 9 digits where a key says so)
  kIban,      // IBAN, mod-97-valid, with or without spaces
  kIpv4,      // dotted quad
  kIpv6,      // RFC 4291 text forms, including embedded IPv4
  kJwt,       // three base64url segments, the first decoding to a JSON object
  kBearer,    // credentials after an auth scheme, API keys and tokens named as such
  kSecret,    // high-entropy strings (random keys, session ids)
  kUuid,      // 8-4-4-4-12 hex
  kDob,       // date of birth (by key name)
  kName,      // person name (by key name)
  kAddress,   // postal address parts (by key name)
  kGeo,       // geographic coordinates: latitude, longitude (by key name)
  kCustom,    // a policy-defined regular expression
};
inline constexpr size_t kKindCount = static_cast<size_t>(Kind::kCustom) + 1;

/// "email", "card", "phone", "ssn", "iban", "ipv4", "ipv6", "jwt", "bearer", "secret", "uuid",
/// "dob", "name", "address", "geo", "custom", "none".
std::string_view to_string(Kind kind);
std::optional<Kind> parse_kind(std::string_view name);

}  // namespace twin::scrubber
