// SPDX-License-Identifier: GPL-3.0-or-later
// Writing generated images (PNG with their settings in text chunks) and reading settings back.
#pragma once
#include "common/a1111_parameters.h"
#include "tensor_io/png_text.h"

#include <QImage>
#include <QList>
#include <QPair>
#include <QString>

namespace psa::ui {

/// The folder generated images go to: app_data_dir()/outputs (XDG data folder). Throws IoError.
QString outputsDir();

/// `dir/stem.png`, or `dir/stem-2.png`, ... when taken.
QString uniqueImagePath(const QString& dir, const QString& stem);

/// Encodes `image` as PNG, adds `text` as text chunks and writes the file atomically. Safe on any
/// thread. Throws psa::IoError naming the path.
void writePngWithText(const QString& path, const QImage& image, const psa::PngTextEntries& text);

/// Labelled images side by side (core's preview-strip layout), e.g. L0...L5.
QImage composeStrip(const QList<QPair<QString, QImage>>& tiles);

/// The A1111-style `parameters` text of a PNG file, parsed; nullopt when the PNG has none.
/// Throws psa::IoError naming the path when the file is unreadable or not a PNG.
std::optional<psa::A1111Parameters> readPngParameters(const QString& path);

} // namespace psa::ui
