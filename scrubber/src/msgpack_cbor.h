#pragma once
// MessagePack and CBOR bodies, rewritten value by value through the JSON visitor.
//
// Both are binary forms of JSON's data model (maps with keys, arrays, strings, numbers), and
// both put a string's length right before its bytes: MessagePack's str8 header is 0xd9 and one
// length byte, which for 48 bytes is 0x30, the character '0'; CBOR's is 'x' (0x78) and the
// length. Scanned as one run of bytes, the detectors read such a length as the first character
// of the secret after it, and a token written over it changes the length: the document no
// longer parses and the replay sends the candidate a request it rejects. So each string is
// handed to the visitor on its own, under the path its map keys make (as JSON's:
// "user.addresses[].street"), and its header is written again for what replaced it; numbers
// go to the visitor as decimals and come back in their type's encoding. Neither format counts
// bytes around a value (maps and arrays count items), so a replacement may have any length.
//
// Written here, not read and written again with nlohmann/json's from_msgpack/to_cbor: that
// would not give back the same bytes (integer and float widths, str8 against fixstr, CBOR's
// tags, indefinite lengths and simple values), and the scrubber promises every byte outside
// the values it replaces. The readers are small; the tests use nlohmann/json as the
// independent reader and writer.
//
// MessagePack: github.com/msgpack/msgpack/blob/master/spec.md. CBOR: RFC 8949 (with CBOR
// sequences, RFC 8742: several items one after another, as several MessagePack objects may
// be). Each string, binary string and number is visited; a binary string (MessagePack bin,
// CBOR byte string) with JsonVisitor::bytes set. A map key that is a string is a key (kKey, and
// its path segment); an integer key (COSE's) makes its decimal the segment, any other "?".
// Not visited: nil, booleans, CBOR's simple values and half-precision floats, MessagePack's
// extension types (a timestamp's bytes), NaN and infinities. A CBOR tag is read through (the
// tagged item has the path the tag has). Every top-level item must be a map or an array (a
// CBOR one may be tagged): text sent under such a media type would otherwise parse, each
// character a small integer or a short string, and hide an e-mail address from the detectors.

#include <string>
#include <string_view>

#include "json_rewrite.h"

namespace twin::scrubber {

/// Rewrites the MessagePack objects of `in` (one or more, one after another) into `out`
/// (cleared first): every byte as it was but for the values the visitor replaced. A string
/// replacement is written with its header in the original format when it fits (fixstr, str8,
/// str16, str32; bin8, bin16, bin32), else the smallest that does. A number replacement must be
/// a JSON number: an integer's is written in its original format when it fits, else in the
/// smallest one (a negative one in a signed one, one past 64 bits taken modulo 2^64), a
/// non-integer one for an integer rounded toward zero; a float's (float 32 or 64) in its own
/// width (past float 32's range: an infinity). One that is not a JSON number is not used and
/// counted in bad_numbers. When the input does not parse, what came before the error was
/// rewritten and the input from `error_offset` on was copied unchanged: `out` ends with
/// in.substr(error_offset), for the caller to read as bytes; valid is false. Depth is capped at
/// 512, as for JSON.
JsonRewriteResult rewrite_msgpack(std::string_view in, JsonVisitor& visitor, std::string& out);

/// The same for CBOR data items (RFC 8949), one or more: a replaced string's head keeps its
/// width when the length fits it (a chunk of an indefinite-length string is a string of its
/// own), an integer's likewise, major type 0 or 1 by its sign; float 32 and 64 keep their
/// width.
JsonRewriteResult rewrite_cbor(std::string_view in, JsonVisitor& visitor, std::string& out);

}  // namespace twin::scrubber
