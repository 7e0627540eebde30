// SPDX-License-Identifier: GPL-3.0-or-later
#include "tensor_io/inspect.h"

#include "common/error.h"
#include "tensor_io/npy.h"
#include "tensor_io/safetensors.h"

#include <torch/torch.h>

#include <sstream>

namespace psa {

namespace {

std::string shape_text(c10::IntArrayRef shape)
{
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

std::string with_thousands(std::uint64_t n)
{
    std::string digits = std::to_string(n), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0)
            out += ',';
        out += digits[i];
    }
    return out;
}

} // namespace

std::string inspect_file(const std::filesystem::path& path)
{
    if (!std::filesystem::exists(path))
        throw IoError(path_message(path.string(), "no such file"));
    std::ostringstream out;
    if (path.extension() == ".npy") {
        const auto t = load_npy(path);
        out << path.string() << ": NumPy array\n";
        out << "  " << c10::toString(t.scalar_type()) << " " << shape_text(t.sizes()) << "\n";
        out << "elements: " << with_thousands(static_cast<std::uint64_t>(t.numel())) << "\n";
        return out.str();
    }
    const auto file = SafetensorsFile::open(path);
    std::uint64_t params = 0;
    size_t width = 4;
    for (const auto& t : file.tensors())
        width = std::max(width, t.name.size());
    out << path.string() << ": safetensors, " << file.tensors().size() << " tensors, "
        << with_thousands(file.file_size()) << " bytes\n";
    for (const auto& t : file.tensors()) {
        out << "  " << t.name << std::string(width - t.name.size() + 2, ' ') << t.dtype
            << std::string(6 - std::min<size_t>(5, t.dtype.size()), ' ') << shape_text(t.shape) << "\n";
        params += static_cast<std::uint64_t>(t.numel());
    }
    if (!file.metadata().empty()) {
        out << "metadata:\n";
        for (const auto& [k, v] : file.metadata())
            out << "  " << k << ": " << v << "\n";
    }
    out << "parameters: " << with_thousands(params) << "\n";
    return out.str();
}

} // namespace psa
