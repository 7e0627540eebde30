// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace psa {

/// Keyword -> UTF-8 text pairs for PNG text chunks.
using PngTextEntries = std::vector<std::pair<std::string, std::string>>;

/// Returns `png` with one text chunk per entry inserted after IHDR (replacing chunks with the same
/// keyword): tEXt when the text is Latin-1, otherwise an uncompressed UTF-8 iTXt (as PIL does).
/// `source` names the image in errors. Throws IoError on a malformed PNG or keyword.
std::vector<std::uint8_t> png_with_text(const std::vector<std::uint8_t>& png,
                                        const PngTextEntries& entries, const std::string& source);

/// All tEXt, zTXt and iTXt chunks as keyword -> UTF-8 text (Latin-1 converted). Chunks with a bad
/// CRC are skipped; a truncated or non-PNG stream throws IoError naming `source`.
std::map<std::string, std::string> png_read_text(const std::vector<std::uint8_t>& png,
                                                 const std::string& source);

} // namespace psa
