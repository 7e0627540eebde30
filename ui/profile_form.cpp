// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/profile_form.h"

#include "profiles/ban_rules.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QToolButton>
#include <QVBoxLayout>

namespace psa::ui {

namespace {

QString qs(const std::string& s)
{
    return QString::fromStdString(s);
}

QComboBox* valueCombo(const std::vector<std::string>& values, const QString& name)
{
    auto* box = new QComboBox;
    for (const auto& v : values)
        box->addItem(qs(v), qs(v));
    box->setObjectName(name);
    box->setAccessibleName(name);
    return box;
}

void selectValue(QComboBox* box, const std::string& value)
{
    const int i = box->findData(qs(value));
    // A value outside the set cannot come from a loaded file (the loader refuses it), so the
    // first entry is only ever shown for a default-constructed profile.
    box->setCurrentIndex(i >= 0 ? i : 0);
}

// The words next to a category: what the rules decided and, for an override, what the person did.
QString reasonText(const psa::CategoryBan& ban, const psa::RuleDecision& rule)
{
    if (!ban.overridden)
        return ban.banned ? QObject::tr("banned: %1").arg(qs(rule.reason))
                          : QObject::tr("allowed: no rule applies");
    if (ban.banned)
        return QObject::tr("banned by you (the rules allow it)");
    return QObject::tr("allowed by you (the rules ban it: %1)").arg(qs(rule.reason));
}

} // namespace

ProfileForm::ProfileForm(const psa::CategorySet& categories, QWidget* parent)
    : QWidget(parent), m_categories(categories)
{
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(buildAttributes());
    layout->addWidget(buildBans());
    auto* noteBox = new QGroupBox(tr("Note"));
    auto* noteLayout = new QVBoxLayout(noteBox);
    m_note = new QPlainTextEdit;
    m_note->setObjectName(QStringLiteral("note"));
    m_note->setAccessibleName(tr("Note"));
    m_note->setPlaceholderText(tr("Anything worth remembering about this profile"));
    m_note->setMaximumHeight(70);
    noteLayout->addWidget(m_note);
    layout->addWidget(noteBox);
    layout->addWidget(errorLabel(QString())); // problems that belong to no single field
    connect(m_note, &QPlainTextEdit::textChanged, this, [this] {
        if (!m_updating)
            Q_EMIT edited();
    });

    setProfile(psa::make_profile("", 30, "female", "None", "healthy", "healthy", m_categories));
}

QLabel* ProfileForm::errorLabel(const QString& field)
{
    if (auto* existing = m_errorLabels.value(field))
        return existing;
    auto* label = new QLabel;
    label->setObjectName(QStringLiteral("error:") + field);
    label->setStyleSheet(QStringLiteral("color: #c62828;"));
    label->setWordWrap(true);
    label->hide();
    m_errorLabels.insert(field, label);
    return label;
}

QWidget* ProfileForm::buildAttributes()
{
    auto* box = new QGroupBox(tr("Who this profile is for"));
    auto* form = new QFormLayout(box);
    const auto row = [&](const QString& title, QWidget* field, const QString& key) {
        auto* cell = new QWidget;
        auto* v = new QVBoxLayout(cell);
        v->setContentsMargins(0, 0, 0, 0);
        v->addWidget(field);
        v->addWidget(errorLabel(key));
        form->addRow(title, cell);
    };

    m_name = new QLineEdit;
    m_name->setObjectName(QStringLiteral("name"));
    m_name->setAccessibleName(tr("Profile name"));
    m_name->setPlaceholderText(tr("e.g. My kid"));
    row(tr("&Name:"), m_name, QStringLiteral("name"));

    // A line edit rather than a spin box: an out-of-range age is shown as an error at the field
    // instead of being clamped behind the person's back.
    m_age = new QLineEdit;
    m_age->setObjectName(QStringLiteral("age"));
    m_age->setAccessibleName(tr("Age in years"));
    m_age->setPlaceholderText(tr("%1-%2").arg(psa::kMinAge).arg(psa::kMaxAge));
    row(tr("&Age:"), m_age, QStringLiteral("age"));

    auto* groupCell = new QWidget;
    auto* groupLayout = new QHBoxLayout(groupCell);
    groupLayout->setContentsMargins(0, 0, 0, 0);
    m_ageGroup = valueCombo(psa::age_group_values(), QStringLiteral("age_group"));
    m_ageGroupByHand = new QCheckBox(tr("set by hand"));
    m_ageGroupByHand->setObjectName(QStringLiteral("age_group_overridden"));
    m_ageGroupByHand->setToolTip(tr("Normally the age group follows the age (Sage's age bands)."));
    groupLayout->addWidget(m_ageGroup, 1);
    groupLayout->addWidget(m_ageGroupByHand);
    row(tr("Age &group:"), groupCell, QStringLiteral("age_group"));

    m_gender = valueCombo(psa::gender_values(), QStringLiteral("gender"));
    row(tr("G&ender:"), m_gender, QStringLiteral("gender"));
    m_religion = valueCombo(psa::religion_values(), QStringLiteral("religion"));
    row(tr("&Religion:"), m_religion, QStringLiteral("religion"));
    m_physical = valueCombo(psa::physical_condition_values(), QStringLiteral("physical_condition"));
    row(tr("&Physical condition:"), m_physical, QStringLiteral("physical_condition"));
    m_mental = valueCombo(psa::mental_condition_values(), QStringLiteral("mental_condition"));
    row(tr("&Mental condition:"), m_mental, QStringLiteral("mental_condition"));

    connect(m_name, &QLineEdit::textChanged, this, [this] {
        if (m_updating)
            return;
        m_profile.name = m_name->text().trimmed().toStdString();
        setError(QStringLiteral("name"),
                 m_profile.name.empty() ? tr("a profile needs a name") : QString());
        Q_EMIT edited();
    });
    connect(m_age, &QLineEdit::textChanged, this, [this] { attributesChanged(); });
    connect(m_ageGroupByHand, &QCheckBox::toggled, this, [this] { attributesChanged(); });
    for (auto* box : {m_ageGroup, m_gender, m_religion, m_physical, m_mental})
        connect(box, &QComboBox::currentIndexChanged, this, [this] { attributesChanged(); });
    return box;
}

QWidget* ProfileForm::buildBans()
{
    auto* box = new QGroupBox(tr("What is kept out"));
    auto* grid = new QGridLayout(box);
    int r = 0;
    for (const auto& category : m_categories.all()) {
        const std::string id = category.id;
        const QString key = QStringLiteral("bans.") + qs(id);
        BanRow row;
        row.toggle = new QCheckBox(qs(category.label));
        row.toggle->setObjectName(key);
        row.toggle->setAccessibleName(tr("Keep out %1").arg(qs(category.label)));
        row.toggle->setToolTip(qs(category.description));
        row.reason = new QLabel;
        row.reason->setObjectName(QStringLiteral("reason:") + key);
        row.marker = new QLabel(tr("your choice"));
        row.marker->setObjectName(QStringLiteral("override:") + key);
        row.marker->setStyleSheet(QStringLiteral("color: #1565c0; font-weight: bold;"));
        row.reset = new QToolButton;
        row.reset->setText(tr("Use rule"));
        row.reset->setToolTip(tr("Go back to what the rules say for this category"));
        row.reset->setAccessibleName(tr("Use the rule for %1").arg(qs(category.label)));
        row.error = errorLabel(key);
        grid->addWidget(row.toggle, r, 0);
        grid->addWidget(row.reason, r, 1);
        grid->addWidget(row.marker, r, 2);
        grid->addWidget(row.reset, r, 3);
        grid->addWidget(row.error, r + 1, 0, 1, 4);
        r += 2;
        connect(row.toggle, &QCheckBox::toggled, this, [this, id](bool on) { banToggled(id, on); });
        connect(row.reset, &QToolButton::clicked, this, [this, id] { resetBanToRule(id); });
        m_banRows.emplace_back(id, row);
    }
    grid->setColumnStretch(1, 1);
    return box;
}

void ProfileForm::setProfile(const psa::SafetyProfile& profile)
{
    m_profile = profile;
    psa::apply_ban_rules(m_profile, m_categories); // keeps overrides; fills missing categories
    m_updating = true;
    m_name->setText(qs(m_profile.name));
    m_age->setText(QString::number(m_profile.age));
    m_ageGroupByHand->setChecked(m_profile.age_group_overridden);
    selectValue(m_ageGroup, m_profile.age_group);
    selectValue(m_gender, m_profile.gender);
    selectValue(m_religion, m_profile.religion);
    selectValue(m_physical, m_profile.physical_condition);
    selectValue(m_mental, m_profile.mental_condition);
    m_note->setPlainText(qs(m_profile.note));
    m_updating = false;
    clearErrors();
    refreshAgeGroup();
    refreshBans();
}

std::optional<int> ProfileForm::parsedAge(QString* problem) const
{
    const QString text = m_age->text().trimmed();
    bool ok = false;
    const int age = text.toInt(&ok);
    if (text.isEmpty())
        *problem = tr("enter an age in years (%1-%2)").arg(psa::kMinAge).arg(psa::kMaxAge);
    else if (!ok)
        *problem = tr("\"%1\" is not a whole number of years").arg(text);
    else if (age < psa::kMinAge || age > psa::kMaxAge)
        *problem = tr("%1 is outside %2-%3").arg(age).arg(psa::kMinAge).arg(psa::kMaxAge);
    else
        return age;
    return std::nullopt;
}

void ProfileForm::attributesChanged()
{
    if (m_updating)
        return;
    QString problem;
    const auto age = parsedAge(&problem);
    setError(QStringLiteral("age"), problem);
    if (age) // an invalid age keeps the last valid one, so the rules stay meaningful meanwhile
        m_profile.age = *age;
    m_profile.age_group_overridden = m_ageGroupByHand->isChecked();
    if (m_profile.age_group_overridden)
        m_profile.age_group = m_ageGroup->currentData().toString().toStdString();
    m_profile.gender = m_gender->currentData().toString().toStdString();
    m_profile.religion = m_religion->currentData().toString().toStdString();
    m_profile.physical_condition = m_physical->currentData().toString().toStdString();
    m_profile.mental_condition = m_mental->currentData().toString().toStdString();
    psa::apply_ban_rules(m_profile, m_categories);
    refreshAgeGroup();
    refreshBans();
    Q_EMIT edited();
}

void ProfileForm::banToggled(const std::string& category, bool banned)
{
    if (m_updating)
        return;
    m_profile.set_banned_by_person(category, banned);
    refreshBans();
    Q_EMIT edited();
}

void ProfileForm::resetBanToRule(const std::string& category)
{
    m_profile.set_banned_by_person(category, psa::decide_category(m_profile, category).banned);
    refreshBans();
    Q_EMIT edited();
}

void ProfileForm::refreshAgeGroup()
{
    m_updating = true;
    m_ageGroup->setEnabled(m_profile.age_group_overridden);
    selectValue(m_ageGroup, m_profile.age_group);
    m_updating = false;
}

void ProfileForm::refreshBans()
{
    m_updating = true;
    for (auto& [id, row] : m_banRows) {
        const auto* ban = m_profile.ban(id);
        const auto rule = psa::decide_category(m_profile, id);
        const psa::CategoryBan shown =
            ban ? *ban : psa::CategoryBan{id, rule.banned, rule.reason, false};
        row.toggle->setChecked(shown.banned);
        row.reason->setText(reasonText(shown, rule));
        row.marker->setVisible(shown.overridden);
        row.reset->setVisible(shown.overridden);
    }
    m_updating = false;
}

std::optional<psa::SafetyProfile> ProfileForm::readProfile()
{
    clearErrors();
    std::vector<psa::FieldError> errors;
    QString problem;
    if (!parsedAge(&problem))
        errors.push_back({"age", problem.toStdString()});
    auto profile = m_profile;
    profile.name = m_name->text().trimmed().toStdString();
    profile.note = m_note->toPlainText().toStdString();
    // The form keeps the last valid age while the field holds an invalid one; the age error
    // above is what counts then.
    for (auto& e : psa::validate_profile(profile, m_categories))
        errors.push_back(std::move(e));
    if (!errors.empty()) {
        showErrors(errors);
        return std::nullopt;
    }
    return profile;
}

void ProfileForm::showErrors(const std::vector<psa::FieldError>& errors)
{
    for (const auto& e : errors) {
        const QString field = qs(e.field);
        const QString key = m_errorLabels.contains(field) ? field : QString();
        const QString text =
            key.isEmpty() ? field + QStringLiteral(": ") + qs(e.message) : qs(e.message);
        const QString before = fieldError(key);
        setError(key, before.isEmpty() ? text : before + QLatin1Char('\n') + text);
    }
}

void ProfileForm::clearErrors()
{
    for (auto it = m_errorLabels.begin(); it != m_errorLabels.end(); ++it)
        setError(it.key(), QString());
}

void ProfileForm::setError(const QString& field, const QString& message)
{
    auto* label = m_errorLabels.value(field);
    if (!label)
        return;
    label->setText(message);
    label->setVisible(!message.isEmpty());
    // The field itself gets a red frame too, so the eye finds it in a long form.
    if (field.isEmpty())
        return;
    if (auto* w = findChild<QWidget*>(field); w && w != label)
        w->setStyleSheet(message.isEmpty() ? QString()
                                           : QStringLiteral("border: 1px solid #c62828;"));
}

QString ProfileForm::fieldError(const QString& field) const
{
    const auto* label = m_errorLabels.value(field);
    return label ? label->text() : QString();
}

} // namespace psa::ui
