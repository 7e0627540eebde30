// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <QString>
#include <QStringList>

#include <filesystem>

namespace psa::test {

/// $PSA_FIXTURES, else <repo>/../shared/fixtures. Parity tests fail (QFAIL) rather than skip when
/// the folder is missing: call require_fixtures_dir().
std::filesystem::path fixtures_dir();
/// $PSA_SHARED, else <repo>/../shared.
std::filesystem::path shared_dir();
/// The repository root (for resources and sources).
std::filesystem::path source_dir();
/// The message of the `E` that `f` throws, or an empty string when it throws none.
template <typename E, typename F>
QString error_of(F&& f)
{
    try {
        f();
    } catch (const E& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

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

/// The `psa` binary the CLI tests run: $PSA_CLI (set by tests/CMakeLists.txt); empty when unset.
QString psa_cli();

/// One finished run of the `psa` binary: exit code and what it printed.
struct CliRun {
    int code = -1;
    QString out, err;
};
/// Runs psa_cli() with `args` and waits for it (at most 10 minutes; ctest's timeout is the real
/// limit).
CliRun run_psa(const QStringList& args);

/// Writes raw bytes (test inputs we build ourselves, malformed files included).
void write_bytes(const std::filesystem::path& path, const std::string& bytes);

} // namespace psa::test
