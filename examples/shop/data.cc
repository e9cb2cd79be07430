#include "data.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <stdexcept>
#include <string>

#include "rng.h"

namespace twin::shop {
namespace {

struct Name {
  std::string_view display;
  std::string_view ascii;  // for e-mail addresses
};

struct Country {
  std::string_view code;
  std::vector<Name> first_names;
  std::vector<Name> last_names;
  std::vector<std::string_view> cities;
  std::vector<std::string_view> streets;
  bool number_first;  // "12 rue de la Paix" rather than "Hauptstraße 12"
};

const std::vector<Country>& countries() {
  static const std::vector<Country> kCountries = {
      {"DE",
       {{"Jürgen", "juergen"},
        {"Anna", "anna"},
        {"Lukas", "lukas"},
        {"Sophie", "sophie"},
        {"Maximilian", "maximilian"},
        {"Lena", "lena"},
        {"Jörg", "joerg"},
        {"Marie", "marie"},
        {"Felix", "felix"},
        {"Hannah", "hannah"}},
       {{"Müller", "mueller"},
        {"Schmidt", "schmidt"},
        {"Schneider", "schneider"},
        {"Fischer", "fischer"},
        {"Weber", "weber"},
        {"Meyer", "meyer"},
        {"Wagner", "wagner"},
        {"Becker", "becker"},
        {"Schäfer", "schaefer"},
        {"Koch", "koch"}},
       {"Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main", "Leipzig"},
       {"Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Lindenallee"},
       false},
      {"FR",
       {{"Chloé", "chloe"},
        {"Louis", "louis"},
        {"Camille", "camille"},
        {"Hugo", "hugo"},
        {"Léa", "lea"},
        {"Gabriel", "gabriel"},
        {"Manon", "manon"},
        {"Jules", "jules"},
        {"Inès", "ines"},
        {"Arthur", "arthur"}},
       {{"Martin", "martin"},
        {"Bernard", "bernard"},
        {"Dubois", "dubois"},
        {"Thomas", "thomas"},
        {"Robert", "robert"},
        {"Lefèvre", "lefevre"},
        {"Moreau", "moreau"},
        {"Laurent", "laurent"},
        {"Girard", "girard"},
        {"Rousseau", "rousseau"}},
       {"Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux"},
       {"rue de la Paix", "avenue Victor Hugo", "boulevard Voltaire", "rue des Lilas",
        "place de la République"},
       true},
      {"GB",
       {{"Oliver", "oliver"},
        {"Amelia", "amelia"},
        {"George", "george"},
        {"Isla", "isla"},
        {"Harry", "harry"},
        {"Ava", "ava"},
        {"Jack", "jack"},
        {"Emily", "emily"},
        {"Noah", "noah"},
        {"Siobhan", "siobhan"}},
       {{"Smith", "smith"},
        {"Jones", "jones"},
        {"Taylor", "taylor"},
        {"Brown", "brown"},
        {"Williams", "williams"},
        {"Wilson", "wilson"},
        {"O'Connor", "oconnor"},
        {"Davies", "davies"},
        {"Evans", "evans"},
        {"Walker", "walker"}},
       {"London", "Manchester", "Birmingham", "Leeds", "Edinburgh", "Bristol"},
       {"High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane"},
       true},
      {"NL",
       {{"Daan", "daan"},
        {"Emma", "emma"},
        {"Sem", "sem"},
        {"Julia", "julia"},
        {"Lucas", "lucas"},
        {"Mila", "mila"},
        {"Levi", "levi"},
        {"Tess", "tess"},
        {"Finn", "finn"},
        {"Zoë", "zoe"}},
       {{"de Jong", "dejong"},
        {"Jansen", "jansen"},
        {"de Vries", "devries"},
        {"van den Berg", "vandenberg"},
        {"Bakker", "bakker"},
        {"Visser", "visser"},
        {"Smit", "smit"},
        {"Meijer", "meijer"},
        {"de Boer", "deboer"},
        {"Mulder", "mulder"}},
       {"Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen"},
       {"Kerkstraat", "Dorpsstraat", "Molenweg", "Schoolstraat", "Prinsengracht"},
       false},
      {"ES",
       {{"José", "jose"},
        {"Lucía", "lucia"},
        {"Hugo", "hugo"},
        {"Martina", "martina"},
        {"Álvaro", "alvaro"},
        {"Sofía", "sofia"},
        {"Pablo", "pablo"},
        {"María", "maria"},
        {"Mateo", "mateo"},
        {"Paula", "paula"}},
       {{"García", "garcia"},
        {"Rodríguez", "rodriguez"},
        {"González", "gonzalez"},
        {"Fernández", "fernandez"},
        {"López", "lopez"},
        {"Martínez", "martinez"},
        {"Sánchez", "sanchez"},
        {"Pérez", "perez"},
        {"Gómez", "gomez"},
        {"Núñez", "nunez"}},
       {"Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Málaga"},
       {"Calle Mayor", "Calle de Alcalá", "Avenida de la Constitución", "Calle Real",
        "Paseo del Prado"},
       false},
  };
  return kCountries;
}

constexpr std::array<std::string_view, 5> kMailDomains = {
    "example.com", "example.org", "example.net", "mail.example", "post.example"};

std::string digits(Rng& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>('0' + rng.below(10)));
  return s;
}

std::string letters(Rng& rng, int n, std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(alphabet[rng.below(alphabet.size())]);
  return s;
}

std::string zero_pad(int64_t v, int width) {
  std::string s = std::to_string(v);
  if (static_cast<int>(s.size()) < width) s.insert(0, static_cast<size_t>(width) - s.size(), '0');
  return s;
}

char luhn_check_digit(std::string_view payload) {
  int sum = 0;
  // Doubling starts from the rightmost payload digit (the check digit will follow it).
  bool doubled = true;
  for (auto it = payload.rbegin(); it != payload.rend(); ++it) {
    int d = *it - '0';
    if (doubled) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    doubled = !doubled;
  }
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

// Remainder mod 97 of the IBAN's numeric form (letters become 10..35).
int iban_mod97(std::string_view rearranged) {
  int mod = 0;
  for (char c : rearranged) {
    if (c >= '0' && c <= '9') {
      mod = (mod * 10 + (c - '0')) % 97;
    } else if (c >= 'A' && c <= 'Z') {
      int v = c - 'A' + 10;
      mod = (mod * 100 + v) % 97;
    } else {
      return -1;
    }
  }
  return mod;
}

std::string make_iban(std::string_view country, const std::string& bban) {
  std::string rearranged = bban + std::string(country) + "00";
  int check = 98 - iban_mod97(rearranged);
  return std::string(country) + zero_pad(check, 2) + bban;
}

std::string bban_for(std::string_view country, Rng& rng) {
  if (country == "DE") return digits(rng, 8) + digits(rng, 10);
  if (country == "FR") {
    // Bank, branch, account and the French RIB key.
    std::string bank = digits(rng, 5), branch = digits(rng, 5), account = digits(rng, 11);
    int64_t b = std::stoll(bank), g = std::stoll(branch), a = std::stoll(account);
    int64_t key = 97 - ((89 * b + 15 * g + 3 * (a % 97)) % 97);
    return bank + branch + account + zero_pad(key, 2);
  }
  if (country == "GB") {
    static constexpr std::array<std::string_view, 5> kBanks = {"NWBK", "BARC", "LOYD", "HBUK",
                                                               "MIDL"};
    return std::string(rng.pick(kBanks)) + digits(rng, 6) + digits(rng, 8);
  }
  if (country == "NL") {
    static constexpr std::array<std::string_view, 5> kBanks = {"ABNA", "INGB", "RABO", "TRIO",
                                                               "KNAB"};
    return std::string(rng.pick(kBanks)) + digits(rng, 10);
  }
  return digits(rng, 20);  // ES
}

void make_phone(std::string_view country, Rng& rng, User& u) {
  if (country == "DE") {
    static constexpr std::array<std::string_view, 5> kPrefixes = {"151", "160", "170", "176",
                                                                  "157"};
    std::string prefix(rng.pick(kPrefixes)), rest = digits(rng, 8);
    u.phone = "+49" + prefix + rest;
    u.phone_national = "0" + prefix + " " + rest;
  } else if (country == "FR") {
    std::string n = std::string(1, rng.chance(0.7) ? '6' : '7') + digits(rng, 8);
    u.phone = "+33" + n;
    u.phone_national = "0" + n.substr(0, 1) + " " + n.substr(1, 2) + " " + n.substr(3, 2) + " " +
                       n.substr(5, 2) + " " + n.substr(7, 2);
  } else if (country == "GB") {
    std::string n = "7" + digits(rng, 9);
    u.phone = "+44" + n;
    u.phone_national = "0" + n.substr(0, 4) + " " + n.substr(4);
  } else if (country == "NL") {
    std::string n = "6" + digits(rng, 8);
    u.phone = "+31" + n;
    u.phone_national = "0" + n.substr(0, 1) + " " + n.substr(1);
  } else {
    std::string n = std::string(1, rng.chance(0.8) ? '6' : '7') + digits(rng, 8);
    u.phone = "+34" + n;
    u.phone_national =
        n.substr(0, 3) + " " + n.substr(3, 2) + " " + n.substr(5, 2) + " " + n.substr(7, 2);
  }
}

std::string postal_code(std::string_view country, Rng& rng) {
  if (country == "DE") return zero_pad(rng.range(1067, 99998), 5);
  if (country == "FR") return zero_pad(rng.range(1000, 95999), 5);
  if (country == "GB") {
    static constexpr std::array<std::string_view, 6> kOutward = {"SW1A", "EC1A", "M1",
                                                                 "B1",   "LS1",  "EH1"};
    return std::string(rng.pick(kOutward)) + " " + digits(rng, 1) +
           letters(rng, 2, "ABDEFGHJLNPQRSTUWXYZ");
  }
  if (country == "NL") {
    return zero_pad(rng.range(1000, 9999), 4) + " " + letters(rng, 2, "ABCEGHJKLMNPRTVWXZ");
  }
  return zero_pad(rng.range(1, 52), 2) + digits(rng, 3);  // ES
}

Card make_card(Rng& rng) {
  Card c;
  std::string payload;
  switch (rng.below(3)) {
    case 0:
      c.brand = "visa";
      payload = "4" + digits(rng, 14);
      break;
    case 1:
      c.brand = "mastercard";
      payload = "5" + std::to_string(rng.range(1, 5)) + digits(rng, 13);
      break;
    default:
      c.brand = "amex";
      payload = (rng.chance(0.5) ? "34" : "37") + digits(rng, 12);
      break;
  }
  c.number = payload + luhn_check_digit(payload);
  c.expiry = zero_pad(rng.range(1, 12), 2) + "/" + zero_pad(rng.range(26, 31), 2);
  return c;
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int64_t y, int64_t m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

// Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
void civil_from_days(int64_t z, int64_t& y, int64_t& m, int64_t& d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

std::string rfc3339(int64_t seconds) {
  int64_t y, m, d;
  int64_t days = seconds / 86400, rem = seconds % 86400;
  civil_from_days(days, y, m, d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ",
                static_cast<long long>(y), static_cast<long long>(m), static_cast<long long>(d),
                static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                static_cast<long long>(rem % 60));
  return buf;
}

std::string capitalize(std::string_view s) {
  std::string out(s);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 32);
  return out;
}

std::string_view category_of(std::string_view noun) {
  static const std::vector<std::pair<std::string_view, std::string_view>> kCategories = {
      {"lamp", "home"},          {"chair", "home"},           {"pillow", "home"},
      {"kettle", "kitchen"},     {"mug", "kitchen"},          {"blender", "kitchen"},
      {"bottle", "kitchen"},     {"backpack", "outdoor"},     {"tent", "outdoor"},
      {"umbrella", "outdoor"},   {"headphones", "audio"},     {"speaker", "audio"},
      {"camera", "electronics"}, {"keyboard", "electronics"}, {"watch", "electronics"},
      {"notebook", "office"},    {"jacket", "fashion"},       {"shoes", "fashion"},
      {"wallet", "fashion"},     {"scarf", "fashion"}};
  for (const auto& [n, c] : kCategories) {
    if (n == noun) return c;
  }
  return "misc";
}

// --- PNG ---

uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0) {
  static const auto kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = kTable[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

void put_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void put_chunk(std::string& out, std::string_view type, const std::string& data) {
  put_be32(out, static_cast<uint32_t>(data.size()));
  std::string body = std::string(type) + data;
  out += body;
  put_be32(out, crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

std::string make_png(Rng& rng) {
  constexpr uint32_t kSize = 64;
  // Raw scanlines: a filter byte (0) then RGB pixels: a gradient with a disc in the middle.
  int r0 = static_cast<int>(rng.range(0, 255)), g0 = static_cast<int>(rng.range(0, 255));
  std::string raw;
  for (uint32_t y = 0; y < kSize; ++y) {
    raw.push_back(0);
    for (uint32_t x = 0; x < kSize; ++x) {
      int dx = static_cast<int>(x) - 32, dy = static_cast<int>(y) - 32;
      bool disc = dx * dx + dy * dy < 22 * 22;
      raw.push_back(static_cast<char>(disc ? 255 - r0 : (r0 + static_cast<int>(x) * 3) & 0xff));
      raw.push_back(static_cast<char>(disc ? 255 - g0 : (g0 + static_cast<int>(y) * 3) & 0xff));
      raw.push_back(static_cast<char>(disc ? 240 : 96));
    }
  }
  // zlib stream with one stored (uncompressed) deflate block: no zlib dependency needed.
  std::string z = {0x78, 0x01, 0x01};
  auto len = static_cast<uint16_t>(raw.size());
  z.push_back(static_cast<char>(len & 0xff));
  z.push_back(static_cast<char>(len >> 8));
  z.push_back(static_cast<char>(~len & 0xff));
  z.push_back(static_cast<char>((~len >> 8) & 0xff));
  z += raw;
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(z, (b << 16) | a);

  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_be32(ihdr, kSize);
  put_be32(ihdr, kSize);
  ihdr += std::string{8, 2, 0, 0, 0};  // 8-bit RGB, deflate, no filter, no interlace
  put_chunk(png, "IHDR", ihdr);
  put_chunk(png, "IDAT", z);
  put_chunk(png, "IEND", "");
  return png;
}

std::string make_app_js(Rng& rng, const std::vector<Product>& products) {
  std::string js =
      "// shop front-end (generated)\n"
      "'use strict';\n"
      "const API = '/api';\n"
      "let token = null;\n\n"
      "async function login(email, password) {\n"
      "  const r = await fetch(`${API}/login`, {method: 'POST', headers: {'Content-Type': "
      "'application/json'}, body: JSON.stringify({email, password})});\n"
      "  if (!r.ok) throw new Error(`login failed: ${r.status}`);\n"
      "  token = (await r.json()).token;\n"
      "}\n\n"
      "async function search(q, page = 1) {\n"
      "  const r = await fetch(`${API}/search?q=${encodeURIComponent(q)}&limit=12&page=${page}`);\n"
      "  return (await r.json()).results;\n"
      "}\n\n"
      "async function order(userId, items, card) {\n"
      "  const r = await fetch(`${API}/orders`, {method: 'POST', headers: {'Authorization': "
      "`Bearer ${token}`, 'Content-Type': 'application/json'}, body: JSON.stringify({user_id: "
      "userId, items, card})});\n"
      "  return r.json();\n"
      "}\n\n"
      "const FEATURED = [\n";
  for (size_t i = 0; i < products.size(); i += 3) {
    js += "  {sku: '" + products[i].sku + "', name: '" + products[i].name +
          "', price: " + std::to_string(products[i].price_cents) + "},\n";
  }
  js += "];\n\nconst BUILD = '" + letters(rng, 12, "0123456789abcdef") + "';\n";
  js += "export {login, search, order, FEATURED, BUILD};\n";
  return js;
}

std::string make_css(Rng& rng) {
  std::string color = letters(rng, 6, "0123456789abcdef");
  std::string css = ":root { --brand: #" + color + "; --text: #222; --bg: #fafafa; }\n";
  css +=
      "body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--text); background: "
      "var(--bg); }\n"
      "header { display: flex; align-items: center; padding: 12px 24px; background: "
      "var(--brand); color: #fff; }\n"
      "header img.logo { width: 32px; height: 32px; margin-right: 12px; }\n"
      ".products { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); "
      "gap: 16px; padding: 24px; }\n"
      ".product { background: #fff; border-radius: 8px; padding: 16px; box-shadow: 0 1px 3px "
      "rgba(0,0,0,.1); }\n"
      ".product .price { font-weight: 600; color: var(--brand); }\n"
      "button { background: var(--brand); color: #fff; border: 0; border-radius: 4px; padding: "
      "8px 16px; cursor: pointer; }\n"
      "@media (max-width: 600px) { .products { grid-template-columns: 1fr; } }\n";
  return css;
}

}  // namespace

bool luhn_valid(std::string_view number) {
  if (number.size() < 2) return false;
  for (char c : number) {
    if (c < '0' || c > '9') return false;
  }
  return luhn_check_digit(number.substr(0, number.size() - 1)) == number.back();
}

bool iban_valid(std::string_view iban) {
  if (iban.size() < 5) return false;
  std::string rearranged = std::string(iban.substr(4)) + std::string(iban.substr(0, 4));
  return iban_mod97(rearranged) == 1;
}

std::string password_for(int id) { return "secret-" + std::to_string(id); }

double to_amount(int64_t cents) { return static_cast<double>(cents) / 100.0; }

Catalog generate_catalog(uint64_t seed) {
  Catalog cat;
  Rng rng(mix64(seed ^ 0x5eedu));
  std::set<std::string> emails;
  for (int id = 1; id <= kUserCount; ++id) {
    const Country& c = rng.pick(countries());
    User u;
    u.id = id;
    const Name& first = rng.pick(c.first_names);
    const Name& last = rng.pick(c.last_names);
    u.first_name = first.display;
    u.last_name = last.display;
    std::string local =
        std::string(first.ascii) + (rng.chance(0.5) ? "." : "_") + std::string(last.ascii);
    if (rng.chance(0.4)) local += std::to_string(rng.range(1, 99));
    std::string email = local + "@" + std::string(rng.pick(kMailDomains));
    if (!emails.insert(email).second) {
      email = local + std::to_string(id) + "@" + std::string(rng.pick(kMailDomains));
      emails.insert(email);
    }
    u.email = email;
    make_phone(c.code, rng, u);
    int64_t year = rng.range(1950, 2005), month = rng.range(1, 12);
    int64_t day = rng.range(1, days_in_month(year, month));
    u.date_of_birth = zero_pad(year, 4) + "-" + zero_pad(month, 2) + "-" + zero_pad(day, 2);
    std::string number = std::to_string(rng.range(1, 180));
    std::string street(rng.pick(c.streets));
    u.address.street = c.number_first ? number + " " + street : street + " " + number;
    u.address.postal_code = postal_code(c.code, rng);
    u.address.city = rng.pick(c.cities);
    u.address.country = c.code;
    int cards = rng.chance(0.3) ? 2 : 1;
    for (int i = 0; i < cards; ++i) u.cards.push_back(make_card(rng));
    u.iban = make_iban(c.code, bban_for(c.code, rng));
    // 2019-01-01T00:00:00Z plus up to five years.
    u.created_at = rfc3339(1546300800 + rng.range(0, 5 * 365 * 86400));
    u.password = password_for(u.id);
    cat.users.push_back(std::move(u));
  }

  constexpr int kProducts = 300;
  for (int i = 0; i < kProducts; ++i) {
    Product p;
    p.sku = "SKU-" + zero_pad(100000 + i * 1000 + rng.range(0, 999), 6);
    std::string_view adj = rng.pick(kProductAdjectives);
    std::string_view noun = rng.pick(kProductNouns);
    static constexpr std::array<std::string_view, 6> kSuffixes = {"",      "",      " Pro",
                                                                  " Plus", " Lite", " 2"};
    p.name = capitalize(adj) + " " + capitalize(noun) + std::string(rng.pick(kSuffixes));
    p.category = category_of(noun);
    p.price_cents = rng.range(2, 300) * 100 - 1;
    p.in_stock = rng.chance(0.85);
    cat.products.push_back(std::move(p));
  }

  cat.app_js = make_app_js(rng, cat.products);
  cat.style_css = make_css(rng);
  cat.logo_png = make_png(rng);
  return cat;
}

const User* Catalog::find_user(int64_t id) const {
  if (id < 1 || id > static_cast<int64_t>(users.size())) return nullptr;
  return &users[static_cast<size_t>(id - 1)];
}

const Product* Catalog::find_product(std::string_view sku) const {
  auto it = std::lower_bound(products.begin(), products.end(), sku,
                             [](const Product& p, std::string_view s) { return p.sku < s; });
  return it != products.end() && it->sku == sku ? &*it : nullptr;
}

const User* Catalog::find_user_by_email(std::string_view email) const {
  for (const User& u : users) {
    if (u.email == email) return &u;
  }
  return nullptr;
}

void Catalog::apply_users(const nlohmann::json& list) {
  if (!list.is_array()) throw std::invalid_argument("--users: expected a JSON array of users");
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& o = list[i];
    const std::string where = "--users: element " + std::to_string(i);
    if (!o.is_object() || !o.contains("id") || !o["id"].is_number_integer()) {
      throw std::invalid_argument(where + ": expected an object with an integer \"id\"");
    }
    const int64_t id = o["id"].get<int64_t>();
    if (id < 1 || id > static_cast<int64_t>(users.size())) {
      throw std::invalid_argument(where + ": no user " + std::to_string(id));
    }
    User& u = users[static_cast<size_t>(id - 1)];
    auto take = [&](const nlohmann::json& from, const char* key, std::string& field) {
      if (!from.contains(key)) return;
      if (!from[key].is_string())
        throw std::invalid_argument(where + ": \"" + key + "\" is not a string");
      field = from[key].get<std::string>();
    };
    take(o, "first_name", u.first_name);
    take(o, "last_name", u.last_name);
    take(o, "email", u.email);
    take(o, "phone", u.phone);
    take(o, "phone_national", u.phone_national);
    take(o, "date_of_birth", u.date_of_birth);
    take(o, "iban", u.iban);
    take(o, "created_at", u.created_at);
    take(o, "password", u.password);
    if (o.contains("address") && o["address"].is_object()) {
      const auto& a = o["address"];
      take(a, "street", u.address.street);
      take(a, "postal_code", u.address.postal_code);
      take(a, "city", u.address.city);
      take(a, "country", u.address.country);
    }
    if (o.contains("cards") && o["cards"].is_array()) {
      const auto& cards = o["cards"];
      for (size_t c = 0; c < cards.size() && c < u.cards.size(); ++c) {
        if (!cards[c].is_object()) continue;
        take(cards[c], "number", u.cards[c].number);
        take(cards[c], "expiry", u.cards[c].expiry);
      }
    }
  }
}

Json to_json(const User& u) {
  Json cards = Json::array();
  for (const Card& c : u.cards) {
    cards.push_back({{"brand", c.brand}, {"number", c.number}, {"expiry", c.expiry}});
  }
  return {{"id", u.id},
          {"name", u.first_name + " " + u.last_name},
          {"first_name", u.first_name},
          {"last_name", u.last_name},
          {"email", u.email},
          {"phone", u.phone},
          {"phone_national", u.phone_national},
          {"date_of_birth", u.date_of_birth},
          {"address",
           {{"street", u.address.street},
            {"postal_code", u.address.postal_code},
            {"city", u.address.city},
            {"country", u.address.country}}},
          {"cards", std::move(cards)},
          {"iban", u.iban},
          {"created_at", u.created_at}};
}

Json to_summary_json(const User& u) {
  return {{"id", u.id}, {"name", u.first_name + " " + u.last_name}, {"email", u.email}};
}

Json to_json(const Product& p) {
  return {{"sku", p.sku},           {"name", p.name},
          {"category", p.category}, {"price", to_amount(p.price_cents)},
          {"currency", "EUR"},      {"in_stock", p.in_stock}};
}

}  // namespace twin::shop
