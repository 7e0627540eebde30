// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/training_data_page.h"

#include "common/error.h"
#include "common/paths.h"
#include "training/preference_dataset.h"

#include <QCoreApplication>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProcess>
#include <QPushButton>
#include <QStandardPaths>
#include <QVBoxLayout>

namespace psa::ui {

namespace {

// The command-line tool ships next to psa-studio (build tree and package alike).
QString psaExecutable()
{
    const QString sibling =
        QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("psa"));
    if (QFileInfo(sibling).isExecutable())
        return sibling;
    return QStandardPaths::findExecutable(QStringLiteral("psa"));
}

} // namespace

TrainingDataPage::TrainingDataPage(QWidget* parent) : QWizardPage(parent)
{
    setTitle(tr("Training data"));
    setSubTitle(
        tr("Pairs of a preferred and a rejected image per prompt and person, in the Sage layout: "
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
        tr("Runs `psa world generate`: a small synthetic world of virtual users and "
           "preference pairs, then uses its train split."));
    m_generatorLog = new QPlainTextEdit;
    m_generatorLog->setReadOnly(true);
    m_generatorLog->setMaximumBlockCount(500);
    m_generatorLog->setMaximumHeight(120);
    m_generatorLog->hide();

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(row);
    layout->addWidget(m_report);
    layout->addSpacing(12);
    layout->addWidget(new QLabel(tr("No data of your own yet?")));
    layout->addWidget(m_generate, 0, Qt::AlignLeft);
    layout->addWidget(m_generatorLog);
    layout->addStretch(1);

    connect(browse, &QPushButton::clicked, this, &TrainingDataPage::browse);
    connect(check, &QPushButton::clicked, this, &TrainingDataPage::checkFolder);
    connect(m_folder, &QLineEdit::editingFinished, this, &TrainingDataPage::checkFolder);
    connect(m_folder, &QLineEdit::textChanged, this, &TrainingDataPage::completeChanged);
    connect(m_generate, &QPushButton::clicked, this, &TrainingDataPage::generateWorld);
}

TrainingDataPage::~TrainingDataPage()
{
    if (m_generator && m_generator->state() != QProcess::NotRunning) {
        m_generator->terminate();
        m_generator->waitForFinished(3000);
    }
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
    return !m_checkedFolder.isEmpty() && m_checkedFolder == dataFolder() &&
           !(m_generator && m_generator->state() != QProcess::NotRunning);
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
    // Reading metadata.jsonl and checking that its images exist is quick even for Sage's
    // thousands of pairs, so it runs here; decoding the images is left to the trainer.
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
    // core/world has no C++ facade yet, so the generator runs as its command-line tool.
    const QString psa = psaExecutable();
    if (psa.isEmpty()) {
        m_report->setStyleSheet(QStringLiteral("color: #c62828;"));
        m_report->setText(
            tr("The psa command-line tool was not found next to PSA Studio or on the PATH."));
        return;
    }
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
    if (out.isEmpty())
        return;
    m_worldFolder = out;
    m_generator = new QProcess(this);
    m_generator->setProcessChannelMode(QProcess::MergedChannels);
    connect(m_generator, &QProcess::readyRead, this, [this] {
        m_generatorLog->appendPlainText(QString::fromLocal8Bit(m_generator->readAll()).trimmed());
    });
    connect(m_generator, &QProcess::finished, this,
            [this](int code) { worldGenerationFinished(code); });
    m_generatorLog->clear();
    m_generatorLog->show();
    m_generatorLog->appendPlainText(QStringLiteral("$ %1 world generate --out %2").arg(psa, out));
    m_generate->setEnabled(false);
    m_generator->start(
        psa, {QStringLiteral("world"), QStringLiteral("generate"), QStringLiteral("--out"), out});
    Q_EMIT completeChanged();
}

void TrainingDataPage::worldGenerationFinished(int exitCode)
{
    m_generate->setEnabled(true);
    const bool ok = m_generator->exitStatus() == QProcess::NormalExit && exitCode == 0;
    m_generator->deleteLater();
    m_generator = nullptr;
    if (!ok) {
        m_report->setStyleSheet(QStringLiteral("color: #c62828;"));
        m_report->setText(
            tr("Generating the world failed (exit code %1); see its output above.").arg(exitCode));
        Q_EMIT completeChanged();
        return;
    }
    setDataFolder(QDir(m_worldFolder).filePath(QStringLiteral("train")));
}

} // namespace psa::ui
