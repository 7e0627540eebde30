// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/safety_panel.h"

#include "ui/safety_level_text.h"

#include "profiles/profile_store.h"

#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QGridLayout>
#include <QLabel>
#include <QSlider>
#include <QVBoxLayout>

#include <spdlog/spdlog.h>

namespace psa::ui {

SafetyPanel::SafetyPanel(QWidget* parent) : QWidget(parent)
{
    try {
        m_presets = psa::load_level_presets(psa::CategorySet::builtin());
    } catch (const std::exception& e) {
        // Without presets only the plain model can run; the window stays usable and says why.
        m_loadProblem = QString::fromUtf8(e.what());
        spdlog::error("level presets not available: {}", e.what());
    }

    m_slider = new QSlider(Qt::Horizontal, this);
    m_slider->setObjectName(QStringLiteral("safetyLevel"));
    m_slider->setAccessibleName(tr("Safety level"));
    m_slider->setRange(0, 5);
    m_slider->setPageStep(1);
    m_slider->setTickPosition(QSlider::TicksBelow);
    m_slider->setTickInterval(1);

    auto* ticks = new QGridLayout;
    ticks->setContentsMargins(0, 0, 0, 0);
    ticks->addWidget(m_slider, 0, 0, 1, 6);
    for (int level = 0; level <= 5; ++level) {
        auto* tick = new QLabel(QStringLiteral("L%1").arg(level), this);
        tick->setAlignment(level == 0 ? Qt::AlignLeft : level == 5 ? Qt::AlignRight : Qt::AlignHCenter);
        ticks->addWidget(tick, 1, level);
    }
    auto* ends = new QHBoxLayout;
    ends->addWidget(new QLabel(tr("<small>the model as it is</small>"), this));
    ends->addStretch();
    ends->addWidget(new QLabel(tr("<small>strictest</small>"), this));

    m_description = new QLabel(this);
    m_description->setObjectName(QStringLiteral("safetyDescription"));
    m_description->setWordWrap(true);
    m_description->setAccessibleName(tr("What this safety setting keeps out"));

    m_adapterHint = new QLabel(this);
    m_adapterHint->setObjectName(QStringLiteral("adapterHint"));
    m_adapterHint->setWordWrap(true);
    m_adapterHint->setText(tr("<i>Levels above L0 and profiles need a safety adapter: "
                              "Model ▸ Load adapter…</i>"));

    m_profiles = new QComboBox(this);
    m_profiles->setObjectName(QStringLiteral("profileChoice"));
    m_profiles->setAccessibleName(tr("Safety profile"));
    m_profiles->setToolTip(tr("Use one of your saved profiles instead of a level (Profiles…)."));

    m_strength = new QDoubleSpinBox(this);
    m_strength->setObjectName(QStringLiteral("adapterStrength"));
    m_strength->setAccessibleName(tr("Safety adapter strength"));
    m_strength->setRange(0.0, kMaxAdapterStrength);
    m_strength->setSingleStep(0.1);
    m_strength->setDecimals(2);
    m_strength->setValue(1.0);
    m_strength->setToolTip(tr("How strongly the safety adapter acts (its scale). 1 is what it was "
                              "trained for. Below 1 it keeps more of what the profile allows and "
                              "more of the subject, and lets more of what it bans through; above 1 "
                              "the reverse. The demo model's measurements are at 1 "
                              "(docs/demo-model.md)."));

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(ticks);
    layout->addLayout(ends);
    layout->addWidget(m_description);
    auto* profileRow = new QHBoxLayout;
    profileRow->addWidget(new QLabel(tr("Profile:"), this));
    profileRow->addWidget(m_profiles, 1);
    profileRow->addWidget(new QLabel(tr("Strength:"), this));
    profileRow->addWidget(m_strength);
    layout->addLayout(profileRow);
    layout->addWidget(m_adapterHint);

    connect(m_slider, &QSlider::valueChanged, this, [this] {
        updateDescription();
        Q_EMIT conditionChanged();
    });
    connect(m_strength, &QDoubleSpinBox::valueChanged, this, &SafetyPanel::conditionChanged);
    connect(m_profiles, &QComboBox::currentIndexChanged, this, [this] {
        m_slider->setEnabled(m_profiles->currentIndex() <= 0);
        updateDescription();
        Q_EMIT conditionChanged();
    });
    reloadProfiles();
    setAdapterAvailable(false);
    updateDescription();
}

int SafetyPanel::level() const { return m_slider->value(); }
void SafetyPanel::setLevel(int level) { m_slider->setValue(level); }

std::optional<psa::SafetyProfile> SafetyPanel::chosenProfile() const
{
    const int i = m_profiles->currentIndex();
    if (i <= 0 || i > static_cast<int>(m_saved.size()))
        return std::nullopt;
    return m_saved[static_cast<size_t>(i - 1)];
}

bool SafetyPanel::chooseProfile(const QString& path)
{
    const int i = m_profiles->findData(QDir::cleanPath(path));
    if (i < 0)
        return false;
    m_profiles->setCurrentIndex(i);
    return true;
}

double SafetyPanel::strength() const { return m_strength->value(); }
void SafetyPanel::setStrength(double strength) { m_strength->setValue(strength); }

psa::GenerationCondition SafetyPanel::condition() const
{
    if (auto p = chosenProfile())
        return {p->name, *p, strength()};
    if (level() == 0 || m_presets.empty())
        return psa::GenerationCondition::plain();
    return psa::GenerationCondition::for_level(m_presets[static_cast<size_t>(level())], strength());
}

std::vector<psa::GenerationCondition> SafetyPanel::stripConditions() const
{
    std::vector<psa::GenerationCondition> out;
    for (const auto& preset : m_presets)
        out.push_back(psa::GenerationCondition::for_level(preset, strength()));
    if (auto p = chosenProfile())
        out.push_back({p->name, *p, strength()});
    return out;
}

QString SafetyPanel::descriptionText() const { return m_description->text(); }

void SafetyPanel::updateDescription()
{
    const auto& cats = psa::CategorySet::builtin();
    QString text, tip;
    if (auto p = chosenProfile()) {
        text = tr("%1: %2").arg(QString::fromStdString(p->name), keepsOutText(*p, cats));
        tip = keepsOutTooltip(*p, cats);
    } else if (!m_presets.empty()) {
        const auto& preset = m_presets[static_cast<size_t>(level())];
        text = tr("L%1: %2").arg(level()).arg(keepsOutText(preset, cats));
        tip = keepsOutTooltip(preset, cats);
    } else {
        text = tr("Safety levels are not available: %1").arg(m_loadProblem);
        tip = text;
    }
    m_description->setText(text);
    m_description->setToolTip(tip);
    m_slider->setToolTip(tip);
    m_slider->setAccessibleDescription(text);
}

void SafetyPanel::reloadProfiles()
{
    const QString current = m_profiles->currentData().toString();
    const QSignalBlocker block(m_profiles);
    m_profiles->clear();
    m_saved.clear();
    m_profiles->addItem(tr("None: use the level slider"), QString());
    try {
        const QDir dir(QString::fromStdString(psa::profiles_dir().string()));
        for (const auto& file : dir.entryInfoList({QStringLiteral("*.json")}, QDir::Files, QDir::Name)) {
            try {
                m_saved.push_back(psa::load_profile(file.absoluteFilePath().toStdString(), psa::CategorySet::builtin()));
                m_profiles->addItem(QString::fromStdString(m_saved.back().name), QDir::cleanPath(file.absoluteFilePath()));
            } catch (const std::exception& e) {
                spdlog::warn("profile skipped: {}", e.what()); // a broken file never hides the others
            }
        }
    } catch (const std::exception& e) {
        spdlog::warn("profiles folder not readable: {}", e.what());
    }
    const int i = current.isEmpty() ? 0 : m_profiles->findData(current);
    m_profiles->setCurrentIndex(i < 0 ? 0 : i);
    m_slider->setEnabled(m_profiles->currentIndex() <= 0);
    updateDescription();
}

void SafetyPanel::setAdapterAvailable(bool available)
{
    m_adapterAvailable = available;
    m_adapterHint->setVisible(!available);
    m_strength->setEnabled(available);
}

} // namespace psa::ui
