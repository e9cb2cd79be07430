#include "urlencoded.h"

#include <array>

namespace twin::scrubber {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// percent_decode that also counts the '%' not followed by two hex digits (kept as they are).
uint64_t decode_counting(std::string_view in, bool plus_is_space, std::string& out) {
  uint64_t bad = 0;
  size_t run = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+' && plus_is_space) {
      out.append(in.data() + run, i - run);
      out += ' ';
      run = i + 1;
    } else if (c == '%') {
      const int hi = i + 1 < in.size() ? hex_value(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        ++bad;
        continue;
      }
      out.append(in.data() + run, i - run);
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
      run = i + 1;
    }
  }
  out.append(in.data() + run, in.size() - run);
  return bad;
}

// How a piece of the original spells spaces and hex digits; unknown until it shows.
struct Style {
  bool space_known = false;
  bool plus = false;
  bool case_known = false;
  bool lower = false;
};

Style style_of(std::string_view raw) {
  Style st;
  for (size_t i = 0; i < raw.size() && !(st.space_known && st.case_known); ++i) {
    if (raw[i] == '+' && !st.space_known) {
      st.space_known = true;
      st.plus = true;
    } else if (raw[i] == '%' && i + 2 < raw.size() && hex_value(raw[i + 1]) >= 0 &&
               hex_value(raw[i + 2]) >= 0) {
      if (!st.space_known && raw[i + 1] == '2' && raw[i + 2] == '0') {
        st.space_known = true;
        st.plus = false;
      }
      if (!st.case_known) {
        for (const char h : {raw[i + 1], raw[i + 2]}) {
          if ((h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')) {
            st.case_known = true;
            st.lower = h >= 'a';
            break;
          }
        }
      }
      i += 2;
    }
  }
  return st;
}

void encode(std::string_view in, bool space_as_plus, bool lower, std::string& out) {
  const char* hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
  size_t run = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    if (is_unreserved(c)) continue;
    out.append(in.data() + run, i - run);
    if (c == ' ' && space_as_plus) {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
    run = i + 1;
  }
  out.append(in.data() + run, in.size() - run);
}

}  // namespace

void percent_decode(std::string_view in, bool plus_is_space, std::string& out) {
  (void)decode_counting(in, plus_is_space, out);
}

void percent_encode(std::string_view in, bool space_as_plus, std::string& out) {
  encode(in, space_as_plus, false, out);
}

bool has_percent_escape(std::string_view in) {
  for (size_t i = in.find('%'); i != std::string_view::npos; i = in.find('%', i + 1)) {
    if (i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) return true;
  }
  return false;
}

void percent_decode_mapped(std::string_view in, bool plus_is_space, std::string& out,
                           std::vector<uint32_t>& offsets) {
  out.clear();
  offsets.clear();
  out.reserve(in.size());
  offsets.reserve(in.size() + 1);
  for (size_t i = 0; i < in.size(); ++i) {
    offsets.push_back(static_cast<uint32_t>(i));
    const char c = in[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 &&
               hex_value(in[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  offsets.push_back(static_cast<uint32_t>(in.size()));
}

void percent_encode_like(std::string_view in, std::string_view original, bool plus_is_space,
                         std::string& out) {
  // Which bytes the original spells literally and which it escapes.
  std::array<bool, 256> literal{};
  std::array<bool, 256> escaped{};
  bool case_known = false;
  bool lower = false;
  bool plus_spaces = false;
  for (size_t i = 0; i < original.size(); ++i) {
    const auto c = static_cast<unsigned char>(original[i]);
    if (c == '%' && i + 2 < original.size() && hex_value(original[i + 1]) >= 0 &&
        hex_value(original[i + 2]) >= 0) {
      escaped[static_cast<unsigned char>(hex_value(original[i + 1]) * 16 +
                                         hex_value(original[i + 2]))] = true;
      for (const char h : {original[i + 1], original[i + 2]}) {
        if (!case_known && ((h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) {
          case_known = true;
          lower = h >= 'a';
        }
      }
      i += 2;
    } else if (c == '+' && plus_is_space) {
      plus_spaces = true;
    } else {
      literal[c] = true;
    }
  }
  const char* hex = lower ? "0123456789abcdef" : "0123456789ABCDEF";
  size_t run = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    bool keep = is_unreserved(c) || (literal[c] && !escaped[c]);
    if (c == '%' || (c == '+' && plus_is_space)) keep = false;
    if (keep) continue;
    out.append(in.data() + run, i - run);
    if (c == ' ' && plus_is_space && plus_spaces) {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
    run = i + 1;
  }
  out.append(in.data() + run, in.size() - run);
}

FormRewriteResult rewrite_urlencoded(std::string_view in, FormVisitor& visitor, std::string& out,
                                     std::vector<std::pair<size_t, size_t>>* written) {
  FormRewriteResult result;
  out.clear();
  out.reserve(in.size());
  size_t copied = 0;  // in[copied, ...) is not yet in `out`: unchanged bytes go in lazily
  bool body_style_done = false;
  Style body_style;
  std::string name;
  std::string value;
  std::string replacement;
  size_t pos = 0;
  for (;;) {
    size_t amp = in.find('&', pos);
    if (amp == std::string_view::npos) amp = in.size();
    const std::string_view pair = in.substr(pos, amp - pos);
    if (!pair.empty()) {  // "a&&b" holds no pair between the two '&'
      ++result.pairs;
      const size_t eq = pair.find('=');
      const bool has_value = eq != std::string_view::npos;
      const std::string_view raw_name = pair.substr(0, eq);
      const std::string_view raw_value = has_value ? pair.substr(eq + 1) : std::string_view();
      name.clear();
      value.clear();
      result.bad_escapes += decode_counting(raw_name, true, name);
      result.bad_escapes += decode_counting(raw_value, true, value);
      replacement.clear();
      bool drop = false;
      const bool replace = visitor.visit(name, value, has_value, replacement, drop);
      if (drop) {
        ++result.dropped;
        out.append(in.data() + copied, pos - copied);
        if (amp < in.size()) {
          copied = amp + 1;  // the pair and the '&' after it
        } else {
          copied = amp;  // the last pair: the '&' before it goes instead
          if (pos > 0 && !out.empty() && out.back() == '&') out.pop_back();
        }
      } else if (replace) {
        ++result.replaced;
        const size_t value_begin = has_value ? pos + eq + 1 : amp;
        out.append(in.data() + copied, value_begin - copied);
        if (!has_value) out += '=';
        // The value's own spelling decides; where it shows nothing, the rest of the input does.
        Style st = style_of(raw_value);
        if (!st.space_known || !st.case_known) {
          if (!body_style_done) {
            body_style = style_of(in);
            body_style_done = true;
          }
          if (!st.space_known) st.plus = body_style.space_known && body_style.plus;
          if (!st.case_known) st.lower = body_style.case_known && body_style.lower;
        }
        const size_t written_begin = out.size();
        encode(replacement, st.plus, st.lower, out);
        if (written != nullptr) written->emplace_back(written_begin, out.size());
        copied = amp;
      }
    }
    if (amp >= in.size()) break;
    pos = amp + 1;
  }
  out.append(in.data() + copied, in.size() - copied);
  return result;
}

}  // namespace twin::scrubber
