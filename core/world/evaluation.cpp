// SPDX-License-Identifier: GPL-3.0-or-later
// One request per prompt carries every condition (L0, the level presets, the prompt's unseen
// user), so all of them start from the same noise and the levels differ only by the adapter.
#include "world/evaluation.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "pipeline/model_loading.h"
#include "pipeline/text2image.h"
#include "profiles/ban_rules.h"
#include "profiles/profile_store.h"
#include "profiles/sage_users.h"
#include "world/judge.h"
#include "world/virtual_users.h"
#include "world/world_random.h"
#include "world/world_scene.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>

namespace psa {

namespace fs = std::filesystem;

namespace {

struct UnseenUser {
    std::string id;
    SafetyProfile profile;
};

std::vector<UnseenUser> unseen_users_from_world(const fs::path& dir, const CategorySet& categories)
{
    const fs::path file = dir / "users.jsonl";
    std::istringstream in(read_file_text(file));
    std::vector<UnseenUser> out;
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos)
            continue;
        try {
            const auto j = nlohmann::json::parse(line);
            if (j.at("split").get<std::string>() != "unseen")
                continue;
            UnseenUser u;
            u.id = j.at("User_ID").get<std::string>();
            u.profile = make_profile(u.id, j.at("Age").get<int>(), j.at("Gender").get<std::string>(),
                                     j.at("Religion").get<std::string>(), j.at("Physical_Condition").get<std::string>(),
                                     j.at("Mental_Condition").get<std::string>(), categories);
            u.profile.user_id = u.id;
            const auto banned = j.at("Banned_Categories").get<std::vector<std::string>>();
            for (const auto& c : categories.all())
                u.profile.set_banned_by_person(c.id, std::find(banned.begin(), banned.end(), c.id) != banned.end());
            out.push_back(std::move(u));
        } catch (const nlohmann::json::exception& e) {
            throw ConfigError(path_message(file.string(), "line " + std::to_string(line_no) + ": " + e.what()));
        }
    }
    if (out.empty())
        throw ConfigError(path_message(file.string(), "no user with \"split\": \"unseen\""));
    return out;
}

std::vector<UnseenUser> fresh_unseen_users(const WorldEvalOptions& o, const CategorySet& categories)
{
    const fs::path csv = o.users_csv.empty() ? default_sage_users_csv() : o.users_csv;
    const auto freq = measure_attribute_frequencies(read_sage_users(csv), csv.filename().string());
    // A stream of its own (not the generator's user stream), so these users are fresh draws.
    std::vector<UnseenUser> out;
    for (auto& u : sample_virtual_users(freq, o.unseen_users, WorldRng::derive(o.seed, 50), categories))
        out.push_back({"eval-" + u.user_id, std::move(u.profile)});
    return out;
}

std::set<std::string> banned_set(const SafetyProfile& p)
{
    const auto b = p.banned_categories();
    return {b.begin(), b.end()};
}

JudgedPrompt judged(const WorldEvalPrompt& p, const JudgeVerdict& v)
{
    JudgedPrompt j;
    j.requested = p.concepts;
    j.subject = p.subject;
    for (size_t k = 0; k < v.harmful.size(); ++k) {
        j.harmful_shown.push_back(v.harmful_present(k));
        j.safe_shown.push_back(v.safe_present(k));
    }
    j.subject_shown = v.subject_index;
    return j;
}

} // namespace

void WorldEvalOptions::validate() const
{
    if (model.empty())
        throw InvalidRequest("world eval: --model is required");
    if (prompts < 1)
        throw InvalidRequest("world eval: --prompts " + std::to_string(prompts) + " (need at least 1)");
    if (steps < 1)
        throw InvalidRequest("world eval: --steps " + std::to_string(steps) + " (need at least 1)");
    if (levels.empty())
        throw InvalidRequest("world eval: --levels names no level");
    for (int l : levels)
        if (l < 0 || l > 5)
            throw InvalidRequest("world eval: --levels: level " + std::to_string(l) + " is not one of 0-5");
    if (data_dir.empty() && unseen_users < 1)
        throw InvalidRequest("world eval: --unseen-users must be at least 1");
    if (!(adapter_scale >= 0 && adapter_scale <= kMaxAdapterScale))
        throw InvalidRequest("world eval: --adapter-scale " + std::to_string(adapter_scale) + " is outside 0-10");
}

std::vector<WorldEvalPrompt> world_eval_prompts(const WorldSpec& spec, std::uint64_t seed, int count)
{
    std::map<std::string, std::vector<int>> by_category;
    for (size_t k = 0; k < spec.concepts.size(); ++k)
        by_category[spec.concepts[k].category].push_back(static_cast<int>(k));
    std::vector<std::string> cats;
    for (const auto& [c, list] : by_category)
        cats.push_back(c);
    const int most = std::min<int>(spec.max_concepts_per_image(), static_cast<int>(cats.size()));
    std::vector<WorldEvalPrompt> out;
    for (int i = 0; i < count; ++i) {
        WorldRng rng(WorldRng::derive(seed, 40, static_cast<std::uint64_t>(i)));
        WorldScene s;
        s.subject = rng.below(static_cast<int>(spec.subjects.size()));
        s.scene = rng.below(static_cast<int>(spec.scenes.size()));
        const int n = 1 + rng.below(most);
        auto order = cats;
        rng.shuffle(order);
        for (int k = 0; k < n; ++k) {
            const auto& list = by_category[order[static_cast<size_t>(k)]];
            s.concepts.push_back({list[static_cast<size_t>(rng.below(static_cast<int>(list.size())))], true, k});
        }
        WorldEvalPrompt p;
        p.caption = world_caption(spec, s);
        p.subject = s.subject;
        for (const auto& c : s.concepts)
            p.concepts.push_back(c.concept_index);
        out.push_back(std::move(p));
    }
    return out;
}

WorldEvalReport run_world_evaluation(const WorldEvalOptions& o, JobControl& job)
{
    const auto start = std::chrono::steady_clock::now();
    o.validate();
    WorldEvalReport report;
    report.options = o;
    const auto& categories = CategorySet::builtin();
    const fs::path spec_path = o.world_spec.empty() ? builtin_world_spec_path() : o.world_spec;
    const auto spec = load_world_spec(spec_path, categories);
    const auto judge = WorldJudge::load(o.judge.empty() ? WorldJudge::builtin_path() : o.judge);
    judge.check_fits(spec, spec_path.string());
    std::vector<std::string> concept_categories;
    for (const auto& c : spec.concepts) {
        concept_categories.push_back(c.category);
        report.concept_ids.push_back(c.id);
    }
    for (const auto& c : categories.all())
        report.categories.push_back(c.id);

    const auto users = o.data_dir.empty() ? fresh_unseen_users(o, categories)
                                          : unseen_users_from_world(o.data_dir, categories);
    report.unseen_users = static_cast<int>(users.size());
    report.prompts = world_eval_prompts(spec, o.seed, o.prompts);
    for (size_t i = 0; i < report.prompts.size(); ++i)
        report.prompts[i].unseen_user = users[i % users.size()].id;

    LoadModelOptions lo;
    lo.device = o.device;
    auto model = load_model(o.model, lo, job);
    if (!model) {
        report.outcome = Outcome::Cancelled;
        return report;
    }
    Text2Image pipeline(model);
    report.adapter_used = !o.adapter.empty();
    if (report.adapter_used)
        pipeline.load_adapter(o.adapter);
    const auto presets = load_level_presets(categories);

    // Condition rows of each request: L0 (adapter off) first, then the levels, then the user.
    std::vector<GenerationCondition> level_conditions = {GenerationCondition::plain()};
    std::vector<int> level_row(o.levels.size(), 0);
    for (size_t l = 0; l < o.levels.size(); ++l) {
        const int level = o.levels[l];
        if (level == 0 || !report.adapter_used)
            continue;
        level_row[l] = static_cast<int>(level_conditions.size());
        level_conditions.push_back(GenerationCondition::for_level(presets.at(static_cast<size_t>(level)), o.adapter_scale));
    }
    std::vector<std::vector<JudgedPrompt>> per_level(o.levels.size());
    std::vector<JudgedPrompt> unseen_adapter, unseen_base;
    std::vector<std::set<std::string>> unseen_bans;
    JobControl quiet(job.stop_token(), nullptr); // per-step denoise progress stays inside
    const int n = static_cast<int>(report.prompts.size());
    for (int i = 0; i < n; ++i) {
        const auto& prompt = report.prompts[static_cast<size_t>(i)];
        const auto& user = users[static_cast<size_t>(i) % users.size()];
        GenerationRequest request;
        request.prompt = prompt.caption;
        request.seed = o.seed + static_cast<std::uint64_t>(i);
        request.steps = o.steps;
        request.guidance_scale = o.guidance_scale;
        if (!o.sampler.empty())
            request.sampler = o.sampler;
        request.conditions = level_conditions;
        if (report.adapter_used)
            request.conditions.push_back({user.id, user.profile, o.adapter_scale});
        const auto result = pipeline.generate(request, quiet);
        if (result.outcome == Outcome::Cancelled) {
            report.outcome = Outcome::Cancelled;
            return report;
        }
        std::vector<Image> images(request.conditions.size());
        for (const auto& g : result.images)
            images.at(static_cast<size_t>(g.condition_index)) = g.image;
        const auto verdicts = judge.judge(images);
        for (size_t l = 0; l < o.levels.size(); ++l)
            per_level[l].push_back(judged(prompt, verdicts[static_cast<size_t>(level_row[l])]));
        unseen_base.push_back(judged(prompt, verdicts[0]));
        if (report.adapter_used)
            unseen_adapter.push_back(judged(prompt, verdicts.back()));
        unseen_bans.push_back(banned_set(user.profile));
        job.report(Stage::Evaluate, i + 1, n, prompt.caption);
    }

    for (size_t l = 0; l < o.levels.size(); ++l) {
        WorldEvalLevel level;
        level.level = o.levels[l];
        level.label = level_label(level.level);
        // L0 is the permissive user: nothing is banned, so every requested motif should show.
        if (level.level > 0)
            level.banned = presets.at(static_cast<size_t>(level.level)).banned_categories();
        level.metrics = compute_level_metrics(per_level[l], concept_categories, report.categories,
                                              {level.banned.begin(), level.banned.end()});
        level.judged = std::move(per_level[l]);
        report.levels.push_back(std::move(level));
    }
    report.pass_rate_unseen_base = pass_rate(unseen_base, unseen_bans, concept_categories);
    report.pass_failures_unseen_base = pass_failures(unseen_base, unseen_bans, concept_categories);
    if (report.adapter_used) {
        report.pass_rate_unseen_adapter = pass_rate(unseen_adapter, unseen_bans, concept_categories);
        report.pass_failures_unseen_adapter = pass_failures(unseen_adapter, unseen_bans, concept_categories);
        report.unseen_judged = std::move(unseen_adapter);
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

std::string world_eval_report_json(const WorldEvalReport& r)
{
    using ordered = nlohmann::ordered_json;
    const auto opt = [](const std::optional<double>& v) { return v ? ordered(*v) : ordered(nullptr); };
    // Per-category values (rates, possibly empty, or shares) in the world's category order, not
    // the map's alphabetical one.
    const auto by_category = [&](const auto& values) {
        ordered out = ordered::object();
        for (const auto& cat : r.categories)
            if (auto it = values.find(cat); it != values.end())
                out[cat] = opt(it->second);
        return out;
    };
    const auto failures = [&](const std::optional<PassFailures>& f) {
        return f ? ordered{{"banned_shown", f->banned_shown},
                           {"allowed_missing", f->allowed_missing},
                           {"banned_shown_by_category", by_category(f->banned_shown_by_category)},
                           {"allowed_missing_by_category", by_category(f->allowed_missing_by_category)}}
                 : ordered(nullptr);
    };
    ordered levels = ordered::object();
    for (const auto& l : r.levels) {
        ordered by_count = ordered::object();
        for (const auto& [count, v] : l.metrics.allowed_motif_rate_by_concept_count)
            by_count[std::to_string(count)] = opt(v);
        levels[l.label] = ordered{{"level", l.level},
                                  {"banned", l.banned},
                                  {"images", l.metrics.images},
                                  {"ip", l.metrics.ip},
                                  {"ip_unrequested", l.metrics.ip_unrequested},
                                  {"ip_per_category", by_category(l.metrics.ip_per_category)},
                                  {"unrequested_per_category", by_category(l.metrics.unrequested_per_category)},
                                  {"subject_accuracy", opt(l.metrics.subject_accuracy)},
                                  {"banned_motif_rate", opt(l.metrics.banned_motif_rate)},
                                  {"banned_requests", l.metrics.banned_requests},
                                  {"banned_safe_rate", opt(l.metrics.banned_safe_rate)},
                                  {"allowed_motif_rate", opt(l.metrics.allowed_motif_rate)},
                                  {"allowed_requests", l.metrics.allowed_requests},
                                  {"allowed_category_rate", opt(l.metrics.allowed_category_rate)},
                                  {"allowed_motif_rate_by_concept_count", by_count}};
    }
    const auto& o = r.options;
    ordered j{{"format", "psa-world-eval"},
              {"version", 1},
              {"completed", r.outcome == Outcome::Completed},
              {"model", o.model.string()},
              {"adapter", r.adapter_used ? ordered(o.adapter.string()) : ordered(nullptr)},
              {"judge", (o.judge.empty() ? WorldJudge::builtin_path() : o.judge).string()},
              {"seed", o.seed},
              {"prompts", static_cast<int>(r.prompts.size())},
              {"steps", o.steps},
              {"guidance_scale", o.guidance_scale},
              {"adapter_scale", o.adapter_scale},
              {"levels", o.levels},
              {"per_level", levels},
              {"pass_rate_unseen", ordered{{"adapter", opt(r.pass_rate_unseen_adapter)},
                                           {"base", opt(r.pass_rate_unseen_base)},
                                           {"failures", ordered{{"adapter", failures(r.pass_failures_unseen_adapter)},
                                                                {"base", failures(r.pass_failures_unseen_base)}}},
                                           {"users", r.unseen_users},
                                           {"items", static_cast<int>(r.prompts.size())}}},
              {"seconds", r.seconds}};
    // Per prompt, what was asked and what the judge saw in each row: which prompts an aggregate
    // above is made of (which ones show a motif nobody asked for, which ones lose an allowed one).
    const auto concept_names = [&](const std::vector<int>& indices) {
        ordered out = ordered::array();
        for (int k : indices)
            out.push_back(r.concept_ids.at(static_cast<size_t>(k)));
        return out;
    };
    const auto shown_names = [&](const JudgedPrompt& judged) {
        ordered out = ordered::array();
        for (size_t k = 0; k < judged.harmful_shown.size(); ++k)
            if (judged.harmful_shown[k])
                out.push_back(r.concept_ids.at(k));
        return out;
    };
    j["prompt_list"] = ordered::array();
    for (size_t i = 0; i < r.prompts.size(); ++i) {
        const auto& p = r.prompts[i];
        ordered shown = ordered::object();
        for (const auto& l : r.levels)
            if (i < l.judged.size())
                shown[l.label] = shown_names(l.judged[i]);
        if (i < r.unseen_judged.size())
            shown["user"] = shown_names(r.unseen_judged[i]);
        j["prompt_list"].push_back(ordered{{"caption", p.caption},
                                           {"unseen_user", p.unseen_user},
                                           {"asked", concept_names(p.concepts)},
                                           {"shown", shown}});
    }
    return j.dump(2) + "\n";
}

} // namespace psa
