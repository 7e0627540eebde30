// SPDX-License-Identifier: GPL-3.0-or-later
// Private to tokenizer/: the text normalisation and word split of the Hugging Face slow
// CLIPTokenizer (without ftfy), with Python's Unicode rules reproduced from generated tables.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace psa::unicode {

/// Per-code-point flags; bit values are shared with scripts/gen_unicode_tables.py.
enum Flag : std::uint8_t {
    kLetter = 1,         // \p{L}
    kNumber = 2,         // \p{N}
    kSpace = 4,          // the regex module's \s (Unicode White_Space)
    kPySpace = 8,        // Python str.isspace(): what str.strip() removes
    kCased = 16,         // Python's final-sigma "cased" (set only where not case-ignorable)
    kCaseIgnorable = 32, // Python's final-sigma "case-ignorable"
    kUnmatched = 64,     // matched by no branch of the CLIP pattern (IGNORECASE quirk, U+0345)
};

struct CharRange {
    char32_t first;
    char32_t last;
    std::uint8_t flags;
};
/// c in [first, last] with (c - first) % stride == 0 lower-cases to c + delta.
struct LowerRun {
    char32_t first;
    char32_t last;
    std::uint8_t stride;
    std::int32_t delta;
};

// unicode_tables.cpp (generated): sorted, non-overlapping; code points not listed have no flags
// and no lower-case mapping.
extern const CharRange kCharRanges[];
extern const std::size_t kCharRangeCount;
extern const LowerRun kLowerRuns[];
extern const std::size_t kLowerRunCount;

std::uint8_t flags(char32_t c);

/// UTF-8 -> code points; each maximal invalid subpart becomes one U+FFFD (Python's "replace").
std::u32string decode_utf8(std::string_view bytes);
void append_utf8(std::string& out, char32_t c);
std::string encode_utf8(std::u32string_view text);

/// re.sub(r"\s+", " ", text).strip() with the regex module's \s and Python's strip().
std::u32string whitespace_clean(std::u32string_view text);
/// Python str.lower(): full mapping (U+0130 -> "i\u0307") and the final-sigma rule.
std::u32string to_lower(std::u32string_view text);
/// findall of the CLIP pattern <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|
/// [\p{N}]|[^\s\p{L}\p{N}]+ (IGNORECASE) over already lower-cased text; pieces in UTF-8.
std::vector<std::string> split_words(std::u32string_view text);

} // namespace psa::unicode
