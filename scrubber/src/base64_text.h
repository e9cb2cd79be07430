#pragma once
// Text in base64: pagination cursors ("eyJpZCI6MTIzNDV9" is {"id":12345}, Relay's
// "YXJyYXljb25uZWN0aW9uOjE5" is "arrayconnection:19"), OAuth state, session payloads. Such a
// run reads as a random secret to the detectors; tokenized as one, a replayed request carries a
// cursor the candidate cannot decode and the replay takes its error path instead of the page.
// The scrubber reads such a run decoded and encodes what it made of it in the run's own style
// (alphabet and padding), so a cursor without personal data stays byte for byte what it was.
//
// Strict on purpose: a random key or session id must never be taken for text. One alphabet
// (standard "+/" or URL-safe "-_", never both), '=' only as the padding that completes the last
// quantum, the unused bits of the last character zero (every encoder writes them so), and the
// decoded bytes UTF-8 without control characters other than tab, CR and LF. Random bytes of 15
// or more (a secret run is at least 20 characters) pass that with a probability below 1e-6.
// No library decodes under these rules and reports the style; the code is small.

#include <string>
#include <string_view>

namespace twin::scrubber {

struct Base64Style {
  bool url = false;     // '-' and '_' for 62 and 63 (else '+' and '/')
  bool padded = false;  // '=' up to a multiple of 4 characters
};

/// Decodes `in` into `out` (cleared first) when it is base64 of text under the rules above,
/// and says its style. False (and `out` unspecified) otherwise.
bool decode_base64_text(std::string_view in, std::string& out, Base64Style& style);

/// Appends the base64 of `bytes` in `style` to `out`.
void encode_base64(std::string_view bytes, Base64Style style, std::string& out);

}  // namespace twin::scrubber
