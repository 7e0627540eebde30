// SPDX-License-Identifier: GPL-3.0-or-later
// safetensors: 8-byte little-endian header length N, N bytes of JSON, then the raw data section.
// Every header field is checked before a byte of data is trusted (the format's own spec and the
// reference Rust crate's validation: offsets contiguous-or-ordered, sizes equal dtype x shape).
#include "tensor_io/safetensors.h"

#include "common/atomic_file.h"
#include "common/error.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

struct DTypeEntry {
    const char* name;
    c10::ScalarType type;
    int size;
};

constexpr DTypeEntry kDTypes[] = {
    {"F64", c10::ScalarType::Double, 8},  {"F32", c10::ScalarType::Float, 4},
    {"F16", c10::ScalarType::Half, 2},    {"BF16", c10::ScalarType::BFloat16, 2},
    {"I64", c10::ScalarType::Long, 8},    {"I32", c10::ScalarType::Int, 4},
    {"I16", c10::ScalarType::Short, 2},   {"I8", c10::ScalarType::Char, 1},
    {"U8", c10::ScalarType::Byte, 1},     {"BOOL", c10::ScalarType::Bool, 1},
};

const DTypeEntry* find_dtype(const std::string& name)
{
    for (const auto& e : kDTypes)
        if (name == e.name)
            return &e;
    return nullptr;
}

[[noreturn]] void fail(const fs::path& path, const std::string& what)
{
    throw IoError(path_message(path.string(), what));
}

std::string shape_text(const std::vector<std::int64_t>& shape)
{
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

} // namespace

std::int64_t TensorInfo::numel() const
{
    std::int64_t n = 1;
    for (auto d : shape)
        n *= d;
    return n;
}

struct SafetensorsFile::Mapping {
    void* base = nullptr;
    size_t size = 0;
    ~Mapping()
    {
        if (base && base != MAP_FAILED)
            ::munmap(base, size);
    }
};

int safetensors_dtype_size(const std::string& name)
{
    const auto* e = find_dtype(name);
    return e ? e->size : 0;
}

std::string safetensors_dtype_name(c10::ScalarType type)
{
    for (const auto& e : kDTypes)
        if (e.type == type)
            return e.name;
    throw IoError(std::string("dtype ") + c10::toString(type) + " cannot be stored in safetensors");
}

c10::ScalarType scalar_type_from_safetensors(const std::string& name)
{
    if (const auto* e = find_dtype(name))
        return e->type;
    throw IoError("unknown safetensors dtype \"" + name + "\"");
}

SafetensorsFile SafetensorsFile::open(const fs::path& path)
{
    SafetensorsFile f;
    f.path_ = path;

    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, "not a regular file");
    }
    f.file_size_ = static_cast<std::uint64_t>(st.st_size);
    if (f.file_size_ < 8) {
        ::close(fd);
        fail(path, "file is " + std::to_string(f.file_size_) +
                       " bytes, too small to hold a safetensors header (8-byte length first)");
    }
    // MAP_PRIVATE + PROT_WRITE: copy-on-write, so an in-place op on a view never writes the file
    // and never faults on a read-only page.
    auto mapping = std::make_shared<Mapping>();
    mapping->size = f.file_size_;
    mapping->base = ::mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (mapping->base == MAP_FAILED)
        fail(path, std::string("cannot map into memory: ") + std::strerror(errno));
    f.mapping_ = mapping;
    const auto* bytes = static_cast<const std::uint8_t*>(mapping->base);

    std::uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i)
        header_len = (header_len << 8) | bytes[i];
    if (header_len > kMaxHeaderBytes)
        fail(path, "header length " + std::to_string(header_len) +
                       " bytes is larger than the 100 MB limit (corrupt or not a safetensors file)");
    if (header_len > f.file_size_ - 8)
        fail(path, "header length " + std::to_string(header_len) + " bytes is larger than the " +
                       std::to_string(f.file_size_ - 8) + " bytes that follow it (truncated file?)");
    f.data_offset_ = 8 + header_len;

    // Duplicate keys are legal JSON but ambiguous here: detect them while parsing, since
    // nlohmann::json keeps only the last one.
    std::set<std::string> seen;
    std::string duplicate;
    json::parser_callback_t on_event = [&](int depth, json::parse_event_t event, json& parsed) {
        if (depth == 1 && event == json::parse_event_t::key) {
            const auto& key = parsed.get_ref<const std::string&>();
            if (!seen.insert(key).second && duplicate.empty())
                duplicate = key;
        }
        return true;
    };
    json header;
    try {
        header = json::parse(bytes + 8, bytes + 8 + header_len, on_event);
    } catch (const json::exception& e) {
        fail(path, std::string("header is not valid JSON: ") + e.what());
    }
    if (!duplicate.empty())
        fail(path, "tensor name \"" + duplicate + "\" appears more than once in the header");
    if (!header.is_object())
        fail(path, "header must be a JSON object, got " + std::string(header.type_name()));

    const std::uint64_t data_size = f.file_size_ - f.data_offset_;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const json& entry = it.value();
        if (name == "__metadata__") {
            if (!entry.is_object())
                fail(path, "__metadata__ must be an object of strings");
            for (auto m = entry.begin(); m != entry.end(); ++m) {
                if (!m.value().is_string())
                    fail(path, "__metadata__ value of \"" + m.key() + "\" is not a string");
                f.metadata_[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        const std::string where = "tensor \"" + name + "\": ";
        if (!entry.is_object())
            fail(path, where + "entry is not an object");
        if (!entry.contains("dtype") || !entry["dtype"].is_string())
            fail(path, where + "missing or non-string \"dtype\"");
        if (!entry.contains("shape") || !entry["shape"].is_array())
            fail(path, where + "missing or non-array \"shape\"");
        if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() ||
            entry["data_offsets"].size() != 2)
            fail(path, where + "\"data_offsets\" must be an array of two integers");

        TensorInfo info;
        info.name = name;
        info.dtype = entry["dtype"].get<std::string>();
        const auto* dt = find_dtype(info.dtype);
        if (!dt)
            fail(path, where + "unknown dtype \"" + info.dtype +
                           "\" (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
        std::uint64_t count = 1;
        for (const auto& d : entry["shape"]) {
            if (!d.is_number_unsigned())
                fail(path, where + "shape has a non-integer or negative dimension " + d.dump());
            const auto dim = d.get<std::uint64_t>();
            if (dim > static_cast<std::uint64_t>(INT64_MAX) ||
                __builtin_mul_overflow(count, dim, &count))
                fail(path, where + "element count of shape " + entry["shape"].dump() +
                               " overflows 64 bits");
            info.shape.push_back(static_cast<std::int64_t>(dim));
        }
        std::uint64_t nbytes = 0;
        if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(dt->size), &nbytes) ||
            count > static_cast<std::uint64_t>(INT64_MAX))
            fail(path, where + "byte size of shape " + entry["shape"].dump() + " overflows 64 bits");
        const auto& offs = entry["data_offsets"];
        if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
            fail(path, where + "data_offsets must be non-negative integers");
        info.begin = offs[0].get<std::uint64_t>();
        info.end = offs[1].get<std::uint64_t>();
        if (info.begin > info.end)
            fail(path, where + "data_offsets [" + std::to_string(info.begin) + ", " +
                           std::to_string(info.end) + "] end before they begin");
        if (info.end > data_size)
            fail(path, where + "data_offsets [" + std::to_string(info.begin) + ", " +
                           std::to_string(info.end) + "] reach past the data section of " +
                           std::to_string(data_size) + " bytes");
        if (info.end - info.begin != nbytes)
            fail(path, where + "data_offsets span " + std::to_string(info.end - info.begin) +
                           " bytes but " + info.dtype + " x " + shape_text(info.shape) + " needs " +
                           std::to_string(nbytes));
        f.tensors_.push_back(std::move(info));
    }

    std::sort(f.tensors_.begin(), f.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    for (size_t i = 1; i < f.tensors_.size(); ++i) {
        const auto& prev = f.tensors_[i - 1];
        const auto& cur = f.tensors_[i];
        if (cur.begin < prev.end)
            fail(path, "tensors \"" + prev.name + "\" and \"" + cur.name +
                           "\" overlap in the data section");
    }
    for (size_t i = 0; i < f.tensors_.size(); ++i)
        f.index_[f.tensors_[i].name] = i;
    return f;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const
{
    const auto it = index_.find(name);
    if (it == index_.end())
        fail(path_, "no tensor named \"" + name + "\"");
    return tensors_[it->second];
}

const std::uint8_t* SafetensorsFile::data_begin() const
{
    return static_cast<const std::uint8_t*>(mapping_->base) + data_offset_;
}

std::uint64_t SafetensorsFile::data_size() const { return file_size_ - data_offset_; }

bool SafetensorsFile::is_zero_copy(const std::string& name) const
{
    const auto& ti = info(name);
    const auto addr = reinterpret_cast<std::uintptr_t>(data_begin() + ti.begin);
    return addr % static_cast<std::uintptr_t>(safetensors_dtype_size(ti.dtype)) == 0;
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const
{
    const auto& ti = info(name);
    const auto options = torch::TensorOptions().dtype(scalar_type_from_safetensors(ti.dtype));
    auto* ptr = const_cast<std::uint8_t*>(data_begin() + ti.begin);
    if (!is_zero_copy(name)) {
        // A header length that is not a multiple of 8 can misalign the data; torch kernels
        // assume natural alignment, so such tensors are copied once.
        auto t = torch::empty(ti.shape, options);
        std::memcpy(t.data_ptr(), ptr, ti.end - ti.begin);
        return t;
    }
    auto keep = mapping_;
    return torch::from_blob(ptr, ti.shape, [keep](void*) mutable { keep.reset(); }, options);
}

void save_safetensors(const fs::path& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata)
{
    json header = json::object();
    if (!metadata.empty())
        header["__metadata__"] = metadata;
    std::vector<at::Tensor> cpu;
    cpu.reserve(tensors.size());
    std::set<std::string> names;
    std::uint64_t offset = 0;
    for (const auto& [name, t] : tensors) {
        if (name == "__metadata__" || !names.insert(name).second)
            throw IoError(path_message(path.string(), "cannot save: duplicate or reserved tensor name \"" + name + "\""));
        if (!t.defined())
            throw IoError(path_message(path.string(), "cannot save: tensor \"" + name + "\" is undefined"));
        std::string dtype;
        try {
            dtype = safetensors_dtype_name(t.scalar_type());
        } catch (const IoError& e) {
            throw IoError(path_message(path.string(), "tensor \"" + name + "\": " + e.what()));
        }
        auto c = t.detach().to(torch::kCPU).contiguous();
        const std::uint64_t nbytes = static_cast<std::uint64_t>(c.numel()) * c.element_size();
        header[name] = {{"dtype", dtype},
                        {"shape", c.sizes().vec()},
                        {"data_offsets", {offset, offset + nbytes}}};
        offset += nbytes;
        cpu.push_back(std::move(c));
    }
    std::string text = header.dump();
    // Pad with spaces so the data section starts 8-byte aligned (keeps every view zero-copy).
    while ((8 + text.size()) % 8 != 0)
        text += ' ';
    std::uint8_t len[8];
    std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<std::uint8_t>((n >> (8 * i)) & 0xff);

    AtomicFileWriter writer(path);
    writer.write(len, 8);
    writer.write(text);
    for (const auto& c : cpu)
        writer.write(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
    writer.commit();
}

} // namespace psa
