// SPDX-License-Identifier: GPL-3.0-or-later
// safetensors read/write: every dtype round trips, views are zero-copy, every malformed header is
// refused with a message naming the file and the fault, and nothing crashes.
#include "common/error.h"
#include "support/test_support.h"
#include "tensor_io/safetensors.h"

#include <QtTest>
#include <torch/torch.h>

using namespace psa;
namespace fs = std::filesystem;

namespace {

std::string le64(std::uint64_t n)
{
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i)
        s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return s;
}

// A file with the given header text and `data_bytes` zero bytes of data.
std::string raw_file(const std::string& header, size_t data_bytes)
{
    return le64(header.size()) + header + std::string(data_bytes, '\0');
}

} // namespace

class TestSafetensors : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void every_dtype_round_trips_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<QString>("name");
        const std::pair<c10::ScalarType, const char*> types[] = {
            {torch::kFloat64, "F64"}, {torch::kFloat32, "F32"}, {torch::kFloat16, "F16"},
            {torch::kBFloat16, "BF16"}, {torch::kInt64, "I64"}, {torch::kInt32, "I32"},
            {torch::kInt16, "I16"}, {torch::kInt8, "I8"}, {torch::kUInt8, "U8"},
            {torch::kBool, "BOOL"}};
        for (const auto& [t, n] : types)
            QTest::newRow(n) << static_cast<int>(t) << QString(n);
    }
    void every_dtype_round_trips()
    {
        QFETCH(int, type);
        QFETCH(QString, name);
        const auto st = static_cast<c10::ScalarType>(type);
        test::TempDir dir;
        const auto path = dir / "t.safetensors";
        torch::manual_seed(1);
        auto source = (torch::randn({3, 5, 7}) * 50).to(st);
        auto scalar = torch::tensor(3).to(st).reshape({});
        auto empty = torch::empty({0, 4}, torch::TensorOptions().dtype(st));
        save_safetensors(path, {{"x", source}, {"scalar", scalar}, {"empty", empty}},
                         {{"format", "pt"}, {"note", "héllo"}});
        const auto f = SafetensorsFile::open(path);
        QCOMPARE(f.info("x").dtype, name.toStdString());
        const auto back = f.tensor("x");
        QCOMPARE(back.scalar_type(), st);
        QCOMPARE(back.sizes().vec(), source.sizes().vec());
        QVERIFY(torch::equal(back, source));
        QCOMPARE(f.tensor("scalar").dim(), int64_t(0));
        QVERIFY(torch::equal(f.tensor("scalar"), scalar));
        QCOMPARE(f.tensor("empty").numel(), int64_t(0));
        QCOMPARE(f.metadata().at("note"), std::string("héllo"));
    }

    void views_share_the_mapping()
    {
        test::TempDir dir;
        const auto path = dir / "big.safetensors";
        save_safetensors(path, {{"a", torch::arange(1000, torch::kFloat32)},
                                {"b", torch::ones({10, 10}, torch::kFloat16)}});
        at::Tensor a;
        {
            const auto f = SafetensorsFile::open(path);
            QVERIFY(f.is_zero_copy("a"));
            a = f.tensor("a");
            const auto* begin = f.data_begin();
            const auto* ptr = static_cast<const std::uint8_t*>(a.data_ptr());
            QVERIFY(ptr >= begin && ptr < begin + f.data_size()); // a view, not a copy
            QCOMPARE(ptr, begin + f.info("a").begin);
        }
        // The tensor keeps the mapping alive after the file object is gone.
        QCOMPARE(a[999].item<float>(), 999.0f);
        // In-place edits are copy-on-write: the file does not change.
        a.mul_(2);
        const auto again = SafetensorsFile::open(path).tensor("a");
        QCOMPARE(again[999].item<float>(), 999.0f);
    }

    void misaligned_data_is_copied_correctly()
    {
        test::TempDir dir;
        const auto path = dir / "odd.safetensors";
        // Header of odd length and no padding: the F32 data starts misaligned.
        std::string header = R"({"v":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
        if ((8 + header.size()) % 4 == 0)
            header += " ";
        float vals[2] = {1.5f, -2.25f};
        test::write_bytes(path, le64(header.size()) + header + std::string(reinterpret_cast<char*>(vals), 8));
        const auto f = SafetensorsFile::open(path);
        QVERIFY(!f.is_zero_copy("v"));
        const auto t = f.tensor("v");
        QCOMPARE(t[0].item<float>(), 1.5f);
        QCOMPARE(t[1].item<float>(), -2.25f);
    }

    void malformed_files_are_refused_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("expected");
        auto row = [](const char* name, const std::string& bytes, const char* expected) {
            QTest::newRow(name) << QByteArray::fromStdString(bytes) << QString(expected);
        };
        const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
        row("empty file", "", "too small");
        row("short file", "abc", "too small");
        row("header over 100 MB", le64(200ull * 1000 * 1000) + "{}", "100 MB");
        row("header longer than file", le64(1000) + "{}", "larger than the");
        row("invalid json", raw_file("{\"a\": [1, 2", 0), "not valid JSON");
        row("json not object", raw_file("[1,2,3]", 0), "must be a JSON object");
        row("unknown dtype", raw_file(R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2),
            "unknown dtype \"F8_E4M3\"");
        row("missing dtype", raw_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), "dtype");
        row("negative dim", raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
            "negative dimension");
        row("numel overflow",
            raw_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8),
            "overflows");
        row("bytes overflow",
            raw_file(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8),
            "overflows");
        row("offsets past data", raw_file("{" + ok_entry + "}", 4), "reach past the data section");
        row("offsets reversed", raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
            "end before they begin");
        row("size mismatch", raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 16),
            "needs 12");
        row("overlap",
            raw_file("{" + ok_entry + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
            "overlap");
        row("duplicate names", raw_file("{" + ok_entry + "," + ok_entry + "}", 8), "more than once");
        row("bad offsets type", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":"0-8"}})", 8),
            "data_offsets");
        row("metadata not strings", raw_file(R"({"__metadata__":{"k":1}})", 0), "not a string");
    }
    void malformed_files_are_refused()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QString, expected);
        test::TempDir dir;
        const auto path = dir / "bad.safetensors";
        test::write_bytes(path, bytes.toStdString());
        try {
            SafetensorsFile::open(path);
            QFAIL("expected IoError");
        } catch (const IoError& e) {
            const std::string msg = e.what();
            QVERIFY2(msg.find(path.string()) == 0, msg.c_str());
            QVERIFY2(msg.find(expected.toStdString()) != std::string::npos, msg.c_str());
        }
    }

    void missing_file_and_tensor_are_named()
    {
        test::TempDir dir;
        QVERIFY_THROWS_EXCEPTION(IoError, SafetensorsFile::open(dir / "nope.safetensors"));
        save_safetensors(dir / "a.safetensors", {{"x", torch::zeros({1})}});
        try {
            SafetensorsFile::open(dir / "a.safetensors").tensor("y");
            QFAIL("expected IoError");
        } catch (const IoError& e) {
            QVERIFY(std::string(e.what()).find("\"y\"") != std::string::npos);
        }
    }

    void writer_refuses_duplicates_and_keeps_old_file()
    {
        test::TempDir dir;
        const auto path = dir / "w.safetensors";
        save_safetensors(path, {{"x", torch::ones({2})}});
        QVERIFY_THROWS_EXCEPTION(IoError, save_safetensors(path, {{"x", torch::zeros({2})},
                                                                  {"x", torch::zeros({2})}}));
        QVERIFY_THROWS_EXCEPTION(IoError, save_safetensors(path, {{"c", torch::zeros({2}, torch::kComplexFloat)}}));
        QVERIFY(torch::equal(SafetensorsFile::open(path).tensor("x"), torch::ones({2})));
        QCOMPARE(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1L);
    }

    void writer_pads_header_to_eight_bytes()
    {
        test::TempDir dir;
        const auto path = dir / "p.safetensors";
        save_safetensors(path, {{"abc", torch::ones({3}, torch::kFloat64)}}, {{"k", "v"}});
        const auto f = SafetensorsFile::open(path);
        QCOMPARE((f.file_size() - f.data_size()) % 8, std::uint64_t(0));
        QVERIFY(f.is_zero_copy("abc"));
    }

    void reads_fixture_files()
    {
        const auto dir = test::fixtures_dir();
        if (!fs::exists(dir))
            QFAIL(qPrintable("fixtures folder missing: " + QString::fromStdString(dir.string())));
        // Every tensor of a real diffusers file reads as a finite view of the right size.
        const auto f = SafetensorsFile::open(dir / "tiny-sd" / "unet" / "diffusion_pytorch_model.safetensors");
        QVERIFY(!f.tensors().empty());
        for (const auto& info : f.tensors()) {
            const auto t = f.tensor(info.name);
            QCOMPARE(t.numel(), info.numel());
            QVERIFY2(torch::isfinite(t).all().item<bool>(), info.name.c_str());
        }
    }
};

QTEST_APPLESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
