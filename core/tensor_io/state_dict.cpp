// SPDX-License-Identifier: GPL-3.0-or-later
// Strict loading in the manner of whisper.cpp: check the whole name/shape set first, report every
// problem at once, then copy.
#include "tensor_io/state_dict.h"

#include "common/error.h"
#include "tensor_io/safetensors.h"

#include <torch/torch.h>

#include <sys/mman.h>
#include <unistd.h>

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

// Drops the resident pages of a tensor that views a file mapping (MADV_DONTNEED on a private
// mapping discards our copy; the file is untouched), so copying fp16 weights into fp32 parameters
// never keeps both in memory.
void release_pages(const at::Tensor& t)
{
    if (!t.defined() || t.numel() == 0 || !t.is_cpu())
        return;
    static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(t.data_ptr());
    const auto end = begin + static_cast<std::uintptr_t>(t.numel() * t.element_size());
    const auto first = (begin + page - 1) / page * page; // whole pages inside the tensor only
    const auto last = end / page * page;
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
    for (auto& [name, target] : targets) {
        const auto& src = dict.at(name);
        target.copy_(src);
        if (options.release_sources)
            release_pages(src);
    }
}

} // namespace psa
