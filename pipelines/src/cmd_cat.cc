#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "twin/traffic/jsonl.h"

namespace twin::cli {

namespace {

struct CatOptions {
  std::string input;
  std::string from;
  std::string format = "jsonl";
  uint64_t limit = 0;
  std::vector<uint64_t> ids;      // print only these exchanges (by id) ...
  std::vector<uint64_t> origins;  // ... or those reproducing these captured exchanges
};

std::string millis(int64_t from, int64_t to) {
  if (from == traffic::kNoTime || to == traffic::kNoTime) return "-";
  char buf[32];
  // In double: instants may be any int64, and their difference need not fit in one.
  std::snprintf(buf, sizeof(buf), "%.3fms",
                (static_cast<double>(to) - static_cast<double>(from)) / 1e6);
  return buf;
}

// One line per exchange: ids, method and target, status, sizes, duration, error and flags.
void append_summary(const traffic::Exchange& e, std::string& out) {
  out += std::to_string(e.id);
  out += ' ';
  out += std::to_string(e.session) + "/" + std::to_string(e.seq);
  if (e.stream != 0) out += "#" + std::to_string(e.stream);
  if (!e.target.empty()) out += " [" + e.target + "]";
  out += ' ';
  out += e.request.method;
  out += ' ';
  out += e.request.target;
  out += " -> ";
  out += e.response ? std::to_string(e.response->status) : "none";
  out += " req=" + std::to_string(e.request.body_size) + "B";
  out += " resp=" + (e.response ? std::to_string(e.response->body_size) + "B" : "-");
  out += " " + millis(e.time.request_start, e.time.response_end);
  if (e.error != traffic::ErrorKind::kNone) out += " error=" + std::string(to_string(e.error));
  for (uint32_t bit = 1; bit != 0 && bit <= e.flags; bit <<= 1) {
    if (e.flags & bit)
      out += " +" + std::string(traffic::flag_name(static_cast<traffic::Flag>(bit)));
  }
  out += '\n';
}

}  // namespace

Run add_cat(CLI::App& app) {
  auto opts = std::make_shared<CatOptions>();
  auto* cmd = app.add_subcommand("cat", "Print the exchanges of an archive (.twin, .jsonl, .har)");
  cmd->add_option("input", opts->input, "Input file (- for standard input, with --from)")
      ->required();
  cmd->add_option("--format", opts->format, "Output: jsonl (lossless) or summary (a line each)")
      ->check(CLI::IsMember({"jsonl", "summary"}));
  cmd->add_option("--from", opts->from, "Input format: twin, jsonl or har");
  cmd->add_option("-n,--limit", opts->limit, "Print at most N exchanges (0: all)");
  cmd->add_option("--id", opts->ids, "Print only the exchange with this id (repeatable)");
  cmd->add_option("--origin", opts->origins,
                  "Print only the exchanges reproducing this captured exchange: every target's "
                  "answer to it in a replay's results, as `twin compare` reports name them "
                  "(repeatable)");
  return [opts]() -> int {
    auto source = traffic::open_source(opts->input, format_option(opts->from, "--from"));
    if (!source) {
      std::fprintf(stderr, "twin: %s\n", source.error().message.c_str());
      return kExitInputError;
    }
    const bool summary = opts->format == "summary";
    std::sort(opts->ids.begin(), opts->ids.end());
    std::sort(opts->origins.begin(), opts->origins.end());
    const bool filtered = !opts->ids.empty() || !opts->origins.empty();
    traffic::Exchange e;
    std::string out;
    uint64_t n = 0;
    int code = kExitOk;
    while (opts->limit == 0 || n < opts->limit) {
      auto more = (*source)->next(e);
      if (!more) {
        std::fprintf(stderr, "twin: %s\n", more.error().message.c_str());
        code = kExitInputError;
        break;
      }
      if (!*more) break;
      if (filtered && !std::binary_search(opts->ids.begin(), opts->ids.end(), e.id) &&
          !(e.origin_id != 0 &&
            std::binary_search(opts->origins.begin(), opts->origins.end(), e.origin_id))) {
        continue;
      }
      ++n;
      if (summary) {
        append_summary(e, out);
      } else {
        traffic::append_jsonl_line(e, out);
      }
      if (out.size() >= (1u << 16)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    if (print_warnings(**source) > 0) code = kExitInputError;
    return code;
  };
}

}  // namespace twin::cli
