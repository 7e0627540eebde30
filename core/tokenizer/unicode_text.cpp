// SPDX-License-Identifier: GPL-3.0-or-later
// Python's str semantics without ICU: CPython's lower() (Objects/unicodeobject.c, final sigma
// included), str.strip(), and the `regex` module's matching of the CLIP word pattern.
#include "tokenizer/unicode_text.h"

#include <algorithm>

namespace psa::unicode {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

bool has(char32_t c, std::uint8_t flag)
{
    return (flags(c) & flag) != 0;
}

char32_t lower_simple(char32_t c)
{
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    const LowerRun* end = kLowerRuns + kLowerRunCount;
    const auto before = [](char32_t v, const LowerRun& r) { return v < r.first; };
    const LowerRun* it = std::upper_bound(kLowerRuns, end, c, before);
    if (it == kLowerRuns)
        return c;
    --it;
    if (c > it->last || (c - it->first) % it->stride != 0)
        return c;
    return static_cast<char32_t>(static_cast<std::int64_t>(c) + it->delta);
}

// CPython handle_capital_sigma(): U+03A3 is final when preceded by a cased letter and not
// followed by one, case-ignorable characters being skipped on both sides.
bool is_final_sigma(std::u32string_view s, size_t i)
{
    size_t j = i;
    char32_t before = 0;
    bool found = false;
    while (j > 0) {
        before = s[--j];
        if (!has(before, kCaseIgnorable)) {
            found = true;
            break;
        }
    }
    if (!found || !has(before, kCased))
        return false;
    for (j = i + 1; j < s.size(); ++j)
        if (!has(s[j], kCaseIgnorable))
            return !has(s[j], kCased);
    return true;
}

// The pattern runs with IGNORECASE after lower-casing, so only U+017F (long s, which folds to
// 's') can still differ from the lower-case ASCII literals.
bool literal_at(std::u32string_view s, size_t i, std::u32string_view lit)
{
    if (s.size() - i < lit.size())
        return false;
    for (size_t k = 0; k < lit.size(); ++k) {
        const char32_t c = s[i + k];
        if (c != lit[k] && !(lit[k] == U's' && c == 0x17F))
            return false;
    }
    return true;
}

bool is_other(char32_t c)
{
    return !has(c, kLetter | kNumber | kSpace | kUnmatched);
}

} // namespace

std::uint8_t flags(char32_t c)
{
    const CharRange* end = kCharRanges + kCharRangeCount;
    const auto before = [](char32_t v, const CharRange& r) { return v < r.first; };
    const CharRange* it = std::upper_bound(kCharRanges, end, c, before);
    if (it == kCharRanges)
        return 0;
    --it;
    return c <= it->last ? it->flags : 0;
}

std::u32string decode_utf8(std::string_view bytes)
{
    std::u32string out;
    out.reserve(bytes.size());
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const size_t n = bytes.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char b = p[i];
        if (b < 0x80) {
            out.push_back(b);
            ++i;
            continue;
        }
        // The Unicode Standard, table 3-7 (well-formed UTF-8): length, range of the 2nd byte.
        int len = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            if (b == 0xE0)
                lo = 0xA0;
            if (b == 0xED)
                hi = 0x9F;
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            if (b == 0xF0)
                lo = 0x90;
            if (b == 0xF4)
                hi = 0x8F;
        }
        if (len == 0) {
            out.push_back(kReplacement);
            ++i;
            continue;
        }
        char32_t cp = b & (0xFF >> (len + 1));
        size_t k = 1;
        for (; k < static_cast<size_t>(len) && i + k < n; ++k) {
            const unsigned char c = p[i + k];
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF))
                break;
            cp = (cp << 6) | (c & 0x3F);
        }
        if (k == static_cast<size_t>(len)) {
            out.push_back(cp);
        } else {
            out.push_back(kReplacement); // the maximal subpart consumed so far
        }
        i += k;
    }
    return out;
}

void append_utf8(std::string& out, char32_t c)
{
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

std::string encode_utf8(std::u32string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (char32_t c : text)
        append_utf8(out, c);
    return out;
}

std::u32string whitespace_clean(std::u32string_view text)
{
    std::u32string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        if (has(text[i], kSpace)) {
            out.push_back(U' ');
            while (i < text.size() && has(text[i], kSpace))
                ++i;
        } else {
            out.push_back(text[i++]);
        }
    }
    size_t b = 0, e = out.size();
    while (b < e && has(out[b], kPySpace))
        ++b;
    while (e > b && has(out[e - 1], kPySpace))
        --e;
    return out.substr(b, e - b);
}

std::u32string to_lower(std::u32string_view text)
{
    std::u32string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char32_t c = text[i];
        if (c == 0x3A3) {
            out.push_back(is_final_sigma(text, i) ? 0x3C2 : 0x3C3);
        } else if (c == 0x130) {
            out.push_back(U'i'); // SpecialCasing.txt: the only multi-character lower case
            out.push_back(0x307);
        } else {
            out.push_back(lower_simple(c));
        }
    }
    return out;
}

std::vector<std::string> split_words(std::u32string_view s)
{
    static constexpr std::u32string_view kSpecials[] = {U"<|startoftext|>", U"<|endoftext|>"};
    static constexpr std::u32string_view kContractions[] = {U"'s", U"'t",  U"'re", U"'ve",
                                                            U"'m", U"'ll", U"'d"};
    std::vector<std::string> words;
    size_t i = 0;
    auto emit = [&](size_t from, size_t to) {
        words.push_back(encode_utf8(s.substr(from, to - from)));
        i = to;
    };
    // Alternation order decides, as in the regex: the first branch that matches at i wins.
    while (i < s.size()) {
        bool done = false;
        for (auto lit : kSpecials)
            if (!done && literal_at(s, i, lit)) {
                emit(i, i + lit.size());
                done = true;
            }
        if (!done && s[i] == U'\'')
            for (auto lit : kContractions)
                if (!done && literal_at(s, i, lit)) {
                    emit(i, i + lit.size());
                    done = true;
                }
        if (done)
            continue;
        const char32_t c = s[i];
        size_t j = i + 1;
        if (has(c, kLetter)) {
            while (j < s.size() && has(s[j], kLetter))
                ++j;
            emit(i, j);
        } else if (has(c, kNumber)) {
            emit(i, j);
        } else if (is_other(c)) {
            while (j < s.size() && is_other(s[j]))
                ++j;
            emit(i, j);
        } else {
            ++i; // whitespace, or a character no branch matches: findall skips it
        }
    }
    return words;
}

} // namespace psa::unicode
