// SPDX-License-Identifier: GPL-3.0-or-later
// Wizard page 1: the preference pairs. A Sage-format split folder is checked with
// PreferenceDataset::load and its report shown; or a Sage-mini world is generated first.
#pragma once
#include <QWizardPage>

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProcess;
class QPushButton;

namespace psa::ui {

class TrainingDataPage : public QWizardPage {
    Q_OBJECT
public:
    explicit TrainingDataPage(QWidget* parent = nullptr);
    ~TrainingDataPage() override;

    QString dataFolder() const;
    /// Sets the folder and checks it at once.
    void setDataFolder(const QString& folder);
    /// Whether the folder currently entered loaded without error.
    bool isComplete() const override;

private:
    void checkFolder();
    void browse();
    void generateWorld();
    void worldGenerationFinished(int exitCode);

    QLineEdit* m_folder = nullptr;
    QLabel* m_report = nullptr;
    QPushButton* m_generate = nullptr;
    QPlainTextEdit* m_generatorLog = nullptr;
    QProcess* m_generator = nullptr;
    QString m_worldFolder;
    QString m_checkedFolder; // the folder that last loaded without error
};

} // namespace psa::ui
