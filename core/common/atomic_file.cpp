// SPDX-License-Identifier: GPL-3.0-or-later
// Temporary-file-and-rename writes: POSIX rename() within one folder is atomic, and the fsyncs make
// the new content durable before it becomes visible (and the rename durable after).
#include "common/atomic_file.h"

#include "common/error.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <unistd.h>

namespace psa {

namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

std::string random_suffix()
{
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    static const char* digits = "0123456789abcdef";
    std::string s(8, '0');
    for (auto& c : s)
        c = digits[rng() % 16];
    return s;
}

void fsync_dir(const fs::path& dir)
{
    const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd); // best effort: some filesystems refuse fsync on folders
        ::close(fd);
    }
}

} // namespace

AtomicFileWriter::AtomicFileWriter(fs::path target) : target_(std::move(target))
{
    const fs::path dir = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
    if (!fs::is_directory(dir))
        throw IoError(path_message(target_.string(), "cannot write: folder " + dir.string() +
                                                         " does not exist"));
    for (int attempt = 0; attempt < 16 && fd_ < 0; ++attempt) {
        temp_ = dir / ("." + target_.filename().string() + ".tmp-" + random_suffix());
        fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd_ < 0 && errno != EEXIST)
            break;
    }
    if (fd_ < 0)
        throw IoError(path_message(target_.string(),
                                   "cannot create temporary file in " + dir.string() + ": " +
                                       errno_text()));
}

AtomicFileWriter::~AtomicFileWriter()
{
    if (fd_ >= 0)
        ::close(fd_);
    if (!committed_) {
        std::error_code ec;
        fs::remove(temp_, ec);
    }
}

void AtomicFileWriter::write(const void* data, std::size_t size)
{
    if (fd_ < 0 || committed_)
        throw IoError(path_message(target_.string(), "write after commit"));
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd_, p, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw IoError(path_message(target_.string(), "write failed: " + errno_text()));
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

void AtomicFileWriter::commit()
{
    if (committed_)
        return;
    if (::fsync(fd_) != 0)
        throw IoError(path_message(target_.string(), "flush to disk failed: " + errno_text()));
    if (::close(fd_) != 0) {
        fd_ = -1;
        throw IoError(path_message(target_.string(), "close failed: " + errno_text()));
    }
    fd_ = -1;
    if (::rename(temp_.c_str(), target_.c_str()) != 0)
        throw IoError(path_message(target_.string(), "rename failed: " + errno_text()));
    committed_ = true;
    fsync_dir(target_.parent_path());
}

void write_file_atomic(const fs::path& path, std::string_view bytes)
{
    AtomicFileWriter writer(path);
    writer.write(bytes);
    writer.commit();
}

std::vector<std::uint8_t> read_file_bytes(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw IoError(path_message(path.string(), "cannot open for reading"));
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
    if (in.bad())
        throw IoError(path_message(path.string(), "read failed"));
    return bytes;
}

std::string read_file_text(const fs::path& path)
{
    const auto bytes = read_file_bytes(path);
    return std::string(bytes.begin(), bytes.end());
}

} // namespace psa
