// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/gallery_panel.h"

#include <QContextMenuEvent>
#include <QDesktopServices>
#include <QDir>
#include <QDirIterator>
#include <QFileInfo>
#include <QIcon>
#include <QImageReader>
#include <QMenu>
#include <QPixmap>
#include <QUrl>

#include <algorithm>

namespace psa::ui {

namespace {

constexpr int kThumb = 112;

QImage thumbnail(const QString& path)
{
    QImageReader reader(path);
    const QSize size = reader.size();
    if (size.isValid())
        reader.setScaledSize(size.scaled(kThumb * 2, kThumb * 2, Qt::KeepAspectRatio)); // 2x for high-DPI
    return reader.read();
}

} // namespace

GalleryPanel::GalleryPanel(QWidget* parent) : QListWidget(parent)
{
    setObjectName(QStringLiteral("gallery"));
    setAccessibleName(tr("Gallery of generated images"));
    setViewMode(QListView::IconMode);
    setIconSize(QSize(kThumb, kThumb));
    setResizeMode(QListView::Adjust);
    setMovement(QListView::Static);
    setUniformItemSizes(true);
    setWordWrap(true);
    connect(this, &QListWidget::itemActivated, this,
            [this](QListWidgetItem* item) { Q_EMIT openRequested(item->data(Qt::UserRole).toString()); });
}

GalleryPanel::~GalleryPanel()
{
    if (m_scan) {
        m_scan->requestInterruption();
        m_scan->wait();
    }
}

void GalleryPanel::setFolder(const QString& folder)
{
    m_folder = folder;
    refresh();
}

void GalleryPanel::refresh()
{
    if (m_scan) {
        m_scan->requestInterruption();
        m_scan->wait();
        delete m_scan;
        m_scan = nullptr;
    }
    const int generation = ++m_generation;
    m_addedDuringScan.clear();
    m_scanPending = true;
    const QString folder = m_folder;
    m_scan = QThread::create([this, folder, generation] {
        QList<QFileInfo> files;
        QDirIterator it(folder, {QStringLiteral("*.png")}, QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext())
            files.append(QFileInfo(it.next()));
        std::sort(files.begin(), files.end(),
                  [](const QFileInfo& a, const QFileInfo& b) { return a.lastModified() > b.lastModified(); });
        QList<QPair<QString, QImage>> items;
        for (const auto& f : files.mid(0, kMaxItems)) {
            if (QThread::currentThread()->isInterruptionRequested())
                return;
            items.append({f.absoluteFilePath(), thumbnail(f.absoluteFilePath())});
        }
        QMetaObject::invokeMethod(this, [this, items, generation] { showScan(items, generation); },
                                  Qt::QueuedConnection);
    });
    m_scan->setObjectName(QStringLiteral("gallery-scan"));
    m_scan->start();
}

void GalleryPanel::showScan(const QList<QPair<QString, QImage>>& items, int generation)
{
    if (generation != m_generation)
        return;
    clear();
    QList<QPair<QString, QImage>> shown = items;
    for (const auto& added : m_addedDuringScan)
        if (std::none_of(items.begin(), items.end(), [&](const auto& i) { return i.first == added.first; }))
            shown.prepend(added);
    m_addedDuringScan.clear();
    m_scanPending = false;
    for (const auto& [path, image] : shown) {
        if (image.isNull())
            continue; // not an image we can read: leave it out rather than show a blank
        auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(image)), QFileInfo(path).completeBaseName(), this);
        item->setData(Qt::UserRole, path);
        item->setToolTip(path);
    }
    Q_EMIT refreshed(count());
}

void GalleryPanel::addImage(const QString& path, const QImage& image)
{
    const QImage thumb = image.scaled(kThumb * 2, kThumb * 2, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    auto* item = new QListWidgetItem(QIcon(QPixmap::fromImage(thumb)), QFileInfo(path).completeBaseName());
    item->setData(Qt::UserRole, path);
    item->setToolTip(path);
    insertItem(0, item);
    if (m_scanPending)
        m_addedDuringScan.append({path, thumb});
    while (count() > kMaxItems)
        delete takeItem(count() - 1);
}

QString GalleryPanel::pathAt(int row) const
{
    const auto* it = item(row);
    return it ? it->data(Qt::UserRole).toString() : QString();
}

void GalleryPanel::contextMenuEvent(QContextMenuEvent* event)
{
    QListWidgetItem* it = itemAt(event->pos());
    QMenu menu(this);
    if (it) {
        const QString path = it->data(Qt::UserRole).toString();
        menu.addAction(tr("Open"), this, [this, path] { Q_EMIT openRequested(path); });
        menu.addAction(tr("Reuse these settings"), this, [this, path] { Q_EMIT reuseSettingsRequested(path); });
        menu.addSeparator();
    }
    menu.addAction(tr("Open the output folder"), this,
                   [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(m_folder)); });
    menu.addAction(tr("Refresh"), this, &GalleryPanel::refresh);
    menu.exec(event->globalPos());
}

} // namespace psa::ui
