// Writes a JSON-heavy sample archive for the scrub benchmark (bench/scrub.sh):
//   bench_scrub_sample OUT.twin N [SEED] [--pii-share P]
// N deterministic HTTP/1.1 exchanges of a shop/CRM JSON API, full of personal data: user lists
// (GET /api/users?limit=20, 20 users with name, email, phones in E.164 and national form, date
// of birth, postal address, card last4 and sometimes a full Luhn-valid card, IBAN, client IP,
// timestamps), single users, orders posted with shipping address and payment details, product
// searches, customer notes in free text. Requests carry a browser's or an SDK's headers with a
// bearer JWT, cookies and request ids. Bodies average a few KB, so the archive is mostly JSON.
// A user's attributes depend only on the seed and the user id, so the same person comes back
// unchanged across exchanges, as in real traffic.
//
// --pii-share P (0 <= P <= 1) makes only a share P of the exchanges (chosen at random) such
// personal ones, and the others the JSON-heavy API traffic with little or no personal data that
// makes up most of a real service's bytes: product catalog pages (GET /api/products?page=K, 20
// to 50 items with prose descriptions, prices, SKUs, stock, category paths, image URLs, ratings,
// tags, timestamps), inventory adjustments (POST /api/inventory/adjustments), telemetry batches
// (POST /api/events: events with timestamps, names, metrics, UUID request ids, user agents and
// versions) and config/feature-flag documents (GET /api/config). Their requests carry the same
// headers (bearer JWT, cookies, request ids: credentials, scrubbed as in real traffic). Without
// the option every exchange is a personal one, and the output is what it was before the option
// existed; P = 1 writes the same exchanges. The mix is deterministic in (SEED, P).
//
// Prints one line to stdout:
//   exchanges=N bytes=B body_bytes=J
// where B counts the bytes of method, target, header names and values, and bodies of requests
// and responses (the "MB" of bench/scrub.sh) and J the bodies alone.

#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "twin/traffic/archive.h"
#include "twin/traffic/exchange.h"

namespace {

using twin::traffic::Exchange;

// splitmix64: a small, fast, seedable generator; a user's stream is seeded from (seed, id).
struct Rng {
  uint64_t s;
  uint64_t operator()() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return (*this)() % n; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }
  std::string digits(size_t n) {
    std::string s(n, '0');
    for (auto& c : s) c = static_cast<char>('0' + below(10));
    return s;
  }
  std::string hex(size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s(n, '0');
    for (auto& c : s) c = d[below(16)];
    return s;
  }
  std::string b64url(size_t n) {
    static const char* d = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string s(n, 'A');
    for (auto& c : s) c = d[below(64)];
    return s;
  }
};

std::string pad(uint64_t v, int width) {
  std::string s = std::to_string(v);
  if (static_cast<int>(s.size()) < width) s.insert(0, static_cast<size_t>(width) - s.size(), '0');
  return s;
}

// "2026-11-23T10:12:01.123Z" from nanoseconds since the epoch.
std::string iso_time(int64_t ns) {
  std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>((ns / 1'000'000) % 1000));
  return buf;
}

// "Sun, 23 Nov 2026 10:12:01 GMT"
std::string http_date(int64_t ns) {
  std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// Base64url without padding (RFC 4648 section 5), as in JWTs.
std::string base64url(std::string_view in) {
  static const char* d = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += d[v >> 18];
    out += d[(v >> 12) & 63];
    out += d[(v >> 6) & 63];
    out += d[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    out += d[v >> 18];
    out += d[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += d[v >> 18];
    out += d[(v >> 12) & 63];
    out += d[(v >> 6) & 63];
  }
  return out;
}

std::string money(uint64_t cents) {
  return std::to_string(cents / 100) + "." + pad(cents % 100, 2);
}

// A Luhn-valid card number: `prefix`, random digits, check digit; `length` digits in all.
std::string luhn_card(Rng& r, std::string_view prefix, size_t length) {
  std::string s(prefix);
  while (s.size() + 1 < length) s += static_cast<char>('0' + r.below(10));
  int sum = 0;
  bool dbl = true;  // the digit left of the check digit is doubled
  for (size_t i = s.size(); i-- > 0;) {
    int d = s[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  s += static_cast<char>('0' + (10 - sum % 10) % 10);
  return s;
}

// A mod-97-valid IBAN for `country` with a BBAN of `bban_digits` random digits.
std::string iban(Rng& r, std::string_view country, size_t bban_digits) {
  std::string bban = r.digits(bban_digits);
  // mod 97 of BBAN + country as digits (A=10) + "00"
  std::string rearranged = bban;
  for (char c : country) rearranged += std::to_string(c - 'A' + 10);
  rearranged += "00";
  int mod = 0;
  for (char c : rearranged) mod = (mod * 10 + (c - '0')) % 97;
  return std::string(country) + pad(static_cast<uint64_t>(98 - mod), 2) + bban;
}

struct Country {
  std::string code, currency;
  std::vector<std::string> cities;
  std::vector<std::string> streets;
};

const std::vector<Country>& countries() {
  static const std::vector<Country> c = {
      {"US",
       "USD",
       {"Springfield", "Portland", "Austin", "Columbus", "San Jose", "Denver"},
       {"Main St", "Oak Avenue", "Maple Drive", "Cedar Lane", "Elm Street", "Washington Blvd"}},
      {"GB",
       "GBP",
       {"London", "Manchester", "Leeds", "Bristol", "Edinburgh"},
       {"High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane"}},
      {"DE",
       "EUR",
       {"Berlin", "München", "Hamburg", "Köln", "Leipzig"},
       {"Hauptstraße", "Schulstraße", "Gartenweg", "Bahnhofstraße", "Lindenallee"}},
      {"FR",
       "EUR",
       {"Paris", "Lyon", "Marseille", "Toulouse", "Nantes"},
       {"rue de la Paix", "avenue Victor Hugo", "boulevard Voltaire", "rue Pasteur"}},
  };
  return c;
}

const std::vector<std::string> kFirst = {
    "Ada",    "Grace",  "Alan",     "Edsger", "Barbara",   "Ken",   "Margaret", "Donald",
    "Olivia", "Liam",   "Emma",     "Noah",   "Sophia",    "Lucas", "Mia",      "Jonas",
    "Léa",    "Hugo",   "Zoë",      "José",   "Chloé",     "Mateo", "Hannah",   "Finn",
    "Amelia", "Oliver", "Isabella", "Elijah", "Charlotte", "James", "Yuki",     "Priya"};
const std::vector<std::string> kLast = {
    "Lovelace",  "Hopper",  "Turing",   "Dijkstra", "Liskov", "Thompson", "Hamilton",
    "Knuth",     "Smith",   "Johnson",  "Williams", "Brown",  "Müller",   "Schmidt",
    "Schneider", "Fischer", "Martin",   "Bernard",  "Dubois", "Álvarez",  "García",
    "O'Brien",   "Nguyen",  "Kowalski", "Rossi",    "Tanaka", "Patel",    "Andersson"};
const std::vector<std::string> kDomains = {"example.com", "example.org", "mail.example.net",
                                           "corp.example.co.uk", "example.de"};
const std::vector<std::string> kStatuses = {"active",  "active",    "active",
                                            "pending", "suspended", "closed"};
const std::vector<std::string> kTiers = {"bronze", "silver", "gold", "platinum"};
const std::vector<std::string> kTags = {"vip",    "newsletter", "b2b",  "returning",
                                        "mobile", "churn-risk", "beta", "wholesale"};
const std::vector<std::string> kProducts = {"Wireless Mouse",   "Mechanical Keyboard",
                                            "USB-C Hub",        "27\\\" Monitor",
                                            "Laptop Stand",     "Noise Cancelling Headphones",
                                            "Webcam 1080p",     "Desk Lamp",
                                            "Ergonomic Chair",  "Standing Desk",
                                            "Portable SSD 1TB", "Phone Case",
                                            "Charging Cable",   "Smart Watch",
                                            "Coffee Grinder",   "French Press",
                                            "Water Bottle",     "Backpack",
                                            "Running Shoes",    "Yoga Mat"};
const std::vector<std::string> kCategories = {"electronics", "office",      "kitchen",
                                              "sports",      "accessories", "furniture"};
const std::vector<std::string> kQueries = {"mouse", "keyboard",  "usb c",  "monitor 27",
                                           "chair", "ssd",       "coffee", "running shoes",
                                           "yoga",  "headphones"};
const std::vector<std::string> kAgents = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "shop-ios/5.2.1 CFNetwork/1490.0.4 Darwin/23.2.0",
    "crm-sync/2.4.0 (+https://crm.example.com/bot)"};
const std::vector<std::string> kNotes = {
    "Customer called about a late delivery, asked to be reached at ",
    "Prefers contact by email; alternative address ", "Requested invoice copy, sent to ",
    "Left voicemail, call back on ", "Updated shipping details after support chat; confirm with "};

// JSON string value, for the controlled ASCII/UTF-8 data of this generator (no escaping needed
// except the product names, which are written pre-escaped).
void field(std::string& out, std::string_view key, std::string_view value, bool comma = true) {
  out += '"';
  out += key;
  out += "\":\"";
  out += value;
  out += '"';
  if (comma) out += ',';
}
void raw(std::string& out, std::string_view key, std::string_view value, bool comma = true) {
  out += '"';
  out += key;
  out += "\":";
  out += value;
  if (comma) out += ',';
}

// Everything about one user, a function of (seed, id).
struct User {
  uint64_t id;
  std::string uuid, first, last, email, phone, phone_national, dob, street, city, postal, state,
      country, currency, last4, card, iban, status, tier, ip, created, updated;
  std::vector<std::string> tags;
  bool opt_in;
  uint64_t orders, ltv_cents;
};

User make_user(uint64_t seed, uint64_t id, int64_t now) {
  Rng r{seed * 0x100000001b3ull ^ (id * 0x9e3779b97f4a7c15ull)};
  User u;
  u.id = id;
  u.uuid = r.hex(8) + "-" + r.hex(4) + "-4" + r.hex(3) + "-a" + r.hex(3) + "-" + r.hex(12);
  u.first = r.pick(kFirst);
  u.last = r.pick(kLast);
  std::string local;
  for (char c : u.first + "." + u.last) {
    if ((c >= 'A' && c <= 'Z'))
      local += static_cast<char>(c - 'A' + 'a');
    else if ((c >= 'a' && c <= 'z') || c == '.')
      local += c;
  }
  if (r.below(3) == 0) local += std::to_string(r.below(100));
  u.email = local + "@" + r.pick(kDomains);
  const auto& c = countries()[r.below(countries().size())];
  u.country = c.code;
  u.currency = c.currency;
  u.city = r.pick(c.cities);
  if (c.code == "US") {
    std::string area = std::to_string(201 + r.below(780)), sub = r.digits(4);
    u.phone = "+1" + area + "555" + sub;
    u.phone_national = "(" + area + ") 555-" + sub;
    u.street = std::to_string(1 + r.below(9999)) + " " + r.pick(c.streets);
    u.postal = pad(10000 + r.below(89999), 5);
    static const std::vector<std::string> states = {"IL", "OR", "TX", "OH", "CA", "CO"};
    u.state = r.pick(states);
  } else if (c.code == "GB") {
    std::string a = r.digits(4), b = r.digits(4);
    u.phone = "+4420" + a + b;
    u.phone_national = "020 " + a + " " + b;
    u.street = std::to_string(1 + r.below(200)) + " " + r.pick(c.streets);
    u.postal = std::string(1, static_cast<char>('A' + r.below(26))) + "W" +
               std::to_string(1 + r.below(9)) + " " + std::to_string(r.below(10)) + "AB";
  } else if (c.code == "DE") {
    std::string a = r.digits(3), b = r.digits(4);
    u.phone = "+4930" + a + b;
    u.phone_national = "030 " + a + " " + b;
    u.street = r.pick(c.streets) + " " + std::to_string(1 + r.below(120));
    u.postal = pad(10000 + r.below(89999), 5);
  } else {
    std::string d = r.digits(8);
    u.phone = "+331" + d;
    u.phone_national =
        "01 " + d.substr(0, 2) + " " + d.substr(2, 2) + " " + d.substr(4, 2) + " " + d.substr(6, 2);
    u.street = std::to_string(1 + r.below(150)) + " " + r.pick(c.streets);
    u.postal = "750" + pad(1 + r.below(20), 2);
  }
  u.dob = std::to_string(1945 + r.below(60)) + "-" + pad(1 + r.below(12), 2) + "-" +
          pad(1 + r.below(28), 2);
  static const std::vector<std::string> prefixes = {"4", "51", "55", "37", "6011"};
  const std::string& prefix = r.pick(prefixes);
  std::string card = luhn_card(r, prefix, prefix == "37" ? 15 : 16);
  u.last4 = card.substr(card.size() - 4);
  if (r.below(4) == 0) u.card = card;
  if (c.code != "US" && r.below(2) == 0) {
    u.iban = c.code == "GB"   ? iban(r, "GB", 18)
             : c.code == "DE" ? iban(r, "DE", 18)
                              : iban(r, "FR", 23);
  }
  u.status = r.pick(kStatuses);
  u.tier = r.pick(kTiers);
  u.ip = std::to_string(1 + r.below(223)) + "." + std::to_string(r.below(256)) + "." +
         std::to_string(r.below(256)) + "." + std::to_string(1 + r.below(254));
  int64_t created = now - static_cast<int64_t>(r.below(3 * 365 * 86400ull)) * 1'000'000'000;
  u.created = iso_time(created);
  u.updated = iso_time(created + static_cast<int64_t>(r.below(
                                     static_cast<uint64_t>((now - created) / 1'000'000'000) + 1)) *
                                     1'000'000'000);
  for (size_t i = 0, n = r.below(4); i < n; ++i) u.tags.push_back(r.pick(kTags));
  u.opt_in = r.below(2) == 0;
  u.orders = r.below(60);
  u.ltv_cents = u.orders * (1000 + r.below(20000));
  return u;
}

void address_json(std::string& out, const User& u) {
  out += "{";
  field(out, "line1", u.street);
  field(out, "city", u.city);
  field(out, "postal_code", u.postal);
  if (!u.state.empty()) field(out, "state", u.state);
  field(out, "country", u.country, false);
  out += "}";
}

void user_json(std::string& out, const User& u, bool detail) {
  out += "{";
  raw(out, "id", std::to_string(u.id));
  field(out, "uuid", u.uuid);
  field(out, "name", u.first + " " + u.last);
  field(out, "first_name", u.first);
  field(out, "last_name", u.last);
  field(out, "email", u.email);
  field(out, "phone", u.phone);
  field(out, "phone_national", u.phone_national);
  field(out, "date_of_birth", u.dob);
  out += "\"address\":";
  address_json(out, u);
  out += ",";
  field(out, "card_last4", u.last4);
  if (!u.card.empty()) field(out, "card_number", u.card);
  if (!u.iban.empty()) field(out, "iban", u.iban);
  field(out, "status", u.status);
  field(out, "tier", u.tier);
  raw(out, "marketing_opt_in", u.opt_in ? "true" : "false");
  raw(out, "orders_count", std::to_string(u.orders));
  raw(out, "lifetime_value", money(u.ltv_cents));
  field(out, "currency", u.currency);
  field(out, "last_login_ip", u.ip);
  out += "\"tags\":[";
  for (size_t i = 0; i < u.tags.size(); ++i) {
    if (i) out += ',';
    out += '"' + u.tags[i] + '"';
  }
  out += "],";
  if (detail) {
    out += "\"preferences\":{\"language\":\"en\",\"newsletter\":";
    out += u.opt_in ? "true" : "false";
    out += ",\"sms\":false,\"theme\":\"system\"},";
    out += "\"billing_address\":";
    address_json(out, u);
    out += ",";
  }
  field(out, "created_at", u.created);
  field(out, "updated_at", u.updated, false);
  out += "}";
}

struct Product {
  std::string sku, name, category;
  uint64_t price_cents, stock;
  double rating;
};

Product make_product(Rng& r) {
  Product p;
  p.sku = "SKU-" + pad(1000 + r.below(9000), 4) + "-" +
          std::string(1, static_cast<char>('A' + r.below(26)));
  p.name = r.pick(kProducts);
  p.category = r.pick(kCategories);
  p.price_cents = 199 + r.below(49800);
  p.stock = r.below(500);
  p.rating = 1.0 + static_cast<double>(r.below(41)) / 10.0;
  return p;
}

void product_json(std::string& out, const Product& p, Rng& r) {
  out += "{";
  field(out, "sku", p.sku);
  field(out, "name", p.name);
  field(out, "category", p.category);
  raw(out, "price", money(p.price_cents));
  field(out, "currency", "USD");
  raw(out, "in_stock", p.stock > 0 ? "true" : "false");
  raw(out, "stock", std::to_string(p.stock));
  char rating[8];
  std::snprintf(rating, sizeof rating, "%.1f", p.rating);
  raw(out, "rating", rating);
  raw(out, "reviews", std::to_string(r.below(3000)));
  field(out, "image", "https://cdn.example.com/img/" + p.sku + "/" + r.hex(12) + ".jpg");
  field(out, "description",
        "High quality " + p.name + " for everyday use. Free shipping on orders over $50.", false);
  out += "}";
}

// ---------------------------------------------------------------------------------------------
// API traffic with little or no personal data (--pii-share): catalog, inventory, telemetry,
// configuration.

const std::vector<std::string> kMaterials = {
    "anodized aluminium", "recycled plastic", "stainless steel", "oak veneer",
    "tempered glass",     "organic cotton",   "bamboo fibre",    "food-grade silicone"};
const std::vector<std::string> kColors = {"black", "white", "graphite",   "silver",
                                          "navy",  "sand",  "sage green", "terracotta"};
const std::vector<std::string> kRooms = {"home office", "kitchen",  "living room",
                                         "studio",      "workshop", "weekend bag"};
const std::vector<std::string> kSeries = {"",      "",      "",     " Pro", " Mini",
                                          " Plus", " Lite", " Max", " 2",   " Air"};
// Description sentences; {name}, {material}, {color}, {room}, {category} and {n} are filled in.
const std::vector<std::string> kSentences = {
    "The {name} is designed for everyday use and built to last for years.",
    "Made from {material}, it stays light without ever feeling fragile.",
    "Its {color} finish resists scratches and fingerprints, and cleans with a damp cloth.",
    "A thoughtful fit for any {room}, it takes up little space and sets up in minutes.",
    "Every unit is tested before it leaves our warehouse and ships in recyclable packaging.",
    "Backed by a {n}-year limited warranty and free returns within 30 days of delivery.",
    "Reviewers often mention its quiet operation and solid build quality.",
    "Compatible with most standard accessories; see the specifications tab for dimensions.",
    "Pair it with other pieces from our {category} range for a consistent look.",
    "Orders placed before 2 pm ship the same business day from our regional warehouses.",
    "This edition improves on last year's model with better materials and a refined shape.",
    "Spare parts and replacement pads are available separately for at least {n} years."};
struct Category {
  std::string top;
  std::vector<std::string> subs;
};
const std::vector<Category> kCategoryTree = {
    {"electronics", {"audio", "computer-accessories", "cables-adapters", "storage", "wearables"}},
    {"office", {"desks", "lighting", "stationery", "organizers"}},
    {"kitchen", {"coffee-tea", "cookware", "food-storage", "small-appliances"}},
    {"sports", {"running", "yoga-fitness", "hydration", "outdoor"}},
    {"accessories", {"bags", "phone-cases", "chargers", "travel"}},
    {"furniture", {"chairs", "standing-desks", "shelving"}}};
const std::vector<std::string> kLeaves = {"essentials", "premium", "eco", "new-arrivals"};
const std::vector<std::string> kProductTags = {
    "bestseller", "new",    "eco-friendly", "limited-edition", "gift-idea",
    "sale",       "bundle", "staff-pick",   "free-shipping",   "back-in-stock"};
const std::vector<std::string> kSorts = {"popularity", "price_asc", "price_desc", "newest",
                                         "rating"};
const std::vector<std::string> kWarehouses = {"WH-FRA1", "WH-AMS2", "WH-DUB1", "WH-IAD3",
                                              "WH-PDX1"};
const std::vector<std::string> kStockSources = {"wms-sync", "pos", "returns-desk", "cycle-count",
                                                "erp-import"};
const std::vector<std::string> kStockReasons = {"sale",   "sale",    "sale",     "restock",
                                                "return", "damaged", "transfer", "cycle_count"};
const std::vector<std::string> kEventNames = {
    "page_view",   "product_impression", "add_to_cart_click", "search_performed",
    "api_request", "web_vitals",         "checkout_step",     "image_loaded",
    "cache_miss",  "flag_evaluated",     "video_progress",    "error_boundary"};
const std::vector<std::string> kMetricNames = {"duration_ms", "ttfb_ms", "fcp_ms",     "lcp_ms",
                                               "inp_ms",      "cls",     "bytes",      "items",
                                               "cpu_ms",      "heap_mb", "retry_count"};
const std::vector<std::string> kRoutes = {
    "/",         "/products",     "/products/:id", "/search",     "/cart",
    "/checkout", "/api/products", "/api/cart",     "/api/search", "/categories/:slug"};
const std::vector<std::string> kRegions = {"eu-central-1", "eu-west-1", "us-east-1", "us-west-2"};
const std::vector<std::string> kAppVersions = {"5.2.1", "5.2.0", "5.1.7", "5.3.0-beta.2", "4.9.12"};
struct Platform {
  std::string name, os, os_version, sdk;
};
const std::vector<Platform> kPlatforms = {{"web", "Linux", "x86_64", "shop-analytics-js/3.8.2"},
                                          {"web", "macOS", "14.2", "shop-analytics-js/3.8.2"},
                                          {"ios", "iOS", "17.2.1", "shop-analytics-ios/2.14.0"},
                                          {"android", "Android", "14", "shop-analytics-kt/2.13.4"}};
struct Flag {
  std::string key, description, owner;
};
const std::vector<Flag> kFlags = {
    {"checkout.one_page", "Single-page checkout instead of the three-step flow.", "checkout"},
    {"checkout.express_pay", "Show express payment buttons above the order summary.", "checkout"},
    {"checkout.address_autocomplete", "Suggest addresses while typing the shipping form.",
     "checkout"},
    {"search.semantic_ranking", "Rank search results with the embedding model first.", "search"},
    {"search.typo_tolerance", "Allow up to two typos per query term in product search.", "search"},
    {"search.facet_counts", "Compute exact facet counts for queries under 5000 hits.", "search"},
    {"catalog.infinite_scroll", "Load the next catalog page when the list end is visible.",
     "storefront"},
    {"catalog.image_avif", "Serve AVIF product images to clients that accept them.", "storefront"},
    {"catalog.show_stock_level", "Show the remaining stock when it drops below ten units.",
     "storefront"},
    {"catalog.recently_viewed", "Show a recently viewed strip on product pages.", "storefront"},
    {"cart.save_for_later", "Let shoppers move cart lines to a saved list.", "cart"},
    {"cart.free_shipping_meter", "Show progress towards the free shipping threshold.", "cart"},
    {"reviews.photo_uploads", "Accept photos with product reviews after moderation.", "reviews"},
    {"reviews.helpful_votes", "Sort reviews by helpful votes by default.", "reviews"},
    {"platform.http3", "Advertise HTTP/3 through Alt-Svc on the edge.", "platform"},
    {"platform.edge_cache_v2", "Use the new edge cache keys for catalog pages.", "platform"},
    {"platform.request_hedging", "Hedge slow catalog reads after the p95 latency.", "platform"},
    {"platform.strict_csp", "Send the strict Content-Security-Policy header.", "security"},
    {"pricing.dynamic_bundles", "Price bundles from the live stock of their parts.", "pricing"},
    {"pricing.show_unit_price", "Show the price per unit for multipacks.", "pricing"},
    {"mobile.haptics", "Use haptic feedback on add to cart in the apps.", "mobile"},
    {"mobile.offline_catalog", "Cache the first catalog pages for offline browsing.", "mobile"},
    {"ops.maintenance_banner", "Show the scheduled maintenance banner.", "ops"},
    {"ops.read_only_mode", "Reject writes during database failover.", "ops"}};

std::string fill(std::string t, std::string_view key, std::string_view value) {
  for (size_t at = t.find(key); at != std::string::npos; at = t.find(key, at + value.size()))
    t.replace(at, key.size(), value);
  return t;
}

std::string uuid4(Rng& r) {
  return r.hex(8) + "-" + r.hex(4) + "-4" + r.hex(3) + "-" + "89ab"[r.below(4)] + r.hex(3) + "-" +
         r.hex(12);
}

constexpr uint64_t kCatalogSize = 5000;

// A catalog product's SKU, a function of its id.
std::string catalog_sku(uint64_t pid) {
  return "SKU-" + pad(pid, 5) + "-" + std::string(1, static_cast<char>('A' + pid % 26));
}

// One catalog product: what does not change is a function of (seed, pid); stock, rating counts
// and the update time come from `live`.
void catalog_item_json(std::string& out, uint64_t seed, uint64_t pid, int64_t now, Rng& live) {
  Rng r{seed * 0xd1342543de82ef95ull ^ (pid * 0x9e3779b97f4a7c15ull) ^ 0x5bd1e995ull};
  const std::string name = r.pick(kProducts) + r.pick(kSeries);
  const Category& cat = kCategoryTree[r.below(kCategoryTree.size())];
  const std::string& sub = r.pick(cat.subs);
  const std::string& material = r.pick(kMaterials);
  const std::string& color = r.pick(kColors);
  std::string slug;
  for (char c : name) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
      slug += c;
    else if (c >= 'A' && c <= 'Z')
      slug += static_cast<char>(c - 'A' + 'a');
    else if (!slug.empty() && slug.back() != '-')
      slug += '-';
  }
  if (!slug.empty() && slug.back() == '-') slug.pop_back();
  slug += "-" + std::to_string(pid);
  std::string description;
  uint64_t used = 0;  // sentences already in the description, one bit each
  for (uint64_t i = 0, n = 2 + r.below(4); i < n; ++i) {
    uint64_t k = r.below(kSentences.size());
    while (used >> k & 1) k = (k + 1) % kSentences.size();
    used |= uint64_t{1} << k;
    std::string sentence = kSentences[k];
    sentence = fill(sentence, "{name}", name);
    sentence = fill(sentence, "{material}", material);
    sentence = fill(sentence, "{color}", color);
    sentence = fill(sentence, "{room}", r.pick(kRooms));
    sentence = fill(sentence, "{category}", cat.top);
    sentence = fill(sentence, "{n}", std::to_string(2 + r.below(4)));
    if (i) description += ' ';
    description += sentence;
  }
  const uint64_t price = 199 + r.below(49800);
  const int64_t created = now - static_cast<int64_t>(r.below(4 * 365 * 86400ull)) * 1'000'000'000;

  out += "{";
  raw(out, "id", std::to_string(pid));
  field(out, "sku", catalog_sku(pid));
  field(out, "name", name);
  field(out, "slug", slug);
  field(out, "description", description);
  raw(out, "price", money(price));
  if (r.below(4) == 0) raw(out, "compare_at_price", money(price * (110 + r.below(40)) / 100));
  field(out, "currency", "USD");
  const uint64_t stock = live.below(8) == 0 ? 0 : live.below(600);
  raw(out, "stock", std::to_string(stock));
  raw(out, "in_stock", stock > 0 ? "true" : "false");
  out += "\"category_path\":[\"" + cat.top + "\",\"" + sub + "\"";
  if (r.below(3) == 0) out += ",\"" + r.pick(kLeaves) + "\"";
  out += "],";
  field(out, "image_url",
        "https://cdn.shop.example.com/img/products/" + catalog_sku(pid) + "/" + r.hex(12) +
            "-800x800.jpg");
  char rating[8];
  std::snprintf(rating, sizeof rating, "%.1f", 3.0 + static_cast<double>(r.below(21)) / 10.0);
  raw(out, "rating", rating);
  raw(out, "review_count", std::to_string(r.below(4000) + live.below(5)));
  out += "\"tags\":[";
  for (uint64_t i = 0, n = r.below(4); i < n; ++i) {
    if (i) out += ',';
    out += '"' + r.pick(kProductTags) + '"';
  }
  out += "],\"attributes\":{";
  field(out, "color", color);
  field(out, "material", material);
  raw(out, "weight_g", std::to_string(50 + r.below(12000)));
  out += "\"dimensions_cm\":[" + std::to_string(5 + r.below(120)) + "," +
         std::to_string(5 + r.below(120)) + "," + std::to_string(1 + r.below(60)) + "]},";
  field(out, "created_at", iso_time(created));
  const uint64_t age_s = static_cast<uint64_t>((now - created) / 1'000'000'000);
  field(out, "updated_at",
        iso_time(now - static_cast<int64_t>(live.below(std::min<uint64_t>(age_s, 60 * 86400) + 1)) *
                           1'000'000'000),
        false);
  out += "}";
}

class Generator {
 public:
  // `pii_share_ppm`: the share of personal exchanges in millionths; 1'000'000 (all of them) draws
  // nothing from the mix generator, so the output is that of the generator before the option.
  Generator(uint64_t seed, uint64_t pii_share_ppm)
      : seed_(seed), rng_{seed}, mix_{seed ^ 0x6d69782d73686172ull}, pii_ppm_(pii_share_ppm) {
    new_session();
  }

  void next(Exchange& e) {
    e = Exchange{};
    cache_control_ = "private, no-store";
    if (rng_.below(10) == 0) new_session();
    e.id = ++count_;
    e.session = session_;
    e.seq = seq_++;
    e.protocol = twin::traffic::Protocol::kHttp11;
    t_ += static_cast<int64_t>(rng_.below(3'000'000));
    e.time.request_start = t_;
    e.time.request_end = t_ + 20'000 + static_cast<int64_t>(rng_.below(40'000));
    e.time.response_start =
        e.time.request_end + 500'000 + static_cast<int64_t>(rng_.below(20'000'000));
    e.time.response_end =
        e.time.response_start + 50'000 + static_cast<int64_t>(rng_.below(400'000));
    e.client = *twin::traffic::Endpoint::parse("10.1." + std::to_string(session_ % 200) + "." +
                                               std::to_string(session_ % 250 + 1) + ":" +
                                               std::to_string(30000 + session_ % 30000));
    e.server = *twin::traffic::Endpoint::parse("10.0.0.5:8080");

    auto& rq = e.request;
    rq.authority = "api.shop.example.com";
    rq.headers = {{"Host", rq.authority},
                  {"User-Agent", agent_},
                  {"Accept", "application/json"},
                  {"Accept-Encoding", "gzip, deflate, br"},
                  {"Accept-Language", "en-US,en;q=0.9"},
                  {"Authorization", "Bearer " + jwt_},
                  {"X-Request-Id", rng_.hex(8) + "-" + rng_.hex(4) + "-4" + rng_.hex(3) + "-8" +
                                       rng_.hex(3) + "-" + rng_.hex(12)},
                  {"Cookie", "sid=" + sid_ + "; theme=dark; consent=1; _ga=GA1.2." +
                                 rng_.digits(10) + "." + rng_.digits(10)},
                  {"Traceparent", "00-" + rng_.hex(32) + "-" + rng_.hex(16) + "-01"}};
    auto& rs = e.response.emplace();
    rs.status = 200;
    rs.reason = "OK";
    rs.framing = twin::traffic::Framing::kContentLength;

    if (pii_ppm_ < 1'000'000 && mix_.below(1'000'000) >= pii_ppm_) {
      api_traffic(e);
    } else {
      const uint64_t kind = rng_.below(100);
      if (kind < 22)
        users_list(e);
      else if (kind < 47)
        user_detail(e);
      else if (kind < 67)
        post_order(e);
      else if (kind < 87)
        search(e);
      else
        customer_notes(e);
    }

    rq.body_size = rq.body.size();
    rs.body_size = rs.body.size();
    if (!rq.body.empty()) {
      rq.framing = twin::traffic::Framing::kContentLength;
      rq.headers.push_back({"Content-Type", "application/json"});
      rq.headers.push_back({"Content-Length", std::to_string(rq.body.size())});
    }
    rs.headers = {{"Server", "nginx/1.24.0"},
                  {"Date", http_date(e.time.response_start)},
                  {"Content-Type", "application/json; charset=utf-8"},
                  {"Content-Length", std::to_string(rs.body.size())},
                  {"Connection", "keep-alive"},
                  {"Cache-Control", cache_control_},
                  {"X-Request-Id", rq.headers[6].value},
                  {"ETag", "W/\"" + rng_.hex(16) + "\""},
                  {"Vary", "Accept-Encoding, Authorization"},
                  {"Strict-Transport-Security", "max-age=63072000; includeSubDomains"},
                  {"X-Content-Type-Options", "nosniff"},
                  {"X-RateLimit-Remaining", std::to_string(rng_.below(1000))},
                  {"X-Response-Time", std::to_string(rng_.below(90000)) + "us"}};
    if (rng_.below(20) == 0) {
      rs.headers.push_back(
          {"Set-Cookie", "sid=" + sid_ + "; Path=/; HttpOnly; Secure; SameSite=Lax"});
    }
  }

 private:
  static constexpr uint64_t kUsers = 20000;

  void new_session() {
    ++session_;
    seq_ = 0;
    agent_ = rng_.pick(kAgents);
    // A JWT whose payload names the signed-in user, as real ones do.
    const User who = user(1 + rng_.below(kUsers));
    const int64_t iat = t_ / 1'000'000'000;
    jwt_ = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." +
           base64url("{\"sub\":\"" + std::to_string(who.id) + "\",\"email\":\"" + who.email +
                     "\",\"scope\":\"read write\",\"iat\":" + std::to_string(iat) +
                     ",\"exp\":" + std::to_string(iat + 3600) + "}") +
           "." + rng_.b64url(43);
    sid_ = rng_.b64url(32);
  }

  User user(uint64_t id) { return make_user(seed_, id, t_); }

  void users_list(Exchange& e) {
    const uint64_t offset = 20 * rng_.below(kUsers / 20);
    static const std::vector<std::string> sorts = {"created_at", "-created_at", "name",
                                                   "-updated_at"};
    const std::string& sort = rng_.pick(sorts);
    e.request.method = "GET";
    e.request.target = "/api/users?limit=20&offset=" + std::to_string(offset) + "&sort=" + sort;
    auto& b = e.response->body;
    b.reserve(16384);
    b += "{\"data\":[";
    for (uint64_t i = 0; i < 20; ++i) {
      if (i) b += ',';
      user_json(b, user(1 + (offset + i) % kUsers), false);
    }
    b += "],\"page\":{\"limit\":20,\"offset\":" + std::to_string(offset) +
         ",\"total\":" + std::to_string(kUsers) + "},\"links\":{\"self\":\"" + e.request.target +
         "\",\"next\":\"/api/users?limit=20&offset=" + std::to_string(offset + 20) +
         "&sort=" + sort + "\"}}";
  }

  void user_detail(Exchange& e) {
    const User u = user(1 + rng_.below(kUsers));
    e.request.method = "GET";
    e.request.target = "/api/users/" + std::to_string(u.id) + "?expand=orders";
    auto& b = e.response->body;
    b += "{\"data\":";
    user_json(b, u, true);
    b.pop_back();  // reopen the user object to add its recent orders
    b += ",\"recent_orders\":[";
    for (uint64_t i = 0, n = 1 + rng_.below(5); i < n; ++i) {
      if (i) b += ',';
      Product p = make_product(rng_);
      b += "{";
      raw(b, "id", std::to_string(100000 + rng_.below(900000)));
      field(b, "status", rng_.below(3) ? "delivered" : "shipped");
      raw(b, "total", money(p.price_cents * (1 + rng_.below(3))));
      field(b, "sku", p.sku);
      field(b, "placed_at",
            iso_time(t_ - static_cast<int64_t>(rng_.below(200 * 86400ull)) * 1'000'000'000), false);
      b += "}";
    }
    b += "]}}";
  }

  void post_order(Exchange& e) {
    const User u = user(1 + rng_.below(kUsers));
    e.request.method = "POST";
    e.request.target = "/api/orders";
    std::vector<Product> items;
    for (uint64_t i = 0, n = 1 + rng_.below(6); i < n; ++i) items.push_back(make_product(rng_));
    auto& q = e.request.body;
    q += "{";
    raw(q, "customer_id", std::to_string(u.id));
    field(q, "email", u.email);
    q += "\"items\":[";
    uint64_t subtotal = 0;
    std::vector<uint64_t> qty;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) q += ',';
      qty.push_back(1 + rng_.below(4));
      subtotal += qty.back() * items[i].price_cents;
      q += "{";
      field(q, "sku", items[i].sku);
      raw(q, "quantity", std::to_string(qty.back()));
      raw(q, "unit_price", money(items[i].price_cents), false);
      q += "}";
    }
    q += "],\"shipping_address\":{";
    field(q, "name", u.first + " " + u.last);
    field(q, "line1", u.street);
    field(q, "city", u.city);
    field(q, "postal_code", u.postal);
    field(q, "country", u.country);
    field(q, "phone", u.phone, false);
    q += "},\"payment\":{";
    const uint64_t pay = rng_.below(3);
    if (pay == 0) {
      Rng cr{seed_ ^ (u.id * 31 + 7)};
      field(q, "method", "card");
      field(q, "card_number", u.card.empty() ? luhn_card(cr, "4", 16) : u.card);
      field(q, "exp_month", pad(1 + rng_.below(12), 2));
      field(q, "exp_year", std::to_string(2027 + rng_.below(6)));
      field(q, "cvc", rng_.digits(3));
      field(q, "holder", u.first + " " + u.last, false);
    } else if (pay == 1 && !u.iban.empty()) {
      field(q, "method", "sepa_debit");
      field(q, "iban", u.iban);
      field(q, "holder", u.first + " " + u.last, false);
    } else {
      field(q, "method", "card_token");
      field(q, "token", "tok_" + rng_.b64url(24), false);
    }
    q += "},";
    field(q, "coupon", rng_.below(4) == 0 ? "WELCOME10" : "");
    field(q, "notes", rng_.below(5) == 0 ? "Please leave at the door" : "", false);
    q += "}";

    auto& rs = *e.response;
    rs.status = 201;
    rs.reason = "Created";
    const uint64_t order = 100000 + rng_.below(900000);
    const uint64_t shipping = subtotal > 5000 ? 0 : 499;
    const uint64_t tax = subtotal * 8 / 100;
    auto& b = rs.body;
    b += "{\"data\":{";
    raw(b, "id", std::to_string(order));
    field(b, "number", "ORD-" + pad(order, 8));
    field(b, "status", "pending_payment");
    b += "\"customer\":{";
    raw(b, "id", std::to_string(u.id));
    field(b, "name", u.first + " " + u.last);
    field(b, "email", u.email, false);
    b += "},\"items\":[";
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) b += ',';
      b += "{";
      raw(b, "line", std::to_string(i + 1));
      field(b, "sku", items[i].sku);
      field(b, "name", items[i].name);
      raw(b, "quantity", std::to_string(qty[i]));
      raw(b, "unit_price", money(items[i].price_cents));
      raw(b, "total", money(items[i].price_cents * qty[i]), false);
      b += "}";
    }
    b += "],";
    raw(b, "subtotal", money(subtotal));
    raw(b, "shipping", money(shipping));
    raw(b, "tax", money(tax));
    raw(b, "total", money(subtotal + shipping + tax));
    field(b, "currency", u.currency);
    b += "\"shipping_address\":";
    address_json(b, u);
    b += ",\"payment\":{";
    field(b, "brand", u.last4[0] == '4' ? "visa" : "mastercard");
    field(b, "last4", u.last4, false);
    b += "},";
    field(b, "created_at", iso_time(e.time.response_start));
    field(b, "estimated_delivery",
          iso_time(e.time.response_start +
                   static_cast<int64_t>(2 + rng_.below(6)) * 86400 * 1'000'000'000)
              .substr(0, 10),
          false);
    b += "}}";
  }

  void search(Exchange& e) {
    const std::string& q = rng_.pick(kQueries);
    std::string qenc;
    for (char c : q) qenc += c == ' ' ? std::string("+") : std::string(1, c);
    const uint64_t limit = 10 + rng_.below(16);
    e.request.method = "GET";
    e.request.target = "/api/search?q=" + qenc + "&limit=" + std::to_string(limit) +
                       "&page=" + std::to_string(1 + rng_.below(4));
    auto& b = e.response->body;
    b += "{\"query\":\"" + q + "\",\"results\":[";
    for (uint64_t i = 0; i < limit; ++i) {
      if (i) b += ',';
      product_json(b, make_product(rng_), rng_);
    }
    b += "],\"total\":" + std::to_string(limit + rng_.below(400)) +
         ",\"facets\":{\"category\":{\"electronics\":" + std::to_string(rng_.below(90)) +
         ",\"office\":" + std::to_string(rng_.below(90)) +
         "},\"in_stock\":" + std::to_string(rng_.below(200)) + "}}";
  }

  void customer_notes(Exchange& e) {
    const User u = user(1 + rng_.below(kUsers));
    e.request.method = "GET";
    e.request.target = "/api/crm/customers/" + std::to_string(u.id) + "/notes";
    auto& b = e.response->body;
    b += "{\"customer_id\":" + std::to_string(u.id) + ",\"notes\":[";
    for (uint64_t i = 0, n = 2 + rng_.below(6); i < n; ++i) {
      if (i) b += ',';
      const User agent = user(1 + rng_.below(kUsers));
      b += "{";
      raw(b, "id", std::to_string(1 + rng_.below(10000000)));
      b += "\"author\":{";
      field(b, "name", agent.first + " " + agent.last);
      field(b, "email", agent.email, false);
      b += "},";
      const std::string& note = rng_.pick(kNotes);
      const bool phone =
          note.find("call") != std::string::npos || note.find("reached") != std::string::npos;
      field(b, "text",
            note + (phone ? u.phone_national : u.email) + ". Ticket #" +
                std::to_string(10000 + rng_.below(90000)) + ".");
      field(b, "channel", phone ? "phone" : "email");
      field(b, "created_at",
            iso_time(t_ - static_cast<int64_t>(rng_.below(90 * 86400ull)) * 1'000'000'000), false);
      b += "}";
    }
    b += "]}";
  }

  // An exchange with little or no personal data in its bodies (the headers are as above).
  void api_traffic(Exchange& e) {
    const uint64_t kind = rng_.below(100);
    if (kind < 10)
      catalog_page(e);
    else if (kind < 40)
      inventory_update(e);
    else if (kind < 80)
      event_batch(e);
    else
      config_document(e);
  }

  void catalog_page(Exchange& e) {
    static const std::vector<uint64_t> sizes = {20, 24, 30, 36, 40, 48, 50};
    const uint64_t per_page = rng_.pick(sizes);
    const uint64_t pages = (kCatalogSize + per_page - 1) / per_page;
    const uint64_t page = 1 + rng_.below(pages);
    const std::string& sort = rng_.pick(kSorts);
    const std::string base = "/api/products?per_page=" + std::to_string(per_page) + "&sort=" + sort;
    e.request.method = "GET";
    e.request.target = base + "&page=" + std::to_string(page);
    cache_control_ = "public, max-age=60, stale-while-revalidate=300";
    auto& b = e.response->body;
    b.reserve(40000);
    b += "{\"data\":[";
    for (uint64_t i = 0; i < per_page; ++i) {
      const uint64_t pid = 1 + ((page - 1) * per_page + i) % kCatalogSize;
      if (i) b += ',';
      catalog_item_json(b, seed_, pid, t_, rng_);
    }
    b += "],\"meta\":{";
    raw(b, "page", std::to_string(page));
    raw(b, "per_page", std::to_string(per_page));
    raw(b, "total", std::to_string(kCatalogSize));
    raw(b, "total_pages", std::to_string(pages));
    field(b, "currency", "USD");
    field(b, "locale", "en-US", false);
    b += "},\"links\":{";
    field(b, "self", e.request.target);
    field(b, "first", base + "&page=1");
    field(b, "next", base + "&page=" + std::to_string(page < pages ? page + 1 : pages), false);
    b += "}}";
  }

  void inventory_update(Exchange& e) {
    e.request.method = "POST";
    e.request.target = "/api/inventory/adjustments";
    const std::string batch = uuid4(rng_);
    const std::string& warehouse = rng_.pick(kWarehouses);
    std::vector<uint64_t> pids, on_hand;
    for (uint64_t i = 0, n = 3 + rng_.below(28); i < n; ++i) {
      pids.push_back(1 + rng_.below(kCatalogSize));
      on_hand.push_back(rng_.below(900));
    }
    auto& q = e.request.body;
    q += "{";
    field(q, "batch_id", batch);
    field(q, "warehouse", warehouse);
    field(q, "source", rng_.pick(kStockSources));
    field(q, "submitted_at", iso_time(e.time.request_start));
    q += "\"adjustments\":[";
    for (size_t i = 0; i < pids.size(); ++i) {
      if (i) q += ',';
      const std::string& reason = rng_.pick(kStockReasons);
      const int64_t delta =
          reason == "restock"  ? static_cast<int64_t>(10 + rng_.below(200))
          : reason == "return" ? 1
          : reason == "cycle_count"
              ? static_cast<int64_t>(rng_.below(11)) - 5
              : -static_cast<int64_t>(1 + rng_.below(reason == "transfer" ? 40 : 4));
      q += "{";
      raw(q, "product_id", std::to_string(pids[i]));
      field(q, "sku", catalog_sku(pids[i]));
      raw(q, "delta", std::to_string(delta));
      field(q, "reason", reason);
      raw(q, "on_hand", std::to_string(on_hand[i]));
      raw(q, "reserved", std::to_string(rng_.below(20)));
      field(q, "bin",
            std::string(1, static_cast<char>('A' + rng_.below(8))) + "-" +
                pad(1 + rng_.below(40), 2) + "-" + pad(1 + rng_.below(12), 2));
      field(q, "updated_at",
            iso_time(e.time.request_start - static_cast<int64_t>(rng_.below(900'000)) * 1'000'000),
            false);
      q += "}";
    }
    q += "]}";

    auto& b = e.response->body;
    b += "{";
    field(b, "batch_id", batch);
    field(b, "status", "applied");
    raw(b, "applied", std::to_string(pids.size()));
    raw(b, "rejected", "0");
    b += "\"results\":[";
    for (size_t i = 0; i < pids.size(); ++i) {
      if (i) b += ',';
      const uint64_t reserved = rng_.below(20);
      b += "{";
      field(b, "sku", catalog_sku(pids[i]));
      field(b, "warehouse", warehouse);
      raw(b, "on_hand", std::to_string(on_hand[i]));
      raw(b, "available", std::to_string(on_hand[i] > reserved ? on_hand[i] - reserved : 0));
      raw(b, "version", std::to_string(1000 + rng_.below(90000)), false);
      b += "}";
    }
    b += "],";
    field(b, "processed_at", iso_time(e.time.response_start), false);
    b += "}";
  }

  // The platform of the session's client, from its user agent.
  const Platform& platform() const {
    if (agent_.find("shop-ios") != std::string::npos) return kPlatforms[2];
    if (agent_.find("okhttp") != std::string::npos) return kPlatforms[3];
    if (agent_.find("Macintosh") != std::string::npos) return kPlatforms[1];
    return kPlatforms[0];
  }

  void event_batch(Exchange& e) {
    e.request.method = "POST";
    e.request.target = "/api/events";
    e.request.authority = "events.shop.example.com";
    e.request.headers[0].value = e.request.authority;
    const Platform& p = platform();
    const std::string& version = rng_.pick(kAppVersions);
    const std::string& region = rng_.pick(kRegions);
    auto& q = e.request.body;
    q += "{";
    field(q, "sent_at", iso_time(e.time.request_start));
    q += "\"sdk\":{";
    field(q, "name", p.sdk.substr(0, p.sdk.find('/')));
    field(q, "version", p.sdk.substr(p.sdk.find('/') + 1), false);
    q += "},\"app\":{";
    field(q, "name", "shop-" + p.name);
    field(q, "version", version);
    field(q, "build",
          "2025" + pad(1 + rng_.below(11), 2) + pad(1 + rng_.below(28), 2) + "." +
              std::to_string(1 + rng_.below(9)));
    field(q, "environment", "production", false);
    q += "},\"context\":{";
    field(q, "platform", p.name);
    field(q, "os", p.os);
    field(q, "os_version", p.os_version);
    field(q, "locale", "en-US");
    field(q, "region", region);
    field(q, "network", rng_.below(3) ? "wifi" : "cellular", false);
    q += "},\"events\":[";
    int64_t ts = e.time.request_start - 30'000'000'000;
    const uint64_t events = 3 + rng_.below(18);
    for (uint64_t i = 0; i < events; ++i) {
      if (i) q += ',';
      ts += static_cast<int64_t>(rng_.below(2'000'000'000));
      q += "{";
      field(q, "name", rng_.pick(kEventNames));
      field(q, "timestamp", iso_time(ts));
      field(q, "request_id", uuid4(rng_));
      raw(q, "seq", std::to_string(i + 1));
      q += "\"metrics\":{";
      for (uint64_t m = 0, k = 2 + rng_.below(4); m < k; ++m) {
        if (m) q += ',';
        const std::string& metric = kMetricNames[(i + m * 3) % kMetricNames.size()];
        char v[32];
        if (metric == "bytes")
          std::snprintf(v, sizeof v, "%" PRIu64, rng_.below(2'000'000));
        else if (metric == "items" || metric == "retry_count")
          std::snprintf(v, sizeof v, "%" PRIu64, rng_.below(metric == "items" ? 60 : 3));
        else if (metric == "cls")
          std::snprintf(v, sizeof v, "%.3f", static_cast<double>(rng_.below(400)) / 1000.0);
        else
          std::snprintf(v, sizeof v, "%.1f", static_cast<double>(rng_.below(40000)) / 10.0);
        raw(q, metric, v, false);
      }
      q += "},\"properties\":{";
      field(q, "route", rng_.pick(kRoutes));
      raw(q, "status", rng_.below(40) ? "200" : "304");
      field(q, "cache", rng_.below(3) ? "hit" : "miss");
      field(q, "app_version", version, false);
      q += "},";
      field(q, "user_agent", agent_, false);
      q += "}";
    }
    q += "]}";

    auto& rs = *e.response;
    rs.status = 202;
    rs.reason = "Accepted";
    auto& b = rs.body;
    b += "{";
    raw(b, "accepted", std::to_string(events));
    raw(b, "rejected", "0");
    field(b, "ingested_at", iso_time(e.time.response_start), false);
    b += "}";
  }

  void config_document(Exchange& e) {
    const Platform& p = platform();
    const std::string& version = rng_.pick(kAppVersions);
    e.request.method = "GET";
    e.request.target =
        "/api/config?app=shop-" + p.name + "&platform=" + p.os + "&version=" + version;
    cache_control_ = "public, max-age=300";
    auto& b = e.response->body;
    b.reserve(12000);
    b += "{";
    field(b, "config_version",
          "2025-11-" + pad(1 + rng_.below(22), 2) + "." + std::to_string(1 + rng_.below(6)));
    field(b, "generated_at", iso_time(e.time.response_start));
    raw(b, "ttl_seconds", "300");
    b += "\"flags\":[";
    for (size_t i = 0, n = 10 + rng_.below(kFlags.size() - 9); i < n; ++i) {
      const Flag& f = kFlags[i];
      if (i) b += ',';
      const uint64_t rollout = rng_.below(3) ? 100 : 5 * rng_.below(20);
      b += "{";
      field(b, "key", f.key);
      raw(b, "enabled", rng_.below(4) ? "true" : "false");
      raw(b, "rollout_percent", std::to_string(rollout));
      field(b, "description", f.description);
      field(b, "owner_team", f.owner);
      b += "\"variants\":[";
      if (rng_.below(3) == 0) {
        b += "{\"key\":\"control\",\"weight\":50},{\"key\":\"treatment\",\"weight\":50}";
      } else {
        b += "{\"key\":\"on\",\"weight\":100}";
      }
      b += "],\"rules\":[";
      if (rng_.below(2) == 0) {
        b += "{\"attribute\":\"platform\",\"operator\":\"in\",\"values\":[\"" + p.name +
             "\"]},{\"attribute\":\"app_version\",\"operator\":\"semver_gte\",\"values\":[\"" +
             version + "\"]}";
      }
      b += "],";
      field(b, "updated_at",
            iso_time(e.time.response_start -
                     static_cast<int64_t>(rng_.below(120 * 86400ull)) * 1'000'000'000),
            false);
      b += "}";
    }
    b += "],\"settings\":{";
    field(b, "api_base", "https://api.shop.example.com");
    field(b, "cdn_base", "https://cdn.shop.example.com");
    field(b, "events_url", "https://events.shop.example.com/api/events");
    b += "\"image_sizes\":[160,320,480,800,1200],\"currencies\":[\"USD\",\"EUR\",\"GBP\"],"
         "\"locales\":[\"en-US\",\"en-GB\",\"de-DE\",\"fr-FR\"],";
    b += "\"timeouts_ms\":{\"connect\":3000,\"read\":10000,\"checkout\":30000},";
    b += "\"retry\":{\"max_attempts\":3,\"backoff_ms\":250,\"jitter\":0.2},";
    raw(b, "events_batch_size", std::to_string(10 + 5 * rng_.below(5)));
    raw(b, "events_flush_interval_s", std::to_string(5 + 5 * rng_.below(6)));
    field(b, "min_supported_version", "4.9.0", false);
    b += "}}";
  }

  uint64_t seed_;
  Rng rng_;
  Rng mix_;  // decides which exchanges are personal ones (--pii-share)
  uint64_t pii_ppm_;
  std::string cache_control_;
  uint64_t count_ = 0, session_ = 0, seq_ = 0;
  int64_t t_ = 1'763'900'000'000'000'000;
  std::string agent_, jwt_, sid_;
};

uint64_t counted_bytes(const Exchange& e, uint64_t& body_bytes) {
  uint64_t n = e.request.method.size() + e.request.target.size() + e.request.body.size();
  for (const auto& h : e.request.headers) n += h.name.size() + h.value.size();
  body_bytes += e.request.body.size();
  if (e.response) {
    n += e.response->body.size();
    body_bytes += e.response->body.size();
    for (const auto& h : e.response->headers) n += h.name.size() + h.value.size();
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  constexpr const char* kUsage = "usage: bench_scrub_sample OUT.twin N [SEED] [--pii-share P]\n";
  std::vector<const char*> args;
  uint64_t pii_ppm = 1'000'000;  // all exchanges personal: the default corpus
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const char* share = nullptr;
    if (a == "--pii-share") {
      if (i + 1 == argc) {
        std::fprintf(stderr, "bench_scrub_sample: --pii-share needs a value\n%s", kUsage);
        return 2;
      }
      share = argv[++i];
    } else if (a.substr(0, 12) == "--pii-share=") {
      share = argv[i] + 12;
    } else if (a.size() > 1 && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9')) {
      std::fprintf(stderr, "bench_scrub_sample: unknown option %s\n%s", argv[i], kUsage);
      return 2;
    } else {
      args.push_back(argv[i]);
      continue;
    }
    char* end = nullptr;
    const double p = std::strtod(share, &end);
    if (end == share || *end != '\0' || !(p >= 0.0 && p <= 1.0)) {
      std::fprintf(stderr, "bench_scrub_sample: --pii-share wants a number in [0, 1], not '%s'\n",
                   share);
      return 2;
    }
    pii_ppm = static_cast<uint64_t>(p * 1e6 + 0.5);
  }
  if (args.size() < 2 || args.size() > 3) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  const uint64_t n = std::strtoull(args[1], nullptr, 10);
  const uint64_t seed = args.size() > 2 ? std::strtoull(args[2], nullptr, 10) : 42;
  auto w = twin::traffic::Writer::open(args[0]);
  if (!w) {
    std::fprintf(stderr, "bench_scrub_sample: %s\n", w.error().message.c_str());
    return 2;
  }
  Generator gen(seed, pii_ppm);
  Exchange e;
  uint64_t bytes = 0, body_bytes = 0;
  for (uint64_t i = 0; i < n; ++i) {
    gen.next(e);
    bytes += counted_bytes(e, body_bytes);
    if (auto r = (*w)->append(e); !r) {
      std::fprintf(stderr, "bench_scrub_sample: %s\n", r.error().message.c_str());
      return 2;
    }
  }
  if (auto r = (*w)->close(); !r) {
    std::fprintf(stderr, "bench_scrub_sample: %s\n", r.error().message.c_str());
    return 2;
  }
  std::printf("exchanges=%" PRIu64 " bytes=%" PRIu64 " body_bytes=%" PRIu64 "\n", n, bytes,
              body_bytes);
  return 0;
}
