// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>

namespace psa {

/// Reads a NumPy .npy file (format versions 1-3): little-endian f2/f4/f8 (and i4/i8/u1) in C order,
/// into a CPU tensor of the same dtype. Refuses, naming the file and the reason: Fortran order,
/// pickled object arrays, big-endian data, other dtypes, a payload of the wrong size.
at::Tensor load_npy(const std::filesystem::path& path);

} // namespace psa
