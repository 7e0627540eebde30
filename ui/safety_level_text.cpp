// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/safety_level_text.h"

#include <QStringList>
#include <QObject>

namespace psa::ui {

namespace {

// Labels are written as categories.json has them; in running text they read lower-case.
QString inSentence(const psa::Category& c) { return QString::fromStdString(c.label).toLower(); }

QString joinedList(const QStringList& items)
{
    if (items.size() <= 1)
        return items.join(QString());
    return QObject::tr("%1 and %2").arg(items.mid(0, items.size() - 1).join(QStringLiteral(", ")), items.back());
}

bool keepsOut(const psa::SafetyProfile& profile, const psa::Category& c)
{
    // Level 0 runs with the adapter off: whatever its preset says, nothing is steered away.
    return profile.level != 0 && profile.is_banned(c.id);
}

QString title(const psa::SafetyProfile& profile)
{
    return profile.level >= 0 ? QStringLiteral("L%1").arg(profile.level) : QString::fromStdString(profile.name);
}

} // namespace

QString keepsOutText(const psa::SafetyProfile& profile, const psa::CategorySet& categories)
{
    QStringList out;
    for (const auto& c : categories.all())
        if (keepsOut(profile, c))
            out << inSentence(c);
    if (profile.level == 0)
        return QObject::tr("Keeps nothing out: the model as it is, safety adapter off.");
    if (out.isEmpty())
        return QObject::tr("Keeps nothing out.");
    return QObject::tr("Keeps out %1.").arg(joinedList(out));
}

QString keepsOutTooltip(const psa::SafetyProfile& profile, const psa::CategorySet& categories)
{
    QStringList lines{QStringLiteral("<b>%1</b>: %2").arg(title(profile).toHtmlEscaped(),
                                                          keepsOutText(profile, categories).toHtmlEscaped())};
    QStringList allowed;
    for (const auto& c : categories.all()) {
        if (keepsOut(profile, c))
            lines << QStringLiteral("&bull; %1: %2").arg(QString::fromStdString(c.label).toHtmlEscaped(),
                                                         QString::fromStdString(c.description).toHtmlEscaped());
        else
            allowed << inSentence(c);
    }
    if (!allowed.isEmpty() && allowed.size() < static_cast<int>(categories.size()))
        lines << QObject::tr("Still allowed: %1.").arg(joinedList(allowed)).toHtmlEscaped();
    return lines.join(QStringLiteral("<br>"));
}

} // namespace psa::ui
