// SPDX-License-Identifier: GPL-3.0-or-later
#include "tokenizer/byte_symbols.h"

#include "tokenizer/unicode_text.h"

namespace psa {

namespace {

ByteSymbols make_byte_symbols()
{
    ByteSymbols t;
    t.byte_of.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
        unicode::append_utf8(t.symbol[b], cp);
        t.byte_of[cp] = static_cast<std::int16_t>(b);
    }
    return t;
}

} // namespace

const ByteSymbols& byte_symbols()
{
    static const ByteSymbols table = make_byte_symbols();
    return table;
}

} // namespace psa
