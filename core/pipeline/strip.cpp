// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/strip.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstring>

namespace psa {

Image compose_labelled_strip(const std::vector<std::pair<std::string, Image>>& tiles)
{
    if (tiles.empty())
        return {};
    int cell_w = 0, cell_h = 0;
    for (const auto& [label, img] : tiles) {
        cell_w = std::max(cell_w, img.width);
        cell_h = std::max(cell_h, img.height);
    }
    const int gap = std::max(2, cell_w / 32);
    // Scale the label with the image so small models (64 px) and SD (512 px) both read well.
    const double font = std::clamp(cell_w / 256.0, 0.3, 1.0);
    const int band = static_cast<int>(28 * font) + 6;
    const int width = static_cast<int>(tiles.size()) * cell_w + (static_cast<int>(tiles.size()) + 1) * gap;
    const int height = band + cell_h + gap;
    cv::Mat canvas(height, width, CV_8UC3, cv::Scalar(32, 32, 32));
    for (size_t i = 0; i < tiles.size(); ++i) {
        const auto& [label, img] = tiles[i];
        const int x0 = gap + static_cast<int>(i) * (cell_w + gap);
        if (!img.empty()) {
            cv::Mat src(img.height, img.width, CV_8UC3, const_cast<std::uint8_t*>(img.rgb.data()));
            src.copyTo(canvas(cv::Rect(x0 + (cell_w - img.width) / 2, band + (cell_h - img.height) / 2,
                                       img.width, img.height)));
        }
        int baseline = 0;
        const auto size = cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, font, 1, &baseline);
        const int tx = x0 + std::max(0, (cell_w - size.width) / 2);
        cv::putText(canvas, label, cv::Point(tx, band - baseline - 2), cv::FONT_HERSHEY_SIMPLEX, font,
                    cv::Scalar(235, 235, 235), 1, cv::LINE_AA);
    }
    Image out;
    out.width = width;
    out.height = height;
    out.rgb.assign(canvas.data, canvas.data + static_cast<size_t>(width) * height * 3);
    return out;
}

} // namespace psa
