// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace psa {

/// An RGB8 image, row-major, 3 bytes per pixel: how pixels cross the core/ui boundary.
struct Image {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> rgb; // width * height * 3

    bool empty() const { return width <= 0 || height <= 0; }
    std::uint8_t* pixel(int x, int y) { return rgb.data() + (static_cast<size_t>(y) * width + x) * 3; }
    const std::uint8_t* pixel(int x, int y) const
    {
        return rgb.data() + (static_cast<size_t>(y) * width + x) * 3;
    }
};

} // namespace psa
