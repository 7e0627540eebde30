// SPDX-License-Identifier: GPL-3.0-or-later
// The PSA Studio main window: layout, menus and wiring of the panels to the generation controller.
#pragma once
#include "ui/generation_controller.h"

#include <QMainWindow>
#include <QStringList>

class QAction;
class QLabel;
class QMenu;
class QProgressBar;
class QPushButton;

namespace psa::ui {

class GalleryPanel;
class GenerationPanel;
class LogPanel;
class ModelPanel;
class PreviewStrip;
class SafetyPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    /// Opens `modelFromCommandLine`, else the demo model when it holds weights, else the last
    /// model used; with none of them the window starts in its "no model" state.
    explicit MainWindow(const QString& modelFromCommandLine = {}, QWidget* parent = nullptr);
    ~MainWindow() override;

    void openModel(const QString& path);
    void loadAdapter(const QString& path);
    /// One click of Generate: the chosen level or profile, the batch as set.
    void generate();
    /// One click of "Preview L0-L5": the same prompt and seed at every level (and the chosen
    /// profile), conditions in passes of rowsPerPass() so images arrive in small groups.
    void generatePreviewStrip();
    void cancel();
    /// Fills the settings from a PNG's `parameters` text (ours or A1111-style). Problems go to a
    /// dialog and the log; returns whether anything was applied.
    bool applySettingsFromFile(const QString& path);

    int rowsPerPass() const { return m_rowsPerPass; }
    void setRowsPerPass(int rows) { m_rowsPerPass = rows; }

    GenerationController* controller() const { return m_controller; }
    GenerationPanel* generationPanel() const { return m_generation; }
    SafetyPanel* safetyPanel() const { return m_safety; }
    PreviewStrip* previewStrip() const { return m_strip; }
    GalleryPanel* galleryPanel() const { return m_gallery; }
    ModelPanel* modelPanel() const { return m_modelPanel; }
    /// The last error shown (dialog title and text), for tests and the status bar.
    QString lastError() const { return m_lastError; }

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void buildActions();
    void buildMenus();
    void buildDocks();
    void wireController();
    void updateActions();
    void startJob(psa::GenerationRequest request, const QStringList& cellLabels);
    void onProgress(const GenerationProgress& p);
    void onImage(const GeneratedImageInfo& info);
    void onFinished(bool cancelled, double seconds, const QStringList& warnings);
    void showError(const QString& what, const QString& message);
    void chooseModelFile();
    void chooseModelFolder();
    void chooseAdapter();
    void chooseSettingsPng();
    void saveCurrent();
    void saveCell(int cell);
    void saveStrip();
    void openViewer(const QList<int>& cells);
    void openGalleryImage(const QString& path);
    void rememberRecentModel(const QString& path);
    void rebuildRecentMenu();
    void openProfiles();
    void openTrainingWizard();
    void showHelp();

    GenerationController* m_controller = nullptr;
    ModelPanel* m_modelPanel = nullptr;
    GenerationPanel* m_generation = nullptr;
    SafetyPanel* m_safety = nullptr;
    PreviewStrip* m_strip = nullptr;
    GalleryPanel* m_gallery = nullptr;
    LogPanel* m_log = nullptr;
    QProgressBar* m_progress = nullptr;
    QLabel* m_progressText = nullptr;
    QPushButton* m_generateButton = nullptr;
    QPushButton* m_stripButton = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QMenu* m_recentMenu = nullptr;
    QAction* m_openAction = nullptr;
    QAction* m_openFolderAction = nullptr;
    QAction* m_adapterAction = nullptr;
    QAction* m_saveAction = nullptr;
    QAction* m_saveStripAction = nullptr;
    QAction* m_settingsFromPngAction = nullptr;
    QAction* m_generateAction = nullptr;
    QAction* m_stripAction = nullptr;
    QAction* m_cancelAction = nullptr;
    QAction* m_profilesAction = nullptr;
    QAction* m_trainAction = nullptr;

    psa::GenerationRequest m_request; // of the running or last job (for the strip's settings)
    QString m_modelPath;              // being loaded or loaded
    int m_rowsPerPass = 2;
    int m_batch = 1;
    QString m_lastError;
};

} // namespace psa::ui
