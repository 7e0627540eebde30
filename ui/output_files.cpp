// SPDX-License-Identifier: GPL-3.0-or-later
#include "ui/output_files.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/paths.h"
#include "pipeline/strip.h"
#include "ui/image_convert.h"

#include <QBuffer>
#include <QDir>
#include <QFileInfo>

namespace psa::ui {

QString outputsDir()
{
    return QString::fromStdString(psa::app_data_subdir("outputs").string());
}

QString uniqueImagePath(const QString& dir, const QString& stem)
{
    QString path = QDir(dir).filePath(stem + QStringLiteral(".png"));
    for (int i = 2; QFileInfo::exists(path); ++i)
        path = QDir(dir).filePath(QStringLiteral("%1-%2.png").arg(stem).arg(i));
    return path;
}

void writePngWithText(const QString& path, const QImage& image, const psa::PngTextEntries& text)
{
    QByteArray encoded;
    QBuffer buffer(&encoded);
    buffer.open(QIODevice::WriteOnly);
    if (image.isNull() || !image.save(&buffer, "PNG"))
        throw psa::IoError(psa::path_message(path.toStdString(), "could not encode the image as PNG"));
    const std::vector<std::uint8_t> png(encoded.begin(), encoded.end());
    const auto withText = psa::png_with_text(png, text, path.toStdString());
    psa::write_file_atomic(path.toStdString(),
                           std::string_view(reinterpret_cast<const char*>(withText.data()), withText.size()));
}

QImage composeStrip(const QList<QPair<QString, QImage>>& tiles)
{
    std::vector<std::pair<std::string, psa::Image>> cells;
    for (const auto& [label, image] : tiles)
        cells.emplace_back(label.toStdString(), toPsaImage(image));
    return toQImage(psa::compose_labelled_strip(cells));
}

std::optional<psa::A1111Parameters> readPngParameters(const QString& path)
{
    const auto bytes = psa::read_file_bytes(path.toStdString());
    const auto text = psa::png_read_text(bytes, path.toStdString());
    const auto it = text.find("parameters");
    if (it == text.end())
        return std::nullopt;
    return psa::parse_a1111_parameters(it->second);
}

} // namespace psa::ui
