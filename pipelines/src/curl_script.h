#pragma once
// The curl script of `twin reproduce -o`: the captured requests as a bash script that anyone can
// run against a target without twin — one curl process per captured session, its requests
// joined by --next so that curl sends them on one connection, in captured order.

#include <string>
#include <string_view>
#include <vector>

#include "twin/replay/target.h"
#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::cli {

/// Quotes `bytes` as one bash word: '...' when every byte is printable ASCII, else $'...' with
/// \xHH escapes. A NUL byte cannot be in a bash word: it is written as \x00 and cuts the word
/// there, so callers pass no NUL (request headers that hold one are never sent).
std::string shell_quote(std::string_view bytes);

/// `bytes` as a printf format in single quotes that prints exactly these bytes (any bytes,
/// NUL included: bash's printf builtin reads \ooo octal escapes).
std::string printf_quote(std::string_view bytes);

/// Writes the script to `path` (mode 0755). `exchanges` are the captured exchanges in capture
/// order; sessions follow each other in the order of their first request. The base URL defaults
/// to the target's and may be given as the script's first argument. Errors name the file.
Result<void> write_curl_script(const std::string& path,
                               const std::vector<const traffic::Exchange*>& exchanges,
                               const replay::Target& target, bool insecure);

}  // namespace twin::cli
