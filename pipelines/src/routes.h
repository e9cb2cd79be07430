#pragma once
// A coarse route key for summaries (`twin info`): the path without its query, with segments that
// look like identifiers (numbers, UUIDs, long hex strings, e-mail addresses) replaced by {id}.
// The comparator learns real route templates from the traffic; this is only for a quick look.

#include <string>
#include <string_view>

namespace twin::cli {

std::string route_key(std::string_view method, std::string_view target);

}  // namespace twin::cli
