// SPDX-License-Identifier: GPL-3.0-or-later
// `psa world`: the synthetic Sage-mini world. Dispatches to generate, train-judge, judge-accuracy,
// eval, routing, train-base and train-adapter (their own files in app/commands); each subcommand only parses
// options and prints what core returns.
#include "command_line.h"
#include "commands/commands.h"
#include "commands/interrupt.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "world/evaluation.h"
#include "world/judge.h"
#include "world/user_routing.h"
#include "world/world_generator.h"

#include <cstdio>
#include <iostream>
#include <sstream>

namespace psa::app {

namespace fs = std::filesystem;

namespace {

void print_progress(const Progress& p)
{
    if (p.total <= 0)
        return;
    std::fprintf(stderr, "\r%s %d/%d %s   ", p.detail.empty() ? stage_name(p.stage) : p.detail.c_str(), p.step,
                 p.total, p.eta_seconds >= 0 ? ("ETA " + std::to_string(int(p.eta_seconds)) + " s").c_str() : "");
    if (p.step == p.total)
        std::fprintf(stderr, "\n");
    std::fflush(stderr);
}

std::uint64_t seed_option(const CommandLine& cl, std::uint64_t fallback)
{
    if (!cl.has("seed"))
        return fallback;
    const int v = cl.get_int("seed", 0);
    if (v < 0)
        throw InvalidRequest("option --seed must not be negative");
    return static_cast<std::uint64_t>(v);
}

int run_generate_world(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"out", true, false, "folder to write the world into (required; must not hold a world yet)"},
        {"seed", true, false, "seed of every random choice (default 0)"},
        {"users", true, false, "virtual users (default 100)"},
        {"size", true, false, "image size in pixels (default: world.json's image_size, 64)"},
        {"pairs-per-concept", true, false, "harmful/safe render pairs per concept (default 16; a quarter held out)"},
        {"mixed", true, false, "renders with two concepts of different categories (default 400)"},
        {"plain", true, false, "renders with no concept (default 60)"},
        {"mixed-pair-scenes", true, false, "two-concept scenes rendered in all four harmful/safe combinations (default 0)"},
        {"mixed-pairs-per-user", true, false, "preference pairs per user from those scenes: one motif banned, the other kept (default 0)"},
        {"safe-as-background", false, false, "a pair's safe render leaves the concept's slot as background instead "
                                             "of drawing the safe counterpart"},
        {"unseen-fraction", true, false, "users kept out of training, for test_unseen (default 0.2)"},
        {"personal-choice-rate", true, false, "chance that a user decides a category against the ban rules, "
                                              "each category on its own (default 0)"},
        {"world", true, false, "world spec (default resources/world/world.json)"},
        {"users-csv", true, false, "Sage users.csv to measure attribute frequencies from "
                                   "(default $PSA_SHARED/data/psalign/users.csv or ../shared/...)"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("world generate", "--out DIR [options]", specs);
        return 0;
    }
    WorldGenerateOptions o;
    o.out = cl.require("out");
    o.seed = seed_option(cl, 0);
    o.users = cl.get_int("users", o.users);
    o.size = cl.get_int("size", o.size);
    o.pairs_per_concept = cl.get_int("pairs-per-concept", o.pairs_per_concept);
    o.mixed_renders = cl.get_int("mixed", o.mixed_renders);
    o.plain_renders = cl.get_int("plain", o.plain_renders);
    o.mixed_pair_scenes = cl.get_int("mixed-pair-scenes", o.mixed_pair_scenes);
    o.mixed_pairs_per_user = cl.get_int("mixed-pairs-per-user", o.mixed_pairs_per_user);
    o.safe_as_background = cl.has("safe-as-background");
    o.unseen_fraction = cl.get_double("unseen-fraction", o.unseen_fraction);
    o.personal_choice_rate = cl.get_double("personal-choice-rate", o.personal_choice_rate);
    o.world_spec = cl.get("world");
    o.users_csv = cl.get("users-csv");
    InterruptGuard interrupt;
    JobControl job(interrupt.token(), print_progress);
    const auto r = generate_world(o, job);
    if (r.outcome == Outcome::Cancelled) {
        std::cerr << "stopped; " << o.out.string() << " is incomplete (no world.json)\n";
        return 130;
    }
    std::cerr << r.renders << " renders, " << r.users << " users (" << r.unseen_users << " unseen)";
    for (const auto& [split, n] : r.pairs)
        std::cerr << ", " << split << " " << n;
    std::cerr << " pairs, " << r.seconds << " s\n";
    std::cout << o.out.string() << "\n";
    return 0;
}

void print_accuracy(const char* what, const JudgeAccuracy& a)
{
    std::printf("%s: %d images, label exact match %.4f, subject accuracy %.4f, single labels %.4f, harmful motifs "
                "seen %.4f\n",
                what, a.images, a.label_exact_match, a.subject_accuracy, a.label_accuracy, a.harmful_recall);
}

int run_train_judge(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"data", true, false, "a generated world folder (required)"},
        {"out", true, false, "judge file .safetensors (required)"},
        {"steps", true, false, "optimizer steps (default 900)"},
        {"batch", true, false, "images per step (default 48)"},
        {"lr", true, false, "AdamW learning rate, cosine-decayed (default 3e-3)"},
        {"seed", true, false, "seed (default 0)"},
        {"threads", true, false, "torch threads while training (default 2)"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("world train-judge", "--data DIR --out FILE.safetensors [options]", specs);
        return 0;
    }
    JudgeTrainOptions o;
    o.data_dir = cl.require("data");
    o.out = cl.require("out");
    o.steps = cl.get_int("steps", o.steps);
    o.batch = cl.get_int("batch", o.batch);
    o.lr = cl.get_double("lr", o.lr);
    o.seed = seed_option(cl, 0);
    o.threads = cl.get_int("threads", o.threads);
    InterruptGuard interrupt;
    JobControl job(interrupt.token(), print_progress);
    const auto r = train_world_judge(o, job);
    if (r.outcome == Outcome::Cancelled) {
        std::cerr << "stopped at step " << r.steps_done << "; nothing written\n";
        return 130;
    }
    print_accuracy("held-out renders", r.holdout);
    std::printf("trained %d steps in %.1f s -> %s\n", r.steps_done, r.seconds, o.out.string().c_str());
    return 0;
}

int run_judge_accuracy(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"data", true, false, "a generated world folder (required), ideally from a seed the judge never saw"},
        {"judge", true, false, "judge file (default resources/models/judge/judge.safetensors)"},
        {"through-vae", true, false,
         "a model whose VAE each render goes through first: the judge's ceiling on that model's images"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("world judge-accuracy", "--data DIR [--judge FILE] [--through-vae MODEL]", specs);
        return 0;
    }
    const auto judge = WorldJudge::load(cl.has("judge") ? fs::path(cl.get("judge")) : WorldJudge::builtin_path());
    InterruptGuard interrupt;
    JobControl job(interrupt.token(), print_progress);
    const fs::path through_vae = cl.has("through-vae") ? fs::path(cl.get("through-vae")) : fs::path();
    const auto a = measure_judge_accuracy(judge, cl.require("data"), job, through_vae);
    if (interrupt.token().stop_requested()) {
        std::cerr << "stopped\n";
        return 130;
    }
    print_accuracy(through_vae.empty() ? "renders" : "renders through the VAE", a);
    return 0;
}

std::vector<int> parse_int_list(const std::string& text, const std::string& option)
{
    // "0-5", "0,3,5" or "2"
    std::vector<int> out;
    std::stringstream items(text);
    for (std::string item; std::getline(items, item, ',');) {
        try {
            const auto dash = item.find('-');
            if (dash == std::string::npos) {
                out.push_back(std::stoi(item));
                continue;
            }
            const int a = std::stoi(item.substr(0, dash)), b = std::stoi(item.substr(dash + 1));
            for (int l = a; l <= b; ++l)
                out.push_back(l);
        } catch (const std::exception&) {
            throw InvalidRequest("option --" + option + ": \"" + text + "\" is not a list such as 0-5 or 0,3,5");
        }
    }
    return out;
}

int run_world_eval(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"model", true, false, "diffusers folder of the model (required)"},
        {"adapter", true, false, "PSA adapter .safetensors (default: none; every level runs adapter-off)"},
        {"judge", true, false, "judge file (default resources/models/judge/judge.safetensors)"},
        {"world", true, false, "world spec (default resources/world/world.json)"},
        {"data", true, false, "generated world whose users.jsonl names the unseen users "
                              "(default: fresh virtual users)"},
        {"unseen-users", true, false, "fresh virtual users when --data is not given (default 20)"},
        {"users-csv", true, false, "Sage users.csv for fresh users"},
        {"seed", true, false, "seed of the prompt set and of generation (default 2025)"},
        {"prompts", true, false, "held-out prompts (default 200)"},
        {"levels", true, false, "levels to measure, e.g. 0-5 or 0,3,5 (default 0-5)"},
        {"steps", true, false, "denoising steps (default 25)"},
        {"guidance", true, false, "guidance scale (default 7.5)"},
        {"adapter-scale", true, false, "adapter strength at every level with a profile, 0-10 (default 1)"},
        {"sampler", true, false, "sampler (default: the generation default)"},
        {"device", true, false, "auto|cpu|cuda (default auto)"},
        {"json", true, false, "report file (required)"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("world eval", "--model DIR [--adapter FILE] --json OUT [options]", specs);
        return 0;
    }
    WorldEvalOptions o;
    o.model = cl.require("model");
    o.adapter = cl.get("adapter");
    o.judge = cl.get("judge");
    o.world_spec = cl.get("world");
    o.data_dir = cl.get("data");
    o.users_csv = cl.get("users-csv");
    o.unseen_users = cl.get_int("unseen-users", o.unseen_users);
    o.seed = seed_option(cl, o.seed);
    o.prompts = cl.get_int("prompts", o.prompts);
    if (cl.has("levels"))
        o.levels = parse_int_list(cl.get("levels"), "levels");
    o.steps = cl.get_int("steps", o.steps);
    o.guidance_scale = cl.get_double("guidance", o.guidance_scale);
    o.adapter_scale = cl.get_double("adapter-scale", o.adapter_scale);
    o.sampler = cl.get("sampler");
    o.device = cl.get("device", o.device);
    const fs::path json_out = cl.require("json");
    InterruptGuard interrupt;
    JobControl job(interrupt.token(), print_progress);
    const auto report = run_world_evaluation(o, job);
    if (report.outcome == Outcome::Cancelled) {
        std::cerr << "stopped; no report written\n";
        return 130;
    }
    write_file_atomic(json_out, world_eval_report_json(report));
    for (const auto& l : report.levels)
        std::printf("%s  ip %.3f (unasked %.3f)  banned shown %s (safe instead %s)  allowed shown %s  subject %s\n",
                    l.label.c_str(), l.metrics.ip, l.metrics.ip_unrequested,
                    l.metrics.banned_motif_rate ? std::to_string(*l.metrics.banned_motif_rate).c_str() : "-",
                    l.metrics.banned_safe_rate ? std::to_string(*l.metrics.banned_safe_rate).c_str() : "-",
                    l.metrics.allowed_motif_rate ? std::to_string(*l.metrics.allowed_motif_rate).c_str() : "-",
                    l.metrics.subject_accuracy ? std::to_string(*l.metrics.subject_accuracy).c_str() : "-");
    const auto print_pass = [](const char* row, const std::optional<double>& rate,
                               const std::optional<PassFailures>& fails) {
        if (rate && fails)
            std::printf("unseen pass (%s) %.3f  failing: a banned motif shown %.3f, an allowed motif missing %.3f\n",
                        row, *rate, fails->banned_shown, fails->allowed_missing);
    };
    print_pass("adapter", report.pass_rate_unseen_adapter, report.pass_failures_unseen_adapter);
    print_pass("base", report.pass_rate_unseen_base, report.pass_failures_unseen_base);
    std::cout << json_out.string() << "\n";
    return 0;
}

int run_world_routing(const std::vector<std::string>& args)
{
    const std::vector<OptionSpec> specs = {
        {"model", true, false, "diffusers folder of the model (required)"},
        {"adapter", true, false, "PSA adapter .safetensors whose routing is measured (required)"},
        {"data", true, false, "generated world: its base renders of single concepts and their motif boxes (required)"},
        {"images", true, false, "renders per concept (default 4)"},
        {"timesteps", true, false, "diffusion timesteps the renders are noised to (default 250,500,750)"},
        {"seed", true, false, "seed of the noise (default 0)"},
        {"device", true, false, "auto|cpu|cuda (default auto)"},
        {"json", true, false, "also write the report to this file"},
        {"help", false, false, "show this help"}};
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("world routing", "--model DIR --adapter FILE --data WORLD [options]", specs)
                  << "The share of user attention each token gets at the motif of each category, for a user who bans "
                     "nothing and one who bans everything.\n";
        return 0;
    }
    UserRoutingOptions o;
    o.model = cl.require("model");
    o.adapter = cl.require("adapter");
    o.data_dir = cl.require("data");
    o.images_per_concept = cl.get_int("images", o.images_per_concept);
    if (cl.has("timesteps"))
        o.timesteps = parse_int_list(cl.get("timesteps"), "timesteps");
    o.seed = seed_option(cl, o.seed);
    o.device = cl.get("device", o.device);
    InterruptGuard interrupt;
    JobControl job(interrupt.token(), print_progress);
    const auto report = run_user_routing(o, job);
    if (report.outcome == Outcome::Cancelled) {
        std::cerr << "stopped; no report written\n";
        return 130;
    }
    if (cl.has("json"))
        write_file_atomic(cl.get("json"), user_routing_report_json(report));
    std::cout << user_routing_report_text(report);
    return 0;
}

struct WorldSubcommand {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>& args);
};

const std::vector<WorldSubcommand>& world_subcommands()
{
    static const std::vector<WorldSubcommand> list = {
        {"generate", "render the world, its virtual users and Sage-format splits", run_generate_world},
        {"train-judge", "train the world's judge classifier on a generated world", run_train_judge},
        {"judge-accuracy", "a judge's accuracy on a generated world's renders", run_judge_accuracy},
        {"eval", "IP, per-category and per-user metrics of a model (and adapter) by the judge", run_world_eval},
        {"routing", "where each category's motif sends its user attention under an adapter", run_world_routing},
        {"train-base", "train the demo base model from scratch on a generated world", run_world_train_base},
        {"train-adapter", "train the demo model's PSA adapter (DPO) on a generated world", run_world_train_adapter},
    };
    return list;
}

} // namespace

int run_world(const std::vector<std::string>& args)
{
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::cout << "usage: psa world SUBCOMMAND [OPTIONS]   (psa world SUBCOMMAND --help)\n\nsubcommands:\n";
        for (const auto& s : world_subcommands())
            std::cout << "  " << s.name << std::string(16 - std::string(s.name).size(), ' ') << s.summary << "\n";
        return args.empty() ? 1 : 0;
    }
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    for (const auto& s : world_subcommands())
        if (args[0] == s.name)
            return s.run(rest);
    throw InvalidRequest("unknown world subcommand \"" + args[0] + "\" (see psa world --help)");
}

} // namespace psa::app
