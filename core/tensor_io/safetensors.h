// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace psa {

/// One entry of a safetensors header. `dtype` is the file's name for it ("F32", "BF16", ...).
struct TensorInfo {
    std::string name;
    std::string dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0; // byte offsets into the data section
    std::uint64_t end = 0;
    std::int64_t numel() const;
};

/// A validated, memory-mapped safetensors file. Tensors are zero-copy views of the mapping
/// (copy-on-write, so in-place edits never reach the file); each keeps the mapping alive.
/// open() throws IoError naming the file and the fault for every malformed header.
class SafetensorsFile {
public:
    static constexpr std::uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

    static SafetensorsFile open(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return path_; }
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    /// In the order of their data offsets.
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    bool contains(const std::string& name) const { return index_.count(name) != 0; }
    const TensorInfo& info(const std::string& name) const;

    /// The tensor as a CPU view of the mapping (a copy only when its bytes are misaligned for
    /// its dtype). Throws IoError when the name is absent.
    at::Tensor tensor(const std::string& name) const;
    /// Whether tensor(name) would be a zero-copy view.
    bool is_zero_copy(const std::string& name) const;

    /// The mapped bytes of the data section: [data_begin(), data_begin() + data_size()).
    const std::uint8_t* data_begin() const;
    std::uint64_t data_size() const;
    std::uint64_t file_size() const { return file_size_; }

private:
    struct Mapping;
    std::filesystem::path path_;
    std::shared_ptr<Mapping> mapping_;
    std::uint64_t file_size_ = 0;
    std::uint64_t data_offset_ = 0;
    std::map<std::string, std::string> metadata_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, size_t> index_;
};

/// Named tensors in a chosen order (the order they are written in).
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

/// Writes tensors (any device; made contiguous CPU) atomically: temporary file, fsync, rename.
/// Throws IoError on an unsupported dtype, a duplicate name, or any I/O failure.
void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// The safetensors name of a torch dtype ("F32", ...), and back. Throw IoError when unsupported.
std::string safetensors_dtype_name(c10::ScalarType type);
c10::ScalarType scalar_type_from_safetensors(const std::string& name);
/// Bytes per element of a safetensors dtype name; 0 when unknown.
int safetensors_dtype_size(const std::string& name);

} // namespace psa
