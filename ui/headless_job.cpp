// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/headless_job.h"

#include "ui/about_dialog.h"

#include "common/atomic_file.h"
#include "common/paths.h"

#include <QDateTime>

namespace psa::ui {

QString runHeadlessJob()
{
    const auto dir = psa::app_data_subdir("reports");
    const auto path = dir / "system-report.txt";
    const QString text = QStringLiteral("PSA Studio headless run, %1\n%2\n")
                             .arg(QDateTime::currentDateTime().toString(Qt::ISODate), versionsText());
    psa::write_file_atomic(path, text.toStdString());
    return QString::fromStdString(path.string());
}

} // namespace psa::ui
