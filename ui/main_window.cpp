// SPDX-License-Identifier: GPL-3.0-or-later
// Layout and wiring only: panels hold the widgets, the controller owns the worker thread, core
// does the work. Everything long runs on the worker; this file reacts to its signals.
#include "ui/main_window.h"

#include "ui/about_dialog.h"
#include "ui/gallery_panel.h"
#include "ui/generation_panel.h"
#include "ui/image_viewer.h"
#include "ui/log_panel.h"
#include "ui/model_panel.h"
#include "ui/model_paths.h"
#include "ui/output_files.h"
#include "ui/parameters_settings.h"
#include "ui/preview_strip.h"
#include "ui/profile_builder_dialog.h"
#include "ui/safety_panel.h"
#include "ui/training_wizard.h"

#include "pipeline/generation.h"

#include <QAction>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QToolBar>
#include <QVBoxLayout>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace psa::ui {

namespace {

constexpr int kMaxRecentModels = 8;

QString durationText(double seconds)
{
    const int s = static_cast<int>(seconds + 0.5);
    return s >= 3600 ? QStringLiteral("%1:%2:%3").arg(s / 3600).arg(s / 60 % 60, 2, 10, QLatin1Char('0')).arg(s % 60, 2, 10, QLatin1Char('0'))
                     : QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
}

QGroupBox* group(const QString& title, QWidget* content, QWidget* parent)
{
    auto* box = new QGroupBox(title, parent);
    auto* layout = new QVBoxLayout(box);
    layout->addWidget(content);
    return box;
}

} // namespace

MainWindow::MainWindow(const QString& modelFromCommandLine, QWidget* parent) : QMainWindow(parent)
{
    setWindowTitle(tr("PSA Studio"));
    setObjectName(QStringLiteral("mainWindow"));
    setAcceptDrops(true);
    m_controller = new GenerationController(this);

    m_modelPanel = new ModelPanel(this);
    m_generation = new GenerationPanel(this);
    m_safety = new SafetyPanel(this);
    m_strip = new PreviewStrip(this);

    m_generateButton = new QPushButton(tr("&Generate"), this);
    m_generateButton->setObjectName(QStringLiteral("generateButton"));
    m_generateButton->setToolTip(tr("Generate with the chosen safety setting (Ctrl+Enter)"));
    m_generateButton->setDefault(true);
    m_stripButton = new QPushButton(tr("Preview L0–L5"), this);
    m_stripButton->setObjectName(QStringLiteral("previewStripButton"));
    m_stripButton->setToolTip(tr("The same prompt and seed at every level (and your profile) side by side "
                                 "(Ctrl+Shift+Enter)"));
    m_cancelButton = new QPushButton(tr("Cancel"), this);
    m_cancelButton->setObjectName(QStringLiteral("cancelButton"));
    m_cancelButton->setToolTip(tr("Stop within one step (Esc)"));
    connect(m_generateButton, &QPushButton::clicked, this, &MainWindow::generate);
    connect(m_stripButton, &QPushButton::clicked, this, &MainWindow::generatePreviewStrip);
    connect(m_cancelButton, &QPushButton::clicked, this, &MainWindow::cancel);

    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("generationProgress"));
    m_progress->setAccessibleName(tr("Generation progress"));
    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progressText = new QLabel(this);
    m_progressText->setObjectName(QStringLiteral("progressText"));

    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_generateButton);
    buttons->addWidget(m_stripButton);
    buttons->addWidget(m_cancelButton);
    auto* controls = new QWidget(this);
    auto* left = new QVBoxLayout(controls);
    left->addWidget(group(tr("Model"), m_modelPanel, controls));
    left->addWidget(group(tr("Generation"), m_generation, controls));
    left->addWidget(group(tr("Safety"), m_safety, controls));
    left->addLayout(buttons);
    left->addWidget(m_progress);
    left->addWidget(m_progressText);
    left->addStretch();
    auto* scroll = new QScrollArea(this);
    scroll->setWidget(controls);
    scroll->setWidgetResizable(true);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setMinimumWidth(380);

    auto* splitter = new QSplitter(Qt::Horizontal, this);
    splitter->setObjectName(QStringLiteral("mainSplitter"));
    splitter->addWidget(scroll);
    splitter->addWidget(m_strip);
    splitter->setStretchFactor(1, 1);
    setCentralWidget(splitter);

    buildDocks();
    buildActions();
    buildMenus();
    wireController();

    connect(m_modelPanel, &ModelPanel::openFileRequested, this, &MainWindow::chooseModelFile);
    connect(m_modelPanel, &ModelPanel::openFolderRequested, this, &MainWindow::chooseModelFolder);
    connect(m_modelPanel, &ModelPanel::loadAdapterRequested, this, &MainWindow::chooseAdapter);
    connect(m_modelPanel, &ModelPanel::cancelRequested, this, &MainWindow::cancel);
    connect(m_strip, &PreviewStrip::cellActivated, this, [this](int cell) { openViewer({cell}); });
    connect(m_strip, &PreviewStrip::compareRequested, this, [this](int a, int b) { openViewer({a, b}); });
    connect(m_strip, &PreviewStrip::saveCellRequested, this, &MainWindow::saveCell);

    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("mainWindow/geometry")).toByteArray());
    restoreState(settings.value(QStringLiteral("mainWindow/state")).toByteArray());
    splitter->restoreState(settings.value(QStringLiteral("mainWindow/splitter")).toByteArray());
    if (!settings.contains(QStringLiteral("mainWindow/geometry")))
        resize(1280, 820);
    m_generation->restoreSettings(settings);
    m_safety->setLevel(settings.value(QStringLiteral("safety/level"), 0).toInt());
    m_rowsPerPass = std::max(1, settings.value(QStringLiteral("previews/rowsPerPass"), 2).toInt());
    rebuildRecentMenu();

    try {
        m_gallery->setFolder(outputsDir());
    } catch (const std::exception& e) {
        showError(tr("Opening the output folder"), QString::fromUtf8(e.what()));
    }

    const QString model = startupModel(modelFromCommandLine, settings.value(QStringLiteral("models/last")).toString());
    if (!model.isEmpty()) {
        openModel(model);
    } else {
        const bool demoConfigsOnly = QFileInfo::exists(QDir(demoModelDir()).filePath(QStringLiteral("model_index.json")));
        m_modelPanel->showNoModel(demoConfigsOnly
                                      ? tr("The bundled demo model has no trained weights yet. Open a diffusers folder "
                                           "or a .safetensors file, or drop one here.")
                                      : tr("Open a diffusers folder or a .safetensors file, or drop one here."));
    }
    updateActions();
    statusBar()->showMessage(tr("Ready"));
}

MainWindow::~MainWindow() = default;

// ---- construction ----

void MainWindow::buildDocks()
{
    m_gallery = new GalleryPanel(this);
    connect(m_gallery, &GalleryPanel::openRequested, this, &MainWindow::openGalleryImage);
    connect(m_gallery, &GalleryPanel::reuseSettingsRequested, this, &MainWindow::applySettingsFromFile);
    auto* galleryDock = new QDockWidget(tr("Gallery"), this);
    galleryDock->setObjectName(QStringLiteral("galleryDock"));
    galleryDock->setWidget(m_gallery);
    addDockWidget(Qt::BottomDockWidgetArea, galleryDock);

    m_log = new LogPanel(this);
    auto* logDock = new QDockWidget(tr("Log"), this);
    logDock->setObjectName(QStringLiteral("logDock"));
    logDock->setWidget(m_log);
    addDockWidget(Qt::BottomDockWidgetArea, logDock);
    tabifyDockWidget(galleryDock, logDock);
    galleryDock->raise();
}

void MainWindow::buildActions()
{
    m_openAction = new QAction(QIcon::fromTheme(QStringLiteral("document-open")), tr("&Open Model File…"), this);
    m_openAction->setShortcut(QKeySequence::Open);
    connect(m_openAction, &QAction::triggered, this, &MainWindow::chooseModelFile);
    m_openFolderAction = new QAction(QIcon::fromTheme(QStringLiteral("folder-open")), tr("Open Model &Folder…"), this);
    m_openFolderAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    connect(m_openFolderAction, &QAction::triggered, this, &MainWindow::chooseModelFolder);
    m_adapterAction = new QAction(tr("Load &Adapter…"), this);
    connect(m_adapterAction, &QAction::triggered, this, &MainWindow::chooseAdapter);
    m_saveAction = new QAction(QIcon::fromTheme(QStringLiteral("document-save")), tr("&Save Image…"), this);
    m_saveAction->setShortcut(QKeySequence::Save);
    m_saveAction->setToolTip(tr("Save the result: the strip when there are several images"));
    connect(m_saveAction, &QAction::triggered, this, &MainWindow::saveCurrent);
    m_saveStripAction = new QAction(tr("Save S&trip…"), this);
    connect(m_saveStripAction, &QAction::triggered, this, &MainWindow::saveStrip);
    m_settingsFromPngAction = new QAction(tr("Settings from &PNG…"), this);
    m_settingsFromPngAction->setToolTip(tr("Read the settings stored in a PNG (ours or A1111-style)"));
    connect(m_settingsFromPngAction, &QAction::triggered, this, &MainWindow::chooseSettingsPng);

    m_generateAction = new QAction(QIcon::fromTheme(QStringLiteral("media-playback-start")), tr("&Generate"), this);
    m_generateAction->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Return), QKeySequence(Qt::CTRL | Qt::Key_Enter)});
    connect(m_generateAction, &QAction::triggered, this, &MainWindow::generate);
    m_stripAction = new QAction(QIcon::fromTheme(QStringLiteral("view-preview")), tr("&Preview L0–L5"), this);
    m_stripAction->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Return),
                                 QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Enter)});
    connect(m_stripAction, &QAction::triggered, this, &MainWindow::generatePreviewStrip);
    m_cancelAction = new QAction(QIcon::fromTheme(QStringLiteral("process-stop")), tr("&Cancel"), this);
    m_cancelAction->setShortcut(QKeySequence(Qt::Key_Escape));
    connect(m_cancelAction, &QAction::triggered, this, &MainWindow::cancel);

    m_profilesAction = new QAction(tr("&Profiles…"), this);
    m_profilesAction->setToolTip(tr("Create and edit safety profiles"));
    connect(m_profilesAction, &QAction::triggered, this, &MainWindow::openProfiles);
    m_trainAction = new QAction(tr("&Train Adapter…"), this);
    m_trainAction->setToolTip(tr("Fine-tune the safety adapter locally"));
    connect(m_trainAction, &QAction::triggered, this, &MainWindow::openTrainingWizard);
    addActions({m_generateAction, m_stripAction, m_cancelAction});
}

void MainWindow::buildMenus()
{
    auto* file = menuBar()->addMenu(tr("&File"));
    file->addAction(m_openAction);
    file->addAction(m_openFolderAction);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    file->addAction(m_adapterAction);
    file->addSeparator();
    file->addAction(m_saveAction);
    file->addAction(m_saveStripAction);
    file->addAction(m_settingsFromPngAction);
    file->addSeparator();
    auto* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    // Some platform themes (Windows-style key schemes) bind no standard Quit key: Ctrl+Q then.
    const auto quitKeys = QKeySequence::keyBindings(QKeySequence::Quit);
    quit->setShortcuts(quitKeys.isEmpty() ? QList<QKeySequence>{QKeySequence(Qt::CTRL | Qt::Key_Q)} : quitKeys);
    quit->setMenuRole(QAction::QuitRole);

    auto* gen = menuBar()->addMenu(tr("&Generate"));
    gen->addAction(m_generateAction);
    gen->addAction(m_stripAction);
    gen->addAction(m_cancelAction);

    auto* tools = menuBar()->addMenu(tr("&Tools"));
    tools->addAction(m_profilesAction);
    tools->addAction(m_trainAction);

    auto* view = menuBar()->addMenu(tr("&View"));
    for (auto* dock : findChildren<QDockWidget*>())
        view->addAction(dock->toggleViewAction());
    view->addAction(tr("Refresh Gallery"), QKeySequence::Refresh, m_gallery, &GalleryPanel::refresh);

    auto* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("PSA Studio &Help"), QKeySequence::HelpContents, this, &MainWindow::showHelp);
    auto* about = help->addAction(tr("&About PSA Studio"), this, [this] { showAboutDialog(this); });
    about->setMenuRole(QAction::AboutRole);

    auto* bar = addToolBar(tr("Main"));
    bar->setObjectName(QStringLiteral("mainToolBar"));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->addAction(m_openAction);
    bar->addSeparator();
    bar->addAction(m_generateAction);
    bar->addAction(m_stripAction);
    bar->addAction(m_cancelAction);
    bar->addSeparator();
    bar->addAction(m_profilesAction);
    bar->addAction(m_trainAction);
}

void MainWindow::wireController()
{
    auto* w = m_controller->worker();
    connect(m_controller, &GenerationController::stateChanged, this, &MainWindow::updateActions);
    connect(m_controller, &GenerationController::modelChanged, this, [this](const ModelInfo& info) {
        m_modelPanel->showModel(info);
        m_generation->setModelSize(info.defaultSize, info.latentFactor);
        m_generation->offerPrompt(examplePrompt(info.path));
        m_safety->setAdapterAvailable(!info.adapterName.isEmpty());
        rememberRecentModel(info.path);
        statusBar()->showMessage(tr("Model %1 ready").arg(info.name), 5000);
    });
    connect(w, &InferenceWorker::loadProgressed, m_modelPanel, &ModelPanel::showLoadProgress);
    connect(w, &InferenceWorker::modelLoadCancelled, this, [this] {
        if (m_controller->hasModel())
            m_modelPanel->showModel(m_controller->model());
        else
            m_modelPanel->showNoModel(tr("Loading was cancelled."));
        statusBar()->showMessage(tr("Loading cancelled"), 5000);
    });
    connect(w, &InferenceWorker::generationProgressed, this, &MainWindow::onProgress);
    connect(w, &InferenceWorker::previewsReady, this, [this](int firstCondition, int, const QList<QImage>& previews) {
        for (int r = 0; r < previews.size(); ++r)
            m_strip->setPreview(firstCondition * m_batch + r, previews[r]);
    });
    connect(w, &InferenceWorker::imageReady, this, &MainWindow::onImage);
    connect(w, &InferenceWorker::generationFinished, this, &MainWindow::onFinished);
    connect(w, &InferenceWorker::failed, this, [this](const QString& what, const QString& message) {
        showError(what, message);
        if (m_controller->hasModel())
            m_modelPanel->showModel(m_controller->model());
        else
            m_modelPanel->showNoModel(tr("The last model could not be loaded (see the log)."));
        m_progressText->setText(tr("Failed: %1").arg(what));
    });
}

void MainWindow::updateActions()
{
    using State = GenerationController::State;
    const auto state = m_controller->state();
    const bool idle = state == State::Idle;
    const bool busy = m_controller->isBusy();
    for (auto* a : {m_generateAction, m_stripAction})
        a->setEnabled(idle);
    m_generateButton->setEnabled(idle);
    m_stripButton->setEnabled(idle);
    m_cancelAction->setEnabled(state == State::Generating || state == State::Loading);
    m_cancelButton->setEnabled(state == State::Generating || state == State::Loading);
    for (auto* a : {m_openAction, m_openFolderAction, m_settingsFromPngAction})
        a->setEnabled(!busy);
    m_recentMenu->setEnabled(!busy);
    m_adapterAction->setEnabled(idle);
    m_profilesAction->setEnabled(true);
    m_saveAction->setEnabled(m_strip->finishedCount() > 0);
    m_saveStripAction->setEnabled(m_strip->finishedCount() > 1);
}

// ---- models ----

void MainWindow::openModel(const QString& path)
{
    if (!m_controller->loadModel(path)) {
        statusBar()->showMessage(tr("Busy: wait for the running job or cancel it"), 5000);
        return;
    }
    m_modelPath = path;
    m_modelPanel->showLoading(path);
}

void MainWindow::loadAdapter(const QString& path)
{
    if (!m_controller->loadAdapter(path))
        statusBar()->showMessage(tr("Open a model first, then its adapter"), 5000);
}

void MainWindow::chooseModelFile()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Open a model file"), {},
                                                      tr("Single-file checkpoints (*.safetensors)"));
    if (!path.isEmpty())
        openModel(path);
}

void MainWindow::chooseModelFolder()
{
    const QString path = QFileDialog::getExistingDirectory(this, tr("Open a diffusers model folder"));
    if (!path.isEmpty())
        openModel(path);
}

void MainWindow::chooseAdapter()
{
    const QString dir = m_controller->hasModel() ? QFileInfo(m_controller->model().path).absolutePath() : QString();
    const QString path = QFileDialog::getOpenFileName(this, tr("Load a safety adapter"), dir,
                                                      tr("PSA adapters (*.safetensors)"));
    if (!path.isEmpty())
        loadAdapter(path);
}

void MainWindow::rememberRecentModel(const QString& path)
{
    QSettings settings;
    QStringList recent = settings.value(QStringLiteral("models/recent")).toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    settings.setValue(QStringLiteral("models/recent"), recent.mid(0, kMaxRecentModels));
    settings.setValue(QStringLiteral("models/last"), path);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu()
{
    m_recentMenu->clear();
    const QStringList recent = QSettings().value(QStringLiteral("models/recent")).toStringList();
    for (const QString& path : recent) {
        auto* a = m_recentMenu->addAction(QFileInfo(path).fileName(), this, [this, path] { openModel(path); });
        a->setToolTip(path);
        a->setEnabled(QFileInfo::exists(path));
    }
    if (recent.isEmpty())
        m_recentMenu->addAction(tr("(none yet)"))->setEnabled(false);
}

// ---- generation ----

void MainWindow::generate()
{
    if (m_controller->state() != GenerationController::State::Idle)
        return;
    auto request = m_generation->takeRequest();
    const auto condition = m_safety->condition();
    if (!condition.adapter_off() && m_controller->model().adapterName.isEmpty()) {
        showError(tr("Generating"), tr("\"%1\" steers generation through the safety adapter, and this model has "
                                       "none. Load one (File ▸ Load Adapter…) or choose L0.")
                                        .arg(QString::fromStdString(condition.label)));
        return;
    }
    request.conditions = {condition};
    QStringList labels;
    for (int b = 0; b < request.batch; ++b)
        labels << tr("%1 · seed %2").arg(QString::fromStdString(condition.label)).arg(request.seed + static_cast<quint64>(b));
    startJob(std::move(request), labels);
}

void MainWindow::generatePreviewStrip()
{
    if (m_controller->state() != GenerationController::State::Idle)
        return;
    if (m_controller->model().adapterName.isEmpty()) {
        showError(tr("Preview L0–L5"), tr("The preview strip compares the levels through the safety adapter, and "
                                          "this model has none. Load one with File ▸ Load Adapter…"));
        return;
    }
    auto request = m_generation->takeRequest();
    request.batch = 1; // one image per level: the strip compares levels, not seeds
    request.conditions = m_safety->stripConditions();
    if (request.conditions.empty()) {
        showError(tr("Preview L0–L5"), m_safety->descriptionText());
        return;
    }
    request.max_rows_per_pass = m_rowsPerPass;
    QStringList labels;
    for (const auto& c : request.conditions)
        labels << QString::fromStdString(c.label);
    startJob(std::move(request), labels);
}

void MainWindow::startJob(psa::GenerationRequest request, const QStringList& cellLabels)
{
    request.preview_every = std::max(1, request.steps / 8); // about eight intermediate previews
    QString out;
    try {
        out = outputsDir();
    } catch (const std::exception& e) {
        showError(tr("Opening the output folder"), QString::fromUtf8(e.what()));
        return;
    }
    m_request = request;
    m_batch = request.batch;
    if (!m_controller->generate(request, out))
        return;
    m_strip->reset(cellLabels);
    m_progress->setRange(0, 0);
    m_progressText->setText(tr("Starting…"));
    updateActions();
    spdlog::info("generating {} image(s), seed {}, {} steps, {}", cellLabels.size(), request.seed, request.steps,
                 psa::sampler_display_name(request.sampler));
}

void MainWindow::cancel()
{
    m_controller->cancel();
    if (m_controller->state() == GenerationController::State::Cancelling)
        m_progressText->setText(tr("Stopping after this step…"));
}

void MainWindow::onProgress(const GenerationProgress& p)
{
    if (p.stage != static_cast<int>(psa::Stage::Denoise) || p.total <= 0) {
        if (p.stage == static_cast<int>(psa::Stage::Decode))
            m_progressText->setText(tr("Decoding…"));
        return;
    }
    const int total = p.total * p.passes;
    m_progress->setRange(0, total);
    m_progress->setValue(p.pass * p.total + p.step);
    QString text = tr("Step %1/%2").arg(p.step).arg(p.total);
    if (p.passes > 1)
        text += tr(" · pass %1/%2").arg(p.pass + 1).arg(p.passes);
    if (p.ratePerSecond > 0)
        text += tr(" · %1 it/s").arg(p.ratePerSecond, 0, 'f', p.ratePerSecond < 10 ? 2 : 1);
    if (p.etaSeconds >= 0)
        text += tr(" · %1 left").arg(durationText(p.etaSeconds));
    m_progressText->setText(text);
    // Cells of the pass being denoised share its progress; earlier cells are finished.
    const int conditionsPerPass = m_request.max_rows_per_pass > 0
                                      ? std::clamp(m_request.max_rows_per_pass / m_batch, 1, std::max(1, static_cast<int>(m_request.conditions.size())))
                                      : std::max(1, static_cast<int>(m_request.conditions.size()));
    const int first = p.pass * conditionsPerPass * m_batch;
    for (int cell = first; cell < std::min(m_strip->cellCount(), first + conditionsPerPass * m_batch); ++cell)
        m_strip->setCellProgress(cell, p.step, p.total);
}

void MainWindow::onImage(const GeneratedImageInfo& info)
{
    m_strip->setFinalImage(info.condition * m_batch + info.batchIndex, info.image, info.path);
    m_gallery->addImage(info.path, info.image);
    updateActions();
}

void MainWindow::onFinished(bool cancelled, double seconds, const QStringList& warnings)
{
    m_progress->setRange(0, 1);
    m_progress->setValue(cancelled ? 0 : 1);
    if (cancelled) {
        m_strip->markUnfinishedCancelled();
        m_progressText->setText(tr("Stopped."));
        statusBar()->showMessage(tr("Generation stopped"), 5000);
    } else {
        m_progressText->setText(tr("Done in %1 s.").arg(seconds, 0, 'f', 1));
        statusBar()->showMessage(tr("Saved to %1").arg(QFileInfo(m_strip->path(0)).absolutePath()), 8000);
    }
    for (const auto& w : warnings)
        statusBar()->showMessage(w, 8000);
    updateActions();
}

// ---- dialogs ----

void MainWindow::showError(const QString& what, const QString& message)
{
    m_lastError = what + QLatin1String(": ") + message;
    spdlog::error("{}: {}", what.toStdString(), message.toStdString());
    // Non-modal: a worker never waits on a dialog, and a dialog never blocks the event loop.
    auto* box = new QMessageBox(QMessageBox::Warning, what, message.section(QLatin1Char('\n'), 0, 0), QMessageBox::Close, this);
    box->setObjectName(QStringLiteral("errorDialog"));
    if (message.contains(QLatin1Char('\n')))
        box->setDetailedText(message);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
    statusBar()->showMessage(what + QLatin1String(" failed (see the log)"), 8000);
}

void MainWindow::openProfiles()
{
    auto* dialog = new ProfileBuilderDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &ProfileBuilderDialog::profileSaved, m_safety, &SafetyPanel::reloadProfiles);
    dialog->show();
}

void MainWindow::openTrainingWizard()
{
    auto* wizard = new TrainingWizard(this);
    wizard->setAttribute(Qt::WA_DeleteOnClose);
    if (m_controller->hasModel())
        wizard->setModelPath(m_controller->model().path);
    // The new adapter is put to use at once, so the slider and previews run through it.
    connect(wizard, &TrainingWizard::adapterReady, this, &MainWindow::loadAdapter);
    wizard->show();
}

void MainWindow::showHelp()
{
    auto* box = new QMessageBox(QMessageBox::Information, tr("PSA Studio Help"),
                                tr("<p><b>Generate</b> (Ctrl+Enter) draws the prompt at the chosen safety level or "
                                   "profile; <b>Preview L0–L5</b> (Ctrl+Shift+Enter) draws the same prompt and seed "
                                   "at every level side by side. Esc stops within one step.</p>"
                                   "<p>The slider's line says what each level keeps out. Profiles… creates your own "
                                   "profile; pick it in the Profile list.</p>"
                                   "<p>Every image is saved with its settings in the output folder (%1) and shown in "
                                   "the Gallery. Drop a PNG onto the window, or use \"Reuse these settings\", to "
                                   "read its settings back; drop a model folder or .safetensors file to open it.</p>"
                                   "<p>Ctrl+O opens a model, Ctrl+S saves the result, Ctrl+Q quits.</p>")
                                    .arg(m_gallery->folder().toHtmlEscaped()),
                                QMessageBox::Close, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    QSettings settings;
    settings.setValue(QStringLiteral("mainWindow/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("mainWindow/state"), saveState());
    if (auto* splitter = qobject_cast<QSplitter*>(centralWidget()))
        settings.setValue(QStringLiteral("mainWindow/splitter"), splitter->saveState());
    settings.setValue(QStringLiteral("safety/level"), m_safety->level());
    m_generation->saveSettings(settings);
    m_controller->cancel(); // the controller's destructor waits for the worker, which stops within a step
    QMainWindow::closeEvent(event);
}

} // namespace psa::ui
