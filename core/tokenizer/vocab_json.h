// SPDX-License-Identifier: GPL-3.0-or-later
// Private to tokenizer/: reading vocab.json ({"token": id, ...}) quickly.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace psa {

/// The entries of vocab.json's text, in file order (a repeated key appears twice). `path` only
/// names the file in errors: IoError for invalid JSON, a non-object, or a non-integer or
/// negative id.
std::vector<std::pair<std::string, std::int64_t>> read_vocab_json(const std::filesystem::path& path,
                                                                  const std::string& text);

} // namespace psa
