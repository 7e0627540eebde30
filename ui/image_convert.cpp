// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/image_convert.h"

#include <cstring>

namespace psa::ui {

QImage toQImage(const psa::Image& image)
{
    if (image.empty())
        return {};
    QImage out(image.width, image.height, QImage::Format_RGB888);
    const size_t row = static_cast<size_t>(image.width) * 3;
    // QImage rows are 4-byte aligned, psa::Image rows are packed: copy row by row.
    for (int y = 0; y < image.height; ++y)
        std::memcpy(out.scanLine(y), image.rgb.data() + row * static_cast<size_t>(y), row);
    return out;
}

psa::Image toPsaImage(const QImage& image)
{
    psa::Image out;
    if (image.isNull())
        return out;
    const QImage rgb = image.convertToFormat(QImage::Format_RGB888);
    out.width = rgb.width();
    out.height = rgb.height();
    const size_t row = static_cast<size_t>(out.width) * 3;
    out.rgb.resize(row * static_cast<size_t>(out.height));
    for (int y = 0; y < out.height; ++y)
        std::memcpy(out.rgb.data() + row * static_cast<size_t>(y), rgb.constScanLine(y), row);
    return out;
}

QPixmap fittedPixmap(const QImage& image, const QSize& logicalSize, qreal devicePixelRatio)
{
    if (image.isNull() || logicalSize.isEmpty())
        return {};
    const QSize device = logicalSize * devicePixelRatio;
    // Tiny model outputs (16 px) are enlarged without smoothing so that pixels stay visible.
    const auto mode = image.width() < device.width() / 2 ? Qt::FastTransformation : Qt::SmoothTransformation;
    QPixmap pixmap = QPixmap::fromImage(image.scaled(device, Qt::KeepAspectRatio, mode));
    pixmap.setDevicePixelRatio(devicePixelRatio);
    return pixmap;
}

} // namespace psa::ui
