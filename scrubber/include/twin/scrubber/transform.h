#pragma once
// The shape-keeping transforms: what a detected value becomes.
//
// - token: a keyed deterministic token. Under one key the same input always gives the same
//   output, across requests, sessions and runs, so joins and cardinality survive. Length,
//   character classes and separators are kept: digits stay digits, ASCII letters keep their
//   case, every other byte (`@ . - _ + :` / spaces, non-ASCII) stays where it was. A value
//   that looks like an id (it has letters and either digits too or at least 8 letters) and whose
//   letters are all hex (a-f / A-F, as in ids and hashes) keeps them within a-f / A-F; an
//   id-looking value whose letters are not all hex never becomes all hex, so the two sets never
//   trade values. Where the value's domain (the product of its class sizes) is at most 2^64 the
//   token is a keyed permutation of that domain (a ten-round Feistel network with SipHash-2-4
//   rounds, cycle walking), so two different inputs of one shape never collide; above 2^64 it is
//   a keyed PRF, whose collisions are negligible. The shape (class pattern, separators, length)
//   is part of the tweak, so different shapes map independently. Kind-aware variants: a card
//   keeps its length, first digit and separators and stays Luhn-valid (the digits between are
//   permuted, so valid cards of one length and first digit never collide, and the grouping does
//   not change the digits); a phone number keeps '+' and separators and its digits map as one
//   run whatever the grouping; an email stays a valid email (local part and each domain label
//   tokenized, top-level domain kept); an IPv4 or IPv6 address becomes a valid address of the
//   same family, in dotted-quad or RFC 5952 form, by prefix-preserving anonymisation
//   (Crypto-PAn: two addresses sharing an n-bit prefix still share exactly n bits; an IPv6 zone
//   is kept); an IBAN keeps its country and spaces and stays mod-97-valid; a UUID keeps its
//   version and variant nibbles and maps hex to hex whatever its case; a JWT keeps its header
//   segment. A value that does not have its kind's form gets the plain token.
// - ff1: FF1 encryption (reversible with the key) of the value's alphanumerics, separators kept.
// - noise: a keyed deterministic relative perturbation of a number, keeping its format (integer
//   stays integer, decimals keep their count, sign, a '+', leading zeros and an exponent kept);
//   the sign never flips and a non-zero value never becomes zero (a relative noise of 1 or more
//   is taken as 0.999).
// - bucket: a number rounded down to a multiple of the bucket width, in the same format.
// - shift_date: a date or timestamp moved by whole days, in the same format; the shift is keyed
//   by an entity, so every date of one entity moves by the same amount. Recognised: YYYY-MM-DD
//   (also with '/' or '.'), YYYYMMDD, MM/DD/YYYY (DD/MM/YYYY when only that reads as a date),
//   DD.MM.YYYY and DD-MM-YYYY, each optionally followed by a time ('T' or a space, then
//   HH:MM[:SS[.frac]] or HHMM[SS[.frac]], then Z or an offset), which is kept as it is.
//   Unpadded days and months stay unpadded; a padded date keeps its length.
// - mask: characters (UTF-8 code points) replaced by a mask character, optionally keeping the
//   first / last few; a value too short to keep them and still hide something is masked whole.
// - redact: the value replaced by a fixed text.
// (drop and keep are decided by the caller and need no transform.)

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "twin/scrubber/key.h"
#include "twin/scrubber/kind.h"
#include "twin/traffic/result.h"

namespace twin::scrubber {

enum class Action : uint8_t {
  kKeep = 0,
  kToken,
  kFf1,
  kNoise,
  kBucket,
  kShiftDate,
  kMask,
  kRedact,
  kDrop,
};
/// "keep", "token", "ff1", "noise", "bucket", "shift-date", "mask", "redact", "drop".
std::string_view to_string(Action action);
std::optional<Action> parse_action(std::string_view name);

/// The parameters of one policy rule's action.
struct ActionParams {
  Action action = Action::kToken;
  double noise_relative = 0.05;  // noise: at most ±5 % of the value
  double bucket_width = 10;      // bucket
  int shift_max_days = 180;      // shift_date: shifts in [-max, +max] days, never 0
  size_t mask_keep_first = 0;    // mask
  size_t mask_keep_last = 0;
  char mask_char = '*';
  std::string redact_text = "REDACTED";  // redact
  std::string ff1_tweak;                 // ff1
  /// shift_date: where the entity id is found in the same request ("header:x-user-id",
  /// "query:user", "cookie:uid"); the engine resolves it and passes it to apply(). Empty: one
  /// shift for every date under the key, which keeps every interval between dates.
  std::string entity;
};

/// What a transform did.
enum class Outcome : uint8_t {
  kDone = 0,  // `out` holds the transformed value
  kFallback,  // the action could not apply (FF1 domain too small, not a number, not a
              // date); `out` holds a token instead, so nothing leaks
};

/// All transforms under one key. Construction derives the subkeys and expands AES keys once;
/// after that every call is a function of its arguments (a cache of e-mail domain labels'
/// tokens changes how fast, not what). Not thread-safe (it owns cipher contexts and that
/// cache): one per thread; two Transformers from equal keys give identical outputs.
/// The token schemes (prp.h): 1, a bit-level Feistel network with cycle walking, SipHash-2-4
/// rounds; 2, a Feistel network over the value's mixed radix, SipHash-1-3 rounds, no cycle
/// walking (a quarter fewer instructions per token); 3, the default since 2026-12-07, scheme 2
/// with letters past ASCII tokenized too (Cyrillic, Greek, Latin-1 and Extended-A, Hebrew,
/// Arabic, Devanagari, Thai, kana, CJK ideographs, Hangul: each to a letter of its script; under
/// 1 and 2 they stayed as they were, so "Иван Петров" was not scrubbed at all), and the
/// kind-aware tokens' forms checked before a part is kept (an e-mail's TLD, a JWT's header, a
/// phone's ASCII). Values without bytes past ASCII get the same tokens under 2 and 3. Values
/// whose shape's domain passes 64 bits take a keyed keystream instead, SipHash-2-4 under scheme
/// 1, SipHash-1-3 under 2 and 3. The same key gives different tokens under different schemes:
/// the scheme is in the archive's metadata (token_scheme), and a policy can ask for 1 or 2 to
/// match archives scrubbed before (at the cost of what those schemes left in place).
inline constexpr int kTokenScheme = 3;

/// What a token keeps of the character at s[i] (scheme 3), `length` its bytes: 'd' a digit,
/// 'U' and 'l' an ASCII letter by case, a value of its own for a letter of each script that
/// tokens keep letters within (transform.cc), else the byte itself. A value and its token have
/// the same sequence of these, character by character (the report's shape check).
char shape_class(std::string_view s, size_t i, size_t& length);

class Transformer {
 public:
  explicit Transformer(const Key& key, int token_scheme = kTokenScheme);
  ~Transformer();
  Transformer(Transformer&&) noexcept;
  Transformer& operator=(Transformer&&) noexcept;

  /// Applies `params` to `value`, which the detectors (or a key-name rule) judged to be `kind`
  /// (kNone when a rule chose the value by its place only). `entity` keys shift_date (the same
  /// entity, the same shift); empty means one shift for the whole key. Appends to `out` (not
  /// cleared). kKeep appends the value, kDrop appends nothing. `value` must not point into `out`.
  Outcome apply(std::string_view value, Kind kind, const ActionParams& params,
                std::string_view entity, std::string& out);

  /// The plain shape-keeping token of `value` for `kind` (what apply does for Action::kToken).
  /// `value` must not point into `out`.
  void token(std::string_view value, Kind kind, std::string& out);

  /// FF1 of the alphanumerics of `value` (radix 10 when they are all digits, else 36 when the
  /// letters are all one case, else 62), everything else kept in place. Fails when there are too
  /// few of them for FF1's minimum domain (10^6). The ciphertext falls in the same radix class
  /// as the plaintext (cycle walking: at least one letter for 36, both cases for 62, case kept),
  /// so ff1_decrypt, reading the radix from it, inverts ff1_encrypt under the same tweak.
  Result<std::string> ff1_encrypt(std::string_view value, std::string_view tweak);
  Result<std::string> ff1_decrypt(std::string_view value, std::string_view tweak);

  /// The day shift an entity gets under this key and `max_days`: in [-max, max], never 0.
  int date_shift_days(std::string_view entity, int max_days);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Validation helpers shared by detectors, transforms and tests.
bool luhn_valid(std::string_view digits);  // only digits; false when empty
/// Digit that, appended to `digits`, makes the whole Luhn-valid.
char luhn_check_digit(std::string_view digits);
bool iban_valid(std::string_view iban);  // no spaces; 2 letters, 2 digits, up to 30 alnum

}  // namespace twin::scrubber
