// SPDX-License-Identifier: GPL-3.0-or-later
// A DOM parse of the 49,408-entry vocab.json costs more than the rest of tokenizer loading
// together, so the usual flat layout is read by hand; anything else goes through nlohmann.
#include "tokenizer/vocab_json.h"

#include "common/error.h"
#include "tokenizer/unicode_text.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>

namespace psa {

namespace {

// Reads exactly one flat {"string": non-negative integer} object (full JSON string escapes) and
// returns nullopt for anything else, which then goes through nlohmann for a proper error message
// or an unusual layout.
class FlatVocabReader {
public:
    explicit FlatVocabReader(std::string_view text) : s_(text) {}

    std::optional<std::vector<std::pair<std::string, std::int64_t>>> read()
    {
        std::vector<std::pair<std::string, std::int64_t>> out;
        out.reserve(s_.size() / 16);
        if (!skip_to('{'))
            return std::nullopt;
        skip_ws();
        if (peek() == '}') {
            ++i_;
        } else {
            for (;;) {
                std::string key;
                std::int64_t id = 0;
                if (!skip_to('"') || !string_body(key) || !skip_to(':') || !integer(id))
                    return std::nullopt;
                out.emplace_back(std::move(key), id);
                skip_ws();
                const char c = peek();
                ++i_;
                if (c == '}')
                    break;
                if (c != ',')
                    return std::nullopt;
            }
        }
        skip_ws();
        if (i_ != s_.size())
            return std::nullopt;
        return out;
    }

private:
    char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
    void skip_ws()
    {
        while (i_ < s_.size() && std::string_view(" \n\r\t").find(s_[i_]) != std::string_view::npos)
            ++i_;
    }
    bool skip_to(char c)
    {
        skip_ws();
        if (peek() != c)
            return false;
        ++i_;
        return true;
    }
    bool hex4(std::uint32_t& v)
    {
        if (s_.size() - i_ < 4)
            return false;
        v = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = s_[i_++];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<std::uint32_t>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<std::uint32_t>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= static_cast<std::uint32_t>(c - 'A' + 10);
            else
                return false;
        }
        return true;
    }
    bool string_body(std::string& out)
    {
        for (;;) {
            const size_t stop = s_.find_first_of("\"\\", i_);
            if (stop == std::string_view::npos)
                return false;
            for (size_t k = i_; k < stop; ++k)
                if (static_cast<unsigned char>(s_[k]) < 0x20)
                    return false; // raw control characters are invalid JSON
            out.append(s_.substr(i_, stop - i_));
            i_ = stop + 1;
            if (s_[stop] == '"')
                return true;
            const char e = peek();
            ++i_;
            static constexpr std::string_view kEscaped = "\"\\/bfnrt", kMeant = "\"\\/\b\f\n\r\t";
            if (e != 'u') {
                const size_t k = kEscaped.find(e);
                if (e == '\0' || k == std::string_view::npos)
                    return false;
                out += kMeant[k];
                continue;
            }
            std::uint32_t cp = 0;
            if (!hex4(cp))
                return false;
            if (cp >= 0xD800 && cp < 0xDC00) {
                std::uint32_t lo = 0;
                if (s_.substr(i_, 2) != "\\u" || (i_ += 2, !hex4(lo)) || lo < 0xDC00 || lo > 0xDFFF)
                    return false;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                return false;
            }
            unicode::append_utf8(out, static_cast<char32_t>(cp));
        }
    }
    bool integer(std::int64_t& v)
    {
        skip_ws();
        const size_t begin = i_;
        v = 0;
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9' && i_ - begin < 12)
            v = v * 10 + (s_[i_++] - '0');
        const size_t digits = i_ - begin;
        // Leading zeros, signs, fractions, exponents, huge values: leave them to nlohmann.
        if (digits == 0 || digits >= 12 || (digits > 1 && s_[begin] == '0'))
            return false;
        const char c = peek();
        return c != '.' && c != 'e' && c != 'E';
    }

    std::string_view s_;
    size_t i_ = 0;
};

} // namespace

std::vector<std::pair<std::string, std::int64_t>> read_vocab_json(const std::filesystem::path& path,
                                                                  const std::string& text)
{
    if (auto entries = FlatVocabReader(text).read())
        return std::move(*entries);
    using json = nlohmann::json;
    json vocab;
    try {
        vocab = json::parse(text);
    } catch (const json::parse_error& e) {
        throw IoError(path_message(path.string(), std::string("invalid JSON: ") + e.what()));
    }
    if (!vocab.is_object())
        throw IoError(path_message(path.string(), "expected a JSON object {token: id}, got " +
                                                      std::string(vocab.type_name())));
    std::vector<std::pair<std::string, std::int64_t>> entries;
    entries.reserve(vocab.size());
    for (const auto& [token, value] : vocab.items()) {
        if (!value.is_number_integer() || value.get<std::int64_t>() < 0)
            throw IoError(path_message(path.string(), "token \"" + token +
                                                          "\": expected a non-negative integer "
                                                          "id, got " +
                                                          value.dump()));
        entries.emplace_back(token, value.get<std::int64_t>());
    }
    return entries;
}

} // namespace psa
