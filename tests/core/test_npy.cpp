// SPDX-License-Identifier: GPL-3.0-or-later
// .npy reading: versions 1-3, f2/f4/f8, clear refusals, and the released reference embeddings.
#include "common/error.h"
#include "support/test_support.h"
#include "tensor_io/npy.h"

#include <QtTest>
#include <torch/torch.h>

using namespace psa;
namespace fs = std::filesystem;

namespace {

// Builds an .npy file the way numpy.lib.format does: the header dict padded with spaces so that
// magic + length + header is a multiple of 64, ending in '\n'.
std::string npy_bytes(int version, const std::string& dict, const std::string& data)
{
    const size_t prefix = version == 1 ? 10 : 12;
    std::string header = dict;
    while ((prefix + header.size() + 1) % 64 != 0)
        header += ' ';
    header += '\n';
    std::string out = "\x93NUMPY";
    out += static_cast<char>(version);
    out += '\0';
    const size_t n = header.size();
    out += static_cast<char>(n & 0xff);
    out += static_cast<char>((n >> 8) & 0xff);
    if (version != 1) {
        out += static_cast<char>((n >> 16) & 0xff);
        out += static_cast<char>((n >> 24) & 0xff);
    }
    return out + header + data;
}

std::string raw(const torch::Tensor& t)
{
    auto c = t.contiguous();
    return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

} // namespace

class TestNpy : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void reads_versions_and_float_types_data()
    {
        QTest::addColumn<int>("version");
        QTest::addColumn<QString>("descr");
        QTest::addColumn<int>("type");
        for (int v : {1, 2, 3}) {
            QTest::addRow("v%d f2", v) << v << "<f2" << int(torch::kFloat16);
            QTest::addRow("v%d f4", v) << v << "<f4" << int(torch::kFloat32);
            QTest::addRow("v%d f8", v) << v << "<f8" << int(torch::kFloat64);
        }
    }
    void reads_versions_and_float_types()
    {
        QFETCH(int, version);
        QFETCH(QString, descr);
        QFETCH(int, type);
        const auto t = torch::linspace(-3, 3, 24).reshape({2, 3, 4}).to(static_cast<c10::ScalarType>(type));
        test::TempDir dir;
        const auto path = dir / "a.npy";
        test::write_bytes(path, npy_bytes(version, "{'descr': '" + descr.toStdString() +
                                                       "', 'fortran_order': False, 'shape': (2, 3, 4), }",
                                          raw(t)));
        const auto back = load_npy(path);
        QCOMPARE(back.scalar_type(), t.scalar_type());
        QCOMPARE(back.sizes().vec(), t.sizes().vec());
        QVERIFY(torch::equal(back, t));
    }

    void one_dim_and_scalar_shapes()
    {
        test::TempDir dir;
        const auto t = torch::arange(5, torch::kFloat32);
        test::write_bytes(dir / "v.npy", npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", raw(t)));
        QCOMPARE(load_npy(dir / "v.npy").sizes().vec(), std::vector<int64_t>{5});
        test::write_bytes(dir / "s.npy", npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                                                   raw(torch::tensor({7.0f}))));
        QCOMPARE(load_npy(dir / "s.npy").dim(), int64_t(0));
    }

    void refusals_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("expected");
        const std::string four(16, '\0');
        auto row = [](const char* n, const std::string& b, const char* e) {
            QTest::newRow(n) << QByteArray::fromStdString(b) << QString(e);
        };
        row("fortran order", npy_bytes(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four),
            "Fortran order");
        row("pickled objects", npy_bytes(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", four),
            "pickled");
        row("big endian", npy_bytes(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", four),
            "big-endian");
        row("complex", npy_bytes(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", four),
            "unsupported dtype");
        row("short data", npy_bytes(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", four),
            "needs 20");
        row("not npy", std::string("PK\x03\x04 zip file"), "magic");
        row("version 9", npy_bytes(1, "{}", "").replace(6, 1, "\x09"), "version 9");
    }
    void refusals()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, expected);
        test::TempDir dir;
        const auto path = dir / "bad.npy";
        test::write_bytes(path, bytes.toStdString());
        try {
            load_npy(path);
            QFAIL("expected IoError");
        } catch (const IoError& e) {
            const std::string msg = e.what();
            QVERIFY2(msg.find("bad.npy") != std::string::npos, msg.c_str());
            QVERIFY2(msg.find(expected.toStdString()) != std::string::npos, msg.c_str());
        }
    }

    void reads_released_reference_embedding()
    {
        const auto path = test::shared_dir() / "data" / "psalign" / "0000002.npy";
        if (!fs::exists(path))
            QSKIP("PSAlign data not present next to the checkout");
        const auto t = load_npy(path);
        QCOMPARE(t.dim(), int64_t(1));
        QVERIFY(t.size(0) > 0);
        QCOMPARE(t.scalar_type(), torch::kFloat32);
        QVERIFY(torch::isfinite(t).all().item<bool>());
    }
};

QTEST_APPLESS_MAIN(TestNpy)
#include "test_npy.moc"
