// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/model_panel.h"

#include <QFile>

#include <QFileInfo>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>

namespace psa::ui {

QString processMemoryText()
{
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly))
        return {};
    for (const QByteArray& line : status.readAll().split('\n')) {
        if (!line.startsWith("VmRSS:"))
            continue;
        const qint64 kib = line.mid(6).trimmed().split(' ').value(0).toLongLong();
        return QLocale().formattedDataSize(kib * 1024, 1, QLocale::DataSizeTraditionalFormat);
    }
    return {};
}

ModelPanel::ModelPanel(QWidget* parent) : QWidget(parent)
{
    m_title = new QLabel(this);
    m_title->setObjectName(QStringLiteral("modelTitle"));
    m_title->setWordWrap(true);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_details = new QLabel(this);
    m_details->setObjectName(QStringLiteral("modelDetails"));
    m_details->setWordWrap(true);
    m_adapter = new QLabel(this);
    m_adapter->setObjectName(QStringLiteral("adapterName"));
    m_adapter->setWordWrap(true);
    m_memory = new QLabel(this);
    m_memory->setAccessibleName(tr("Memory in use"));
    m_progress = new QProgressBar(this);
    m_progress->setAccessibleName(tr("Model loading progress"));
    m_progress->setVisible(false);

    m_open = new QPushButton(tr("Open model file…"), this);
    m_open->setObjectName(QStringLiteral("openModelButton"));
    m_open->setToolTip(tr("A single-file .safetensors checkpoint (Ctrl+O)"));
    m_openFolder = new QPushButton(tr("Open folder…"), this);
    m_openFolder->setToolTip(tr("A diffusers model folder (model_index.json, unet/, vae/, …)"));
    m_adapterButton = new QPushButton(tr("Load adapter…"), this);
    m_adapterButton->setToolTip(tr("A PSA safety adapter (.safetensors) for this model"));
    m_cancel = new QPushButton(tr("Cancel"), this);
    m_cancel->setAccessibleName(tr("Cancel loading"));
    m_cancel->setVisible(false);
    connect(m_open, &QPushButton::clicked, this, &ModelPanel::openFileRequested);
    connect(m_openFolder, &QPushButton::clicked, this, &ModelPanel::openFolderRequested);
    connect(m_adapterButton, &QPushButton::clicked, this, &ModelPanel::loadAdapterRequested);
    connect(m_cancel, &QPushButton::clicked, this, &ModelPanel::cancelRequested);

    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_open);
    buttons->addWidget(m_openFolder);
    buttons->addWidget(m_adapterButton);
    buttons->addWidget(m_cancel);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_title);
    layout->addWidget(m_details);
    layout->addWidget(m_adapter);
    layout->addWidget(m_memory);
    layout->addWidget(m_progress);
    layout->addLayout(buttons);

    auto* timer = new QTimer(this);
    connect(timer, &QTimer::timeout, this, &ModelPanel::updateMemory);
    timer->start(2000);
    updateMemory();
    showNoModel(tr("Open a model to start."));
}

void ModelPanel::updateMemory()
{
    const QString text = processMemoryText();
    m_memory->setText(text.isEmpty() ? QString() : tr("Memory in use: %1").arg(text));
}

void ModelPanel::showNoModel(const QString& why)
{
    m_title->setText(tr("<b>No model loaded.</b> %1").arg(why.toHtmlEscaped()));
    m_details->clear();
    m_adapter->clear();
    m_progress->setVisible(false);
    m_cancel->setVisible(false);
    m_open->setEnabled(true);
    m_openFolder->setEnabled(true);
    m_adapterButton->setEnabled(false);
}

void ModelPanel::showLoading(const QString& path)
{
    m_title->setText(tr("Loading <b>%1</b>…").arg(QFileInfo(path).fileName().toHtmlEscaped()));
    m_progress->setRange(0, 0);
    m_progress->setVisible(true);
    m_cancel->setVisible(true);
    m_open->setEnabled(false);
    m_openFolder->setEnabled(false);
    m_adapterButton->setEnabled(false);
}

void ModelPanel::showLoadProgress(int step, int total, const QString& detail)
{
    m_progress->setRange(0, std::max(1, total));
    m_progress->setValue(step);
    m_progress->setFormat(detail.isEmpty() ? QStringLiteral("%p%") : detail + QStringLiteral("  %p%"));
}

void ModelPanel::showModel(const ModelInfo& info)
{
    m_title->setText(tr("<b>%1</b> (%2)").arg(info.name.toHtmlEscaped(), info.kind.toHtmlEscaped()));
    m_title->setToolTip(info.path);
    m_details->setText(tr("%1, %2 · %3 M parameters · %4 px")
                           .arg(info.device.toUpper(), info.dtype)
                           .arg(static_cast<double>(info.parameters) / 1e6, 0, 'f', 1)
                           .arg(info.defaultSize));
    m_adapter->setText(info.adapterName.isEmpty() ? tr("Safety adapter: none (only L0 can run)")
                                                  : tr("Safety adapter: %1").arg(info.adapterName));
    m_progress->setVisible(false);
    m_cancel->setVisible(false);
    m_open->setEnabled(true);
    m_openFolder->setEnabled(true);
    m_adapterButton->setEnabled(true);
    updateMemory();
}

QString ModelPanel::summaryText() const { return m_title->text() + QLatin1Char('\n') + m_details->text(); }

} // namespace psa::ui
