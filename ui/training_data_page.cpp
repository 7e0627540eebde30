// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_data_page.h"

#include "ui/training_world_job.h"

#include "common/error.h"
#include "common/paths.h"
#include "training/preference_dataset.h"

#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

namespace psa::ui {

TrainingDataPage::TrainingDataPage(QWidget* parent) : QWizardPage(parent)
{
    setTitle(tr("Training data"));
    setSubTitle(tr("Pairs of a preferred and a rejected image per prompt and "
                   "person, in the Sage layout: "
                   "a folder with metadata.jsonl and the images it names."));

    m_folder = new QLineEdit;
    m_folder->setObjectName(QStringLiteral("dataFolder"));
    m_folder->setAccessibleName(tr("Training data folder"));
    m_folder->setPlaceholderText(tr("folder containing metadata.jsonl"));
    auto* browse = new QPushButton(tr("&Browse…"));
    auto* check = new QPushButton(tr("&Check"));
    auto* row = new QHBoxLayout;
    row->addWidget(m_folder, 1);
    row->addWidget(browse);
    row->addWidget(check);

    m_report = new QLabel;
    m_report->setObjectName(QStringLiteral("dataReport"));
    m_report->setWordWrap(true);
    m_report->setTextInteractionFlags(Qt::TextSelectableByMouse);

    m_generate = new QPushButton(tr("&Generate a Sage-mini world…"));
    m_generate->setToolTip(
        tr("Writes a small synthetic world of virtual people and their preference "
           "pairs (as `psa world generate` does), then uses its train split."));
    m_stopGenerating = new QPushButton(tr("S&top"));
    m_stopGenerating->hide();
    m_generation = new QProgressBar;
    m_generation->setObjectName(QStringLiteral("worldProgress"));
    m_generation->setAccessibleName(tr("World generation progress"));
    m_generation->hide();
    m_generationStatus = new QLabel;
    m_generationStatus->setObjectName(QStringLiteral("worldStatus"));
    m_generationStatus->setWordWrap(true);
    m_world = new TrainingWorldJob(this);
    auto* generateRow = new QHBoxLayout;
    generateRow->addWidget(m_generate);
    generateRow->addWidget(m_generation, 1);
    generateRow->addWidget(m_stopGenerating);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(row);
    layout->addWidget(m_report);
    layout->addSpacing(12);
    layout->addWidget(new QLabel(tr("No data of your own yet?")));
    layout->addLayout(generateRow);
    layout->addWidget(m_generationStatus);
    layout->addStretch(1);

    connect(browse, &QPushButton::clicked, this, &TrainingDataPage::browse);
    connect(check, &QPushButton::clicked, this, &TrainingDataPage::checkFolder);
    connect(m_folder, &QLineEdit::editingFinished, this, &TrainingDataPage::checkFolder);
    connect(m_folder, &QLineEdit::textChanged, this, &TrainingDataPage::completeChanged);
    connect(m_generate, &QPushButton::clicked, this, &TrainingDataPage::generateWorld);
    connect(m_stopGenerating, &QPushButton::clicked, m_world, &TrainingWorldJob::cancel);
    connect(m_world, &TrainingWorldJob::progressed, this,
            [this](int step, int total, const QString& what) {
                m_generation->setRange(0, total);
                m_generation->setValue(step);
                m_generation->setFormat(what + QStringLiteral(" %v/%m"));
            });
    connect(m_world, &TrainingWorldJob::finished, this,
            [this](const QString& train, const QString& summary) {
                worldGenerationEnded(tr("World written: %1.").arg(summary), false);
                setDataFolder(train);
            });
    connect(m_world, &TrainingWorldJob::cancelled, this, [this] {
        worldGenerationEnded(tr("Stopped; the unfinished world folder is not usable."), true);
    });
    connect(m_world, &TrainingWorldJob::failed, this,
            [this](const QString& message) { worldGenerationEnded(message, true); });
}

QString TrainingDataPage::dataFolder() const
{
    return m_folder->text().trimmed();
}

void TrainingDataPage::setDataFolder(const QString& folder)
{
    m_folder->setText(folder);
    checkFolder();
}

bool TrainingDataPage::isComplete() const
{
    return !m_generating && !m_checkedFolder.isEmpty() && m_checkedFolder == dataFolder();
}

void TrainingDataPage::browse()
{
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Training data folder"), dataFolder());
    if (!dir.isEmpty())
        setDataFolder(dir);
}

void TrainingDataPage::checkFolder()
{
    const QString folder = dataFolder();
    m_checkedFolder.clear();
    if (folder.isEmpty()) {
        m_report->clear();
        Q_EMIT completeChanged();
        return;
    }
    // Reading metadata.jsonl and checking that its images exist is quick even for
    // Sage's thousands of pairs, so it runs here; decoding the images is left to
    // the trainer.
    try {
        const auto data = psa::PreferenceDataset::load(folder.toStdString());
        const auto& r = data.report();
        QString text = tr("<b>%1 pairs</b> from %2 people (%3 lines read)")
                           .arg(r.pairs)
                           .arg(data.users().size())
                           .arg(r.lines);
        if (r.skipped_missing > 0)
            text += tr("; %1 pairs skipped because an image is missing").arg(r.skipped_missing);
        text += QStringLiteral(".");
        for (int i = 0; i < static_cast<int>(r.notes.size()) && i < 5; ++i)
            text += QStringLiteral("<br>• ") + QString::fromStdString(r.notes[i]).toHtmlEscaped();
        m_report->setStyleSheet(QString());
        m_report->setText(text);
        m_checkedFolder = folder;
    } catch (const psa::Error& e) {
        m_report->setStyleSheet(QStringLiteral("color: #c62828;"));
        m_report->setText(QString::fromUtf8(e.what()).toHtmlEscaped().replace(
            QLatin1Char('\n'), QStringLiteral("<br>")));
    }
    Q_EMIT completeChanged();
}

void TrainingDataPage::generateWorld()
{
    QString suggested;
    try {
        suggested = QString::fromStdString(psa::app_data_subdir("worlds").string());
    } catch (const psa::Error&) {
        suggested = QDir::homePath();
    }
    suggested = QDir(suggested).filePath(
        QStringLiteral("sage-mini-") +
        QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")));
    const QString out =
        QFileDialog::getSaveFileName(this, tr("Folder for the generated world"), suggested);
    if (!out.isEmpty())
        generateWorldInto(out);
}

void TrainingDataPage::generateWorldInto(const QString& folder, int users)
{
    m_generating = true;
    m_generate->setEnabled(false);
    m_stopGenerating->show();
    m_generation->setRange(0, 0);
    m_generation->show();
    m_generationStatus->setStyleSheet(QString());
    m_generationStatus->setText(tr("Generating a world in %1…").arg(folder));
    m_world->start(folder, users, 0);
    Q_EMIT completeChanged();
}

void TrainingDataPage::worldGenerationEnded(const QString& message, bool problem)
{
    m_generating = false;
    m_generate->setEnabled(true);
    m_stopGenerating->hide();
    m_generation->hide();
    m_generationStatus->setStyleSheet(problem ? QStringLiteral("color: #c62828;") : QString());
    m_generationStatus->setText(message);
    Q_EMIT completeChanged();
}

} // namespace psa::ui
