// Targets: URL parsing with its one-line errors, and what prepare() sends for a captured request.

#include "twin/replay/target.h"

#include <gtest/gtest.h>

#include "byte_cases.h"
#include "bytes.h"

namespace twin::replay {
namespace {

TEST(Target, ParsesNamesSchemesPortsAndPrefixes) {
  auto t = parse_target("baseline=http://127.0.0.1:8080/api/");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->name, "baseline");
  EXPECT_EQ(t->scheme, Scheme::kHttp);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->path_prefix, "/api");
  EXPECT_EQ(t->authority, "127.0.0.1:8080");

  auto u = parse_target("https://example.test", 1);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->name, "target2");
  EXPECT_EQ(u->port, 443);
  EXPECT_TRUE(u->tls());
  EXPECT_EQ(u->path_prefix, "");

  auto v = parse_target("cand=h2c://[::1]:9000");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->scheme, Scheme::kH2c);
  EXPECT_EQ(v->host, "::1");
  EXPECT_EQ(v->port, 9000);
  EXPECT_EQ(v->authority, "[::1]:9000");
  EXPECT_FALSE(v->tls());

  auto w = parse_target("H2://h");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->scheme, Scheme::kH2);
  EXPECT_TRUE(w->tls());
  // A '=' inside the URL is not a name separator.
  auto x = parse_target("http://h/p=q");
  ASSERT_TRUE(x);
  EXPECT_EQ(x->name, "target");
  EXPECT_EQ(x->path_prefix, "/p=q");
}

TEST(Target, RejectsWhatItCannotReach) {
  for (const char* bad : {"ftp://h", "h:80", "x=", "bad name=http://h", "http://", "http://:80",
                          "http://h:0", "http://h:65536", "http://h:8x", "http://[::1",
                          "http://h?x=1", "http://[::1]x", "http://127.0.0.1:", "http://[::1]:"}) {
    auto t = parse_target(bad);
    EXPECT_FALSE(t) << bad;
    if (!t) {
      EXPECT_NE(t.error().message.find(bad), std::string::npos) << t.error().message;
      EXPECT_EQ(t.error().message.find('\n'), std::string::npos);
    }
  }
}

TEST(Target, CredentialsAreRefusedWithoutBeingRepeated) {
  auto t = parse_target("base=http://user:pw-secret@h:8080/x");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message.find("pw-secret"), std::string::npos) << t.error().message;
  EXPECT_NE(t.error().message.find("base=http://***@h:8080/x"), std::string::npos)
      << t.error().message;
}

traffic::Request captured() {
  traffic::Request r;
  r.method = "POST";
  r.target = "/v1/orders?x=1";
  r.authority = "shop.prod.example";
  r.headers = {{"Host", "shop.prod.example"},
               {"Connection", "keep-alive"},
               {"Content-Length", "2"},
               {"Content-Type", "application/json"},
               {"Transfer-Encoding", "chunked"},
               {"TE", "gzip"},
               {"X-Trace", "abc"},
               {"Keep-Alive", "timeout=5"},
               {"Upgrade", "h2c"},
               {"Proxy-Connection", "keep-alive"},
               {"HTTP2-Settings", "AAMAAABkAAQAoAAAAAIAAAAA"},
               {"proxy-authenticate", "Basic"},
               {"X-Trace", "def"}};
  r.body = "{}";
  r.body_size = 2;
  return r;
}

TEST(Prepare, DropsHopByHopAndUsesTheTargetsAuthority) {
  auto t = parse_target("http://10.0.0.1:81/base");
  ASSERT_TRUE(t);
  OutRequest out;
  prepare(captured(), false, *t, {}, out);
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/base/v1/orders?x=1");
  EXPECT_EQ(out.authority, "10.0.0.1:81");
  traffic::Headers want = {
      {"Content-Type", "application/json"}, {"X-Trace", "abc"}, {"X-Trace", "def"}};
  EXPECT_EQ(out.headers, want);
  EXPECT_EQ(out.body, "{}");
  EXPECT_FALSE(out.body_truncated);
}

TEST(Prepare, AppliesRewrites) {
  auto t = parse_target("http://h");
  ASSERT_TRUE(t);
  Rewrite rw;
  rw.keep_authority = true;
  rw.set_headers = {{"x-trace", "replayed"}, {"Authorization", "Bearer t"}};
  rw.remove_headers = {"content-type"};
  rw.strip_prefix = "/v1";
  rw.path_prefix = "/v2";
  OutRequest out;
  prepare(captured(), true, *t, rw, out);
  EXPECT_EQ(out.path, "/v2/orders?x=1");
  EXPECT_EQ(out.authority, "shop.prod.example");
  traffic::Headers want = {{"x-trace", "replayed"}, {"Authorization", "Bearer t"}};
  EXPECT_EQ(out.headers, want);
  EXPECT_TRUE(out.body_truncated);

  rw.authority = "candidate.internal";
  prepare(captured(), false, *t, rw, out);
  EXPECT_EQ(out.authority, "candidate.internal");
  // "--header Host: x" is the authority, never a second Host header.
  Rewrite host;
  host.set_headers = {{"Host", "other"}};
  prepare(captured(), false, *t, host, out);
  EXPECT_EQ(out.authority, "other");
  for (const auto& h : out.headers) EXPECT_NE(h.name, "Host");
}

TEST(Prepare, LeavesOutAndCountsHeadersNoClientMaySend) {
  auto t = parse_target("http://h");
  ASSERT_TRUE(t);
  traffic::Request r;
  r.method = "GET";
  r.target = "/";
  r.headers = {{"X-Ok", "1"},       {"X-Bad", "a\r\nInjected: yes"},   {"Bad Name", "v"},
               {"", "empty"},       {"X-Nul", std::string("a\0b", 3)}, {"a:b", "c"},
               {":authority", "h"}, {"X-Ok2", "tab\tis fine"}};
  OutRequest out;
  EXPECT_EQ(prepare(r, false, *t, {}, out), 5u);
  traffic::Headers want = {{"X-Ok", "1"}, {"X-Ok2", "tab\tis fine"}};
  EXPECT_EQ(out.headers, want);
}

TEST(Prepare, PathForms) {
  auto t = parse_target("http://h/");
  ASSERT_TRUE(t);
  traffic::Request r;
  r.method = "GET";
  OutRequest out;
  for (auto [in, want] :
       std::vector<std::pair<std::string, std::string>>{{"http://proxy.example/a/b?c", "/a/b?c"},
                                                        {"http://proxy.example", "/"},
                                                        {"", "/"},
                                                        {"*", "*"},
                                                        {"/", "/"},
                                                        {"?q=1", "/?q=1"}}) {
    r.target = in;
    prepare(r, false, *t, {}, out);
    EXPECT_EQ(out.path, want) << in;
  }
  auto p = parse_target("http://h/pre");
  ASSERT_TRUE(p);
  r.target = "/x";
  prepare(r, false, *p, {}, out);
  EXPECT_EQ(out.path, "/pre/x");
}

}  // namespace
// The word-at-a-time byte checks give what a byte loop gives: every byte value at every place
// of strings of every length up to 24 (whole words, partial last words), among clean bytes, and
// random strings with several bad bytes.
TEST(Bytes, WordChecksAgreeWithByteLoops) {
  auto crlf_nul = [](std::string_view s) {
    for (char c : s)
      if (c == '\r' || c == '\n' || c == '\0') return true;
    return false;
  };
  auto ctl_space_del = [](std::string_view s) {
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7F) return true;
    }
    return false;
  };
  auto bad_name = [&](std::string_view s) {
    return ctl_space_del(s) || s.find(':') != std::string_view::npos;
  };
  size_t hits = 0;
  auto check = [&](const std::string& s) {
    ASSERT_EQ(bytes::has_crlf_nul(s), crlf_nul(s)) << ::testing::PrintToString(s);
    ASSERT_EQ(bytes::has_ctl_space_del(s), ctl_space_del(s)) << ::testing::PrintToString(s);
    ASSERT_EQ(bytes::has_bad_name_byte(s), bad_name(s)) << ::testing::PrintToString(s);
    hits += crlf_nul(s) + ctl_space_del(s) + bad_name(s);
  };
  test::for_byte_cases(24, {'a', '~', '\x80', '\xff', '!'}, 7, 40, 8, check);
  EXPECT_GT(hits, 10000u);
}

}  // namespace twin::replay
