// SPDX-License-Identifier: GPL-3.0-or-later
// PNG text chunks (PNG spec 11.3.4): tEXt = keyword NUL latin1-text; zTXt = keyword NUL method
// deflate(text); iTXt = keyword NUL flag method lang NUL translated-keyword NUL utf8-text.
// OpenCV cannot write them, so they are spliced into the encoded stream here.
#include "tensor_io/png_text.h"

#include "common/error.h"

#include <zlib.h>

#include <cstring>
#include <optional>

namespace psa {

namespace {

const std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

struct Chunk {
    std::string type;
    size_t data_begin = 0; // offset of the data in the stream
    std::uint32_t length = 0;
    bool crc_ok = true;
    size_t total() const { return 12 + length; }
};

std::uint32_t read_be32(const std::uint8_t* p)
{
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}

void append_be32(std::vector<std::uint8_t>& out, std::uint32_t v)
{
    for (int s = 24; s >= 0; s -= 8)
        out.push_back(static_cast<std::uint8_t>((v >> s) & 0xff));
}

std::vector<Chunk> parse_chunks(const std::vector<std::uint8_t>& png, const std::string& source)
{
    if (png.size() < 8 || std::memcmp(png.data(), kSignature, 8) != 0)
        throw IoError(path_message(source, "not a PNG image (bad signature)"));
    std::vector<Chunk> chunks;
    size_t pos = 8;
    while (pos < png.size()) {
        if (png.size() - pos < 12)
            throw IoError(path_message(source, "PNG truncated inside a chunk header"));
        Chunk c;
        c.length = read_be32(png.data() + pos);
        c.type.assign(reinterpret_cast<const char*>(png.data() + pos + 4), 4);
        c.data_begin = pos + 8;
        if (c.length > png.size() - pos - 12)
            throw IoError(path_message(source, "PNG chunk " + c.type + " runs past the end of the file"));
        const std::uint32_t stored = read_be32(png.data() + c.data_begin + c.length);
        const auto crc = crc32(crc32(0L, png.data() + pos + 4, 4), png.data() + c.data_begin, c.length);
        c.crc_ok = stored == crc;
        chunks.push_back(c);
        pos += c.total();
        if (c.type == "IEND")
            break;
    }
    if (chunks.empty() || chunks.front().type != "IHDR")
        throw IoError(path_message(source, "PNG does not start with an IHDR chunk"));
    return chunks;
}

// UTF-8 -> Latin-1 when every code point is <= 0xFF (and valid UTF-8); nullopt otherwise.
std::optional<std::string> utf8_to_latin1(const std::string& s)
{
    std::string out;
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            out += static_cast<char>(c);
            ++i;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size() &&
                   (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) {
            const unsigned cp = ((c & 0x1F) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3F);
            if (cp > 0xFF || cp < 0x80)
                return std::nullopt;
            out += static_cast<char>(cp);
            i += 2;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

std::string latin1_to_utf8(const std::string& s)
{
    std::string out;
    for (unsigned char c : s) {
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    return out;
}

std::optional<std::string> inflate_text(const std::uint8_t* data, size_t size)
{
    z_stream zs{};
    if (inflateInit(&zs) != Z_OK)
        return std::nullopt;
    zs.next_in = const_cast<Bytef*>(data);
    zs.avail_in = static_cast<uInt>(size);
    std::string out;
    char buf[16384];
    bool ended = false;
    while (!ended) {
        zs.next_out = reinterpret_cast<Bytef*>(buf);
        zs.avail_out = sizeof buf;
        const int rc = inflate(&zs, Z_NO_FLUSH);
        const size_t produced = sizeof buf - zs.avail_out;
        out.append(buf, produced);
        ended = rc == Z_STREAM_END;
        // Errors, a truncated stream, and decompression bombs are not metadata.
        if ((rc != Z_OK && !ended) || (!ended && zs.avail_in == 0 && produced == 0) ||
            out.size() > (64u << 20)) {
            inflateEnd(&zs);
            return std::nullopt;
        }
    }
    inflateEnd(&zs);
    return out;
}

void append_chunk(std::vector<std::uint8_t>& out, const std::string& type, const std::string& data)
{
    append_be32(out, static_cast<std::uint32_t>(data.size()));
    const size_t type_at = out.size();
    out.insert(out.end(), type.begin(), type.end());
    out.insert(out.end(), data.begin(), data.end());
    const auto crc = crc32(0L, out.data() + type_at, static_cast<uInt>(4 + data.size()));
    append_be32(out, static_cast<std::uint32_t>(crc));
}

std::string chunk_keyword(const std::vector<std::uint8_t>& png, const Chunk& c)
{
    const auto* d = reinterpret_cast<const char*>(png.data() + c.data_begin);
    const size_t n = strnlen(d, c.length);
    return std::string(d, n);
}

bool is_text_chunk(const std::string& type) { return type == "tEXt" || type == "zTXt" || type == "iTXt"; }

} // namespace

std::vector<std::uint8_t> png_with_text(const std::vector<std::uint8_t>& png,
                                        const PngTextEntries& entries, const std::string& source)
{
    const auto chunks = parse_chunks(png, source);
    std::vector<std::uint8_t> out(png.begin(), png.begin() + 8);
    for (size_t i = 0; i < chunks.size(); ++i) {
        const auto& c = chunks[i];
        const bool replaced = is_text_chunk(c.type) && [&] {
            const auto key = latin1_to_utf8(chunk_keyword(png, c));
            for (const auto& e : entries)
                if (e.first == key)
                    return true;
            return false;
        }();
        if (!replaced) {
            const size_t begin = c.data_begin - 8;
            out.insert(out.end(), png.begin() + begin, png.begin() + begin + c.total());
        }
        if (i == 0) { // right after IHDR
            for (const auto& [key, text] : entries) {
                const auto keyword = utf8_to_latin1(key);
                if (!keyword || keyword->empty() || keyword->size() > 79 ||
                    keyword->find('\0') != std::string::npos)
                    throw IoError(path_message(source, "invalid PNG text keyword \"" + key +
                                                           "\" (1-79 Latin-1 characters)"));
                const auto latin = utf8_to_latin1(text);
                if (latin && latin->find('\0') == std::string::npos) {
                    append_chunk(out, "tEXt", *keyword + std::string(1, '\0') + *latin);
                } else {
                    // iTXt: keyword NUL, compression flag 0, method 0, empty language NUL,
                    // empty translated keyword NUL, UTF-8 text.
                    std::string data = *keyword;
                    data += '\0';
                    data += '\0';
                    data += '\0';
                    data += '\0';
                    data += '\0';
                    data += text;
                    append_chunk(out, "iTXt", data);
                }
            }
        }
    }
    return out;
}

std::map<std::string, std::string> png_read_text(const std::vector<std::uint8_t>& png,
                                                 const std::string& source)
{
    std::map<std::string, std::string> out;
    for (const auto& c : parse_chunks(png, source)) {
        if (!c.crc_ok || !is_text_chunk(c.type))
            continue;
        const auto* d = png.data() + c.data_begin;
        const std::string keyword = chunk_keyword(png, c);
        size_t p = keyword.size() + 1;
        if (p > c.length)
            continue;
        if (c.type == "tEXt") {
            out[latin1_to_utf8(keyword)] =
                latin1_to_utf8(std::string(reinterpret_cast<const char*>(d) + p, c.length - p));
        } else if (c.type == "zTXt") {
            if (p + 1 > c.length)
                continue;
            if (auto text = inflate_text(d + p + 1, c.length - p - 1))
                out[latin1_to_utf8(keyword)] = latin1_to_utf8(*text);
        } else { // iTXt
            if (p + 2 > c.length)
                continue;
            const bool compressed = d[p] != 0;
            p += 2;
            for (int skip = 0; skip < 2; ++skip) { // language tag, translated keyword
                while (p < c.length && d[p] != 0)
                    ++p;
                ++p;
            }
            if (p > c.length)
                continue;
            std::string text;
            if (compressed) {
                auto inflated = inflate_text(d + p, c.length - p);
                if (!inflated)
                    continue;
                text = std::move(*inflated);
            } else {
                text.assign(reinterpret_cast<const char*>(d) + p, c.length - p);
            }
            out[latin1_to_utf8(keyword)] = text;
        }
    }
    return out;
}

} // namespace psa
