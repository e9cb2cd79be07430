// The policy: the YAML format, its errors with line and column, places and globs.

#include "twin/scrubber/policy.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace twin::scrubber {
namespace {

TEST(Policy, TheDefaultPolicyParsesAndIsTheShippedFile) {
  const Policy& p = default_policy();
  EXPECT_EQ(p.source, "built-in default policy");
  EXPECT_EQ(p.detectors.kinds.size(), 11u);
  EXPECT_EQ(p.by_kind[size_t(Kind::kEmail)].action, Action::kToken);
  EXPECT_EQ(p.by_kind[size_t(Kind::kDob)].action, Action::kShiftDate);
  EXPECT_EQ(p.by_kind[size_t(Kind::kDob)].shift_max_days, 180);
  ASSERT_FALSE(p.rules.empty());
  EXPECT_EQ(p.rules[0].action.action, Action::kRedact);
  EXPECT_TRUE(p.builtin_rules);
  // The compiled-in text is the file in examples/.
  std::ifstream in(std::string(TWIN_SOURCE_DIR) + "/examples/policies/default.yaml");
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(file, default_policy_text());
}

TEST(Policy, EveryFieldIsRead) {
  auto p = parse_policy(R"(version: 1
detectors: [email, card]
secret: {min_length: 24, min_entropy: 4.0}
kinds:
  email: ff1
  card: {action: mask, keep_last: 4, char: "#"}
rules:
  - name: amounts
    where: "json:**.amount"
    action: noise
    relative: 0.1
  - where: [request.query:age, "form:age"]
    action: bucket
    width: 5
  - where: "json:**.birthday"
    action: shift-date
    max_days: 30
    entity: header:x-user-id
custom:
  - name: order
    regex: "ORD-[0-9]{8}"
    action: redact
    text: "[order]"
allow:
  where: ["header:x-trace"]
  values: [localhost, "127.0.0.1"]
addresses: {client: token, server: keep}
builtin_rules: false
key_names: false
token_filenames: false
max_decoded_body: 2048
memory: {values: 10, min_length: 6}
token_scheme: 1
)",
                        "p.yaml");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->detectors.kinds, (std::vector<Kind>{Kind::kEmail, Kind::kCard}));
  EXPECT_EQ(p->detectors.secret_min_length, 24u);
  EXPECT_DOUBLE_EQ(p->detectors.secret_min_entropy, 4.0);
  EXPECT_EQ(p->by_kind[size_t(Kind::kEmail)].action, Action::kFf1);
  EXPECT_EQ(p->by_kind[size_t(Kind::kCard)].action, Action::kMask);
  EXPECT_EQ(p->by_kind[size_t(Kind::kCard)].mask_keep_last, 4u);
  EXPECT_EQ(p->by_kind[size_t(Kind::kCard)].mask_char, '#');
  ASSERT_EQ(p->rules.size(), 3u);
  EXPECT_EQ(p->rules[0].name, "amounts");
  EXPECT_DOUBLE_EQ(p->rules[0].action.noise_relative, 0.1);
  EXPECT_EQ(p->rules[1].where.size(), 2u);
  EXPECT_EQ(p->rules[1].where[0].side, Side::kRequest);
  EXPECT_EQ(p->rules[1].where[0].location, Location::kQuery);
  EXPECT_EQ(p->rules[1].where[0].pattern, "age");
  EXPECT_DOUBLE_EQ(p->rules[1].action.bucket_width, 5);
  EXPECT_EQ(p->rules[1].line, 12);
  EXPECT_EQ(p->rules[2].action.entity, "header:x-user-id");
  ASSERT_EQ(p->detectors.custom.size(), 1u);
  EXPECT_EQ(p->custom_names[0], "order");
  EXPECT_EQ(p->custom_actions[0].redact_text, "[order]");
  EXPECT_EQ(p->allow_where.size(), 1u);
  EXPECT_EQ(p->detectors.allow, (std::vector<std::string>{"localhost", "127.0.0.1"}));
  EXPECT_EQ(p->server_address.action, Action::kKeep);
  EXPECT_FALSE(p->builtin_rules);
  EXPECT_FALSE(p->key_names);
  EXPECT_FALSE(p->token_filenames);
  EXPECT_EQ(p->max_decoded_body, 2048u);
  EXPECT_EQ(p->memory_values, 10u);
  EXPECT_EQ(p->memory_min_length, 6u);
  EXPECT_EQ(p->token_scheme, 1);
  auto standard = parse_policy("builtin_rules: true\n", "q.yaml");
  ASSERT_TRUE(standard);
  EXPECT_EQ(standard->token_scheme, 3);
}

struct Bad {
  const char* yaml;
  const char* where;    // "LINE:COLUMN"
  const char* message;  // a part of the message
};

TEST(Policy, MistakesNameTheLineAndColumn) {
  const Bad cases[] = {
      {"version: 2\n", "1:10", "version 1"},
      {"colour: red\n", "1:1", "unknown key 'colour'"},
      {"kinds:\n  email: scramble\n", "2:10", "unknown action 'scramble'"},
      {"kinds:\n  mail: token\n", "2:3", "unknown kind 'mail'"},
      {"detectors: [email, dob]\n", "1:20", "not a content detector"},
      {"rules:\n  - where: \"jsn:a\"\n    action: token\n", "2:12", "is not a place"},
      {"rules:\n  - action: token\n", "2:5", "needs 'where'"},
      {"rules:\n  - where: json:a\n", "2:5", "missing 'action'"},
      {"rules:\n  - where: json:a\n    action: noise\n    relative: lots\n", "4:15",
       "relative must be a number"},
      {"rules:\n  - where: json:a\n    action: mask\n    colour: 1\n", "4:5", "unknown key"},
      {"secret:\n  min_length: 2\n", "2:15", "between 8 and 4096"},
      {"builtin_rules: perhaps\n", "1:16", "true or false"},
      {"rules: [\n", "2:1", ""},  // a YAML syntax error
      {"rules:\n  - where: json:a\n    action: shift-date\n    entity: json:user.id\n", "4:13",
       "entity must be"},
      {"custom:\n  - name: x\n", "2:5", "needs 'regex'"},
      {"addresses: {client: smudge}\n", "1:21", "unknown action"},
      {"token_scheme: 4\n", "1:15", "token_scheme"},
  };
  for (const auto& c : cases) {
    auto p = parse_policy(c.yaml, "bad.yaml");
    ASSERT_FALSE(p) << c.yaml;
    const auto& m = p.error().message;
    EXPECT_EQ(m.rfind(std::string("bad.yaml:") + c.where + ":", 0), 0u) << c.yaml << " → " << m;
    EXPECT_NE(m.find(c.message), std::string::npos) << c.yaml << " → " << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(Policy, AMissingFileIsNamed) {
  auto p = load_policy("/nonexistent/policy.yaml");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message, "/nonexistent/policy.yaml: cannot open the policy file");
}

TEST(Policy, Selectors) {
  auto s = parse_selector("response.json:items[].sku");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->side, Side::kResponse);
  EXPECT_EQ(s->location, Location::kJson);
  EXPECT_EQ(s->pattern, "items[].sku");
  EXPECT_TRUE(parse_selector("text"));
  EXPECT_TRUE(parse_selector("address:client"));
  EXPECT_FALSE(parse_selector("address:somewhere"));
  EXPECT_FALSE(parse_selector("body:x"));
  EXPECT_FALSE(parse_selector("header:"));
  EXPECT_FALSE(parse_selector("text:foo"));
}

TEST(Policy, Globs) {
  EXPECT_TRUE(glob_match("**.password", "password", false));
  EXPECT_TRUE(glob_match("**.password", "user.password", false));
  EXPECT_TRUE(glob_match("**.password", "a.b[].c.password", false));
  EXPECT_FALSE(glob_match("**.password", "user.password_hint", false));
  EXPECT_FALSE(glob_match("**.password", "user.oldpassword", false));
  EXPECT_TRUE(glob_match("*.email", "user.email", false));
  EXPECT_FALSE(glob_match("*.email", "a.user.email", false));
  EXPECT_TRUE(glob_match("user.*", "user.email", false));
  EXPECT_FALSE(glob_match("user.*", "user.address.city", false));
  EXPECT_TRUE(glob_match("user.**", "user.address.city", false));
  EXPECT_TRUE(glob_match("items[].sku", "items[].sku", false));
  EXPECT_TRUE(glob_match("x-api-*", "X-API-Key", true));
  EXPECT_FALSE(glob_match("x-api-*", "X-API-Key", false));
  EXPECT_TRUE(glob_match("accept*", "accept-encoding", true));
  EXPECT_TRUE(glob_match("?d", "id", false));
  EXPECT_TRUE(glob_match("*", "", false));
  EXPECT_FALSE(glob_match("a", "", false));
  EXPECT_TRUE(glob_match("**", "a.b.c", false));
}

}  // namespace
}  // namespace twin::scrubber
