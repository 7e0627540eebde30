// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/about_dialog.h"

#include "tensor_io/device.h"

#include <QMessageBox>
#include <QtGlobal>

namespace psa::ui {

QString versionsText()
{
    return QStringLiteral("PSA Studio %1\nQt %2\n%3")
        .arg(QStringLiteral(PSA_VERSION), QString::fromLatin1(qVersion()),
             QString::fromStdString(psa::runtime_summary()).trimmed());
}

void showAboutDialog(QWidget* parent)
{
    QMessageBox::about(parent, QObject::tr("About PSA Studio"),
                       QObject::tr("<h3>PSA Studio</h3><p>Personalized safety alignment for "
                                   "text-to-image diffusion.</p><pre>%1</pre><p>Licensed under "
                                   "the GNU GPL, version 3 or later.</p>")
                           .arg(versionsText().toHtmlEscaped()));
}

} // namespace psa::ui
