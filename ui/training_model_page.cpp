// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_model_page.h"

#include "ui/model_paths.h"

#include "adapter/token_layout.h"
#include "common/error.h"
#include "common/paths.h"
#include "profiles/categories.h"
#include "training/train_config.h"
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

// The bundled demo adapter when `model` is the bundled demo model and the adapter has shipped
// beside it; empty otherwise.
QString bundledDemoAdapter(const QString& model)
{
    const QString demo = QFileInfo(demoModelDir()).canonicalFilePath();
    if (demo.isEmpty() || QFileInfo(model).canonicalFilePath() != demo)
        return {};
    return adapterBesideModel(demo);
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
    m_fromAdapter = new QRadioButton(tr("Start from an &adapter file (fine-tune it on this data)"));
    m_fromAdapter->setObjectName(QStringLiteral("startFromAdapter"));
    m_continue = new QRadioButton(tr("&Continue an earlier run from its last checkpoint"));
    m_fresh->setChecked(true);
    auto* group = new QButtonGroup(this);
    group->addButton(m_fresh);
    group->addButton(m_fromAdapter);
    group->addButton(m_continue);

    m_initAdapter = new QLineEdit;
    m_initAdapter->setObjectName(QStringLiteral("initAdapterPath"));
    m_initAdapter->setAccessibleName(tr("Starting adapter file"));
    m_initAdapter->setPlaceholderText(tr("adapter .safetensors"));
    auto* adapterButton = new QPushButton(tr("Bro&wse…"));
    auto* adapterRow = new QHBoxLayout;
    adapterRow->setContentsMargins(24, 0, 0, 0); // under its choice
    adapterRow->addWidget(m_initAdapter, 1);
    adapterRow->addWidget(adapterButton);
    m_initAdapterInfo = errorLabel(QStringLiteral("initAdapterInfo"));
    m_initAdapterInfo->setContentsMargins(24, 0, 0, 0);

    m_run = new QLineEdit;
    m_run->setObjectName(QStringLiteral("runFolder"));
    m_run->setAccessibleName(tr("Run folder"));
    auto* runButton = new QPushButton(tr("B&rowse…"));
    auto* runRow = new QHBoxLayout;
    runRow->addWidget(m_run, 1);
    runRow->addWidget(runButton);
    m_runInfo = errorLabel(QStringLiteral("runInfo"));

    // Rows whose field is a layout get no buddy from QFormLayout, so the labels name theirs (else
    // the '&' would show).
    auto* modelLabel = new QLabel(tr("Base &model:"));
    modelLabel->setBuddy(m_model);
    auto* runLabel = new QLabel(tr("R&un folder:"));
    runLabel->setBuddy(m_run);
    auto* form = new QFormLayout;
    form->addRow(modelLabel, modelRow);
    form->addRow(QString(), m_modelError);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addSpacing(8);
    layout->addWidget(new QLabel(tr("Starting adapter:")));
    layout->addWidget(m_fresh);
    layout->addWidget(m_fromAdapter);
    layout->addLayout(adapterRow);
    layout->addWidget(m_initAdapterInfo);
    layout->addWidget(m_continue);
    layout->addSpacing(8);
    auto* runForm = new QFormLayout;
    runForm->addRow(runLabel, runRow);
    runForm->addRow(QString(), m_runInfo);
    layout->addLayout(runForm);
    layout->addStretch(1);

    connect(folderButton, &QPushButton::clicked, this, &TrainingModelPage::browseModelFolder);
    connect(fileButton, &QPushButton::clicked, this, &TrainingModelPage::browseModelFile);
    connect(runButton, &QPushButton::clicked, this, &TrainingModelPage::browseRunFolder);
    connect(adapterButton, &QPushButton::clicked, this, &TrainingModelPage::browseInitAdapter);
    connect(m_model, &QLineEdit::textChanged, this, [this] {
        if (!m_startChosen)
            chooseDefaultStart();
        refresh();
    });
    connect(m_run, &QLineEdit::textChanged, this, &TrainingModelPage::refresh);
    connect(m_initAdapter, &QLineEdit::textChanged, this, &TrainingModelPage::refresh);
    // Typing a path means starting from that file.
    connect(m_initAdapter, &QLineEdit::textEdited, this, [this] {
        m_startChosen = true;
        m_fromAdapter->setChecked(true);
    });
    connect(group, &QButtonGroup::buttonClicked, this, [this] { m_startChosen = true; });
    for (auto* choice : {m_fresh, m_fromAdapter, m_continue})
        connect(choice, &QRadioButton::toggled, this, &TrainingModelPage::refresh);

    // The bundled demo model is the natural default on a fresh installation (once its weights
    // exist: a development tree may hold its configs before the model has been trained). Setting
    // it also preselects its bundled adapter, when that has shipped (chooseDefaultStart).
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
    m_startChosen = true;
    (continueRun ? m_continue : m_fresh)->setChecked(true);
}
bool TrainingModelPage::startFromAdapter() const
{
    return m_fromAdapter->isChecked();
}
QString TrainingModelPage::initAdapterPath() const
{
    return m_initAdapter->text().trimmed();
}
void TrainingModelPage::setInitAdapterPath(const QString& path)
{
    m_startChosen = true;
    m_initAdapter->setText(path);
    m_fromAdapter->setChecked(true);
}

QString TrainingModelPage::tokensText(const psa::AdapterFileInfo& info)
{
    if (info.token_layout == psa::kPerCategoryTokens) {
        QString text = info.has_sink_token()
                           ? tr("%1 user tokens, one per category and one that reads no ban")
                                 .arg(info.num_tokens)
                           : tr("%1 user tokens, one per category").arg(info.num_tokens);
        if (info.ban_gated_tokens)
            text += tr(", gated by the bans");
        return text;
    }
    return info.num_tokens == 1 ? tr("1 user token") : tr("%1 user tokens").arg(info.num_tokens);
}

QString TrainingModelPage::startingAdapterTokens() const
{
    if (continueRun() || !startFromAdapter() || !m_adapterInfo)
        return {};
    return tokensText(*m_adapterInfo);
}

void TrainingModelPage::applyStart(psa::TrainConfig& config) const
{
    if (continueRun())
        return;
    if (!startFromAdapter() || !m_adapterInfo) {
        config.init_adapter.clear();
        return;
    }
    config.init_adapter = initAdapterPath().toStdString();
    config.num_tokens = static_cast<int>(m_adapterInfo->num_tokens);
    config.token_layout = m_adapterInfo->token_layout;
    config.sink_token = m_adapterInfo->has_sink_token();
    config.own_user_query = !m_adapterInfo->query_dims.empty();
    config.ban_gated_tokens = m_adapterInfo->ban_gated_tokens;
    if (m_adapterInfo->learned_null_user)
        config.learned_null_user = true; // kept and trained further
}
void TrainingModelPage::setStoredConfigHandler(std::function<void(const psa::TrainConfig&)> handler)
{
    m_onStoredConfig = std::move(handler);
}

void TrainingModelPage::initializePage()
{
    refresh();
}

void TrainingModelPage::chooseDefaultStart()
{
    // On the bundled demo model the natural start is its shipped adapter, once it exists.
    const QString demoAdapter = bundledDemoAdapter(modelPath());
    if (!demoAdapter.isEmpty()) {
        m_initAdapter->setText(demoAdapter);
        m_fromAdapter->setChecked(true);
    } else if (m_fromAdapter->isChecked()) {
        m_initAdapter->clear();
        m_fresh->setChecked(true);
    }
}

void TrainingModelPage::checkInitAdapter()
{
    m_adapterInfo.reset();
    const QString path = initAdapterPath();
    if (!startFromAdapter()) {
        showProblem(m_initAdapterInfo, QString(), false);
        return;
    }
    if (path.isEmpty()) {
        showProblem(m_initAdapterInfo, tr("Choose the adapter file (.safetensors) to fine-tune."),
                    false);
        return;
    }
    if (!QFileInfo(path).isFile()) {
        showProblem(m_initAdapterInfo, tr("%1 does not exist.").arg(path), true);
        return;
    }
    psa::AdapterFileInfo info;
    try {
        info = psa::read_adapter_file_info(path.toStdString());
    } catch (const psa::Error& e) {
        showProblem(m_initAdapterInfo, QString::fromUtf8(e.what()), true);
        return;
    }
    if (info.profile_encoder != "structured") {
        showProblem(m_initAdapterInfo,
                    tr("This adapter reads precomputed profile embeddings; the wizard trains with "
                       "the structured profile encoder (use psa train --embeds for this one)."),
                    true);
        return;
    }
    const QString trainedOn =
        info.base_model.empty() ? tr("an unnamed model") : QString::fromStdString(info.base_model);
    showProblem(m_initAdapterInfo,
                tr("%1, %2 attention layers, trained on %3.")
                    .arg(tokensText(info))
                    .arg(info.layer_dims.size())
                    .arg(trainedOn),
                false);
    m_adapterInfo = info;
}

void TrainingModelPage::refresh()
{
    checkInitAdapter();
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
    if (startFromAdapter() && !m_adapterInfo)
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

void TrainingModelPage::browseInitAdapter()
{
    const QString file = QFileDialog::getOpenFileName(
        this, tr("Adapter to start from"), initAdapterPath(), tr("Adapters (*.safetensors)"));
    if (!file.isEmpty())
        setInitAdapterPath(file);
}

void TrainingModelPage::browseRunFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Run folder"), runFolder());
    if (!dir.isEmpty())
        m_run->setText(dir);
}

} // namespace psa::ui
