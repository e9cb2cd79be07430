// Targets and request preparation (target.h).

#include "twin/replay/target.h"

#include <algorithm>
#include <charconv>

#include "bytes.h"

namespace twin::replay {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

// Headers a replay must not copy from the capture: they describe the captured connection, not
// the request (RFC 9110 7.6.1), or the clients set them from what they actually send.
bool hop_by_hop(std::string_view name) {
  if (!name.empty() && name[0] == ':') return true;
  // By length: most names have a length none of these has and need no comparison.
  switch (name.size()) {
    case 4:
      return iequals(name, "host");
    case 7:
      return iequals(name, "upgrade");
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 14:
      return iequals(name, "content-length") || iequals(name, "http2-settings");
    case 16:
      return iequals(name, "proxy-connection");
    case 17:
      return iequals(name, "transfer-encoding");
    case 18:
      return iequals(name, "proxy-authenticate");
    default:
      return false;
  }
}

// What the HTTP/1.1 serializer and the HTTP/2 session would refuse to put on the wire.
bool sendable(const traffic::Header& h) {
  if (h.name.empty()) return false;
  if (bytes::has_bad_name_byte(h.name)) return h.name[0] == ':';  // pseudo-headers: dropped later
  return !bytes::has_crlf_nul(h.value);
}

bool in_list(const std::vector<std::string>& names, std::string_view name) {
  for (const auto& n : names)
    if (iequals(n, name)) return true;
  return false;
}

}  // namespace

std::string_view to_string(Scheme s) {
  switch (s) {
    case Scheme::kHttp:
      return "http";
    case Scheme::kHttps:
      return "https";
    case Scheme::kH2c:
      return "h2c";
    case Scheme::kH2:
      return "h2";
  }
  return "?";
}

Result<Target> parse_target(std::string_view spec, size_t index) {
  std::string where = "--target " + std::string(spec);
  Target t;
  std::string_view url = spec;
  auto eq = spec.find('=');
  auto colon = spec.find("://");
  if (eq != std::string_view::npos && (colon == std::string_view::npos || eq < colon)) {
    t.name = std::string(spec.substr(0, eq));
    url = spec.substr(eq + 1);
    if (!valid_name(t.name))
      return fail(where + ": a target name is 1 to 64 letters, digits, '-', '_' or '.'");
  } else {
    t.name = index == 0 ? "target" : "target" + std::to_string(index + 1);
  }
  colon = url.find("://");
  if (colon == std::string_view::npos)
    return fail(where + ": not a URL (expected http://, https://, h2c:// or h2://)");
  std::string_view scheme = url.substr(0, colon);
  uint16_t default_port = 80;
  if (iequals(scheme, "http")) {
    t.scheme = Scheme::kHttp;
  } else if (iequals(scheme, "https")) {
    t.scheme = Scheme::kHttps;
    default_port = 443;
  } else if (iequals(scheme, "h2c")) {
    t.scheme = Scheme::kH2c;
  } else if (iequals(scheme, "h2")) {
    t.scheme = Scheme::kH2;
    default_port = 443;
  } else {
    return fail(where + ": unsupported scheme '" + std::string(scheme) + "'");
  }
  std::string_view rest = url.substr(colon + 3);
  auto slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (!path.empty() && path[0] != '/') return fail(where + ": a target URL has no query");
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    // The message names the target without its credentials: they are secrets.
    std::string shown = "--target " + std::string(spec.substr(0, spec.size() - url.size())) +
                        std::string(scheme) + "://***@" + std::string(rest.substr(at + 1));
    return fail(shown + ": credentials in a target URL are not supported (use --header)");
  }
  if (authority.empty()) return fail(where + ": no host");
  std::string_view host = authority;
  std::string_view port;
  if (authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(where + ": unclosed '[' in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return fail(where + ": junk after ']'");
      port = after.substr(1);
    }
  } else {
    auto c = authority.rfind(':');
    if (c != std::string_view::npos) {
      host = authority.substr(0, c);
      port = authority.substr(c + 1);
    }
  }
  if (host.empty()) return fail(where + ": no host");
  if (port.empty() && authority.back() == ':') return fail(where + ": empty port");
  t.port = default_port;
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return fail(where + ": bad port '" + std::string(port) + "'");
    t.port = static_cast<uint16_t>(value);
  }
  t.host = std::string(host);
  t.authority = std::string(authority);
  t.path_prefix = std::string(path);
  while (!t.path_prefix.empty() && t.path_prefix.back() == '/') t.path_prefix.pop_back();
  if (t.path_prefix.find_first_of("?#") != std::string::npos)
    return fail(where + ": a target URL has no query or fragment");
  return t;
}

size_t prepare(const traffic::Request& request, bool body_truncated, const Target& target,
               const Rewrite& rewrite, OutRequest& out) {
  out.method = request.method;
  // The path: absolute-form "http://h/p?q" becomes "/p?q"; "*" stays.
  std::string_view path = request.target;
  if (auto sep = path.find("://");
      sep != std::string_view::npos && !path.empty() && path[0] != '/') {
    auto start = path.find('/', sep + 3);
    path = start == std::string_view::npos ? std::string_view("/") : path.substr(start);
  }
  if (path.empty()) path = "/";
  out.path.clear();
  if (path == "*") {
    out.path.push_back('*');
  } else {
    if (!rewrite.strip_prefix.empty() &&
        path.substr(0, rewrite.strip_prefix.size()) == rewrite.strip_prefix) {
      path.remove_prefix(rewrite.strip_prefix.size());
    }
    out.path.append(target.path_prefix);
    out.path.append(rewrite.path_prefix);
    if (!out.path.empty() && out.path.back() == '/' && !path.empty() && path[0] == '/')
      out.path.pop_back();
    if (path.empty() || (path[0] != '/' && (path[0] != '?' || out.path.empty())))
      out.path.push_back('/');
    out.path.append(path);
  }
  if (!rewrite.authority.empty()) {
    out.authority = rewrite.authority;
  } else if (rewrite.keep_authority && !request.authority.empty()) {
    out.authority = request.authority;
  } else {
    out.authority = target.authority;
  }
  // `out` is reused from request to request: its header slots are assigned in place, so that
  // their strings keep their buffers, and the ones left over are dropped at the end.
  size_t used = 0;
  auto put = [&out, &used](const traffic::Header& h) {
    if (used < out.headers.size()) {
      traffic::Header& slot = out.headers[used];
      traffic::overwrite(slot.name, h.name);
      traffic::overwrite(slot.value, h.value);
    } else {
      out.headers.push_back(h);
    }
    ++used;
  };
  size_t invalid = 0;
  for (const auto& h : request.headers) {
    if (!sendable(h)) {
      ++invalid;
      continue;
    }
    if (hop_by_hop(h.name)) continue;
    // TE: only "trailers" is allowed end to end (and in HTTP/2).
    if (iequals(h.name, "te") && !iequals(h.value, "trailers")) continue;
    if (in_list(rewrite.remove_headers, h.name)) continue;
    bool replaced = false;
    for (const auto& s : rewrite.set_headers) replaced = replaced || iequals(s.name, h.name);
    if (replaced) continue;
    put(h);
  }
  for (const auto& s : rewrite.set_headers) {
    // "--header Host: x" means the authority, in HTTP/1.1 and HTTP/2 alike.
    if (iequals(s.name, "host") || s.name == ":authority") {
      out.authority = s.value;
    } else if (!hop_by_hop(s.name)) {
      put(s);
    }
  }
  out.headers.resize(used);
  out.body.assign(request.body);
  out.body_truncated = body_truncated;
  return invalid;
}

}  // namespace twin::replay
