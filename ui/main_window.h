// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <QMainWindow>

class QPlainTextEdit;

namespace psa::ui {

/// The main window. At this stage: a model-file inspector (tensors, metadata, parameter count)
/// and the About box; generation, profiles and training panels attach here.
class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

    /// Shows the listing of a .safetensors/.npy file, or the error it raised.
    void inspectFile(const QString& path);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void openFile();
    QPlainTextEdit* m_view = nullptr;
};

} // namespace psa::ui
