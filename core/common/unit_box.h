// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once

namespace psa {

/// An axis-aligned region of an image in unit coordinates: x right and y down, 0..1 across the
/// whole image whatever its size.
struct UnitBox {
    double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

} // namespace psa
