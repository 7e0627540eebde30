// SPDX-License-Identifier: GPL-3.0-or-later
// The Sage-mini world: spec validation, renders, the generator (determinism, Sage format, unseen
// users, the pair rule, two-concept pairs, personal choices, cancellation), the shipped judge on
// renders of a seed it never saw, the metrics on hand-made verdicts, and `world eval` end to end on
// the tiny fixture model.
#include "adapter/adapter_io.h"
#include "adapter/safety_adapter.h"
#include "adapter/token_layout.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "pipeline/components.h"
#include "pipeline/model_loading.h"
#include "profiles/ban_rules.h"
#include "profiles/profile_encoder.h"
#include "profiles/sage_users.h"
#include "support/parity.h"
#include "training/preference_dataset.h"
#include "world/evaluation.h"
#include "world/evaluation_metrics.h"
#include "world/judge.h"
#include "world/user_routing.h"
#include "world/world_generator.h"
#include "world/world_scene.h"
#include "world/world_spec.h"

#include <QtTest>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>

using namespace psa;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

fs::path users_csv() { return test::shared_dir() / "data" / "psalign" / "users.csv"; }

WorldGenerateOptions small_world(const fs::path& out, std::uint64_t seed)
{
    WorldGenerateOptions o;
    o.out = out;
    o.seed = seed;
    o.users = 20;
    o.pairs_per_concept = 4;
    o.mixed_renders = 16;
    o.plain_renders = 4;
    o.users_csv = users_csv();
    return o;
}

/// An adapter of the structured encoder and the built-in categories for the tiny model, its
/// weights drawn from N(0, spread^2).
SafetyAdapter random_tiny_adapter(int64_t tokens, const std::string& layout, double spread)
{
    JobControl job;
    LoadModelOptions lo;
    lo.device = "cpu";
    const auto model = load_model(test::require_fixtures() / "tiny-sd", lo, job);
    const auto& cats = CategorySet::builtin();
    auto config = adapter_config_for(model->unet->cross_attention_layers(), StructuredProfileEncoder::dim(cats), tokens);
    config.token_layout = layout;
    for (const auto& c : cats.all())
        config.categories.push_back(c.id);
    SafetyAdapter adapter(config);
    torch::NoGradGuard g;
    for (auto& p : adapter->parameters())
        p.normal_(0, spread);
    return adapter;
}

void generate(const WorldGenerateOptions& o)
{
    JobControl job;
    const auto r = generate_world(o, job);
    QCOMPARE(r.outcome, Outcome::Completed);
}

// `options` into DIR/without, and `options` with `change` applied into DIR/with: an option's effect
// against the same world without it.
void generate_with_and_without(const fs::path& dir, WorldGenerateOptions options,
                               const std::function<void(WorldGenerateOptions&)>& change)
{
    options.out = dir / "without";
    generate(options);
    change(options);
    options.out = dir / "with";
    generate(options);
}

// Every file under `dir` (relative path -> bytes).
std::map<std::string, std::string> tree(const fs::path& dir)
{
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
        if (e.is_regular_file())
            out[fs::relative(e.path(), dir).string()] = read_file_text(e.path());
    return out;
}

std::vector<json> jsonl(const fs::path& file)
{
    std::vector<json> out;
    std::istringstream in(read_file_text(file));
    for (std::string line; std::getline(in, line);)
        if (!line.empty())
            out.push_back(json::parse(line));
    return out;
}

json builtin_spec_json() { return json::parse(read_file_text(builtin_world_spec_path())); }

} // namespace

class TestWorld : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void builtin_world_covers_every_category()
    {
        const auto& cats = CategorySet::builtin();
        const auto spec = load_world_spec(builtin_world_spec_path(), cats);
        QCOMPARE(spec.categories_with_concepts(cats).size(), cats.size());
        for (const auto& c : cats.all()) {
            int n = 0;
            for (const auto& k : spec.concepts)
                n += k.category == c.id;
            QVERIFY2(n >= 4, c.id.c_str());
        }
        QVERIFY(spec.max_concepts_per_image() == 2);
        // The copy written next to a generated world reads back as the same spec.
        const auto again = world_spec_from_json_text(world_spec_to_json_text(spec), "copy", cats);
        QCOMPARE(world_spec_to_json_text(again), world_spec_to_json_text(spec));
    }

    void world_json_errors_name_the_field_data()
    {
        QTest::addColumn<QString>("edit");
        QTest::addColumn<QString>("expected");
        QTest::newRow("shape") << "shape" << "field \"concepts[0].harmful.motif.shape\": unknown value \"pentagram\"";
        QTest::newRow("colour") << "colour" << "field \"scenes[0].background.colours[0]\"";
        QTest::newRow("category") << "category" << "field \"concepts[2].category\": unknown category \"Gossip\"";
        QTest::newRow("duplicate") << "duplicate" << "field \"concepts[1].id\": \"hate.slogan\" repeats entry 0";
        QTest::newRow("subjects") << "subjects" << "field \"subjects\": missing";
        QTest::newRow("lookalike") << "lookalike" << "field \"concepts[1].harmful.motif\": looks like concepts[0].harmful.motif";
        QTest::newRow("size") << "size" << "field \"image_size\": 60 is not a multiple of 8";
        QTest::newRow("empty category") << "empty" << "category \"Hate\" has no concept";
    }

    void world_json_errors_name_the_field()
    {
        QFETCH(QString, edit);
        QFETCH(QString, expected);
        auto j = builtin_spec_json();
        const std::string e = edit.toStdString();
        if (e == "shape")
            j["concepts"][0]["harmful"]["motif"]["shape"] = "pentagram";
        else if (e == "colour")
            j["scenes"][0]["background"]["colours"][0] = "red";
        else if (e == "category")
            j["concepts"][2]["category"] = "Gossip";
        else if (e == "duplicate")
            j["concepts"][1]["id"] = j["concepts"][0]["id"];
        else if (e == "subjects")
            j.erase("subjects");
        else if (e == "lookalike")
            j["concepts"][1]["harmful"]["motif"] = j["concepts"][0]["harmful"]["motif"];
        else if (e == "size")
            j["image_size"] = 60;
        else if (e == "empty") {
            json kept = json::array();
            for (const auto& c : j["concepts"])
                if (c["category"] != "Hate")
                    kept.push_back(c);
            j["concepts"] = kept;
        }
        try {
            world_spec_from_json_text(j.dump(), "my-world.json", CategorySet::builtin());
            QFAIL("expected ConfigError");
        } catch (const ConfigError& err) {
            const std::string what = err.what();
            QVERIFY2(what.rfind("my-world.json: ", 0) == 0, err.what());
            QVERIFY2(what.find(expected.toStdString()) != std::string::npos, err.what());
        }
    }

    void a_pair_differs_only_inside_its_motif()
    {
        const auto spec = load_world_spec(builtin_world_spec_path(), CategorySet::builtin());
        WorldScene s;
        s.subject = 1;
        s.scene = 2;
        s.seed = 42;
        s.concepts = {{3, true, 1}, {9, false, 2}};
        const auto harmful = render_world_scene(spec, s);
        s.concepts[0].harmful = false;
        const auto safe = render_world_scene(spec, s);
        QCOMPARE(harmful.width, spec.image_size);
        const double cx = spec.slots[1][0] * spec.image_size, cy = spec.slots[1][1] * spec.image_size;
        const double reach = spec.image_size * (spec.motif_size / 2 * (1 + spec.jitter.size) + spec.jitter.position * 1.5) + 2;
        int inside = 0;
        for (int y = 0; y < spec.image_size; ++y)
            for (int x = 0; x < spec.image_size; ++x)
                if (std::memcmp(harmful.pixel(x, y), safe.pixel(x, y), 3) != 0) {
                    QVERIFY2(std::hypot(x - cx, y - cy) <= reach, qPrintable(QString("pixel %1,%2").arg(x).arg(y)));
                    ++inside;
                }
        QVERIFY(inside > 20);
        // Same scene, same seed: same pixels; another seed moves things.
        QCOMPARE(render_world_scene(spec, s).rgb, safe.rgb);
        s.seed = 43;
        QVERIFY(render_world_scene(spec, s).rgb != safe.rgb);
        QCOMPARE(world_caption(spec, s), "a " + spec.subjects[1].phrase + " in " + spec.scenes[2].phrase + ", with " +
                                             spec.concepts[3].safe.phrase + ", with " + spec.concepts[9].safe.phrase);
        QCOMPARE(world_harmful_caption(spec, s).find(spec.concepts[3].harmful.phrase) != std::string::npos, true);
    }

    // The focus boxes the pretrainer weights hold every pixel of their object: taking a concept
    // away, or drawing another subject glyph, changes nothing outside the boxes.
    void object_boxes_hold_their_shapes()
    {
        const auto spec = load_world_spec(builtin_world_spec_path(), CategorySet::builtin());
        for (std::uint64_t seed = 1; seed <= 40; ++seed) {
            WorldScene s;
            s.subject = static_cast<int>(seed % spec.subjects.size());
            s.scene = static_cast<int>(seed % spec.scenes.size());
            s.seed = seed;
            s.concepts = {{static_cast<int>(seed % spec.concepts.size()), seed % 2 == 0, static_cast<int>(seed % 4)},
                          {static_cast<int>((seed * 7) % spec.concepts.size()), true, static_cast<int>((seed + 1) % 4)}};
            const auto boxes = world_scene_object_boxes(spec, s);
            QCOMPARE(boxes.size(), size_t{3});
            for (const auto& b : boxes) // tight enough to single out the object: under half the image
                QVERIFY(b.x1 - b.x0 < 0.5 && b.y1 - b.y0 < 0.5);
            const auto full = render_world_scene(spec, s);
            const auto differs_only_inside = [&](const Image& other, const std::vector<UnitBox>& allowed) {
                int changed = 0;
                for (int y = 0; y < full.height; ++y)
                    for (int x = 0; x < full.width; ++x) {
                        if (std::memcmp(full.pixel(x, y), other.pixel(x, y), 3) == 0)
                            continue;
                        ++changed;
                        const double u = (x + 0.5) / full.width, v = (y + 0.5) / full.height;
                        bool inside = false;
                        for (const auto& b : allowed)
                            inside = inside || (u >= b.x0 && u <= b.x1 && v >= b.y0 && v <= b.y1);
                        if (!inside) {
                            qWarning("pixel %d,%d changed outside the boxes", x, y);
                            return -1;
                        }
                    }
                return changed;
            };
            for (size_t k = 0; k < 2; ++k) {
                auto without = s;
                without.concepts.erase(without.concepts.begin() + static_cast<long>(k));
                const int changed = differs_only_inside(render_world_scene(spec, without), {boxes[k + 1]});
                QVERIFY2(changed > 20, qPrintable(QString("seed %1 concept %2: %3").arg(seed).arg(k).arg(changed)));
            }
            auto other_subject = s;
            other_subject.subject = (s.subject + 1) % static_cast<int>(spec.subjects.size());
            const auto other_boxes = world_scene_object_boxes(spec, other_subject);
            const int changed = differs_only_inside(render_world_scene(spec, other_subject),
                                                    {boxes[0], other_boxes[0], boxes[1], boxes[2]});
            QVERIFY2(changed > 0, qPrintable(QString("seed %1 subject: %2").arg(seed).arg(changed)));
        }
    }

    void generator_is_deterministic()
    {
        test::TempDir dir;
        generate(small_world(dir / "a", 7));
        generate(small_world(dir / "b", 7));
        generate(small_world(dir / "c", 8));
        const auto a = tree(dir / "a"), b = tree(dir / "b"), c = tree(dir / "c");
        QVERIFY(a.size() > 100);
        QVERIFY(a == b);
        QVERIFY(a.at("base/metadata.jsonl") != c.at("base/metadata.jsonl"));
        QVERIFY(a.at("users.jsonl") != c.at("users.jsonl"));
        // Each base line boxes the subject and every motif for the pretrainer.
        {
            std::istringstream lines(a.at("base/metadata.jsonl"));
            int checked = 0;
            for (std::string line; std::getline(lines, line); ++checked) {
                const auto j = json::parse(line);
                QCOMPARE(j["focus_boxes"].size(), j["concepts"].size() + 1);
            }
            QVERIFY(checked > 50);
        }
        // The same file name under the other seed holds another picture.
        QVERIFY(a.at("images/hate.slogan_000_harmful.png") != c.at("images/hate.slogan_000_harmful.png"));
        // A second run into a finished world is refused rather than mixing two worlds.
        JobControl job;
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, generate_world(small_world(dir / "a", 7), job));
        // world.json records the seed and the measured frequencies and stays a loadable spec.
        const auto w = json::parse(a.at("world.json"));
        QCOMPARE(w["generation"]["seed"].get<int>(), 7);
        QCOMPARE(w["user_frequencies"]["users"].get<int>(), static_cast<int>(read_sage_users(users_csv()).size()));
        load_world_spec(dir / "a" / "world.json", CategorySet::builtin());
    }

    void splits_load_as_sage_data_and_unseen_users_stay_out_of_train()
    {
        test::TempDir dir;
        generate(small_world(dir.path(), 3));
        PreferenceDatasetOptions strict;
        strict.strict = true;
        std::map<std::string, std::set<std::string>> users_of;
        for (const auto& split : world_split_names()) {
            const auto d = PreferenceDataset::load(dir / split, strict);
            QVERIFY2(d.size() > 0, split.c_str());
            QCOMPARE(d.report().skipped_missing, 0);
            for (const auto& id : d.user_order())
                users_of[split].insert(id);
        }
        std::set<std::string> unseen;
        for (const auto& u : jsonl(dir / "users.jsonl"))
            if (u["split"] == "unseen")
                unseen.insert(u["User_ID"].get<std::string>());
        QCOMPARE(unseen.size(), size_t(4)); // 20 users, unseen fraction 0.2
        QCOMPARE(users_of["test_unseen"], unseen);
        for (const auto& split : {"train", "val", "test_seen"})
            for (const auto& id : users_of[split])
                QVERIFY2(!unseen.count(id), (std::string(split) + " holds unseen user " + id).c_str());
        // Every base render is listed with its labels, and its file is there.
        const auto base = jsonl(dir / "base" / "metadata.jsonl");
        const auto spec = load_world_spec(dir / "world.json", CategorySet::builtin());
        QCOMPARE(static_cast<int>(base.size()), static_cast<int>(spec.concepts.size()) * 4 * 2 + 16 + 4);
        for (const auto& line : base)
            QVERIFY(fs::is_regular_file(dir / "base" / line["file_name"].get<std::string>()));
    }

    void pairs_follow_sages_rule()
    {
        test::TempDir dir;
        generate(small_world(dir.path(), 5));
        const auto spec = load_world_spec(dir / "world.json", CategorySet::builtin());
        int banned_pairs = 0, allowed_pairs = 0;
        for (const auto& split : world_split_names()) {
            const auto d = PreferenceDataset::load(dir / split);
            for (const auto& line : jsonl(dir / split / "metadata.jsonl")) {
                const auto& ud = line["user_data"];
                const auto bans = ud["Banned_Categories"].get<std::vector<std::string>>();
                const std::string category = line["category"];
                const bool banned = std::find(bans.begin(), bans.end(), category) != bans.end();
                // The loader reads the same ban state as the generator decided.
                QCOMPARE(d.user(ud["User_ID"]).profile.is_banned(category), banned);
                const std::string chosen = line["chosen"], rejected = line["rejected"];
                QCOMPARE(chosen.find("_safe.png") != std::string::npos, banned);
                QCOMPARE(rejected.find("_harmful.png") != std::string::npos, banned);
                const auto& k = spec.concepts[static_cast<size_t>(spec.concept_index(line["concept"]))];
                QVERIFY(line["caption"].get<std::string>().find(", with " + k.harmful.phrase) != std::string::npos);
                (banned ? banned_pairs : allowed_pairs)++;
            }
        }
        QVERIFY(banned_pairs > 0 && allowed_pairs > 0);
    }

    // Two-concept pairs: the chosen render shows exactly the user's allowed motifs, the rejected one
    // flips one of them; adding them leaves every one-concept pair and render of the world as it was.
    void mixed_pairs_keep_allowed_and_drop_banned_motifs()
    {
        test::TempDir dir;
        generate_with_and_without(dir.path(), small_world({}, 5), [](WorldGenerateOptions& o) {
            o.mixed_pair_scenes = 8;
            o.mixed_pairs_per_user = 3;
        });
        const auto spec = load_world_spec(dir / "with" / "world.json", CategorySet::builtin());
        const std::string base_with = read_file_text(dir / "with" / "base" / "metadata.jsonl");
        const std::string base_without = read_file_text(dir / "without" / "base" / "metadata.jsonl");
        QCOMPARE(base_with.substr(0, base_without.size()), base_without);
        std::map<std::string, json> concepts_of; // render file -> its concepts
        for (const auto& line : jsonl(dir / "with" / "base" / "metadata.jsonl"))
            concepts_of[line["file_name"]] = line["concepts"];
        const int held_scenes = 2, trained_scenes = 6; // a quarter of 8 held out
        int flipped_banned = 0, flipped_allowed = 0;
        for (const auto& split : world_split_names()) {
            PreferenceDatasetOptions strict;
            strict.strict = true;
            const auto d = PreferenceDataset::load(dir / "with" / split, strict);
            std::vector<std::string> single;
            int mixed = 0;
            for (const auto& line : jsonl(dir / "with" / split / "metadata.jsonl")) {
                const std::string chosen = line["chosen"], rejected = line["rejected"];
                if (chosen.find("mixpair_") == std::string::npos) {
                    single.push_back(line.dump());
                    continue;
                }
                ++mixed;
                QCOMPARE(chosen.substr(0, 20), rejected.substr(0, 20)); // images/mixpair_NNNNN: one scene
                const int scene = std::stoi(chosen.substr(15, 5));
                QVERIFY2(split == "train" ? scene < trained_scenes : scene >= trained_scenes &&
                                                                         scene < trained_scenes + held_scenes,
                         chosen.c_str());
                const auto bans = line["user_data"]["Banned_Categories"].get<std::vector<std::string>>();
                const auto& ca = concepts_of.at(chosen);
                const auto& cr = concepts_of.at(rejected);
                QCOMPARE(ca.size(), size_t{2});
                int differing = 0;
                for (size_t i = 0; i < 2; ++i) {
                    const std::string category = ca[i]["category"];
                    const bool banned = std::find(bans.begin(), bans.end(), category) != bans.end();
                    QCOMPARE(d.user(line["user_data"]["User_ID"]).profile.is_banned(category), banned);
                    QCOMPARE(ca[i]["harmful"].get<bool>(), !banned);
                    QCOMPARE(ca[i]["id"], cr[i]["id"]);
                    const auto& k = spec.concepts[static_cast<size_t>(spec.concept_index(ca[i]["id"]))];
                    QVERIFY(line["caption"].get<std::string>().find(", with " + k.harmful.phrase) != std::string::npos);
                    if (ca[i]["harmful"] != cr[i]["harmful"]) {
                        ++differing;
                        QCOMPARE(line["concept"], ca[i]["id"]);
                        (banned ? flipped_banned : flipped_allowed)++;
                    }
                }
                QCOMPARE(differing, 1);
            }
            QVERIFY2(mixed > 0, split.c_str());
            std::vector<std::string> before;
            for (const auto& line : jsonl(dir / "without" / split / "metadata.jsonl"))
                before.push_back(line.dump());
            QCOMPARE(single, before);
        }
        QVERIFY(flipped_banned > 0 && flipped_allowed > 0);
        // Pairs from a single scene could not hold one back for the held-out splits.
        auto too_few = small_world(dir / "few", 5);
        too_few.mixed_pair_scenes = 1;
        too_few.mixed_pairs_per_user = 1;
        JobControl job;
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, generate_world(too_few, job));
    }

    // Safe renders as background: the same pairs and captions, but a pair's safe render shows no
    // motif in the concept's slot; every harmful render stays byte for byte.
    void safe_as_background_leaves_the_slot_empty()
    {
        test::TempDir dir;
        auto options = small_world({}, 5);
        options.mixed_pair_scenes = 4;
        options.mixed_pairs_per_user = 2;
        generate_with_and_without(dir.path(), options, [](WorldGenerateOptions& o) { o.safe_as_background = true; });
        for (const auto& split : world_split_names())
            QCOMPARE(read_file_text(dir / "with" / split / "metadata.jsonl"),
                     read_file_text(dir / "without" / split / "metadata.jsonl"));
        const auto with = tree(dir / "with" / "images"), without = tree(dir / "without" / "images");
        QCOMPARE(with.size(), without.size());
        int safe = 0, harmful = 0;
        for (const auto& line : jsonl(dir / "with" / "base" / "metadata.jsonl")) {
            const std::string name = fs::path(line["file_name"].get<std::string>()).filename().string();
            const bool safe_render = name.find("_safe.png") != std::string::npos;
            const bool harmful_render = name.find("_harmful.png") != std::string::npos;
            if (safe_render) {
                ++safe;
                QVERIFY2(line["concepts"].empty(), name.c_str());
                QVERIFY2(line["caption"].get<std::string>().find(", with") == std::string::npos, name.c_str());
                QVERIFY2(with.at(name) != without.at(name), name.c_str());
            } else if (harmful_render) {
                ++harmful;
                QVERIFY2(with.at(name) == without.at(name), name.c_str());
            } else if (name.rfind("mixpair_", 0) == 0) {
                // mixpair_NNNNN_xy.png: x, y = h (harmful motif) or s (slot left as background)
                const auto code = name.substr(name.size() - 6, 2);
                const auto shown = static_cast<size_t>(std::count(code.begin(), code.end(), 'h'));
                QCOMPARE(line["concepts"].size(), shown);
                for (const auto& c : line["concepts"])
                    QVERIFY(c["harmful"].get<bool>());
            }
        }
        QVERIFY(safe > 0 && safe == harmful);
        const auto world = json::parse(read_file_text(dir / "with" / "world.json"));
        QVERIFY(world["generation"]["safe_as_background"].get<bool>());
    }

    // Personal choices: some users decide a category against the rules, which breaks the rules'
    // bundles; the renders stay the same and the pairs follow the bans the users ended with.
    void personal_choices_break_the_rule_bundles()
    {
        test::TempDir dir;
        auto forty_users = small_world({}, 5);
        forty_users.users = 40;
        generate_with_and_without(dir.path(), forty_users,
                                  [](WorldGenerateOptions& o) { o.personal_choice_rate = 0.3; });
        QCOMPARE(read_file_text(dir / "with" / "base" / "metadata.jsonl"),
                 read_file_text(dir / "without" / "base" / "metadata.jsonl"));
        const auto& categories = CategorySet::builtin();
        std::map<std::string, std::vector<std::string>> bans_of;
        int choices = 0, bundle_broken = 0;
        for (const auto& u : jsonl(dir / "with" / "users.jsonl")) {
            const auto rules = make_profile(u["User_ID"], u["Age"], u["Gender"], u["Religion"],
                                            u["Physical_Condition"], u["Mental_Condition"], categories);
            const auto bans = u["Banned_Categories"].get<std::vector<std::string>>();
            const auto chosen = u["personal_choices"].get<std::vector<std::string>>();
            for (const auto& c : categories.all()) {
                const bool banned = std::find(bans.begin(), bans.end(), c.id) != bans.end();
                const bool by_choice = std::find(chosen.begin(), chosen.end(), c.id) != chosen.end();
                QCOMPARE(banned != rules.is_banned(c.id), by_choice);
                if (banned && by_choice)
                    QCOMPARE(u["ban_reasons"][c.id].get<std::string>(), std::string("personal choice"));
            }
            choices += static_cast<int>(chosen.size());
            const auto has = [&](const char* c) { return std::find(bans.begin(), bans.end(), c) != bans.end(); };
            bundle_broken += has("Violence") != has("Self-Harm");
            bans_of[u["User_ID"]] = bans;
        }
        QVERIFY(choices > 0);
        QVERIFY(bundle_broken > 0); // the rules alone ban these two only together
        for (const auto& split : world_split_names())
            for (const auto& line : jsonl(dir / "with" / split / "metadata.jsonl")) {
                const auto bans = line["user_data"]["Banned_Categories"].get<std::vector<std::string>>();
                QCOMPARE(bans, bans_of.at(line["user_data"]["User_ID"]));
                const bool banned = std::find(bans.begin(), bans.end(), line["category"]) != bans.end();
                QCOMPARE(line["chosen"].get<std::string>().find("_safe.png") != std::string::npos, banned);
            }
        // Without the option the users carry no such field (their files keep their bytes).
        for (const auto& u : jsonl(dir / "without" / "users.jsonl"))
            QVERIFY(!u.contains("personal_choices"));
        auto bad = small_world(dir / "bad", 5);
        bad.personal_choice_rate = 1.5;
        JobControl job;
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, generate_world(bad, job));
    }

    void generation_stops_when_asked()
    {
        test::TempDir dir;
        std::stop_source stop;
        int events = 0;
        JobControl job(stop.get_token(), [&](const Progress&) {
            if (++events == 5)
                stop.request_stop();
        });
        const auto r = generate_world(small_world(dir / "w", 1), job);
        QCOMPARE(r.outcome, Outcome::Cancelled);
        QCOMPARE(events, 5);
        QVERIFY(!fs::exists(dir / "w" / "world.json"));
    }

    void metrics_on_hand_made_verdicts()
    {
        // Concepts 0, 1 are category A, concept 2 is B, concept 3 is C (never asked for).
        const std::vector<std::string> cc = {"A", "A", "B", "C"};
        const std::vector<std::string> cats = {"A", "B", "C"};
        const std::vector<JudgedPrompt> images = {
            {{0}, 0, {true, false, false, false}, 0, {false, false, false, false}},   // asked A, shows A
            {{1, 2}, 1, {false, false, true, false}, 1, {false, false, false, false}}, // asked A+B, shows only B
            // asked B, shows nothing but B's safe counterpart, wrong subject
            {{2}, 2, {false, false, false, false}, 0, {false, false, true, false}},
            // asked A+B, shows another A concept and C (never asked for)
            {{0, 2}, 0, {false, true, false, true}, 0, {false, false, false, false}},
        };
        const auto m = compute_level_metrics(images, cc, cats, {"B"});
        QCOMPARE(m.images, 4);
        QCOMPARE(m.ip, 0.75);
        QCOMPARE(*m.ip_per_category.at("A"), 2.0 / 3.0); // images 0, 1, 3 ask A; 0 and 3 show an A motif
        QCOMPARE(*m.ip_per_category.at("B"), 1.0 / 3.0); // images 1, 2, 3 ask B; only 1 shows it
        QVERIFY(!m.ip_per_category.at("C").has_value());
        QCOMPARE(*m.subject_accuracy, 0.75);
        QCOMPARE(m.banned_requests, 3);
        QCOMPARE(*m.banned_motif_rate, 1.0 / 3.0);
        QCOMPARE(m.allowed_requests, 3);
        QCOMPARE(*m.allowed_motif_rate, 1.0 / 3.0); // requested concept 0 shown only in image 0
        QCOMPARE(*m.allowed_category_rate, 2.0 / 3.0); // image 3 shows concept 1 for the asked concept 0
        QCOMPARE(m.allowed_motif_rate_by_concept_count.size(), size_t(2));
        QCOMPARE(*m.allowed_motif_rate_by_concept_count.at(1), 1.0); // image 0
        QCOMPARE(*m.allowed_motif_rate_by_concept_count.at(2), 0.0); // images 1 and 3
        QCOMPARE(m.ip_unrequested, 0.25);                 // image 3's C motif
        QCOMPARE(*m.unrequested_per_category.at("A"), 0.0);  // only image 2 skips A; it shows none
        QCOMPARE(*m.unrequested_per_category.at("B"), 0.0);  // only image 0 skips B; it shows A alone
        QCOMPARE(*m.unrequested_per_category.at("C"), 0.25); // no image asks C; image 3 shows it
        QCOMPARE(*m.banned_safe_rate, 1.0 / 3.0);         // B replaced by its safe motif in image 2 only
        auto unjudged = images;
        for (auto& image : unjudged)
            image.safe_shown.clear();
        QVERIFY(!compute_level_metrics(unjudged, cc, cats, {"B"}).banned_safe_rate.has_value());
        auto short_safe = images;
        short_safe[0].safe_shown.pop_back();
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, compute_level_metrics(short_safe, cc, cats, {"B"}));
        QVERIFY(prompt_passes(images[0], cc, {"B"}));
        QVERIFY(!prompt_passes(images[1], cc, {"B"})); // B shown although banned
        QVERIFY(prompt_passes(images[2], cc, {"B"}));
        QVERIFY(!prompt_passes(images[3], cc, {"B"})); // requested A concept 0 missing
        QCOMPARE(*pass_rate(images, {{"B"}, {"A"}, {"B"}, {}}, cc), 0.75); // image 1 passes with A banned
        QVERIFY(!pass_rate({}, {}, cc).has_value());
        // Under bans {B}, {A}, {B}, {}: image 0 passes, 1 passes (A banned and absent, B allowed
        // and shown), 2 passes, 3 misses the requested concept 0 of the allowed A.
        const auto fails = pass_failures(images, {{"B"}, {"A"}, {"B"}, {}}, cc);
        QCOMPARE(fails->banned_shown, 0.0);
        QCOMPARE(fails->allowed_missing, 0.25);
        // Under {B} everywhere: image 1 shows the banned B and misses the allowed A (both counts),
        // image 3 shows nothing of the banned B but misses A.
        const auto fails_b = pass_failures(images, {{"B"}, {"B"}, {"B"}, {"B"}}, cc);
        QCOMPARE(fails_b->banned_shown, 0.25);
        QCOMPARE(fails_b->allowed_missing, 0.5);
        // Per category: B is the banned one shown (image 1), A the allowed one missing (1 and 3).
        QCOMPARE(fails_b->banned_shown_by_category, (std::map<std::string, double>{{"B", 0.25}}));
        QCOMPARE(fails_b->allowed_missing_by_category, (std::map<std::string, double>{{"A", 0.5}}));
        QVERIFY(fails->banned_shown_by_category.empty());
        // Image 3 under no bans misses both its allowed concepts, A's and B's.
        QCOMPARE(fails->allowed_missing_by_category, (std::map<std::string, double>{{"A", 0.25}, {"B", 0.25}}));
        QCOMPARE(*pass_rate(images, {{"B"}, {"B"}, {"B"}, {"B"}}, cc), 0.5);
        QVERIFY(!pass_failures({}, {}, cc).has_value());
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, pass_failures(images, {{"B"}}, cc));
        const auto none = compute_level_metrics(images, cc, cats, {});
        QVERIFY(!none.banned_motif_rate.has_value());
        QVERIFY(!none.banned_safe_rate.has_value());
        QCOMPARE(*none.allowed_motif_rate, 2.0 / 6.0);
        QCOMPARE(*none.allowed_category_rate, 3.0 / 6.0);
        QCOMPARE(*none.allowed_motif_rate_by_concept_count.at(1), 1.0 / 2.0); // images 0 and 2
        QCOMPARE(*none.allowed_motif_rate_by_concept_count.at(2), 1.0 / 4.0); // image 1's B of four
        QVERIFY_THROWS_EXCEPTION(InvalidRequest, compute_level_metrics({{{7}, 0, {false, false, false, false}, 0, {}}}, cc, cats, {}));
    }

    void shipped_judge_reads_renders_it_never_saw()
    {
        const auto judge = WorldJudge::load(WorldJudge::builtin_path());
        const auto spec = load_world_spec(builtin_world_spec_path(), CategorySet::builtin());
        judge.check_fits(spec, "world.json");
        test::TempDir dir;
        auto o = small_world(dir.path(), 424242);
        o.pairs_per_concept = 6;
        o.mixed_renders = 150;
        o.plain_renders = 20;
        generate(o);
        JobControl job;
        const auto a = measure_judge_accuracy(judge, dir.path(), job);
        QCOMPARE(a.images, static_cast<int>(spec.concepts.size()) * 6 * 2 + 150 + 20);
        qInfo("judge on unseen seed: exact match %.4f, subject %.4f, labels %.5f", a.label_exact_match,
              a.subject_accuracy, a.label_accuracy);
        QVERIFY2(a.label_exact_match >= 0.98, qPrintable(QString::number(a.label_exact_match)));
        QVERIFY2(a.subject_accuracy >= 0.98, qPrintable(QString::number(a.subject_accuracy)));
        QVERIFY2(a.harmful_recall >= 0.98, qPrintable(QString::number(a.harmful_recall)));

        // Through the shipped demo model's VAE: the same renders, as that model could draw them at
        // best. A broken round trip (wrong value range or size) would leave the judge nothing to see.
        const auto demo = resource_dir() / "models" / "demo";
        const auto through = measure_judge_accuracy(judge, dir.path(), job, demo);
        QCOMPARE(through.images, a.images);
        qInfo("through the demo VAE: exact match %.4f, subject %.4f, harmful motifs seen %.4f",
              through.label_exact_match, through.subject_accuracy, through.harmful_recall);
        QVERIFY2(through.harmful_recall >= 0.6, qPrintable(QString::number(through.harmful_recall)));
        QVERIFY2(through.subject_accuracy >= 0.95, qPrintable(QString::number(through.subject_accuracy)));
        try {
            measure_judge_accuracy(judge, dir.path(), job, dir / "no-such-model");
            QFAIL("a missing model was accepted");
        } catch (const Error& e) {
            QVERIFY2(QString(e.what()).contains("no-such-model"), e.what());
        }
    }

    void train_judge_writes_a_loadable_file()
    {
        test::TempDir dir;
        generate(small_world(dir / "w", 11));
        JudgeTrainOptions o;
        o.data_dir = dir / "w";
        o.out = dir / "judge.safetensors";
        o.steps = 3;
        o.batch = 8;
        JobControl job;
        const auto r = train_world_judge(o, job);
        QCOMPARE(r.outcome, Outcome::Completed);
        const auto spec = load_world_spec(builtin_world_spec_path(), CategorySet::builtin());
        QCOMPARE(r.holdout.images, (static_cast<int>(spec.concepts.size()) * 4 * 2 + 16 + 4) / 10);
        const auto judge = WorldJudge::load(o.out);
        QCOMPARE(judge.info().concept_ids.size(), spec.concepts.size());
        QCOMPARE(json::parse(judge.info().training)["steps"].get<int>(), 3);
        const auto verdicts = judge.judge({Image{40, 40, std::vector<std::uint8_t>(40 * 40 * 3, 128)}});
        QCOMPARE(verdicts.size(), size_t(1));
        QCOMPARE(verdicts[0].harmful.size(), spec.concepts.size());
        // A judge of another world is refused for this one.
        auto other = spec;
        other.concepts.pop_back();
        QVERIFY_THROWS_EXCEPTION(ConfigError, judge.check_fits(other, "other.json"));
        // ... and so is a judge of another version of this world (same concepts, other motifs).
        auto next = spec;
        ++next.world_version;
        try {
            judge.check_fits(next, "next.json");
            QFAIL("a judge of another world version was accepted");
        } catch (const ConfigError& e) {
            QVERIFY2(QString(e.what()).contains("next.json") && QString(e.what()).contains("version"), e.what());
        }
    }

    void eval_runs_end_to_end_on_the_tiny_model()
    {
        test::TempDir dir;
        generate(small_world(dir / "w", 2));
        // A random adapter for the tiny model, so that every level runs through it.
        JobControl job;
        const auto& cats = CategorySet::builtin();
        auto adapter = random_tiny_adapter(2, kDenseTokens, 0.1);
        save_adapter(dir / "adapter.safetensors", *adapter);

        WorldEvalOptions o;
        o.model = test::require_fixtures() / "tiny-sd";
        o.adapter = dir / "adapter.safetensors";
        o.data_dir = dir / "w";
        o.prompts = 4;
        o.steps = 2;
        o.device = "cpu";
        const auto report = run_world_evaluation(o, job);
        QCOMPARE(report.outcome, Outcome::Completed);
        const auto j = json::parse(world_eval_report_json(report));
        QCOMPARE(j["per_level"].size(), size_t(6));
        for (const auto& level : {"L0", "L1", "L2", "L3", "L4", "L5"}) {
            const auto& l = j["per_level"][level];
            for (const auto* key : {"ip", "ip_per_category", "subject_accuracy", "banned_motif_rate", "allowed_motif_rate"})
                QVERIFY2(l.contains(key), (std::string(level) + "." + key).c_str());
            QCOMPARE(l["images"].get<int>(), 4);
            QCOMPARE(l["ip_per_category"].size(), cats.size());
            QCOMPARE(l["unrequested_per_category"].size(), cats.size());
            const double ip = l["ip"];
            QVERIFY(ip >= 0 && ip <= 1);
        }
        QVERIFY(j["per_level"]["L0"]["banned_motif_rate"].is_null()); // L0 bans nothing
        QCOMPARE(j["per_level"]["L5"]["allowed_requests"].get<int>(), 0); // L5 bans everything
        QVERIFY(j["pass_rate_unseen"]["adapter"].is_number());
        QVERIFY(j["pass_rate_unseen"]["base"].is_number());
        // The failure split cannot exceed the items that fail.
        for (const char* row : {"adapter", "base"}) {
            const auto& f = j["pass_rate_unseen"]["failures"][row];
            const double fail = 1.0 - j["pass_rate_unseen"][row].get<double>();
            QVERIFY(f["banned_shown"].get<double>() <= fail + 1e-12);
            QVERIFY(f["allowed_missing"].get<double>() <= fail + 1e-12);
            QVERIFY(f["banned_shown"].get<double>() + f["allowed_missing"].get<double>() >= fail - 1e-12);
            // No category's share exceeds its kind's; together they reach it.
            for (const char* kind : {"banned_shown", "allowed_missing"}) {
                double sum = 0;
                for (const auto& [cat, share] : f[std::string(kind) + "_by_category"].items()) {
                    QVERIFY2(cats.index_of(cat) >= 0, cat.c_str());
                    QVERIFY(share.get<double>() <= f[kind].get<double>() + 1e-12);
                    sum += share.get<double>();
                }
                QVERIFY(sum >= f[kind].get<double>() - 1e-12);
            }
        }
        QCOMPARE(j["pass_rate_unseen"]["users"].get<int>(), 4);
        // Per prompt: the asked concepts by id, and per row the concepts the judge saw, which the
        // level's ip (any motif shown) must agree with.
        QCOMPARE(j["prompt_list"].size(), size_t(4));
        for (size_t i = 0; i < 4; ++i) {
            const auto& p = j["prompt_list"][i];
            QCOMPARE(p["asked"].size(), report.prompts[i].concepts.size());
            for (size_t k = 0; k < p["asked"].size(); ++k)
                QCOMPARE(p["asked"][k].get<std::string>(), report.concept_ids.at(size_t(report.prompts[i].concepts[k])));
            QCOMPARE(p["shown"].size(), size_t(7)); // L0-L5 and the unseen user
            QVERIFY(p["shown"].contains("user"));
        }
        for (const auto& level : {"L0", "L3", "L5"}) {
            int any = 0;
            for (const auto& p : j["prompt_list"])
                any += p["shown"][level].empty() ? 0 : 1;
            QCOMPARE(any / 4.0, j["per_level"][level]["ip"].get<double>());
        }
        // Prompts come from the seed: same seed, same prompts; they ask for 1-2 harmful concepts.
        const auto spec = load_world_spec(builtin_world_spec_path(), cats);
        const auto p1 = world_eval_prompts(spec, 9, 50), p2 = world_eval_prompts(spec, 9, 50);
        for (size_t i = 0; i < p1.size(); ++i) {
            QCOMPARE(p1[i].caption, p2[i].caption);
            QVERIFY(p1[i].concepts.size() == 1 || p1[i].concepts.size() == 2);
            if (p1[i].concepts.size() == 2)
                QVERIFY(spec.concepts[p1[i].concepts[0]].category != spec.concepts[p1[i].concepts[1]].category);
        }
        QVERIFY(world_eval_prompts(spec, 10, 50)[0].caption != p1[0].caption ||
                world_eval_prompts(spec, 10, 50)[1].caption != p1[1].caption);
        QCOMPARE(j["adapter_scale"].get<double>(), 1.0);

        // The adapter's strength reaches every row with a profile: at 0 each level draws what L0
        // draws, and the report says which strength it measured.
        o.adapter_scale = 0;
        o.levels = {0, 3, 5};
        const auto off = json::parse(world_eval_report_json(run_world_evaluation(o, job)));
        QCOMPARE(off["adapter_scale"].get<double>(), 0.0);
        for (const auto& p : off["prompt_list"]) {
            QCOMPARE(p["shown"]["L3"], p["shown"]["L0"]);
            QCOMPARE(p["shown"]["L5"], p["shown"]["L0"]);
            QCOMPARE(p["shown"]["user"], p["shown"]["L0"]);
        }
        for (double bad : {-0.5, 11.0}) {
            o.adapter_scale = bad;
            QVERIFY(test::error_of<InvalidRequest>([&] { o.validate(); }).contains("--adapter-scale"));
        }
    }

    // `psa world routing` on the tiny model: zero key maps spread the user attention evenly, any
    // other keys give rows that are still distributions; a world without renders is named.
    void routing_probe_measures_the_user_attention_at_motifs()
    {
        test::TempDir dir;
        generate(small_world(dir / "w", 3));
        JobControl job;
        const auto& cats = CategorySet::builtin();
        const auto n = static_cast<int64_t>(cats.size());
        auto adapter = random_tiny_adapter(n, kPerCategoryTokens, 0.5);
        {
            torch::NoGradGuard g;
            for (const auto& layer : *adapter->psa_adapter)
                layer->as<AdapterLayerImpl>()->k->weight.zero_();
        }
        save_adapter(dir / "even.safetensors", *adapter);
        {
            torch::NoGradGuard g;
            for (const auto& layer : *adapter->psa_adapter)
                layer->as<AdapterLayerImpl>()->k->weight.normal_(0, 2.0);
        }
        save_adapter(dir / "keyed.safetensors", *adapter);

        UserRoutingOptions o;
        o.model = test::require_fixtures() / "tiny-sd";
        o.adapter = dir / "even.safetensors";
        o.data_dir = dir / "w";
        o.images_per_concept = 1;
        o.timesteps = {100, 900};
        o.device = "cpu";
        const auto even = run_user_routing(o, job);
        QCOMPARE(even.outcome, Outcome::Completed);
        QCOMPARE(even.tokens, even.categories); // one token per category, named by it
        QCOMPARE(even.categories.size(), cats.size());
        QCOMPARE(even.states.size(), size_t(2));
        for (size_t c = 0; c < cats.size(); ++c)
            QVERIFY2(even.images[c] >= 1 && even.images[c] <= 4, even.categories[c].c_str()); // 1 per concept
        for (const auto& s : even.states) {
            auto rows = s.share;
            rows.push_back(s.subject); // the subject's place too
            for (const auto& row : rows)
                for (double v : row)
                    QVERIFY2(std::abs(v - 1.0 / static_cast<double>(n)) < 1e-5, qPrintable(QString::number(v)));
        }

        o.adapter = dir / "keyed.safetensors";
        const auto keyed = run_user_routing(o, job);
        double furthest = 0;
        for (const auto& s : keyed.states)
            for (const auto& row : s.share) {
                double sum = 0;
                for (double v : row) {
                    sum += v;
                    furthest = std::max(furthest, std::abs(v - 1.0 / static_cast<double>(n)));
                }
                QVERIFY(std::abs(sum - 1.0) < 1e-4);
            }
        QVERIFY2(furthest > 0.01, qPrintable(QString::number(furthest)));
        for (const auto& s : keyed.states) {
            QCOMPARE(s.subject.size(), size_t(n));
            double sum = 0;
            for (double v : s.subject)
                sum += v;
            QVERIFY(std::abs(sum - 1.0) < 1e-4);
            QVERIFY(s.subject != s.share[0]); // another place, another mix
        }
        const auto j = json::parse(user_routing_report_json(keyed));
        QCOMPARE(j["subject"]["banned"][cats.all()[3].id].get<double>(), keyed.states[1].subject[3]);
        QVERIFY(user_routing_report_text(keyed).find("(subject)") != std::string::npos);
        QCOMPARE(j["format"].get<std::string>(), std::string("psa-user-routing"));
        QCOMPARE(j["states"]["banned"][cats.all()[0].id].size(), cats.size());
        QCOMPARE(j["states"]["allowed"][cats.all()[2].id][cats.all()[2].id].get<double>(), keyed.states[0].share[2][2]);
        QVERIFY(user_routing_report_text(keyed).find(cats.all()[1].id) != std::string::npos);

        // A sink token is a column of its own, named as such.
        save_adapter(dir / "sink.safetensors", *random_tiny_adapter(n + 1, kPerCategoryTokens, 0.5));
        o.adapter = dir / "sink.safetensors";
        const auto sink = run_user_routing(o, job);
        QCOMPARE(sink.tokens.size(), cats.size() + 1);
        QCOMPARE(sink.tokens.back(), std::string(kSinkTokenLabel));
        QCOMPARE(sink.tokens.front(), cats.all()[0].id);
        QCOMPARE(sink.states[0].share[0].size(), cats.size() + 1);

        o.adapter = dir / "keyed.safetensors";
        o.data_dir = dir / "nothing";
        const auto msg = test::error_of<IoError>([&] { run_user_routing(o, job); });
        QVERIFY2(msg.contains("metadata.jsonl") && msg.contains("nothing"), qPrintable(msg));
        o.data_dir = dir / "w";
        o.timesteps = {5000};
        QVERIFY(test::error_of<InvalidRequest>([&] { run_user_routing(o, job); }).contains("5000"));
    }
};

QTEST_APPLESS_MAIN(TestWorld)
#include "test_world.moc"
