#include "curl_script.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "twin/traffic/text.h"

namespace twin::cli {

namespace {

// Bounds of one curl process: its requests (each body is a process substitution, an open pipe
// and a printf subshell of its own while curl runs) and its arguments (ARG_MAX, 2 MiB here).
constexpr size_t kMaxPerCurl = 100;
constexpr size_t kMaxArgBytes = 512 << 10;

bool printable(unsigned char c) { return c >= 0x20 && c < 0x7f; }

bool has_header(const traffic::Headers& headers, std::string_view name) {
  for (const auto& h : headers)
    if (traffic::ascii_iequals(h.name, name)) return true;
  return false;
}

// A path for a URL: bytes curl would refuse or reinterpret (controls, space, non-ASCII, '#')
// percent-encoded; everything else as captured.
std::string url_path(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (c <= 0x20 || c >= 0x7f || c == '#') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string base_url(const replay::Target& t) {
  std::string scheme = t.tls() ? "https" : "http";
  std::string host = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
  return scheme + "://" + host + ":" + std::to_string(t.port) + t.path_prefix;
}

}  // namespace

std::string shell_quote(std::string_view bytes) {
  bool plain = true;
  for (unsigned char c : bytes) plain = plain && printable(c);
  if (plain) {
    std::string out = "'";
    for (char c : bytes) {
      if (c == '\'') {
        out += "'\\''";
      } else {
        out += c;
      }
    }
    return out + "'";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "$'";
  for (unsigned char c : bytes) {
    if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (printable(c)) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out + "'";
}

std::string printf_quote(std::string_view bytes) {
  std::string out = "'";
  for (unsigned char c : bytes) {
    if (c == '%') {
      out += "%%";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (printable(c) && c != '\'') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    }
  }
  return out + "'";
}

Result<void> write_curl_script(const std::string& path,
                               const std::vector<const traffic::Exchange*>& exchanges,
                               const replay::Target& target, bool insecure) {
  // Sessions in the order of their first request; a request without a session is its own.
  std::vector<std::vector<const traffic::Exchange*>> sessions;
  std::map<uint64_t, size_t> index;
  for (const auto* e : exchanges) {
    if (e->session == 0) {
      sessions.push_back({e});
      continue;
    }
    auto [it, fresh] = index.try_emplace(e->session, sessions.size());
    if (fresh) sessions.emplace_back();
    sessions[it->second].push_back(e);
  }

  std::string protocol;
  switch (target.scheme) {
    case replay::Scheme::kHttp:
      protocol = "--http1.1";
      break;
    case replay::Scheme::kH2c:
      protocol = "--http2-prior-knowledge";
      break;
    case replay::Scheme::kH2:
      protocol = "--http2";
      break;
    case replay::Scheme::kHttps:
      break;
  }

  std::string s;
  s += "#!/usr/bin/env bash\n";
  s += "# Written by twin reproduce: " + std::to_string(exchanges.size()) + " request" +
       (exchanges.size() == 1 ? "" : "s") + " in " + std::to_string(sessions.size()) + " session" +
       (sessions.size() == 1 ? "" : "s") + ", in captured order.\n";
  // The file's name in a comment: a control byte (a newline would end the comment) becomes '?'.
  std::string name = std::filesystem::path(path).filename().string();
  for (char& c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  s += "# Usage: bash " + name + " [BASE_URL]   (default: the target of the run)\n";
  s += "# One curl process per captured session: its requests are joined by --next, so that curl\n"
       "# sends them on one connection, as they were captured. Sessions run one after another.\n"
       "# A session of more than " +
       std::to_string(kMaxPerCurl) +
       " requests takes several curl processes (one connection each):\n"
       "# one process's arguments and bodies (each an open pipe) are bounded.\n"
       "# Each response body goes to standard output, followed by a line\n"
       "#   twin: origin ID: HTTP STATUS\n"
       "# Headers are the captured ones without hop-by-hop headers, Host and Content-Length\n"
       "# (curl sends its own); bodies are byte-exact, but for a HEAD request's (curl's --head\n"
       "# sends none). A request for \"*\" (OPTIONS *) goes to the base URL with "
       "--request-target.\n";
  s += "set -u\n";
  s += "base=${1:-" + shell_quote(base_url(target)) + "}\n";

  replay::Target plain = target;
  plain.path_prefix.clear();  // the base URL holds it
  replay::Rewrite rewrite;
  replay::OutRequest out;
  for (const auto& session : sessions) {
    s += "\n# session " + std::to_string(session.front()->session) + ": " +
         std::to_string(session.size()) + " request" + (session.size() == 1 ? "" : "s") + "\n";
    size_t in_curl = 0;    // requests in the current curl process
    size_t arg_bytes = 0;  // its arguments' bytes, roughly
    for (const auto* e : session) {
      replay::prepare(e->request, e->has(traffic::kFlagRequestBodyTruncated), plain, rewrite, out);
      size_t need = 512 + out.path.size();
      for (const auto& h : out.headers) need += h.name.size() + h.value.size() + 8;
      if (in_curl > 0 && (in_curl == kMaxPerCurl || arg_bytes + need > kMaxArgBytes)) {
        s += "\n# (the session goes on in another curl process, on another connection)\n";
        in_curl = 0;
        arg_bytes = 0;
      }
      s += in_curl == 0 ? "curl" : " \\\n  --next";
      ++in_curl;
      arg_bytes += need;
      s += " --silent --show-error --globoff --path-as-is";
      if (!protocol.empty()) s += " " + protocol;
      if (insecure) s += " --insecure";
      s += " \\\n    --write-out " +
           shell_quote("\\ntwin: origin " + std::to_string(e->id) + ": HTTP %{http_code}\\n");
      if (out.method == "HEAD") {
        s += " --head";
        out.body.clear();  // curl's --head sends none (and would wait for a body with -X HEAD)
      } else {
        s += " --request " + shell_quote(out.method);
      }
      // curl's own defaults, unless captured: none of them was sent.
      if (!has_header(out.headers, "user-agent")) s += " -H 'User-Agent:'";
      if (!has_header(out.headers, "accept")) s += " -H 'Accept:'";
      if (!out.body.empty()) {
        if (!has_header(out.headers, "content-type")) s += " -H 'Content-Type:'";
        if (!has_header(out.headers, "expect")) s += " -H 'Expect:'";
      }
      for (const auto& h : out.headers) {
        // "Name;" is curl's way to send a header with an empty value ("Name:" removes one).
        s += " \\\n    -H " + shell_quote(h.value.empty() ? h.name + ";" : h.name + ": " + h.value);
      }
      if (!out.body.empty())
        s += " \\\n    --data-binary @<(printf -- " + printf_quote(out.body) + ")";
      if (out.path == "*")  // OPTIONS *: the base URL for the connection, "*" on the wire
        s += " --request-target '*' \\\n    \"$base\"";
      else
        s += " \\\n    \"$base\"" + shell_quote(url_path(out.path));
    }
    s += "\n";
  }

  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(s.data(), static_cast<std::streamsize>(s.size()));
    f.close();
    if (!f) return fail(path + ": cannot write the curl script");
  }
  std::error_code ec;
  namespace fs = std::filesystem;
  fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                  fs::perm_options::add, ec);
  if (ec) return fail(path + ": cannot make it executable: " + ec.message());
  return {};
}

}  // namespace twin::cli
