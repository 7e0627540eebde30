// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_model_page.h"

#include "common/error.h"
#include "common/paths.h"
#include "profiles/categories.h"
#include "training/trainer.h"

#include <QButtonGroup>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QVBoxLayout>

#include <filesystem>

namespace psa::ui {

namespace fs = std::filesystem;

namespace {

QLabel* errorLabel(const QString& name)
{
    auto* label = new QLabel;
    label->setObjectName(name);
    label->setWordWrap(true);
    return label;
}

void showProblem(QLabel* label, const QString& text, bool problem)
{
    label->setText(text);
    label->setStyleSheet(problem ? QStringLiteral("color: #c62828;") : QString());
}

QString newRunFolder()
{
    QString base;
    try {
        base = QString::fromStdString(psa::app_data_subdir("adapters").string());
    } catch (const psa::Error&) {
        base = QDir::homePath();
    }
    return QDir(base).filePath(QStringLiteral("run-") + QDateTime::currentDateTime().toString(
                                                            QStringLiteral("yyyyMMdd-HHmmss")));
}

} // namespace

TrainingModelPage::TrainingModelPage(QWidget* parent) : QWizardPage(parent)
{
    setTitle(tr("Model and adapter"));
    setSubTitle(
        tr("The base model stays frozen; only the small safety adapter on top of it is trained."));

    m_model = new QLineEdit;
    m_model->setObjectName(QStringLiteral("modelPath"));
    m_model->setAccessibleName(tr("Base model"));
    m_model->setPlaceholderText(tr("diffusers folder or single-file .safetensors"));
    auto* folderButton = new QPushButton(tr("&Folder…"));
    auto* fileButton = new QPushButton(tr("F&ile…"));
    auto* modelRow = new QHBoxLayout;
    modelRow->addWidget(m_model, 1);
    modelRow->addWidget(folderButton);
    modelRow->addWidget(fileButton);
    m_modelError = errorLabel(QStringLiteral("modelError"));

    m_fresh =
        new QRadioButton(tr("Start a &new adapter (it leaves the model unchanged until trained)"));
    m_continue = new QRadioButton(tr("&Continue an earlier run from its last checkpoint"));
    m_fresh->setChecked(true);
    auto* group = new QButtonGroup(this);
    group->addButton(m_fresh);
    group->addButton(m_continue);

    m_run = new QLineEdit;
    m_run->setObjectName(QStringLiteral("runFolder"));
    m_run->setAccessibleName(tr("Run folder"));
    auto* runButton = new QPushButton(tr("B&rowse…"));
    auto* runRow = new QHBoxLayout;
    runRow->addWidget(m_run, 1);
    runRow->addWidget(runButton);
    m_runInfo = errorLabel(QStringLiteral("runInfo"));

    auto* form = new QFormLayout;
    form->addRow(tr("Base &model:"), modelRow);
    form->addRow(QString(), m_modelError);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addSpacing(8);
    layout->addWidget(new QLabel(tr("Starting adapter:")));
    layout->addWidget(m_fresh);
    layout->addWidget(m_continue);
    layout->addSpacing(8);
    auto* runForm = new QFormLayout;
    runForm->addRow(tr("R&un folder:"), runRow);
    runForm->addRow(QString(), m_runInfo);
    layout->addLayout(runForm);
    layout->addStretch(1);

    connect(folderButton, &QPushButton::clicked, this, &TrainingModelPage::browseModelFolder);
    connect(fileButton, &QPushButton::clicked, this, &TrainingModelPage::browseModelFile);
    connect(runButton, &QPushButton::clicked, this, &TrainingModelPage::browseRunFolder);
    connect(m_model, &QLineEdit::textChanged, this, &TrainingModelPage::refresh);
    connect(m_run, &QLineEdit::textChanged, this, &TrainingModelPage::refresh);
    connect(m_fresh, &QRadioButton::toggled, this, &TrainingModelPage::refresh);

    // The bundled demo model is the natural default on a fresh installation (once its weights
    // exist: a development tree may hold its configs before the model has been trained).
    const fs::path demo = psa::resource_dir() / "models" / "demo";
    if (fs::exists(demo / "model_index.json") &&
        fs::exists(demo / "unet" / "diffusion_pytorch_model.safetensors"))
        m_model->setText(QString::fromStdString(demo.string()));
    m_run->setText(newRunFolder());
}

QString TrainingModelPage::modelPath() const
{
    return m_model->text().trimmed();
}
void TrainingModelPage::setModelPath(const QString& path)
{
    m_model->setText(path);
}
QString TrainingModelPage::runFolder() const
{
    return m_run->text().trimmed();
}
void TrainingModelPage::setRunFolder(const QString& folder)
{
    m_run->setText(folder);
}
bool TrainingModelPage::continueRun() const
{
    return m_continue->isChecked();
}
void TrainingModelPage::setContinueRun(bool continueRun)
{
    (continueRun ? m_continue : m_fresh)->setChecked(true);
}
void TrainingModelPage::setStoredConfigHandler(std::function<void(const psa::TrainConfig&)> handler)
{
    m_onStoredConfig = std::move(handler);
}

void TrainingModelPage::initializePage()
{
    refresh();
}

void TrainingModelPage::refresh()
{
    const QString model = modelPath();
    if (model.isEmpty())
        showProblem(m_modelError, tr("Choose the model to train the adapter for."), false);
    else if (!QFileInfo::exists(model))
        showProblem(m_modelError, tr("%1 does not exist.").arg(model), true);
    else
        showProblem(m_modelError, QString(), false);

    const QString run = runFolder();
    const auto checkpoint =
        run.isEmpty() ? std::nullopt : psa::DpoTrainer::latest_checkpoint(run.toStdString());
    if (run.isEmpty())
        showProblem(m_runInfo, tr("Checkpoints, sample images and the finished adapter go here."),
                    false);
    else if (continueRun() && !checkpoint)
        showProblem(m_runInfo, tr("This folder holds no checkpoint to continue from."), true);
    else if (!continueRun() && checkpoint)
        showProblem(
            m_runInfo,
            tr("This folder already holds a run (%1): continue it, or choose another folder.")
                .arg(QString::fromStdString(checkpoint->filename().string())),
            true);
    else if (checkpoint)
        showProblem(
            m_runInfo,
            tr("Continues from %1.").arg(QString::fromStdString(checkpoint->filename().string())),
            false);
    else
        showProblem(m_runInfo, tr("Checkpoints, sample images and the finished adapter go here."),
                    false);
    Q_EMIT completeChanged();
}

bool TrainingModelPage::isComplete() const
{
    if (modelPath().isEmpty() || !QFileInfo::exists(modelPath()) || runFolder().isEmpty())
        return false;
    const bool hasCheckpoint =
        psa::DpoTrainer::latest_checkpoint(runFolder().toStdString()).has_value();
    return continueRun() == hasCheckpoint;
}

bool TrainingModelPage::validatePage()
{
    if (!continueRun() || !m_onStoredConfig)
        return true;
    try {
        const auto checkpoint = psa::DpoTrainer::latest_checkpoint(runFolder().toStdString());
        if (checkpoint)
            m_onStoredConfig(psa::DpoTrainer::stored_config(*checkpoint));
    } catch (const psa::Error& e) {
        showProblem(m_runInfo, QString::fromUtf8(e.what()), true);
        return false;
    }
    return true;
}

void TrainingModelPage::browseModelFolder()
{
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Diffusers model folder"), modelPath());
    if (!dir.isEmpty())
        m_model->setText(dir);
}

void TrainingModelPage::browseModelFile()
{
    const QString file = QFileDialog::getOpenFileName(
        this, tr("Single-file checkpoint"), modelPath(), tr("Checkpoints (*.safetensors)"));
    if (!file.isEmpty())
        m_model->setText(file);
}

void TrainingModelPage::browseRunFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Run folder"), runFolder());
    if (!dir.isEmpty())
        m_run->setText(dir);
}

} // namespace psa::ui
