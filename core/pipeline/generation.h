// SPDX-License-Identifier: GPL-3.0-or-later
// The torch-free facade of text-to-image generation: what the UI and CLI fill in and get back.
#pragma once
#include "common/image.h"
#include "common/progress.h"
#include "profiles/profile.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace psa {

/// The largest adapter scale a condition may ask for (Text2Image refuses more).
inline constexpr double kMaxAdapterScale = 10.0;

/// "L3": how a level is named in labels, metadata and reports. (Appended, not `"L" + ...`, which
/// GCC 12 flags with a false -Wrestrict warning once inlined.)
inline std::string level_label(int level)
{
    std::string label = "L";
    label += std::to_string(level);
    return label;
}

/// Who an image is generated for. Level 0 (or no profile) runs without the safety adapter; a
/// profile (a level preset or a person's own) steers generation through the adapter.
struct GenerationCondition {
    std::string label;                  // "L0", "L3", "Grandma Jo": shown and written to metadata
    std::optional<SafetyProfile> profile; // empty: adapter off
    double adapter_scale = 1.0;

    bool adapter_off() const { return !profile || profile->level == 0; }
    static GenerationCondition plain() { return {"L0", std::nullopt, 1.0}; }
    /// A level preset's condition, labelled by its level.
    static GenerationCondition for_level(const SafetyProfile& preset, double scale)
    {
        return {level_label(preset.level), preset, scale};
    }
};

/// One text-to-image request. Width and height 0 mean the model's default size; they must be
/// multiples of 8 (of the VAE's downscale factor, in general). Image i of the batch is seeded
/// with seed + i from a CPU generator (docs/seeding: the same seed gives the same image on any
/// device).
struct GenerationRequest {
    std::string prompt;
    std::string negative_prompt;
    std::uint64_t seed = 0;
    int steps = 25;
    double guidance_scale = 7.5;
    std::string sampler = "dpmpp-2m-karras"; // see scheduler_names()
    int width = 0;
    int height = 0;
    int batch = 1;
    int clip_skip = 0; // 0 or 1: last layer
    /// Each condition renders every image of the batch from the same noise; conditions run
    /// batched through the UNet. Empty = one plain condition (no adapter).
    std::vector<GenerationCondition> conditions;
    int max_rows_per_pass = 0; // UNet rows per pass (0 = all conditions at once)
    /// Called as each final image is ready (worker thread): condition index, batch index.
    std::function<void(int condition, int batch_index, const Image& image)> on_image;
    /// Called every `preview_every` steps with cheap previews of the current latents (worker thread).
    int preview_every = 0;
    std::function<void(int step, const std::vector<Image>& previews)> on_preview;
};

struct GeneratedImage {
    Image image;
    std::uint64_t seed = 0;
    int batch_index = 0;
    int condition_index = 0;
    std::string condition_label;
};

struct GenerationResult {
    Outcome outcome = Outcome::Completed;
    int completed_steps = 0;
    double seconds = 0.0;
    std::vector<GeneratedImage> images; // empty when cancelled
    std::vector<std::string> warnings;  // e.g. a prompt truncated to 77 tokens
};

/// Throws InvalidRequest naming the field when a request is impossible (size not a multiple of
/// the latent factor, steps < 1, batch < 1, unknown sampler, negative guidance).
void validate_request(const GenerationRequest& request, int latent_factor);

/// The settings of an image as the A1111 `parameters` text and our `psa` JSON (PNG text chunks).
/// `condition` may be null (plain generation).
std::string a1111_parameters_text(const GenerationRequest& request, std::uint64_t seed,
                                  int width, int height, const std::string& model_name,
                                  const GenerationCondition* condition = nullptr);
std::string psa_metadata_json(const GenerationRequest& request, std::uint64_t seed, int width,
                              int height, const std::string& model_name,
                              const GenerationCondition* condition = nullptr,
                              const std::string& adapter_name = {});

/// The user-facing sampler names ("DPM++ 2M Karras") and back.
std::string sampler_display_name(const std::string& sampler);
std::string sampler_from_display_name(const std::string& display);

} // namespace psa
