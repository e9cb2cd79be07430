#include "twin/traffic/convert.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "twin/traffic/har.h"
#include "twin/traffic/jsonl.h"

namespace twin::traffic {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

class TwinSource final : public Source {
 public:
  explicit TwinSource(ReaderPtr reader) : reader_(std::move(reader)) {}
  Result<bool> next(Exchange& out) override { return reader_->next(out); }
  std::vector<std::string> warnings() const override {
    std::vector<std::string> out;
    for (const auto& d : reader_->damage()) out.push_back(d.describe(reader_->path()));
    return out;
  }
  nlohmann::json metadata() override { return reader_->final_metadata(); }

 private:
  ReaderPtr reader_;
};

/// Reads one JSON object per line; blank lines are allowed. Memory: the longest line.
class JsonlSource final : public Source {
 public:
  JsonlSource(std::string path, std::FILE* file, bool owns)
      : path_(std::move(path)), file_(file), owns_(owns) {}
  ~JsonlSource() override {
    std::free(line_);
    if (owns_) std::fclose(file_);
  }
  Result<bool> next(Exchange& out) override {
    while (true) {
      errno = 0;
      const ssize_t n = ::getline(&line_, &capacity_, file_);
      if (n < 0) {
        if (std::ferror(file_)) {
          return fail(path_ + ":" + std::to_string(line_no_ + 1) +
                      ": read failed: " + std::strerror(errno));
        }
        return false;
      }
      ++line_no_;
      std::string_view text(line_, static_cast<size_t>(n));
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
      if (text.find_first_not_of(" \t") == std::string_view::npos) continue;
      nlohmann::json object;
      try {
        object = nlohmann::json::parse(text);
      } catch (const nlohmann::json::parse_error& e) {
        // Only the position: nlohmann's message quotes the input, which may be personal data.
        return fail(path_ + ":" + std::to_string(line_no_) + ": not JSON (at column " +
                    std::to_string(e.byte) + ")");
      } catch (const nlohmann::json::exception&) {
        // A number past a double's range (1e999) is out_of_range, its message the number.
        return fail(path_ + ":" + std::to_string(line_no_) + ": not JSON (a number out of range)");
      }
      if (!object.is_object()) {
        return fail(path_ + ":" + std::to_string(line_no_) + ": expected a JSON object");
      }
      if (auto r = from_jsonl_object(object, out); !r) {
        return fail(path_ + ":" + std::to_string(line_no_) + ": " + r.error().message);
      }
      return true;
    }
  }

 private:
  std::string path_;
  std::FILE* file_;
  bool owns_;
  char* line_ = nullptr;
  size_t capacity_ = 0;
  uint64_t line_no_ = 0;
};

/// HAR is one JSON document, parsed whole (see read_har_file).
class HarSource final : public Source {
 public:
  explicit HarSource(std::vector<Exchange> exchanges) : exchanges_(std::move(exchanges)) {}
  Result<bool> next(Exchange& out) override {
    if (next_ >= exchanges_.size()) return false;
    out = std::move(exchanges_[next_++]);
    return true;
  }

 private:
  std::vector<Exchange> exchanges_;
  size_t next_ = 0;
};

class TwinSink final : public Sink {
 public:
  explicit TwinSink(WriterPtr writer) : writer_(std::move(writer)) {}
  Result<void> write(const Exchange& e) override { return writer_->append(e); }
  Result<void> close() override { return writer_->close(); }

 private:
  WriterPtr writer_;
};

/// Text sinks (JSONL, HAR) buffer their output and write it in large pieces.
class TextSink : public Sink {
 public:
  TextSink(std::string path, std::FILE* file, bool owns)
      : path_(std::move(path)), file_(file), owns_(owns) {}
  ~TextSink() override {
    if (file_ != nullptr && owns_) std::fclose(file_);
  }
  Result<void> close() override {
    if (file_ == nullptr) return {};
    finish();
    auto r = drain();
    const int rc = owns_ ? std::fclose(file_) : std::fflush(file_);
    file_ = nullptr;
    if (r && rc != 0) return fail(path_ + ": write failed: " + std::strerror(errno));
    return r;
  }

 protected:
  virtual void finish() {}
  Result<void> maybe_drain() { return buffer_.size() >= (1u << 20) ? drain() : Result<void>{}; }
  Result<void> drain() {
    if (!buffer_.empty() &&
        std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
      return fail(path_ + ": write failed: " + std::strerror(errno));
    }
    buffer_.clear();
    return {};
  }
  std::string path_;
  std::FILE* file_;
  bool owns_;
  std::string buffer_;
};

class JsonlSink final : public TextSink {
 public:
  using TextSink::TextSink;
  Result<void> write(const Exchange& e) override {
    append_jsonl_line(e, buffer_);
    return maybe_drain();
  }
};

class HarSink final : public TextSink {
 public:
  HarSink(std::string path, std::FILE* file, bool owns) : TextSink(std::move(path), file, owns) {
    buffer_ = har_prefix(std::string(version()));
  }
  Result<void> write(const Exchange& e) override {
    if (count_++ > 0) buffer_ += ',';
    buffer_ += to_har_entry(e).dump();
    return maybe_drain();
  }

 protected:
  void finish() override { buffer_ += har_suffix(); }

 private:
  uint64_t count_ = 0;
};

Result<Format> resolve(const std::string& path, std::optional<Format> format) {
  if (format) return *format;
  if (auto f = format_from_path(path)) return *f;
  return fail(path +
              ": cannot tell the format from the name (use .twin, .jsonl or .har, or "
              "--format)");
}

}  // namespace

std::string_view to_string(Format f) {
  switch (f) {
    case Format::kTwin:
      return "twin";
    case Format::kJsonl:
      return "jsonl";
    case Format::kHar:
      return "har";
  }
  return "twin";
}

std::optional<Format> parse_format(std::string_view name) {
  if (name == "twin") return Format::kTwin;
  if (name == "jsonl" || name == "ndjson") return Format::kJsonl;
  if (name == "har") return Format::kHar;
  return std::nullopt;
}

std::optional<Format> format_from_path(std::string_view path) {
  if (ends_with(path, ".twin")) return Format::kTwin;
  if (ends_with(path, ".jsonl") || ends_with(path, ".ndjson")) return Format::kJsonl;
  if (ends_with(path, ".har")) return Format::kHar;
  return std::nullopt;
}

Result<SourcePtr> open_source(const std::string& path, std::optional<Format> format) {
  auto f = resolve(path, format);
  if (!f) return tl::unexpected(f.error());
  switch (*f) {
    case Format::kTwin: {
      auto reader = Reader::open(path);
      if (!reader) return tl::unexpected(reader.error());
      return std::make_unique<TwinSource>(std::move(*reader));
    }
    case Format::kJsonl: {
      if (path == "-") return std::make_unique<JsonlSource>(path, stdin, false);
      std::FILE* file = std::fopen(path.c_str(), "rb");
      if (file == nullptr) return fail(path + ": cannot open: " + std::strerror(errno));
      return std::make_unique<JsonlSource>(path, file, true);
    }
    case Format::kHar: {
      auto exchanges = read_har_file(path);
      if (!exchanges) return tl::unexpected(exchanges.error());
      return std::make_unique<HarSource>(std::move(*exchanges));
    }
  }
  return fail(path + ": unknown format");
}

Result<SinkPtr> open_sink(const std::string& path, std::optional<Format> format,
                          nlohmann::json metadata) {
  auto f = resolve(path, format);
  if (!f) return tl::unexpected(f.error());
  if (*f == Format::kTwin) {
    WriterOptions options;
    options.metadata = std::move(metadata);
    auto writer = Writer::open(path, std::move(options));
    if (!writer) return tl::unexpected(writer.error());
    return std::make_unique<TwinSink>(std::move(*writer));
  }
  std::FILE* file = stdout;
  const bool owns = path != "-";
  if (owns) {
    file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return fail(path + ": cannot create: " + std::strerror(errno));
  }
  if (*f == Format::kJsonl) return std::make_unique<JsonlSink>(path, file, owns);
  return std::make_unique<HarSink>(path, file, owns);
}

}  // namespace twin::traffic
