// SPDX-License-Identifier: GPL-3.0-or-later
// Wizard page 2: the base model, what the adapter starts from (new, or an earlier run continued
// from its newest checkpoint) and the run folder.
#pragma once
#include <QWizardPage>

#include <functional>

class QLabel;
class QLineEdit;
class QRadioButton;

namespace psa {
struct TrainConfig;
}

namespace psa::ui {

class TrainingModelPage : public QWizardPage {
    Q_OBJECT
public:
    explicit TrainingModelPage(QWidget* parent = nullptr);

    QString modelPath() const;
    void setModelPath(const QString& path);
    QString runFolder() const;
    void setRunFolder(const QString& folder);
    /// True when the run folder's newest checkpoint is to be continued.
    bool continueRun() const;
    void setContinueRun(bool continueRun);
    /// Called with the stored settings of a run chosen to continue (to fill the settings page).
    void setStoredConfigHandler(std::function<void(const psa::TrainConfig&)> handler);

    bool isComplete() const override;
    bool validatePage() override;
    void initializePage() override;

private:
    void refresh();
    void browseModelFolder();
    void browseModelFile();
    void browseRunFolder();

    QLineEdit* m_model = nullptr;
    QLabel* m_modelError = nullptr;
    QRadioButton* m_fresh = nullptr;
    QRadioButton* m_continue = nullptr;
    QLineEdit* m_run = nullptr;
    QLabel* m_runInfo = nullptr;
    std::function<void(const psa::TrainConfig&)> m_onStoredConfig;
};

} // namespace psa::ui
