#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "routes.h"
#include "twin/traffic/archive.h"
#include "twin/traffic/text.h"

namespace twin::cli {

namespace {

struct InfoOptions {
  std::string input;
  std::string from;
  bool check = false;
  bool json = false;
  size_t top = 10;
};

/// Counts by name with a cap on distinct names, so memory does not grow with the input.
class Tally {
 public:
  explicit Tally(size_t cap) : cap_(cap) {}
  void add(const std::string& key, uint64_t n = 1) {
    auto it = counts_.find(key);
    if (it != counts_.end()) {
      it->second += n;
    } else if (counts_.size() < cap_) {
      counts_.emplace(key, n);
    } else {
      overflow_ += n;
    }
  }
  /// The most frequent first, then by name.
  std::vector<std::pair<std::string, uint64_t>> top(size_t n) const {
    std::vector<std::pair<std::string, uint64_t>> v(counts_.begin(), counts_.end());
    std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
    if (v.size() > n) v.resize(n);
    return v;
  }
  size_t distinct() const { return counts_.size(); }
  uint64_t overflow() const { return overflow_; }
  nlohmann::ordered_json to_json(size_t n) const {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (auto& [k, v] : top(n)) j[k] = v;
    if (overflow_ > 0) j["(other)"] = overflow_;
    return j;
  }

 private:
  size_t cap_;
  std::map<std::string, uint64_t> counts_;
  uint64_t overflow_ = 0;
};

struct Stats {
  uint64_t exchanges = 0;
  uint64_t sessions = 0;  // sessions whose first exchange (seq 0) is in the file
  uint64_t with_response = 0;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  int64_t first = traffic::kNoTime;
  int64_t last = traffic::kNoTime;
  Tally protocols{16};
  Tally methods{64};
  Tally statuses{64};
  Tally status_classes{8};
  Tally errors{16};
  Tally flags{32};
  Tally targets{64};
  Tally routes{10000};

  void add(const traffic::Exchange& e) {
    ++exchanges;
    if (e.seq == 0) ++sessions;
    request_bytes += e.request.body_size;
    auto widen = [&](int64_t t) {
      if (t == traffic::kNoTime) return;
      if (first == traffic::kNoTime || t < first) first = t;
      if (last == traffic::kNoTime || t > last) last = t;
    };
    widen(e.time.request_start);
    widen(e.time.response_end);
    protocols.add(std::string(to_string(e.protocol)));
    methods.add(e.request.method);
    if (e.response) {
      ++with_response;
      response_bytes += e.response->body_size;
      statuses.add(std::to_string(e.response->status));
      status_classes.add(std::to_string(e.response->status / 100) + "xx");
    } else {
      status_classes.add("none");
    }
    if (e.error != traffic::ErrorKind::kNone) errors.add(std::string(to_string(e.error)));
    for (uint32_t bit = 1; bit != 0 && bit <= e.flags; bit <<= 1) {
      if (e.flags & bit)
        flags.add(std::string(traffic::flag_name(static_cast<traffic::Flag>(bit))));
    }
    if (!e.target.empty()) targets.add(e.target);
    routes.add(route_key(e.request.method, e.request.target));
  }
};

std::string join(const std::vector<std::pair<std::string, uint64_t>>& items) {
  std::string out;
  for (const auto& [k, v] : items) {
    if (!out.empty()) out += ", ";
    out += k + " " + std::to_string(v);
  }
  return out.empty() ? "-" : out;
}

void print_counters(const nlohmann::json& j, const std::string& prefix) {
  for (const auto& [k, v] : j.items()) {
    if (v.is_object()) {
      print_counters(v, prefix + k + ".");
    } else {
      std::printf("  %-32s %s\n", (prefix + k).c_str(), v.dump().c_str());
    }
  }
}

}  // namespace

Run add_info(CLI::App& app) {
  auto opts = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand(
      "info",
      "Summarise an archive: counts, time span, protocols, statuses, routes, counters, "
      "damage");
  cmd->add_option("input", opts->input, "Input file (.twin, .jsonl or .har)")->required();
  cmd->add_option("--from", opts->from, "Input format: twin, jsonl or har");
  cmd->add_flag("--check", opts->check,
                "Verify every block, record and the index; exit 2 on any damage");
  cmd->add_flag("--json", opts->json, "Print the summary as JSON");
  cmd->add_option("--top", opts->top, "How many routes to list")->check(CLI::Range(1, 1000));
  return [opts]() -> int {
    const auto in_format = format_option(opts->from, "--from");
    const bool is_twin = in_format
                             ? *in_format == traffic::Format::kTwin
                             : traffic::format_from_path(opts->input) == traffic::Format::kTwin;
    // A .twin file is opened directly, for its index and damage; other forms through a source.
    traffic::ReaderPtr reader;
    traffic::SourcePtr source;
    if (is_twin) {
      auto r = traffic::Reader::open(opts->input);
      if (!r) {
        std::fprintf(stderr, "twin: %s\n", r.error().message.c_str());
        return kExitInputError;
      }
      reader = std::move(*r);
    } else {
      auto s = traffic::open_source(opts->input, in_format);
      if (!s) {
        std::fprintf(stderr, "twin: %s\n", s.error().message.c_str());
        return kExitInputError;
      }
      source = std::move(*s);
    }

    Stats stats;
    traffic::Exchange e;
    std::string read_error;
    Progress progress("info");
    while (true) {
      auto more = reader ? reader->next(e) : source->next(e);
      if (!more) {
        read_error = more.error().message;
        break;
      }
      if (!*more) break;
      stats.add(e);
      progress.tick(stats.exchanges);
    }
    progress.finish(stats.exchanges);

    std::vector<std::string> problems;
    nlohmann::json meta = nlohmann::json::object();
    if (reader) {
      for (const auto& d : reader->damage()) problems.push_back(d.describe(opts->input));
      meta = reader->final_metadata();
      if (reader->has_footer() && reader->damage().empty() &&
          reader->indexed_count() != stats.exchanges) {
        problems.push_back(opts->input + ": index: footer says " +
                           std::to_string(reader->indexed_count()) + " exchanges, blocks hold " +
                           std::to_string(stats.exchanges));
      }
    } else {
      problems = source->warnings();
    }
    if (!read_error.empty()) problems.push_back(read_error);

    uint64_t file_size = 0;
    struct stat st {};
    if (opts->input != "-" && ::stat(opts->input.c_str(), &st) == 0) {
      file_size = static_cast<uint64_t>(st.st_size);
    }
    auto instant = [](int64_t t) -> nlohmann::ordered_json {
      return t == traffic::kNoTime ? nlohmann::ordered_json() : nlohmann::ordered_json(t);
    };
    auto counters = meta;
    for (const char* k : {"producer", "created", "format", "converted_from"}) counters.erase(k);

    if (opts->json) {
      nlohmann::ordered_json j;
      j["file"] = opts->input;
      j["size"] = file_size;
      if (reader) {
        j["format"] =
            std::to_string(reader->format_major()) + "." + std::to_string(reader->format_minor());
        j["indexed"] = reader->has_footer();
        j["blocks"] = reader->blocks_read();
      }
      j["producer"] = meta.value("producer", nlohmann::json::object());
      j["created"] = meta.value("created", "");
      j["exchanges"] = stats.exchanges;
      j["sessions"] = stats.sessions;
      j["with_response"] = stats.with_response;
      j["request_body_bytes"] = stats.request_bytes;
      j["response_body_bytes"] = stats.response_bytes;
      j["first"] = instant(stats.first);
      j["last"] = instant(stats.last);
      j["protocols"] = stats.protocols.to_json(16);
      j["methods"] = stats.methods.to_json(64);
      j["status_classes"] = stats.status_classes.to_json(8);
      j["statuses"] = stats.statuses.to_json(64);
      j["errors"] = stats.errors.to_json(16);
      j["flags"] = stats.flags.to_json(32);
      j["targets"] = stats.targets.to_json(64);
      j["routes"] = stats.routes.to_json(opts->top);
      j["distinct_routes"] = stats.routes.distinct();
      j["metadata"] = counters;
      j["damage"] = problems;
      // Methods and routes may hold bytes that are not UTF-8; a summary shows them as U+FFFD.
      std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    } else {
      std::printf("file         %s (%llu bytes", opts->input.c_str(),
                  static_cast<unsigned long long>(file_size));
      if (reader) {
        std::printf(", format %u.%u, %s", reader->format_major(), reader->format_minor(),
                    reader->has_footer() ? "indexed" : "no index");
      }
      std::printf(")\n");
      if (meta.contains("producer") && meta["producer"].is_object()) {
        std::printf("producer     %s %s, created %s\n", meta["producer"].value("name", "?").c_str(),
                    meta["producer"].value("version", "?").c_str(),
                    meta.value("created", "?").c_str());
      }
      std::printf("exchanges    %llu (%llu with a response, %llu sessions started)\n",
                  static_cast<unsigned long long>(stats.exchanges),
                  static_cast<unsigned long long>(stats.with_response),
                  static_cast<unsigned long long>(stats.sessions));
      if (stats.first != traffic::kNoTime) {
        std::printf("time span    %s .. %s (%.3f s)\n",
                    traffic::format_rfc3339(stats.first, 3).c_str(),
                    traffic::format_rfc3339(stats.last, 3).c_str(),
                    (static_cast<double>(stats.last) - static_cast<double>(stats.first)) / 1e9);
      }
      std::printf("body bytes   requests %llu, responses %llu\n",
                  static_cast<unsigned long long>(stats.request_bytes),
                  static_cast<unsigned long long>(stats.response_bytes));
      std::printf("protocols    %s\n", join(stats.protocols.top(16)).c_str());
      std::printf("methods      %s\n", join(stats.methods.top(64)).c_str());
      std::printf("status       %s\n", join(stats.status_classes.top(8)).c_str());
      std::printf("statuses     %s\n", join(stats.statuses.top(16)).c_str());
      std::printf("errors       %s\n", join(stats.errors.top(16)).c_str());
      std::printf("flags        %s\n", join(stats.flags.top(32)).c_str());
      if (stats.targets.distinct() > 0) {
        std::printf("targets      %s\n", join(stats.targets.top(64)).c_str());
      }
      std::printf("top routes   (%zu distinct%s)\n", stats.routes.distinct(),
                  stats.routes.overflow() > 0 ? ", more not counted" : "");
      for (const auto& [route, n] : stats.routes.top(opts->top)) {
        std::printf("  %8llu  %s\n", static_cast<unsigned long long>(n), route.c_str());
      }
      if (!counters.empty()) {
        std::printf("metadata\n");
        print_counters(counters, "");
      }
      std::printf("damage       %s\n", problems.empty() ? "none" : "");
      for (const auto& p : problems) std::printf("  %s\n", p.c_str());
    }
    std::fflush(stdout);
    for (const auto& p : problems) std::fprintf(stderr, "twin: warning: %s\n", p.c_str());
    if (!read_error.empty()) return kExitInputError;
    if (opts->check && !problems.empty()) return kExitInputError;
    return kExitOk;
  };
}

}  // namespace twin::cli
