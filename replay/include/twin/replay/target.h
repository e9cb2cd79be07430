#pragma once
// Replay targets and what is sent to them: `--target [NAME=]URL` parsed, and a captured request
// rewritten for one target (authority, headers set and removed, path prefix). A replay sends
// traffic only to the targets it is given (DESIGN.md): nothing here resolves or guesses a host.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::replay {

/// How a target is spoken to. The URL's scheme picks it: http:// (HTTP/1.1), https:// (TLS, HTTP/2
/// or HTTP/1.1 as ALPN agrees), h2c:// (HTTP/2 with prior knowledge, cleartext), h2:// (TLS with
/// HTTP/2 required).
enum class Scheme : uint8_t { kHttp, kHttps, kH2c, kH2 };
std::string_view to_string(Scheme s);

struct Target {
  std::string name;  // "baseline"; defaults to "target", or "target2", … when unnamed
  Scheme scheme = Scheme::kHttp;
  std::string host;         // as written: a name, an IPv4 address or an IPv6 address (no [])
  uint16_t port = 0;        // the scheme's default when the URL has none
  std::string path_prefix;  // the URL's path without a trailing '/', prepended to every path
  std::string authority;    // host[:port] as written in the URL: the default Host/:authority
  bool tls() const { return scheme == Scheme::kHttps || scheme == Scheme::kH2; }
};

/// Parses "[NAME=]URL". `index` numbers unnamed targets (0 → "target", 1 → "target2", …).
/// Errors are one line naming the spec, e.g. "--target x=ftp://h: unsupported scheme 'ftp'".
Result<Target> parse_target(std::string_view spec, size_t index = 0);

/// How captured requests are changed before they are sent; the same for every target except
/// the authority, which is the target's own unless `authority` is set.
struct Rewrite {
  /// Host / :authority to send. Empty: keep the captured one when `keep_authority`, else the
  /// target's authority.
  std::string authority;
  bool keep_authority = false;
  /// Headers to set (replacing every header of that name, case-insensitive) or add.
  std::vector<traffic::Header> set_headers;
  /// Header names to remove (case-insensitive).
  std::vector<std::string> remove_headers;
  /// Prepended to the captured path (after the target URL's own prefix).
  std::string path_prefix;
  /// Removed from the front of the captured path before anything is prepended, when present.
  std::string strip_prefix;
};

/// A request ready to send: the captured one with hop-by-hop headers gone (Connection,
/// Keep-Alive, Proxy-Connection, TE except "trailers", Transfer-Encoding, Upgrade, HTTP/2
/// pseudo-headers, Host, Content-Length), rewrites applied, and the body as captured. The
/// HTTP/1.1 and HTTP/2 clients add Host/:authority and Content-Length themselves.
struct OutRequest {
  std::string method;
  std::string path;       // origin form: "/a/b?c=d"
  std::string authority;  // what goes in Host or :authority
  traffic::Headers headers;
  std::string body;
  /// The captured body was cut at capture's --max-body: what is sent is shorter than what was.
  bool body_truncated = false;
};

/// Builds what `target` is sent for the captured `request`. An absolute-form target
/// ("http://h/p") is reduced to its path; "*" (OPTIONS) is kept. A captured header that no
/// client may send (an empty name, a name with a control byte, space or ':', a value with CR,
/// LF or NUL) is left out; returns how many were, so that the caller counts them.
size_t prepare(const traffic::Request& request, bool body_truncated, const Target& target,
               const Rewrite& rewrite, OutRequest& out);

}  // namespace twin::replay
