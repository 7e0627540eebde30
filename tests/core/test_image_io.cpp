// SPDX-License-Identifier: GPL-3.0-or-later
// Images through OpenCV and PNG text chunks: tensor <-> image, PNG/JPEG/WebP, tEXt vs iTXt, and the
// A1111 `parameters` plus our `psa` JSON read back intact with a non-Latin-1 prompt.
#include "common/a1111_parameters.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "support/test_support.h"
#include "tensor_io/image_tensor.h"
#include "tensor_io/png_text.h"

#include <QtTest>
#include <torch/torch.h>

using namespace psa;
namespace fs = std::filesystem;

namespace {

Image gradient(int w, int h)
{
    Image img;
    img.width = w;
    img.height = h;
    img.rgb.resize(static_cast<size_t>(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            auto* p = img.pixel(x, y);
            p[0] = static_cast<std::uint8_t>(x * 255 / std::max(1, w - 1));
            p[1] = static_cast<std::uint8_t>(y * 255 / std::max(1, h - 1));
            p[2] = static_cast<std::uint8_t>((x + y) % 256);
        }
    return img;
}

size_t count_chunks(const std::vector<std::uint8_t>& png, const std::string& type)
{
    size_t n = 0;
    for (size_t i = 8; i + 8 <= png.size();) {
        const std::uint32_t len = (png[i] << 24) | (png[i + 1] << 16) | (png[i + 2] << 8) | png[i + 3];
        if (std::string(reinterpret_cast<const char*>(&png[i + 4]), 4) == type)
            ++n;
        i += 12 + len;
    }
    return n;
}

} // namespace

class TestImageIo : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void tensor_image_round_trip()
    {
        const auto img = gradient(17, 9);
        const auto t = image_to_tensor(img);
        QCOMPARE(t.sizes().vec(), (std::vector<int64_t>{3, 9, 17}));
        QVERIFY(t.min().item<float>() >= 0.0f && t.max().item<float>() <= 1.0f);
        const auto back = tensor_to_image(t);
        QCOMPARE(back.rgb, img.rgb);
    }

    void conversion_clamps_and_rounds_half_to_even()
    {
        // 0.5/255 -> 0.5 -> rounds to 0; 1.5/255 -> 2; out-of-range values clamp.
        auto t = torch::tensor({0.5f / 255.f, 1.5f / 255.f, -1.0f, 2.0f}).reshape({1, 1, 4}).expand({3, 1, 4});
        const auto img = tensor_to_image(t);
        QCOMPARE(int(img.pixel(0, 0)[0]), 0);
        QCOMPARE(int(img.pixel(1, 0)[0]), 2);
        QCOMPARE(int(img.pixel(2, 0)[0]), 0);
        QCOMPARE(int(img.pixel(3, 0)[0]), 255);
    }

    void formats_round_trip_data()
    {
        QTest::addColumn<QString>("ext");
        QTest::addColumn<int>("tolerance");
        QTest::newRow("png") << ".png" << 0;
        QTest::newRow("jpeg") << ".jpg" << 40;
        QTest::newRow("webp") << ".webp" << 40;
    }
    void formats_round_trip()
    {
        QFETCH(QString, ext);
        QFETCH(int, tolerance);
        test::TempDir dir;
        const auto path = dir / ("img" + ext.toStdString());
        const auto img = gradient(32, 24);
        save_image(path, img);
        const auto back = load_image(path);
        QCOMPARE(back.width, 32);
        QCOMPARE(back.height, 24);
        int worst = 0;
        for (size_t i = 0; i < img.rgb.size(); ++i)
            worst = std::max(worst, std::abs(int(img.rgb[i]) - int(back.rgb[i])));
        QVERIFY2(worst <= tolerance, qPrintable(QString("max diff %1").arg(worst)));
    }

    void png_metadata_round_trip_with_non_latin1_prompt()
    {
        test::TempDir dir;
        const auto path = dir / "out.png";
        A1111Parameters p;
        p.prompt = "東京の夜景, neon — ünïcödé ✓";
        p.negative_prompt = "blurry";
        p.fields = {{"Steps", "30"}, {"Sampler", "Euler a"}, {"CFG scale", "7"}, {"Seed", "7"}};
        const std::string parameters = format_a1111_parameters(p);
        const std::string psa_json = R"({"prompt":"東京の夜景","seed":7,"level":3})";
        save_image(path, gradient(8, 8), {{"parameters", parameters}, {"psa", psa_json}});

        const auto bytes = read_file_bytes(path);
        QCOMPARE(count_chunks(bytes, "iTXt"), size_t(2)); // neither text is Latin-1
        const auto text = read_image_text(path);
        QCOMPARE(text.at("parameters"), parameters);
        QCOMPARE(text.at("psa"), psa_json);
        QCOMPARE(parse_a1111_parameters(text.at("parameters")).prompt, p.prompt);
        QCOMPARE(load_image(path).rgb, gradient(8, 8).rgb); // pixels untouched
    }

    void latin1_text_uses_tEXt_and_replaces_same_keyword()
    {
        test::TempDir dir;
        const auto path = dir / "l.png";
        save_image(path, gradient(4, 4), {{"parameters", "café au lait"}, {"Comment", "first"}});
        auto bytes = read_file_bytes(path);
        QCOMPARE(count_chunks(bytes, "tEXt"), size_t(2));
        QCOMPARE(count_chunks(bytes, "iTXt"), size_t(0));
        QCOMPARE(read_image_text(path).at("parameters"), std::string("café au lait"));
        // Re-tagging replaces the old chunk instead of adding a second one.
        const auto again = png_with_text(bytes, {{"Comment", "second"}}, "l.png");
        QCOMPARE(count_chunks(again, "tEXt"), size_t(2));
        QCOMPARE(png_read_text(again, "l.png").at("Comment"), std::string("second"));
    }

    void bad_inputs_are_named()
    {
        test::TempDir dir;
        test::write_bytes(dir / "junk.png", "this is not an image");
        QVERIFY_THROWS_EXCEPTION(IoError, load_image(dir / "junk.png"));
        QVERIFY(read_image_text(dir / "junk.png").empty()); // not a PNG: no text, no error
        QVERIFY_THROWS_EXCEPTION(IoError, save_image(dir / "x.gif", gradient(2, 2)));
        QVERIFY_THROWS_EXCEPTION(IoError, save_image(dir / "x.png", Image{}));
        std::vector<std::uint8_t> truncated = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H'};
        try {
            png_read_text(truncated, "t.png");
            QFAIL("expected IoError");
        } catch (const IoError& e) {
            QVERIFY(std::string(e.what()).find("t.png: PNG truncated") == 0);
        }
        QVERIFY_THROWS_EXCEPTION(IoError, png_with_text(truncated, {{"k", "v"}}, "t.png"));
        try {
            save_image(dir / "k.png", gradient(2, 2), {{std::string(80, 'k'), "v"}});
            QFAIL("expected IoError");
        } catch (const IoError& e) {
            QVERIFY(std::string(e.what()).find("keyword") != std::string::npos);
        }
        QVERIFY(!fs::exists(dir / "k.png"));
    }
};

QTEST_APPLESS_MAIN(TestImageIo)
#include "test_image_io.moc"
