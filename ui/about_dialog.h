// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <QString>

class QWidget;

namespace psa::ui {

/// The versions a bug report needs: app, Qt, LibTorch, CUDA, threads.
QString versionsText();
void showAboutDialog(QWidget* parent);

} // namespace psa::ui
