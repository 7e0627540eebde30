// SPDX-License-Identifier: GPL-3.0-or-later
// Wizard page 3: the TrainConfig fields a person may want to change, each with a short
// explanation. Values are checked by TrainConfig::validate() before the run starts.
#pragma once
#include "training/train_config.h"

#include <QWizardPage>

#include <optional>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QSpinBox;
class QVBoxLayout;

namespace psa::ui {

class TrainingSettingsPage : public QWizardPage {
    Q_OBJECT
public:
    explicit TrainingSettingsPage(QWidget* parent = nullptr);

    /// Fills the fields (fields not shown keep these values).
    void setSettings(const psa::TrainConfig& config);
    /// The settings as entered, or nullopt with the problem shown on the page.
    std::optional<psa::TrainConfig> readSettings();
    /// The defaults the page starts with: TrainConfig's, with a shorter first run.
    static psa::TrainConfig defaultSettings();

    bool validatePage() override;
    /// A run that starts from an adapter file takes its token layout from there: the choice is
    /// disabled and `description` (e.g. "1 user token") shown. Empty: the choice is the person's.
    void setStartingAdapterTokens(const QString& description);

private:
    QSpinBox* intField(const QString& name, int min, int max);
    /// A text field for a decimal or scientific number (read back with readNumber).
    QLineEdit* numberField(const QString& name);
    QCheckBox* checkField(const QString& text, const QString& name);
    /// Adds a labelled field with its explanation below it; returns the cell's layout.
    QVBoxLayout* addRow(const QString& label, QWidget* field, const QString& explanation);
    void selectTokens(const psa::TrainConfig& config);
    void showProblem(const QString& text);
    /// The number in a text field; otherwise shows what is wrong, focuses the field, nullopt.
    std::optional<double> readNumber(QLineEdit* field, const QString& label, const QString& example);

    psa::TrainConfig m_base; // fields the page does not show come from here
    QFormLayout* m_form = nullptr;
    QSpinBox* m_steps = nullptr;
    QSpinBox* m_batch = nullptr;
    QSpinBox* m_accum = nullptr;
    QLineEdit* m_lr = nullptr;
    QSpinBox* m_warmup = nullptr;
    QLineEdit* m_beta = nullptr;
    QLineEdit* m_sft = nullptr;
    QLineEdit* m_anchor = nullptr;
    QCheckBox* m_anchorAllowed = nullptr; // anchor_scope: "allowed" when checked
    QLineEdit* m_counterpart = nullptr;
    QCheckBox* m_counterpartBanned = nullptr; // counterpart_pairs: "banned" when checked
    QComboBox* m_tokens = nullptr; // data: "per-category" or the dense token count
    QLabel* m_tokensNote = nullptr;
    QDoubleSpinBox* m_captionDropout = nullptr;
    QDoubleSpinBox* m_userDropout = nullptr;
    QDoubleSpinBox* m_banMixing = nullptr; // ban_mixing; per-category tokens only
    QCheckBox* m_tokensAtCaptions = nullptr; // token_start: "captions" when checked
    QCheckBox* m_freezeUserKeys = nullptr;   // freeze_user_keys
    QCheckBox* m_sinkToken = nullptr;        // sink_token; per-category tokens only
    QCheckBox* m_banGatedTokens = nullptr;   // ban_gated_tokens; per-category tokens only
    QCheckBox* m_ownUserQuery = nullptr;     // own_user_query
    QLineEdit* m_routing = nullptr;          // routing_weight
    QSpinBox* m_routingSteps = nullptr;      // routing_steps
    QDoubleSpinBox* m_emaDecay = nullptr;
    QSpinBox* m_resolution = nullptr;
    QSpinBox* m_checkpointEvery = nullptr;
    QSpinBox* m_sampleEvery = nullptr;
    QSpinBox* m_sampleSteps = nullptr;
    QSpinBox* m_seed = nullptr;
    QComboBox* m_device = nullptr;
    QComboBox* m_precision = nullptr;
    QLabel* m_problem = nullptr;
};

} // namespace psa::ui
