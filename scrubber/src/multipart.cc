#include "multipart.h"

#include <algorithm>
#include <vector>

namespace twin::scrubber {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// RFC 2046 bchars.
bool is_bchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

// A parameter of a header value (`; name=value`): its decoded value and where its raw value
// (quotes included) sits in the text it was parsed from.
struct Param {
  std::string_view name;
  std::string value;
  size_t begin = 0;
  size_t end = 0;
  bool quoted = false;
};

// Parses the `; name=value` parameters of `text` from `pos` on. Quoted strings are decoded
// leniently: "\"" and "\\" are escapes (RFC 2616 quoted-pair, as older curl sends), any other
// backslash is kept, because browsers send Windows paths ("C:\dir\a.txt") unescaped. Returns
// false when a quoted string is not closed.
bool parse_params(std::string_view text, size_t pos, std::vector<Param>& params) {
  params.clear();
  const size_t n = text.size();
  while (pos < n) {
    // Skip to the next ';' (whatever sits between is not a parameter).
    while (pos < n && text[pos] != ';') {
      if (text[pos] == '"') {
        const size_t close = text.find('"', pos + 1);
        if (close == std::string_view::npos) return false;
        pos = close;
      }
      ++pos;
    }
    if (pos >= n) break;
    ++pos;
    while (pos < n && is_space(text[pos])) ++pos;
    const size_t name_begin = pos;
    while (pos < n && text[pos] != '=' && text[pos] != ';' && !is_space(text[pos])) ++pos;
    Param p;
    p.name = text.substr(name_begin, pos - name_begin);
    while (pos < n && is_space(text[pos])) ++pos;
    if (pos >= n || text[pos] != '=') continue;
    ++pos;
    while (pos < n && is_space(text[pos])) ++pos;
    p.begin = pos;
    if (pos < n && text[pos] == '"') {
      p.quoted = true;
      ++pos;
      bool closed = false;
      while (pos < n) {
        const char c = text[pos];
        if (c == '\\' && pos + 1 < n && (text[pos + 1] == '"' || text[pos + 1] == '\\')) {
          p.value += text[pos + 1];
          pos += 2;
        } else if (c == '"') {
          ++pos;
          closed = true;
          break;
        } else {
          p.value += c;
          ++pos;
        }
      }
      if (!closed) return false;
    } else {
      while (pos < n && text[pos] != ';' && !is_space(text[pos])) p.value += text[pos++];
    }
    p.end = pos;
    params.push_back(std::move(p));
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The value of an RFC 8187 ext-value (`UTF-8''a%20b.txt`): the percent-decoded bytes after the
// charset and language.
std::string decode_ext_value(std::string_view v) {
  const size_t q = v.find('\'');
  if (q != std::string_view::npos) {
    const size_t q2 = v.find('\'', q + 1);
    v.remove_prefix(q2 == std::string_view::npos ? q + 1 : q2 + 1);
  }
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size() && hex_value(v[i + 1]) >= 0 && hex_value(v[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(v[i + 1]) * 16 + hex_value(v[i + 2]));
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

// Whether `g`, bytes of a Content-Disposition value around its parameters' values, is only the
// header's grammar: the disposition type at the start (`first`), then for each parameter ';',
// its name (a letter, then letters, digits, '-', '_', '*') and '=' right before its value (not
// when `last`: "; x" or a lone ';' may end the header), with spaces between.
bool grammar_only(std::string_view g, bool first, bool last) {
  const size_t n = g.size();
  size_t i = 0;
  auto spaces = [&] {
    while (i < n && (g[i] == ' ' || g[i] == '\t' || g[i] == '\r' || g[i] == '\n')) ++i;
  };
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  auto word = [&](bool digits) {
    if (i >= n || !alpha(g[i])) return false;
    while (i < n && (alpha(g[i]) || g[i] == '-' || g[i] == '_' || g[i] == '*' ||
                     (digits && g[i] >= '0' && g[i] <= '9'))) {
      ++i;
    }
    return true;
  };
  spaces();
  if (first) {
    word(false);
    spaces();
  }
  while (i < n) {
    if (g[i] != ';') return false;
    ++i;
    spaces();
    if (i == n) return last;
    if (!word(true)) return false;
    spaces();
    if (i == n) return last;
    if (g[i] == ';') continue;  // a parameter without a value
    if (g[i] != '=') return false;
    ++i;
    spaces();
    return i == n && !last;  // its value follows
  }
  return true;
}

// A filename as a quoted string, the way browsers write one (WHATWG form-data encoding): '"',
// CR and LF percent-encoded; '\' too, so that no reader takes it for an escape.
std::string quoted_filename(std::string_view v) {
  std::string out = "\"";
  for (const char c : v) {
    switch (c) {
      case '"':
        out += "%22";
        break;
      case '\r':
        out += "%0D";
        break;
      case '\n':
        out += "%0A";
        break;
      case '\\':
        out += "%5C";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

// A filename as an RFC 8187 ext-value.
std::string ext_filename(std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out = "UTF-8''";
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    const bool attr_char = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                           (c >= '0' && c <= '9') ||
                           std::string_view("!#$&+-.^_`|~").find(ch) != std::string_view::npos;
    if (attr_char) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A delimiter line: "--boundary" at the start of the input or of a line.
struct Delimiter {
  size_t line_break = 0;  // where the line break before it starts (it belongs to the delimiter)
  size_t after = 0;       // past its line (or past the closing "--")
  bool close = false;     // "--boundary--"
};

// The first delimiter at or after `from`. After "--boundary" comes either "--" (the close
// delimiter) or optional transport padding (spaces, tabs) and a line break, CRLF or bare LF;
// anything else means the line only starts like one.
bool find_delimiter(std::string_view in, size_t from, std::string_view dash_boundary,
                    Delimiter& d) {
  const size_t n = in.size();
  for (size_t p = in.find(dash_boundary, from); p != std::string_view::npos;
       p = in.find(dash_boundary, p + 1)) {
    if (p != 0 && in[p - 1] != '\n') continue;
    size_t q = p + dash_boundary.size();
    if (q + 1 < n && in[q] == '-' && in[q + 1] == '-') {
      d.close = true;
      d.after = q + 2;
    } else {
      while (q < n && (in[q] == ' ' || in[q] == '\t')) ++q;
      if (q < n && in[q] == '\n') {
        d.after = q + 1;
      } else if (q + 1 < n && in[q] == '\r' && in[q + 1] == '\n') {
        d.after = q + 2;
      } else {
        continue;
      }
      d.close = false;
    }
    d.line_break = p;
    if (p >= 1 && in[p - 1] == '\n') d.line_break = p >= 2 && in[p - 2] == '\r' ? p - 2 : p - 1;
    return true;
  }
  return false;
}

struct Edit {
  size_t begin;
  size_t end;
  std::string text;
};

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  const std::string_view type = trim(content_type.substr(0, semi));
  constexpr std::string_view kMultipart = "multipart/";
  if (type.size() <= kMultipart.size() || !iequals(type.substr(0, kMultipart.size()), kMultipart)) {
    return std::nullopt;
  }
  if (semi == std::string_view::npos) return std::nullopt;
  std::vector<Param> params;
  if (!parse_params(content_type, semi, params)) return std::nullopt;
  for (Param& p : params) {
    if (!iequals(p.name, "boundary")) continue;
    const std::string& b = p.value;
    if (b.empty() || b.size() > 70 || b.back() == ' ') return std::nullopt;
    if (!std::all_of(b.begin(), b.end(), is_bchar)) return std::nullopt;
    return std::move(p.value);
  }
  return std::nullopt;
}

std::optional<std::string> media_type_parameter(std::string_view content_type,
                                                std::string_view name) {
  const size_t semi = content_type.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  std::vector<Param> params;
  if (!parse_params(content_type, semi, params)) return std::nullopt;
  for (Param& p : params) {
    if (iequals(p.name, name)) return std::move(p.value);
  }
  return std::nullopt;
}

MultipartResult rewrite_multipart(std::string_view in, std::string_view boundary,
                                  MultipartVisitor& visitor, std::string& out) {
  MultipartResult result;
  out.clear();
  out.reserve(in.size());
  size_t copied = 0;  // in[copied, ...) is not yet in `out`: unchanged bytes go in lazily
  std::string replacement;
  // Replaces in[begin, end) (at or after `copied`) with `text`.
  auto edit = [&](size_t begin, size_t end, std::string_view text) {
    out.append(in.data() + copied, begin - copied);
    out.append(text);
    copied = end;
  };
  // Shows in[begin, end) to the visitor as text and applies its replacement.
  auto show = [&](MultipartText where, std::string_view header, size_t begin, size_t end) {
    if (begin >= end) return;
    replacement.clear();
    if (visitor.text(where, header, in.substr(begin, end - begin), replacement)) {
      ++result.texts_replaced;
      edit(begin, end, replacement);
    }
  };
  // The end: in[from, ...) could not be parsed (valid false) or is the epilogue.
  auto finish = [&](bool valid, size_t from) {
    show(valid ? MultipartText::kEpilogue : MultipartText::kUnparsed, {}, from, in.size());
    out.append(in.data() + copied, in.size() - copied);
    result.valid = valid;
    result.unparsed = valid ? in.size() : from;
    return result;
  };
  if (boundary.empty()) return finish(false, 0);
  const std::string dash_boundary = "--" + std::string(boundary);

  Delimiter d;
  if (!find_delimiter(in, 0, dash_boundary, d)) return finish(false, 0);  // the preamble is all
  show(MultipartText::kPreamble, {}, 0, d.line_break);
  std::vector<Param> params;
  std::vector<Edit> edits;
  struct HeaderText {
    size_t name_begin, name_end, value_begin, value_end;
  };
  std::vector<HeaderText> texts;
  std::vector<std::pair<size_t, size_t>> taken;  // Content-Disposition's parameter values
  std::string name;
  std::string filename;
  std::string new_body;
  std::string new_filename;
  while (!d.close) {
    const size_t part_begin = d.after;
    Delimiter next;
    // A last part cut before its next delimiter (a body cut at a size limit) runs to the end.
    const bool cut = !find_delimiter(in, part_begin, dash_boundary, next);
    const size_t part_end = cut ? in.size() : next.line_break;
    if (part_end < part_begin) return finish(false, part_begin);  // "--b\r\n--b": no headers

    // The header section: lines up to an empty one, all before the part's end.
    MultipartPart part;
    size_t body_begin = std::string_view::npos;
    size_t disposition_begin = std::string_view::npos;
    size_t disposition_end = 0;
    size_t disposition_name = 0;       // where its header line (its name) begins
    size_t disposition_name_end = 0;   // the ':' after the name
    size_t disposition_value_end = 0;  // its value's end, a final '\r' not included
    texts.clear();
    size_t line = part_begin;
    while (line < part_end) {
      const size_t nl = in.find('\n', line);
      if (nl == std::string_view::npos || nl >= part_end) break;
      const size_t content_end = nl > line && in[nl - 1] == '\r' ? nl - 1 : nl;
      if (content_end == line) {
        body_begin = nl + 1;
        break;
      }
      // A header and the folded lines after it (those starting with a space or tab).
      size_t header_end = nl;  // the '\n' of its last line
      while (header_end + 1 < part_end &&
             (in[header_end + 1] == ' ' || in[header_end + 1] == '\t')) {
        const size_t more = in.find('\n', header_end + 1);
        if (more == std::string_view::npos || more >= part_end) break;
        header_end = more;
      }
      const std::string_view header = in.substr(line, header_end - line);
      const size_t value_end = in[header_end - 1] == '\r' ? header_end - 1 : header_end;
      const size_t colon = header.find(':');
      if (colon != std::string_view::npos) {
        const std::string_view field = trim(header.substr(0, colon));
        if (iequals(field, "content-disposition") && disposition_begin == std::string_view::npos) {
          disposition_begin = line + colon + 1;
          disposition_end = header_end;
          disposition_name = line;
          disposition_name_end = line + colon;
          disposition_value_end = value_end;
        } else if (iequals(field, "content-type") && part.content_type.empty()) {
          part.content_type = trim(header.substr(colon + 1));
        } else {
          texts.push_back({line, line + colon, line + colon + 1, value_end});
        }
      } else {
        texts.push_back({line, line, line, value_end});  // not a header: all of it is text
      }
      line = header_end + 1;
    }
    if (body_begin == std::string_view::npos) return finish(false, part_begin);

    // Content-Disposition: form-data; name="a"; filename="b"; filename*=UTF-8''b
    const Param* filename_param = nullptr;
    const Param* ext_param = nullptr;
    const Param* name_param = nullptr;
    name.clear();
    filename.clear();
    params.clear();
    if (disposition_begin != std::string_view::npos) {
      const std::string_view value =
          in.substr(disposition_begin, disposition_end - disposition_begin);
      const size_t semi = value.find(';');
      const bool parsed = semi != std::string_view::npos && parse_params(value, semi, params);
      if (parsed) {
        for (const Param& p : params) {
          if (iequals(p.name, "name") && name_param == nullptr) {
            name = p.value;
            name_param = &p;
          } else if (iequals(p.name, "filename") && filename_param == nullptr) {
            filename_param = &p;
          } else if (iequals(p.name, "filename*") && ext_param == nullptr) {
            ext_param = &p;
          }
        }
      }
      if (filename_param != nullptr) {
        filename = filename_param->value;
      } else if (ext_param != nullptr) {
        filename = decode_ext_value(ext_param->value);
      }
      // Every other byte that is not the header's grammar is text: the parameters' values but
      // the filenames (the field's name too, as a JSON key is read by content), and what does
      // not parse as a parameter ('name="a""bob@example.com"', an unclosed quote) (2026-12-07,
      // fuzz_scrub: bytes after a name's closing quote were kept unread).
      taken.clear();
      if (parsed) {
        for (const Param& p : params) taken.push_back({p.begin, p.end});
      }
      std::sort(taken.begin(), taken.end());
      size_t at = 0;
      const size_t value_size = disposition_value_end - disposition_begin;
      auto show = [&](size_t from, size_t to) {
        texts.push_back({disposition_name, disposition_name_end, disposition_begin + from,
                         disposition_begin + to});
      };
      for (const auto& [b, e] : taken) {
        if (b < at) continue;
        if (!grammar_only(value.substr(at, b - at), at == 0, false)) show(at, b);
        const Param* p = nullptr;
        for (const Param& q : params) {
          if (q.begin == b) p = &q;
        }
        if (p != filename_param && p != ext_param && e > b) show(b, e);
        at = e;
      }
      if (at < value_size && !grammar_only(value.substr(at, value_size - at), at == 0, true)) {
        show(at, value_size);
      }
      std::sort(texts.begin(), texts.end(), [](const HeaderText& a, const HeaderText& b) {
        return a.value_begin < b.value_begin;
      });
    }
    part.name = name;
    part.filename = filename;
    part.body = in.substr(body_begin, part_end - body_begin);
    ++result.parts;

    // The other headers' values: before the part, in order (the Content-Disposition edits,
    // between them, are made below).
    edits.clear();
    for (const HeaderText& t : texts) {
      replacement.clear();
      const std::string_view header = trim(in.substr(t.name_begin, t.name_end - t.name_begin));
      if (t.value_begin < t.value_end &&
          visitor.text(MultipartText::kHeader, header,
                       in.substr(t.value_begin, t.value_end - t.value_begin), replacement)) {
        ++result.texts_replaced;
        edits.push_back({t.value_begin, t.value_end, replacement});
      }
    }
    new_body.clear();
    new_filename.clear();
    const bool replace_body = visitor.visit(part, new_body, new_filename);
    bool part_replaced = false;
    if (!new_filename.empty()) {
      if (filename_param != nullptr) {
        edits.push_back({disposition_begin + filename_param->begin,
                         disposition_begin + filename_param->end, quoted_filename(new_filename)});
        part_replaced = true;
      }
      if (ext_param != nullptr) {
        // Quoted when the original was (not RFC 8187, but bytes glued to the closing quote
        // must not run into a token).
        std::string ext = ext_filename(new_filename);
        if (ext_param->quoted) ext = '"' + ext + '"';
        edits.push_back({disposition_begin + ext_param->begin, disposition_begin + ext_param->end,
                         std::move(ext)});
        part_replaced = true;
      }
    }
    if (replace_body) {
      edits.push_back({body_begin, part_end, new_body});
      part_replaced = true;
    }
    if (part_replaced) ++result.replaced;
    std::sort(edits.begin(), edits.end(),
              [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
    for (const Edit& e : edits) edit(e.begin, e.end, e.text);
    if (cut) return finish(false, in.size());
    d = next;
  }
  return finish(true, d.after);
}

}  // namespace twin::scrubber
