// SPDX-License-Identifier: GPL-3.0-or-later
// The `psa` executable end to end: exit codes and the one-line error contract.
#include "support/test_support.h"
#include "tensor_io/safetensors.h"

#include <QtTest>
#include <torch/torch.h>

namespace fs = std::filesystem;
using psa::test::run_psa;

class TestCli : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QVERIFY2(!qgetenv("PSA_CLI").isEmpty(), "PSA_CLI must name the psa binary"); }

    void inspect_lists_tensors_metadata_and_parameters()
    {
        psa::test::TempDir dir;
        const auto path = dir / "m.safetensors";
        psa::save_safetensors(path, {{"w", torch::zeros({3, 4})}, {"b", torch::zeros({4}, torch::kBFloat16)}},
                              {{"base_model", "tiny"}});
        const auto r = run_psa({"inspect", QString::fromStdString(path.string())});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains(QRegularExpression("w\\s+F32\\s+\\[3, 4\\]")));
        QVERIFY(r.out.contains(QRegularExpression("b\\s+BF16\\s+\\[4\\]")));
        QVERIFY(r.out.contains("base_model: tiny"));
        QVERIFY(r.out.contains("parameters: 16"));
    }

    void inspect_malformed_file_prints_one_error_line()
    {
        psa::test::TempDir dir;
        const auto path = dir / "broken.safetensors";
        psa::test::write_bytes(path, std::string("\x10\0\0\0\0\0\0\0{\"a\":", 14));
        const auto r = run_psa({"inspect", QString::fromStdString(path.string())});
        QCOMPARE(r.code, 1);
        const QStringList lines = r.err.trimmed().split('\n');
        QCOMPARE(lines.size(), 1);
        QVERIFY(lines.front().startsWith("error: "));
        QVERIFY(lines.front().contains("broken.safetensors"));
        QVERIFY(r.out.isEmpty());
    }

    void inspect_missing_file_and_bad_usage()
    {
        auto r = run_psa({"inspect", "/nonexistent/model.safetensors"});
        QCOMPARE(r.code, 1);
        QVERIFY(r.err.contains("no such file"));
        r = run_psa({"inspect"});
        QCOMPARE(r.code, 1);
        r = run_psa({"inspect", "--bogus", "x"});
        QCOMPARE(r.code, 1);
        QVERIFY(r.err.contains("unknown option --bogus"));
        r = run_psa({"frobnicate"});
        QCOMPARE(r.code, 1);
        QVERIFY(r.err.contains("unknown command"));
    }

    void inspect_reads_npy()
    {
        const auto path = psa::test::shared_dir() / "data" / "psalign" / "0000001.npy";
        if (!fs::exists(path))
            QSKIP("PSAlign data not present next to the checkout");
        const auto r = run_psa({"inspect", QString::fromStdString(path.string())});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains("NumPy array"));
    }
};

QTEST_APPLESS_MAIN(TestCli)
#include "test_cli.moc"
