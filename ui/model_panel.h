// SPDX-License-Identifier: GPL-3.0-or-later
// The model box: which model and adapter are in use, on which device and dtype, the process's
// memory, and loading progress with a Cancel button. A clear "no model" state offers Open.
#pragma once
#include "ui/inference_worker.h"

#include <QWidget>

class QLabel;
class QProgressBar;
class QPushButton;

namespace psa::ui {

class ModelPanel : public QWidget {
    Q_OBJECT
public:
    explicit ModelPanel(QWidget* parent = nullptr);

    void showNoModel(const QString& why);
    void showLoading(const QString& path);
    void showLoadProgress(int step, int total, const QString& detail);
    void showModel(const ModelInfo& info);
    QString summaryText() const;

Q_SIGNALS:
    void openFileRequested();
    void openFolderRequested();
    void loadAdapterRequested();
    void cancelRequested();

private:
    void updateMemory();
    QLabel* m_title = nullptr;
    QLabel* m_details = nullptr;
    QLabel* m_adapter = nullptr;
    QLabel* m_memory = nullptr;
    QProgressBar* m_progress = nullptr;
    QPushButton* m_open = nullptr;
    QPushButton* m_openFolder = nullptr;
    QPushButton* m_adapterButton = nullptr;
    QPushButton* m_cancel = nullptr;
};

/// Resident memory of this process ("1.3 GiB"), from /proc/self/status; empty when unknown.
QString processMemoryText();

} // namespace psa::ui
