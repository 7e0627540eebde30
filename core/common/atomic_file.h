// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace psa {

/// Writes a file so that readers see either the old content or the complete new content, never a
/// mix: bytes go to a temporary file in the same folder, which is flushed to disk and renamed over
/// the target on commit(). Destroying an uncommitted writer removes the temporary file.
/// Throws IoError (naming the path) on any failure.
class AtomicFileWriter {
public:
    explicit AtomicFileWriter(std::filesystem::path target);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    void write(const void* data, std::size_t size);
    void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
    /// fsync, rename over the target, fsync the folder.
    void commit();

    const std::filesystem::path& target() const { return target_; }
    const std::filesystem::path& temporary_path() const { return temp_; }

private:
    std::filesystem::path target_;
    std::filesystem::path temp_;
    int fd_ = -1;
    bool committed_ = false;
};

/// Writes `bytes` to `path` atomically (AtomicFileWriter in one call).
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes);
/// Reads a whole file. Throws IoError naming the path.
std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path);
std::string read_file_text(const std::filesystem::path& path);

} // namespace psa
