#include "scrub_setup.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace twin::cli {

void add_scrub_options(CLI::App* cmd, ScrubSetup& s, const std::string& policy_flag) {
  cmd->add_option("--key-file", s.key_file,
                  "Scrub key: a file holding at least 32 bytes of secret (openssl rand -hex 32)");
  cmd->add_option("--key-env", s.key_env, "Environment variable holding the scrub key")
      ->capture_default_str();
  cmd->add_flag("--ephemeral-key", s.ephemeral,
                "Without a key, use a random one for this run (tokens differ between runs)");
  cmd->add_option("--report", s.report, "Write the scrub report (JSON) to FILE");
  (void)policy_flag;
}

Result<ScrubEngine> make_scrub_engine(const ScrubSetup& s) {
  ScrubEngine e;
  scrubber::Policy policy;
  if (s.policy.empty()) {
    std::fprintf(stderr,
                 "twin: warning: no policy given: using the built-in secure default "
                 "(examples/policies/default.yaml)\n");
    policy = scrubber::default_policy();
  } else {
    auto p = scrubber::load_policy(s.policy);
    if (!p) return tl::unexpected(p.error());
    policy = std::move(*p);
  }
  e.policy_source = policy.source;

  std::optional<scrubber::Key> key;
  if (!s.key_file.empty()) {
    auto k = scrubber::Key::from_file(s.key_file);
    if (!k) return tl::unexpected(k.error());
    key = *k;
  } else if (std::getenv(s.key_env.c_str()) != nullptr) {
    auto k = scrubber::Key::from_env(s.key_env);
    if (!k) return tl::unexpected(k.error());
    key = *k;
  } else if (s.ephemeral) {
    std::fprintf(stderr,
                 "twin: warning: --ephemeral-key: a random key for this run; its tokens will "
                 "not match those of any other run\n");
    key = scrubber::Key::ephemeral();
    e.ephemeral = true;
  } else {
    return fail("no scrub key: give --key-file FILE, set " + s.key_env +
                ", or pass --ephemeral-key for a one-run random key");
  }
  e.key_fingerprint = key->fingerprint();
  e.token_scheme = policy.token_scheme;
  auto engine = scrubber::Scrubber::create(policy, *key, s.threads);
  if (!engine) return tl::unexpected(engine.error());
  e.scrubber = std::move(*engine);
  // The report's shape statistics are for the table (not with -q) and --report; the archive's
  // metadata holds only counts.
  e.scrubber->set_shape_statistics(!s.quiet || !s.report.empty());
  return e;
}

nlohmann::json scrub_metadata(const ScrubEngine& e) {
  const auto& r = e.scrubber->report();
  return {{"scrub",
           {{"policy", e.policy_source},
            {"key_fingerprint", e.key_fingerprint},
            {"token_scheme", e.token_scheme},
            {"ephemeral_key", e.ephemeral},
            {"counters", e.scrubber->counters().to_json()},
            {"fields", r.fields().size()},
            {"json_bodies", r.json_bodies()},
            {"json_structure_checked", r.json_structure_checked()},
            {"json_same_structure", r.json_same_structure()},
            {"residual", r.residual()}}}};
}

void scrub_metadata_strings(ScrubEngine& engine, nlohmann::json& meta) {
  if (meta.is_string()) {
    engine.scrubber->scrub_text(meta.get_ref<std::string&>());
  } else if (meta.is_structured()) {
    for (auto& v : meta) scrub_metadata_strings(engine, v);
  }
}

bool finish_scrub(const ScrubEngine& e, const ScrubSetup& s) {
  const auto& c = e.scrubber->counters();
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  if (!s.quiet) {
    std::fprintf(stderr,
                 "scrub: %llu exchanges (%llu changed), %llu values scrubbed, %llu dropped, "
                 "%llu remembered hits, %llu fallbacks; key %s, token scheme %d\n",
                 u(c.exchanges), u(c.exchanges_changed), u(c.values), u(c.dropped),
                 u(c.memory_hits), u(c.fallbacks), e.key_fingerprint.c_str(), e.token_scheme);
    std::fprintf(stderr,
                 "scrub: bodies: %llu JSON (%llu malformed, %llu truncated), %llu forms, %llu "
                 "multipart (%llu malformed), %llu text, %llu binary, %llu decoded, %llu "
                 "dropped as unreadable\n",
                 u(c.json_bodies), u(c.json_malformed), u(c.json_truncated), u(c.form_bodies),
                 u(c.multipart_bodies), u(c.multipart_malformed), u(c.text_bodies),
                 u(c.binary_bodies), u(c.decoded_bodies), u(c.bodies_dropped));
    std::fprintf(stderr,
                 "scrub: bodies: %llu XML (%llu malformed, %llu truncated), %llu CSV (%llu "
                 "malformed, %llu truncated), %llu YAML (%llu malformed, %llu truncated); %llu "
                 "GraphQL documents; %llu text bodies as key=value lines; %llu base64 texts "
                 "read decoded; %llu JSON documents and %llu URLs in strings\n",
                 u(c.xml_bodies), u(c.xml_malformed), u(c.xml_truncated), u(c.csv_bodies),
                 u(c.csv_malformed), u(c.csv_truncated), u(c.yaml_bodies), u(c.yaml_malformed),
                 u(c.yaml_truncated), u(c.graphql_documents), u(c.key_value_bodies),
                 u(c.base64_texts), u(c.embedded_json), u(c.embedded_urls));
    std::fprintf(stderr,
                 "scrub: %llu gRPC messages (%llu streams malformed), %llu protobuf messages "
                 "(%llu not protobuf), %llu MessagePack (%llu malformed), %llu CBOR (%llu "
                 "malformed), %llu Thrift (%llu malformed); %llu event streams, %llu JSON "
                 "Lines bodies, %llu HTML pages, %llu JSON documents in other text\n",
                 u(c.grpc_messages), u(c.grpc_malformed), u(c.protobuf_messages),
                 u(c.protobuf_malformed), u(c.msgpack_bodies), u(c.msgpack_malformed),
                 u(c.cbor_bodies), u(c.cbor_malformed), u(c.thrift_bodies), u(c.thrift_malformed),
                 u(c.event_streams), u(c.json_line_bodies), u(c.html_bodies), u(c.json_in_text));
    std::string kinds;
    for (size_t i = 0; i < scrubber::kKindCount; ++i) {
      if (!c.by_kind[i]) continue;
      if (!kinds.empty()) kinds += ", ";
      kinds += (i == 0 ? std::string("by place")
                       : std::string(scrubber::to_string(static_cast<scrubber::Kind>(i)))) +
               " " + std::to_string(c.by_kind[i]);
    }
    std::fprintf(stderr, "scrub: by kind: %s\n", kinds.empty() ? "none" : kinds.c_str());
    std::fputs(e.scrubber->report().table().c_str(), stderr);
    if (const auto p = e.scrubber->parallel_stats(); p.batches > 0) {
      std::fprintf(stderr,
                   "scrub: %d threads scrubbing; of %llu exchanges, %llu checked (they asked the "
                   "memory of values about one another thread had just remembered) and %llu "
                   "scrubbed again\n",
                   s.threads, u(p.exchanges), u(p.checked), u(p.rescrubbed));
    }
  }
  if (c.residual > 0) {
    std::fprintf(stderr,
                 "twin: warning: %llu detections remain in the scrubbed output (see the report's "
                 "residual column)\n",
                 u(c.residual));
  }
  if (!s.report.empty()) {
    nlohmann::json j = scrub_metadata(e)["scrub"];
    j["report"] = e.scrubber->report().to_json();
    std::ofstream out(s.report, std::ios::binary | std::ios::trunc);
    out << j.dump(2) << "\n";
    out.close();
    if (!out) {
      std::fprintf(stderr, "twin: %s: cannot write the report\n", s.report.c_str());
      return false;
    }
  }
  return true;
}

}  // namespace twin::cli
