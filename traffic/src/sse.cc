// Server-sent events read line by line (sse.h).

#include "twin/traffic/sse.h"

#include <algorithm>

namespace twin::traffic {

SseReader::SseReader(std::string_view body) : body_(body) {
  if (body_.starts_with("\xEF\xBB\xBF")) start_ = 3;
  at_ = start_;
}

bool SseReader::next(SseLine& line) {
  if (at_ >= body_.size()) return false;
  const size_t begin = at_;
  const auto stop = std::find_if(body_.begin() + static_cast<ptrdiff_t>(begin), body_.end(),
                                 [](char c) { return c == '\n' || c == '\r'; });
  const auto end = static_cast<size_t>(stop - body_.begin());
  line.begin = begin;
  line.end = end;
  line.ended = end < body_.size();
  line.next = end;
  if (line.ended) {
    line.next = end + 1;
    if (body_[end] == '\r' && line.next < body_.size() && body_[line.next] == '\n') ++line.next;
  }
  at_ = line.next;
  line.name = {};
  line.value_begin = end;
  if (end == begin) {
    line.kind = SseLine::Kind::kBlank;
  } else if (body_[begin] == ':') {
    line.kind = SseLine::Kind::kComment;
    line.value_begin = begin + 1;
  } else {
    line.kind = SseLine::Kind::kField;
    const std::string_view text = body_.substr(begin, end - begin);
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos) {
      line.name = text;
    } else {
      line.name = text.substr(0, colon);
      line.value_begin = begin + colon + 1;
      if (line.value_begin < end && body_[line.value_begin] == ' ') ++line.value_begin;
    }
  }
  return true;
}

bool sse_retry_value(std::string_view value) {
  return !value.empty() &&
         std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace twin::traffic
