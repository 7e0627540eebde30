// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace psa {

/// Name -> tensor, e.g. the views of a safetensors file (zero-copy) or a renamed checkpoint.
using StateDict = std::map<std::string, at::Tensor>;

/// Every tensor of one or more safetensors files (sharded models), as zero-copy views.
/// Throws IoError naming the file; a name present in two files is an error.
StateDict load_state_dict(const std::vector<std::filesystem::path>& files);
StateDict load_state_dict(const std::filesystem::path& file);

struct LoadOptions {
    /// Names in the file that are expected extras and silently ignored (e.g. position_ids).
    std::function<bool(const std::string&)> ignore_unexpected;
    /// Release each source tensor's pages after copying it (keeps one copy of the weights in RAM
    /// when loading from a mapped file); set for large checkpoints.
    bool release_sources = true;
};

/// Strict load: copies every parameter and buffer of `module` from `dict` (converting dtype,
/// keeping the module's device and dtype). Collects all missing, unexpected and mis-shaped names
/// and throws one ModelLoadError listing the first ten of each, prefixed with `what` (the file or
/// component). Nothing is copied unless the whole dict fits.
void load_into(torch::nn::Module& module, const StateDict& dict, const std::string& what,
               const LoadOptions& options = {});

/// "[320, 4, 3, 3]"
std::string shape_string(at::IntArrayRef shape);

} // namespace psa
