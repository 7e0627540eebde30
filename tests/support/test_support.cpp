// SPDX-License-Identifier: GPL-3.0-or-later
#include "support/test_support.h"

#include <QProcess>

#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace psa::test {

namespace fs = std::filesystem;

fs::path shared_dir()
{
    if (const char* env = std::getenv("PSA_SHARED"); env && *env)
        return env;
    return fs::weakly_canonical(fs::path(PSA_DEFAULT_SHARED));
}

fs::path fixtures_dir()
{
    if (const char* env = std::getenv("PSA_FIXTURES"); env && *env)
        return env;
    return shared_dir() / "fixtures";
}

fs::path source_dir() { return PSA_TEST_SOURCE_DIR; }

TempDir::TempDir()
{
    std::random_device rd;
    for (int i = 0; i < 100; ++i) {
        auto p = fs::temp_directory_path() / ("psa-test-" + std::to_string(rd()));
        if (fs::create_directory(p)) {
            path_ = p;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir()
{
    std::error_code ec;
    fs::remove_all(path_, ec);
}

void write_bytes(const fs::path& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

QString psa_cli()
{
    return QString::fromLocal8Bit(qgetenv("PSA_CLI"));
}

CliRun run_psa(const QStringList& args)
{
    QProcess p;
    p.start(psa_cli(), args);
    p.waitForFinished(600000);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

} // namespace psa::test
