// SPDX-License-Identifier: GPL-3.0-or-later
// `psa train` and `psa world train-adapter` end to end on the tiny fixture model and a small
// generated world: a sitting that ends at its time budget exits 75 with a checkpoint, --resume
// continues it to the final adapter, --init-adapter fine-tunes an earlier run's adapter, and bad
// options are one-line errors naming the option.
#include "support/parity.h"
#include "tensor_io/safetensors.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include <algorithm>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using psa::test::run_psa;

namespace {

QString q(const fs::path& p) { return QString::fromStdString(p.string()); }

QString tiny() { return q(psa::test::require_fixtures() / "tiny-sd"); }

// The step-NNNNNNNN folders of a run; `newest_step` is the largest N (0 when none).
int checkpoint_count(const fs::path& run, int* newest_step = nullptr)
{
    int n = 0;
    if (newest_step)
        *newest_step = 0;
    if (fs::is_directory(run / "checkpoints"))
        for (const auto& e : fs::directory_iterator(run / "checkpoints")) {
            const auto name = e.path().filename().string();
            if (name.rfind("step-", 0) != 0)
                continue;
            ++n;
            if (newest_step)
                *newest_step = std::max(*newest_step, std::stoi(name.substr(5)));
        }
    return n;
}

} // namespace

class TestCliTrain : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY2(!psa::test::psa_cli().isEmpty(), "PSA_CLI must name the psa binary");
        world_ = std::make_unique<psa::test::TempDir>();
        const auto r = run_psa({"world", "generate", "--out", q(world_->path() / "w"), "--seed", "3", "--users", "6",
                                "--pairs-per-concept", "2", "--mixed", "4", "--plain", "2"});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY(fs::is_regular_file(world_->path() / "w" / "train" / "metadata.jsonl"));
    }

    void world_train_adapter_sits_resumes_and_finishes()
    {
        psa::test::TempDir dir;
        const auto run = dir.path() / "run";
        const QStringList common = {"--out", q(run), "--device", "cpu", "--checkpoint-every", "0"};
        // A budget of 0.6 s: loading fits, a few steps do not; the sitting stops with a checkpoint.
        auto r = run_psa(QStringList{"world", "train-adapter", "--data", q(world_->path() / "w"), "--model", tiny(),
                                     "--steps", "400", "--batch", "1", "--num-tokens", "2", "--minutes", "0.01"} +
                         common);
        QVERIFY2(r.code == 75, qPrintable(r.err));
        QVERIFY2(r.err.contains("time budget reached"), qPrintable(r.err));
        int stopped_at = 0;
        QCOMPARE(checkpoint_count(run, &stopped_at), 1);
        QVERIFY(stopped_at >= 1 && stopped_at < 400);
        QVERIFY(!fs::exists(run / "adapter.safetensors"));

        // Resumed with fewer steps (two past the sitting's, which depends on the machine's speed):
        // the stored settings (2 user tokens) hold, the run completes.
        r = run_psa({"world", "train-adapter", "--out", q(run), "--resume", "--steps", QString::number(stopped_at + 2)});
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("resuming at step"), qPrintable(r.err));
        QCOMPARE(r.out.trimmed(), q(run / "adapter.safetensors"));
        const auto adapter = psa::SafetensorsFile::open(run / "adapter.safetensors");
        QCOMPARE(adapter.metadata().at("num_tokens"), std::string("2"));
    }

    // The demo recipe's default layout: one user token per category of the world.
    void world_train_adapter_defaults_to_per_category_tokens()
    {
        psa::test::TempDir dir;
        const QStringList tiny_run = {"--model", tiny(), "--device", "cpu", "--steps", "2", "--batch", "1",
                                      "--checkpoint-every", "0", "--data", q(world_->path() / "w")};
        auto r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "a")} + tiny_run);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto adapter = psa::SafetensorsFile::open(dir.path() / "a" / "adapter.safetensors");
        QCOMPARE(adapter.metadata().at("token_layout"), std::string("per-category"));
        // ... with the anchor over allowed pairs and ban mixing, which a dense layout drops.
        const auto demo = psa::test::read_json(dir.path() / "a" / "config.json");
        QCOMPARE(demo.at("anchor_scope").get<std::string>(), std::string("allowed"));
        QCOMPARE(demo.at("ban_mixing").get<double>(), 1.0);
        // ... the caption start and the counterpart term over banned pairs (seventeenth round).
        QCOMPARE(demo.at("token_start").get<std::string>(), std::string("captions"));
        QCOMPARE(demo.at("counterpart_weight").get<double>(), 5.0);
        QCOMPARE(demo.at("counterpart_pairs").get<std::string>(), std::string("banned"));
        r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "d"), "--num-tokens", "1"} + tiny_run);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto dense = psa::test::read_json(dir.path() / "d" / "config.json");
        QCOMPARE(dense.at("ban_mixing").get<double>(), 0.0);
        QCOMPARE(dense.at("token_start").get<std::string>(), std::string("random"));
        r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "e"), "--num-tokens", "1",
                                "--ban-mixing", "0.5"} +
                    tiny_run);
        QVERIFY2(r.code != 0 && r.err.contains("ban_mixing"), qPrintable(r.err));
        // The caption start is a per-category option and lands in the run's config.
        r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "f"), "--num-tokens", "1",
                                "--token-start", "captions"} +
                    tiny_run);
        QVERIFY2(r.code != 0 && r.err.contains("token_start") && r.err.contains("per-category"), qPrintable(r.err));
        r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "g"), "--token-start", "captions",
                                "--freeze-user-keys", "--routing-weight", "2", "--own-user-query"} +
                    tiny_run);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto frozen = psa::test::read_json(dir.path() / "g" / "config.json");
        QVERIFY(frozen.at("own_user_query").get<bool>());
        QVERIFY(psa::SafetensorsFile::open(dir.path() / "g" / "adapter.safetensors")
                    .contains("psa_adapter.0.to_q_user.0.weight"));
        QCOMPARE(frozen.at("token_start").get<std::string>(), std::string("captions"));
        QVERIFY(frozen.at("freeze_user_keys").get<bool>());
        QCOMPARE(frozen.at("routing_weight").get<double>(), 2.0);
        {
            // The routing term's cross-entropy is logged with every step.
            std::ifstream log(dir.path() / "g" / "train_log.jsonl");
            std::string line;
            QVERIFY(std::getline(log, line) && line.find("\"routing\"") != std::string::npos);
        }
        r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "i"), "--num-tokens", "1",
                                "--routing-weight", "1"} +
                    tiny_run);
        QVERIFY2(r.code != 0 && r.err.contains("routing_weight") && r.err.contains("per-category"), qPrintable(r.err));
        // Frozen keys need a start worth keeping: the random start's are zero.
        r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "h"), "--token-start", "random",
                                "--freeze-user-keys"} +
                    tiny_run);
        QVERIFY2(r.code != 0 && r.err.contains("freeze_user_keys"), qPrintable(r.err));
        const auto categories =
            QJsonDocument::fromJson(QByteArray::fromStdString(adapter.metadata().at("categories"))).array().size();
        QVERIFY(categories >= 2);
        QCOMPARE(adapter.metadata().at("num_tokens"), std::to_string(categories));

        r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "b"), "--token-layout",
                                "per-category", "--num-tokens", "2"} +
                    tiny_run);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--num-tokens and --token-layout per-category"), qPrintable(r.err));
        r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "b"), "--token-layout", "sparse"} +
                    tiny_run);
        QVERIFY2(r.code != 0 && r.err.contains("token_layout") && r.err.contains("sparse"), qPrintable(r.err));
        QVERIFY(!fs::exists(dir.path() / "b" / "adapter.safetensors"));
        // Precomputed embeddings carry no per-category bans: they select the dense layout, so the
        // run gets as far as the (here missing) embedding files instead of refusing the layout.
        fs::create_directories(dir.path() / "embeds");
        r = run_psa(QStringList{"world", "train-adapter", "--out", q(dir.path() / "c"), "--embeds",
                                q(dir.path() / "embeds")} +
                    tiny_run);
        QVERIFY2(r.code == 1 && r.err.contains(".npy") && !r.err.contains("token_layout"), qPrintable(r.err));
    }

    void world_train_adapter_starts_from_an_adapter_file()
    {
        psa::test::TempDir dir;
        const QStringList tiny_run = {"--model", tiny(), "--device", "cpu", "--steps", "2", "--batch", "1",
                                      "--checkpoint-every", "0"};
        const QString world = q(world_->path() / "w");
        auto r = run_psa(QStringList{"world", "train-adapter", "--data", world, "--out", q(dir.path() / "first"),
                                     "--num-tokens", "2"} +
                         tiny_run);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const QString start = q(dir.path() / "first" / "adapter.safetensors");

        // Fine-tuning it: the file decides the user tokens (the demo recipe's default is one per
        // category).
        const auto second = dir.path() / "second";
        r = run_psa(QStringList{"world", "train-adapter", "--data", world, "--out", q(second), "--init-adapter", start} +
                    tiny_run);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        QVERIFY2(r.err.contains("starting from the adapter " + start + " (2 user tokens)"), qPrintable(r.err));
        QCOMPARE(r.out.trimmed(), q(second / "adapter.safetensors"));
        const auto adapter = psa::SafetensorsFile::open(second / "adapter.safetensors");
        QCOMPARE(adapter.metadata().at("num_tokens"), std::string("2"));
        QCOMPARE(adapter.metadata().at("token_layout"), std::string("dense"));
        QFile config(q(second / "config.json"));
        QVERIFY(config.open(QIODevice::ReadOnly));
        QCOMPARE(QJsonDocument::fromJson(config.readAll()).object().value("init_adapter").toString(), start);

        // A per-category file keeps its layout, its sink token and its trained tokens: the demo
        // recipe's caption start, which would overwrite them, is dropped.
        r = run_psa(QStringList{"world", "train-adapter", "--data", world, "--out", q(dir.path() / "pc"), "--sink-token"} +
                    tiny_run);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        r = run_psa(QStringList{"world", "train-adapter", "--data", world, "--out", q(dir.path() / "pc2"),
                                "--init-adapter", q(dir.path() / "pc" / "adapter.safetensors")} +
                    tiny_run);
        QVERIFY2(r.code == 0, qPrintable(r.err));
        const auto fine_tuned = psa::test::read_json(dir.path() / "pc2" / "config.json");
        QCOMPARE(fine_tuned.at("token_layout").get<std::string>(), std::string("per-category"));
        QCOMPARE(fine_tuned.at("token_start").get<std::string>(), std::string("random"));
        QVERIFY(psa::test::read_json(dir.path() / "pc" / "config.json").at("sink_token").get<bool>());
        QVERIFY(fine_tuned.at("sink_token").get<bool>());
        const auto sink = psa::SafetensorsFile::open(dir.path() / "pc2" / "adapter.safetensors");
        const auto categories =
            QJsonDocument::fromJson(QByteArray::fromStdString(sink.metadata().at("categories"))).array().size();
        QCOMPARE(sink.metadata().at("num_tokens"), std::to_string(categories + 1));

        // A token count that contradicts the file is refused, naming the file; so is a missing file.
        r = run_psa(QStringList{"train", "--data", q(world_->path() / "w" / "train"), "--out", q(dir.path() / "third"),
                                "--init-adapter", start, "--num-tokens", "3"} +
                    tiny_run);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains(start + ": 2 user tokens, the run asks for 3"), qPrintable(r.err));
        r = run_psa(QStringList{"train", "--data", q(world_->path() / "w" / "train"), "--out", q(dir.path() / "third"),
                                "--init-adapter", q(dir.path() / "none.safetensors")} +
                    tiny_run);
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("option --init-adapter") && r.err.contains("none.safetensors"), qPrintable(r.err));
    }

    void train_and_world_train_adapter_refuse_bad_options()
    {
        psa::test::TempDir dir;
        auto r = run_psa({"world", "train-adapter", "--out", q(dir.path() / "r"), "--data", q(dir.path())});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("option --data") && r.err.contains("neither a generated world"), qPrintable(r.err));
        r = run_psa({"world", "train-adapter", "--out", q(dir.path() / "r"), "--resume"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("holds no training run"), qPrintable(r.err));
        r = run_psa({"train", "--model", tiny(), "--data", q(world_->path() / "w" / "train"), "--out",
                     q(dir.path() / "t"), "--minutes", "-1"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--minutes"), qPrintable(r.err));
        r = run_psa({"train", "--model", tiny(), "--data", q(world_->path() / "w" / "train"), "--out",
                     q(dir.path() / "t"), "--steps", "many"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("--steps"), qPrintable(r.err));
    }

private:
    std::unique_ptr<psa::test::TempDir> world_;
};

QTEST_APPLESS_MAIN(TestCliTrain)
#include "test_cli_train.moc"
