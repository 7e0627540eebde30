// SPDX-License-Identifier: GPL-3.0-or-later
// What goes into a PNG so that "reuse these settings" and A1111-style tools can read it back.
#include "common/a1111_parameters.h"
#include "pipeline/generation.h"
#include "pipeline/sampler_names.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace psa {

namespace {

struct SamplerName {
    const char* id;
    const char* display;
};
// A1111's names for the same algorithms (its "Euler a", "DPM++ 2M Karras", ...).
constexpr SamplerName kSamplerNames[] = {
    {"ddim", "DDIM"},          {"pndm", "PNDM"},
    {"euler", "Euler"},        {"euler-a", "Euler a"},
    {"dpmpp-2m", "DPM++ 2M"},  {"dpmpp-2m-karras", "DPM++ 2M Karras"},
};

std::string number_text(double x)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return buf;
}

} // namespace

std::string sampler_display_name(const std::string& sampler)
{
    for (const auto& s : kSamplerNames)
        if (sampler == s.id)
            return s.display;
    return sampler;
}

std::vector<std::string> sampler_display_names()
{
    std::vector<std::string> out;
    for (const auto& s : kSamplerNames)
        out.push_back(s.display);
    return out;
}

std::string sampler_from_display_name(const std::string& display)
{
    for (const auto& s : kSamplerNames)
        if (display == s.display || display == s.id)
            return s.id;
    return {};
}

std::string a1111_parameters_text(const GenerationRequest& r, std::uint64_t seed, int width,
                                  int height, const std::string& model_name, const GenerationCondition* condition)
{
    A1111Parameters p;
    p.prompt = r.prompt;
    p.negative_prompt = r.negative_prompt;
    p.fields = {{"Steps", std::to_string(r.steps)},
                {"Sampler", sampler_display_name(r.sampler)},
                {"CFG scale", number_text(r.guidance_scale)},
                {"Seed", std::to_string(seed)},
                {"Size", std::to_string(width) + "x" + std::to_string(height)}};
    if (!model_name.empty())
        p.fields.emplace_back("Model", model_name);
    if (r.clip_skip > 1)
        p.fields.emplace_back("Clip skip", std::to_string(r.clip_skip));
    if (condition && !condition->adapter_off()) {
        std::string bans;
        for (const auto& c : condition->profile->banned_categories())
            bans += (bans.empty() ? "" : " ") + c;
        p.fields.emplace_back("PSA condition", condition->label);
        p.fields.emplace_back("PSA bans", bans.empty() ? "none" : bans);
        p.fields.emplace_back("PSA scale", number_text(condition->adapter_scale));
    }
    p.fields.emplace_back("Version", "PSA Studio");
    return format_a1111_parameters(p);
}

std::string psa_metadata_json(const GenerationRequest& r, std::uint64_t seed, int width, int height,
                              const std::string& model_name, const GenerationCondition* condition,
                              const std::string& adapter_name)
{
    nlohmann::json j;
    j["format"] = "psa-studio/1";
    j["prompt"] = r.prompt;
    j["negative_prompt"] = r.negative_prompt;
    j["seed"] = seed;
    j["steps"] = r.steps;
    j["guidance_scale"] = r.guidance_scale;
    j["sampler"] = r.sampler;
    j["width"] = width;
    j["height"] = height;
    j["clip_skip"] = r.clip_skip;
    j["model"] = model_name;
    if (condition) {
        nlohmann::json c;
        c["label"] = condition->label;
        c["adapter"] = condition->adapter_off() ? "off" : adapter_name;
        c["adapter_scale"] = condition->adapter_scale;
        if (condition->profile) {
            c["profile_name"] = condition->profile->name;
            c["level"] = condition->profile->level;
            c["banned"] = condition->profile->banned_categories();
            if (!condition->profile->user_id.empty())
                c["user_id"] = condition->profile->user_id;
        }
        j["condition"] = c;
    }
    return j.dump();
}

} // namespace psa
