// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/preview_strip.h"

#include "ui/image_convert.h"

#include <QCheckBox>
#include <QContextMenuEvent>
#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QMouseEvent>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>

#include <algorithm>

namespace psa::ui {

PreviewStrip::PreviewStrip(QWidget* parent) : QWidget(parent)
{
    setObjectName(QStringLiteral("previewStrip"));
    auto* outer = new QVBoxLayout(this);
    m_placeholder = new QLabel(tr("Generated images appear here. <b>Generate</b> renders with the chosen "
                                  "safety setting; <b>Preview L0–L5</b> renders the same prompt and seed at "
                                  "every level side by side."), this);
    m_placeholder->setWordWrap(true);
    m_placeholder->setAlignment(Qt::AlignCenter);
    outer->addWidget(m_placeholder, 1);
    m_row = new QHBoxLayout;
    m_row->setSpacing(8);
    outer->addLayout(m_row, 1);
    auto* buttons = new QHBoxLayout;
    m_compareButton = new QPushButton(tr("Compare the two ticked"), this);
    m_compareButton->setObjectName(QStringLiteral("compareButton"));
    m_compareButton->setToolTip(tr("Tick two images, then compare them side by side."));
    m_compareButton->setEnabled(false);
    connect(m_compareButton, &QPushButton::clicked, this, [this] {
        const auto cells = comparedCells();
        if (cells.size() == 2)
            Q_EMIT compareRequested(cells[0], cells[1]);
    });
    buttons->addStretch();
    buttons->addWidget(m_compareButton);
    outer->addLayout(buttons);
}

void PreviewStrip::reset(const QStringList& labels)
{
    for (auto& c : m_cells)
        delete c.frame;
    m_cells.clear();
    m_placeholder->setVisible(labels.isEmpty());
    for (const auto& text : labels) {
        Cell c;
        c.frame = new QWidget(this);
        auto* v = new QVBoxLayout(c.frame);
        v->setContentsMargins(0, 0, 0, 0);
        c.title = new QLabel(text, c.frame);
        c.title->setAlignment(Qt::AlignCenter);
        c.picture = new QLabel(c.frame);
        c.picture->setObjectName(QStringLiteral("cellPicture"));
        c.picture->setAlignment(Qt::AlignCenter);
        c.picture->setMinimumSize(64, 64);
        c.picture->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
        c.picture->setFrameShape(QFrame::StyledPanel);
        c.picture->setAccessibleName(tr("Image %1").arg(text));
        c.picture->setToolTip(tr("Click to enlarge; right-click to save"));
        c.picture->setCursor(Qt::PointingHandCursor);
        c.picture->installEventFilter(this);
        c.progress = new QProgressBar(c.frame);
        c.progress->setAccessibleName(tr("Progress of %1").arg(text));
        c.progress->setRange(0, 1);
        c.progress->setValue(0);
        c.progress->setTextVisible(false);
        c.progress->setMaximumHeight(6);
        c.compare = new QCheckBox(tr("compare"), c.frame);
        c.compare->setAccessibleName(tr("Compare %1").arg(text));
        c.compare->setEnabled(false);
        connect(c.compare, &QCheckBox::toggled, this, &PreviewStrip::updateCompareButton);
        v->addWidget(c.title);
        v->addWidget(c.picture, 1);
        v->addWidget(c.progress);
        v->addWidget(c.compare, 0, Qt::AlignHCenter);
        m_row->addWidget(c.frame, 1);
        m_cells.append(c);
    }
    updateCompareButton();
}

int PreviewStrip::finishedCount() const
{
    return static_cast<int>(std::count_if(m_cells.begin(), m_cells.end(), [](const Cell& c) { return !c.final.isNull(); }));
}

void PreviewStrip::showImage(Cell& cell, const QImage& image)
{
    cell.shown = image;
    cell.picture->setPixmap(fittedPixmap(image, cell.picture->size(), devicePixelRatioF()));
}

void PreviewStrip::setPreview(int cell, const QImage& image)
{
    if (cell < 0 || cell >= m_cells.size() || !m_cells[cell].final.isNull())
        return;
    showImage(m_cells[cell], image);
}

void PreviewStrip::setFinalImage(int cell, const QImage& image, const QString& path)
{
    if (cell < 0 || cell >= m_cells.size())
        return;
    auto& c = m_cells[cell];
    c.final = image;
    c.path = path;
    c.progress->setRange(0, 1);
    c.progress->setValue(1);
    c.compare->setEnabled(true);
    c.picture->setToolTip(tr("%1\nClick to enlarge; right-click to save").arg(path));
    showImage(c, image);
}

void PreviewStrip::setCellProgress(int cell, int step, int total)
{
    if (cell < 0 || cell >= m_cells.size() || !m_cells[cell].final.isNull())
        return;
    m_cells[cell].progress->setRange(0, std::max(1, total));
    m_cells[cell].progress->setValue(step);
}

void PreviewStrip::markUnfinishedCancelled()
{
    for (auto& c : m_cells)
        if (c.final.isNull()) {
            c.title->setText(tr("%1 (stopped)").arg(c.title->text()));
            c.progress->setValue(0);
        }
}

QString PreviewStrip::label(int cell) const
{
    return cell >= 0 && cell < m_cells.size() ? m_cells[cell].title->text() : QString();
}

QImage PreviewStrip::finalImage(int cell) const
{
    return cell >= 0 && cell < m_cells.size() ? m_cells[cell].final : QImage();
}

QString PreviewStrip::path(int cell) const
{
    return cell >= 0 && cell < m_cells.size() ? m_cells[cell].path : QString();
}

QList<int> PreviewStrip::comparedCells() const
{
    QList<int> out;
    for (int i = 0; i < m_cells.size(); ++i)
        if (m_cells[i].compare->isChecked())
            out.append(i);
    return out;
}

void PreviewStrip::setCompared(int cell, bool compared)
{
    if (cell >= 0 && cell < m_cells.size())
        m_cells[cell].compare->setChecked(compared);
}

void PreviewStrip::updateCompareButton() { m_compareButton->setEnabled(comparedCells().size() == 2); }

bool PreviewStrip::eventFilter(QObject* watched, QEvent* event)
{
    for (int i = 0; i < m_cells.size(); ++i) {
        if (m_cells[i].picture != watched)
            continue;
        if (event->type() == QEvent::Resize && !m_cells[i].shown.isNull())
            showImage(m_cells[i], m_cells[i].shown);
        if (m_cells[i].final.isNull())
            break;
        if (event->type() == QEvent::MouseButtonRelease &&
            static_cast<QMouseEvent*>(event)->button() == Qt::LeftButton) {
            Q_EMIT cellActivated(i);
            return true;
        }
        if (event->type() == QEvent::ContextMenu) {
            QMenu menu(this);
            menu.addAction(tr("Enlarge"), this, [this, i] { Q_EMIT cellActivated(i); });
            menu.addAction(tr("Save image as…"), this, [this, i] { Q_EMIT saveCellRequested(i); });
            menu.exec(static_cast<QContextMenuEvent*>(event)->globalPos());
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

} // namespace psa::ui
