// SPDX-License-Identifier: GPL-3.0-or-later
// A window showing one image large, or two side by side for comparison, each with its label and
// the actions that apply to a file on disk (save a copy, reuse its settings).
#pragma once
#include <QDialog>
#include <QImage>
#include <QList>

class QLabel;

namespace psa::ui {

class ImageViewer : public QDialog {
    Q_OBJECT
public:
    struct Entry {
        QString label;
        QImage image;
        QString path; // empty: not on disk
    };
    /// One entry: enlarge; two: compare side by side.
    explicit ImageViewer(const QList<Entry>& entries, QWidget* parent = nullptr);

Q_SIGNALS:
    /// "Reuse these settings" was clicked for the image at `path`.
    void reuseSettingsRequested(const QString& path);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void saveCopy(const Entry& entry);
    QList<Entry> m_entries;
    QList<QLabel*> m_pictures;
};

} // namespace psa::ui
