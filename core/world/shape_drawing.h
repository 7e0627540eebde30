// SPDX-License-Identifier: GPL-3.0-or-later
// Private to world: drawing the abstract shape kinds and backgrounds of world.json with OpenCV.
#pragma once
#include "world/world_random.h"
#include "world/world_spec.h"

#include <opencv2/core.hpp>

namespace psa {

/// Where and how one shape is drawn, after jitter.
struct ShapePlacement {
    cv::Point2d centre;
    double radius = 0;          // pixels
    double rotation = 0;        // radians
    Rgb colour{}, backing{};    // jittered colours
    bool outline = false;       // a thin dark rim (subject glyphs)
};

/// Draws `spec.shape` into an RGB8 canvas, anti-aliased. Pure function of its inputs.
void draw_shape(cv::Mat& canvas, const ShapeSpec& spec, const ShapePlacement& where);

/// Fills the canvas with the scene's background; `rng` gives the colour jitter and pattern phase.
void draw_background(cv::Mat& canvas, const BackgroundSpec& spec, int colour_jitter, WorldRng& rng);

} // namespace psa
