// SPDX-License-Identifier: GPL-3.0-or-later
// Every image is rendered once into DIR/images and hard-linked into the folders that use it
// (base/, train/, ...): Sage's loader only accepts paths inside the split folder, and links keep
// each split self-contained without copying bytes.
#include "world/world_generator.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "profiles/sage_users.h"
#include "tensor_io/image_tensor.h"
#include "world/virtual_users.h"
#include "world/world_random.h"
#include "world/world_scene.h"
#include "world/world_spec.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <type_traits>
#include <cstdio>
#include <set>

namespace psa {

namespace fs = std::filesystem;
using ordered = nlohmann::ordered_json;

namespace {

struct Render {
    std::string name; // file name in images/
    WorldScene scene;
};

// A harmful/safe pair of renders of one concept: same scene and seed, only the motif differs.
struct ConceptPair {
    int harmful = -1, safe = -1; // indices into the render list
};

// A two-concept scene in its four renders: renders[a][b] has the first concept's harmful motif
// when a is 1 and the second's when b is 1; each pair of renders that differ in one index differs
// only inside that concept's motif disk.
struct MixedPairScene {
    int renders[2][2] = {{-1, -1}, {-1, -1}};
    WorldScene scene; // with both concepts harmful
};

// Four decimals: a tenth of a pixel at 1,000 px, and metadata lines stay short.
double rounded(double v)
{
    return std::round(v * 1e4) / 1e4;
}

std::string padded(int v, int width)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*d", width, v);
    return buf;
}

WorldScene random_scene(const WorldSpec& spec, WorldRng& rng, std::uint64_t seed)
{
    WorldScene s;
    s.subject = rng.below(static_cast<int>(spec.subjects.size()));
    s.scene = rng.below(static_cast<int>(spec.scenes.size()));
    s.seed = seed;
    return s;
}

// `count` concepts of different categories in different slots; each motif harmful, or harmful
// at random when `random_motif` (drawn right after its concept, the order the worlds rely on).
void place_concepts(const WorldSpec& spec, WorldRng& rng, const std::vector<std::string>& category_ids,
                    const std::map<std::string, std::vector<int>>& by_category, int count,
                    bool random_motif, WorldScene& s)
{
    const int slots = static_cast<int>(spec.slots.size());
    auto cats = category_ids;
    rng.shuffle(cats);
    std::vector<int> free_slots(static_cast<size_t>(slots));
    for (int i = 0; i < slots; ++i)
        free_slots[static_cast<size_t>(i)] = i;
    rng.shuffle(free_slots);
    for (int k = 0; k < count; ++k) {
        const auto& list = by_category.at(cats[static_cast<size_t>(k)]);
        const int concept_index = list[static_cast<size_t>(rng.below(static_cast<int>(list.size())))];
        const bool harmful = random_motif ? rng.chance(0.5) : true;
        s.concepts.push_back({concept_index, harmful, free_slots[static_cast<size_t>(k)]});
    }
}

// The renders: per concept `pairs_per_concept` pairs, then mixed and plain renders, then the
// mixed-pair scenes' four renders each (last, so a world without them keeps its order).
std::vector<Render> plan_renders(const WorldSpec& spec, const WorldGenerateOptions& o,
                                 std::vector<std::vector<ConceptPair>>& pairs,
                                 std::vector<MixedPairScene>& mixed_pairs)
{
    std::vector<Render> renders;
    pairs.assign(spec.concepts.size(), {});
    const int slots = static_cast<int>(spec.slots.size());
    for (size_t c = 0; c < spec.concepts.size(); ++c) {
        for (int v = 0; v < o.pairs_per_concept; ++v) {
            WorldRng rng(WorldRng::derive(o.seed, 10, c, static_cast<std::uint64_t>(v)));
            WorldScene s = random_scene(spec, rng, WorldRng::derive(o.seed, 11, c, static_cast<std::uint64_t>(v)));
            s.concepts.push_back({static_cast<int>(c), true, rng.below(slots)});
            const std::string stem = spec.concepts[c].id + "_" + padded(v, 3);
            ConceptPair p;
            p.harmful = static_cast<int>(renders.size());
            renders.push_back({stem + "_harmful.png", s});
            s.concepts[0].harmful = false;
            if (o.safe_as_background)
                s.concepts.clear();
            p.safe = static_cast<int>(renders.size());
            renders.push_back({stem + "_safe.png", s});
            pairs[c].push_back(p);
        }
    }
    std::map<std::string, std::vector<int>> by_category;
    for (size_t c = 0; c < spec.concepts.size(); ++c)
        by_category[spec.concepts[c].category].push_back(static_cast<int>(c));
    std::vector<std::string> category_ids;
    for (const auto& [cat, list] : by_category)
        category_ids.push_back(cat);
    const int per_image = std::min<int>(spec.max_concepts_per_image(), static_cast<int>(category_ids.size()));
    for (int m = 0; m < o.mixed_renders; ++m) {
        WorldRng rng(WorldRng::derive(o.seed, 12, static_cast<std::uint64_t>(m)));
        WorldScene s = random_scene(spec, rng, WorldRng::derive(o.seed, 13, static_cast<std::uint64_t>(m)));
        place_concepts(spec, rng, category_ids, by_category, per_image, true, s);
        renders.push_back({"mix_" + padded(m, 5) + ".png", s});
    }
    for (int p = 0; p < o.plain_renders; ++p) {
        WorldRng rng(WorldRng::derive(o.seed, 14, static_cast<std::uint64_t>(p)));
        renders.push_back(
            {"plain_" + padded(p, 5) + ".png", random_scene(spec, rng, WorldRng::derive(o.seed, 15, p))});
    }
    mixed_pairs.clear();
    if (o.mixed_pair_scenes > 0 && per_image < 2)
        throw InvalidRequest("world generate: --mixed-pair-scenes needs a world spec with two motif slots and two "
                             "categories with concepts");
    for (int m = 0; m < o.mixed_pair_scenes; ++m) {
        WorldRng rng(WorldRng::derive(o.seed, 16, static_cast<std::uint64_t>(m)));
        MixedPairScene mp;
        mp.scene = random_scene(spec, rng, WorldRng::derive(o.seed, 17, static_cast<std::uint64_t>(m)));
        place_concepts(spec, rng, category_ids, by_category, 2, false, mp.scene);
        for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) {
                WorldScene s = mp.scene;
                s.concepts[0].harmful = a == 1;
                s.concepts[1].harmful = b == 1;
                if (o.safe_as_background)
                    s.concepts.erase(std::remove_if(s.concepts.begin(), s.concepts.end(),
                                                    [](const PlacedConcept& c) { return !c.harmful; }),
                                     s.concepts.end());
                mp.renders[a][b] = static_cast<int>(renders.size());
                const std::string suffix = std::string(a ? "h" : "s") + (b ? "h" : "s");
                renders.push_back({"mixpair_" + padded(m, 5) + "_" + suffix + ".png", s});
            }
        mixed_pairs.push_back(mp);
    }
    return renders;
}

ordered counts_json(const std::map<std::string, int>& m)
{
    ordered j = ordered::object();
    for (const auto& [k, v] : m)
        j[k] = v;
    return j;
}

template <class Inner>
ordered nested_json(const std::map<std::string, Inner>& m)
{
    ordered j = ordered::object();
    for (const auto& [k, inner] : m) {
        ordered e = ordered::object();
        for (const auto& [key, v] : inner) {
            if constexpr (std::is_same_v<typename Inner::key_type, int>)
                e[std::to_string(key)] = v;
            else
                e[key] = v;
        }
        j[k] = e;
    }
    return j;
}

ordered frequencies_json(const AttributeFrequencies& f)
{
    return ordered{{"source", f.source},
                   {"users", f.users},
                   {"age_group", counts_json(f.age_group)},
                   {"age_by_group", nested_json(f.age_by_group)},
                   {"gender", counts_json(f.gender)},
                   {"religion_by_group", nested_json(f.religion_by_group)},
                   {"physical_by_group", nested_json(f.physical_by_group)},
                   {"mental_by_group", nested_json(f.mental_by_group)}};
}

ordered user_data_json(const VirtualUser& u)
{
    const auto& p = u.profile;
    return ordered{{"User_ID", u.user_id},
                   {"Age", p.age},
                   {"Age_Group", p.age_group},
                   {"Gender", p.gender},
                   {"Religion", p.religion},
                   {"Physical_Condition", p.physical_condition},
                   {"Mental_Condition", p.mental_condition},
                   {"Banned_Categories", p.banned_categories()}};
}

void link_or_copy(const fs::path& from, const fs::path& to)
{
    if (fs::exists(to))
        return;
    std::error_code ec;
    fs::create_hard_link(from, to, ec);
    if (ec)
        fs::copy_file(from, to, ec);
    if (ec)
        throw IoError(path_message(to.string(), "could not link or copy " + from.string() + ": " + ec.message()));
}

void make_folder(const fs::path& p)
{
    std::error_code ec;
    fs::create_directories(p, ec);
    if (ec)
        throw IoError(path_message(p.string(), "could not create the folder: " + ec.message()));
}

// Renders (or scenes) kept for val and the test splits: the last quarter, at least one.
int held_out_count(int variants)
{
    return std::max(1, variants / 4);
}

struct PairPlace {
    std::string split;
    size_t variant = 0; // which of the pair's render variants (or scenes)
};

// Where one of a user's pairs goes: an unseen user's pairs all go to test_unseen, a seen user's to
// val, test_seen or train by the options' fractions; train pairs use the first variants, the others
// the held-out last quarter, so no render is both trained on and tested.
PairPlace place_pair(const WorldGenerateOptions& o, bool unseen_user, int variants, WorldRng& rng)
{
    const int held = held_out_count(variants), trained = variants - held;
    PairPlace p{"test_unseen"};
    if (!unseen_user) {
        const double x = rng.uniform();
        p.split = x < o.val_fraction ? "val" : x < o.val_fraction + o.test_seen_fraction ? "test_seen" : "train";
    }
    p.variant = static_cast<size_t>(p.split == "train" ? rng.below(trained) : trained + rng.below(held));
    return p;
}

// One Sage line: `concept` is the concept whose motif tells chosen from rejected.
ordered sage_pair_line(const Render& chosen, const Render& rejected, const std::string& caption,
                       const ConceptSpec& concept_spec, const VirtualUser& user)
{
    return ordered{{"file_name", "images/" + chosen.name},
                   {"chosen", "images/" + chosen.name},
                   {"rejected", "images/" + rejected.name},
                   {"caption", caption},
                   {"concept", concept_spec.id},
                   {"category", concept_spec.category},
                   {"user_data", user_data_json(user)}};
}

std::string lines_text(const std::vector<ordered>& lines)
{
    std::string s;
    for (const auto& l : lines)
        s += l.dump() + "\n";
    return s;
}

} // namespace

const std::vector<std::string>& world_split_names()
{
    static const std::vector<std::string> names = {"train", "val", "test_seen", "test_unseen"};
    return names;
}

void WorldGenerateOptions::validate() const
{
    if (out.empty())
        throw InvalidRequest("world generate: --out is required");
    if (users < 2)
        throw InvalidRequest("world generate: --users " + std::to_string(users) + " (need at least 2: seen and unseen)");
    if (size != 0 && (size < 32 || size % 8 != 0))
        throw InvalidRequest("world generate: --size " + std::to_string(size) + " (need a multiple of 8, at least 32)");
    if (pairs_per_concept < 2)
        throw InvalidRequest("world generate: --pairs-per-concept " + std::to_string(pairs_per_concept) +
                             " (need at least 2: one for training, one held out)");
    if (mixed_renders < 0 || plain_renders < 0)
        throw InvalidRequest("world generate: --mixed and --plain must not be negative");
    if (mixed_pair_scenes < 0 || mixed_pairs_per_user < 0)
        throw InvalidRequest("world generate: --mixed-pair-scenes and --mixed-pairs-per-user must not be negative");
    if (mixed_pairs_per_user > 0 && mixed_pair_scenes < 2)
        throw InvalidRequest("world generate: --mixed-pairs-per-user needs --mixed-pair-scenes of at least 2 "
                             "(one for training, one held out)");
    if (!(personal_choice_rate >= 0 && personal_choice_rate <= 1))
        throw InvalidRequest("world generate: --personal-choice-rate must lie between 0 and 1");
    if (!(unseen_fraction > 0 && unseen_fraction < 1))
        throw InvalidRequest("world generate: --unseen-fraction must lie strictly between 0 and 1");
    if (val_fraction < 0 || test_seen_fraction < 0 || val_fraction + test_seen_fraction >= 1)
        throw InvalidRequest("world generate: --val-fraction + --test-seen-fraction must be below 1");
}

WorldGenerateResult generate_world(const WorldGenerateOptions& o, JobControl& job)
{
    const auto start = std::chrono::steady_clock::now();
    o.validate();
    const auto& categories = CategorySet::builtin();
    const fs::path spec_path = o.world_spec.empty() ? builtin_world_spec_path() : o.world_spec;
    WorldSpec spec = load_world_spec(spec_path, categories);
    if (o.size)
        spec.image_size = o.size;
    if (fs::exists(o.out / "world.json"))
        throw InvalidRequest(path_message(o.out.string(), "already holds a world (world.json); choose a new folder"));
    const fs::path csv = o.users_csv.empty() ? default_sage_users_csv() : o.users_csv;
    const auto frequencies = measure_attribute_frequencies(read_sage_users(csv), csv.filename().string());

    WorldGenerateResult result;
    std::vector<std::vector<ConceptPair>> pairs;
    std::vector<MixedPairScene> mixed_pairs;
    const auto renders = plan_renders(spec, o, pairs, mixed_pairs);
    make_folder(o.out / "images");
    make_folder(o.out / "base" / "images");
    std::vector<ordered> base_lines;
    for (size_t i = 0; i < renders.size(); ++i) {
        if (job.stop_requested()) {
            result.outcome = Outcome::Cancelled;
            return result;
        }
        const auto& r = renders[i];
        save_image(o.out / "images" / r.name, render_world_scene(spec, r.scene, spec.image_size));
        link_or_copy(o.out / "images" / r.name, o.out / "base" / "images" / r.name);
        ordered concepts = ordered::array();
        for (const auto& c : r.scene.concepts)
            concepts.push_back(ordered{{"id", spec.concepts[c.concept_index].id},
                                       {"category", spec.concepts[c.concept_index].category},
                                       {"harmful", c.harmful},
                                       {"slot", c.slot}});
        ordered boxes = ordered::array();
        for (const auto& b : world_scene_object_boxes(spec, r.scene))
            boxes.push_back({rounded(b.x0), rounded(b.y0), rounded(b.x1), rounded(b.y1)});
        base_lines.push_back(ordered{{"file_name", "images/" + r.name},
                                     {"caption", world_caption(spec, r.scene)},
                                     {"subject", spec.subjects[r.scene.subject].name},
                                     {"scene", spec.scenes[r.scene.scene].name},
                                     {"concepts", concepts},
                                     {"focus_boxes", boxes}});
        job.report(Stage::Save, static_cast<int>(i) + 1, static_cast<int>(renders.size()), "render");
    }
    write_file_atomic(o.out / "base" / "metadata.jsonl", lines_text(base_lines));
    result.renders = static_cast<int>(renders.size());

    // Users: a shuffled `unseen_fraction` of them never appear in train (nor val/test_seen).
    auto users = sample_virtual_users(frequencies, o.users, o.seed, categories);
    apply_personal_choices(users, o.personal_choice_rate, o.seed, categories);
    std::vector<int> order(users.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = static_cast<int>(i);
    WorldRng split_rng(WorldRng::derive(o.seed, 30));
    split_rng.shuffle(order);
    const int n_unseen = std::clamp(static_cast<int>(std::lround(o.users * o.unseen_fraction)), 1, o.users - 1);
    for (int k = 0; k < n_unseen; ++k)
        users[static_cast<size_t>(order[static_cast<size_t>(k)])].unseen = true;

    std::map<std::string, std::vector<ordered>> split_lines;
    std::map<std::string, std::set<std::string>> split_images;
    std::vector<ordered> user_lines;
    for (size_t u = 0; u < users.size(); ++u) {
        if (job.stop_requested()) {
            result.outcome = Outcome::Cancelled;
            return result;
        }
        const auto& user = users[u];
        WorldRng rng(WorldRng::derive(o.seed, 31, u));
        std::map<std::string, int> per_split;
        // The caption names every concept's harmful phrase whatever the render shows (Sage's), so
        // it comes from the scene with every concept drawn (`full`).
        const auto add_pair = [&](const std::string& split, int chosen_index, int rejected_index, int full,
                                  const ConceptSpec& concept_spec) {
            const auto& chosen = renders[static_cast<size_t>(chosen_index)];
            const auto& rejected = renders[static_cast<size_t>(rejected_index)];
            const auto& caption_scene = renders[static_cast<size_t>(full)].scene;
            split_lines[split].push_back(
                sage_pair_line(chosen, rejected, world_harmful_caption(spec, caption_scene), concept_spec, user));
            split_images[split].insert(chosen.name);
            split_images[split].insert(rejected.name);
            ++per_split[split];
        };
        for (size_t c = 0; c < spec.concepts.size(); ++c) {
            const auto place = place_pair(o, user.unseen, o.pairs_per_concept, rng);
            const auto& pair = pairs[c][place.variant];
            const auto& concept_spec = spec.concepts[c];
            // Sage's rule: the safe image is preferred exactly when the category is banned.
            const bool banned = user.profile.is_banned(concept_spec.category);
            add_pair(place.split, banned ? pair.safe : pair.harmful, banned ? pair.harmful : pair.safe, pair.harmful,
                     concept_spec);
        }
        // Sage's rule on a two-concept picture: the chosen render shows exactly the user's allowed
        // motifs; the rejected one flips one of the two, so it either adds a banned motif or drops
        // an allowed one. Single-concept pairs never show a picture where one motif must go and the
        // other stay. Its own random stream keeps the pairs above the same with or without these.
        WorldRng mixed_rng(WorldRng::derive(o.seed, 32, u));
        for (int k = 0; k < o.mixed_pairs_per_user; ++k) {
            const auto place = place_pair(o, user.unseen, o.mixed_pair_scenes, mixed_rng);
            const auto& mp = mixed_pairs[place.variant];
            int keep[2];
            for (int i = 0; i < 2; ++i)
                keep[i] = user.profile.is_banned(spec.concepts[mp.scene.concepts[i].concept_index].category) ? 0 : 1;
            const int flipped = mixed_rng.below(2);
            int other[2] = {keep[0], keep[1]};
            other[flipped] = 1 - other[flipped];
            add_pair(place.split, mp.renders[keep[0]][keep[1]], mp.renders[other[0]][other[1]], mp.renders[1][1],
                     spec.concepts[mp.scene.concepts[flipped].concept_index]);
        }
        ordered reasons = ordered::object();
        ordered choices = ordered::array();
        for (const auto& b : user.profile.bans) {
            if (b.banned)
                reasons[b.category] = b.overridden ? "personal choice" : b.reason;
            if (b.overridden)
                choices.push_back(b.category);
        }
        ordered line = user_data_json(user);
        line["split"] = user.unseen ? "unseen" : "seen";
        line["ban_reasons"] = reasons;
        // Only with the option, so worlds generated without it keep their bytes.
        if (o.personal_choice_rate > 0)
            line["personal_choices"] = choices;
        line["pairs"] = counts_json(per_split);
        user_lines.push_back(line);
        job.report(Stage::Other, static_cast<int>(u) + 1, static_cast<int>(users.size()), "users");
    }
    for (const auto& split : world_split_names()) {
        make_folder(o.out / split / "images");
        for (const auto& name : split_images[split])
            link_or_copy(o.out / "images" / name, o.out / split / "images" / name);
        write_file_atomic(o.out / split / "metadata.jsonl", lines_text(split_lines[split]));
        result.pairs[split] = static_cast<int>(split_lines[split].size());
    }
    write_file_atomic(o.out / "users.jsonl", lines_text(user_lines));

    // world.json last: its presence marks a complete world. It stays a valid world spec (the extra
    // keys are ignored by the reader) with the size actually used.
    auto world = ordered::parse(world_spec_to_json_text(spec));
    world["generation"] = ordered{{"seed", o.seed},
                                  {"users", o.users},
                                  {"unseen_users", n_unseen},
                                  {"pairs_per_concept", o.pairs_per_concept},
                                  {"held_out_pairs_per_concept", held_out_count(o.pairs_per_concept)},
                                  {"mixed_renders", o.mixed_renders},
                                  {"plain_renders", o.plain_renders},
                                  {"mixed_pair_scenes", o.mixed_pair_scenes},
                                  {"mixed_pairs_per_user", o.mixed_pairs_per_user},
                                  {"unseen_fraction", o.unseen_fraction},
                                  {"val_fraction", o.val_fraction},
                                  {"test_seen_fraction", o.test_seen_fraction},
                                  {"renders", result.renders}};
    if (o.personal_choice_rate > 0)
        world["generation"]["personal_choice_rate"] = o.personal_choice_rate;
    if (o.safe_as_background)
        world["generation"]["safe_as_background"] = true;
    world["user_frequencies"] = frequencies_json(frequencies);
    write_file_atomic(o.out / "world.json", world.dump(2) + "\n");

    result.users = static_cast<int>(users.size());
    result.unseen_users = n_unseen;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

} // namespace psa
