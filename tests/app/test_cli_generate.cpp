// SPDX-License-Identifier: GPL-3.0-or-later
// `psa generate`, `psa previews` and `psa profile` end to end on the tiny fixture model: PNGs with
// their settings, one-line errors with exit code 1, and Ctrl-C stopping without a written file.
#include "adapter/adapter_io.h"
#include "pipeline/components.h"
#include "profiles/profile_encoder.h"
#include "support/parity.h"
#include "tensor_io/image_tensor.h"

#include <QProcess>
#include <QtTest>
#include <torch/torch.h>

#include <csignal>

namespace fs = std::filesystem;
using psa::test::run_psa;

namespace {

QString tiny() { return QString::fromStdString((psa::test::require_fixtures() / "tiny-sd").string()); }

std::vector<fs::path> pngs(const fs::path& dir)
{
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

class TestCliGenerate : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { QVERIFY2(!psa::test::psa_cli().isEmpty(), "PSA_CLI must name the psa binary"); }

    void generate_writes_pngs_with_settings()
    {
        psa::test::TempDir dir;
        const auto r = run_psa({"generate", "--model", tiny(), "--prompt", "a lighthouse — ünïcode", "--negative",
                                "blurry", "--seed", "42", "--steps", "3", "--sampler", "euler-a", "--batch", "2",
                                "--device", "cpu", "--out", QString::fromStdString(dir.path().string())});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(r.err.contains("step 3/3"));
        const auto files = pngs(dir.path());
        QCOMPARE(files.size(), size_t(2));
        const auto text = psa::read_image_text(files[0]);
        QVERIFY(text.at("parameters").find("a lighthouse — ünïcode\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a") == 0);
        QVERIFY(text.at("parameters").find("Seed: 42") != std::string::npos);
        const auto meta = nlohmann::json::parse(text.at("psa"));
        QCOMPARE(meta["seed"].get<int>(), 42);
        QCOMPARE(meta["sampler"].get<std::string>(), std::string("euler-a"));
        QVERIFY(psa::read_image_text(files[1]).at("parameters").find("Seed: 43") != std::string::npos);
        QCOMPARE(psa::load_image(files[0]).width, 16);
    }

    void bad_input_is_one_line_and_exit_1_data()
    {
        QTest::addColumn<QStringList>("extra");
        QTest::addColumn<QString>("expected");
        QTest::newRow("width") << QStringList{"--width", "13"} << "width: 13 is not a multiple of";
        QTest::newRow("zero steps") << QStringList{"--steps", "0"} << "steps: 0";
        QTest::newRow("sampler") << QStringList{"--sampler", "lms"} << "sampler: unknown \"lms\"";
        QTest::newRow("seed") << QStringList{"--seed", "-4"} << "--seed";
        QTest::newRow("cfg") << QStringList{"--cfg", "lots"} << "--cfg";
        QTest::newRow("level without adapter") << QStringList{"--level", "3"} << "needs a safety adapter";
    }
    void bad_input_is_one_line_and_exit_1()
    {
        QFETCH(QStringList, extra);
        QFETCH(QString, expected);
        psa::test::TempDir dir;
        const auto r = run_psa(QStringList{"generate", "--model", tiny(), "--prompt", "x", "--device", "cpu", "--out",
                                           QString::fromStdString(dir.path().string())} + extra);
        QCOMPARE(r.code, 1);
        const auto lines = r.err.trimmed().split('\n');
        QVERIFY2(lines.last().startsWith("error: ") && lines.last().contains(expected), qPrintable(r.err));
        QVERIFY(pngs(dir.path()).empty());
    }

    void missing_model_is_named()
    {
        psa::test::TempDir dir;
        const auto r = run_psa({"generate", "--model", "/no/such/model", "--prompt", "x", "--out",
                                QString::fromStdString(dir.path().string())});
        QCOMPARE(r.code, 1);
        QVERIFY(r.err.contains("/no/such/model: no such file or folder"));
    }

    void ctrl_c_stops_within_a_step_and_writes_nothing()
    {
        psa::test::TempDir dir;
        QProcess p;
        p.start(psa::test::psa_cli(), {"generate", "--model", tiny(), "--prompt", "x", "--steps", "1000", "--device", "cpu",
                            "--out", QString::fromStdString(dir.path().string())});
        QVERIFY(p.waitForStarted());
        QString err;
        QElapsedTimer t;
        t.start();
        while (!err.contains("step 3/") && t.elapsed() < 60000) {
            p.waitForReadyRead(200);
            err += QString::fromUtf8(p.readAllStandardError());
        }
        QVERIFY2(err.contains("step 3/"), qPrintable(err));
        ::kill(static_cast<pid_t>(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(30000));
        err += QString::fromUtf8(p.readAllStandardError());
        QCOMPARE(p.exitCode(), 130);
        QVERIFY(err.contains("stopped: nothing was written"));
        QVERIFY(pngs(dir.path()).empty()); // no image, no temporary file
    }

    void previews_write_each_level_and_a_strip()
    {
        psa::test::TempDir dir;
        // A structured multi-token adapter for the tiny model (random weights: we test the plumbing).
        psa::JobControl job;
        psa::LoadModelOptions lo;
        lo.device = "cpu";
        auto model = psa::load_model(psa::test::require_fixtures() / "tiny-sd", lo, job);
        const auto& cats = psa::CategorySet::builtin();
        auto config = psa::adapter_config_for(model->unet->cross_attention_layers(),
                                              psa::StructuredProfileEncoder::dim(cats), int64_t(cats.size()) + 1);
        for (const auto& c : cats.all())
            config.categories.push_back(c.id);
        psa::SafetyAdapter adapter(config);
        {
            torch::NoGradGuard g;
            for (auto& p : adapter->parameters())
                p.normal_(0, 0.2);
        }
        const auto adapter_path = dir / "adapter.safetensors";
        psa::save_adapter(adapter_path, *adapter);
        const auto out = dir / "out";
        const auto r = run_psa({"previews", "--model", tiny(), "--adapter", QString::fromStdString(adapter_path.string()),
                                "--prompt", "a garden", "--steps", "3", "--seed", "5", "--device", "cpu", "--out",
                                QString::fromStdString(out.string())});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto files = pngs(out);
        QCOMPARE(files.size(), size_t(7)); // L0..L5 and the strip
        int with_condition = 0;
        for (const auto& f : files) {
            const auto text = psa::read_image_text(f);
            if (f.filename().string().rfind("strip", 0) == 0) {
                QVERIFY(psa::load_image(f).width > 6 * 16);
                continue;
            }
            const auto meta = nlohmann::json::parse(text.at("psa"));
            QVERIFY(meta.contains("condition"));
            with_condition += meta["condition"]["label"].get<std::string>().size() == 2;
        }
        QCOMPARE(with_condition, 6);
        const auto l5 = nlohmann::json::parse(psa::read_image_text(out / "psa-5-L5.png").at("psa"));
        QCOMPARE(l5["condition"]["banned"].size(), cats.size());
    }

    void profile_commands()
    {
        psa::test::TempDir dir;
        const auto path = QString::fromStdString((dir / "kid.json").string());
        auto r = run_psa({"profile", "new", "--name", "Kid", "--age", "9", "--ban", "Hate", "--out", path});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = run_psa({"profile", "show", path});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.contains(QRegularExpression("Violence\\s+banned\\s+\\(under 18\\)")));
        QVERIFY(r.out.contains("Hate        banned   (set by the person"));
        psa::test::write_bytes(dir / "bad.json", R"({"name":"x","age":"old"})");
        r = run_psa({"profile", "show", QString::fromStdString((dir / "bad.json").string())});
        QCOMPARE(r.code, 1);
        QCOMPARE(r.err.trimmed().split('\n').size(), 1);
        QVERIFY(r.err.contains("field \"age\""));
        r = run_psa({"profile", "new", "--age", "200", "--out", path});
        QCOMPARE(r.code, 1);
        QVERIFY(r.err.contains("field \"age\": 200 is outside 0-100"));
    }
};

QTEST_APPLESS_MAIN(TestCliGenerate)
#include "test_cli_generate.moc"
