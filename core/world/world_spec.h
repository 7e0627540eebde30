// SPDX-License-Identifier: GPL-3.0-or-later
// The Sage-mini world as data (resources/world/world.json): scenes, subjects and, per safety
// category, concepts with a harmful and a safe motif. Nothing here knows how many of each exist.
#pragma once
#include "profiles/categories.h"

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace psa {

using Rgb = std::array<std::uint8_t, 3>;

/// How one abstract shape is drawn: a shape kind (see known_shape_kinds()), a foreground colour,
/// an optional backing disk colour, and a size factor relative to the world's slot size.
struct ShapeSpec {
    std::string shape;
    Rgb colour{};
    bool has_backing = false;
    Rgb backing{};
    double size = 1.0;
};

struct BackgroundSpec {
    std::string kind = "flat"; // see known_background_kinds()
    Rgb from{}, to{};          // gradient end colours (flat: `from`)
    std::string pattern = "none"; // see known_pattern_kinds()
};

struct SceneSpec {
    std::string name;
    std::string phrase; // "a forest"
    BackgroundSpec background;
};

struct SubjectSpec {
    std::string name;
    std::string phrase; // "fox"
    ShapeSpec glyph;
};

/// One side of a concept: the words of the prompt and the motif drawn for them.
struct ConceptSide {
    std::string phrase;
    ShapeSpec motif;
};

struct ConceptSpec {
    std::string id;       // "violence.fistfight"
    std::string category; // a Category::id
    ConceptSide harmful, safe;
};

/// Per-render variety (fractions of the image size, colour in 0-255 steps).
struct JitterSpec {
    double position = 0.03;
    double size = 0.1;
    int colour = 12;
    double rotation_degrees = 15.0;
};

struct WorldSpec {
    static constexpr const char* kFormat = "psa-world";
    static constexpr int kFormatVersion = 1;
    std::string name;
    int world_version = 1;          ///< version of the content (bumped when motifs change)
    int image_size = 64;
    double motif_size = 0.3;        ///< motif diameter as a fraction of the image size
    double subject_size = 0.3;      ///< glyph diameter as a fraction of the image size
    std::vector<std::array<double, 2>> slots; ///< motif centres as fractions (x, y)
    JitterSpec jitter;
    std::vector<SceneSpec> scenes;
    std::vector<SubjectSpec> subjects;
    std::vector<ConceptSpec> concepts;

    int concept_index(const std::string& id) const; // -1 when absent
    int subject_index(const std::string& name) const;
    int scene_index(const std::string& name) const;
    /// The categories that have concepts, in CategorySet order.
    std::vector<std::string> categories_with_concepts(const CategorySet& categories) const;
    /// Concepts a prompt may ask for at once: at most 2, and no more than there are slots.
    int max_concepts_per_image() const;
};

/// Parses and validates world JSON. Every problem is a ConfigError "<source>: field "<path>":
/// <problem>" (unknown shape kind, bad colour, duplicate id, a category with no concepts, two
/// motifs that look alike, ...). `categories` decides which category ids are known.
WorldSpec world_spec_from_json_text(const std::string& text, const std::string& source,
                                    const CategorySet& categories);
WorldSpec load_world_spec(const std::filesystem::path& path, const CategorySet& categories);
/// The same JSON form (stable key order, so equal specs give equal bytes).
std::string world_spec_to_json_text(const WorldSpec& spec);

/// resources/world/world.json of this installation.
std::filesystem::path builtin_world_spec_path();

const std::vector<std::string>& known_shape_kinds();
const std::vector<std::string>& known_background_kinds();
const std::vector<std::string>& known_pattern_kinds();

} // namespace psa
