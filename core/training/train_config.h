// SPDX-License-Identifier: GPL-3.0-or-later
// The settings of one personalized Diffusion-DPO run (PSA.md "Training"). Torch-free: the UI and
// the CLI fill it in; checkpoints store it as JSON so that a resumed run is the same run.
#pragma once
#include "adapter/token_layout.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace psa {

/// TrainConfig::counterpart_pairs: every pair, or only those whose user bans the pair's category.
inline constexpr const char* kCounterpartAllPairs = "all";
inline constexpr const char* kCounterpartBannedPairs = "banned";
/// TrainConfig::anchor_scope: the cells where the pair's images agree, or those plus the whole of
/// both images of every pair whose user allows the pair's category.
inline constexpr const char* kAnchorAgreement = "agreement";
inline constexpr const char* kAnchorAllowedWhole = "allowed";
/// TrainConfig::token_start: a new adapter's user tokens start random with zero key maps (the
/// reference), or per category at its captions' text embedding with the text key maps
/// (adapter/caption_routed_tokens.h).
inline constexpr const char* kTokensStartRandom = "random";
inline constexpr const char* kTokensStartAtCaptions = "captions";

/// Defaults are the reference SD 1.5 recipe where it applies (beta_dpo 5000, grad clip 1.0, 20 %
/// empty captions, AdamW lr 5e-6 with 500 warmup steps at 192 pairs per step); our additions are
/// user dropout (a learned null user) and fp32 master weights under autocast. Small models and
/// small batches want other values: the tiny fixture model trains well at lr 5e-3, beta 50.
struct TrainConfig {
    // ---- what to train on ----
    std::string model;              ///< diffusers folder or single-file checkpoint (for the record)
    std::string data_dir;           ///< Sage split folder with metadata.jsonl
    std::string embeds_dir;         ///< optional {User_ID}.npy folder; empty: structured encoder
    bool strict = false;            ///< a missing image fails the run instead of being skipped

    // ---- schedule ----
    int steps = 1000;               ///< optimizer steps
    int batch = 1;                  ///< pairs per micro-batch
    int grad_accum = 1;             ///< micro-batches per optimizer step
    double lr = 5e-6;
    int warmup_steps = 500;         ///< linear warm-up to lr, then constant
    /// From this step a half cosine down to 0 at the last step (-1: none, the reference's
    /// constant rate). A resumed run may add or move it.
    int lr_decay_from = -1;
    double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
    /// Decay of an exponential moving average of the adapter's weights (training/weight_ema.h);
    /// when > 0 the run's adapter.safetensors is that average, each checkpoint also holds it
    /// (adapter-ema.safetensors), and sample images use it. 0: off, the reference's last weights.
    double ema_decay = 0.0;
    double weight_decay = 1e-2;
    double max_grad_norm = 1.0;     ///< <= 0: no clipping
    double beta_dpo = 5000.0;
    /// Weight of the chosen image's denoising error added to the DPO loss (0: the reference's pure
    /// DPO). It keeps what the chosen image shows (subject, allowed content) while DPO suppresses.
    double sft_weight = 0.0;
    /// Weight of the anchor term (training/anchor_loss.h): the policy's squared difference from the
    /// reference where the pair's two images agree (0: off, the reference's pure DPO).
    double anchor_weight = 0.0;
    /// Where the anchor holds: "agreement" (the cells where the pair's images agree), or "allowed":
    /// those, and the whole of both images where the user allows the pair's category. There DPO
    /// asks the adapter to keep a motif the base already draws, a request the base meets without
    /// it; holding such pairs to the reference everywhere keeps a banned category's tokens from
    /// taking the allowed motifs with them. "allowed" needs each line's "category".
    std::string anchor_scope = kAnchorAgreement;
    /// Weight of the chosen image's denoising error over the cells where the pair differs (the
    /// concept's place; training/anchor_loss.h): what the chosen image draws there, the safe
    /// counterpart when the user bans the concept. DPO only pushes away from the rejected image,
    /// and the anchor does not reach those cells (0: off).
    double counterpart_weight = 0.0;
    /// Which pairs the counterpart term covers: "all", or "banned": only those whose user bans the
    /// pair's category (chosen = the safe image), so that it never teaches a concept's harmful motif
    /// to users who allow it. "banned" needs each line's "category".
    std::string counterpart_pairs = kCounterpartAllPairs;
    /// The counterpart term is on and covers only the pairs whose user bans the category.
    bool counterpart_on_banned_pairs() const
    {
        return counterpart_weight > 0 && counterpart_pairs == kCounterpartBannedPairs;
    }
    /// The anchor term is on and also covers the whole of the allowed pairs.
    bool anchor_on_allowed_pairs() const { return anchor_weight > 0 && anchor_scope == kAnchorAllowedWhole; }
    /// Probability per pair that the ban strengths of the categories other than the pair's come from
    /// another user of the set (training/ban_mixing.h): the label and the ban rates stay, the blocks
    /// in which users ban categories go, so that each category's token learns its own effect. Only
    /// the per-category layout reads nothing but bans; it needs each line's "category" (0: off).
    double ban_mixing = 0.0;
    /// Weight of the routing term (training/routing_loss.h): the cross-entropy of the user
    /// attention at each pair's concept place against its category's token, so that a motif's
    /// place reads its own category's token rather than all of them. Its gradient reaches the key
    /// maps and the tokens (which also make the values). With the sink token it also sends the
    /// cells where the pair's images agree to the sink. Needs per-category tokens and each line's
    /// "category" (0: off).
    double routing_weight = 0.0;
    /// Steps at the start of a run that train the routing term alone: no DPO, anchor or
    /// counterpart term, and the value maps keep their gradient at zero, so a new adapter (value
    /// maps at zero) changes no image while its routing forms. Needs routing_weight (0: none).
    int routing_steps = 0;

    /// Some term needs to know, per pair, whether its user bans the pair's category.
    bool needs_pair_categories() const
    {
        return counterpart_on_banned_pairs() || anchor_on_allowed_pairs() || ban_mixing > 0 ||
               tokens_start_at_captions() || routing_weight > 0;
    }

    // ---- data ----
    int resolution = 0;             ///< square training size in pixels; 0 = the model's default
    bool random_flip = true;        ///< the same flip for chosen and rejected
    double caption_dropout = 0.2;   ///< probability of an empty caption per pair
    double user_dropout = 0.1;      ///< probability of the null user per pair
    bool cache_latents = true;      ///< keep each image's VAE posterior (per flip) in memory

    // ---- adapter ----
    int num_tokens = 1;             ///< user tokens of the dense layout (the reference uses 1)
    /// adapter/token_layout.h: "dense" (the reference) or "per-category", which has one token per
    /// category of the data and does not read num_tokens; it needs the structured profile encoder.
    std::string token_layout = kDenseTokens;
    /// How a new adapter's user tokens start: "random" (the reference: random projection, zero key
    /// maps, so every place attends to every token alike), or "captions": token c at the text
    /// embedding of category c's captions and each layer's user key map at its text key map, so
    /// that a place attends first to the tokens of the categories whose words it attends to
    /// (adapter/caption_routed_tokens.h). "captions" needs per-category tokens and each line's
    /// "category"; a run that starts from init_adapter takes that file's tokens.
    std::string token_start = kTokensStartRandom;
    bool tokens_start_at_captions() const { return token_start == kTokensStartAtCaptions; }
    /// Per-category tokens end in one more token that reads no ban, the same for every user
    /// (adapter/token_layout.h has_sink_token): a place with nothing to suppress, the subject's
    /// for one, can send its user attention there rather than to a category's token, which
    /// suppresses when the user bans that category. Needs per-category tokens.
    bool sink_token = false;
    /// Per-category tokens are multiplied by their category's ban strength (SafetyAdapterConfig::
    /// ban_gated_tokens): an allowed category's token is zero, so it neither suppresses nor adds
    /// anything where it is read, and only banned categories' tokens act. Needs per-category
    /// tokens; a run that starts from init_adapter takes the file's.
    bool ban_gated_tokens = false;
    /// Keep every layer's user key map where it starts (not trained): with the caption start, a
    /// place keeps finding the tokens of the categories whose words it attends to, and training
    /// cannot route one category's motif to another's token; the tokens and the value maps still
    /// learn. Needs the caption start or init_adapter (the random start's key maps are zero).
    bool freeze_user_keys = false;
    /// Each layer's user attention gets a query map of its own (to_q_user, our extension of the
    /// reference's file), starting at the layer's text query map: the text query is trained to
    /// find words, and the features that say which category a place draws may be ones it does
    /// not read. A run that starts from init_adapter takes the file's.
    bool own_user_query = false;
    bool learned_null_user = true;  ///< train a null-user embedding (needs user_dropout > 0)
    std::string profile_encoder = "structured"; ///< "structured" or "precomputed" (embeds_dir)
    /// Adapter file (psa::save_adapter's layout) a new run starts from instead of a fresh
    /// initialisation: fine-tuning a shipped or earlier adapter. It must match num_tokens and the
    /// profile encoder (the trainer refuses a mismatch); a resumed run never reads it.
    std::string init_adapter;

    // ---- precision and device ----
    std::string device = "auto";           ///< see choose_device()
    std::string mixed_precision = "auto";  ///< auto|no|bf16|fp16; CPU always runs fp32

    // ---- randomness ----
    std::uint64_t seed = 0;

    // ---- output ----
    int checkpoint_every = 100;     ///< 0: only at the end (and on cancel)
    int keep_checkpoints = 2;       ///< newest checkpoints kept (>= 1)
    int sample_every = 0;           ///< 0: no sample images
    std::vector<std::string> sample_prompts; ///< empty: the first caption of the dataset
    std::vector<std::uint64_t> sample_seeds = {2025};
    int sample_steps = 20;
    int sample_users = 2;           ///< sample for this many dataset users (plus the plain model)

    /// Throws InvalidRequest naming the field when a value is out of range.
    void validate() const;

    std::string to_json() const;
    /// Unknown keys are ignored, missing ones keep their defaults. Throws ConfigError naming
    /// `source_name` and the key.
    static TrainConfig from_json(const std::string& text, const std::string& source_name);
    /// Atomic write / read of a JSON file. Throws IoError / ConfigError naming the path.
    void save(const std::filesystem::path& path) const;
    static TrainConfig load(const std::filesystem::path& path);
};

/// The learning rate at optimizer step `step` (0-based): a linear warm-up over `warmup_steps` to
/// `peak_lr`, then constant (diffusers' constant_with_warmup, one step earlier). Also pretraining's.
double linear_warmup_lr(double peak_lr, int warmup_steps, int step);

/// linear_warmup_lr(), then from `decay_from` (when >= 0) a half cosine down to 0 at `steps`.
/// Adapter training and pretraining share it.
double warmup_cosine_lr(double peak_lr, int warmup_steps, int decay_from, int steps, int step);

/// warmup_cosine_lr() with the config's lr, warmup_steps, lr_decay_from and steps.
double learning_rate_at(const TrainConfig& config, int step);

} // namespace psa
