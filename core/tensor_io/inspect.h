// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace psa {

/// A human-readable listing of a .safetensors or .npy file: every tensor (name, dtype, shape), the
/// metadata, and the parameter count. Throws IoError naming the file and the fault.
std::string inspect_file(const std::filesystem::path& path);

} // namespace psa
