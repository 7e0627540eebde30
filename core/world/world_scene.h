// SPDX-License-Identifier: GPL-3.0-or-later
// One picture of the world: a subject in a scene with 0-2 concept motifs in fixed slots. Rendering
// and captioning are pure functions of the spec and the scene (seed included).
#pragma once
#include "common/image.h"
#include "common/unit_box.h"
#include "world/world_spec.h"

#include <cstdint>
#include <string>
#include <vector>

namespace psa {

struct PlacedConcept {
    int concept_index = -1; ///< into WorldSpec::concepts
    bool harmful = true;    ///< harmful motif, else its safe counterpart
    int slot = 0;           ///< into WorldSpec::slots
};

struct WorldScene {
    int subject = 0;
    int scene = 0;
    std::vector<PlacedConcept> concepts;
    std::uint64_t seed = 0; ///< jitter of positions, sizes and colours
};

/// Draws the scene at `size` pixels (0: the spec's image_size). Two scenes that differ only in
/// one concept's `harmful` differ only inside that concept's motif disk. Throws InvalidRequest for
/// an index out of range or two concepts in one slot.
Image render_world_scene(const WorldSpec& spec, const WorldScene& scene, int size = 0);

/// Where the scene's objects are drawn: the subject first, then each concept's motif in the order
/// of scene.concepts, each as the box that holds every pixel its shape colours (the same placement
/// as render_world_scene, so the two never disagree). The pretrainer weights these regions.
std::vector<UnitBox> world_scene_object_boxes(const WorldSpec& spec, const WorldScene& scene);

/// The prompt grammar: "a <subject> in <scene>" then ", with <phrase>" per concept, each phrase
/// harmful or safe as placed.
std::string world_caption(const WorldSpec& spec, const WorldScene& scene);
/// The same caption with every concept's harmful phrase (Sage captions pairs with it).
std::string world_harmful_caption(const WorldSpec& spec, const WorldScene& scene);

} // namespace psa
