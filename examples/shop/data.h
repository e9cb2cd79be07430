#pragma once
// The shop's in-memory data: users full of personal data (names, e-mails, phone numbers,
// addresses, dates of birth, Luhn-valid card numbers, IBANs with valid check digits), a product
// catalogue and the static files, all generated deterministically from a seed.

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace twin::shop {

/// JSON with keys in insertion order, as a hand-written service would answer.
using Json = nlohmann::ordered_json;

/// Words that product names are made of; shop_traffic searches for them so searches find things.
inline constexpr std::array<std::string_view, 16> kProductAdjectives = {
    "red",   "blue",   "green", "classic", "vintage", "compact", "deluxe", "wireless",
    "smart", "wooden", "steel", "organic", "mini",    "ultra",   "travel", "eco"};
inline constexpr std::array<std::string_view, 20> kProductNouns = {
    "lamp",   "chair",  "kettle", "backpack", "headphones", "mug",  "notebook",
    "jacket", "shoes",  "watch",  "speaker",  "blender",    "tent", "bottle",
    "wallet", "pillow", "camera", "keyboard", "umbrella",   "scarf"};

struct Address {
  std::string street;
  std::string postal_code;
  std::string city;
  std::string country;  // ISO 3166-1 alpha-2
};

struct Card {
  std::string brand;   // visa, mastercard, amex
  std::string number;  // digits only, Luhn-valid
  std::string expiry;  // MM/YY
};

struct User {
  int id = 0;  // 1-based
  std::string first_name;
  std::string last_name;
  std::string email;           // unique, ASCII
  std::string phone;           // E.164, e.g. +4915112345678
  std::string phone_national;  // national format, e.g. 0151 12345678
  std::string date_of_birth;   // YYYY-MM-DD
  Address address;
  std::vector<Card> cards;  // one or two
  std::string iban;         // electronic format (no spaces), valid check digits
  std::string created_at;   // RFC 3339
  std::string password;     // password_for(id) unless --users says otherwise
};

struct Product {
  std::string sku;  // SKU-123456, unique
  std::string name;
  std::string category;
  int64_t price_cents = 0;
  bool in_stock = true;
};

/// Everything the shop serves, read-only once generated (safe to share between threads).
struct Catalog {
  std::vector<User> users;        // users[i].id == i + 1
  std::vector<Product> products;  // sorted by sku
  std::string app_js;
  std::string style_css;
  std::string logo_png;  // a valid 64x64 RGB PNG

  const User* find_user(int64_t id) const;
  const Product* find_product(std::string_view sku) const;
  const User* find_user_by_email(std::string_view email) const;

  /// Replaces users' fields with those of `users`, a JSON array of objects in the form that
  /// to_json(User) writes plus "password" (what `shop --dump-users` prints): each object's "id"
  /// picks the user; string fields present replace the generated ones. This is how a shop is
  /// started on scrubbed data. Throws std::invalid_argument naming the first bad element.
  void apply_users(const nlohmann::json& users);
};

/// The number of users generate() makes.
inline constexpr int kUserCount = 200;

/// Same seed, same catalog (byte for byte), on any platform.
Catalog generate_catalog(uint64_t seed);

/// Luhn check of a string of digits (false for anything else).
bool luhn_valid(std::string_view digits);
/// ISO 13616 check of an IBAN in electronic format.
bool iban_valid(std::string_view iban);

/// The login password of a user: "secret-<id>" (documented in README.md).
std::string password_for(int id);

Json to_json(const User& user);
/// The short form used by GET /api/users: id, name, email.
Json to_summary_json(const User& user);
Json to_json(const Product& product);
/// Price in currency units from cents, rounded to 2 decimals (e.g. 1999 -> 19.99).
double to_amount(int64_t cents);

}  // namespace twin::shop
