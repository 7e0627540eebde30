// SPDX-License-Identifier: GPL-3.0-or-later
// The one place that knows both psa::Image (core's RGB8 value type) and Qt's image types.
#pragma once
#include "common/image.h"

#include <QImage>
#include <QPixmap>
#include <QSize>

namespace psa::ui {

/// Deep copy into a QImage (Format_RGB888). Safe on any thread.
QImage toQImage(const psa::Image& image);
/// Deep copy into a psa::Image (any QImage format is converted first).
psa::Image toPsaImage(const QImage& image);

/// A pixmap scaled to fit `logicalSize` and rendered at `devicePixelRatio` (sharp on high-DPI
/// screens). GUI thread only (QPixmap).
QPixmap fittedPixmap(const QImage& image, const QSize& logicalSize, qreal devicePixelRatio);

} // namespace psa::ui
