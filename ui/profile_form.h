// SPDX-License-Identifier: GPL-3.0-or-later
// The editing form of one safety profile: attributes, per-category bans with the rule behind each,
// name and note. Problems are shown next to the field they concern, never fixed silently.
#pragma once
#include "profiles/categories.h"
#include "profiles/profile.h"

#include <QHash>
#include <QWidget>

#include <optional>
#include <vector>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QToolButton;

namespace psa::ui {

/// Edits a SafetyProfile. Changing an attribute re-applies the ban rules to every category the
/// person has not overridden; ticking a category by hand marks it overridden when it disagrees
/// with the rules. GUI thread only.
class ProfileForm : public QWidget {
    Q_OBJECT
public:
    explicit ProfileForm(const psa::CategorySet& categories, QWidget* parent = nullptr);

    /// Shows `profile` (its bans are re-derived for categories missing from it) and clears errors.
    void setProfile(const psa::SafetyProfile& profile);
    /// The profile as the fields say, or nullopt with every problem shown at its field.
    std::optional<psa::SafetyProfile> readProfile();
    /// The profile being edited, even when a field is invalid (the last valid age is kept).
    const psa::SafetyProfile& currentProfile() const { return m_profile; }

    /// Shows each error at its field ("age", "name", "bans.Violence", ...); an error for a field
    /// without its own label goes to the form's general error line.
    void showErrors(const std::vector<psa::FieldError>& errors);
    void clearErrors();
    /// The error text shown at `field`, empty when none.
    QString fieldError(const QString& field) const;

Q_SIGNALS:
    /// The person changed something (for "unsaved changes" tracking).
    void edited();

private:
    struct BanRow {
        QCheckBox* toggle = nullptr;
        QLabel* reason = nullptr;
        QLabel* marker = nullptr;
        QToolButton* reset = nullptr;
        QLabel* error = nullptr;
    };
    QWidget* buildAttributes();
    QWidget* buildBans();
    /// Reads the attribute widgets into m_profile and re-applies the rules.
    void attributesChanged();
    void banToggled(const std::string& category, bool banned);
    void resetBanToRule(const std::string& category);
    void refreshBans();
    void refreshAgeGroup();
    /// Parses the age field; on failure returns the message for its error label.
    std::optional<int> parsedAge(QString* problem) const;
    QLabel* errorLabel(const QString& field);
    void setError(const QString& field, const QString& message);

    const psa::CategorySet& m_categories;
    psa::SafetyProfile m_profile;
    bool m_updating = false; // true while widgets are filled from m_profile

    QLineEdit* m_name = nullptr;
    QLineEdit* m_age = nullptr;
    QComboBox* m_ageGroup = nullptr;
    QCheckBox* m_ageGroupByHand = nullptr;
    QComboBox* m_gender = nullptr;
    QComboBox* m_religion = nullptr;
    QComboBox* m_physical = nullptr;
    QComboBox* m_mental = nullptr;
    QPlainTextEdit* m_note = nullptr;
    QHash<QString, QLabel*> m_errorLabels;                 // field -> its red label
    std::vector<std::pair<std::string, BanRow>> m_banRows; // in category order
};

} // namespace psa::ui
