// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <QString>

#include <filesystem>

namespace psa::test {

/// $PSA_FIXTURES, else <repo>/../shared/fixtures. Parity tests fail (QFAIL) rather than skip when
/// the folder is missing: call require_fixtures_dir().
std::filesystem::path fixtures_dir();
/// $PSA_SHARED, else <repo>/../shared.
std::filesystem::path shared_dir();
/// The repository root (for resources and sources).
std::filesystem::path source_dir();
/// A fresh empty folder under the system temp dir, removed by the destructor.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

/// Writes raw bytes (test inputs we build ourselves, malformed files included).
void write_bytes(const std::filesystem::path& path, const std::string& bytes);

} // namespace psa::test
