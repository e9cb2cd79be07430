#pragma once
// The subcommands of `twin`. Each registers its options on the app and returns the function
// that runs it; that function returns the process exit code (DESIGN.md: 0 success, 1 gate
// failed, 2 usage or input error).

#include <CLI/CLI.hpp>
#include <functional>

namespace twin::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitGateFailed = 1;
inline constexpr int kExitInputError = 2;

using Run = std::function<int()>;

Run add_convert(CLI::App& app);
Run add_cat(CLI::App& app);
Run add_info(CLI::App& app);
Run add_capture(CLI::App& app);
Run add_scrub(CLI::App& app);
Run add_replay(CLI::App& app);
Run add_compare(CLI::App& app);
Run add_filter(CLI::App& app);
Run add_reproduce(CLI::App& app);
Run add_pipeline(CLI::App& app);

}  // namespace twin::cli
