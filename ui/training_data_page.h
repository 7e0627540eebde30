// SPDX-License-Identifier: GPL-3.0-or-later
// Wizard page 1: the preference pairs. A Sage-format split folder is checked
// with PreferenceDataset::load and its report shown; or a Sage-mini world is
// generated first.
#pragma once
#include <QWizardPage>

class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;

namespace psa::ui {

class TrainingWorldJob;

class TrainingDataPage : public QWizardPage {
    Q_OBJECT
public:
    explicit TrainingDataPage(QWidget* parent = nullptr);

    QString dataFolder() const;
    /// Sets the folder and checks it at once.
    void setDataFolder(const QString& folder);
    /// Generates a Sage-mini world of `users` virtual people into `folder` on a worker thread;
    /// when it is complete, its train split becomes the data folder.
    void generateWorldInto(const QString& folder, int users = 100);
    /// Whether the folder currently entered loaded without error.
    bool isComplete() const override;

private:
    void checkFolder();
    void browse();
    void generateWorld();
    void worldGenerationEnded(const QString& message, bool problem);

    QLineEdit* m_folder = nullptr;
    QLabel* m_report = nullptr;
    QPushButton* m_generate = nullptr;
    QPushButton* m_stopGenerating = nullptr;
    QProgressBar* m_generation = nullptr;
    QLabel* m_generationStatus = nullptr;
    TrainingWorldJob* m_world = nullptr;
    bool m_generating = false;
    QString m_checkedFolder; // the folder that last loaded without error
};

} // namespace psa::ui
