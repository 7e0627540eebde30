// SPDX-License-Identifier: GPL-3.0-or-later
// The training wizard (offscreen) on the tiny fixture model: a few DPO steps from the wizard's
// pages to Finish with the plot receiving every step; a run started from an adapter file (checked
// at the field; the demo model preselects its bundled adapter); pause and resume continue the same
// run; closing asks first, cancel leaves a checkpoint, and a later run continues from it.
#include "ui/plot_training_curves.h"
#include "ui/training_data_page.h"
#include "ui/training_controller.h"
#include "ui/training_model_page.h"
#include "ui/training_run_page.h"
#include "ui/training_wizard.h"

#include "adapter/adapter_file_info.h"
#include "support/test_support.h"
#include "training/train_config.h"

#include <QAbstractButton>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QImage>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMetaEnum>
#include <QRadioButton>
#include <QScopeGuard>
#include <QSignalSpy>
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace psa;
namespace fs = std::filesystem;
using State = ui::TrainingController::State;

namespace {

constexpr int kTimeoutMs = 240000;

fs::path tinyModel()
{
    const auto dir = test::fixtures_dir() / "tiny-sd";
    if (!fs::is_directory(dir))
        qFatal("tiny fixture model %s is missing (set PSA_FIXTURES)", dir.string().c_str());
    return dir;
}

// 16x16 scene; `marked` adds the red block that the children among the users should not see.
QImage picture(int variant, bool marked)
{
    QImage im(16, 16, QImage::Format_RGB888);
    for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x) {
            const bool block =
                marked && x >= 2 + 2 * variant && x < 12 + 2 * variant && y >= 3 && y < 13;
            im.setPixelColor(
                x, y,
                block ? QColor(230, 20, 30)
                      : QColor(60 + 25 * variant + 3 * x, 90 + 10 * variant + 2 * y, 120 - x));
        }
    return im;
}

// A Sage-format split: two children (who ban Violence by the rules) prefer the image without the
// block, two adults the one with it.
void writeSplit(const fs::path& dir)
{
    fs::create_directories(dir / "images");
    for (int v = 0; v < 2; ++v) {
        QVERIFY(picture(v, false).save(QString::fromStdString(
            (dir / "images" / ("plain_" + std::to_string(v) + ".png")).string())));
        QVERIFY(picture(v, true).save(QString::fromStdString(
            (dir / "images" / ("block_" + std::to_string(v) + ".png")).string())));
    }
    std::ofstream out(dir / "metadata.jsonl");
    const std::vector<std::pair<QString, int>> users = {
        {"0000901", 9}, {"0000902", 35}, {"0000903", 12}, {"0000904", 40}};
    for (const auto& [id, age] : users)
        for (int v = 0; v < 2; ++v) {
            const QString plain = QStringLiteral("images/plain_%1.png").arg(v);
            const QString block = QStringLiteral("images/block_%1.png").arg(v);
            const bool child = age < 18;
            QJsonObject user{{"User_ID", id},
                             {"Age", age},
                             {"Gender", "male"},
                             {"Religion", "None"},
                             {"Physical_Condition", "healthy"},
                             {"Mental_Condition", "healthy"}};
            QJsonObject line{{"file_name", plain},
                             {"chosen", child ? plain : block},
                             {"rejected", child ? block : plain},
                             {"caption", QStringLiteral("a street scene, variant %1").arg(v)},
                             {"category", "Violence"}, // the block; the keep-allowed anchor reads it
                             {"user_data", user}};
            out << QJsonDocument(line).toJson(QJsonDocument::Compact).toStdString() << "\n";
        }
}

// With PSA_UI_SCREENSHOTS set, a picture of the widget for docs/screenshots (written only then).
void saveScreenshot(QWidget* widget, const char* name)
{
    const QByteArray dir = qgetenv("PSA_UI_SCREENSHOTS");
    if (!dir.isEmpty())
        QVERIFY(widget->grab().save(
            QDir(QString::fromLocal8Bit(dir)).filePath(QString::fromLatin1(name))));
}

TrainConfig tinySettings(int steps)
{
    TrainConfig c;
    c.steps = steps;
    c.batch = 2;
    c.lr = 5e-3;
    c.beta_dpo = 50;
    c.warmup_steps = 0;
    c.checkpoint_every = 0;
    c.sample_every = 0;
    c.device = "cpu";
    c.seed = 3;
    return c;
}

ui::TrainingJob job(const fs::path& data, const fs::path& run, int steps)
{
    ui::TrainingJob j;
    j.modelPath = QString::fromStdString(tinyModel().string());
    j.runFolder = QString::fromStdString(run.string());
    j.config = tinySettings(steps);
    j.config.data_dir = data.string();
    return j;
}

} // namespace

class TestUiWizard : public QObject {
    Q_OBJECT
    std::unique_ptr<test::TempDir> m_tmp;
    fs::path m_data;
    QString m_adapter;

    // A genuine adapter of the tiny model with 2 user tokens: one step of a run, made once.
    QString trainedAdapter()
    {
        if (!m_adapter.isEmpty())
            return m_adapter;
        ui::TrainingController controller;
        auto j = job(m_data, m_tmp->path() / "run-start", 1);
        j.config.num_tokens = 2;
        controller.start(j);
        if (!QTest::qWaitFor([&] { return !controller.isBusy(); }, kTimeoutMs) ||
            controller.state() != State::Completed) {
            qWarning("the starting adapter's run ended %s: %s",
                     QMetaEnum::fromType<State>().valueToKey(int(controller.state())),
                     qPrintable(controller.errorMessage()));
            return {};
        }
        m_adapter = controller.adapterPath();
        return m_adapter;
    }

private Q_SLOTS:
    void initTestCase()
    {
        m_tmp = std::make_unique<test::TempDir>();
        qputenv("XDG_DATA_HOME", QByteArray::fromStdString((m_tmp->path() / "xdg").string()));
        m_data = m_tmp->path() / "split";
        writeSplit(m_data);
    }

    void wizard_trains_a_few_steps_and_plots_them()
    {
        const auto run = m_tmp->path() / "run-wizard";
        ui::TrainingWizard wizard;
        wizard.setDataFolder(QString::fromStdString(m_data.string()));
        wizard.setModelPath(QString::fromStdString(tinyModel().string()));
        wizard.setRunFolder(QString::fromStdString(run.string()));
        auto settings = tinySettings(4);
        settings.sample_every = 2; // samples after steps 2 and 4
        settings.sample_steps = 2;
        settings.sft_weight = 0.5; // carried through the settings page into the run's config
        wizard.setSettings(settings);
        QSignalSpy ready(&wizard, &ui::TrainingWizard::adapterReady);
        wizard.show();

        QCOMPARE(wizard.currentId(), int(ui::TrainingWizard::DataPageId));
        QVERIFY(wizard.currentPage()->isComplete());
        QVERIFY(wizard.findChild<QLabel*>("dataReport")->text().contains("8 pairs"));
        wizard.next();
        QCOMPARE(wizard.currentId(), int(ui::TrainingWizard::ModelPageId));
        QVERIFY(wizard.currentPage()->isComplete());
        wizard.next();
        QCOMPARE(wizard.currentId(), int(ui::TrainingWizard::SettingsPageId));
        // A new adapter: the person chooses its user tokens and the keep-the-rest weight.
        auto* tokens = wizard.findChild<QComboBox*>("user_tokens");
        auto* anchor = wizard.findChild<QLineEdit*>("anchor_weight");
        QVERIFY(tokens && anchor);
        QVERIFY(tokens->isEnabled());
        QVERIFY(!wizard.findChild<QLabel*>("userTokensNote")->isVisible());
        QCOMPARE(tokens->currentData().toString(), QStringLiteral("1")); // tinySettings: 1 dense token
        tokens->setCurrentIndex(tokens->findData(QString::fromLatin1(kPerCategoryTokens)));
        anchor->setText(QStringLiteral("x"));
        QVERIFY(!wizard.currentPage()->validatePage());
        QVERIFY(wizard.findChild<QLabel*>("settingsError")->text().contains("Keep-the-rest weight"));
        anchor->setText(QStringLiteral("2"));
        auto* keepAllowed = wizard.findChild<QCheckBox*>("anchor_allowed");
        QVERIFY(keepAllowed && !keepAllowed->isChecked()); // off by default: the agreement cells only
        keepAllowed->setChecked(true);
        auto* counterpart = wizard.findChild<QLineEdit*>("counterpart_weight");
        auto* counterpartBanned = wizard.findChild<QCheckBox*>("counterpart_banned");
        QVERIFY(counterpart && counterpartBanned && !counterpartBanned->isChecked());
        QCOMPARE(counterpart->text(), QStringLiteral("0")); // off by default: the paper's pure DPO
        counterpart->setText(QStringLiteral("-1"));
        QVERIFY(!wizard.currentPage()->validatePage());
        QVERIFY(wizard.findChild<QLabel*>("settingsError")->text().contains("counterpart_weight"));
        counterpart->setText(QStringLiteral("3"));
        counterpartBanned->setChecked(true);
        auto* mixing = wizard.findChild<QDoubleSpinBox*>("ban_mixing");
        QVERIFY(mixing && mixing->value() == 0); // off by default
        mixing->setValue(0.5);
        tokens->setCurrentIndex(tokens->findData(QStringLiteral("1"))); // a dense token reads no bans alone
        QVERIFY(!wizard.currentPage()->validatePage());
        QVERIFY(wizard.findChild<QLabel*>("settingsError")->text().contains("ban_mixing"));
        tokens->setCurrentIndex(tokens->findData(QString::fromLatin1(kPerCategoryTokens)));
        auto* atCaptions = wizard.findChild<QCheckBox*>("token_start");
        QVERIFY(atCaptions && !atCaptions->isChecked()); // off by default: the reference's random start
        auto* frozenKeys = wizard.findChild<QCheckBox*>("freeze_user_keys");
        QVERIFY(frozenKeys && !frozenKeys->isChecked());
        frozenKeys->setChecked(true); // the random start's zero keys are not worth keeping
        QVERIFY(!wizard.currentPage()->validatePage());
        QVERIFY(wizard.findChild<QLabel*>("settingsError")->text().contains("freeze_user_keys"));
        atCaptions->setChecked(true);
        auto* sink = wizard.findChild<QCheckBox*>("sink_token");
        auto* routing = wizard.findChild<QLineEdit*>("routing_weight");
        auto* routingSteps = wizard.findChild<QSpinBox*>("routing_steps");
        QVERIFY(sink && routing && routingSteps);
        QVERIFY(!sink->isChecked() && sink->isEnabled());
        auto* ownQuery = wizard.findChild<QCheckBox*>("own_user_query");
        QVERIFY(ownQuery && !ownQuery->isChecked()); // off by default: the paper's query
        ownQuery->setChecked(true);
        auto* gated = wizard.findChild<QCheckBox*>("ban_gated_tokens");
        QVERIFY(gated && !gated->isChecked() &&
                gated->isEnabled()); // off by default: the paper's tokens
        gated->setChecked(true);
        QCOMPARE(routing->text(), QStringLiteral("0")); // off by default, as in the paper
        routing->setText(QStringLiteral("y"));
        QVERIFY(!wizard.currentPage()->validatePage());
        QVERIFY(wizard.findChild<QLabel*>("settingsError")->text().contains("Routing weight"));
        routing->setText(QStringLiteral("1"));
        routingSteps->setValue(4); // the whole run
        QVERIFY(!wizard.currentPage()->validatePage());
        QVERIFY(wizard.findChild<QLabel*>("settingsError")->text().contains("routing_steps"));
        routingSteps->setValue(1);
        sink->setChecked(true);
        tokens->setCurrentIndex(tokens->findData(QStringLiteral("1")));
        mixing->setValue(0);
        atCaptions->setChecked(false);
        routing->setText(QStringLiteral("0"));
        routingSteps->setValue(0);
        QVERIFY(!wizard.currentPage()->validatePage());
        QVERIFY(wizard.findChild<QLabel*>("settingsError")->text().contains("sink_token"));
        tokens->setCurrentIndex(tokens->findData(QString::fromLatin1(kPerCategoryTokens)));
        mixing->setValue(0.5);
        atCaptions->setChecked(true);
        routing->setText(QStringLiteral("1"));
        routingSteps->setValue(1);
        auto* averaging = wizard.findChild<QDoubleSpinBox*>("ema_decay");
        QVERIFY(averaging);
        averaging->setValue(0.9);
        wizard.next(); // "Start training"
        QCOMPARE(wizard.currentId(), int(ui::TrainingWizard::RunPageId));

        auto* controller = wizard.controller();
        QTRY_VERIFY_WITH_TIMEOUT(controller->state() == State::Completed ||
                                     controller->state() == State::Failed,
                                 kTimeoutMs);
        QVERIFY2(controller->state() == State::Completed, qPrintable(controller->errorMessage()));
        const auto* plot = wizard.runPage()->plot();
        QCOMPARE(plot->steps(), (QVector<double>{1, 2, 3, 4}));
        QCOMPARE(plot->losses().size(), 4);
        for (double loss : plot->losses())
            QVERIFY(std::isfinite(loss) && loss > 0);
        for (double acc : plot->accuracies())
            QVERIFY(acc >= 0 && acc <= 1);
        QVERIFY(wizard.runPage()->sampleCount() >= 2); // plain + users of steps 2 and 4
        QVERIFY(wizard.currentPage()->isComplete());
        saveScreenshot(&wizard, "training-wizard.png");

        const QString adapter = QString::fromStdString((run / "adapter.safetensors").string());
        QCOMPARE(controller->adapterPath(), adapter);
        QVERIFY(QFileInfo::exists(adapter));
        const auto stored = TrainConfig::load(run / "config.json");
        QCOMPARE(stored.sft_weight, 0.5);
        QCOMPARE(stored.anchor_weight, 2.0);
        QCOMPARE(stored.anchor_scope, std::string(kAnchorAllowedWhole));
        QCOMPARE(stored.ban_mixing, 0.5);
        QCOMPARE(stored.counterpart_weight, 3.0);
        QCOMPARE(stored.counterpart_pairs, std::string(kCounterpartBannedPairs));
        QCOMPARE(stored.token_start, std::string(kTokensStartAtCaptions));
        QVERIFY(stored.freeze_user_keys);
        QCOMPARE(stored.ema_decay, 0.9);
        QCOMPARE(stored.token_layout, std::string(kPerCategoryTokens));
        QVERIFY(stored.sink_token);
        QVERIFY(stored.own_user_query);
        QVERIFY(stored.ban_gated_tokens);
        QCOMPARE(stored.routing_weight, 1.0);
        QCOMPARE(stored.routing_steps, 1);
        const auto trained = psa::read_adapter_file_info(run / "adapter.safetensors");
        QCOMPARE(trained.token_layout, std::string(kPerCategoryTokens));
        QCOMPARE(trained.num_tokens, static_cast<std::int64_t>(trained.categories.size()) + 1); // the sink
        QVERIFY(trained.ban_gated_tokens);
        wizard.next();
        QCOMPARE(wizard.currentId(), int(ui::TrainingWizard::FinishPageId));
        wizard.button(QWizard::FinishButton)->click();
        QCOMPARE(ready.count(), 1);
        QCOMPARE(ready.front().front().toString(), adapter);
    }

    void model_page_starts_from_an_adapter_file()
    {
        const QString adapter = trainedAdapter();
        QVERIFY(!adapter.isEmpty());
        const auto run = m_tmp->path() / "run-from-adapter";
        ui::TrainingWizard wizard;
        wizard.setDataFolder(QString::fromStdString(m_data.string()));
        wizard.setModelPath(QString::fromStdString(tinyModel().string()));
        wizard.setRunFolder(QString::fromStdString(run.string()));
        wizard.setSettings(tinySettings(2)); // 1 user token: the file's 2 must win
        wizard.show();
        wizard.next();
        QCOMPARE(wizard.currentId(), int(ui::TrainingWizard::ModelPageId));
        auto* page = wizard.findChild<ui::TrainingModelPage*>();
        auto* choice = wizard.findChild<QRadioButton*>("startFromAdapter");
        auto* path = wizard.findChild<QLineEdit*>("initAdapterPath");
        auto* info = wizard.findChild<QLabel*>("initAdapterInfo");
        QVERIFY(page && choice && path && info);
        QVERIFY(!choice->isChecked()); // the tiny model ships no adapter: a new one by default
        QVERIFY(page->isComplete());

        choice->click();
        QVERIFY(!page->isComplete()); // no file chosen yet
        const QString missing =
            QString::fromStdString((m_tmp->path() / "no-such.safetensors").string());
        path->setText(missing);
        QVERIFY(!page->isComplete());
        QVERIFY2(info->text().contains(missing + " does not exist"), qPrintable(info->text()));
        QVERIFY(!info->styleSheet().isEmpty()); // shown as a problem at the field
        const QString unet = QString::fromStdString(
            (tinyModel() / "unet" / "diffusion_pytorch_model.safetensors").string());
        path->setText(unet);
        QVERIFY(!page->isComplete());
        QVERIFY2(info->text().contains("not a PSA adapter"), qPrintable(info->text()));
        path->setText(adapter);
        QVERIFY2(page->isComplete(), qPrintable(info->text()));
        QVERIFY2(info->text().contains("2 user tokens"), qPrintable(info->text()));
        QVERIFY(info->styleSheet().isEmpty());

        wizard.next();
        QCOMPARE(wizard.currentId(), int(ui::TrainingWizard::SettingsPageId));
        // The file decides the user tokens; the settings page says so and takes no choice.
        QVERIFY(!wizard.findChild<QComboBox*>("user_tokens")->isEnabled());
        QVERIFY(!wizard.findChild<QCheckBox*>("sink_token")->isEnabled()); // so does its sink token
        QVERIFY(!wizard.findChild<QCheckBox*>("own_user_query")->isEnabled()); // and its query maps
        QVERIFY(!wizard.findChild<QCheckBox*>("ban_gated_tokens")->isEnabled()); // and its gating
        auto* note = wizard.findChild<QLabel*>("userTokensNote");
        QVERIFY2(note->isVisible() && note->text().contains("2 user tokens"), qPrintable(note->text()));
        wizard.next(); // "Start training"
        QCOMPARE(wizard.currentId(), int(ui::TrainingWizard::RunPageId));
        auto* controller = wizard.controller();
        QCOMPARE(QString::fromStdString(controller->job().config.init_adapter), adapter);
        QCOMPARE(controller->job().config.num_tokens, 2);
        QVERIFY(!controller->job().config.sink_token); // a dense file has none
        QVERIFY(!controller->job().config.own_user_query); // nor query maps of its own
        QVERIFY(!controller->job().config.ban_gated_tokens); // nor gated tokens
        QTRY_VERIFY_WITH_TIMEOUT(controller->state() == State::Completed ||
                                     controller->state() == State::Failed,
                                 kTimeoutMs);
        QVERIFY2(controller->state() == State::Completed, qPrintable(controller->errorMessage()));
    }

    void demo_model_preselects_its_bundled_adapter()
    {
        // A stand-in installation (PSA_RESOURCES) whose demo model is the tiny one with an adapter
        // beside it, as the real demo model will have once its adapter ships.
        const QString adapter = trainedAdapter();
        QVERIFY(!adapter.isEmpty());
        const auto resources = m_tmp->path() / "resources";
        const auto demo = resources / "models" / "demo";
        fs::create_directories(demo);
        for (const auto& e : fs::directory_iterator(test::source_dir() / "resources"))
            if (e.path().filename() != "models")
                fs::create_directory_symlink(e.path(), resources / e.path().filename());
        for (const auto& e : fs::directory_iterator(tinyModel()))
            fs::create_symlink(e.path(), demo / e.path().filename());
        fs::copy_file(adapter.toStdString(), demo / "adapter.safetensors");
        qputenv("PSA_RESOURCES", QByteArray::fromStdString(resources.string()));
        const auto restore = qScopeGuard([] { qunsetenv("PSA_RESOURCES"); });

        ui::TrainingModelPage page;
        const auto canonical = [](const QString& p) { return QFileInfo(p).canonicalFilePath(); };
        const QString demoDir = QString::fromStdString(demo.string());
        const QString demoAdapter =
            canonical(QString::fromStdString((demo / "adapter.safetensors").string()));
        QCOMPARE(canonical(page.modelPath()), canonical(demoDir));
        QVERIFY(page.startFromAdapter());
        QCOMPARE(canonical(page.initAdapterPath()), demoAdapter);
        QVERIFY(page.isComplete());
        // Until the person chooses, the start follows the model.
        page.setModelPath(QString::fromStdString(tinyModel().string()));
        QVERIFY(!page.startFromAdapter());
        QVERIFY(page.initAdapterPath().isEmpty());
        page.setModelPath(demoDir);
        QVERIFY(page.startFromAdapter());
        psa::TrainConfig config;
        page.applyStart(config);
        QCOMPARE(canonical(QString::fromStdString(config.init_adapter)), demoAdapter);
        // A file the person chose stays when the model changes.
        page.setInitAdapterPath(adapter);
        page.setModelPath(QString::fromStdString(tinyModel().string()));
        QVERIFY(page.startFromAdapter());
        QCOMPARE(page.initAdapterPath(), adapter);
    }

    void data_page_generates_a_sage_mini_world()
    {
        ui::TrainingWizard wizard;
        auto* page = wizard.findChild<ui::TrainingDataPage*>();
        QVERIFY(page);
        auto* status = wizard.findChild<QLabel*>("worldStatus");
        const auto out = m_tmp->path() / "world";
        page->generateWorldInto(QString::fromStdString(out.string()), 6);
        QVERIFY(!page->isComplete()); // not while the generator runs
        QTRY_VERIFY_WITH_TIMEOUT(page->isComplete() || !status->styleSheet().isEmpty(), kTimeoutMs);
        QVERIFY2(page->isComplete(), qPrintable(status->text()));
        QCOMPARE(page->dataFolder(), QString::fromStdString((out / "train").string()));
        QVERIFY(fs::is_regular_file(out / "world.json"));
        QVERIFY2(wizard.findChild<QLabel*>("dataReport")->text().contains("pairs"),
                 qPrintable(wizard.findChild<QLabel*>("dataReport")->text()));
    }

    void pause_and_resume_continue_the_same_run()
    {
        ui::TrainingController controller;
        QVector<int> steps;
        bool paused = false;
        connect(&controller, &ui::TrainingController::stepped, this, [&](const TrainStepStats& s) {
            steps << s.step;
            if (!paused) {
                paused = true;
                controller.pause();
            }
        });
        const auto run = m_tmp->path() / "run-pause";
        controller.start(job(m_data, run, 6));
        QTRY_VERIFY_WITH_TIMEOUT(controller.state() == State::Paused ||
                                     controller.state() == State::Failed ||
                                     controller.state() == State::Completed,
                                 kTimeoutMs);
        QCOMPARE(controller.state(), State::Paused);
        QVERIFY(steps.size() < 6);
        QVERIFY(fs::is_directory(controller.lastCheckpoint().toStdString())); // pause wrote one
        controller.resume();
        QTRY_VERIFY_WITH_TIMEOUT(controller.state() == State::Completed ||
                                     controller.state() == State::Failed,
                                 kTimeoutMs);
        QVERIFY2(controller.state() == State::Completed, qPrintable(controller.errorMessage()));
        QCOMPARE(steps, (QVector<int>{1, 2, 3, 4, 5, 6}));
    }

    void closing_asks_and_a_cancelled_run_continues_later()
    {
        const auto run = m_tmp->path() / "run-cancel";
        int firstStepSeen = 0;
        {
            ui::TrainingWizard wizard;
            wizard.setDataFolder(QString::fromStdString(m_data.string()));
            wizard.setModelPath(QString::fromStdString(tinyModel().string()));
            wizard.setRunFolder(QString::fromStdString(run.string()));
            wizard.setSettings(tinySettings(40));
            wizard.show();
            wizard.next();
            wizard.next();
            wizard.next();
            auto* controller = wizard.controller();
            QSignalSpy stepped(controller, &ui::TrainingController::stepped);
            QTRY_VERIFY_WITH_TIMEOUT(stepped.count() >= 1 || controller->state() == State::Failed,
                                     kTimeoutMs);
            QVERIFY2(controller->state() == State::Running, qPrintable(controller->errorMessage()));

            int asked = 0;
            wizard.setStopConfirmation([&] { return ++asked, false; });
            wizard.reject(); // "no, keep training"
            QCOMPARE(asked, 1);
            QVERIFY(wizard.isVisible());
            QCOMPARE(controller->state(), State::Running);

            wizard.setStopConfirmation([&] { return ++asked, true; });
            wizard.reject();
            QCOMPARE(asked, 2);
            QVERIFY(!wizard.isVisible());
            QTRY_VERIFY_WITH_TIMEOUT(controller->state() == State::Cancelled, kTimeoutMs);
            QVERIFY(fs::is_directory(controller->lastCheckpoint().toStdString()));
            firstStepSeen = stepped.count();
        }
        QVERIFY(firstStepSeen >= 1);

        // A new session continues from the newest checkpoint (DpoTrainer::resume), not from zero.
        ui::TrainingController later;
        QSignalSpy started(&later, &ui::TrainingController::started);
        auto j = job(m_data, run, 40);
        j.continueRun = true;
        later.start(j);
        QTRY_VERIFY_WITH_TIMEOUT(started.count() == 1 || later.state() == State::Failed,
                                 kTimeoutMs);
        QVERIFY2(later.state() != State::Failed, qPrintable(later.errorMessage()));
        const int resumedAt = started.front().at(0).toInt();
        QVERIFY(resumedAt >= 1);
        QVERIFY(resumedAt < 40);
        later.cancel();
        QTRY_VERIFY_WITH_TIMEOUT(
            later.state() == State::Cancelled || later.state() == State::Failed, kTimeoutMs);
        QCOMPARE(later.state(), State::Cancelled);
    }
};

QTEST_MAIN(TestUiWizard)
#include "test_ui_wizard.moc"
