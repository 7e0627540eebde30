// SPDX-License-Identifier: GPL-3.0-or-later
// `psa generate` and `psa previews`: text-to-image from the command line, with progress on
// stderr and Ctrl-C stopping within one step (no half-written file: images are written atomically
// after generation).
#include "command_line.h"
#include "commands/commands.h"
#include "commands/interrupt.h"

#include "common/error.h"
#include "pipeline/generation.h"
#include "pipeline/strip.h"
#include "pipeline/text2image.h"
#include "profiles/profile_store.h"
#include "tensor_io/image_tensor.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace psa::app {

namespace fs = std::filesystem;

namespace {

std::vector<OptionSpec> common_specs()
{
    return {{"model", true, false, "diffusers folder or single-file .safetensors (required)"},
            {"prompt", true, false, "what to draw (required)"},
            {"negative", true, false, "what to avoid"},
            {"seed", true, false, "seed of the first image (default 0); image i uses seed+i"},
            {"steps", true, false, "denoising steps (default 25)"},
            {"cfg", true, false, "guidance scale (default 7.5)"},
            {"sampler", true, false, "ddim|pndm|euler|euler-a|dpmpp-2m|dpmpp-2m-karras (default dpmpp-2m-karras)"},
            {"width", true, false, "multiple of 8 (default: the model's size)"},
            {"height", true, false, "multiple of 8 (default: the model's size)"},
            {"adapter", true, false, "a PSA safety adapter (.safetensors)"},
            {"adapter-scale", true, false, "strength of the adapter (default 1)"},
            {"tokenizer", true, false, "tokenizer folder for single-file checkpoints"},
            {"device", true, false, "auto|cpu|cuda|cuda:N (default auto)"},
            {"dtype", true, false, "auto|fp32|fp16|bf16 (default auto)"},
            {"out", true, false, "output folder (required)"},
            {"help", false, false, "show this help"}};
}

GenerationRequest request_from(const CommandLine& cl)
{
    GenerationRequest r;
    r.prompt = cl.require("prompt");
    r.negative_prompt = cl.get("negative");
    const std::string seed = cl.get("seed", "0");
    try {
        size_t used = 0;
        if (seed.empty() || !std::isdigit(static_cast<unsigned char>(seed[0])))
            throw std::invalid_argument("sign");
        r.seed = std::stoull(seed, &used);
        if (used != seed.size())
            throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
        throw InvalidRequest("option --seed: \"" + seed + "\" is not a non-negative integer");
    }
    r.steps = cl.get_int("steps", 25);
    r.guidance_scale = cl.get_double("cfg", 7.5);
    r.sampler = cl.get("sampler", "dpmpp-2m-karras");
    r.width = cl.get_int("width", 0);
    r.height = cl.get_int("height", 0);
    return r;
}

void print_progress(const Progress& p)
{
    if (p.stage == Stage::Denoise && p.total > 0) {
        std::fprintf(stderr, "\rstep %d/%d", p.step, p.total);
        if (p.rate_per_second > 0)
            std::fprintf(stderr, "  %.2f it/s  ETA %.0f s   ", p.rate_per_second, p.eta_seconds);
        if (p.step == p.total)
            std::fprintf(stderr, "\n");
    } else if (p.stage == Stage::Load && p.step < p.total) {
        std::fprintf(stderr, "loading %s...\n", p.detail.c_str());
    }
    std::fflush(stderr);
}

std::unique_ptr<Text2Image> load_pipeline(const CommandLine& cl, JobControl& job)
{
    LoadModelOptions lo;
    lo.device = cl.get("device", "auto");
    lo.dtype = cl.get("dtype", "auto");
    lo.tokenizer_dir = cl.get("tokenizer");
    auto model = load_model(cl.require("model"), lo, job);
    if (!model)
        return nullptr;
    auto t2i = std::make_unique<Text2Image>(model);
    if (cl.has("adapter"))
        t2i->load_adapter(cl.get("adapter"));
    return t2i;
}

fs::path unique_path(const fs::path& dir, const std::string& stem)
{
    fs::path p = dir / (stem + ".png");
    for (int i = 2; fs::exists(p); ++i)
        p = dir / (stem + "-" + std::to_string(i) + ".png");
    return p;
}

std::string file_label(const std::string& label)
{
    std::string out;
    for (char c : label)
        out += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    return out;
}

// Writes each image with its settings; returns the paths.
std::vector<fs::path> write_images(const GenerationResult& result, const GenerationRequest& r,
                                   const Text2Image& t2i, const fs::path& out)
{
    std::vector<fs::path> paths;
    const auto summary = summarize_model(t2i.model());
    for (const auto& gi : result.images) {
        const auto& cond = r.conditions.empty() ? GenerationCondition::plain()
                                                : r.conditions[static_cast<size_t>(gi.condition_index)];
        const std::string stem = "psa-" + std::to_string(gi.seed) +
                                 (r.conditions.empty() ? "" : "-" + file_label(cond.label));
        const auto path = unique_path(out, stem);
        save_image(path, gi.image,
                   {{"parameters", a1111_parameters_text(r, gi.seed, gi.image.width, gi.image.height,
                                                          summary.name, r.conditions.empty() ? nullptr : &cond)},
                    {"psa", psa_metadata_json(r, gi.seed, gi.image.width, gi.image.height, summary.name,
                                              r.conditions.empty() ? nullptr : &cond, t2i.adapter_name())}});
        paths.push_back(path);
    }
    return paths;
}

GenerationCondition condition_for_profile(const SafetyProfile& p, double scale)
{
    if (p.level >= 0)
        return GenerationCondition::for_level(p, scale);
    return {p.name, p, scale};
}

// "0-5", "0,2,5" -> levels
std::vector<int> parse_levels(const std::string& text)
{
    std::vector<int> levels;
    size_t i = 0;
    while (i < text.size()) {
        size_t j = text.find(',', i);
        const std::string part = text.substr(i, j == std::string::npos ? std::string::npos : j - i);
        const auto dash = part.find('-');
        try {
            const int a = std::stoi(part.substr(0, dash));
            const int b = dash == std::string::npos ? a : std::stoi(part.substr(dash + 1));
            if (a < 0 || b > 5 || a > b)
                throw std::out_of_range("level");
            for (int l = a; l <= b; ++l)
                levels.push_back(l);
        } catch (const std::exception&) {
            throw InvalidRequest("option --levels: \"" + text + "\" is not a list of levels 0-5 (e.g. 0-5 or 0,3,5)");
        }
        if (j == std::string::npos)
            break;
        i = j + 1;
    }
    return levels;
}

int finish(const GenerationResult& result, const GenerationRequest& r, const Text2Image& t2i,
           const fs::path& out, bool strip)
{
    if (result.outcome == Outcome::Cancelled) {
        std::cerr << "stopped: nothing was written\n";
        return 130;
    }
    for (const auto& p : write_images(result, r, t2i, out))
        std::cout << p.string() << "\n";
    if (strip) {
        std::vector<std::pair<std::string, Image>> tiles;
        for (const auto& gi : result.images)
            tiles.emplace_back(gi.condition_label, gi.image);
        const auto path = unique_path(out, "strip-" + std::to_string(r.seed));
        save_image(path, compose_labelled_strip(tiles),
                   {{"parameters", a1111_parameters_text(r, r.seed, result.images.front().image.width,
                                                          result.images.front().image.height,
                                                          summarize_model(t2i.model()).name)}});
        std::cout << path.string() << "\n";
    }
    std::cerr << "done in " << result.seconds << " s\n";
    return 0;
}

// Loads the model (and adapter), generates with Ctrl-C stopping within one step, writes the images.
int generate_and_write(const CommandLine& cl, const GenerationRequest& r, bool strip)
{
    const fs::path out = cl.require("out");
    fs::create_directories(out);
    InterruptGuard interrupt;
    JobControl job(interrupt.token(), print_progress);
    auto t2i = load_pipeline(cl, job);
    if (!t2i)
        return 130;
    const auto result = t2i->generate(r, job);
    for (const auto& w : result.warnings)
        std::cerr << "warning: " << w << "\n";
    return finish(result, r, *t2i, out, strip);
}

} // namespace

int run_generate(const std::vector<std::string>& args)
{
    auto specs = common_specs();
    specs.push_back({"batch", true, false, "images per prompt (default 1)"});
    specs.push_back({"profile", true, false, "generate for this safety profile (JSON)"});
    specs.push_back({"level", true, false, "generate at safety level 0-5"});
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("generate", "--model PATH --prompt TEXT --out DIR [options]", specs);
        return 0;
    }
    auto r = request_from(cl);
    r.batch = cl.get_int("batch", 1);
    const double scale = cl.get_double("adapter-scale", 1.0);
    if (cl.has("profile") && cl.has("level"))
        throw InvalidRequest("--profile and --level are alternatives; give one");
    const auto& cats = CategorySet::builtin();
    if (cl.has("profile"))
        r.conditions.push_back(condition_for_profile(load_profile(cl.get("profile"), cats), scale));
    if (cl.has("level")) {
        const auto levels = parse_levels(cl.get("level"));
        if (levels.size() != 1)
            throw InvalidRequest("--level takes one level 0-5 (use psa previews for several)");
        r.conditions.push_back(condition_for_profile(load_level_presets(cats)[static_cast<size_t>(levels[0])], scale));
    }
    return generate_and_write(cl, r, false);
}

int run_previews(const std::vector<std::string>& args)
{
    auto specs = common_specs();
    specs.push_back({"levels", true, false, "levels to render (default 0-5)"});
    specs.push_back({"profile", true, true, "also render for this profile (repeatable)"});
    specs.push_back({"max-rows", true, false, "UNet rows per pass (default: all conditions at once)"});
    CommandLine cl(args, specs);
    if (cl.has("help")) {
        std::cout << usage_text("previews", "--model PATH --prompt TEXT --out DIR [options]", specs)
                  << "Renders the same prompt and seed under levels L0-L5 (and profiles), batched, and\n"
                     "writes each image plus one labelled strip.\n";
        return 0;
    }
    auto r = request_from(cl);
    const double scale = cl.get_double("adapter-scale", 1.0);
    const auto& cats = CategorySet::builtin();
    const auto presets = load_level_presets(cats);
    for (int level : parse_levels(cl.get("levels", "0-5")))
        r.conditions.push_back(condition_for_profile(presets[static_cast<size_t>(level)], scale));
    for (const auto& f : cl.get_all("profile"))
        r.conditions.push_back(condition_for_profile(load_profile(f, cats), scale));
    r.max_rows_per_pass = cl.get_int("max-rows", 0);
    return generate_and_write(cl, r, true);
}

} // namespace psa::app
