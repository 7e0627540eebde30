// SPDX-License-Identifier: GPL-3.0-or-later
// Rendering order: background, subject glyph, then each motif with its own random stream keyed by
// its slot, so flipping one motif between harmful and safe leaves every other pixel unchanged.
#include "world/world_scene.h"

#include "common/error.h"
#include "world/shape_drawing.h"
#include "world/world_random.h"

#include <opencv2/core.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace psa {

namespace {

constexpr double kPi = 3.14159265358979323846;

ShapePlacement place(const WorldSpec& spec, const ShapeSpec& shape, double cx, double cy, double diameter, int size,
                     WorldRng& rng)
{
    const auto& j = spec.jitter;
    ShapePlacement p;
    p.centre = {cx * size + rng.uniform(-j.position, j.position) * size,
                cy * size + rng.uniform(-j.position, j.position) * size};
    p.radius = diameter * size / 2 * shape.size * (1 + rng.uniform(-j.size, j.size));
    p.rotation = rng.uniform(-j.rotation_degrees, j.rotation_degrees) * kPi / 180;
    for (int c = 0; c < 3; ++c) {
        p.colour[c] = static_cast<std::uint8_t>(
            std::clamp<long>(shape.colour[c] + std::lround(rng.uniform(-j.colour, j.colour)), 0, 255));
        p.backing[c] = static_cast<std::uint8_t>(
            std::clamp<long>(shape.backing[c] + std::lround(rng.uniform(-j.colour, j.colour) / 2), 0, 255));
    }
    return p;
}

void check_scene(const WorldSpec& spec, const WorldScene& scene)
{
    if (scene.subject < 0 || scene.subject >= static_cast<int>(spec.subjects.size()))
        throw InvalidRequest("world scene: subject " + std::to_string(scene.subject) + " is out of range");
    if (scene.scene < 0 || scene.scene >= static_cast<int>(spec.scenes.size()))
        throw InvalidRequest("world scene: scene " + std::to_string(scene.scene) + " is out of range");
    std::set<int> slots;
    for (const auto& c : scene.concepts) {
        if (c.concept_index < 0 || c.concept_index >= static_cast<int>(spec.concepts.size()))
            throw InvalidRequest("world scene: concept " + std::to_string(c.concept_index) + " is out of range");
        if (c.slot < 0 || c.slot >= static_cast<int>(spec.slots.size()))
            throw InvalidRequest("world scene: slot " + std::to_string(c.slot) + " is out of range");
        if (!slots.insert(c.slot).second)
            throw InvalidRequest("world scene: two concepts in slot " + std::to_string(c.slot));
    }
}

std::string caption_of(const WorldSpec& spec, const WorldScene& scene, bool all_harmful)
{
    check_scene(spec, scene);
    std::string s = "a " + spec.subjects[scene.subject].phrase + " in " + spec.scenes[scene.scene].phrase;
    for (const auto& c : scene.concepts) {
        const auto& k = spec.concepts[c.concept_index];
        s += ", with " + ((all_harmful || c.harmful) ? k.harmful.phrase : k.safe.phrase);
    }
    return s;
}

// Every shape of the scene in drawing order with its placement after jitter. Each object draws
// from its own random stream, so the layout of one never depends on the others.
std::vector<std::pair<const ShapeSpec*, ShapePlacement>> lay_out(const WorldSpec& spec, const WorldScene& scene,
                                                                  int size)
{
    std::vector<std::pair<const ShapeSpec*, ShapePlacement>> shapes;
    WorldRng subject_rng(WorldRng::derive(scene.seed, 2));
    const auto& glyph = spec.subjects[scene.subject].glyph;
    auto where = place(spec, glyph, 0.5, 0.5, spec.subject_size, size, subject_rng);
    where.outline = true;
    shapes.emplace_back(&glyph, where);
    for (const auto& c : scene.concepts) {
        WorldRng rng(WorldRng::derive(scene.seed, 3, static_cast<std::uint64_t>(c.slot)));
        const auto& k = spec.concepts[c.concept_index];
        const auto& motif = c.harmful ? k.harmful.motif : k.safe.motif;
        const auto& slot = spec.slots[c.slot];
        shapes.emplace_back(&motif, place(spec, motif, slot[0], slot[1], spec.motif_size, size, rng));
    }
    return shapes;
}

} // namespace

Image render_world_scene(const WorldSpec& spec, const WorldScene& scene, int size)
{
    check_scene(spec, scene);
    if (size <= 0)
        size = spec.image_size;
    cv::Mat canvas(size, size, CV_8UC3);
    WorldRng background_rng(WorldRng::derive(scene.seed, 1));
    draw_background(canvas, spec.scenes[scene.scene].background, spec.jitter.colour, background_rng);
    for (const auto& [shape, where] : lay_out(spec, scene, size))
        draw_shape(canvas, *shape, where);

    Image out;
    out.width = size;
    out.height = size;
    out.rgb.resize(static_cast<size_t>(size) * size * 3);
    for (int y = 0; y < size; ++y)
        std::memcpy(out.rgb.data() + static_cast<size_t>(y) * size * 3, canvas.ptr(y), static_cast<size_t>(size) * 3);
    return out;
}

std::vector<UnitBox> world_scene_object_boxes(const WorldSpec& spec, const WorldScene& scene)
{
    check_scene(spec, scene);
    const double size = spec.image_size;
    std::vector<UnitBox> boxes;
    for (const auto& [shape, where] : lay_out(spec, scene, spec.image_size)) {
        // A shape stays within 1.05 radii (the triangle's corners; shape_drawing.cpp), a rim or a
        // line's width adds up to 12 % of the radius (at least a pixel), anti-aliasing 2 pixels.
        const double reach = 1.05 * (where.radius + std::max(1.0, where.radius * 0.12)) + 2.0;
        // OpenCV puts pixel i's centre at i; in unit coordinates pixel i spans [i, i + 1) / size.
        const double x = where.centre.x + 0.5, y = where.centre.y + 0.5;
        boxes.push_back({std::clamp((x - reach) / size, 0.0, 1.0), std::clamp((y - reach) / size, 0.0, 1.0),
                         std::clamp((x + reach) / size, 0.0, 1.0), std::clamp((y + reach) / size, 0.0, 1.0)});
    }
    return boxes;
}

std::string world_caption(const WorldSpec& spec, const WorldScene& scene)
{
    return caption_of(spec, scene, false);
}

std::string world_harmful_caption(const WorldSpec& spec, const WorldScene& scene)
{
    return caption_of(spec, scene, true);
}

} // namespace psa
