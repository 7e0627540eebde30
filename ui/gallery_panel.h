// SPDX-License-Identifier: GPL-3.0-or-later
// History of this and earlier sessions: thumbnails of the PNGs in the output folder, newest first.
// Thumbnails are read on a background thread; new images are added as they are written.
#pragma once
#include <QImage>
#include <QListWidget>
#include <QPair>
#include <QThread>

namespace psa::ui {

class GalleryPanel : public QListWidget {
    Q_OBJECT
public:
    explicit GalleryPanel(QWidget* parent = nullptr);
    ~GalleryPanel() override;

    void setFolder(const QString& folder);
    QString folder() const { return m_folder; }
    /// Re-reads the folder in the background (at most the newest kMaxItems files).
    void refresh();
    /// Adds a just-written image at the front without re-reading the folder.
    void addImage(const QString& path, const QImage& image);
    QString pathAt(int row) const;

    static constexpr int kMaxItems = 400;

Q_SIGNALS:
    void openRequested(const QString& path);
    void reuseSettingsRequested(const QString& path);
    void refreshed(int count);

protected:
    void contextMenuEvent(QContextMenuEvent* event) override;

private:
    void showScan(const QList<QPair<QString, QImage>>& items, int generation);
    QString m_folder;
    QThread* m_scan = nullptr;
    int m_generation = 0; // results of an older scan are dropped
    bool m_scanPending = false;
    QList<QPair<QString, QImage>> m_addedDuringScan; // kept when a scan that missed them lands
};

} // namespace psa::ui
