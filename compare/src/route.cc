// Route templates (route.h).
//
// observe() runs once per exchange, so it allocates nothing once a template is known: the target
// is cut to its path in place, the template is written into a reused key buffer and looked up
// with a heterogeneous hash lookup. Learning (step 2) runs over the provisional templates with a
// trie kept in an arena and walked without recursion, so that a path of a hundred thousand slashes
// cannot exhaust the stack.
//
// Learning also runs while observing, so that one route with unbounded literals (a user name in
// the path) cannot use up max_templates: each time the number of provisional templates doubles
// (from max_literals + 1 on), and once more when max_templates is reached, the templates seen so
// far are collapsed. A new template that the last collapse places on the node of an existing
// template (every segment equal, except literals under a node whose literals merged into
// {param}) gets that template's provisional id instead of a new one. Such a template adds no
// literal that could change any collapse (its literals sit only under nodes that collapse anyway,
// and collapsing more templates only merges more), so finish() gives the routes it would give
// had every template had its own id.

#include "twin/compare/route.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <unordered_map>
#include <utility>

namespace twin::compare {
namespace {

constexpr std::string_view kId = "{id}";
constexpr std::string_view kPhone = "{phone}";
constexpr std::string_view kUuid = "{uuid}";
constexpr std::string_view kHex = "{hex}";
constexpr std::string_view kEmail = "{email}";
constexpr std::string_view kDate = "{date}";
constexpr std::string_view kToken = "{token}";
constexpr std::string_view kParam = "{param}";
constexpr std::string_view kOther = "{other}";
// The method shown for overrides that match any method, and for requests folded once too many
// methods have their own "{other}".
constexpr std::string_view kAnyMethod = "*";
constexpr uint32_t kNoId = std::numeric_limits<uint32_t>::max();
// Each method gets its own "{other}" up to this many methods, so that a flood of made-up methods
// cannot grow memory past max_templates either.
constexpr size_t kMaxOtherMethods = 64;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
bool is_hex_letter(char c) { return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_hex(char c) { return is_digit(c) || is_hex_letter(c); }

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!is_hex(s[i])) {
      return false;
    }
  }
  return true;
}

// A two-digit number at `pos` within [lo, hi].
bool two_digits(std::string_view s, size_t pos, int lo, int hi) {
  if (pos + 2 > s.size() || !is_digit(s[pos]) || !is_digit(s[pos + 1])) return false;
  int value = (s[pos] - '0') * 10 + (s[pos + 1] - '0');
  return value >= lo && value <= hi;
}

// Consumes `c` or its %-encoded form (`encoded`, e.g. "3A" for ':') at `pos`: clients differ in
// whether they escape ':' and '+' in a path.
bool consume(std::string_view s, size_t& pos, char c, std::string_view encoded) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  if (pos + 3 <= s.size() && s[pos] == '%' && s[pos + 1] == encoded[0] &&
      (s[pos + 2] | 0x20) == (encoded[1] | 0x20)) {
    pos += 3;
    return true;
  }
  return false;
}

// "HH:MM[:SS[.frac]][Z|±HH[[:]MM]]".
bool is_time(std::string_view s) {
  if (!two_digits(s, 0, 0, 23)) return false;
  size_t pos = 2;
  if (!consume(s, pos, ':', "3A") || !two_digits(s, pos, 0, 59)) return false;
  pos += 2;
  if (consume(s, pos, ':', "3A")) {
    if (!two_digits(s, pos, 0, 60)) return false;  // 60: a leap second
    pos += 2;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      size_t start = ++pos;
      while (pos < s.size() && is_digit(s[pos])) ++pos;
      if (pos == start) return false;
    }
  }
  if (pos == s.size()) return true;
  if (s[pos] == 'Z' || s[pos] == 'z') return pos + 1 == s.size();
  if (!consume(s, pos, '+', "2B") && !consume(s, pos, '-', "2D")) return false;
  if (!two_digits(s, pos, 0, 23)) return false;
  pos += 2;
  if (pos == s.size()) return true;
  consume(s, pos, ':', "3A");
  return two_digits(s, pos, 0, 59) && pos + 2 == s.size();
}

// "YYYY-MM-DD" or "YYYY-MM-DDT<time>".
bool is_date(std::string_view s) {
  if (s.size() < 10) return false;
  for (size_t i = 0; i < 4; ++i) {
    if (!is_digit(s[i])) return false;
  }
  if (s[4] != '-' || !two_digits(s, 5, 1, 12) || s[7] != '-' || !two_digits(s, 8, 1, 31)) {
    return false;
  }
  if (s.size() == 10) return true;
  if (s[10] != 'T' && s[10] != 't') return false;
  return is_time(s.substr(11));
}

bool is_email_local_char(char c) {
  return is_alnum(c) || std::string_view("._%+-~!$&'*=^`|").find(c) != std::string_view::npos;
}

// Two or more labels of letters, digits and '-', the last one (the TLD) letters only.
bool is_domain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  size_t labels = 0;
  size_t start = 0;
  while (true) {
    size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!is_alnum(c) && c != '-') return false;
    }
    ++labels;
    if (dot == std::string_view::npos) {
      if (label.size() < 2) return false;
      for (char c : label) {
        if (!is_alpha(c)) return false;
      }
      return labels >= 2;
    }
    start = dot + 1;
  }
}

bool is_email(std::string_view s) {
  size_t at = s.find('@');
  size_t width = 1;
  if (at == std::string_view::npos) {
    at = s.find("%40");
    width = 3;
  }
  if (at == std::string_view::npos || at == 0) return false;
  for (char c : s.substr(0, at)) {
    if (!is_email_local_char(c)) return false;
  }
  return is_domain(s.substr(at + width));
}

// A long opaque token (session ids, base64url keys, JWTs): at least 20 characters of base64url
// (plus '.', '~', '=' and '+'), letters and digits alternating at least 3 times (slugs like
// "my-trip-to-paris-2019" keep their digits apart from their letters) and at least 10 distinct
// characters (words repeat few letters).
bool is_token(std::string_view s) {
  if (s.size() < 20) return false;
  size_t letters = 0;
  size_t digits = 0;
  size_t alternations = 0;
  int previous = 0;  // 0 other, 1 letter, 2 digit
  uint64_t seen[2] = {0, 0};
  for (char c : s) {
    int kind;
    if (is_alpha(c)) {
      kind = 1;
      ++letters;
    } else if (is_digit(c)) {
      kind = 2;
      ++digits;
    } else if (c == '-' || c == '_' || c == '.' || c == '~' || c == '=' || c == '+') {
      kind = 0;
    } else {
      return false;
    }
    if (kind != 0 && previous != 0 && kind != previous) ++alternations;
    previous = kind;
    auto u = static_cast<unsigned char>(c);  // < 128: checked above
    seen[u >> 6] |= uint64_t{1} << (u & 63);
  }
  int distinct = std::popcount(seen[0]) + std::popcount(seen[1]);
  return letters > 0 && digits > 0 && alternations >= 3 && distinct >= 10;
}

// The path of a request target: an absolute form's scheme and authority dropped, the query and
// the fragment dropped, "" → "/". A view into `target` (or a static string).
std::string_view path_of(std::string_view target) {
  if (!target.empty() && target[0] != '/' && is_alpha(target[0])) {
    size_t colon = target.find("://");
    if (colon != std::string_view::npos) {
      bool scheme = true;
      for (char c : target.substr(0, colon)) {
        if (!is_alnum(c) && c != '+' && c != '-' && c != '.') scheme = false;
      }
      if (scheme) {
        size_t end = target.find_first_of("/?#", colon + 3);
        target = end == std::string_view::npos ? std::string_view() : target.substr(end);
      }
    }
  }
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty()) return "/";
  return target;
}

bool is_extension(std::string_view part) {
  if (part.empty() || part.size() > 10) return false;
  bool letter = false;
  for (char c : part) {
    if (!is_alnum(c)) return false;
    letter = letter || is_alpha(c);
  }
  return letter;
}

// A segment that is not an id as a whole but has dots: "123.json" → "{id}.json",
// "main.3f2a9c1b.js" → "main.{hex}.js". The last dot-part is always kept (the extension). A
// number only counts as the first part and only when everything after it looks like an extension,
// so that versions ("2.0", "jquery-3.6.0.min.js", "1.2.3.tar.gz") stay literal.
void append_dotted(std::string& out, std::string_view segment) {
  size_t mark = out.size();
  // Where the run of extension-like parts at the end starts.
  size_t tail = segment.size();
  while (tail > 0) {
    size_t dot = segment.rfind('.', tail - 1);
    if (dot == std::string_view::npos || !is_extension(segment.substr(dot + 1, tail - dot - 1))) {
      break;
    }
    tail = dot;
  }
  bool changed = false;
  size_t pos = 0;
  while (true) {
    size_t dot = segment.find('.', pos);
    std::string_view part = segment.substr(pos, dot == std::string_view::npos ? dot : dot - pos);
    std::string_view placeholder;
    if (dot != std::string_view::npos) placeholder = classify_segment(part);
    if (placeholder == kId && !(pos == 0 && dot == tail)) placeholder = {};
    if (!placeholder.empty()) {
      out += placeholder;
      changed = true;
    } else {
      out += part;
    }
    if (dot == std::string_view::npos) break;
    out += '.';
    pos = dot + 1;
  }
  if (!changed) {
    out.resize(mark);
    out += segment;
  }
}

void append_segment(std::string& out, std::string_view segment) {
  std::string_view placeholder = classify_segment(segment);
  if (!placeholder.empty()) {
    out += placeholder;
  } else if (segment.find('.') != std::string_view::npos) {
    append_dotted(out, segment);
  } else {
    out += segment;
  }
}

void append_template(std::string& out, std::string_view path) {
  if (path[0] != '/') {
    // "*" (OPTIONS *) or an authority (CONNECT): kept whole, never learned from.
    out += path;
    return;
  }
  size_t pos = 1;
  while (true) {
    out += '/';
    size_t slash = path.find('/', pos);
    append_segment(out, path.substr(pos, slash == std::string_view::npos ? slash : slash - pos));
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
}

// A segment that the learner may collapse: not empty (empty segments are structure, "//" or a
// trailing slash) and holding no placeholder.
bool is_literal(std::string_view segment) {
  return !segment.empty() && segment.find('{') == std::string_view::npos;
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// The templates of one method, one node per segment position. Nodes live in an arena and refer to
// their children by index: merging moves indices, and nothing is destroyed recursively.
class Trie {
 public:
  Trie() : nodes_(1) {}

  // `route` starts with '/'.
  void insert(std::string_view route, uint32_t id) {
    uint32_t node = 0;
    size_t pos = 1;
    while (true) {
      size_t slash = route.find('/', pos);
      std::string_view segment =
          route.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
      node = child(node, segment);
      if (slash == std::string_view::npos) break;
      pos = slash + 1;
    }
    nodes_[node].ids.push_back(id);
  }

  // Top-down: merging literals into {param} can only add children below, so each node is
  // looked at after everything above it has merged.
  void collapse(size_t max_literals) {
    std::vector<uint32_t> stack{0};
    std::vector<uint32_t> merged;
    while (!stack.empty()) {
      uint32_t node = stack.back();
      stack.pop_back();
      size_t literals = 0;
      for (const auto& [segment, next] : nodes_[node].children) literals += is_literal(segment);
      if (literals > max_literals) {
        merged.clear();
        auto& children = nodes_[node].children;
        for (auto it = children.begin(); it != children.end();) {
          if (is_literal(it->first)) {
            merged.push_back(it->second);
            it = children.erase(it);
          } else {
            ++it;
          }
        }
        uint32_t param = child(node, kParam);
        nodes_[node].collapsed = true;
        for (uint32_t from : merged) merge(param, from);
      }
      for (const auto& [segment, next] : nodes_[node].children) stack.push_back(next);
    }
  }

  // The first id of the node that `route` (starting with '/') reaches in the collapsed trie, or
  // kNoId: segments follow their own child, except that a literal under a node whose literals
  // merged follows "{param}".
  uint32_t find(std::string_view route) const {
    uint32_t node = 0;
    size_t pos = 1;
    while (true) {
      size_t slash = route.find('/', pos);
      std::string_view segment =
          route.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
      const Node& at = nodes_[node];
      auto it = at.children.find(segment);
      if (it == at.children.end()) {
        if (!at.collapsed || !is_literal(segment)) return kNoId;
        it = at.children.find(kParam);
        if (it == at.children.end()) return kNoId;
      }
      node = it->second;
      if (slash == std::string_view::npos) break;
      pos = slash + 1;
    }
    return nodes_[node].ids.empty() ? kNoId : nodes_[node].ids.front();
  }

  // Calls `emit(route, ids)` for every node that ends a template.
  template <typename Emit>
  void walk(Emit&& emit) const {
    struct Frame {
      uint32_t node;
      Children::const_iterator next;
      size_t length;
    };
    std::string route;
    std::vector<Frame> stack{{0, nodes_[0].children.begin(), 0}};
    while (!stack.empty()) {
      Frame& frame = stack.back();
      if (frame.next == nodes_[frame.node].children.end()) {
        stack.pop_back();
        continue;
      }
      const auto& [segment, next] = *frame.next++;
      route.resize(frame.length);
      route += '/';
      route += segment;
      if (!nodes_[next].ids.empty()) emit(std::string_view(route), nodes_[next].ids);
      stack.push_back({next, nodes_[next].children.begin(), route.size()});
    }
  }

 private:
  using Children = std::map<std::string, uint32_t, std::less<>>;
  struct Node {
    Children children;
    std::vector<uint32_t> ids;
    bool collapsed = false;  // its literal children merged into "{param}"
  };

  uint32_t child(uint32_t node, std::string_view segment) {
    auto it = nodes_[node].children.find(segment);
    if (it != nodes_[node].children.end()) return it->second;
    auto index = static_cast<uint32_t>(nodes_.size());
    nodes_.emplace_back();  // invalidates references into nodes_: look `node` up again
    nodes_[node].children.emplace(std::string(segment), index);
    return index;
  }

  // Moves everything under `from` into `into`, merging children of the same segment.
  void merge(uint32_t into, uint32_t from) {
    std::vector<std::pair<uint32_t, uint32_t>> work{{into, from}};
    while (!work.empty()) {
      auto [to, source] = work.back();
      work.pop_back();
      Node& target = nodes_[to];
      Node& origin = nodes_[source];
      target.ids.insert(target.ids.end(), origin.ids.begin(), origin.ids.end());
      origin.ids.clear();
      while (!origin.children.empty()) {
        auto handle = origin.children.extract(origin.children.begin());
        auto it = target.children.find(handle.key());
        if (it == target.children.end()) {
          target.children.insert(std::move(handle));
        } else {
          work.emplace_back(it->second, handle.mapped());
        }
      }
    }
  }

  std::vector<Node> nodes_;
};

}  // namespace

std::string_view classify_segment(std::string_view segment) {
  if (segment.empty()) return {};
  size_t digits = 0;
  size_t hex_letters = 0;
  for (char c : segment) {
    if (is_digit(c)) {
      ++digits;
    } else if (is_hex_letter(c)) {
      ++hex_letters;
    } else {
      break;
    }
  }
  size_t size = segment.size();
  if (digits == size) return kId;
  // A phone number in E.164 ("+4915112345678", "%2B4915112345678"): personal data, not a name.
  {
    std::string_view rest = segment;
    if (rest.front() == '+') {
      rest.remove_prefix(1);
    } else if (rest.size() > 3 && rest[0] == '%' && rest[1] == '2' &&
               (rest[2] == 'B' || rest[2] == 'b')) {
      rest.remove_prefix(3);
    } else {
      rest = {};
    }
    if (rest.size() >= 7 && rest.size() <= 15 &&
        std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return kPhone;
    }
  }
  if (digits + hex_letters == size) {
    // Words made of a-f only ("deadbeef", "facade") need 16 characters to count; shorter ones
    // need a digit too.
    if (size >= 16 || (size >= 8 && digits > 0)) return kHex;
    return {};
  }
  if (is_uuid(segment)) return kUuid;
  if (is_date(segment)) return kDate;
  if (is_email(segment)) return kEmail;
  if (is_token(segment)) return kToken;
  return {};
}

std::string template_of(std::string_view target) {
  std::string out;
  append_template(out, path_of(target));
  return out;
}

struct RouteLearner::Impl {
  enum class Kind : uint8_t { kLearned, kOverride, kOther };
  struct Entry {
    std::string method;
    std::string route;
    Kind kind;
  };
  struct Override {
    std::string method;
    std::vector<std::string> segments;  // the pattern split at '/'; "" before a leading '/'
    bool rest = false;                  // the last segment is "**"
    std::string route;
    uint32_t id = kNoId;
  };

  explicit Impl(RouteOptions options)
      : max_literals(options.max_literals),
        max_templates(options.max_templates),
        next_collapse(max_literals == std::numeric_limits<size_t>::max() ? max_literals
                                                                         : max_literals + 1) {
    for (RouteOverride& given : options.overrides) {
      Override o;
      o.method = std::move(given.method);
      std::string_view pattern = given.pattern;
      if (pattern.empty()) pattern = "/";
      size_t pos = 0;
      while (true) {
        size_t slash = pattern.find('/', pos);
        o.segments.emplace_back(
            pattern.substr(pos, slash == std::string_view::npos ? slash : slash - pos));
        if (slash == std::string_view::npos) break;
        pos = slash + 1;
      }
      o.rest = o.segments.back() == "**";
      o.route = given.route.empty() ? std::move(given.pattern) : std::move(given.route);
      overrides.push_back(std::move(o));
    }
  }

  static bool matches(const Override& o, std::string_view method, std::string_view path) {
    if (!o.method.empty() && o.method != method) return false;
    size_t pos = 0;  // past the end of `path` + 1 once every segment is used
    for (size_t i = 0; i < o.segments.size(); ++i) {
      if (o.rest && i + 1 == o.segments.size()) return true;
      if (pos > path.size()) return false;
      size_t slash = path.find('/', pos);
      std::string_view segment =
          path.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
      pos = slash == std::string_view::npos ? path.size() + 1 : slash + 1;
      const std::string& want = o.segments[i];
      if (want == "*" || (want.size() >= 2 && want.front() == '{' && want.back() == '}')) {
        if (segment.empty()) return false;
      } else if (want != segment) {
        return false;
      }
    }
    return pos > path.size();
  }

  uint32_t add(std::string_view method, std::string_view route, Kind kind) {
    auto id = static_cast<uint32_t>(entries.size());
    entries.push_back({std::string(method), std::string(route), kind});
    return id;
  }

  uint32_t other(std::string_view method) {
    ++folded;
    if (auto it = other_ids.find(method); it != other_ids.end()) return it->second;
    if (other_ids.size() >= kMaxOtherMethods) {
      if (overflow_id == kNoId) overflow_id = add(kAnyMethod, kOther, Kind::kOther);
      return overflow_id;
    }
    uint32_t id = add(method, kOther, Kind::kOther);
    other_ids.emplace(std::string(method), id);
    return id;
  }

  uint32_t observe(std::string_view method, std::string_view target) {
    std::string_view path = path_of(target);
    for (Override& o : overrides) {
      if (!matches(o, method, path)) continue;
      if (o.id == kNoId)
        o.id = add(o.method.empty() ? kAnyMethod : o.method, o.route, Kind::kOverride);
      return o.id;
    }
    key.assign(method);
    key += ' ';
    append_template(key, path);
    if (auto it = ids.find(key); it != ids.end()) return it->second;
    // A new template: one of a route already collapsed, a new one, or one too many.
    std::string_view route = std::string_view(key).substr(method.size() + 1);
    if (learned >= max_templates && learned != collapsed_at) collapse();
    if (uint32_t id = collapsed_id(method, route); id != kNoId) {
      // Remembered up to a bound, so that memory stays bounded whatever the input; beyond it the
      // template is placed again (a walk down the trie) each time it is seen.
      if (aliases < max_templates) {
        ids.emplace(key, id);
        ++aliases;
      }
      return id;
    }
    if (learned >= max_templates) return other(method);
    uint32_t id = add(method, route, Kind::kLearned);
    ids.emplace(key, id);
    ++learned;
    if (learned >= next_collapse) {
      collapse();
      next_collapse = saturating_double(learned);
    }
    return id;
  }

  static size_t saturating_double(size_t n) {
    return n > std::numeric_limits<size_t>::max() / 2 ? std::numeric_limits<size_t>::max() : 2 * n;
  }

  // The provisional id of a template that the last collapse places with `route`, or kNoId.
  uint32_t collapsed_id(std::string_view method, std::string_view route) const {
    if (route.empty() || route[0] != '/') return kNoId;
    auto it = tries.find(method);
    return it == tries.end() ? kNoId : it->second.find(route);
  }

  // Collapses the learned templates seen so far, one trie per method, into `tries`.
  void collapse() {
    tries.clear();
    for (uint32_t id = 0; id < entries.size(); ++id) {
      const Entry& e = entries[id];
      if (e.kind != Kind::kLearned || e.route.empty() || e.route[0] != '/') continue;
      auto it = tries.find(std::string_view(e.method));
      if (it == tries.end()) it = tries.emplace(e.method, Trie()).first;
      it->second.insert(e.route, id);
    }
    for (auto& [method, trie] : tries) trie.collapse(max_literals);
    collapsed_at = learned;
  }

  std::vector<uint32_t> finish(std::vector<Route>& routes) {
    if (learned != collapsed_at) collapse();
    size_t n = entries.size();
    std::vector<std::string_view> final_route(n);
    for (uint32_t id = 0; id < n; ++id) final_route[id] = entries[id].route;
    // Collapsed names are kept here, so that final_route can view them.
    std::vector<std::string> names;
    std::vector<std::pair<uint32_t, size_t>> named;  // provisional id → index in names
    for (const auto& [method, trie] : tries) {
      trie.walk([&](std::string_view route, const std::vector<uint32_t>& at) {
        names.emplace_back(route);
        for (uint32_t id : at) named.emplace_back(id, names.size() - 1);
      });
    }
    for (const auto& [id, index] : named) final_route[id] = names[index];

    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    auto name = [&](uint32_t id) {
      return std::pair<std::string_view, std::string_view>(entries[id].method, final_route[id]);
    };
    std::sort(order.begin(), order.end(),
              [&](uint32_t a, uint32_t b) { return name(a) < name(b); });
    routes.clear();
    std::vector<uint32_t> mapping(n);
    for (size_t i = 0; i < n; ++i) {
      uint32_t id = order[i];
      bool overridden = entries[id].kind == Kind::kOverride;
      if (i == 0 || name(order[i - 1]) != name(id)) {
        routes.push_back({entries[id].method, std::string(final_route[id]), overridden});
      } else {
        // An override named like a learned template is the same route.
        routes.back().overridden = routes.back().overridden || overridden;
      }
      mapping[id] = static_cast<uint32_t>(routes.size() - 1);
    }
    return mapping;
  }

  size_t max_literals;
  size_t max_templates;
  std::vector<Override> overrides;
  std::vector<Entry> entries;                                                  // by provisional id
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> ids;  // "METHOD template"
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> other_ids;  // by method
  uint32_t overflow_id = kNoId;
  size_t learned = 0;       // provisional ids of Kind::kLearned
  size_t aliases = 0;       // entries of `ids` pointing to the id of another template
  size_t next_collapse;     // collapse() again once `learned` reaches this
  size_t collapsed_at = 0;  // `learned` when `tries` was last collapsed
  std::map<std::string, Trie, std::less<>> tries;  // by method, as of the last collapse()
  uint64_t folded = 0;
  std::string key;  // reused by observe()
};

RouteLearner::RouteLearner(RouteOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
RouteLearner::~RouteLearner() = default;
RouteLearner::RouteLearner(RouteLearner&&) noexcept = default;
RouteLearner& RouteLearner::operator=(RouteLearner&&) noexcept = default;

uint32_t RouteLearner::observe(std::string_view method, std::string_view target) {
  return impl_->observe(method, target);
}

std::vector<uint32_t> RouteLearner::finish(std::vector<Route>& routes) {
  return impl_->finish(routes);
}

size_t RouteLearner::size() const { return impl_->entries.size(); }

uint64_t RouteLearner::folded() const { return impl_->folded; }

bool route_pattern_matches(std::string_view pattern, std::string_view path) {
  std::vector<std::string_view> segments;
  for (size_t pos = 0;;) {
    size_t slash = pattern.find('/', pos);
    segments.push_back(pattern.substr(pos, slash == std::string_view::npos ? slash : slash - pos));
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  const bool rest = segments.back() == "**";
  size_t pos = 0;  // past the end of `path` + 1 once every segment is used
  for (size_t i = 0; i < segments.size(); ++i) {
    if (rest && i + 1 == segments.size()) return true;
    if (pos > path.size()) return false;
    size_t slash = path.find('/', pos);
    std::string_view segment =
        path.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
    pos = slash == std::string_view::npos ? path.size() + 1 : slash + 1;
    std::string_view want = segments[i];
    if (want == "*" || (want.size() >= 2 && want.front() == '{' && want.back() == '}')) {
      if (segment.empty()) return false;
    } else if (want != segment) {
      return false;
    }
  }
  return pos > path.size();
}

}  // namespace twin::compare
