// SPDX-License-Identifier: GPL-3.0-or-later
// Wizard page 2: the base model, what the adapter starts from (new, an adapter file to fine-tune,
// or an earlier run continued from its newest checkpoint) and the run folder.
#pragma once
#include "adapter/adapter_file_info.h"

#include <QWizardPage>

#include <functional>
#include <optional>

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
    /// True when a new run starts from the adapter file initAdapterPath().
    bool startFromAdapter() const;
    QString initAdapterPath() const;
    /// Chooses "start from an adapter file" with `path`.
    void setInitAdapterPath(const QString& path);
    /// Writes the chosen start into `config`: the adapter file and its user-token layout (the file
    /// decides it over the settings page's choice), none for a new adapter, and nothing when
    /// continuing (the stored settings say what that run started from).
    void applyStart(psa::TrainConfig& config) const;
    /// The starting adapter's user tokens in words ("1 user token"); empty when the run does not
    /// start from an adapter file.
    QString startingAdapterTokens() const;
    /// Called with the stored settings of a run chosen to continue (to fill the settings page).
    void setStoredConfigHandler(std::function<void(const psa::TrainConfig&)> handler);

    bool isComplete() const override;
    bool validatePage() override;
    void initializePage() override;

private:
    static QString tokensText(const psa::AdapterFileInfo& info);
    void refresh();
    void checkInitAdapter();
    void chooseDefaultStart();
    void browseModelFolder();
    void browseModelFile();
    void browseInitAdapter();
    void browseRunFolder();

    QLineEdit* m_model = nullptr;
    QLabel* m_modelError = nullptr;
    QRadioButton* m_fresh = nullptr;
    QRadioButton* m_fromAdapter = nullptr;
    QRadioButton* m_continue = nullptr;
    QLineEdit* m_initAdapter = nullptr;
    QLabel* m_initAdapterInfo = nullptr;
    QLineEdit* m_run = nullptr;
    QLabel* m_runInfo = nullptr;
    /// The chosen adapter file's header, when it is one the wizard can train from.
    std::optional<psa::AdapterFileInfo> m_adapterInfo;
    /// The person (or a caller) chose the start; until then it follows the model (demo adapter).
    bool m_startChosen = false;
    std::function<void(const psa::TrainConfig&)> m_onStoredConfig;
};

} // namespace psa::ui
