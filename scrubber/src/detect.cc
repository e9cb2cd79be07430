// Detectors: where personal data sits in a piece of text, and which kind it is.
//
// Two scanners find candidates, code confirms them, one pass resolves overlaps:
//
// - One Hyperscan block-mode database holds the built-in patterns that begin with a literal ("@"
//   and "%40" for emails, "::" for compressed IPv6, "eyJ" for JWTs, the auth schemes "Bearer ",
//   "Basic ", "Token ", "ApiKey ", the key prefixes AKIA/ASIA, ghp_/gho_/ghu_/ghs_/ghr_,
//   github_pat_, xoxb-/xoxp-/…, sk_live_/pk_live_/rk_…/…_test_, AIza) and every policy regex
//   (with HS_FLAG_SOM_LEFTMOST, so a match has a start). The built-in patterns only say where to
//   look: their validators read the value's extent from the text around the hit, so a hit's end
//   offset does not matter and one value yields one candidate however many hits it causes.
// - The formats made only of byte classes — card, phone, SSN, IBAN, IPv4, full-form IPv6, UUID
//   and high-entropy secrets — have no literal for Hyperscan's literal matcher, and each such
//   pattern adds an engine run over every byte: with them the database ran at ~0.25 GB/s on
//   typical JSON against ~1–3.6 GB/s for the literal set alone (measured while writing this, on
//   a busy 2-core box). They come instead from one SSE2 pass building 64-byte masks (digits,
//   base64 bytes, IPv6 bytes): every start of a digit run is examined as a number cluster ("+44
//   20 7946 0958", "4111-1111-1111-1111", "10.0.0.1", "DE89 3704 …"), every run of base64 bytes
//   of at least min(secret_min_length, 36) as a secret or a UUID holder, every run of 15+
//   hex/colon bytes as a full-form IPv6 address. scan() then runs at ~1.1 GB/s on product JSON
//   without personal data and ~0.75 GB/s with some, on the same box.
// - Policy regexes that Hyperscan rejects (or whose meaning differs there: non-ASCII, \p, \C)
//   are run with RE2 alone; regexes both accept are found by Hyperscan and their extent is taken
//   from RE2 anchored at Hyperscan's start, so spans follow RE2's (leftmost-first) semantics in
//   both cases. A regex that only Hyperscan accepts gets Hyperscan's leftmost-longest span.
// - Overlaps: among the specific kinds (everything but kSecret) the longer span wins, then the
//   earlier, then by kind (custom, jwt, bearer, email, iban, card, ssn, phone, uuid, ipv6, ipv4).
//   kSecret is a fallback: a secret run is cut around the specific spans inside it and only its
//   remaining pieces that are still secrets are reported. So a UUID is a uuid, a JWT a jwt.
// - clean() runs the same candidate generation and stops at the first confirmed, not
//   allow-listed candidate (Hyperscan's callback returns non-zero), without any resolution; it
//   is true exactly when scan() would report nothing.
//
// Boundaries: a value must not be glued to a word. Before a value there is the start of the
// text, a byte that is not a letter, digit or '_', or the end of an escape sequence (JSON "\n",
// "\t", "\u0022", URL "%2F", "%20" — also when the escape ends in digits that run into the
// value), so values inside JSON strings and URLs are found; ".", "-" or "+" right after a letter
// or digit glue too ("v1.2.3.4", "AB-4111…"), and "word/" glues a dotted quad ("Chrome/122.0.0.0").
// After a value there is no letter, digit or '_', and no "." or "-" followed by one
// ("1.2.3.4.5", "415-555-2671-99"; after an IPv4 address only ".digit" glues).
//
// Formats recognised:
// - email: local@domain.tld, local part [A-Za-z0-9._%+'-] (plus-addressing, "o'brien"; a leading
//   quote is left out), subdomains, TLD of 2+ letters or xn--; letters past ASCII of any script
//   (utf8_word_char: not punctuation, spaces or symbols) in the local part and the labels
//   (RFC 6531, IDNs in Unicode), raw or percent-encoded; also with '@' percent-encoded as %40.
//   Not: quoted local parts, IP literals, addresses without a dot in the domain (user@localhost).
// - card: 12–19 digits, Luhn-valid, issuer prefix known for the length (see card_prefix_ok),
//   contiguous or in groups with one consistent ' ' or '-' (4-4-4-4, 4-4-4-4-3, Amex 4-6-5,
//   Diners 4-6-4); not one digit repeated, not mostly zeros.
// - phone: '+' (or %2B) then 8–15 digits, contiguous or grouped with ' ' '-' '.' and one
//   parenthesised group; NANP national (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671,
//   1-415-555-2671 with area and exchange starting 2–9; national numbers with a trunk 0 and 9–12
//   digits in 2–5 groups with one consistent separator (020 7946 0958, 07700 900123,
//   030/1234567, (030) 1234567, 01 23 45 67 89, 06.12.34.56.78), but not the ZIP+4 shape
//   0dddd-dddd; the 00 international prefix as '+', in groups (0049 30 901820); a country
//   code in parentheses, "(+44) 20 7946 0958". Not: bare digit
//   runs (4155552671, 02079460958, 00493090182000), parentheses or spaces percent-encoded.
// - ssn: ddd-dd-dddd, area not 000, 666 or 9xx, group not 00, serial not 0000. Not: 9 bare
//   digits or spaces (a key name says those, see classify_key).
// - iban: registered country, its exact length, mod-97, compact or in groups of 4 separated by
//   single spaces, all upper case or all lower case (a lower-case one in groups was cut in two:
//   its tail read as a phone number, its head kept).
// - ipv4: dotted quad, octets 0–255 without leading zeros; a CIDR suffix or port may follow.
// - ipv6: any text form inet_pton accepts (full, "::" compressed, embedded IPv4), at least two
//   colons; not "::" alone; zone ids are left out of the span.
// - jwt: eyJ… header segment decoding to a JSON object, payload decoding to '{', signature
//   (possibly empty); five-segment JWE too. Standard base64 ('+', '/', '=' padding) too; a
//   signature runs on through '/' or '+' only to a JWS signature's length (jwt_at()).
// - bearer: the credential after Bearer/Basic/Token/ApiKey/Api-Key (any case, then space, "+" or
//   %20; Basic must decode to user:password; others need a digit and a letter or must look
//   random); AWS AKIA/ASIA + 16, GitHub gh?_ + 36+, github_pat_, Slack xox?-, Stripe
//   sk|pk|rk_live|test_, Google AIza + 35.
// - secret: a run of [A-Za-z0-9+/_-] (with up to two '=' of padding) of at least
//   secret_min_length (8 at the least), holding letters and digits, whose entropy (plug-in
//   estimate with the Miller–Madow correction, since short strings under-estimate it) reaches
//   secret_min_entropy — for runs of hex digits alone min(secret_min_entropy, 3.0), as hex
//   carries 4 bits at most — and that does not read as an identifier: few switches between lower,
//   upper and digits (under 12 % of neighbours: "payment_intent_succeeded_v3"); three or more
//   '-'/'_' separators with half the bytes in tokens that are numbers or one-case words
//   ("SKU-12345-XL-RED-2024"); mixed case with 60 % of the letters in pronounceable camelCase
//   words of 4+ letters ("getUserAccountSettings2024"). Runs starting with "--" (multipart
//   delimiters) are not secrets; runs that start or end with '/' or have a pronounceable
//   lowercase segment next to a '/' are split at '/' ("/reset/<token>/confirm"). Hex strings of
//   32/40/64 digits (session ids, digests, trace ids) are secrets; 32 hex digits without dashes
//   are a secret, not a uuid. Tuned on simulated random strings: random base64/hex/alnum of 32+
//   bytes passes > 99.5 %.
// - uuid: 8-4-4-4-12 hex digits, any case.
//
// Deliberately not detected (look-alikes): quantities and prices (12, 1,299.00, $4,999.99,
// 0.0001), SKUs and order numbers (SKU-12345-XL, AB-1234-567, 1000234, ORD-1000234), ISO
// timestamps and dates (2024-03-07T12:34:56.789Z, 07.03.2024), epoch seconds and milliseconds
// (their first digit 1 is no card prefix, and bare digit runs are no phone), version strings
// (1.2.3, v2.10.0-rc1, 10.0.19045.3570, 1.2.3.4.5, Chrome/122.0.0.0 — an IPv4-looking version
// right after "Product/"), short hex and commit ids (< secret_min_length), HTTP header tokens,
// MIME types, CSS colours, file paths, English text, lat/long pairs, ZIP codes (94107,
// 94107-1234: a ZIP is only address data under a key name), ISBNs, snake/kebab/camelCase
// identifiers even with digits, MAC addresses, times (12:34:56), retina asset names
// (logo@2x.png). Known misses, by choice: an IPv4 address right after "word/" in a path
// ("/hosts/10.0.0.1"), secrets shorter than secret_min_length or without a digit, values split
// by percent-encoding inside them (other than %40 and %2B), IBANs in mixed case.
//
// Key names (classify_key): the key is split into lowercase words (case changes, '-', '_', '.',
// digits stay with their word) and matched from the longest suffix of words down ("customer
// first name" → "firstname"); one all-lowercase word is also matched by its ending
// ("customeremail"). Decisions: username, displayname and nickname are names (they usually
// are, or hold, one); "name" is a name only after a person-like word or under a person-like
// parent (user, customer, contact, account, profile, billing, shipping, recipient, sender,
// owner, author, patient, employee, member, buyer, payer, cardholder, holder, client, guest,
// …; plurals too), never under product, item, sku, category; street, address (not after ip,
// mac, remote, server, …), address lines, city, town, zip, postcode, house number are address
// parts, state, region and country are not (too coarse); "line1" only under an address-like
// parent; cvv/cvc/security code are card data; tax id, national id and ITIN count as ssn;
// bank account numbers as iban; passwords, secrets, tokens, API keys, session ids, auth headers
// and OTPs as bearer; "number" is a card under a card parent and a phone under a phone parent.
// The same in Spanish, German, French, Italian, Portuguese and Dutch, Latin-1 letters folded to
// ASCII ("teléfono", "Straße"), with their order too: a head word followed only by person-like
// words and articles ("nombre_cliente", "nom_du_client"; not "nombre_producto").
// No allocation: keys are split into a stack buffer (their last 96 bytes).
//
// Texts longer than 4 GiB - 1 are scanned in their first 4 GiB - 1 bytes (spans are 32-bit).

#include "twin/scrubber/detect.h"

#include <arpa/inet.h>
#include <hs/hs.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "detect_check.h"

namespace twin::scrubber {
namespace {

using detect_detail::after_escape;
using detect_detail::base64_decode;
using detect_detail::builtin_pair_in;
using detect_detail::card_digits_ok;
using detect_detail::escape_tail;
using detect_detail::iban_length;
using detect_detail::iban_mod97_ok;
using detect_detail::is_alnum;
using detect_detail::is_alpha;
using detect_detail::is_b64url_char;
using detect_detail::is_digit;
using detect_detail::is_hex;
using detect_detail::is_lower;
using detect_detail::is_secret_char;
using detect_detail::is_upper;
using detect_detail::to_lower;
using detect_detail::utf8_word_char;
using detect_detail::utf8_word_char_before;

constexpr size_t kMaxText = std::numeric_limits<uint32_t>::max() - 1;
constexpr unsigned kCustomBase = 1u << 20;  // Hyperscan id of policy regex i: kCustomBase + i
constexpr uint32_t kNoFrom = std::numeric_limits<uint32_t>::max();
constexpr size_t kV6MinRun = 15;  // "0:0:0:0:0:0:0:0", the shortest full-form address

// ---------------------------------------------------------------------------------------------
// Built-in Hyperscan patterns: each begins with a literal and only says where to look.

enum class Hook : uint8_t {
  kEmailAt,        // '@' at to - 2
  kEmailPct40,     // "%40" at to - 4
  kEmailPct40Pct,  // "%40" at to - 6, a percent-escape of a byte past ASCII after it
  kIpv6,           // "::" at to - 2
  kJwt,            // "eyJ" at to - 3
  kScheme,         // credential starts at to
  kAws,            // AKIA/ASIA at to - 5
  kGithub,         // gh?_ at to - 5
  kGithubPat,      // github_pat_ at to - 12
  kSlack,          // xox?- at to - 6
  kStripe,         // sk_live_ … at to - 9
  kGoogle,         // AIza at to - 5
};

struct Builtin {
  const char* regex;
  Hook hook;
  Kind kind;
};

constexpr Builtin kBuiltins[] = {
    {"@[A-Za-z0-9\\x80-\\xff]", Hook::kEmailAt, Kind::kEmail},
    {"%40[A-Za-z0-9]", Hook::kEmailPct40, Kind::kEmail},
    {"%40%[C-Fc-f]", Hook::kEmailPct40Pct, Kind::kEmail},
    {"::", Hook::kIpv6, Kind::kIpv6},
    {"eyJ", Hook::kJwt, Kind::kJwt},
    {"(?i)(?:bearer|basic|token|api-?key)(?: |%20|\\+)", Hook::kScheme, Kind::kBearer},
    {"A[KS]IA[0-9A-Z]", Hook::kAws, Kind::kBearer},
    {"gh[pousr]_[A-Za-z0-9]", Hook::kGithub, Kind::kBearer},
    {"github_pat_[A-Za-z0-9]", Hook::kGithubPat, Kind::kBearer},
    {"xox[bpars]-[A-Za-z0-9]", Hook::kSlack, Kind::kBearer},
    {"[spr]k_(?:live|test)_[A-Za-z0-9]", Hook::kStripe, Kind::kBearer},
    {"AIza[0-9A-Za-z_\\-]", Hook::kGoogle, Kind::kBearer},
};

// Every match of a built-in pattern holds one of the byte pairs of detect_detail::BuiltinPairs
// (detect_check.h): a short text without any cannot match the built-ins, and when no policy
// regex is in the database Hyperscan is not called for it: its fixed cost per call (about 550
// instructions) is most of a short value's scan. Keep in step with kBuiltins.
// Texts up to this long are looked at for the pairs; longer ones go to Hyperscan, whose
// literal matcher reads them faster than the lookup would.
constexpr size_t kPairCheckMax = 96;

// Ties in overlap resolution (same length, same start): higher wins.
int priority(Kind k) {
  switch (k) {
    case Kind::kCustom:
      return 12;
    case Kind::kJwt:
      return 11;
    case Kind::kBearer:
      return 10;
    case Kind::kEmail:
      return 9;
    case Kind::kIban:
      return 8;
    case Kind::kCard:
      return 7;
    case Kind::kSsn:
      return 6;
    case Kind::kPhone:
      return 5;
    case Kind::kUuid:
      return 4;
    case Kind::kIpv6:
      return 3;
    case Kind::kIpv4:
      return 2;
    default:
      return 1;
  }
}

// ---------------------------------------------------------------------------------------------
// RAII for Hyperscan handles.

struct HsDatabaseFree {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
struct HsScratchFree {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};
struct HsCompileErrorFree {
  void operator()(hs_compile_error_t* e) const { hs_free_compile_error(e); }
};
using HsDatabase = std::unique_ptr<hs_database_t, HsDatabaseFree>;
using HsScratch = std::unique_ptr<hs_scratch_t, HsScratchFree>;
using HsCompileError = std::unique_ptr<hs_compile_error_t, HsCompileErrorFree>;

// ---------------------------------------------------------------------------------------------
// Per-thread state.

struct CustomState {
  uint32_t last_from = kNoFrom;  // RE2-confirmed regexes: the last start examined
  bool pending = false;          // Hyperscan-only regexes: the open leftmost-longest match
  uint32_t pending_from = 0;
  uint32_t pending_to = 0;
};

// Span::custom of a secret whose piece resolve() works out only when needed (word_run_at).
constexpr uint16_t kDeferred = 1;

class ScratchImpl final : public Scratch {
 public:
  HsScratch hs;
  std::vector<Span> found;    // confirmed candidates of the specific kinds
  std::vector<Span> secrets;  // confirmed secret pieces, by begin
  std::vector<Span> accepted;
  std::vector<Span> group;
  std::vector<Span> kept_secrets;
  uint32_t ipv6_until = 0;  // per pass: "::" hits before this offset are done
  std::vector<CustomState> custom;
  std::string decoded;
};

// ---------------------------------------------------------------------------------------------
// Secrets: does a run of base64 bytes read as random?

int char_class(char c) {
  if (is_digit(c)) return 0;
  if (is_lower(c)) return 1;
  if (is_upper(c)) return 2;
  return -1;
}

bool is_vowel(char c) {
  c = to_lower(c);
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

// A camelCase word segment that could be pronounced: 4+ letters, at least one vowel in four, no
// four consonants in a row. Random strings rarely produce these; identifiers are made of them.
bool pronounceable(std::string_view w) {
  if (w.size() < 4) return false;
  size_t vowels = 0;
  int run = 0;
  for (char c : w) {
    if (is_vowel(c)) {
      ++vowels;
      run = 0;
    } else if (++run >= 4) {
      return false;
    }
  }
  return vowels * 4 >= w.size();
}

// Share of letters in pronounceable segments ([A-Z]?[a-z]+; the capitals of an acronym before a
// word, as in "HTTPServer", count as letters outside words).
double word_fraction(std::string_view s) {
  size_t letters = 0;
  size_t in_words = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (!is_alpha(s[i])) {
      ++i;
      continue;
    }
    if (is_upper(s[i])) {
      size_t j = i;
      while (j < s.size() && is_upper(s[j])) ++j;
      if (j == s.size() || !is_lower(s[j])) {
        letters += j - i;
        i = j;
        continue;
      }
      letters += j - 1 - i;
      i = j - 1;
    }
    const size_t b = i;
    ++i;
    while (i < s.size() && is_lower(s[i])) ++i;
    letters += i - b;
    if (pronounceable(s.substr(b, i - b))) in_words += i - b;
  }
  return letters == 0 ? 0 : static_cast<double>(in_words) / static_cast<double>(letters);
}

// Digits only, or letters all lowercase, all uppercase or Capitalised.
bool word_or_number(std::string_view tok) {
  if (tok.empty()) return false;
  bool digits = true;
  bool lower = true;
  bool upper = true;
  for (size_t i = 0; i < tok.size(); ++i) {
    const char c = tok[i];
    digits = digits && is_digit(c);
    upper = upper && is_upper(c);
    lower = lower && (is_lower(c) || (i == 0 && is_upper(c)));
  }
  return digits || lower || upper;
}

// Entropy per byte, plug-in estimate plus the Miller–Madow correction (K - 1) / (2 n ln 2).
// H = -sum (k/n) log2(k/n) = log2 n - (1/n) sum k log2 k: one log2 per call, the k log2 k of
// small counts from a table (the per-symbol log2 calls were most of the detectors' entropy cost).
struct KLog2K {
  std::array<double, 256> v{};
  KLog2K() {
    for (size_t k = 1; k < v.size(); ++k) v[k] = static_cast<double>(k) * std::log2(double(k));
  }
};
const KLog2K kKLog2K;

double estimated_entropy(std::string_view s) {
  std::array<uint32_t, 128> counts{};
  // Which bytes occur, so that the sum visits those only (a value has a few dozen distinct
  // bytes; the 128 counts were most of the work), in the same ascending order as before: the
  // floating-point sum, and so every decision on it, is unchanged.
  uint64_t present[2] = {0, 0};
  for (char c : s) {
    const unsigned b = static_cast<unsigned char>(c) & 0x7F;
    ++counts[b];
    present[b >> 6] |= uint64_t{1} << (b & 63);
  }
  double sum = 0;
  size_t distinct = 0;
  const double n = static_cast<double>(s.size());
  for (unsigned half = 0; half < 2; ++half) {
    for (uint64_t bits = present[half]; bits != 0; bits &= bits - 1) {
      const uint32_t k = counts[half * 64 + static_cast<unsigned>(__builtin_ctzll(bits))];
      ++distinct;
      sum += k < kKLog2K.v.size() ? kKLog2K.v[k] : k * std::log2(double(k));
    }
  }
  const double h = std::log2(n) - sum / n;
  return h + static_cast<double>(distinct - 1) / (2 * n * 0.6931471805599453);
}

// Byte flags for looks_random; the separator flag is the top one (counted by a shift).
constexpr uint8_t kRfDigit = 1, kRfUpper = 2, kRfLower = 4, kRfNotHex = 8, kRfSep = 16;
struct RandomFlags {
  std::array<uint8_t, 256> f{};
  constexpr RandomFlags() {
    for (int b = 0; b < 256; ++b) {
      const char c = static_cast<char>(b);
      uint8_t v = 0;
      if (is_digit(c)) v |= kRfDigit;
      if (is_upper(c)) v |= kRfUpper;
      if (is_lower(c)) v |= kRfLower;
      if (!is_hex(c)) v |= kRfNotHex;
      if (c == '-' || c == '_') v |= kRfSep;
      f[static_cast<size_t>(b)] = v;
    }
  }
};
constexpr RandomFlags kRandomFlags;

// `core` (no padding) reads as a random secret: see the header comment.
bool looks_random(std::string_view core, size_t min_length, double min_entropy) {
  if (core.size() < min_length) return false;
  // One table lookup per byte instead of six tests.
  unsigned any = 0;
  size_t seps = 0;
  for (char c : core) {
    const uint8_t f = kRandomFlags.f[static_cast<uint8_t>(c)];
    any |= f;
    seps += f >> 4;
  }
  const bool digit = any & kRfDigit;
  const bool upper = any & kRfUpper;
  const bool lower = any & kRfLower;
  const bool letter = upper || lower;
  const bool hex_only = !(any & kRfNotHex);
  if (!digit || !letter) return false;
  if (seps >= 3 && !hex_only) {
    // identifier-like when most bytes sit in '-'/'_' tokens that are words or numbers: digits
    // only, or letters in one case ("production", "SKU", "Winter"), not "mKNdRIAlxVBe"
    size_t pure = 0;
    size_t total = 0;
    size_t i = 0;
    while (i < core.size()) {
      while (i < core.size() && (core[i] == '-' || core[i] == '_')) ++i;
      const size_t b = i;
      while (i < core.size() && core[i] != '-' && core[i] != '_') ++i;
      const std::string_view tok = core.substr(b, i - b);
      total += tok.size();
      if (word_or_number(tok)) pure += tok.size();
    }
    if (pure * 2 >= total) return false;
  }
  size_t switches = 0;
  size_t pairs = 0;
  int prev = -1;
  for (char c : core) {
    const int k = char_class(c);
    if (k < 0) continue;
    if (prev >= 0) {
      ++pairs;
      switches += k != prev;
    }
    prev = k;
  }
  if (pairs == 0 || static_cast<double>(switches) < 0.12 * static_cast<double>(pairs)) {
    return false;
  }
  // The entropy estimate last of the tests that can say no: it is the dearest (a count per byte,
  // then a sum over the distinct bytes), and most runs that are no secret fail another first.
  const double threshold = hex_only ? std::min(min_entropy, 3.0) : min_entropy;
  if (estimated_entropy(core) < threshold) return false;
  if (hex_only) return true;
  if (upper && lower && word_fraction(core) >= 0.6) return false;
  return true;
}

// A '/'-separated piece that reads like a path segment: a pronounceable lowercase word. Random
// base64 rarely has one next to a '/'.
bool path_word(std::string_view p) {
  if (p.size() > 16) return false;
  for (char c : p) {
    if (!is_lower(c)) return false;
  }
  return pronounceable(p);
}

// ---------------------------------------------------------------------------------------------
// Key names.

enum class Rule : uint8_t {
  kPlain,     // the kind, always
  kName,      // "name": a person's only after a person-like word or under a person-like parent
  kAddress,   // "address": not after ip/mac/remote/…; "email address" is an email
  kLine,      // "line1": only in an address
  kNumber,    // "number"/"no": card or phone by the word before or the parent
  kNamePart,  // "first"/"last"/…: under a parent "name"
  kLicense,   // "license": a driver's licence after "driver"/"drivers"/"driving"
  kLogin,     // "login": a login name alone or after a person-like word ("last_login" is a time)
};

struct KeyEntry {
  std::string_view word;
  Kind kind;
  Rule rule;
  bool suffix;  // also matched as the end of a single lowercase word ("customeremail")
};

constexpr KeyEntry kKeyEntries[] = {
    // date of birth
    {"dob", Kind::kDob, Rule::kPlain, false},
    {"dateofbirth", Kind::kDob, Rule::kPlain, true},
    {"birthdate", Kind::kDob, Rule::kPlain, true},
    {"birthday", Kind::kDob, Rule::kPlain, true},
    {"bday", Kind::kDob, Rule::kPlain, false},
    {"born", Kind::kDob, Rule::kPlain, false},    // "born", "date_born"
    {"bornon", Kind::kDob, Rule::kPlain, false},  // "born_on", "bornOn"
    // person names (username / displayname / nickname: they usually are, or contain, one)
    {"name", Kind::kName, Rule::kName, true},
    {"firstname", Kind::kName, Rule::kPlain, true},
    {"lastname", Kind::kName, Rule::kPlain, true},
    {"fullname", Kind::kName, Rule::kPlain, true},
    {"givenname", Kind::kName, Rule::kPlain, true},
    {"familyname", Kind::kName, Rule::kPlain, true},
    {"middlename", Kind::kName, Rule::kPlain, true},
    {"maidenname", Kind::kName, Rule::kPlain, true},
    {"surname", Kind::kName, Rule::kPlain, true},
    {"forename", Kind::kName, Rule::kPlain, true},
    {"displayname", Kind::kName, Rule::kPlain, true},
    {"username", Kind::kName, Rule::kPlain, true},
    {"nickname", Kind::kName, Rule::kPlain, true},
    // login names and social handles: a person's, though rarely shaped like a name
    {"login", Kind::kName, Rule::kLogin, false},
    {"userlogin", Kind::kName, Rule::kPlain, true},
    {"loginname", Kind::kName, Rule::kPlain, true},
    {"loginid", Kind::kName, Rule::kPlain, true},
    {"loginhint", Kind::kName, Rule::kPlain, true},  // OpenID Connect: the user's login or e-mail
    {"screenname", Kind::kName, Rule::kPlain, true},
    {"userprincipalname", Kind::kName, Rule::kPlain, true},
    {"upn", Kind::kName, Rule::kPlain, false},
    {"samaccountname", Kind::kName, Rule::kPlain, true},
    {"twitter", Kind::kName, Rule::kPlain, false},
    {"twitterhandle", Kind::kName, Rule::kPlain, true},
    {"instagram", Kind::kName, Rule::kPlain, false},
    {"instagramhandle", Kind::kName, Rule::kPlain, true},
    {"linkedin", Kind::kName, Rule::kPlain, false},
    {"github", Kind::kName, Rule::kPlain, false},
    {"githubhandle", Kind::kName, Rule::kPlain, true},
    {"facebook", Kind::kName, Rule::kPlain, false},
    {"tiktok", Kind::kName, Rule::kPlain, false},
    {"slackhandle", Kind::kName, Rule::kPlain, true},
    {"fname", Kind::kName, Rule::kPlain, false},
    {"lname", Kind::kName, Rule::kPlain, false},
    {"cardholder", Kind::kName, Rule::kPlain, false},
    {"nameoncard", Kind::kName, Rule::kPlain, true},
    {"accountholder", Kind::kName, Rule::kPlain, false},
    {"first", Kind::kName, Rule::kNamePart, false},
    {"last", Kind::kName, Rule::kNamePart, false},
    {"given", Kind::kName, Rule::kNamePart, false},
    {"family", Kind::kName, Rule::kNamePart, false},
    {"middle", Kind::kName, Rule::kNamePart, false},
    {"full", Kind::kName, Rule::kNamePart, false},
    // postal address parts (state, region and country are not: too coarse to identify)
    {"address", Kind::kAddress, Rule::kAddress, false},
    {"addresses", Kind::kAddress, Rule::kAddress, false},
    {"addr", Kind::kAddress, Rule::kAddress, false},
    {"street", Kind::kAddress, Rule::kPlain, false},
    {"streetaddress", Kind::kAddress, Rule::kPlain, true},
    {"streetname", Kind::kAddress, Rule::kPlain, true},
    {"streetnumber", Kind::kAddress, Rule::kPlain, true},
    {"housenumber", Kind::kAddress, Rule::kPlain, true},
    {"address1", Kind::kAddress, Rule::kPlain, true},
    {"address2", Kind::kAddress, Rule::kPlain, true},
    {"address3", Kind::kAddress, Rule::kPlain, true},
    {"addressline", Kind::kAddress, Rule::kPlain, true},
    {"addressline1", Kind::kAddress, Rule::kPlain, true},
    {"addressline2", Kind::kAddress, Rule::kPlain, true},
    {"addressline3", Kind::kAddress, Rule::kPlain, true},
    {"line1", Kind::kAddress, Rule::kLine, false},
    {"line2", Kind::kAddress, Rule::kLine, false},
    {"line3", Kind::kAddress, Rule::kLine, false},
    {"city", Kind::kAddress, Rule::kPlain, false},
    {"town", Kind::kAddress, Rule::kPlain, false},
    {"postcode", Kind::kAddress, Rule::kPlain, true},
    {"postalcode", Kind::kAddress, Rule::kPlain, true},
    {"zip", Kind::kAddress, Rule::kPlain, false},
    {"zipcode", Kind::kAddress, Rule::kPlain, true},
    {"apartment", Kind::kAddress, Rule::kPlain, false},
    {"pobox", Kind::kAddress, Rule::kPlain, true},
    // geographic coordinates (GeoJSON's "coordinates" are [longitude, latitude])
    {"latitude", Kind::kGeo, Rule::kPlain, true},
    {"longitude", Kind::kGeo, Rule::kPlain, true},
    {"lat", Kind::kGeo, Rule::kPlain, false},
    {"lng", Kind::kGeo, Rule::kPlain, false},
    {"lon", Kind::kGeo, Rule::kPlain, false},
    {"coordinates", Kind::kGeo, Rule::kPlain, false},
    {"coords", Kind::kGeo, Rule::kPlain, false},
    // contact
    {"email", Kind::kEmail, Rule::kPlain, true},
    {"emails", Kind::kEmail, Rule::kPlain, false},
    {"emailaddress", Kind::kEmail, Rule::kPlain, true},
    {"emailaddresses", Kind::kEmail, Rule::kPlain, true},
    {"mail", Kind::kEmail, Rule::kPlain, false},
    {"phone", Kind::kPhone, Rule::kPlain, false},
    {"phones", Kind::kPhone, Rule::kPlain, false},
    {"phonenumber", Kind::kPhone, Rule::kPlain, true},
    {"phonenumbers", Kind::kPhone, Rule::kPlain, true},
    {"phoneno", Kind::kPhone, Rule::kPlain, true},
    {"mobile", Kind::kPhone, Rule::kPlain, false},
    {"mobilephone", Kind::kPhone, Rule::kPlain, true},
    {"mobilenumber", Kind::kPhone, Rule::kPlain, true},
    {"tel", Kind::kPhone, Rule::kPlain, false},
    {"telephone", Kind::kPhone, Rule::kPlain, true},
    {"telephonenumber", Kind::kPhone, Rule::kPlain, true},
    {"cell", Kind::kPhone, Rule::kPlain, false},
    {"cellphone", Kind::kPhone, Rule::kPlain, true},
    {"fax", Kind::kPhone, Rule::kPlain, false},
    {"msisdn", Kind::kPhone, Rule::kPlain, true},
    {"whatsapp", Kind::kPhone, Rule::kPlain, true},
    {"contactnumber", Kind::kPhone, Rule::kPlain, true},
    {"contactno", Kind::kPhone, Rule::kPlain, true},
    // national identifiers
    {"ssn", Kind::kSsn, Rule::kPlain, false},
    {"socialsecuritynumber", Kind::kSsn, Rule::kPlain, true},
    {"socialsecurityno", Kind::kSsn, Rule::kPlain, true},
    {"taxid", Kind::kSsn, Rule::kPlain, false},
    {"taxpayerid", Kind::kSsn, Rule::kPlain, true},
    {"nationalid", Kind::kSsn, Rule::kPlain, true},
    {"itin", Kind::kSsn, Rule::kPlain, false},
    {"nino", Kind::kSsn, Rule::kPlain, false},
    {"nationalinsurancenumber", Kind::kSsn, Rule::kPlain, true},
    {"passport", Kind::kSsn, Rule::kPlain, true},
    {"license", Kind::kSsn, Rule::kLicense, false},
    {"licence", Kind::kSsn, Rule::kLicense, false},
    {"driverslicense", Kind::kSsn, Rule::kPlain, true},
    {"driverlicense", Kind::kSsn, Rule::kPlain, true},
    {"drivinglicense", Kind::kSsn, Rule::kPlain, true},
    {"driverslicence", Kind::kSsn, Rule::kPlain, true},
    {"driverlicence", Kind::kSsn, Rule::kPlain, true},
    {"drivinglicence", Kind::kSsn, Rule::kPlain, true},
    {"mrn", Kind::kSsn, Rule::kPlain, false},  // medical record number
    {"medicalrecordnumber", Kind::kSsn, Rule::kPlain, true},
    {"medicalrecordno", Kind::kSsn, Rule::kPlain, true},
    // payment
    {"cardnumber", Kind::kCard, Rule::kPlain, true},
    {"cardno", Kind::kCard, Rule::kPlain, false},
    {"ccnumber", Kind::kCard, Rule::kPlain, true},
    {"ccnum", Kind::kCard, Rule::kPlain, false},
    {"creditcard", Kind::kCard, Rule::kPlain, true},
    {"creditcardnumber", Kind::kCard, Rule::kPlain, true},
    {"debitcard", Kind::kCard, Rule::kPlain, true},
    {"pan", Kind::kCard, Rule::kPlain, false},
    {"primaryaccountnumber", Kind::kCard, Rule::kPlain, true},
    {"cvv", Kind::kCard, Rule::kPlain, false},
    {"cvv2", Kind::kCard, Rule::kPlain, false},
    {"cvc", Kind::kCard, Rule::kPlain, false},
    {"cvc2", Kind::kCard, Rule::kPlain, false},
    {"securitycode", Kind::kCard, Rule::kPlain, true},
    {"number", Kind::kNone, Rule::kNumber, false},
    {"num", Kind::kNone, Rule::kNumber, false},
    {"no", Kind::kNone, Rule::kNumber, false},
    {"iban", Kind::kIban, Rule::kPlain, false},
    {"bankaccount", Kind::kIban, Rule::kPlain, true},
    {"bankaccountnumber", Kind::kIban, Rule::kPlain, true},
    // credentials
    {"password", Kind::kBearer, Rule::kPlain, true},
    {"passwd", Kind::kBearer, Rule::kPlain, true},
    {"pwd", Kind::kBearer, Rule::kPlain, false},
    {"passphrase", Kind::kBearer, Rule::kPlain, true},
    {"passwordconfirmation", Kind::kBearer, Rule::kPlain, true},
    {"passwordhash", Kind::kBearer, Rule::kPlain, true},
    {"secret", Kind::kBearer, Rule::kPlain, true},
    {"token", Kind::kBearer, Rule::kPlain, true},
    {"accesstoken", Kind::kBearer, Rule::kPlain, true},
    {"refreshtoken", Kind::kBearer, Rule::kPlain, true},
    {"idtoken", Kind::kBearer, Rule::kPlain, true},
    {"authtoken", Kind::kBearer, Rule::kPlain, true},
    {"apikey", Kind::kBearer, Rule::kPlain, true},
    {"apisecret", Kind::kBearer, Rule::kPlain, true},
    {"clientsecret", Kind::kBearer, Rule::kPlain, true},
    {"secretkey", Kind::kBearer, Rule::kPlain, true},
    {"privatekey", Kind::kBearer, Rule::kPlain, true},
    {"accesskey", Kind::kBearer, Rule::kPlain, true},
    {"accesskeyid", Kind::kBearer, Rule::kPlain, true},
    {"authorization", Kind::kBearer, Rule::kPlain, true},
    {"credential", Kind::kBearer, Rule::kPlain, true},
    {"credentials", Kind::kBearer, Rule::kPlain, true},
    {"sessionid", Kind::kBearer, Rule::kPlain, true},
    {"sessionkey", Kind::kBearer, Rule::kPlain, true},
    {"sessiontoken", Kind::kBearer, Rule::kPlain, true},
    {"jsessionid", Kind::kBearer, Rule::kPlain, true},
    {"phpsessid", Kind::kBearer, Rule::kPlain, true},
    {"otp", Kind::kBearer, Rule::kPlain, false},
    {"pin", Kind::kBearer, Rule::kPlain, false},
    {"pincode", Kind::kBearer, Rule::kPlain, true},
    {"securityanswer", Kind::kBearer, Rule::kPlain, true},
    {"secretanswer", Kind::kBearer, Rule::kPlain, true},
    {"jwt", Kind::kJwt, Rule::kPlain, false},
    // The same in Spanish, German, French, Italian, Portuguese and Dutch (keys folded to ASCII:
    // "teléfono" is "telefono", "Straße" "strasse"). Their word order puts the qualifier last
    // ("nombre_cliente", "telefono_del_usuario"): see classify_key.
    {"nombre", Kind::kName, Rule::kName, false},  // es; like "name": a person's by its context
    {"nombres", Kind::kName, Rule::kName, false},
    {"nom", Kind::kName, Rule::kName, false},   // fr
    {"nome", Kind::kName, Rule::kName, false},  // it, pt
    {"naam", Kind::kName, Rule::kName, false},  // nl
    {"apellido", Kind::kName, Rule::kPlain, true},
    {"apellidos", Kind::kName, Rule::kPlain, true},
    {"apellidopaterno", Kind::kName, Rule::kPlain, true},
    {"apellidomaterno", Kind::kName, Rule::kPlain, true},
    {"primernombre", Kind::kName, Rule::kPlain, true},
    {"segundonombre", Kind::kName, Rule::kPlain, true},
    {"nombrecompleto", Kind::kName, Rule::kPlain, true},
    {"nombredeusuario", Kind::kName, Rule::kPlain, true},
    {"nombreusuario", Kind::kName, Rule::kPlain, true},
    {"vorname", Kind::kName, Rule::kPlain, true},
    {"nachname", Kind::kName, Rule::kPlain, true},
    {"familienname", Kind::kName, Rule::kPlain, true},
    {"geburtsname", Kind::kName, Rule::kPlain, true},
    {"rufname", Kind::kName, Rule::kPlain, true},
    {"benutzername", Kind::kName, Rule::kPlain, true},
    {"prenom", Kind::kName, Rule::kPlain, true},
    {"prenoms", Kind::kName, Rule::kPlain, true},
    {"nomdefamille", Kind::kName, Rule::kPlain, true},
    {"nomcomplet", Kind::kName, Rule::kPlain, true},
    {"nomdutilisateur", Kind::kName, Rule::kPlain, true},
    {"cognome", Kind::kName, Rule::kPlain, true},
    {"nomecompleto", Kind::kName, Rule::kPlain, true},
    {"nomeutente", Kind::kName, Rule::kPlain, true},
    {"sobrenome", Kind::kName, Rule::kPlain, true},
    {"apelido", Kind::kName, Rule::kPlain, true},
    {"voornaam", Kind::kName, Rule::kPlain, true},
    {"achternaam", Kind::kName, Rule::kPlain, true},
    {"tussenvoegsel", Kind::kName, Rule::kPlain, true},
    {"gebruikersnaam", Kind::kName, Rule::kPlain, true},
    {"fechanacimiento", Kind::kDob, Rule::kPlain, true},
    {"fechadenacimiento", Kind::kDob, Rule::kPlain, true},
    {"geburtsdatum", Kind::kDob, Rule::kPlain, true},
    {"geburtstag", Kind::kDob, Rule::kPlain, true},
    {"datenaissance", Kind::kDob, Rule::kPlain, true},
    {"datedenaissance", Kind::kDob, Rule::kPlain, true},
    {"datanascita", Kind::kDob, Rule::kPlain, true},
    {"datadinascita", Kind::kDob, Rule::kPlain, true},
    {"datanascimento", Kind::kDob, Rule::kPlain, true},
    {"datadenascimento", Kind::kDob, Rule::kPlain, true},
    {"geboortedatum", Kind::kDob, Rule::kPlain, true},
    {"direccion", Kind::kAddress, Rule::kAddress, true},
    {"domicilio", Kind::kAddress, Rule::kPlain, true},
    {"calle", Kind::kAddress, Rule::kPlain, false},
    {"codigopostal", Kind::kAddress, Rule::kPlain, true},
    {"ciudad", Kind::kAddress, Rule::kPlain, false},
    {"localidad", Kind::kAddress, Rule::kPlain, false},
    {"colonia", Kind::kAddress, Rule::kPlain, false},
    {"numeroexterior", Kind::kAddress, Rule::kPlain, true},
    {"numerointerior", Kind::kAddress, Rule::kPlain, true},
    {"adresse", Kind::kAddress, Rule::kAddress, true},  // de, fr
    {"anschrift", Kind::kAddress, Rule::kPlain, true},
    {"strasse", Kind::kAddress, Rule::kPlain, true},
    {"hausnummer", Kind::kAddress, Rule::kPlain, true},
    {"plz", Kind::kAddress, Rule::kPlain, false},
    {"postleitzahl", Kind::kAddress, Rule::kPlain, true},
    {"wohnort", Kind::kAddress, Rule::kPlain, true},
    {"stadt", Kind::kAddress, Rule::kPlain, false},
    {"rue", Kind::kAddress, Rule::kPlain, false},
    {"codepostal", Kind::kAddress, Rule::kPlain, true},
    {"ville", Kind::kAddress, Rule::kPlain, false},
    {"indirizzo", Kind::kAddress, Rule::kAddress, true},
    {"numerocivico", Kind::kAddress, Rule::kPlain, true},
    {"citta", Kind::kAddress, Rule::kPlain, false},
    {"endereco", Kind::kAddress, Rule::kAddress, true},
    {"logradouro", Kind::kAddress, Rule::kPlain, true},
    {"rua", Kind::kAddress, Rule::kPlain, false},
    {"cep", Kind::kAddress, Rule::kPlain, false},
    {"cidade", Kind::kAddress, Rule::kPlain, false},
    {"bairro", Kind::kAddress, Rule::kPlain, false},
    {"adres", Kind::kAddress, Rule::kAddress, false},
    {"straat", Kind::kAddress, Rule::kPlain, true},
    {"straatnaam", Kind::kAddress, Rule::kPlain, true},
    {"huisnummer", Kind::kAddress, Rule::kPlain, true},
    {"woonplaats", Kind::kAddress, Rule::kPlain, true},
    {"direccionpostal", Kind::kAddress, Rule::kPlain, true},
    {"direccioncompleta", Kind::kAddress, Rule::kPlain, true},
    {"adressepostale", Kind::kAddress, Rule::kPlain, true},
    {"indirizzocompleto", Kind::kAddress, Rule::kPlain, true},
    {"enderecocompleto", Kind::kAddress, Rule::kPlain, true},
    {"correo", Kind::kEmail, Rule::kPlain, false},
    {"correoelectronico", Kind::kEmail, Rule::kPlain, true},
    {"courriel", Kind::kEmail, Rule::kPlain, true},
    {"telefono", Kind::kPhone, Rule::kPlain, true},  // es, it
    {"telefon", Kind::kPhone, Rule::kPlain, true},   // de
    {"telefonnummer", Kind::kPhone, Rule::kPlain, true},
    {"handynummer", Kind::kPhone, Rule::kPlain, true},
    {"mobilnummer", Kind::kPhone, Rule::kPlain, true},
    {"telefone", Kind::kPhone, Rule::kPlain, true},  // pt
    {"telefoon", Kind::kPhone, Rule::kPlain, true},  // nl
    {"telefoonnummer", Kind::kPhone, Rule::kPlain, true},
    {"celular", Kind::kPhone, Rule::kPlain, true},
    {"movil", Kind::kPhone, Rule::kPlain, true},
    {"cellulare", Kind::kPhone, Rule::kPlain, true},
    {"dni", Kind::kSsn, Rule::kPlain, false},   // es: national identity document
    {"nif", Kind::kSsn, Rule::kPlain, false},   // es, pt: tax number
    {"nie", Kind::kSsn, Rule::kPlain, false},   // es: foreigner's number
    {"curp", Kind::kSsn, Rule::kPlain, false},  // mx
    {"cpf", Kind::kSsn, Rule::kPlain, false},   // br
    {"codicefiscale", Kind::kSsn, Rule::kPlain, true},
    {"steuerid", Kind::kSsn, Rule::kPlain, true},
    {"steuernummer", Kind::kSsn, Rule::kPlain, true},
    {"steueridentifikationsnummer", Kind::kSsn, Rule::kPlain, true},
    {"sozialversicherungsnummer", Kind::kSsn, Rule::kPlain, true},
    {"personalausweisnummer", Kind::kSsn, Rule::kPlain, true},
    {"ausweisnummer", Kind::kSsn, Rule::kPlain, true},
    {"securitesociale", Kind::kSsn, Rule::kPlain, true},
    {"bsn", Kind::kSsn, Rule::kPlain, false},  // nl: citizen service number
    {"burgerservicenummer", Kind::kSsn, Rule::kPlain, true},
    {"pesel", Kind::kSsn, Rule::kPlain, false},         // pl
    {"personnummer", Kind::kSsn, Rule::kPlain, true},   // se, no
    {"nhsnumber", Kind::kSsn, Rule::kPlain, true},      // uk
    {"aadhaar", Kind::kSsn, Rule::kPlain, true},        // in
    {"contrasena", Kind::kBearer, Rule::kPlain, true},  // es ("contraseña")
    {"passwort", Kind::kBearer, Rule::kPlain, true},
    {"kennwort", Kind::kBearer, Rule::kPlain, true},
    {"motdepasse", Kind::kBearer, Rule::kPlain, true},
    {"senha", Kind::kBearer, Rule::kPlain, true},
    {"wachtwoord", Kind::kBearer, Rule::kPlain, true},
};

const KeyEntry* find_key_entry(std::string_view word) {
  static const std::unordered_map<std::string_view, const KeyEntry*> kMap = [] {
    std::unordered_map<std::string_view, const KeyEntry*> m;
    for (const KeyEntry& e : kKeyEntries) m.emplace(e.word, &e);
    return m;
  }();
  const auto it = kMap.find(word);
  return it == kMap.end() ? nullptr : it->second;
}

constexpr size_t kKeyMax = 96;
constexpr int kWordsMax = 16;

// A key split into lowercase words, in a stack buffer: "billingAddress_line1" → billing,
// address, line1 (digits stay with the word before them).
struct Words {
  char buf[kKeyMax];
  uint8_t off[kWordsMax + 1];
  int n = 0;
  size_t len = 0;

  std::string_view word(int i) const {
    return {buf + off[i], static_cast<size_t>(off[i + 1] - off[i])};
  }
  std::string_view from(int i) const { return {buf + off[i], len - off[i]}; }
};

// The letters of Latin-1 (U+00C0–U+00FF, UTF-8 "\xC3\x80"–"\xC3\xBF") as ASCII, so that keys
// in Spanish, German, French, Portuguese and Italian match their entries: "teléfono" is
// "telefono", "Straße" "strasse", "código_postal" "codigo_postal". Upper case stays upper (a
// camelCase boundary); "ß" and "æ" are two letters; "×", "÷", "Þ" and "þ" separate words.
constexpr char kLatin1Fold[] =
    "AAAAAA?CEEEEIIIIDNOOOOO OUUUUY ?"   // U+00C0–U+00DF ("Æ" and "ß": two letters)
    "aaaaaa?ceeeeiiiidnooooo ouuuuy y";  // U+00E0–U+00FF ("æ")

// The character of `key` at `i`, folded (kLatin1Fold): up to two ASCII letters in `out`,
// their number returned (0: a separator); `used` gets the bytes it took.
int fold_at(std::string_view key, size_t i, char out[2], size_t& used) {
  const char c = key[i];
  used = 1;
  if (is_alnum(c)) {
    out[0] = c;
    return 1;
  }
  if (static_cast<unsigned char>(c) != 0xC3 || i + 1 >= key.size()) return 0;
  const auto b = static_cast<unsigned char>(key[i + 1]);
  if (b < 0x80 || b > 0xBF) return 0;
  used = 2;
  const char f = kLatin1Fold[b - 0x80];
  if (f == '?') {  // Æ, ß, æ
    out[0] = b == 0x9F ? 's' : b == 0x86 ? 'A' : 'a';
    out[1] = b == 0x9F ? 's' : 'e';
    return 2;
  }
  if (f == ' ') return 0;
  out[0] = f;
  return 1;
}

void split_words(std::string_view key, Words& w) {
  if (key.size() > kKeyMax) key = key.substr(key.size() - kKeyMax);
  w.n = 0;
  w.len = 0;
  bool in_word = false;
  char prev = 0;
  for (size_t i = 0; i < key.size();) {
    char f[2];
    size_t used;
    const int n = fold_at(key, i, f, used);
    i += used;
    if (n == 0) {
      in_word = false;
      continue;
    }
    const char c = f[0];
    bool boundary = !in_word;
    if (in_word && is_upper(c)) {
      if (is_lower(prev) || is_digit(prev)) boundary = true;
      if (is_upper(prev) && i < key.size()) {
        char g[2];
        size_t next_used;
        if (fold_at(key, i, g, next_used) != 0 && is_lower(g[0])) boundary = true;
      }
    }
    if (boundary) {
      if (w.n == kWordsMax) {  // keep the last words: drop the first
        const uint8_t cut = w.off[1];
        std::memmove(w.buf, w.buf + cut, w.len - cut);
        w.len -= cut;
        for (int k = 0; k + 1 < w.n; ++k) w.off[k] = static_cast<uint8_t>(w.off[k + 1] - cut);
        --w.n;
      }
      w.off[w.n++] = static_cast<uint8_t>(w.len);
    }
    // (a folded character is never longer than its UTF-8 bytes: the buffer holds the key)
    for (int k = 0; k < n; ++k) w.buf[w.len++] = to_lower(f[k]);
    prev = f[n - 1];
    in_word = true;
  }
  w.off[w.n] = static_cast<uint8_t>(w.len);
}

template <size_t N>
bool in_list(std::string_view w, const std::array<std::string_view, N>& list) {
  for (std::string_view x : list) {
    if (w == x) return true;
  }
  return false;
}

// Person-like words, singular ("users" counts as "user"); then the same in Spanish, German,
// French, Italian, Portuguese and Dutch (folded to ASCII: "empfänger" is "empfanger").
bool person_like(std::string_view w) {
  static constexpr std::array<std::string_view, 42> kPerson = {
      "user",       "customer",    "person",    "contact",    "account",   "profile", "billing",
      "shipping",   "recipient",   "sender",    "owner",      "author",    "patient", "employee",
      "member",     "buyer",       "payer",     "cardholder", "holder",    "client",  "guest",
      "passenger",  "traveler",    "traveller", "student",    "applicant", "payee",   "consignee",
      "subscriber", "attendee",    "assignee",  "reporter",   "reviewer",  "creator", "requester",
      "delivery",   "beneficiary", "signer",    "spouse",     "emergency", "mailing", "legal"};
  static constexpr std::array<std::string_view, 50> kPersonElsewhere = {
      "cliente",      "usuario",     "utente",       "utilisateur", "benutzer",  "nutzer",
      "kunde",        "kunden",      "gebruiker",    "klant",       "paciente",  "empleado",
      "funcionario",  "mitarbeiter", "contacto",     "contatto",    "kontakt",   "destinatario",
      "destinataire", "empfanger",   "empfaenger",   "titular",     "inhaber",   "socio",
      "membre",       "mitglied",    "persona",      "personne",    "pessoa",    "persoon",
      "comprador",    "acheteur",    "kaufer",       "kaeufer",     "pasajero",  "passager",
      "passeggero",   "alumno",      "estudiante",   "etudiant",    "autor",     "auteur",
      "autore",       "propietario", "proprietaire", "eigentumer",  "remitente", "expediteur",
      "absender",     "titulaire"};
  if (in_list(w, kPerson) || in_list(w, kPersonElsewhere)) return true;
  if (w.size() > 3 && w.back() == 's') {
    const std::string_view one = w.substr(0, w.size() - 1);
    return in_list(one, kPerson) || in_list(one, kPersonElsewhere);
  }
  return false;
}

// Words that may follow a name, address, phone or e-mail word in a key of a language that puts
// the qualifier last ("nombre_cliente", "telefono_del_usuario", "adresse_du_client",
// "naam_van_de_klant"): person-like words, and the articles and prepositions between.
bool qualifier_word(std::string_view w) {
  static constexpr std::array<std::string_view, 22> kLinks = {
      "de", "del", "della", "dello", "di",  "da",  "do",  "dos", "das", "du",  "des",
      "la", "le",  "el",    "lo",    "van", "von", "der", "het", "den", "dem", "vom"};
  return in_list(w, kLinks) || person_like(w);
}

// Words before "address" that make it something other than a postal address.
bool non_postal(std::string_view w) {
  static constexpr std::array<std::string_view, 49> kList = {
      "ip",       "ipv4",     "ipv6",      "mac",         "remote",    "local",     "server",
      "client",   "host",     "wallet",    "contract",    "bitcoin",   "btc",       "eth",
      "memory",   "mem",      "return",    "bind",        "listen",    "peer",      "proxy",
      "source",   "src",      "dest",      "destination", "dst",       "gateway",   "network",
      "net",      "public",   "private",   "multicast",   "broadcast", "base",      "virtual",
      "physical", "hardware", "node",      "web",         "url",       "forwarded", "real",
      "origin",   "socket",   "bluetooth", "ble",         "wifi",      "lan",       "wan"};
  return in_list(w, kList);
}

bool address_like(std::string_view w) {
  static constexpr std::array<std::string_view, 13> kList = {
      "address", "addresses", "addr",        "billing",   "shipping", "mailing", "postal",
      "home",    "street",    "residential", "residence", "location", "delivery"};
  return in_list(w, kList);
}

bool card_like(std::string_view w) {
  static constexpr std::array<std::string_view, 7> kList = {
      "card", "cards", "creditcard", "debitcard", "cc", "payment", "paymentcard"};
  return in_list(w, kList);
}

// Words before "number"/"no" (or before "id" and then "number") that make it a national or
// personal identifier: "ssn_number", "passportNo", "tax_id_number", "driverLicenseNumber".
bool identifier_like(std::string_view w) {
  static constexpr std::array<std::string_view, 8> kList = {
      "ssn", "passport", "tax", "taxpayer", "taxid", "national", "identity", "identification"};
  return in_list(w, kList);
}

bool driver_like(std::string_view w) { return w == "driver" || w == "drivers" || w == "driving"; }

bool phone_like(std::string_view w) {
  static constexpr std::array<std::string_view, 7> kList = {
      "phone", "phones", "mobile", "telephone", "tel", "cell", "fax"};
  return in_list(w, kList);
}

// Last words of a key whose value, when it reads as a name, is a person's: the person-like
// words that stand for a person themselves (not "billing", "shipping", "profile", "account",
// whose string values are methods, plans or labels).
bool person_value_word(std::string_view w) {
  static constexpr std::array<std::string_view, 50> kList = {
      "user",       "customer", "person",    "contact",     "recipient", "sender",    "owner",
      "author",     "patient",  "employee",  "member",      "buyer",     "payer",     "cardholder",
      "holder",     "client",   "guest",     "passenger",   "traveler",  "traveller", "student",
      "applicant",  "payee",    "consignee", "subscriber",  "attendee",  "assignee",  "reporter",
      "reviewer",   "creator",  "requester", "beneficiary", "signer",    "spouse",    "agent",
      "manager",    "driver",   "doctor",    "physician",   "guardian",  "landlord",  "tenant",
      "witness",    "attn",     "attention", "participant", "organizer", "organiser", "invitee",
      "contributor"};
  // the same in Spanish, German, French, Italian, Portuguese and Dutch (folded to ASCII)
  static constexpr std::array<std::string_view, 18> kElsewhere = {
      "cliente",  "usuario",  "kunde",     "utente",     "utilisateur", "destinatario",
      "titular",  "inhaber",  "empfanger", "empfaenger", "gebruiker",   "klant",
      "paciente", "contacto", "kontakt",   "remitente",  "absender",    "destinataire"};
  if (in_list(w, kList) || in_list(w, kElsewhere)) return true;
  // A list of them: "authors": ["…", "…"].
  if (w.size() <= 3 || w.back() != 's') return false;
  const std::string_view one = w.substr(0, w.size() - 1);
  return in_list(one, kList) || in_list(one, kElsewhere);
}

// Words before a final "to" that make it a person: "ship_to", "billTo", "assigned_to".
bool person_to_word(std::string_view w) {
  static constexpr std::array<std::string_view, 8> kList = {
      "ship", "bill", "sold", "assigned", "deliver", "delivered", "sent", "attention"};
  return in_list(w, kList);
}

bool name_word_byte(unsigned char c) {
  return is_alpha(static_cast<char>(c)) || c >= 0x80 || c == '\'' || c == '-' || c == '.';
}

bool name_particle(std::string_view w) {
  static constexpr std::array<std::string_view, 20> kList = {
      "van", "von", "de",  "der", "den", "da", "di", "du", "del", "della",
      "la",  "le",  "bin", "ibn", "al",  "el", "y",  "e",  "dos", "das"};
  return in_list(w, kList);
}

// ---------------------------------------------------------------------------------------------
// The detectors.

class DetectorsImpl;
bool uuid_at(std::string_view t, size_t i);

// One scan() or clean() call: the text, the scratch, and where confirmed candidates go.
struct Pass {
  const DetectorsImpl& d;
  std::string_view t;
  ScratchImpl& s;
  bool stop_at_first;  // clean(): stop at the first confirmed candidate
  bool hit = false;    // clean(): one was found
};

class DetectorsImpl final : public Detectors {
 public:
  explicit DetectorsImpl(const DetectorOptions& o)
      : custom_(o.custom),
        secret_min_length_(std::max<size_t>(o.secret_min_length, 1)),
        secret_min_entropy_(o.secret_min_entropy) {
    for (Kind k : o.kinds) {
      const auto i = static_cast<size_t>(k);
      if (i < kKindCount) on_[i] = true;
    }
    allow_ = o.allow;
    std::sort(allow_.begin(), allow_.end());
    allow_.erase(std::unique(allow_.begin(), allow_.end()), allow_.end());
    numeric_ =
        on(Kind::kCard) || on(Kind::kPhone) || on(Kind::kSsn) || on(Kind::kIpv4) || on(Kind::kIban);
    size_t w = 0;
    if (on(Kind::kSecret)) w = std::clamp<size_t>(secret_min_length_, 8, 64);
    if (on(Kind::kUuid)) w = w == 0 ? 36 : std::min<size_t>(w, 36);
    word_run_ = w;
    uuid_alone_ = on(Kind::kUuid) && custom_.empty();
    timestamp_alone_ = custom_.empty() && (word_run_ == 0 || word_run_ > 13);
  }

  Result<bool> compile();

  ScratchPtr make_scratch() const override {
    auto s = std::make_unique<ScratchImpl>();
    if (db_) {
      hs_scratch_t* raw = nullptr;
      if (hs_alloc_scratch(db_.get(), &raw) != HS_SUCCESS) throw std::bad_alloc();
      s->hs.reset(raw);
    }
    s->custom.resize(custom_.size());
    return s;
  }

  void scan(std::string_view text, Scratch& scratch, std::vector<Span>& out) const override {
    if (just_a_uuid(text)) {
      out.push_back(Span{0, 36, Kind::kUuid});
      return;
    }
    if (just_a_timestamp(text)) return;
    auto& s = static_cast<ScratchImpl&>(scratch);
    Pass p{*this, text.substr(0, std::min(text.size(), kMaxText)), s, false};
    run(p);
    resolve(p, out);
  }

  bool clean(std::string_view text, Scratch& scratch) const override {
    if (just_a_uuid(text)) return false;
    if (just_a_timestamp(text)) return true;
    auto& s = static_cast<ScratchImpl&>(scratch);
    Pass p{*this, text.substr(0, std::min(text.size(), kMaxText)), s, true};
    run(p);
    return !p.hit;
  }

  Kind classify_key(std::string_view key, std::string_view parent) const override;
  bool person_key(std::string_view key) const override;

  // Hyperscan's match callback lands here.
  void on_match(Pass& p, unsigned id, unsigned long long from, unsigned long long to) const;

 private:
  bool on(Kind k) const { return on_[static_cast<size_t>(k)]; }
  bool allowed(std::string_view v) const {
    return !allow_.empty() && std::binary_search(allow_.begin(), allow_.end(), v);
  }

  // Record a confirmed candidate; false when the pass must stop (clean() found one).
  bool emit(Pass& p, size_t b, size_t e, Kind k, uint16_t custom = 0) const {
    if (e <= b || allowed(p.t.substr(b, e - b))) return true;
    if (p.stop_at_first) {
      p.hit = true;
      return false;
    }
    p.s.found.push_back(Span{static_cast<uint32_t>(b), static_cast<uint32_t>(e), k, custom});
    return true;
  }
  bool emit_secret(Pass& p, size_t b, size_t e) const {
    if (e <= b || allowed(p.t.substr(b, e - b))) return true;
    if (p.stop_at_first) {
      p.hit = true;
      return false;
    }
    p.s.secrets.push_back(Span{static_cast<uint32_t>(b), static_cast<uint32_t>(e), Kind::kSecret});
    return true;
  }
  bool stopped(const Pass& p) const { return p.hit; }

  // A text that is one UUID and nothing else (a JSON id, a request id) is that UUID and nothing
  // more, as the full pass would say: nothing in 36 bytes of hex digits and dashes begins a
  // Hyperscan pattern, its runs of IPv6 bytes are too short, the number clusters inside it are
  // shorter and lose to it, and its secret piece is all UUID (resolve()). The full pass spent
  // about 500 ns on those clusters. Not with policy regexes, which can match anything, nor for
  // an allowed UUID.
  bool just_a_uuid(std::string_view t) const {
    return t.size() == 36 && uuid_alone_ && t[8] == '-' && uuid_at(t, 0) && !allowed(t);
  }
  // A text that is one UTC timestamp, "2024-03-07T12:34:56Z" with up to nine digits of fraction
  // ("…56.789Z"), holds nothing, as the full pass would say: no byte pair of a Hyperscan
  // pattern; its two number clusters ("2024-03-07", "56.789") are followed by a letter and
  // joined by '-' or '.', so every candidate in them fails numeric_right_ok (a shorter prefix
  // of a cluster is taken only after a space, and there is none); its longest run of base64
  // bytes is 13 ("2024-03-07T12") and of IPv6 bytes has two colons. Not with policy regexes,
  // nor when runs of 13 bytes or fewer are looked at as secrets (secret_min_length below 14).
  // The full pass spent about 170 ns on the clusters.
  bool just_a_timestamp(std::string_view t) const {
    if (!timestamp_alone_ || t.size() < 20 || t.size() > 30) return false;
    static constexpr char kShape[] = "dddd-dd-ddTdd:dd:dd";  // then 'Z' or '.' digits 'Z'
    for (size_t i = 0; i < 19; ++i) {
      if (kShape[i] == 'd' ? !is_digit(t[i]) : t[i] != kShape[i]) return false;
    }
    if (t.size() == 20) return t[19] == 'Z';
    if (t[19] != '.' || t.back() != 'Z') return false;
    for (size_t i = 20; i + 1 < t.size(); ++i) {
      if (!is_digit(t[i])) return false;
    }
    return true;
  }

  void run(Pass& p) const;
  void run_masks(Pass& p) const;
  void run_re2_only(Pass& p) const;
  void resolve(Pass& p, std::vector<Span>& out) const;
  void keep_secret_piece(Pass& p, size_t b, size_t e, const Span& whole) const;

  // validators reached from Hyperscan
  void email_at(Pass& p, size_t at, size_t sep) const;
  size_t ipv6_at(Pass& p, size_t pos) const;
  void jwt_at(Pass& p, size_t s) const;
  void scheme_at(Pass& p, size_t to) const;
  void key_at(Pass& p, Hook hook, size_t s) const;
  void custom_at(Pass& p, size_t index, size_t from, size_t to) const;
  void flush_custom(Pass& p) const;

  // validators reached from the mask pass
  size_t numeric_at(Pass& p, size_t pos) const;
  size_t word_run_at(Pass& p, size_t pos) const;
  void secret_piece(Pass& p, size_t b, size_t e) const;
  // The secret piece secret_piece(b, e) emits unless allowed, or an empty span: [b, e) trimmed
  // to its alphanumerics, with the '=' padding after it, when it reads as random.
  Span secret_span(std::string_view t, size_t b, size_t e) const;

  std::vector<std::string> custom_;
  size_t secret_min_length_;
  double secret_min_entropy_;
  std::array<bool, kKindCount> on_{};
  std::vector<std::string> allow_;
  bool numeric_ = false;
  size_t word_run_ = 0;  // runs of base64 bytes this long are examined; 0: none

  HsDatabase db_;
  std::vector<const Builtin*> hs_builtins_;  // Hyperscan id i < size(): kBuiltins entry
  std::vector<std::unique_ptr<RE2>> re2_;    // per policy regex; null when RE2 rejects it
  std::vector<uint16_t> re2_only_;           // policy regexes scanned by RE2 alone
  bool custom_in_hs_ = false;                // some policy regex is in db_ (no pair check)
  bool uuid_alone_ = false;                  // just_a_uuid() may answer: uuids on, no regexes
  bool timestamp_alone_ = false;             // just_a_timestamp() may answer
};

// ---------------------------------------------------------------------------------------------
// Building.

// A regex whose meaning in Hyperscan's byte mode differs from RE2's UTF-8 mode.
bool needs_re2_semantics(std::string_view re) {
  for (size_t i = 0; i < re.size(); ++i) {
    if (static_cast<unsigned char>(re[i]) >= 0x80) return true;
    if (re[i] == '\\' && i + 1 < re.size()) {
      const char c = re[i + 1];
      if (c == 'p' || c == 'P' || c == 'C') return true;
      ++i;
    }
  }
  return false;
}

bool hs_accepts(const std::string& re) {
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  const hs_error_t rc =
      hs_compile(re.c_str(), HS_FLAG_SOM_LEFTMOST, HS_MODE_BLOCK, nullptr, &db, &err);
  HsDatabase owned_db(db);
  HsCompileError owned_err(err);
  return rc == HS_SUCCESS;
}

Result<bool> DetectorsImpl::compile() {
  if (custom_.size() > std::numeric_limits<uint16_t>::max()) {
    return fail("detectors: " + std::to_string(custom_.size()) +
                " policy regexes, at most 65535 are supported");
  }
  // policy regexes: RE2 for every one it accepts, Hyperscan where it can find them
  std::vector<bool> in_hs(custom_.size(), false);
  re2_.resize(custom_.size());
  for (size_t i = 0; i < custom_.size(); ++i) {
    RE2::Options ro;
    ro.set_log_errors(false);
    auto re = std::make_unique<RE2>(custom_[i], ro);
    const bool hs_ok = !needs_re2_semantics(custom_[i]) && hs_accepts(custom_[i]);
    if (!re->ok() && !hs_ok) {
      return fail("policy regex " + std::to_string(i) + " \"" + custom_[i] +
                  "\" does not compile: " + re->error());
    }
    in_hs[i] = hs_ok;
    if (re->ok()) re2_[i] = std::move(re);
  }
  for (const Builtin& b : kBuiltins) {
    // The '@' hook also finds a URL's user name and password (bearer, email_at()).
    if (on(b.kind) || (b.hook == Hook::kEmailAt && on(Kind::kBearer))) hs_builtins_.push_back(&b);
  }
  while (true) {
    std::vector<const char*> exprs;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    for (size_t i = 0; i < hs_builtins_.size(); ++i) {
      exprs.push_back(hs_builtins_[i]->regex);
      flags.push_back(0);
      ids.push_back(static_cast<unsigned>(i));
    }
    for (size_t i = 0; i < custom_.size(); ++i) {
      if (!in_hs[i]) continue;
      exprs.push_back(custom_[i].c_str());
      flags.push_back(HS_FLAG_SOM_LEFTMOST);
      ids.push_back(kCustomBase + static_cast<unsigned>(i));
    }
    if (exprs.empty()) break;
    hs_database_t* db = nullptr;
    hs_compile_error_t* err = nullptr;
    const hs_error_t rc =
        hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                         static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK, nullptr, &db, &err);
    HsCompileError owned_err(err);
    if (rc == HS_SUCCESS) {
      db_.reset(db);
      break;
    }
    // A policy regex that compiles alone but not with the others goes to RE2.
    const int at = err != nullptr ? err->expression : -1;
    if (at >= 0 && ids[static_cast<size_t>(at)] >= kCustomBase) {
      const size_t i = ids[static_cast<size_t>(at)] - kCustomBase;
      if (!re2_[i]) {
        return fail("policy regex " + std::to_string(i) + " \"" + custom_[i] +
                    "\" does not compile: " + (err ? err->message : "hyperscan error"));
      }
      in_hs[i] = false;
      continue;
    }
    bool moved = false;  // no expression named: scan every policy regex with RE2
    for (size_t i = 0; i < custom_.size(); ++i) {
      if (in_hs[i] && re2_[i]) {
        in_hs[i] = false;
        moved = true;
      }
    }
    if (!moved) {
      return fail(std::string("detectors: hyperscan: ") + (err ? err->message : "compile error"));
    }
  }
  for (size_t i = 0; i < custom_.size(); ++i) {
    if (!in_hs[i]) re2_only_.push_back(static_cast<uint16_t>(i));
    custom_in_hs_ = custom_in_hs_ || in_hs[i];
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The pass.

int on_hs_match(unsigned id, unsigned long long from, unsigned long long to, unsigned /*flags*/,
                void* ctx) {
  auto& p = *static_cast<Pass*>(ctx);
  p.d.on_match(p, id, from, to);
  return p.hit ? 1 : 0;
}

void DetectorsImpl::run(Pass& p) const {
  ScratchImpl& s = p.s;
  s.found.clear();
  s.secrets.clear();
  s.ipv6_until = 0;
  s.custom.assign(custom_.size(), CustomState{});
  if (db_ && !p.t.empty() &&
      (custom_in_hs_ || p.t.size() > kPairCheckMax || builtin_pair_in(p.t))) {
    // Fails only with a scratch from make_scratch() of other detectors (HS_INVALID), which the
    // contract excludes; HS_SCAN_TERMINATED is clean() stopping at its first candidate.
    hs_scan(db_.get(), p.t.data(), static_cast<unsigned>(p.t.size()), 0, s.hs.get(), on_hs_match,
            &p);
    if (stopped(p)) return;
    flush_custom(p);
    if (stopped(p)) return;
  }
  run_masks(p);
  if (stopped(p)) return;
  run_re2_only(p);
}

void DetectorsImpl::on_match(Pass& p, unsigned id, unsigned long long from,
                             unsigned long long to) const {
  if (id >= kCustomBase) {
    custom_at(p, id - kCustomBase, static_cast<size_t>(from), static_cast<size_t>(to));
    return;
  }
  const Builtin& b = *hs_builtins_[id];
  const auto end = static_cast<size_t>(to);
  switch (b.hook) {
    case Hook::kEmailAt:
      email_at(p, end - 2, 1);
      break;
    case Hook::kEmailPct40:
      email_at(p, end - 4, 3);
      break;
    case Hook::kEmailPct40Pct:
      email_at(p, end - 6, 3);
      break;
    case Hook::kIpv6:
      if (end - 2 >= p.s.ipv6_until) p.s.ipv6_until = static_cast<uint32_t>(ipv6_at(p, end - 2));
      break;
    case Hook::kJwt:
      jwt_at(p, end - 3);
      break;
    case Hook::kScheme:
      scheme_at(p, end);
      break;
    case Hook::kAws:
    case Hook::kGithub:
    case Hook::kGoogle:
      key_at(p, b.hook, end - 5);
      break;
    case Hook::kGithubPat:
      key_at(p, b.hook, end - 12);
      break;
    case Hook::kSlack:
      key_at(p, b.hook, end - 6);
      break;
    case Hook::kStripe:
      key_at(p, b.hook, end - 9);
      break;
  }
}

// A value starting at `pos` is not glued to the word before it.
bool word_left_ok(std::string_view t, size_t pos) {
  if (pos == 0) return true;
  const char c = t[pos - 1];
  if (is_alnum(c) || c == '_') return after_escape(t, pos);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Emails.

// ("o'brien@example.com": an apostrophe is one of RFC 5322's atext; a leading one is a quote
// and is left out of the span, see email_at())
bool is_local_char(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c == '\'';
}

// The start of a URL's userinfo ending at t[at] == '@' ("https://jdoe:pw@host", "postgres://
// app:pw@db:5432/x", "redis://:pw@cache"): after "scheme://", of RFC 3986's userinfo bytes (the
// unreserved, percent-escapes, sub-delims but ',' and ';', and ':'), at most 256 of them; npos
// when `at` ends none.
size_t userinfo_start(std::string_view t, size_t at) {
  size_t b = at;
  while (b > 0 && at - b < 256) {
    const char c = t[b - 1];
    if (!(is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || c == '!' ||
          c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' ||
          c == '=' || c == ':')) {
      break;
    }
    --b;
  }
  // "://" before it, and a scheme before that: a letter, then letters, digits, '+', '-', '.'
  if (b < 4 || t.substr(b - 3, 3) != "://") return std::string_view::npos;
  size_t s = b - 3;
  size_t letters = 0;
  while (s > 0 && (is_alnum(t[s - 1]) || t[s - 1] == '+' || t[s - 1] == '-' || t[s - 1] == '.')) {
    --s;
    ++letters;
  }
  if (letters == 0 || !is_alpha(t[s])) return std::string_view::npos;
  // The scheme's "//" is not a userinfo byte, so b is where the userinfo starts; an empty
  // userinfo ("http://@host") holds nothing.
  return b < at ? b : std::string_view::npos;
}

int hex_value(char c) { return is_digit(c) ? c - '0' : to_lower(c) - 'a' + 10; }

// A letter past ASCII (utf8_word_char()) at t[i], in UTF-8 or percent-encoded ("%C3%BC"): the
// bytes of `t` it takes, or 0.
size_t word_char_at(std::string_view t, size_t i) {
  if (const size_t len = utf8_word_char(t, i)) return len;
  char buf[4];
  size_t n = 0;
  while (n < 4 && i + 3 * n + 2 < t.size() && t[i + 3 * n] == '%' && is_hex(t[i + 3 * n + 1]) &&
         is_hex(t[i + 3 * n + 2])) {
    buf[n] = static_cast<char>(hex_value(t[i + 3 * n + 1]) * 16 + hex_value(t[i + 3 * n + 2]));
    ++n;
  }
  const size_t len = n >= 2 ? utf8_word_char(std::string_view(buf, n), 0) : 0;
  return 3 * len;
}

void DetectorsImpl::email_at(Pass& p, size_t at, size_t sep) const {
  const std::string_view t = p.t;
  if (sep == 1) {
    // A URL's user name and password are a login and a credential, whatever they look like:
    // one bearer span, the ':' between kept by the token; never an e-mail (its "local part"
    // would be the password and its "domain" the host).
    const size_t user = userinfo_start(t, at);
    if (user != std::string_view::npos) {
      if (on(Kind::kBearer)) emit(p, user, at, Kind::kBearer);
      return;
    }
    if (!on(Kind::kEmail)) return;
  }
  // Internationalized addresses (RFC 6531): letters of any script in the local part and the
  // domain's labels ("müller@example.de", "jane@münchen.de", "иван@пример.рф").
  size_t lb = at;
  while (lb > 0 && at - lb < 256) {
    if (is_local_char(t[lb - 1])) {
      --lb;
    } else if (const size_t len = utf8_word_char_before(t, lb)) {
      lb -= len;
    } else {
      break;
    }
  }
  if (lb > 0 && t[lb - 1] == '\\') lb += escape_tail(t, lb);
  // a percent-escape of a byte that cannot be in a local part ("%3C", "%22", "%E2%80%9C") ends
  // what came before; the escapes of a letter past ASCII ("m%C3%BCller") do not
  for (size_t i = lb; i + 2 < at; ++i) {
    if (t[i] == '%' && is_hex(t[i + 1]) && is_hex(t[i + 2])) {
      const char c = static_cast<char>(hex_value(t[i + 1]) * 16 + hex_value(t[i + 2]));
      if ((c & 0x80) != 0) {
        if (const size_t k = word_char_at(t, i); k != 0 && i + k <= at) {
          i += k - 1;
          continue;
        }
        lb = i + 3;
      } else if (!(is_alnum(c) || c == '.' || c == '_' || c == '+' || c == '-' || c == '\'')) {
        lb = i + 3;
      }
    }
  }
  while (lb < at && (t[lb] == '.' || t[lb] == '\'')) ++lb;
  if (lb >= at || at - lb > 64 || t[at - 1] == '.') return;
  for (size_t i = lb; i + 1 < at; ++i) {
    if (t[i] == '.' && t[i + 1] == '.') return;
  }
  // the domain: labels of letters, digits and '-', at least two, TLD of letters (of any script:
  // an IDN's labels may be written in Unicode; 63 characters a label at most)
  const size_t db = at + sep;
  size_t de = db;
  while (de < t.size() && de - db < 1024) {
    if (is_alnum(t[de]) || t[de] == '-' || t[de] == '.') {
      ++de;
    } else if (const size_t len = word_char_at(t, de)) {
      de += len;
    } else {
      break;
    }
  }
  while (de > db && (t[de - 1] == '.' || t[de - 1] == '-')) --de;
  if (de < t.size() && (t[de] == '_' || t[de] == '@' || is_alnum(t[de]))) return;
  const std::string_view domain = t.substr(db, de - db);
  size_t labels = 0;
  size_t last = 0;
  size_t i = 0;
  while (i <= domain.size()) {
    size_t j = domain.find('.', i);
    if (j == std::string_view::npos) j = domain.size();
    const std::string_view label = domain.substr(i, j - i);
    if (label.empty() || label.size() > 4 * 63 || label.front() == '-' || label.back() == '-') {
      return;
    }
    size_t chars = 0;
    for (char c : label) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (chars > 63) return;
    ++labels;
    last = i;
    i = j + 1;
  }
  if (labels < 2) return;
  const std::string_view tld = domain.substr(last);
  bool alpha_tld = true;
  size_t tld_chars = 0;
  for (size_t k = 0; k < tld.size() && alpha_tld; ++tld_chars) {
    if (is_alpha(tld[k])) {
      ++k;
    } else if (const size_t len = word_char_at(tld, k)) {
      k += len;
    } else {
      alpha_tld = false;
    }
  }
  if (!(alpha_tld && tld_chars >= 2) && tld.substr(0, 4) != "xn--") return;
  // "logo@2x.png": a retina asset name, not an address
  if (labels == 2 && domain.size() >= 2 && is_digit(domain[0])) {
    size_t k = 0;
    while (k < domain.size() && is_digit(domain[k])) ++k;
    if (k < domain.size() && domain[k] == 'x' && k + 1 < domain.size() && domain[k + 1] == '.') {
      return;
    }
  }
  emit(p, lb, de, Kind::kEmail);
}

// ---------------------------------------------------------------------------------------------
// IPv6.

bool is_v6_char(char c) { return is_hex(c) || c == ':' || c == '.'; }

bool ipv6_text_ok(std::string_view v) {
  if (v.size() < 3 || v.size() > 45 || v == "::") return false;
  size_t colons = 0;
  size_t hex = 0;
  for (char c : v) {
    colons += c == ':';
    hex += is_hex(c);
  }
  if (colons < 2 || hex == 0) return false;
  char buf[48];
  std::memcpy(buf, v.data(), v.size());
  buf[v.size()] = '\0';
  in6_addr addr;
  return inet_pton(AF_INET6, buf, &addr) == 1;
}

// An address around `pos` (inside a run of hex digits, ':' and '.'). Returns the run's end.
size_t DetectorsImpl::ipv6_at(Pass& p, size_t pos) const {
  const std::string_view t = p.t;
  size_t b = pos;
  while (b > 0 && is_v6_char(t[b - 1]) && pos - b < 64) --b;
  size_t e = pos;
  while (e < t.size() && is_v6_char(t[e]) && e - pos < 64) ++e;
  const size_t run_end = e;
  // a run that starts inside an escape: "\u003e2001:db8::1", "%2F2001:db8::1"
  if (b >= 2 && t[b - 2] == '\\' && t[b - 1] == 'u' && b + 4 <= e) {
    b += 4;
  } else if (b >= 1 && t[b - 1] == '%' && b + 2 <= e) {
    b += 2;
  }
  if (b >= e) return run_end;
  if (b > 0 && (is_alnum(t[b - 1]) || t[b - 1] == '_') && !after_escape(t, b)) {
    // "ipv6:fe80::1": the address may start after a colon
    const size_t c = t.find(':', b);
    if (c == std::string_view::npos || c >= e || c - b > 4) return run_end;
    if (c + 1 < e && t[c + 1] == ':') return run_end;
    b = c + 1;
  }
  if (e < t.size() && (is_alnum(t[e]) || t[e] == '_')) return run_end;
  if (t[b] == ':' && b + 1 < e && t[b + 1] != ':') ++b;  // ":2001:db8::1"
  for (int tries = 0; tries < 3 && e > b; ++tries) {
    if (ipv6_text_ok(t.substr(b, e - b))) {
      emit(p, b, e, Kind::kIpv6);
      return run_end;
    }
    if (t[e - 1] != '.' && t[e - 1] != ':') break;  // "fe80::1." ends a sentence
    --e;
  }
  return run_end;
}

// ---------------------------------------------------------------------------------------------
// JWTs.

namespace {

// The lengths in base64 characters (unpadded) of the signatures JWS algorithms make: HMAC-SHA-2
// (32, 48, 64 bytes), ECDSA P-256/384/521 (64, 96, 132), EdDSA (64), RSA 2048/3072/4096 bits
// (256, 384, 512). A signature in the standard alphabet is told from a '/' or '+' that follows
// a base64url one by its length (jwt_at()).
bool jws_signature_length(size_t chars) {
  for (size_t bytes : {32, 48, 64, 96, 132, 256, 384, 512}) {
    if (chars == (bytes * 4 + 2) / 3) return true;
  }
  return false;
}

bool is_b64_char(char c) { return is_b64url_char(c) || c == '+' || c == '/'; }

}  // namespace

// A JWT's segments are base64url (RFC 7515) but some issuers write standard base64, padded or
// not: header and payload may hold '+' and '/' (their ends are fixed by the '.' and by what
// they decode to) and end in '=' padding. The signature ends the token, so a '/' or '+' after
// its base64url run is taken into it only when that makes it as long as a signature and it was
// not one already: a JWT in a path ("/t/<jwt>/profile") ends before "/profile".
void DetectorsImpl::jwt_at(Pass& p, size_t s) const {
  const std::string_view t = p.t;
  if (s > 0 && (is_b64url_char(t[s - 1]) || t[s - 1] == '.') && !after_escape(t, s)) return;
  auto segment = [&](size_t i) {
    while (i < t.size() && is_b64url_char(t[i])) ++i;
    return i;
  };
  // a header or payload segment from i: base64 bytes, then '=' padding up to a multiple of 4
  auto inner = [&](size_t i) {
    size_t j = i;
    while (j < t.size() && is_b64_char(t[j])) ++j;
    for (int pad = 0; pad < 2 && j < t.size() && t[j] == '=' && (j - i) % 4 != 0; ++pad) ++j;
    return j;
  };
  const size_t h = inner(s);
  if (h - s < 10 || h - s > 4096 || h >= t.size() || t[h] != '.') return;
  std::string& dec = p.s.decoded;
  dec.clear();
  if (!base64_decode(t.substr(s, h - s), dec, 4096)) return;
  size_t last = dec.find_last_not_of(" \t\r\n");
  if (dec.empty() || dec[0] != '{' || last == std::string::npos || dec[last] != '}' ||
      dec.find('"') == std::string::npos) {
    return;
  }
  const size_t pe = inner(h + 1);
  if (pe - (h + 1) < 2 || pe >= t.size() || t[pe] != '.') return;
  dec.clear();
  if (!base64_decode(t.substr(h + 1, std::min<size_t>(pe - h - 1, 16)), dec, 12)) return;
  const size_t first = dec.find_first_not_of(" \t\r\n");
  size_t e = segment(pe + 1);
  bool jwe = false;
  if (e < t.size() && t[e] == '.') {  // JWE: header.key.iv.ciphertext.tag
    const size_t e4 = segment(e + 1);
    if (e4 < t.size() && t[e4] == '.') {
      const size_t e5 = segment(e4 + 1);
      if (e5 > e4 + 1) {
        e = e5;
        jwe = true;
      }
    }
  }
  if (!jwe && (first == std::string::npos || dec[first] != '{')) return;
  if (!jwe && e < t.size() && (t[e] == '/' || t[e] == '+') && !jws_signature_length(e - (pe + 1))) {
    size_t r = e;
    while (r < t.size() && is_b64_char(t[r])) ++r;
    if (jws_signature_length(r - (pe + 1))) e = r;
  }
  if (!jwe) {  // the signature's '=' padding
    for (size_t n = e - (pe + 1); n % 4 != 0 && e < t.size() && t[e] == '=' && n % 4 != 1; ++n) {
      ++e;
    }
  }
  if (e < t.size() && (is_b64url_char(t[e]) || t[e] == '=')) return;
  emit(p, s, e, Kind::kJwt);
}

// ---------------------------------------------------------------------------------------------
// Credentials after an auth scheme, and API keys of known formats.

bool is_token68_char(char c) {
  return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

void DetectorsImpl::scheme_at(Pass& p, size_t to) const {
  const std::string_view t = p.t;
  const size_t sep = (t[to - 1] == ' ' || t[to - 1] == '+') ? 1 : 3;
  const size_t se = to - sep;
  // the scheme Hyperscan matched, and what stands before it ("MyToken" is no scheme, "\nBearer" is)
  static constexpr std::array<std::string_view, 5> kSchemes = {"bearer", "basic", "token",
                                                               "api-key", "apikey"};
  std::string_view word;
  for (std::string_view w : kSchemes) {
    if (se < w.size()) continue;
    bool same = true;
    for (size_t i = 0; i < w.size() && same; ++i) same = to_lower(t[se - w.size() + i]) == w[i];
    if (same) {
      word = w;
      break;
    }
  }
  if (word.empty()) return;
  const size_t sb = se - word.size();
  if (!word_left_ok(t, sb)) return;
  const bool basic = word == "basic";
  size_t c = to;
  while (c < t.size() && t[c] == ' ') ++c;
  size_t e = c;
  while (e < t.size() && is_token68_char(t[e]) && e - c < 8192) ++e;
  const size_t run_end = e;
  while (e > c && t[e - 1] == '.') --e;  // the end of a sentence
  const bool dots = e < run_end;
  size_t pad = 0;
  while (!dots && e < t.size() && t[e] == '=' && pad < 2) {
    ++e;
    ++pad;
  }
  // "realm=…", "error=…"; after a sentence's dots, what follows them (2026-12-07: the check
  // read the first dot, so a credential with a '.' in it at the end of a sentence was never
  // found)
  size_t after = dots ? run_end : e;
  while (pad > 0 && after < t.size() && t[after] == '.') ++after;  // "…bQ==." ends a sentence
  if (after < t.size() && (t[after] == '=' || is_token68_char(t[after]))) return;
  const std::string_view cred = t.substr(c, e - c);
  if (cred.size() < 8) return;
  if (basic) {
    std::string& dec = p.s.decoded;
    dec.clear();
    if (!base64_decode(cred, dec, 1024)) return;
    const size_t colon = dec.find(':');
    if (colon == std::string::npos || colon == 0) return;
    for (char ch : dec) {  // printable ASCII: English words after "Basic " decode to bytes
      const auto u = static_cast<unsigned char>(ch);
      if (u < 0x20 || u >= 0x7F) return;
    }
  } else {
    bool digit = false;
    bool letter = false;
    for (char ch : cred) {
      digit = digit || is_digit(ch);
      letter = letter || is_alpha(ch);
    }
    if (!(digit && letter) && !looks_random(cred, 20, 3.0)) return;
  }
  emit(p, c, e, Kind::kBearer);
}

void DetectorsImpl::key_at(Pass& p, Hook hook, size_t s) const {
  const std::string_view t = p.t;
  if (s > 0 && (is_alnum(t[s - 1]) || t[s - 1] == '_' || t[s - 1] == '-') && !after_escape(t, s)) {
    return;
  }
  auto span_of = [&](size_t from, auto ok) {
    size_t i = from;
    while (i < t.size() && ok(t[i]) && i - from < 512) ++i;
    return i;
  };
  size_t e = 0;
  size_t body = 0;
  switch (hook) {
    case Hook::kAws:
      e = span_of(s + 4, [](char c) { return is_upper(c) || is_digit(c); });
      if (e - (s + 4) != 16) return;
      break;
    case Hook::kGithub:
      e = span_of(s + 4, is_alnum);
      body = e - (s + 4);
      if (body < 36 || body > 251) return;
      break;
    case Hook::kGithubPat:
      e = span_of(s + 11, [](char c) { return is_alnum(c) || c == '_'; });
      if (e - (s + 11) < 22) return;
      break;
    case Hook::kSlack: {
      e = span_of(s + 5, [](char c) { return is_alnum(c) || c == '-'; });
      if (e - (s + 5) < 10) return;
      bool digit = false;
      for (size_t i = s + 5; i < e; ++i) digit = digit || is_digit(t[i]);
      if (!digit) return;
      break;
    }
    case Hook::kStripe:
      e = span_of(s + 8, is_alnum);
      if (e - (s + 8) < 16) return;
      break;
    case Hook::kGoogle:
      e = span_of(s + 4, is_b64url_char);
      if (e - (s + 4) != 35) return;
      break;
    default:
      return;
  }
  if (e < t.size() && (is_alnum(t[e]) || t[e] == '_')) return;
  emit(p, s, e, Kind::kBearer);
}

// ---------------------------------------------------------------------------------------------
// Policy regexes.

void DetectorsImpl::custom_at(Pass& p, size_t index, size_t from, size_t to) const {
  CustomState& st = p.s.custom[index];
  const auto f = static_cast<uint32_t>(from);
  if (const RE2* re = re2_[index].get()) {
    if (st.last_from == f) return;
    st.last_from = f;
    re2::StringPiece m;
    if (re->Match(re2::StringPiece(p.t.data(), p.t.size()), from, p.t.size(), RE2::ANCHOR_START, &m,
                  1)) {
      const size_t b = static_cast<size_t>(m.data() - p.t.data());
      emit(p, b, b + m.size(), Kind::kCustom, static_cast<uint16_t>(index));
    }
    return;
  }
  // Hyperscan alone: leftmost start, longest end.
  if (st.pending && st.pending_from == f) {
    st.pending_to = std::max(st.pending_to, static_cast<uint32_t>(to));
    return;
  }
  if (st.pending) {
    if (!emit(p, st.pending_from, st.pending_to, Kind::kCustom, static_cast<uint16_t>(index))) {
      return;
    }
  }
  st.pending = true;
  st.pending_from = f;
  st.pending_to = static_cast<uint32_t>(to);
}

void DetectorsImpl::flush_custom(Pass& p) const {
  for (size_t i = 0; i < p.s.custom.size(); ++i) {
    CustomState& st = p.s.custom[i];
    if (!st.pending) continue;
    st.pending = false;
    if (!emit(p, st.pending_from, st.pending_to, Kind::kCustom, static_cast<uint16_t>(i))) return;
  }
}

void DetectorsImpl::run_re2_only(Pass& p) const {
  const re2::StringPiece text(p.t.data(), p.t.size());
  for (uint16_t i : re2_only_) {
    const RE2& re = *re2_[i];
    size_t pos = 0;
    re2::StringPiece m;
    while (pos <= p.t.size() && re.Match(text, pos, p.t.size(), RE2::UNANCHORED, &m, 1)) {
      const size_t b = static_cast<size_t>(m.data() - p.t.data());
      const size_t e = b + m.size();
      if (e == b) {
        pos = b + 1;
        continue;
      }
      if (!emit(p, b, e, Kind::kCustom, i)) return;
      pos = e;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The mask pass: digit clusters, base64 runs, hex-and-colon runs.

struct Masks {
  uint64_t digit;
  uint64_t word;  // [A-Za-z0-9+/_-]
  uint64_t v6;    // [0-9A-Fa-f:.]
};

#if defined(__SSE2__)
inline uint64_t movemask(__m128i v) {
  return static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(v)));
}

// `blocks`: how many of the four 16-byte blocks hold text (the rest would classify as zero
// bytes do: in no mask).
inline Masks classify64(const char* p, int blocks = 4) {
  Masks m{0, 0, 0};
  const __m128i case_bit = _mm_set1_epi8(0x20);
  for (int k = 0; k < blocks; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
    const __m128i lower = _mm_or_si128(v, case_bit);
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    const __m128i ge_a = _mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1));
    const __m128i alpha = _mm_and_si128(ge_a, _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    const __m128i hexl = _mm_and_si128(ge_a, _mm_cmplt_epi8(lower, _mm_set1_epi8('f' + 1)));
    const __m128i sym = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('+')), _mm_cmpeq_epi8(v, _mm_set1_epi8('/'))),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')), _mm_cmpeq_epi8(v, _mm_set1_epi8('-'))));
    const __m128i word = _mm_or_si128(_mm_or_si128(digit, alpha), sym);
    const __m128i v6 = _mm_or_si128(
        _mm_or_si128(digit, hexl),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')), _mm_cmpeq_epi8(v, _mm_set1_epi8('.'))));
    m.digit |= movemask(digit) << (16 * k);
    m.word |= movemask(word) << (16 * k);
    m.v6 |= movemask(v6) << (16 * k);
  }
  return m;
}
#else
inline Masks classify64(const char* p, int blocks = 4) {
  Masks m{0, 0, 0};
  for (int i = 0; i < 16 * blocks; ++i) {
    const char c = p[i];
    const uint64_t bit = uint64_t{1} << i;
    if (is_digit(c)) m.digit |= bit;
    if (is_secret_char(c)) m.word |= bit;
    if (is_v6_char(c)) m.v6 |= bit;
  }
  return m;
}
#endif

// Bits of `cur` (this block) where a run of at least `len` (1–64) set bits ends, counting the
// previous block's bits `prev`.
// Runs within `cur` by doubling on 64 bits; a run that goes on from `prev` (its top `tail` bits
// set, `cur`'s lowest `head` bits set) ends at bit j < head when j + 1 + tail >= len. (A
// 128-bit doubling over prev:cur did the same in twice the instructions.)
inline uint64_t long_run_ends(uint64_t cur, uint64_t prev, size_t len) {
  uint64_t y = cur;
  size_t covered = 1;
  while (covered < len) {
    const size_t step = std::min(covered, len - covered);
    y &= y << step;
    covered += step;
  }
  if ((cur & 1) != 0 && (prev >> 63) != 0) {
    const size_t tail = ~prev == 0 ? 64 : static_cast<size_t>(__builtin_clzll(~prev));
    const size_t head = ~cur == 0 ? 64 : static_cast<size_t>(__builtin_ctzll(~cur));
    const size_t from = len > tail + 1 ? len - 1 - tail : 0;
    if (from < head) {
      const uint64_t upto = head == 64 ? ~uint64_t{0} : (uint64_t{1} << head) - 1;
      y |= upto & ~((uint64_t{1} << from) - 1);
    }
  }
  return y;
}

inline int lowest_bit(uint64_t x) { return __builtin_ctzll(x); }

// Clears the bits of `x` below bit `n` (n may be 64 or more: all).
inline uint64_t clear_below(uint64_t x, size_t n) {
  return n >= 64 ? 0 : x & ~((uint64_t{1} << n) - 1);
}

void DetectorsImpl::run_masks(Pass& p) const {
  const std::string_view t = p.t;
  const size_t n = t.size();
  // A text shorter than a run cannot hold one (most JSON values are shorter than both).
  const bool v6 = on(Kind::kIpv6) && n >= kV6MinRun;
  const size_t word_run = n >= word_run_ ? word_run_ : 0;
  if (!numeric_ && word_run == 0 && !v6) return;
  uint64_t prev_digit = 0;
  uint64_t prev_word = 0;
  uint64_t prev_v6 = 0;
  size_t numeric_next = 0;
  size_t word_next = 0;
  size_t v6_next = 0;
  alignas(16) char tail[64];
  for (size_t base = 0; base < n; base += 64) {
    const char* block = t.data() + base;
    int blocks = 4;
    if (n - base < 64) {
      // The text's last bytes, zero-padded to whole 16-byte blocks (most texts are one).
      blocks = static_cast<int>((n - base + 15) / 16);
      std::memset(tail, 0, static_cast<size_t>(16 * blocks));
      std::memcpy(tail, block, n - base);
      block = tail;
    }
    const Masks m = classify64(block, blocks);
    if (numeric_) {
      uint64_t starts = m.digit & ~((m.digit << 1) | (prev_digit >> 63));
      starts = clear_below(starts, numeric_next > base ? numeric_next - base : 0);
      while (starts != 0) {
        numeric_next = numeric_at(p, base + static_cast<size_t>(lowest_bit(starts)));
        if (stopped(p)) return;
        starts = clear_below(starts, numeric_next - base);
      }
    }
    if (word_run != 0) {
      uint64_t ends = long_run_ends(m.word, prev_word, word_run);
      ends = clear_below(ends, word_next > base ? word_next - base : 0);
      while (ends != 0) {
        word_next = word_run_at(p, base + static_cast<size_t>(lowest_bit(ends)));
        if (stopped(p)) return;
        ends = clear_below(ends, word_next - base);
      }
    }
    if (v6) {
      uint64_t ends = long_run_ends(m.v6, prev_v6, kV6MinRun);
      ends = clear_below(ends, v6_next > base ? v6_next - base : 0);
      while (ends != 0) {
        const size_t pos = base + static_cast<size_t>(lowest_bit(ends));
        size_t b = pos + 1 - kV6MinRun;
        while (b > 0 && is_v6_char(t[b - 1])) --b;
        size_t e = pos + 1;
        while (e < n && is_v6_char(t[e])) ++e;
        size_t colons = 0;
        bool compressed = false;
        for (size_t i = b; i < e; ++i) {
          if (t[i] == ':') {
            ++colons;
            compressed = compressed || (i + 1 < e && t[i + 1] == ':');
          }
        }
        // compressed forms are found from Hyperscan's "::" hits
        if (colons >= 6 && !compressed && e - b <= 64) ipv6_at(p, b);
        if (stopped(p)) return;
        v6_next = e;
        ends = clear_below(ends, v6_next - base);
      }
    }
    prev_digit = m.digit;
    prev_word = m.word;
    prev_v6 = m.v6;
  }
}

// ---------------------------------------------------------------------------------------------
// Number clusters: cards, phones, SSNs, IPv4 addresses, IBANs.

// Not glued to what comes before: see the header comment. "word/" glues only dotted quads
// ("Chrome/122.0.0.0"); a phone or a card may follow a path segment.
bool numeric_left_ok(std::string_view t, size_t s) {
  if (s == 0) return true;
  const char c = t[s - 1];
  if (is_alnum(c) || c == '_') return after_escape(t, s);
  if ((c == '.' || c == '-' || c == '+') && s >= 2 && (is_alnum(t[s - 2]) || t[s - 2] == '_') &&
      !after_escape(t, s - 1)) {
    return false;
  }
  return true;
}

bool after_product_slash(std::string_view t, size_t s) {
  return s >= 2 && t[s - 1] == '/' && (is_alnum(t[s - 2]) || t[s - 2] == '_');
}

// Not glued to what follows. `ipv4`: a range may follow, only ".digit" glues. '/' never glues
// (a path goes on, a CIDR length follows).
bool numeric_right_ok(std::string_view t, size_t e, bool ipv4 = false) {
  if (e >= t.size()) return true;
  const char c = t[e];
  if (is_alnum(c) || c == '_') return false;
  if (e + 1 < t.size() && is_alnum(t[e + 1])) {
    if (ipv4) return !(c == '.' && is_digit(t[e + 1]));
    if (c == '.' || c == '-') return false;
  }
  return true;
}

// The digits at t[i], counted up to max + 1 (one more tells a longer run from a run of max).
size_t digits_at(std::string_view t, size_t i, size_t max) {
  if (i >= t.size()) return 0;
  const size_t left = t.size() - i;
  const size_t limit = max >= left ? left : max + 1;
  const char* d = t.data() + i;
  size_t k = 0;
  while (k < limit && is_digit(d[k])) ++k;
  return k;
}

size_t ssn_at(std::string_view t, size_t s) {
  if (s + 11 > t.size()) return 0;
  for (size_t i = 0; i < 11; ++i) {
    const bool dash = i == 3 || i == 6;
    if (dash ? t[s + i] != '-' : !is_digit(t[s + i])) return 0;
  }
  const int area = (t[s] - '0') * 100 + (t[s + 1] - '0') * 10 + (t[s + 2] - '0');
  const bool group0 = t[s + 4] == '0' && t[s + 5] == '0';
  const bool serial0 = t[s + 7] == '0' && t[s + 8] == '0' && t[s + 9] == '0' && t[s + 10] == '0';
  if (area == 0 || area == 666 || area >= 900 || group0 || serial0) return 0;
  return numeric_right_ok(t, s + 11) ? s + 11 : 0;
}

size_t ipv4_at(std::string_view t, size_t s) {
  size_t i = s;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (i >= t.size() || t[i] != '.') return 0;
      ++i;
    }
    const size_t k = digits_at(t, i, 3);
    if (k == 0 || k > 3 || (k > 1 && t[i] == '0')) return 0;
    int v = 0;
    for (size_t j = 0; j < k; ++j) v = v * 10 + (t[i + j] - '0');
    if (v > 255) return 0;
    i += k;
  }
  return numeric_right_ok(t, i, true) ? i : 0;
}

size_t card_at(std::string_view t, size_t s) {
  if (t[s] < '2' || t[s] > '6') return 0;
  char digits[40];
  size_t nd = 0;
  size_t i = s;
  const size_t g0 = digits_at(t, i, 19);
  if (g0 > 19) return 0;
  for (size_t k = 0; k < g0; ++k) digits[nd++] = t[i + k];
  i += g0;
  if (g0 >= 12) {
    if (!card_digits_ok(std::string_view(digits, nd))) return 0;
    return numeric_right_ok(t, i) ? i : 0;
  }
  if (g0 != 4 || i + 1 >= t.size() || (t[i] != ' ' && t[i] != '-')) return 0;
  const char sep = t[i];
  size_t lens[6] = {4};
  size_t ends[6] = {i};
  size_t ng = 1;
  while (ng < 6 && i + 1 < t.size() && t[i] == sep && is_digit(t[i + 1])) {
    const size_t k = digits_at(t, i + 1, 6);
    if (k > 6) break;
    for (size_t j = 0; j < k; ++j) digits[nd++] = t[i + 1 + j];
    i += 1 + k;
    lens[ng] = k;
    ends[ng] = i;
    ++ng;
  }
  for (size_t k = ng; k >= 3; --k) {
    size_t total = 0;
    bool fours = true;
    for (size_t j = 0; j < k; ++j) {
      total += lens[j];
      if (j + 1 < k) fours = fours && lens[j] == 4;
    }
    const bool grouping = (fours && lens[k - 1] >= 1 && lens[k - 1] <= 4) ||
                          (k == 3 && lens[1] == 6 && (lens[2] == 5 || lens[2] == 4));
    if (!grouping || total < 12 || total > 19) continue;
    if (!card_digits_ok(std::string_view(digits, total))) continue;
    if (k < ng ? sep != ' ' : !numeric_right_ok(t, ends[k - 1])) continue;
    return ends[k - 1];
  }
  return 0;
}

// NANP: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671.
size_t nanp_at(std::string_view t, size_t i) {
  auto d3 = [&](size_t at) { return at + 3 <= t.size() && digits_at(t, at, 3) == 3; };
  size_t j;
  char sep;
  if (i < t.size() && t[i] == '(') {
    if (!d3(i + 1) || i + 4 >= t.size() || t[i + 4] != ')') return 0;
    if (t[i + 1] < '2') return 0;
    j = i + 5;
    if (j < t.size() && (t[j] == ' ' || t[j] == '-')) ++j;
    if (!d3(j) || t[j] < '2') return 0;
    j += 3;
    if (j >= t.size() || (t[j] != '-' && t[j] != ' ' && t[j] != '.')) return 0;
    sep = t[j];
  } else {
    if (!d3(i) || t[i] < '2') return 0;
    j = i + 3;
    if (j >= t.size() || (t[j] != '-' && t[j] != ' ' && t[j] != '.')) return 0;
    sep = t[j];
    if (!d3(j + 1) || t[j + 1] < '2') return 0;
    j += 4;
    if (j >= t.size() || t[j] != sep) return 0;
  }
  if (j + 5 > t.size() || digits_at(t, j + 1, 4) != 4) return 0;
  const size_t e = j + 5;
  return numeric_right_ok(t, e) ? e : 0;
}

// National numbers with a trunk 0: 9–12 digits in 2–5 groups, one separator.
size_t national0_at(std::string_view t, size_t s) {
  size_t i = s;
  const bool paren = t[i] == '(';
  if (paren) ++i;
  if (i + 1 >= t.size() || t[i] != '0' || !is_digit(t[i + 1]) || t[i + 1] == '0') return 0;
  const size_t g0 = digits_at(t, i, 5);
  if (g0 < 2 || g0 > 5) return 0;
  i += g0;
  if (paren) {
    if (i >= t.size() || t[i] != ')') return 0;
    ++i;
    if (i < t.size() && (t[i] == ' ' || t[i] == '-')) ++i;
    if (i >= t.size() || !is_digit(t[i])) return 0;
  }
  size_t total = g0;
  size_t ends[5] = {i};
  size_t sums[5] = {g0};
  size_t ng = 1;
  char sep = 0;
  while (ng < 5) {
    size_t j = i;
    if (!(paren && ng == 1)) {
      if (j >= t.size()) break;
      const char c = t[j];
      if (c != ' ' && c != '-' && c != '.' && c != '/') break;
      if (sep != 0 && c != sep) break;
      sep = c;
      ++j;
    }
    const size_t k = digits_at(t, j, 8);
    if (k < 2 || k > 8) break;
    i = j + k;
    total += k;
    ends[ng] = i;
    sums[ng] = total;
    ++ng;
  }
  for (size_t k = ng; k >= 2; --k) {
    if (sums[k - 1] < 9 || sums[k - 1] > 12) continue;
    if (k == 2 && !paren && sep == '-' && g0 == 5 && sums[1] == 9) continue;  // ZIP+4 08482-8313
    if (k < ng ? sep != ' ' : !numeric_right_ok(t, ends[k - 1])) continue;
    return ends[k - 1];
  }
  return 0;
}

// International: '+' then 8–15 digits, grouped or not, one parenthesised group.
size_t intl_at(std::string_view t, size_t i) {
  if (i >= t.size() || !is_digit(t[i]) || t[i] == '0') return 0;
  size_t ends[8];
  size_t sums[8];
  char seps[8];  // the separator after group k
  size_t ng = 0;
  size_t total = 0;
  bool had_paren = false;
  while (ng < 8) {
    size_t j = i;
    bool paren = false;
    if (j < t.size() && t[j] == '(' && ng > 0 && !had_paren) {
      paren = true;
      had_paren = true;
      ++j;
    }
    const size_t k = digits_at(t, j, 15);
    if (k == 0 || (paren && k > 4)) break;
    if (ng == 0 && k > 15) return 0;
    if (ng > 0 && k > 10) break;
    j += k;
    if (paren) {
      if (j >= t.size() || t[j] != ')') break;
      ++j;
    }
    total += k;
    ends[ng] = j;
    sums[ng] = total;
    seps[ng] = 0;
    ++ng;
    i = j;
    if (i >= t.size()) break;
    const char c = t[i];
    if ((c == ' ' || c == '-' || c == '.') && i + 1 < t.size() &&
        (is_digit(t[i + 1]) || t[i + 1] == '(')) {
      seps[ng - 1] = c;
      ++i;
    } else if (paren && is_digit(c)) {  // "+49 (0)30 …"
      seps[ng - 1] = ')';
    } else if (c == '(' && !had_paren) {
      seps[ng - 1] = '(';
    } else {
      break;
    }
  }
  for (size_t k = ng; k >= 1; --k) {
    const size_t digits = sums[k - 1];
    if (digits < 8 || digits > 15) continue;
    if (k > 1 && sums[0] > 4) continue;  // country code then groups
    if (k < ng ? seps[k - 1] != ' ' : !numeric_right_ok(t, ends[k - 1])) continue;
    return ends[k - 1];
  }
  return 0;
}

// "(+44) 20 7946 0958", "(+91) 98765 43210": a country code in parentheses at t[s] == '(',
// then a space or '-' and the number's groups, read as after '+'.
size_t paren_intl_at(std::string_view t, size_t s) {
  const size_t i = s + 2;
  const size_t k = digits_at(t, i, 4);
  if (k == 0 || k > 3 || t[i] == '0' || i + k + 1 >= t.size() || t[i + k] != ')') return 0;
  const size_t j = i + k + 1;  // the separator after ')'
  if (t[j] != ' ' && t[j] != '-') return 0;
  char buf[64];  // the country code, the separator and what follows, as intl_at() reads them
  std::memcpy(buf, t.data() + i, k);
  buf[k] = t[j];
  const size_t take = std::min(t.size() - (j + 1), sizeof(buf) - (k + 1));
  std::memcpy(buf + k + 1, t.data() + j + 1, take);
  const size_t e = intl_at(std::string_view(buf, k + 1 + take), 0);
  if (e <= k + 1) return 0;
  const size_t end = j + 1 + (e - (k + 1));
  return numeric_right_ok(t, end) ? end : 0;
}

size_t phone_at(std::string_view t, size_t s) {
  if (t[s] == '(' && s + 1 < t.size() && t[s + 1] == '+') return paren_intl_at(t, s);
  if (t[s] == '+') return intl_at(t, s + 1);
  if (t[s] == '%') return intl_at(t, s + 3);  // %2B
  if (t[s] == '0' && s + 2 < t.size() && t[s + 1] == '0' && t[s + 2] >= '1' && t[s + 2] <= '9') {
    // The 00 international prefix ("0049 30 901820", "0044-20-7946-0958"): as after '+', but
    // only in groups (a bare run of digits that starts 00 is no phone number).
    const size_t e = intl_at(t, s + 2);
    if (e != 0 && t.substr(s, e - s).find_first_of(" -.(") != std::string_view::npos) return e;
  }
  size_t i = s;
  if (t[i] == '1' && i + 2 < t.size() && (t[i + 1] == '-' || t[i + 1] == ' ' || t[i + 1] == '.') &&
      (is_digit(t[i + 2]) || t[i + 2] == '(')) {
    return nanp_at(t, i + 2);
  }
  if (const size_t e = nanp_at(t, i)) return e;
  return national0_at(t, s);
}

// An IBAN from `s`, all in upper case or (as typed into forms) all in lower case: its letters
// are read in upper case for the country and the mod-97 check.
size_t iban_at(std::string_view t, size_t s) {
  const bool lower = is_lower(t[s]);
  const char up = lower ? 0x20 : 0;  // what to take off a letter to read it in upper case
  const size_t len = iban_length(static_cast<char>(t[s] - up), static_cast<char>(t[s + 1] - up));
  if (len == 0 || s + 4 > t.size() || !is_digit(t[s + 2]) || !is_digit(t[s + 3])) return 0;
  char compact[34];
  compact[0] = static_cast<char>(t[s] - up);
  compact[1] = static_cast<char>(t[s + 1] - up);
  compact[2] = t[s + 2];
  compact[3] = t[s + 3];
  size_t got = 4;
  size_t i = s + 4;
  auto bban = [lower](char c) { return (lower ? is_lower(c) : is_upper(c)) || is_digit(c); };
  auto upper = [up](char c) { return is_digit(c) ? c : static_cast<char>(c - up); };
  if (i < t.size() && t[i] == ' ') {
    while (got < len) {
      if (i + 1 >= t.size() || t[i] != ' ') return 0;
      ++i;
      const size_t want = std::min<size_t>(4, len - got);
      for (size_t k = 0; k < want; ++k, ++i) {
        if (i >= t.size() || !bban(t[i])) return 0;
        compact[got++] = upper(t[i]);
      }
    }
  } else {
    while (got < len && i < t.size() && bban(t[i])) compact[got++] = upper(t[i++]);
    if (got < len) return 0;
  }
  if (i < t.size() && (is_alnum(t[i]) || t[i] == '_')) return 0;
  return iban_mod97_ok(std::string_view(compact, len)) ? i : 0;
}

// When the digit run at `pos` begins inside a hex escape ("%204111…", "\u00224111…"), where
// the escape ends; else `pos`.
size_t past_hex_escape(std::string_view t, size_t pos) {
  // Inside an escape the byte before `pos` is its '%', its 'u' or one of its hex digits.
  if (pos == 0 || !(t[pos - 1] == '%' || t[pos - 1] == 'u' || is_hex(t[pos - 1]))) return pos;
  if (pos >= 1 && t[pos - 1] == '%' && pos + 2 <= t.size() && is_hex(t[pos + 1])) return pos + 2;
  for (size_t k = 0; k < 4; ++k) {
    if (pos < k + 2) break;
    const size_t q = pos - k;  // the first hex digit of the escape
    if (t[q - 2] != '\\' || t[q - 1] != 'u' || q + 4 > t.size()) continue;
    bool hex = true;
    for (size_t i = q; i < q + 4; ++i) hex = hex && is_hex(t[i]);
    if (hex) return q + 4;
  }
  return pos;
}

size_t DetectorsImpl::numeric_at(Pass& p, size_t pos) const {
  const std::string_view t = p.t;
  const size_t n = t.size();
  if (const size_t past = past_hex_escape(t, pos); past != pos) {
    if (past >= n || !is_digit(t[past])) return past;
    pos = past;
  }
  if (on(Kind::kIban) && pos >= 2 &&
      ((is_upper(t[pos - 2]) && is_upper(t[pos - 1])) ||
       (is_lower(t[pos - 2]) && is_lower(t[pos - 1]))) &&
      word_left_ok(t, pos - 2)) {
    if (const size_t e = iban_at(t, pos - 2)) {
      emit(p, pos - 2, e, Kind::kIban);
      return e;
    }
  }
  size_t cb = pos;
  if (cb > 0 && t[cb - 1] == '(') --cb;
  if (cb > 0 && t[cb - 1] == '+') {
    --cb;
    if (cb + 1 == pos && cb > 0 && t[cb - 1] == '(') --cb;  // "(+44) 20 …"
  } else if (cb == pos && cb >= 3 && t[cb - 3] == '%' && t[cb - 2] == '2' &&
             (t[cb - 1] == 'B' || t[cb - 1] == 'b')) {
    cb -= 3;
  }
  // the cluster: digit groups joined by single separators and parentheses
  size_t i = pos;
  size_t digits = 0;
  size_t groups = 0;
  while (true) {
    const size_t k = digits_at(t, i, n);
    digits += k;
    groups += k > 0;
    i += k;
    if (i + 1 >= n) break;
    const char c = t[i];
    const char d = t[i + 1];
    if ((c == ' ' || c == '-' || c == '.' || c == '/' || c == '(') && is_digit(d)) {
      ++i;
    } else if (c == ' ' && d == '(' && i + 2 < n && is_digit(t[i + 2])) {
      i += 2;
    } else if (c == ')' && is_digit(d)) {
      ++i;
    } else if (c == ')' && (d == ' ' || d == '-' || d == '.') && i + 2 < n && is_digit(t[i + 2])) {
      i += 2;
    } else {
      break;
    }
  }
  const size_t ce = i;
  if (digits < 4) return ce;
  if (groups == 1 && cb == pos && digits < 12) return ce;  // a lone number is at most a card
  const bool card = on(Kind::kCard);
  const bool phone = on(Kind::kPhone);
  const bool ssn = on(Kind::kSsn);
  const bool ipv4 = on(Kind::kIpv4);
  size_t done = cb;
  size_t s = cb;
  while (s < ce) {
    if (s >= done && numeric_left_ok(t, s)) {
      size_t best = 0;
      Kind kind = Kind::kNone;
      auto consider = [&](size_t e, Kind k) {
        if (e > best) {
          best = e;
          kind = k;
        }
      };
      if (is_digit(t[s])) {
        if (ssn) consider(ssn_at(t, s), Kind::kSsn);
        if (ipv4 && !after_product_slash(t, s)) consider(ipv4_at(t, s), Kind::kIpv4);
        if (card) consider(card_at(t, s), Kind::kCard);
      }
      if (phone) consider(phone_at(t, s), Kind::kPhone);
      if (best != 0) {
        if (!emit(p, s, best, kind)) return ce;
        done = best;
      }
    }
    // next candidate start: after a space
    size_t q = std::max(s + 1, done);
    while (q < ce && !(t[q - 1] == ' ' && (is_digit(t[q]) || t[q] == '('))) ++q;
    s = q;
  }
  return std::max(ce, done);
}

// ---------------------------------------------------------------------------------------------
// Runs of base64 bytes: UUIDs and secrets.

bool uuid_at(std::string_view t, size_t i) {
  for (size_t k = 0; k < 36; ++k) {
    const char c = t[i + k];
    if (k == 8 || k == 13 || k == 18 || k == 23) {
      if (c != '-') return false;
    } else if (!is_hex(c)) {
      return false;
    }
  }
  return true;
}

size_t DetectorsImpl::word_run_at(Pass& p, size_t pos) const {
  const std::string_view t = p.t;
  size_t b = pos + 1 - word_run_;
  while (b > 0 && is_secret_char(t[b - 1])) --b;
  size_t e = pos + 1;
  while (e < t.size() && is_secret_char(t[e])) ++e;
  size_t uuids_to = b;  // the UUIDs found in this run cover [b, uuids_to)
  if (on(Kind::kUuid) && e - b >= 36) {
    for (size_t i = b; i + 36 <= e; ++i) {
      if (t[i + 8] != '-' || !uuid_at(t, i)) continue;
      const bool left = i == b ? word_left_ok(t, i) : (!is_alnum(t[i - 1]) || after_escape(t, i));
      const bool right = i + 36 == t.size() || !is_alnum(t[i + 36]);
      if (left && right) {
        const size_t found = p.s.found.size();
        if (!emit(p, i, i + 36, Kind::kUuid)) return e;
        if (i == uuids_to && p.s.found.size() != found) uuids_to = i + 36;
        i += 35;
      }
    }
  }
  if (!on(Kind::kSecret) || e - b < secret_min_length_) return e;
  b += escape_tail(t, b);
  if (e - b >= 2 && t[b] == '-' && t[b + 1] == '-') return e;  // a multipart delimiter
  // '/' separates path segments unless the run reads as one base64 string
  bool split = t[b] == '/' || t[e - 1] == '/';
  if (!split && b >= 2 && t[b - 1] == '.' && is_alnum(t[b - 2])) {
    // A host's last label and the path after it ("cdn.example.com/img/SKU-1/5e87.jpg": the run
    // starts at "com"): a run of base64 has no '.', so one that starts right after a dotted
    // name with lower-case letters up to a '/' is a URL's host and path, and its '/' separate.
    size_t j = b;
    while (j < e && is_lower(t[j])) ++j;
    split = j > b && j < e && t[j] == '/';
  }
  for (size_t i = b; i < e && !split; ++i) {
    if (t[i] != '/') continue;
    size_t j = i + 1;
    while (j < e && t[j] != '/') ++j;
    size_t h = i;
    while (h > b && t[h - 1] != '/') --h;
    if (path_word(t.substr(h, i - h)) || path_word(t.substr(i + 1, j - i - 1))) split = true;
  }
  if (!split) {
    if (uuids_to >= e) {
      // The run is UUIDs end to end (most runs of 36 bytes are one): the secret piece could
      // only fill what they leave, which is nothing unless a longer candidate of another kind
      // beats one of them in resolve(). So it is worked out there, and only then (kDeferred).
      p.s.secrets.push_back(
          Span{static_cast<uint32_t>(b), static_cast<uint32_t>(e), Kind::kSecret, kDeferred});
      return e;
    }
    secret_piece(p, b, e);
    return e;
  }
  size_t i = b;
  while (i < e) {
    size_t j = i;
    while (j < e && t[j] != '/') ++j;
    secret_piece(p, i, j);
    if (stopped(p)) return e;
    i = j + 1;
  }
  return e;
}

// A piece [b, e) of a base64 run, with '=' padding taken from the text after it.
void DetectorsImpl::secret_piece(Pass& p, size_t b, size_t e) const {
  const Span sp = secret_span(p.t, b, e);
  if (sp.end > sp.begin) emit_secret(p, sp.begin, sp.end);
}

Span DetectorsImpl::secret_span(std::string_view t, size_t b, size_t e) const {
  while (b < e && !is_alnum(t[b])) ++b;
  while (e > b && !is_alnum(t[e - 1])) --e;
  if (e - b < secret_min_length_) return {};
  if (!looks_random(t.substr(b, e - b), secret_min_length_, secret_min_entropy_)) return {};
  size_t pe = e;
  if (pe < t.size() && t[pe] == '=') {
    size_t q = pe + 1;
    if (q < t.size() && t[q] == '=') ++q;
    if (q >= t.size() || !(is_secret_char(t[q]) || t[q] == '=')) pe = q;  // not "key=value"
  }
  return Span{static_cast<uint32_t>(b), static_cast<uint32_t>(pe), Kind::kSecret};
}

// ---------------------------------------------------------------------------------------------
// Overlaps.

void DetectorsImpl::keep_secret_piece(Pass& p, size_t b, size_t e, const Span& whole) const {
  if (b == whole.begin && e == whole.end) {
    p.s.kept_secrets.push_back(whole);
    return;
  }
  const std::string_view t = p.t;
  while (b < e && !is_alnum(t[b])) ++b;
  size_t core = e;
  while (core > b && !is_alnum(t[core - 1])) --core;
  if (core - b < secret_min_length_) return;
  if (!looks_random(t.substr(b, core - b), secret_min_length_, secret_min_entropy_)) return;
  if (allowed(t.substr(b, e - b))) return;
  const size_t end = e == whole.end ? e : core;  // keep padding only at the original end
  p.s.kept_secrets.push_back(
      Span{static_cast<uint32_t>(b), static_cast<uint32_t>(end), Kind::kSecret});
}

void DetectorsImpl::resolve(Pass& p, std::vector<Span>& out) const {
  ScratchImpl& s = p.s;
  auto& f = s.found;
  std::sort(f.begin(), f.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  auto& acc = s.accepted;
  acc.clear();
  for (size_t i = 0; i < f.size();) {
    size_t j = i + 1;
    uint32_t reach = f[i].end;
    while (j < f.size() && f[j].begin < reach) {
      reach = std::max(reach, f[j].end);
      ++j;
    }
    if (j - i == 1) {
      acc.push_back(f[i]);
    } else {
      // overlapping candidates: longer, then earlier, then by kind
      s.group.assign(f.begin() + static_cast<ptrdiff_t>(i), f.begin() + static_cast<ptrdiff_t>(j));
      std::sort(s.group.begin(), s.group.end(), [](const Span& a, const Span& b) {
        const uint32_t la = a.end - a.begin;
        const uint32_t lb = b.end - b.begin;
        if (la != lb) return la > lb;
        if (a.begin != b.begin) return a.begin < b.begin;
        if (priority(a.kind) != priority(b.kind)) return priority(a.kind) > priority(b.kind);
        return a.custom < b.custom;
      });
      const size_t first = acc.size();
      for (const Span& g : s.group) {
        bool clash = false;
        for (size_t k = first; k < acc.size() && !clash; ++k) {
          clash = g.begin < acc[k].end && acc[k].begin < g.end;
        }
        if (!clash) acc.push_back(g);
      }
      std::sort(acc.begin() + static_cast<ptrdiff_t>(first), acc.end(),
                [](const Span& a, const Span& b) { return a.begin < b.begin; });
    }
    i = j;
  }
  // secrets fill what the specific kinds leave
  s.kept_secrets.clear();
  size_t a = 0;
  for (Span sp : s.secrets) {
    while (a < acc.size() && acc[a].end <= sp.begin) ++a;
    if (sp.custom == kDeferred) {
      // A run of UUIDs (word_run_at): nothing to fill when they were all accepted; otherwise
      // the piece it would have been, worked out now.
      size_t cur = sp.begin;
      for (size_t k = a; k < acc.size() && acc[k].begin <= cur && cur < sp.end; ++k) {
        cur = std::max<size_t>(cur, acc[k].end);
      }
      if (cur >= sp.end) continue;
      sp = secret_span(p.t, sp.begin, sp.end);
      if (sp.end <= sp.begin || allowed(p.t.substr(sp.begin, sp.end - sp.begin))) continue;
      while (a < acc.size() && acc[a].end <= sp.begin) ++a;
    }
    size_t cur = sp.begin;
    for (size_t k = a; k < acc.size() && acc[k].begin < sp.end; ++k) {
      if (acc[k].begin > cur) keep_secret_piece(p, cur, acc[k].begin, sp);
      cur = std::max<size_t>(cur, acc[k].end);
    }
    if (cur < sp.end) keep_secret_piece(p, cur, sp.end, sp);
  }
  const size_t base = out.size();
  out.resize(base + acc.size() + s.kept_secrets.size());
  std::merge(acc.begin(), acc.end(), s.kept_secrets.begin(), s.kept_secrets.end(),
             out.begin() + static_cast<ptrdiff_t>(base),
             [](const Span& x, const Span& y) { return x.begin < y.begin; });
}

// ---------------------------------------------------------------------------------------------
// Key names.

Kind DetectorsImpl::classify_key(std::string_view key, std::string_view parent) const {
  Words kw;
  split_words(key, kw);
  if (kw.n == 0) return Kind::kNone;
  Words pw;
  bool parent_split = false;
  auto parent_any = [&](auto pred) {
    if (!parent_split) {
      split_words(parent, pw);
      parent_split = true;
    }
    for (int i = 0; i < pw.n; ++i) {
      if (pred(pw.word(i))) return true;
    }
    return false;
  };
  // prev: the word before the entry's, prev2 the one before that (empty when none).
  auto apply = [&](const KeyEntry& e, std::string_view prev, std::string_view prev2) -> Kind {
    switch (e.rule) {
      case Rule::kPlain:
        return e.kind;
      case Rule::kName:
        if (!prev.empty()) return person_like(prev) ? Kind::kName : Kind::kNone;
        return parent_any(person_like) ? Kind::kName : Kind::kNone;
      case Rule::kAddress:
        if (prev == "email" || prev == "mail") return Kind::kEmail;
        if (!prev.empty()) return non_postal(prev) ? Kind::kNone : Kind::kAddress;
        return parent_any(non_postal) ? Kind::kNone : Kind::kAddress;
      case Rule::kLine:
        if (!prev.empty()) return address_like(prev) ? Kind::kAddress : Kind::kNone;
        return parent_any(address_like) ? Kind::kAddress : Kind::kNone;
      case Rule::kNumber:
        if (!prev.empty()) {
          if (card_like(prev)) return Kind::kCard;
          if (phone_like(prev)) return Kind::kPhone;
          if (identifier_like(prev) || (prev == "id" && identifier_like(prev2)) ||
              ((prev == "license" || prev == "licence") && driver_like(prev2))) {
            return Kind::kSsn;
          }
          return Kind::kNone;
        }
        if (parent_any(card_like)) return Kind::kCard;
        if (parent_any(phone_like)) return Kind::kPhone;
        if (parent_any(identifier_like)) return Kind::kSsn;
        return parent_any(driver_like) && parent_any([](std::string_view w) {
                 return w == "license" || w == "licence";
               })
                   ? Kind::kSsn
                   : Kind::kNone;
      case Rule::kLogin:
        return prev.empty() || person_like(prev) ? Kind::kName : Kind::kNone;
      case Rule::kLicense:
        if (!prev.empty()) return driver_like(prev) ? Kind::kSsn : Kind::kNone;
        return parent_any(driver_like) ? Kind::kSsn : Kind::kNone;
      case Rule::kNamePart:
        if (!prev.empty()) return Kind::kNone;
        return parent_any([](std::string_view w) { return w == "name"; }) ? Kind::kName
                                                                          : Kind::kNone;
    }
    return Kind::kNone;
  };
  for (int i = 0; i < kw.n; ++i) {
    if (const KeyEntry* e = find_key_entry(kw.from(i))) {
      return apply(*e, i > 0 ? kw.word(i - 1) : std::string_view(),
                   i > 1 ? kw.word(i - 2) : std::string_view());
    }
  }
  // The qualifier last ("nombre_cliente", "telefono_del_usuario", "adresse_du_client"): the
  // longest run of first words that is an entry, followed only by person-like words and the
  // articles between them. A name word ("nombre", "nom") is a person's when one of them is
  // person-like; an address word not after "ip" is met here ("direccion_ip" ends in "ip").
  for (int j = kw.n - 1; j >= 1; --j) {
    bool qualified = true, person = false;
    for (int k = j; k < kw.n && qualified; ++k) {
      qualified = qualifier_word(kw.word(k));
      person |= person_like(kw.word(k));
    }
    if (!qualified) break;  // (a shorter head leaves that word in its tail too)
    const std::string_view head(kw.buf, kw.off[j]);
    if (const KeyEntry* e = find_key_entry(head)) {
      if (e->rule == Rule::kName) return person ? Kind::kName : Kind::kNone;
      if (e->rule == Rule::kPlain || e->rule == Rule::kAddress) return e->kind;
      return Kind::kNone;
    }
  }
  if (kw.n == 1) {  // one lowercase run: "customeremail", "userfirstname"
    const std::string_view w = kw.from(0);
    const KeyEntry* best = nullptr;
    for (const KeyEntry& e : kKeyEntries) {
      if (!e.suffix || w.size() <= e.word.size() || w.substr(w.size() - e.word.size()) != e.word) {
        continue;
      }
      if (best == nullptr || e.word.size() > best->word.size()) best = &e;
    }
    if (best != nullptr) return apply(*best, w.substr(0, w.size() - best->word.size()), {});
  }
  return Kind::kNone;
}

bool DetectorsImpl::person_key(std::string_view key) const {
  Words kw;
  split_words(key, kw);
  if (kw.n == 0) return false;
  const std::string_view last = kw.word(kw.n - 1);
  if (last == "agent" && kw.n >= 2 && kw.word(kw.n - 2) == "user") return false;  // user_agent
  if (person_value_word(last)) return true;
  if (kw.n >= 2 && last == "by") return true;  // created_by, approvedBy
  if (kw.n >= 2 && last == "to") return person_to_word(kw.word(kw.n - 2));
  const std::string_view all = kw.from(0);
  return all == "nextofkin" || all == "careof" || all == "shipto" || all == "billto";
}

}  // namespace

bool name_shaped(std::string_view v) {
  if (v.size() < 3 || v.size() > 64) return false;
  size_t words = 0;
  size_t i = 0;
  while (i <= v.size()) {
    size_t end = v.find(' ', i);
    if (end == std::string_view::npos) end = v.size();
    const std::string_view w = v.substr(i, end - i);
    if (w.empty() || ++words > 5) return false;  // a leading, trailing or double space
    bool letter = false;
    for (char c : w) {
      const auto u = static_cast<unsigned char>(c);
      if (!name_word_byte(u)) return false;
      letter |= is_alpha(c) || u >= 0x80;
    }
    if (!letter) return false;
    const auto first = static_cast<unsigned char>(w.front());
    const bool capital = is_upper(w.front()) || first >= 0xC0;  // a UTF-8 lead byte
    const bool edge = i == 0 || end == v.size();
    if (!capital && (edge || !name_particle(w))) return false;
    i = end + 1;
  }
  return words >= 2;
}

Result<std::unique_ptr<Detectors>> Detectors::build(const DetectorOptions& options) {
  if (hs_valid_platform() != HS_SUCCESS) {
    return fail("detectors: this CPU lacks SSSE3, which Hyperscan needs");
  }
  auto d = std::make_unique<DetectorsImpl>(options);
  if (auto r = d->compile(); !r) return tl::unexpected(r.error());
  return std::unique_ptr<Detectors>(std::move(d));
}

}  // namespace twin::scrubber
