// SPDX-License-Identifier: GPL-3.0-or-later
// Helpers for parity tests against the reference fixtures.
#pragma once
#include "support/test_support.h"
#include "tensor_io/safetensors.h"

#include <QtTest>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>

namespace psa::test {

/// The fixtures folder, failing the test (never skipping) when it does not exist.
inline std::filesystem::path require_fixtures()
{
    const auto dir = fixtures_dir();
    if (!std::filesystem::is_directory(dir))
        qFatal("PSA_FIXTURES folder %s does not exist: parity tests cannot run", dir.string().c_str());
    return dir;
}

inline nlohmann::json read_json(const std::filesystem::path& p)
{
    std::ifstream in(p);
    return nlohmann::json::parse(in);
}

/// max |a - b| in float64.
inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b)
{
    return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

/// Compares and reports one tensor against its fixture within `tol`.
#define PSA_COMPARE_TENSOR(name, got, expected, tol)                                               \
    do {                                                                                           \
        const auto g_ = (got).detach().to(torch::kCPU);                                           \
        const auto e_ = (expected).detach().to(torch::kCPU);                                      \
        QVERIFY2(g_.sizes() == e_.sizes(),                                                         \
                 qPrintable(QString("%1: shape mismatch").arg(QString::fromStdString(name))));     \
        const double d_ = ::psa::test::max_abs_diff(g_, e_);                                      \
        qInfo("%-40s max |diff| %.3g (tol %.0e)", std::string(name).c_str(), d_, double(tol));     \
        QVERIFY2(d_ <= (tol), qPrintable(QString("%1: %2 > %3").arg(QString::fromStdString(name))  \
                                             .arg(d_).arg(tol)));                                  \
    } while (0)

} // namespace psa::test
