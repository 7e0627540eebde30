// SPDX-License-Identifier: GPL-3.0-or-later
// Private to tokenizer/: GPT-2's byte-to-unicode table, the one alphabet that both the CLIP
// tokenizer (reading vocab.json/merges.txt) and the BPE trainer (writing them) must agree on.
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace psa {

/// GPT-2 bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes
/// move to U+0100.. in byte order, so every byte is a visible, non-space character.
struct ByteSymbols {
    std::array<std::string, 256> symbol;     // byte -> UTF-8 of its stand-in character
    std::array<std::int16_t, 324> byte_of{}; // stand-in code point -> byte, -1 if none
};

/// The table, built once; thread-safe.
const ByteSymbols& byte_symbols();

} // namespace psa
