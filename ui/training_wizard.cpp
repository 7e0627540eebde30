// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_wizard.h"

#include "ui/training_controller.h"
#include "ui/training_data_page.h"
#include "ui/training_model_page.h"
#include "ui/training_run_page.h"
#include "ui/training_settings_page.h"

#include <QLabel>
#include <QMessageBox>
#include <QVBoxLayout>
#include <QWizardPage>

namespace psa::ui {

namespace {

// The last page: where the adapter is and what Finish does with it.
class TrainingFinishPage : public QWizardPage {
public:
    explicit TrainingFinishPage(TrainingController* controller) : m_controller(controller)
    {
        setTitle(tr("Adapter ready"));
        m_text = new QLabel;
        m_text->setObjectName(QStringLiteral("finishText"));
        m_text->setWordWrap(true);
        m_text->setTextInteractionFlags(Qt::TextSelectableByMouse);
        auto* layout = new QVBoxLayout(this);
        layout->addWidget(m_text);
        layout->addStretch(1);
        setFinalPage(true);
    }
    void initializePage() override
    {
        m_text->setText(
            tr("The trained adapter is saved as\n%1\n\nFinish makes it the adapter in use, so the "
               "safety slider and the previews apply it.")
                .arg(m_controller->adapterPath()));
    }

private:
    TrainingController* m_controller;
    QLabel* m_text = nullptr;
};

} // namespace

TrainingWizard::TrainingWizard(QWidget* parent) : QWizard(parent)
{
    setWindowTitle(tr("Train a safety adapter"));
    setObjectName(QStringLiteral("TrainingWizard"));
    setOption(QWizard::NoBackButtonOnLastPage);
    setOption(QWizard::NoCancelButtonOnLastPage);
    m_controller = new TrainingController(this);
    m_dataPage = new TrainingDataPage;
    m_modelPage = new TrainingModelPage;
    m_settingsPage = new TrainingSettingsPage;
    m_runPage = new TrainingRunPage(m_controller, [this] {
        TrainingJob job;
        job.modelPath = m_modelPage->modelPath();
        job.runFolder = m_modelPage->runFolder();
        job.continueRun = m_modelPage->continueRun();
        job.config =
            m_settingsPage->readSettings().value_or(TrainingSettingsPage::defaultSettings());
        job.config.model = job.modelPath.toStdString();
        job.config.data_dir = m_dataPage->dataFolder().toStdString();
        m_modelPage->applyStart(job.config);
        return job;
    });
    // Continuing a run takes its stored settings and data folder, so the resumed run is the same
    // run.
    m_modelPage->setStoredConfigHandler([this](const psa::TrainConfig& stored) {
        m_settingsPage->setSettings(stored);
        if (!stored.data_dir.empty())
            m_dataPage->setDataFolder(QString::fromStdString(stored.data_dir));
    });
    setPage(DataPageId, m_dataPage);
    setPage(ModelPageId, m_modelPage);
    setPage(SettingsPageId, m_settingsPage);
    setPage(RunPageId, m_runPage);
    setPage(FinishPageId, new TrainingFinishPage(m_controller));
    // A run from an adapter file takes that file's user tokens; the settings page says so.
    connect(this, &QWizard::currentIdChanged, this, [this](int id) {
        if (id == SettingsPageId)
            m_settingsPage->setStartingAdapterTokens(m_modelPage->startingAdapterTokens());
    });
    // Starting the run commits the earlier pages: they describe the run in progress.
    m_settingsPage->setCommitPage(true);
    m_settingsPage->setButtonText(QWizard::CommitButton, tr("&Start training"));
    m_confirmStop = [this] {
        return QMessageBox::question(
                   this, tr("Stop training?"),
                   tr("A training run is in progress. Stop it? Its newest checkpoint is kept, "
                      "so the run can be continued later.")) == QMessageBox::Yes;
    };
    resize(820, 680);
}

TrainingWizard::~TrainingWizard() = default;

void TrainingWizard::setModelPath(const QString& path)
{
    m_modelPage->setModelPath(path);
}
void TrainingWizard::setDataFolder(const QString& folder)
{
    m_dataPage->setDataFolder(folder);
}
void TrainingWizard::setRunFolder(const QString& folder)
{
    m_modelPage->setRunFolder(folder);
}
void TrainingWizard::setSettings(const psa::TrainConfig& config)
{
    m_settingsPage->setSettings(config);
}
QString TrainingWizard::adapterPath() const
{
    return m_controller->adapterPath();
}
void TrainingWizard::setStopConfirmation(std::function<bool()> confirm)
{
    m_confirmStop = std::move(confirm);
}

void TrainingWizard::accept()
{
    const QString adapter = m_controller->adapterPath();
    QWizard::accept();
    if (!adapter.isEmpty())
        Q_EMIT adapterReady(adapter);
}

void TrainingWizard::reject()
{
    if (m_controller->hasUnfinishedRun()) {
        if (m_confirmStop && !m_confirmStop())
            return;
        m_controller->cancel(); // stops within one step; the checkpoint is written by the worker
    }
    QWizard::reject();
}

} // namespace psa::ui
