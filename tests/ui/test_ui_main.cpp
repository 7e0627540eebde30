// SPDX-License-Identifier: GPL-3.0-or-later
// The main window, offscreen, on the tiny fixture model with a random structured safety adapter
// beside it (auto-loaded like a real model's adapter.safetensors): the slider's level and text,
// a generation from a button click, the six-image preview strip filling in pass by pass, cancel
// within a step, and settings read back from dropped PNGs (ours and A1111-style).
#include "adapter/adapter_io.h"
#include "pipeline/components.h"
#include "profiles/ban_rules.h"
#include "profiles/profile_encoder.h"
#include "support/parity.h"

#include "pipeline/generation.h"
#include "pipeline/sampler_names.h"
#include "profiles/profile_store.h"
#include "ui/gallery_panel.h"
#include "ui/generation_panel.h"
#include "ui/main_window.h"
#include "ui/model_panel.h"
#include "ui/model_paths.h"
#include "ui/output_files.h"
#include "ui/preview_strip.h"
#include "ui/safety_level_text.h"
#include "ui/safety_panel.h"

#include <torch/torch.h>

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QDoubleSpinBox>
#include <QLineEdit>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProcess>
#include <QRegularExpression>
#include <QPushButton>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QtTest>

#include <memory>

using namespace psa::ui;
namespace fs = std::filesystem;

namespace {

// A copy of the tiny model with a structured (profile-encoding) adapter of random weights beside
// it: random so that the levels give different images, structured so the level presets need no
// precomputed embeddings.
fs::path model_with_adapter(const fs::path& dir)
{
    const auto model_dir = dir / "tiny-sd";
    fs::copy(psa::test::require_fixtures() / "tiny-sd", model_dir, fs::copy_options::recursive);
    {   // the example prompt a model folder may suggest (as the demo model does)
        QFile index(QString::fromStdString((model_dir / "model_index.json").string()));
        if (!index.open(QIODevice::ReadOnly))
            qFatal("cannot read the copied model_index.json");
        auto object = QJsonDocument::fromJson(index.readAll()).object();
        index.close();
        object.insert(QStringLiteral("_psa_example_prompt"), QStringLiteral("a red cube on a table"));
        if (!index.open(QIODevice::WriteOnly | QIODevice::Truncate))
            qFatal("cannot write the copied model_index.json");
        index.write(QJsonDocument(object).toJson());
    }
    psa::JobControl job;
    psa::LoadModelOptions lo;
    lo.device = "cpu";
    auto model = psa::load_model(model_dir, lo, job);
    const auto& cats = psa::CategorySet::builtin();
    auto config = psa::adapter_config_for(model->unet->cross_attention_layers(),
                                          psa::StructuredProfileEncoder::dim(cats), int64_t(cats.size()) + 1);
    for (const auto& c : cats.all())
        config.categories.push_back(c.id);
    psa::SafetyAdapter adapter(config);
    {
        torch::NoGradGuard g;
        torch::manual_seed(7);
        for (auto& p : adapter->parameters())
            p.normal_(0, 0.3);
    }
    psa::save_adapter(model_dir / "adapter.safetensors", *adapter);
    return model_dir;
}

template <typename T>
T* child(QObject* parent, const char* name)
{
    auto* w = parent->findChild<T*>(QString::fromLatin1(name));
    if (!w)
        qFatal("no child %s", name);
    return w;
}

// With PSA_UI_SCREENSHOTS set (a folder), a picture of the widget for docs/screenshots.
void saveScreenshot(QWidget* widget, const char* name)
{
    const QByteArray dir = qgetenv("PSA_UI_SCREENSHOTS");
    if (dir.isEmpty())
        return;
    QTest::qWait(300); // let the cells lay out and draw their pixmaps
    QVERIFY(widget->grab().save(QDir(QString::fromLocal8Bit(dir)).filePath(QString::fromLatin1(name))));
}

bool same_pixels(const QImage& a, const QImage& b) { return a.convertToFormat(QImage::Format_RGB888) == b.convertToFormat(QImage::Format_RGB888); }

} // namespace

class TestUiMain : public QObject {
    Q_OBJECT
    std::unique_ptr<psa::test::TempDir> m_dir;
    std::unique_ptr<MainWindow> m_window;
    fs::path m_model;
    QString m_firstImage; // written by the button-click generation

    void waitIdle(int ms = 60000)
    {
        QTRY_VERIFY_WITH_TIMEOUT(m_window->controller()->state() == GenerationController::State::Idle, ms);
    }
    void setSteps(int steps) { child<QSpinBox>(m_window.get(), "steps")->setValue(steps); }

private Q_SLOTS:
    void initTestCase()
    {
        m_dir = std::make_unique<psa::test::TempDir>();
        // Settings and outputs of this test stay in its own folders (QSettings reads these on first use).
        qputenv("XDG_CONFIG_HOME", QByteArray::fromStdString((m_dir->path() / "config").string()));
        qputenv("XDG_DATA_HOME", QByteArray::fromStdString((m_dir->path() / "data").string()));
        QCoreApplication::setOrganizationName(QStringLiteral("psa-studio-test"));
        QCoreApplication::setApplicationName(QStringLiteral("test_ui_main"));
        m_model = model_with_adapter(m_dir->path());
        m_window = std::make_unique<MainWindow>(QString::fromStdString(m_model.string()));
        m_window->show();
        waitIdle();
        QVERIFY2(m_window->controller()->hasModel(), qPrintable(m_window->lastError()));
        QCOMPARE(m_window->controller()->model().adapterName, QStringLiteral("adapter.safetensors"));
        QVERIFY(m_window->modelPanel()->summaryText().contains(QStringLiteral("CPU")) ||
                m_window->modelPanel()->summaryText().contains(QStringLiteral("CUDA")));
        // First start: the empty prompt box took the model's example prompt.
        QCOMPARE(child<QPlainTextEdit>(m_window.get(), "prompt")->toPlainText(), QStringLiteral("a red cube on a table"));
        m_window->generationPanel()->setSeedMode(GenerationPanel::SeedMode::Fixed);
        child<QLineEdit>(m_window.get(), "seed")->setText(QStringLiteral("42"));
    }

    void cleanupTestCase() { m_window.reset(); }

    void example_prompt_never_replaces_what_was_written()
    {
        QCOMPARE(examplePrompt(QString::fromStdString(m_model.string())), QStringLiteral("a red cube on a table"));
        QVERIFY(examplePrompt(QString::fromStdString((psa::test::require_fixtures() / "tiny-sd").string())).isEmpty());
        auto* prompt = child<QPlainTextEdit>(m_window.get(), "prompt");
        const QString before = prompt->toPlainText();
        prompt->setPlainText(QStringLiteral("my own words"));
        m_window->generationPanel()->offerPrompt(QStringLiteral("something else"));
        QCOMPARE(prompt->toPlainText(), QStringLiteral("my own words"));
        prompt->clear();
        m_window->generationPanel()->offerPrompt(QStringLiteral("something else"));
        QCOMPARE(prompt->toPlainText(), QStringLiteral("something else"));
        prompt->setPlainText(before);
    }

    void standard_shortcuts_are_bound()
    {
        QSet<QString> keys;
        for (auto* a : m_window->findChildren<QAction*>())
            for (const auto& k : a->shortcuts())
                keys.insert(k.toString(QKeySequence::PortableText));
        for (const char* k : {"Ctrl+Return", "Esc", "Ctrl+O", "Ctrl+S", "Ctrl+Q", "F1"})
            QVERIFY2(keys.contains(QLatin1String(k)), k);
    }

    void sampler_names_round_trip()
    {
        const auto names = psa::sampler_display_names();
        QVERIFY(std::find(names.begin(), names.end(), "Euler a") != names.end());
        QVERIFY(std::find(names.begin(), names.end(), "DPM++ 2M Karras") != names.end());
        auto* combo = child<QComboBox>(m_window.get(), "sampler");
        QCOMPARE(combo->count(), static_cast<int>(names.size()));
        for (const auto& n : names) {
            psa::GenerationRequest r;
            r.sampler = psa::sampler_from_display_name(n);
            psa::validate_request(r, 8); // throws for a name the pipeline does not know
            QCOMPARE(psa::sampler_display_name(r.sampler), n);
        }
    }

    void size_presets_fit_the_model()
    {
        const auto presets = sizePresets(512, 8);
        QCOMPARE(presets.front().second, QSize(512, 512));
        QVERIFY(std::any_of(presets.begin(), presets.end(), [](const auto& p) { return p.second == QSize(384, 512); }));
        for (const auto& [label, size] : sizePresets(16, 2)) {
            QVERIFY2(size.width() % 2 == 0 && size.height() % 2 == 0, qPrintable(label));
            QVERIFY(size.width() > 0 && size.height() > 0);
        }
        // The tiny model's own size (16 px) was offered when it loaded.
        QCOMPARE(child<QComboBox>(m_window.get(), "size")->currentData().toSize(), QSize(16, 16));
    }

    void slider_maps_to_level_and_text()
    {
        auto* panel = m_window->safetyPanel();
        auto* slider = child<QSlider>(m_window.get(), "safetyLevel");
        const auto& cats = psa::CategorySet::builtin();
        const auto presets = psa::load_level_presets(cats);
        slider->setFocus();
        panel->setLevel(0);
        for (int level = 0; level <= 5; ++level) {
            if (level > 0)
                QTest::keyClick(slider, Qt::Key_Right); // the person moves the slider one tick
            QCOMPARE(panel->level(), level);
            const auto cond = panel->condition();
            QCOMPARE(cond.adapter_off(), level == 0);
            QCOMPARE(QString::fromStdString(cond.label), QStringLiteral("L%1").arg(level));
            const QString text = panel->descriptionText();
            QVERIFY2(text.startsWith(QStringLiteral("L%1:").arg(level)), qPrintable(text));
            for (const auto& c : cats.all()) {
                const bool named = text.contains(QString::fromStdString(c.label).toLower());
                QVERIFY2(named == (level > 0 && presets[size_t(level)].is_banned(c.id)),
                         qPrintable(QStringLiteral("L%1, %2: %3").arg(level).arg(QString::fromStdString(c.id), text)));
            }
            QVERIFY(!slider->toolTip().isEmpty());
        }
        // The released ban list of the L3 user, in words.
        panel->setLevel(3);
        QCOMPARE(panel->descriptionText(),
                 QStringLiteral("L3: Keeps out self-harm, sexuality, shocking and propaganda."));
        panel->setLevel(0);
        QVERIFY(panel->descriptionText().contains(QStringLiteral("Keeps nothing out")));
        // A person's profile that bans nothing says so, and is offered instead of a level once saved.
        auto p = psa::make_profile("Nobody", 30, "female", "None", "healthy", "healthy", cats);
        QCOMPARE(keepsOutText(p, cats), QStringLiteral("Keeps nothing out."));
        auto kid = psa::make_profile("Kid", 9, "female", "None", "healthy", "healthy", cats);
        const auto kidPath = psa::profiles_dir() / "kid.json";
        psa::save_profile(kidPath, kid, cats);
        panel->reloadProfiles();
        QVERIFY(panel->chooseProfile(QString::fromStdString(kidPath.string())));
        QCOMPARE(QString::fromStdString(panel->condition().label), QStringLiteral("Kid"));
        QVERIFY2(panel->descriptionText().contains(QStringLiteral("violence")), qPrintable(panel->descriptionText()));
        QCOMPARE(panel->stripConditions().size(), size_t(7)); // L0..L5 and the profile
        QVERIFY(panel->chooseProfile(QString()));               // back to the slider
        QCOMPARE(panel->stripConditions().size(), size_t(6));

        // The adapter's strength reaches the single condition and every strip condition.
        auto* strength = child<QDoubleSpinBox>(m_window.get(), "adapterStrength");
        QCOMPARE(strength->value(), 1.0);
        QSignalSpy changed(panel, &SafetyPanel::conditionChanged);
        strength->setValue(0.8);
        QCOMPARE(changed.size(), 1);
        panel->setLevel(4);
        QCOMPARE(panel->condition().adapter_scale, 0.8);
        for (const auto& c : panel->stripConditions())
            QCOMPARE(c.adapter_scale, 0.8);
        panel->setStrength(1.0);
        QCOMPARE(panel->condition().adapter_scale, 1.0);
        panel->setLevel(0);
    }

    void generation_completes_from_a_button_click()
    {
        setSteps(2);
        m_window->safetyPanel()->setLevel(2);
        child<QPlainTextEdit>(m_window.get(), "prompt")->setPlainText(QStringLiteral("a red lighthouse"));
        QSignalSpy finished(m_window->controller()->worker(), &InferenceWorker::generationFinished);
        QSignalSpy images(m_window->controller()->worker(), &InferenceWorker::imageReady);
        QTest::mouseClick(child<QPushButton>(m_window.get(), "generateButton"), Qt::LeftButton);
        QCOMPARE(m_window->controller()->state(), GenerationController::State::Generating);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 60000);
        // The spy records on the worker thread; the window's queued slots run after it: wait for them.
        waitIdle();
        QVERIFY2(m_window->lastError().isEmpty(), qPrintable(m_window->lastError()));
        QCOMPARE(finished.front().at(0).toBool(), false); // not cancelled
        QCOMPARE(images.size(), 1);
        QCOMPARE(m_window->previewStrip()->finishedCount(), 1);
        const QString path = m_window->previewStrip()->path(0);
        QVERIFY(QFileInfo(path).absolutePath().startsWith(QString::fromStdString((m_dir->path() / "data").string())));
        const auto params = readPngParameters(path);
        QVERIFY(params.has_value());
        QCOMPARE(params->prompt, std::string("a red lighthouse"));
        QCOMPARE(params->field("Seed").value_or(""), std::string("42"));
        QCOMPARE(params->field("PSA condition").value_or(""), std::string("L2"));
        QCOMPARE(QImage(path).size(), QSize(16, 16));
        QTRY_VERIFY(m_window->galleryPanel()->count() >= 1);
        QCOMPARE(m_window->galleryPanel()->pathAt(0), path);
        m_firstImage = path;
        waitIdle();
    }

    void preview_strip_fills_with_six_images()
    {
        setSteps(3);
        m_window->setRowsPerPass(2);
        auto* worker = m_window->controller()->worker();
        QSignalSpy finished(worker, &InferenceWorker::generationFinished);
        QSignalSpy images(worker, &InferenceWorker::imageReady);
        QSignalSpy progress(worker, &InferenceWorker::generationProgressed);
        QSignalSpy previews(worker, &InferenceWorker::previewsReady);
        QTest::mouseClick(child<QPushButton>(m_window.get(), "previewStripButton"), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 120000);
        // The spy records on the worker thread; the window's queued slots run after it: wait for them.
        waitIdle();
        QVERIFY2(m_window->lastError().isEmpty(), qPrintable(m_window->lastError()));
        auto* strip = m_window->previewStrip();
        QCOMPARE(strip->cellCount(), 6);
        QCOMPARE(strip->finishedCount(), 6);
        QCOMPARE(images.size(), 6);
        for (int i = 0; i < 6; ++i) {
            QCOMPARE(strip->label(i), QStringLiteral("L%1").arg(i));
            QCOMPARE(images.at(i).at(0).value<GeneratedImageInfo>().condition, i); // in level order
            QVERIFY(QFileInfo::exists(strip->path(i)));
        }
        // Rows ran in three passes of two, each reported with its pass number.
        QSet<int> passes;
        for (const auto& args : progress) {
            const auto p = args.at(0).value<GenerationProgress>();
            QCOMPARE(p.passes, 3);
            passes.insert(p.pass);
        }
        QCOMPARE(passes, (QSet<int>{0, 1, 2}));
        QVERIFY(!previews.isEmpty()); // intermediate previews arrived while denoising
        // Same prompt and seed; the adapter makes the levels differ from the plain model.
        QVERIFY(!same_pixels(strip->finalImage(0), strip->finalImage(5)));
        // Two ticked cells can be compared.
        strip->setCompared(0, true);
        strip->setCompared(5, true);
        QCOMPARE(strip->comparedCells(), (QList<int>{0, 5}));
        QVERIFY(child<QPushButton>(strip, "compareButton")->isEnabled());
        // The strip image: six labelled cells side by side.
        QList<QPair<QString, QImage>> tiles;
        for (int i = 0; i < 6; ++i)
            tiles.append({strip->label(i), strip->finalImage(i)});
        QVERIFY(composeStrip(tiles).width() >= 6 * 16);
        waitIdle();
        saveScreenshot(m_window.get(), "main-window.png");
    }

    void cancel_stops_a_running_generation()
    {
        setSteps(1000);
        m_window->safetyPanel()->setLevel(0);
        auto* worker = m_window->controller()->worker();
        QSignalSpy finished(worker, &InferenceWorker::generationFinished);
        QSignalSpy progress(worker, &InferenceWorker::generationProgressed);
        QSignalSpy images(worker, &InferenceWorker::imageReady);
        QTest::mouseClick(child<QPushButton>(m_window.get(), "generateButton"), Qt::LeftButton);
        QTRY_VERIFY_WITH_TIMEOUT(std::any_of(progress.begin(), progress.end(), [](const QList<QVariant>& a) {
                                     const auto p = a.at(0).value<GenerationProgress>();
                                     return p.stage == int(psa::Stage::Denoise) && p.step >= 3;
                                 }),
                                 60000);
        QElapsedTimer timer;
        timer.start();
        QTest::mouseClick(child<QPushButton>(m_window.get(), "cancelButton"), Qt::LeftButton);
        QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, 30000);
        // The spy records on the worker thread; the window's queued slots run after it: wait for them.
        waitIdle();
        QCOMPARE(finished.front().at(0).toBool(), true); // cancelled
        int lastStep = 0;
        for (const auto& a : progress)
            lastStep = std::max(lastStep, a.at(0).value<GenerationProgress>().step);
        QVERIFY2(lastStep < 1000, qPrintable(QString::number(lastStep)));
        QVERIFY(images.isEmpty());
        QCOMPARE(m_window->previewStrip()->finishedCount(), 0);
        qInfo("stopped at step %d, %lld ms after the click", lastStep, static_cast<long long>(timer.elapsed()));
        waitIdle();
        setSteps(2);
    }

    void dropped_png_fills_the_settings()
    {
        // An A1111-style file: another tool's names and fields, one we cannot use.
        const QString path = QString::fromStdString((m_dir->path() / "a1111.png").string());
        QImage image(8, 8, QImage::Format_RGB888);
        image.fill(Qt::darkGreen);
        writePngWithText(path, image,
                         {{"parameters", "a fox in the snow, highly detailed\nNegative prompt: blurry, low quality\n"
                                         "Steps: 17, Sampler: Euler a, CFG scale: 6.5, Seed: 1234567890123, "
                                         "Size: 24x40, Model hash: abc123, Model: other, PSA scale: 0.7"}});
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(path)});
        const QPoint at(m_window->width() / 2, m_window->height() / 2);
        QDragEnterEvent enter(at, Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(m_window.get(), &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(at), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(m_window.get(), &drop);
        QCOMPARE(child<QPlainTextEdit>(m_window.get(), "prompt")->toPlainText(), QStringLiteral("a fox in the snow, highly detailed"));
        QCOMPARE(child<QPlainTextEdit>(m_window.get(), "negativePrompt")->toPlainText(), QStringLiteral("blurry, low quality"));
        QCOMPARE(child<QSpinBox>(m_window.get(), "steps")->value(), 17);
        QCOMPARE(child<QDoubleSpinBox>(m_window.get(), "guidance")->value(), 6.5);
        QCOMPARE(child<QComboBox>(m_window.get(), "sampler")->currentData().toString(), QStringLiteral("euler-a"));
        QCOMPARE(child<QLineEdit>(m_window.get(), "seed")->text(), QStringLiteral("1234567890123"));
        QCOMPARE(m_window->generationPanel()->seedMode(), GenerationPanel::SeedMode::Fixed);
        QCOMPARE(child<QComboBox>(m_window.get(), "size")->currentData().toSize(), QSize(24, 40));
        QCOMPARE(m_window->safetyPanel()->strength(), 0.7);

        // One of ours, from the generation above: reuse gives back its prompt and seed.
        QVERIFY(m_window->applySettingsFromFile(m_firstImage));
        QCOMPARE(child<QPlainTextEdit>(m_window.get(), "prompt")->toPlainText(), QStringLiteral("a red lighthouse"));
        QCOMPARE(child<QLineEdit>(m_window.get(), "seed")->text(), QStringLiteral("42"));
        QCOMPARE(child<QSpinBox>(m_window.get(), "steps")->value(), 2);

        // A sampler we do not have is named, not silently replaced.
        const QString odd = QString::fromStdString((m_dir->path() / "odd.png").string());
        writePngWithText(odd, image, {{"parameters", "x\nSteps: 5, Sampler: Heun, Seed: 3"}});
        QVERIFY(m_window->applySettingsFromFile(odd));
        QVERIFY2(m_window->lastError().contains(QStringLiteral("Sampler: \"Heun\"")), qPrintable(m_window->lastError()));
        // So is a strength the safety panel does not offer; the one set before stays.
        writePngWithText(odd, image, {{"parameters", "x\nSteps: 5, PSA scale: 7, Seed: 3"}});
        QVERIFY(m_window->applySettingsFromFile(odd));
        QVERIFY2(m_window->lastError().contains(QStringLiteral("PSA scale: \"7\"")), qPrintable(m_window->lastError()));
        m_window->safetyPanel()->setStrength(1.0);
        QCOMPARE(child<QSpinBox>(m_window.get(), "steps")->value(), 5);
        // A PNG without settings, and a file that is not a PNG, are errors that name the file.
        const QString plain = QString::fromStdString((m_dir->path() / "plain.png").string());
        QVERIFY(image.save(plain));
        QVERIFY(!m_window->applySettingsFromFile(plain));
        QVERIFY(m_window->lastError().contains(plain));
        psa::test::write_bytes(m_dir->path() / "fake.png", "not a png");
        QVERIFY(!m_window->applySettingsFromFile(QString::fromStdString((m_dir->path() / "fake.png").string())));
        QVERIFY(m_window->lastError().contains(QStringLiteral("fake.png")));
    }

    void headless_run_writes_the_strip()
    {
        const QString studio = QString::fromLocal8Bit(qgetenv("PSA_STUDIO"));
        QVERIFY2(!studio.isEmpty(), "PSA_STUDIO must name the psa-studio binary");
        QProcess p;
        auto env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("XDG_DATA_HOME"), QString::fromStdString((m_dir->path() / "headless").string()));
        env.insert(QStringLiteral("XDG_CONFIG_HOME"), QString::fromStdString((m_dir->path() / "headless-config").string()));
        env.remove(QStringLiteral("DISPLAY"));
        env.remove(QStringLiteral("WAYLAND_DISPLAY"));
        env.remove(QStringLiteral("QT_QPA_PLATFORM"));
        p.setProcessEnvironment(env);
        p.start(studio, {QStringLiteral("--headless"), QString::fromStdString(m_model.string()), QStringLiteral("--steps"),
                         QStringLiteral("2"), QStringLiteral("--seed"), QStringLiteral("3")});
        QVERIFY(p.waitForFinished(120000));
        const QString out = QString::fromUtf8(p.readAllStandardOutput());
        const QString err = QString::fromUtf8(p.readAllStandardError());
        QVERIFY2(p.exitCode() == 0, qPrintable(err));
        const auto m = QRegularExpression(QStringLiteral("Output: (.*strip-3\\.png)")).match(out);
        QVERIFY2(m.hasMatch(), qPrintable(out));
        const QFileInfo strip(m.captured(1).trimmed());
        QVERIFY(strip.exists());
        QVERIFY(strip.absoluteFilePath().startsWith(QString::fromStdString((m_dir->path() / "headless").string())));
        QCOMPARE(QDir(strip.absolutePath()).entryList({QStringLiteral("*.png")}, QDir::Files).size(), 7); // L0..L5 + strip
        QVERIFY(QImage(strip.absoluteFilePath()).width() >= 6 * 16);
        QCOMPARE(readPngParameters(strip.absoluteFilePath())->field("Size").value_or(""), std::string("16x16"));

        // No model anywhere (while the demo model has no weights): a clear error, exit code 1.
        if (!folderHasWeights(demoModelDir())) {
            p.start(studio, {QStringLiteral("--headless")});
            QVERIFY(p.waitForFinished(60000));
            QCOMPARE(p.exitCode(), 1);
            QVERIFY(QString::fromUtf8(p.readAllStandardError()).contains(QStringLiteral("no model to open")));
        }
    }
};

QTEST_MAIN(TestUiMain)
#include "test_ui_main.moc"
