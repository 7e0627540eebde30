// SPDX-License-Identifier: GPL-3.0-or-later
// .npy layout (numpy/lib/format.py): "\x93NUMPY", major, minor, header length (2 bytes LE for
// v1, 4 bytes for v2/v3), then a Python dict literal {'descr': ..., 'fortran_order': ...,
// 'shape': (...), } padded with spaces and a newline, then the raw array data.
#include "tensor_io/npy.h"

#include "common/atomic_file.h"
#include "common/error.h"

#include <torch/torch.h>

#include <cstring>
#include <regex>

namespace psa {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& what)
{
    throw IoError(path_message(path.string(), what));
}

// The value text after 'key': in the header dict, up to the next top-level comma or brace.
std::string dict_value(const std::string& header, const std::string& key)
{
    const std::string k1 = "'" + key + "'";
    auto pos = header.find(k1);
    if (pos == std::string::npos)
        return {};
    pos = header.find(':', pos + k1.size());
    if (pos == std::string::npos)
        return {};
    ++pos;
    while (pos < header.size() && header[pos] == ' ')
        ++pos;
    int depth = 0;
    size_t end = pos;
    for (; end < header.size(); ++end) {
        const char c = header[end];
        if (c == '(' || c == '[')
            ++depth;
        else if (c == ')' || c == ']')
            --depth;
        else if ((c == ',' || c == '}') && depth == 0)
            break;
    }
    std::string v = header.substr(pos, end - pos);
    while (!v.empty() && v.back() == ' ')
        v.pop_back();
    return v;
}

} // namespace

at::Tensor load_npy(const std::filesystem::path& path)
{
    const auto bytes = read_file_bytes(path);
    static const unsigned char kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0)
        fail(path, "not a .npy file (missing \\x93NUMPY magic)");
    const int major = bytes[6];
    size_t header_len = 0, header_start = 0;
    if (major == 1) {
        header_len = bytes[8] | (bytes[9] << 8);
        header_start = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12)
            fail(path, "truncated .npy header");
        header_len = bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) |
                     (static_cast<size_t>(bytes[11]) << 24);
        header_start = 12;
    } else {
        fail(path, "unsupported .npy format version " + std::to_string(major) + " (expected 1-3)");
    }
    if (header_start + header_len > bytes.size())
        fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file");
    const std::string header(bytes.begin() + header_start, bytes.begin() + header_start + header_len);

    std::string descr = dict_value(header, "descr");
    const std::string fortran = dict_value(header, "fortran_order");
    const std::string shape_text = dict_value(header, "shape");
    if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
        fail(path, "header has no readable 'descr' (structured dtypes are not supported): " + header);
    descr = descr.substr(1, descr.size() - 2);
    if (fortran == "True")
        fail(path, "array is stored in Fortran order; save it with numpy.ascontiguousarray first");
    if (fortran != "False")
        fail(path, "header has no readable 'fortran_order': " + header);
    if (descr.find('O') != std::string::npos)
        fail(path, "array holds pickled Python objects (dtype " + descr +
                       "); only numeric arrays are read, never pickles");
    if (descr.size() >= 1 && descr[0] == '>')
        fail(path, "array is big-endian (" + descr + "); only little-endian data is supported");

    c10::ScalarType type;
    int elem = 0;
    if (descr == "<f2") {
        type = c10::ScalarType::Half;
        elem = 2;
    } else if (descr == "<f4") {
        type = c10::ScalarType::Float;
        elem = 4;
    } else if (descr == "<f8") {
        type = c10::ScalarType::Double;
        elem = 8;
    } else if (descr == "<i4") {
        type = c10::ScalarType::Int;
        elem = 4;
    } else if (descr == "<i8") {
        type = c10::ScalarType::Long;
        elem = 8;
    } else if (descr == "|u1") {
        type = c10::ScalarType::Byte;
        elem = 1;
    } else {
        fail(path, "unsupported dtype " + descr + " (supported: <f2 <f4 <f8 <i4 <i8 |u1)");
    }

    std::vector<std::int64_t> shape;
    std::uint64_t count = 1;
    if (shape_text.size() < 2 || shape_text.front() != '(' || shape_text.back() != ')')
        fail(path, "header has no readable 'shape': " + header);
    static const std::regex kDim(R"(\s*(\d+)\s*)");
    std::string inner = shape_text.substr(1, shape_text.size() - 2);
    size_t start = 0;
    while (start < inner.size()) {
        size_t comma = inner.find(',', start);
        std::string part = inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        std::smatch m;
        if (!std::regex_match(part, m, kDim)) {
            if (part.find_first_not_of(" ") == std::string::npos)
                break; // trailing comma of a 1-tuple
            fail(path, "invalid shape " + shape_text);
        }
        const auto dim = std::stoull(m[1].str());
        if (__builtin_mul_overflow(count, dim, &count) || dim > static_cast<std::uint64_t>(INT64_MAX))
            fail(path, "shape " + shape_text + " overflows");
        shape.push_back(static_cast<std::int64_t>(dim));
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    const size_t data_start = header_start + header_len;
    std::uint64_t nbytes = 0;
    if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(elem), &nbytes) ||
        bytes.size() - data_start != nbytes)
        fail(path, "data is " + std::to_string(bytes.size() - data_start) + " bytes but " + descr +
                       " x " + shape_text + " needs " + std::to_string(nbytes));
    auto t = torch::empty(shape, torch::TensorOptions().dtype(type));
    if (nbytes)
        std::memcpy(t.data_ptr(), bytes.data() + data_start, nbytes);
    return t;
}

} // namespace psa
