#pragma once
// Detectors: where in a piece of text personal data is, and what kind.
//
// Content detectors find spans in any text (a header value, a JSON string, a whole body): the
// candidates come from one Hyperscan scan of a database holding every built-in pattern and every
// policy regex; each candidate is then checked by code (Luhn for cards, mod-97 for IBANs, octet
// ranges for IPv4, entropy for secrets, base64url JSON header for JWTs) and boundaries are
// enforced (a card number inside a longer run of digits is not a card). Key-name detectors say
// what a field holds from its name ("dob", "first_name", "street", "password").

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "twin/scrubber/kind.h"
#include "twin/traffic/result.h"

namespace twin::scrubber {

/// A detected span [begin, end) of the scanned text.
struct Span {
  uint32_t begin = 0;
  uint32_t end = 0;
  Kind kind = Kind::kNone;
  uint16_t custom = 0;  // for Kind::kCustom: the index of the policy regex
  bool operator==(const Span&) const = default;
};

struct DetectorOptions {
  /// Content detectors switched on; all built-in content kinds by default (kDob, kName and
  /// kAddress are key-name kinds and are ignored here).
  std::vector<Kind> kinds = {Kind::kEmail,  Kind::kCard,   Kind::kPhone, Kind::kSsn,
                             Kind::kIban,   Kind::kIpv4,   Kind::kIpv6,  Kind::kJwt,
                             Kind::kBearer, Kind::kSecret, Kind::kUuid};
  /// Policy regexes (RE2 syntax, the subset Hyperscan also accepts is scanned by Hyperscan; the
  /// rest are confirmed with RE2). Their spans have Kind::kCustom and custom = index.
  std::vector<std::string> custom;
  /// Values never reported, compared whole and exactly (e.g. "127.0.0.1", "test@example.com").
  std::vector<std::string> allow;
  /// High-entropy secret detector: minimum length and Shannon entropy in bits per char.
  size_t secret_min_length = 20;
  double secret_min_entropy = 3.5;
};

/// Per-thread scratch space for scan(). Create one per thread with Detectors::make_scratch().
class Scratch {
 public:
  virtual ~Scratch() = default;
};
using ScratchPtr = std::unique_ptr<Scratch>;

/// The compiled detectors. Immutable after build(): scan() is thread-safe given one Scratch per
/// thread. Views passed in are only read during the call.
class Detectors {
 public:
  /// Compiles the databases. Fails with a message naming the policy regex (by index and text)
  /// that does not compile.
  static Result<std::unique_ptr<Detectors>> build(const DetectorOptions& options);
  virtual ~Detectors() = default;

  virtual ScratchPtr make_scratch() const = 0;

  /// Appends to `out` (not cleared) the spans of personal data in `text`: validated, sorted by
  /// begin, not overlapping (where candidates overlap the longer one wins, then the earlier).
  virtual void scan(std::string_view text, Scratch& scratch, std::vector<Span>& out) const = 0;

  /// True when scan() would find nothing; cheaper (no validation pass needed when the database
  /// has no match at all).
  virtual bool clean(std::string_view text, Scratch& scratch) const = 0;

  /// What a field holds judged by its name: the key itself and its parent's key, as met in JSON,
  /// forms, queries, cookies and headers ("dob", "birth_date", "user.firstName", "street",
  /// "zip", "password", "api_key", "ssn", "email", "phone"). Case, '-', '_' and camelCase are
  /// ignored. A bare "name" is a person name only under a person-like parent ("user",
  /// "customer", "contact", "billing", "shipping", "recipient", "author", …), never under
  /// "product" or "item". Kind::kNone when the name says nothing.
  virtual Kind classify_key(std::string_view key, std::string_view parent) const = 0;

  /// Whether a key names a person ("author", "owner", "assignee", "customer", "created_by",
  /// "ship_to", "next_of_kin"): a value under it that reads as a person's name (name_shaped())
  /// is one. Only asked where classify_key() said nothing.
  virtual bool person_key(std::string_view key) const = 0;
};

/// Whether `v` reads as a person's full name: two to five words split by single spaces, the first
/// and last starting with a capital letter (or a non-ASCII letter), the words made of letters
/// (any non-ASCII byte counts as one), apostrophes, hyphens and dots (initials), the middle ones
/// may be lower-case particles ("van", "de", "bin"); at most 64 bytes. "Maria Gonzalez",
/// "Jean-Luc O'Brien", "Ludwig van Beethoven", "J. R. Smith" are; "u_123", "admin",
/// "Express", "team-payments" are not.
bool name_shaped(std::string_view v);

}  // namespace twin::scrubber
