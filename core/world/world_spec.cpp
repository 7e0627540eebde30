// SPDX-License-Identifier: GPL-3.0-or-later
// Reading and checking world.json: each field is read through one helper that knows its JSON path,
// so every message names the exact field ("concepts[3].harmful.motif.shape").
#include "world/world_spec.h"

#include "common/atomic_file.h"
#include "common/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

namespace psa {

namespace {

using json = nlohmann::json;
using ordered = nlohmann::ordered_json;

// Where a value sits in the file, for messages.
struct Field {
    const std::string& source;
    std::string path;

    Field at(const std::string& key) const { return {source, path.empty() ? key : path + "." + key}; }
    Field at(size_t i) const { return {source, path + "[" + std::to_string(i) + "]"}; }
    [[noreturn]] void fail(const std::string& problem) const
    {
        throw ConfigError(path_message(source, "field \"" + path + "\": " + problem));
    }
};

const json& member(const json& obj, const Field& f, const char* key)
{
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        f.at(key).fail("missing");
    return *it;
}

std::string text(const json& obj, const Field& f, const char* key)
{
    const auto& v = member(obj, f, key);
    if (!v.is_string() || v.get<std::string>().empty())
        f.at(key).fail("must be a non-empty string");
    return v.get<std::string>();
}

double number(const json& obj, const Field& f, const char* key, double fallback, double lo, double hi)
{
    const auto it = obj.find(key);
    if (it == obj.end())
        return fallback;
    if (!it->is_number())
        f.at(key).fail("must be a number");
    const double v = it->get<double>();
    if (!(v >= lo && v <= hi))
        f.at(key).fail(std::to_string(v) + " is outside " + std::to_string(lo) + "-" + std::to_string(hi));
    return v;
}

const json& array(const json& obj, const Field& f, const char* key)
{
    const auto& v = member(obj, f, key);
    if (!v.is_array() || v.empty())
        f.at(key).fail("must be a non-empty list");
    return v;
}

Rgb colour_of(const json& v, const Field& f)
{
    const std::string s = v.is_string() ? v.get<std::string>() : std::string();
    unsigned r = 0, g = 0, b = 0;
    if (s.size() != 7 || s[0] != '#' || std::sscanf(s.c_str() + 1, "%2x%2x%2x", &r, &g, &b) != 3 ||
        !std::all_of(s.begin() + 1, s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); }))
        f.fail("\"" + v.dump() + "\" is not a colour (expected \"#rrggbb\")");
    return {static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(g), static_cast<std::uint8_t>(b)};
}

std::string colour_text(const Rgb& c)
{
    char buf[8];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c[0], c[1], c[2]);
    return buf;
}

std::string one_of(const json& obj, const Field& f, const char* key, const std::vector<std::string>& known,
                   const std::string& fallback = {})
{
    if (!fallback.empty() && !obj.contains(key))
        return fallback;
    const std::string v = text(obj, f, key);
    if (std::find(known.begin(), known.end(), v) == known.end()) {
        std::string list;
        for (const auto& k : known)
            list += (list.empty() ? "" : ", ") + k;
        f.at(key).fail("unknown value \"" + v + "\" (known: " + list + ")");
    }
    return v;
}

ShapeSpec shape_of(const json& v, const Field& f)
{
    if (!v.is_object())
        f.fail("must be an object {\"shape\", \"colours\", \"size\"}");
    ShapeSpec s;
    s.shape = one_of(v, f, "shape", known_shape_kinds());
    const auto& colours = array(v, f, "colours");
    if (colours.size() > 2)
        f.at("colours").fail("lists " + std::to_string(colours.size()) +
                             " colours; a shape has a colour and at most one backing colour");
    s.colour = colour_of(colours[0], f.at("colours").at(0));
    if (colours.size() == 2) {
        s.has_backing = true;
        s.backing = colour_of(colours[1], f.at("colours").at(1));
    }
    s.size = number(v, f, "size", 1.0, 0.25, 2.0);
    return s;
}

ordered shape_json(const ShapeSpec& s)
{
    ordered colours = ordered::array({colour_text(s.colour)});
    if (s.has_backing)
        colours.push_back(colour_text(s.backing));
    return ordered{{"shape", s.shape}, {"colours", colours}, {"size", s.size}};
}

// Names must be unique within their list.
template <class T, class Key>
void check_unique(const std::vector<T>& items, Key key, const Field& list, const char* what)
{
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < items.size(); ++i) {
        const auto [it, fresh] = seen.emplace(key(items[i]), i);
        if (!fresh)
            list.at(i).at(what).fail("\"" + key(items[i]) + "\" repeats entry " + std::to_string(it->second));
    }
}

// Two motifs of the same shape kind and nearly the same colour would be one motif to a classifier.
void check_motifs_distinct(const WorldSpec& w, const Field& concepts)
{
    struct Seen {
        const ShapeSpec* shape;
        std::string where;
    };
    std::vector<Seen> seen;
    for (size_t i = 0; i < w.concepts.size(); ++i) {
        for (const auto& [side, spec] : {std::pair{"harmful", &w.concepts[i].harmful.motif},
                                         std::pair{"safe", &w.concepts[i].safe.motif}}) {
            const Field f = concepts.at(i).at(side).at("motif");
            for (const auto& s : seen) {
                if (s.shape->shape != spec->shape)
                    continue;
                int distance = 0;
                for (int c = 0; c < 3; ++c)
                    distance += std::abs(int(s.shape->colour[c]) - int(spec->colour[c]));
                const bool same_backing = s.shape->has_backing == spec->has_backing;
                if (distance < 60 && same_backing)
                    f.fail("looks like " + s.where + " (same shape \"" + spec->shape +
                           "\" and a colour within 60 steps); motifs must be told apart");
            }
            seen.push_back({spec, f.path});
        }
    }
}

} // namespace

const std::vector<std::string>& known_shape_kinds()
{
    static const std::vector<std::string> kinds = {
        "spikes", "zigzag", "cross_hatch", "shards", "ring", "blob", "stripes", "dots", "wave", "checker",
        "circle", "square", "triangle", "diamond", "hexagon", "pentagon"};
    return kinds;
}

const std::vector<std::string>& known_background_kinds()
{
    static const std::vector<std::string> kinds = {"flat", "vertical_gradient", "horizontal_gradient",
                                                   "radial_gradient"};
    return kinds;
}

const std::vector<std::string>& known_pattern_kinds()
{
    static const std::vector<std::string> kinds = {"none", "grid", "waves", "speckles", "bands"};
    return kinds;
}

int WorldSpec::concept_index(const std::string& id) const
{
    for (size_t i = 0; i < concepts.size(); ++i)
        if (concepts[i].id == id)
            return static_cast<int>(i);
    return -1;
}

int WorldSpec::subject_index(const std::string& n) const
{
    for (size_t i = 0; i < subjects.size(); ++i)
        if (subjects[i].name == n)
            return static_cast<int>(i);
    return -1;
}

int WorldSpec::scene_index(const std::string& n) const
{
    for (size_t i = 0; i < scenes.size(); ++i)
        if (scenes[i].name == n)
            return static_cast<int>(i);
    return -1;
}

std::vector<std::string> WorldSpec::categories_with_concepts(const CategorySet& categories) const
{
    std::vector<std::string> out;
    for (const auto& c : categories.all())
        if (std::any_of(concepts.begin(), concepts.end(), [&](const ConceptSpec& k) { return k.category == c.id; }))
            out.push_back(c.id);
    return out;
}

int WorldSpec::max_concepts_per_image() const
{
    return std::min<int>(2, static_cast<int>(slots.size()));
}

WorldSpec world_spec_from_json_text(const std::string& text_in, const std::string& source,
                                    const CategorySet& categories)
{
    json j;
    try {
        j = json::parse(text_in);
    } catch (const json::parse_error& e) {
        throw ConfigError(path_message(source, std::string("malformed JSON: ") + e.what()));
    }
    const Field root{source, ""};
    if (!j.is_object())
        throw ConfigError(path_message(source, "the top level must be a JSON object"));
    if (text(j, root, "format") != WorldSpec::kFormat)
        root.at("format").fail("expected \"" + std::string(WorldSpec::kFormat) + "\"");
    const auto version = static_cast<int>(number(j, root, "version", -1, 1, 1e9));
    if (version != WorldSpec::kFormatVersion)
        root.at("version").fail("format version " + std::to_string(version) + " is not supported (this build reads " +
                                std::to_string(WorldSpec::kFormatVersion) + ")");

    WorldSpec w;
    w.name = text(j, root, "name");
    w.world_version = static_cast<int>(number(j, root, "world_version", 1, 1, 1e9));
    w.image_size = static_cast<int>(number(j, root, "image_size", 64, 32, 1024));
    if (w.image_size % 8 != 0)
        root.at("image_size").fail(std::to_string(w.image_size) + " is not a multiple of 8");
    w.motif_size = number(j, root, "motif_size", w.motif_size, 0.05, 0.5);
    w.subject_size = number(j, root, "subject_size", w.subject_size, 0.05, 0.5);
    const auto& slots = array(j, root, "slots");
    for (size_t i = 0; i < slots.size(); ++i) {
        const Field f = root.at("slots").at(i);
        if (!slots[i].is_array() || slots[i].size() != 2 || !slots[i][0].is_number() || !slots[i][1].is_number())
            f.fail("must be [x, y] fractions of the image size");
        const double x = slots[i][0].get<double>(), y = slots[i][1].get<double>();
        if (x < 0 || x > 1 || y < 0 || y > 1)
            f.fail("[" + std::to_string(x) + ", " + std::to_string(y) + "] lies outside the image (0-1)");
        w.slots.push_back({x, y});
    }
    if (const auto it = j.find("jitter"); it != j.end()) {
        const Field f = root.at("jitter");
        if (!it->is_object())
            f.fail("must be an object");
        w.jitter.position = number(*it, f, "position", w.jitter.position, 0, 0.2);
        w.jitter.size = number(*it, f, "size", w.jitter.size, 0, 0.5);
        w.jitter.colour = static_cast<int>(number(*it, f, "colour", w.jitter.colour, 0, 64));
        w.jitter.rotation_degrees = number(*it, f, "rotation_degrees", w.jitter.rotation_degrees, 0, 180);
    }

    const auto& scenes = array(j, root, "scenes");
    for (size_t i = 0; i < scenes.size(); ++i) {
        const Field f = root.at("scenes").at(i);
        SceneSpec s;
        s.name = text(scenes[i], f, "name");
        s.phrase = text(scenes[i], f, "phrase");
        const auto& bg = member(scenes[i], f, "background");
        const Field fb = f.at("background");
        if (!bg.is_object())
            fb.fail("must be an object {\"kind\", \"colours\", \"pattern\"}");
        s.background.kind = one_of(bg, fb, "kind", known_background_kinds());
        const auto& colours = array(bg, fb, "colours");
        if (colours.size() > 2)
            fb.at("colours").fail("lists " + std::to_string(colours.size()) + " colours; a background has 1 or 2");
        s.background.from = colour_of(colours[0], fb.at("colours").at(0));
        s.background.to = colours.size() == 2 ? colour_of(colours[1], fb.at("colours").at(1)) : s.background.from;
        s.background.pattern = one_of(bg, fb, "pattern", known_pattern_kinds(), "none");
        w.scenes.push_back(std::move(s));
    }
    check_unique(w.scenes, [](const SceneSpec& s) { return s.name; }, root.at("scenes"), "name");

    const auto& subjects = array(j, root, "subjects");
    for (size_t i = 0; i < subjects.size(); ++i) {
        const Field f = root.at("subjects").at(i);
        SubjectSpec s;
        s.name = text(subjects[i], f, "name");
        s.phrase = text(subjects[i], f, "phrase");
        s.glyph = shape_of(member(subjects[i], f, "glyph"), f.at("glyph"));
        w.subjects.push_back(std::move(s));
    }
    check_unique(w.subjects, [](const SubjectSpec& s) { return s.name; }, root.at("subjects"), "name");

    const auto& concepts = array(j, root, "concepts");
    for (size_t i = 0; i < concepts.size(); ++i) {
        const Field f = root.at("concepts").at(i);
        ConceptSpec c;
        c.id = text(concepts[i], f, "id");
        c.category = text(concepts[i], f, "category");
        if (!categories.contains(c.category))
            f.at("category").fail("unknown category \"" + c.category + "\" (see resources/categories.json)");
        for (auto [side, out] : {std::pair{"harmful", &c.harmful}, std::pair{"safe", &c.safe}}) {
            const auto& v = member(concepts[i], f, side);
            const Field fs = f.at(side);
            if (!v.is_object())
                fs.fail("must be an object {\"phrase\", \"motif\"}");
            out->phrase = text(v, fs, "phrase");
            out->motif = shape_of(member(v, fs, "motif"), fs.at("motif"));
        }
        if (c.harmful.phrase == c.safe.phrase)
            f.at("safe").at("phrase").fail("equals the harmful phrase; a pair must differ");
        w.concepts.push_back(std::move(c));
    }
    check_unique(w.concepts, [](const ConceptSpec& c) { return c.id; }, root.at("concepts"), "id");
    for (const auto& cat : categories.all())
        if (std::none_of(w.concepts.begin(), w.concepts.end(), [&](const ConceptSpec& c) { return c.category == cat.id; }))
            root.at("concepts").fail("category \"" + cat.id + "\" has no concept; every category needs at least one");
    check_motifs_distinct(w, root.at("concepts"));
    return w;
}

WorldSpec load_world_spec(const std::filesystem::path& path, const CategorySet& categories)
{
    return world_spec_from_json_text(read_file_text(path), path.string(), categories);
}

std::string world_spec_to_json_text(const WorldSpec& w)
{
    ordered j;
    j["format"] = WorldSpec::kFormat;
    j["version"] = WorldSpec::kFormatVersion;
    j["name"] = w.name;
    j["world_version"] = w.world_version;
    j["image_size"] = w.image_size;
    j["motif_size"] = w.motif_size;
    j["subject_size"] = w.subject_size;
    j["slots"] = ordered::array();
    for (const auto& s : w.slots)
        j["slots"].push_back({s[0], s[1]});
    j["jitter"] = ordered{{"position", w.jitter.position},
                          {"size", w.jitter.size},
                          {"colour", w.jitter.colour},
                          {"rotation_degrees", w.jitter.rotation_degrees}};
    j["scenes"] = ordered::array();
    for (const auto& s : w.scenes) {
        ordered colours = ordered::array({colour_text(s.background.from), colour_text(s.background.to)});
        j["scenes"].push_back(ordered{{"name", s.name},
                                      {"phrase", s.phrase},
                                      {"background", ordered{{"kind", s.background.kind},
                                                             {"colours", colours},
                                                             {"pattern", s.background.pattern}}}});
    }
    j["subjects"] = ordered::array();
    for (const auto& s : w.subjects)
        j["subjects"].push_back(ordered{{"name", s.name}, {"phrase", s.phrase}, {"glyph", shape_json(s.glyph)}});
    j["concepts"] = ordered::array();
    for (const auto& c : w.concepts)
        j["concepts"].push_back(
            ordered{{"id", c.id},
                    {"category", c.category},
                    {"harmful", ordered{{"phrase", c.harmful.phrase}, {"motif", shape_json(c.harmful.motif)}}},
                    {"safe", ordered{{"phrase", c.safe.phrase}, {"motif", shape_json(c.safe.motif)}}}});
    return j.dump(2) + "\n";
}

std::filesystem::path builtin_world_spec_path()
{
    return resource_dir() / "world" / "world.json";
}

} // namespace psa
