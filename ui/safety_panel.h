// SPDX-License-Identifier: GPL-3.0-or-later
// The safety control: a level slider L0-L5 with a plain-words line of what it keeps out, or one
// of the person's saved profiles instead of a level.
#pragma once
#include "pipeline/generation.h"
#include "profiles/profile.h"

#include <QWidget>

#include <optional>
#include <vector>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QSlider;

namespace psa::ui {

/// The safety panel's strength range is 0 to this (the pipeline allows up to kMaxAdapterScale;
/// past 2 an adapter only overdoes what it learned).
inline constexpr double kMaxAdapterStrength = 2.0;

class SafetyPanel : public QWidget {
    Q_OBJECT
public:
    explicit SafetyPanel(QWidget* parent = nullptr);

    int level() const;
    void setLevel(int level);
    /// The saved profile chosen in the combo, or nullopt when the slider's level is used.
    std::optional<psa::SafetyProfile> chosenProfile() const;
    /// Selects the saved profile stored at `path`; false when it is not in the list.
    bool chooseProfile(const QString& path);
    /// The adapter's strength (its scale, 0-2; 1 is what it was trained and measured at) for
    /// every condition with a profile.
    double strength() const;
    void setStrength(double strength);

    /// The condition for a single generation: the chosen profile, else the level's preset.
    psa::GenerationCondition condition() const;
    /// The preview strip: L0...L5, then the chosen profile when there is one.
    std::vector<psa::GenerationCondition> stripConditions() const;

    /// The line shown under the slider (also its tooltip, as rich text).
    QString descriptionText() const;
    /// Re-reads the profiles folder (after the profile builder saved one); keeps the choice.
    void reloadProfiles();
    /// Without an adapter only L0 can run: says so under the slider.
    void setAdapterAvailable(bool available);

Q_SIGNALS:
    void conditionChanged();

private:
    void updateDescription();
    QSlider* m_slider = nullptr;
    QLabel* m_description = nullptr;
    QLabel* m_adapterHint = nullptr;
    QComboBox* m_profiles = nullptr;
    QDoubleSpinBox* m_strength = nullptr;
    std::vector<psa::SafetyProfile> m_presets;
    std::vector<psa::SafetyProfile> m_saved; // index i+1 in the combo
    QString m_loadProblem;
    bool m_adapterAvailable = false;
};

} // namespace psa::ui
