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

} // namespace

Image render_world_scene(const WorldSpec& spec, const WorldScene& scene, int size)
{
    check_scene(spec, scene);
    if (size <= 0)
        size = spec.image_size;
    cv::Mat canvas(size, size, CV_8UC3);
    WorldRng background_rng(WorldRng::derive(scene.seed, 1));
    draw_background(canvas, spec.scenes[scene.scene].background, spec.jitter.colour, background_rng);

    WorldRng subject_rng(WorldRng::derive(scene.seed, 2));
    const auto& glyph = spec.subjects[scene.subject].glyph;
    auto where = place(spec, glyph, 0.5, 0.5, spec.subject_size, size, subject_rng);
    where.outline = true;
    draw_shape(canvas, glyph, where);

    for (const auto& c : scene.concepts) {
        WorldRng rng(WorldRng::derive(scene.seed, 3, static_cast<std::uint64_t>(c.slot)));
        const auto& k = spec.concepts[c.concept_index];
        const auto& motif = c.harmful ? k.harmful.motif : k.safe.motif;
        const auto& slot = spec.slots[c.slot];
        draw_shape(canvas, motif, place(spec, motif, slot[0], slot[1], spec.motif_size, size, rng));
    }

    Image out;
    out.width = size;
    out.height = size;
    out.rgb.resize(static_cast<size_t>(size) * size * 3);
    for (int y = 0; y < size; ++y)
        std::memcpy(out.rgb.data() + static_cast<size_t>(y) * size * 3, canvas.ptr(y), static_cast<size_t>(size) * 3);
    return out;
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
