// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/image_viewer.h"

#include "ui/image_convert.h"

#include <QDialogButtonBox>
#include <QEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QVBoxLayout>

namespace psa::ui {

ImageViewer::ImageViewer(const QList<Entry>& entries, QWidget* parent) : QDialog(parent), m_entries(entries)
{
    setAttribute(Qt::WA_DeleteOnClose);
    setObjectName(QStringLiteral("imageViewer"));
    QStringList names;
    for (const auto& e : entries)
        names << e.label;
    setWindowTitle(entries.size() == 2 ? tr("Compare %1 and %2").arg(names[0], names[1]) : names.value(0));
    auto* row = new QHBoxLayout;
    for (const auto& e : m_entries) {
        auto* column = new QVBoxLayout;
        auto* title = new QLabel(QStringLiteral("<b>%1</b>").arg(e.label.toHtmlEscaped()), this);
        title->setAlignment(Qt::AlignCenter);
        auto* picture = new QLabel(this);
        picture->setAlignment(Qt::AlignCenter);
        picture->setMinimumSize(256, 256);
        picture->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
        picture->setAccessibleName(tr("Image %1").arg(e.label));
        picture->installEventFilter(this);
        m_pictures.append(picture);
        auto* actions = new QHBoxLayout;
        if (!e.path.isEmpty()) {
            auto* save = new QPushButton(tr("Save a copy…"), this);
            connect(save, &QPushButton::clicked, this, [this, e] { saveCopy(e); });
            auto* reuse = new QPushButton(tr("Reuse these settings"), this);
            reuse->setObjectName(QStringLiteral("reuseSettings"));
            connect(reuse, &QPushButton::clicked, this, [this, e] { Q_EMIT reuseSettingsRequested(e.path); });
            actions->addStretch();
            actions->addWidget(save);
            actions->addWidget(reuse);
            actions->addStretch();
        }
        column->addWidget(title);
        column->addWidget(picture, 1);
        column->addLayout(actions);
        row->addLayout(column, 1);
    }
    auto* close = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(close, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(row, 1);
    layout->addWidget(close);
    resize(entries.size() == 2 ? 1100 : 700, 720);
}

bool ImageViewer::eventFilter(QObject* watched, QEvent* event)
{
    if (event->type() == QEvent::Resize) {
        const int i = m_pictures.indexOf(static_cast<QLabel*>(watched));
        if (i >= 0)
            m_pictures[i]->setPixmap(fittedPixmap(m_entries[i].image, m_pictures[i]->size(), devicePixelRatioF()));
    }
    return QDialog::eventFilter(watched, event);
}

void ImageViewer::saveCopy(const Entry& entry)
{
    const QString target = QFileDialog::getSaveFileName(this, tr("Save image"), QFileInfo(entry.path).fileName(),
                                                        tr("PNG images (*.png)"));
    if (target.isEmpty())
        return;
    // A file copy keeps the settings stored in the PNG's text chunks.
    QFile::remove(target);
    if (!QFile::copy(entry.path, target))
        QMessageBox::warning(this, tr("Save image"), tr("Could not write %1.").arg(target));
}

} // namespace psa::ui
