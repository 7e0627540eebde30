// SPDX-License-Identifier: GPL-3.0-or-later
// Original single-file Stable Diffusion checkpoints (LDM/SGM names: model.diffusion_model.*,
// first_stage_model.*, cond_stage_model.transformer.*) renamed into diffusers component dicts, and
// back (SD 1.x).
#pragma once
#include "tensor_io/state_dict.h"

#include <string>
#include <vector>

namespace psa {

/// What the LDM -> diffusers renames depend on, read from the key names (see ldm_layout_from_keys).
struct LdmLayout {
    struct UNet {
        int down_blocks = 0;              ///< 0: the checkpoint has no UNet
        int layers_per_block = 0;         ///< resnets per down block (up blocks have one more)
        std::vector<bool> down_attention; ///< per down block: input_blocks.N.1.* present
        std::vector<bool> up_attention;   ///< per up block: output_blocks.N.1.* is a transformer
    } unet;
    struct VAE {
        int blocks = 0;           ///< 0: the checkpoint has no VAE
        int layers_per_block = 0; ///< encoder resnets per block (decoder has one more)
    } vae;

    /// SD 1.x/2.x: 4 blocks of 2 layers, attention in down 0-2 and up 1-3; VAE 4 blocks of 2.
    static LdmLayout sd15();
};

/// Infers the layout from key names only (works on a safetensors header before any data is read).
/// Throws ModelLoadError (prefixed with `source` when given) when the block indices are
/// inconsistent.
LdmLayout ldm_layout_from_keys(const std::vector<std::string>& keys,
                               const std::string& source = {});
LdmLayout ldm_layout_from_keys(const StateDict& ldm, const std::string& source = {});

/// diffusers-named component dicts; every tensor is a view of an LDM tensor (no copies).
struct ComponentStateDicts {
    StateDict unet, vae, text_encoder;
    StateDict text_encoder_2; ///< SDXL only: OpenCLIP-G as CLIPTextModelWithProjection
    /// Known extras dropped: model_ema.*, the LatentDiffusion schedule buffers (betas,
    /// alphas_cumprod*, sqrt_*, posterior_*, log_one_minus_*, logvar), position_ids, logit_scale.
    std::vector<std::string> ignored;
    /// Keys that no rule maps (sorted); callers decide whether that is fatal.
    std::vector<std::string> unknown;
};

/// Renames an LDM (SD 1.x, SD 2.x UNet/VAE, SDXL) state dict into diffusers component dicts. The
/// VAE mid-block attention q/k/v/proj_out 1x1 convs [C, C, 1, 1] become Linear [C, C] views; SDXL's
/// OpenCLIP in_proj is split into q/k/v row views and text_projection is transposed (a view).
/// Throws ModelLoadError (prefixed with `source`) for an SD 2.x OpenCLIP text encoder
/// (cond_stage_model.model.*), which is not supported yet.
ComponentStateDicts convert_ldm_checkpoint(const StateDict& ldm, const LdmLayout& layout,
                                           const std::string& source = {});
/// Same, with the layout inferred from the keys.
ComponentStateDicts convert_ldm_checkpoint(const StateDict& ldm, const std::string& source = {});

/// Whether a key is one of the known extras that convert_ldm_checkpoint drops.
bool is_ignored_ldm_key(const std::string& key);

// ---- diffusers -> LDM (the inverse, SD 1.x) ----

/// The layout of diffusers component dicts, read from their key names (down_blocks.N.attentions.*,
/// encoder.down_blocks.N.resnets.M.*, ...); a component that is empty gives 0 blocks.
LdmLayout ldm_layout_from_diffusers_keys(const ComponentStateDicts& diffusers);

/// Renames SD 1.x diffusers component dicts (unet, vae, text_encoder) into one LDM state dict:
/// model.diffusion_model.*, first_stage_model.*, cond_stage_model.transformer.text_model.*. The
/// exact inverse of convert_ldm_checkpoint: every name is checked by renaming it forward again.
/// Tensors are views (VAE attention Linear [C, C] -> 1x1 conv [C, C, 1, 1]); known extras
/// (text_model.embeddings.position_ids) are dropped; `ignored`/`unknown` are not read. Throws
/// ModelLoadError listing the first ten names no rule maps back, and for a text_encoder_2 (SDXL).
StateDict convert_to_ldm_checkpoint(const ComponentStateDicts& diffusers, const LdmLayout& layout);

} // namespace psa
