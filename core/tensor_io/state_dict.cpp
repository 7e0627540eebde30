// SPDX-License-Identifier: GPL-3.0-or-later
// Strict loading in the manner of whisper.cpp: check the whole name/shape set first, report every
// problem at once, then copy.
#include "tensor_io/state_dict.h"

#include "common/error.h"
#include "tensor_io/safetensors.h"

#include <torch/torch.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

namespace psa {

std::string shape_string(at::IntArrayRef shape)
{
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

StateDict load_state_dict(const std::vector<std::filesystem::path>& files)
{
    StateDict dict;
    for (const auto& path : files) {
        const auto f = SafetensorsFile::open(path);
        for (const auto& info : f.tensors()) {
            if (dict.count(info.name))
                throw IoError(path_message(path.string(), "tensor \"" + info.name +
                                                              "\" also appears in another shard"));
            dict[info.name] = f.tensor(info.name);
        }
    }
    return dict;
}

StateDict load_state_dict(const std::filesystem::path& file)
{
    return load_state_dict(std::vector<std::filesystem::path>{file});
}

namespace {

// Which address ranges of this process map a file (/proc/self/maps lines with an inode).
class FileMappings {
public:
    static FileMappings read()
    {
        FileMappings f;
        std::ifstream in("/proc/self/maps");
        for (std::string line; std::getline(in, line);) {
            std::istringstream fields(line);
            std::string range, perms, offset, device;
            std::uint64_t inode = 0;
            if (!(fields >> range >> perms >> offset >> device >> inode) || inode == 0)
                continue;
            const auto dash = range.find('-');
            if (dash == std::string::npos)
                continue;
            f.ranges_.emplace_back(std::stoull(range.substr(0, dash), nullptr, 16),
                                   std::stoull(range.substr(dash + 1), nullptr, 16));
        }
        std::sort(f.ranges_.begin(), f.ranges_.end());
        return f;
    }

    /// The file mapping [begin, end) that holds [p, p + n), or {0, 0}.
    std::pair<std::uintptr_t, std::uintptr_t> containing(std::uintptr_t p, std::uintptr_t n) const
    {
        auto it = std::upper_bound(ranges_.begin(), ranges_.end(),
                                   std::pair{p, std::numeric_limits<std::uintptr_t>::max()});
        if (it == ranges_.begin())
            return {0, 0};
        --it;
        return p >= it->first && p + n <= it->second ? *it
                                                     : std::pair<std::uintptr_t, std::uintptr_t>{};
    }

private:
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges_;
};

// Drops our resident pages around a tensor that views a file mapping, so copying fp16 weights
// into fp32 parameters never keeps both in memory. MADV_DONTNEED on a file mapping only unmaps:
// a later read faults the bytes in from the file again (in-place edits of a private mapping's
// views would be lost; nothing edits them), so neighbours are safe to drop too. That
// matters because a fault maps up to 64 KiB of cached neighbour pages at once (the kernel's
// fault-around): dropping only the tensor's own whole pages left a few hundred MB of neighbours
// mapped after loading SD 1.5 from a single file. Heap tensors are left alone (there
// MADV_DONTNEED would zero them).
void release_pages(const at::Tensor& t, const FileMappings& files)
{
    if (!t.defined() || t.numel() == 0 || !t.is_cpu())
        return;
    constexpr std::uintptr_t kWindow = 64 * 1024; // >= fault_around_bytes (default 64 KiB)
    int64_t extent = 1; // elements from the first to one past the last (any strides)
    for (int64_t d = 0; d < t.dim(); ++d)
        extent += (t.size(d) - 1) * std::abs(t.stride(d));
    const auto begin = reinterpret_cast<std::uintptr_t>(t.data_ptr());
    const auto size = static_cast<std::uintptr_t>(extent * t.element_size());
    const auto [map_begin, map_end] = files.containing(begin, size);
    if (map_begin == map_end)
        return;
    const auto first = std::max(map_begin, begin / kWindow * kWindow);
    const auto last = std::min(map_end, (begin + size + kWindow - 1) / kWindow * kWindow);
    if (last > first)
        ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

} // namespace

void load_into(torch::nn::Module& module, const StateDict& dict, const std::string& what,
               const LoadOptions& options)
{
    std::vector<std::pair<std::string, at::Tensor>> targets;
    for (const auto& p : module.named_parameters(true))
        targets.emplace_back(p.key(), p.value());
    for (const auto& b : module.named_buffers(true))
        targets.emplace_back(b.key(), b.value());

    std::vector<std::string> missing, unexpected, misshaped;
    std::set<std::string> wanted;
    for (const auto& [name, target] : targets) {
        wanted.insert(name);
        const auto it = dict.find(name);
        if (it == dict.end()) {
            missing.push_back(name);
        } else if (it->second.sizes() != target.sizes()) {
            misshaped.push_back(name + ": expected " + shape_string(target.sizes()) + ", got " +
                                shape_string(it->second.sizes()));
        }
    }
    for (const auto& [name, t] : dict)
        if (!wanted.count(name) && !(options.ignore_unexpected && options.ignore_unexpected(name)))
            unexpected.push_back(name);

    if (!missing.empty() || !unexpected.empty() || !misshaped.empty()) {
        std::string msg = what + ": " + std::to_string(missing.size()) + " missing, " +
                          std::to_string(unexpected.size()) + " unexpected, " +
                          std::to_string(misshaped.size()) + " mis-shaped";
        const auto list = [&](const char* label, const std::vector<std::string>& names) {
            for (size_t i = 0; i < names.size() && i < 10; ++i)
                msg += std::string("\n  ") + label + names[i];
            if (names.size() > 10)
                msg += "\n  ... and " + std::to_string(names.size() - 10) + " more " + label;
        };
        list("missing: ", missing);
        list("unexpected: ", unexpected);
        list("mis-shaped: ", misshaped);
        throw ModelLoadError(msg);
    }

    torch::NoGradGuard no_grad;
    const auto files = options.release_sources ? FileMappings::read() : FileMappings{};
    for (auto& [name, target] : targets) {
        const auto& src = dict.at(name);
        target.copy_(src);
        if (options.release_sources)
            release_pages(src, files);
    }
}

} // namespace psa
