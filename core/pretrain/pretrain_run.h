// SPDX-License-Identifier: GPL-3.0-or-later
// The run folder of the demo-model recipe and its two non-training stages: the vocabulary and the
// export. Torch-free facade.
//   RUN/arch/       model_index.json and each component's config (copied from the architecture
//                   folder on first use; the vocab stage sets the text encoder's vocab_size and
//                   special ids, the VAE stage its scaling_factor)
//   RUN/tokenizer/  the learned BPE (vocab stage)
//   RUN/vae/, RUN/unet/, RUN/decoder/   the trainers' stage folders (pretrain_trainer.h)
//   RUN/model/      the exported diffusers folder (fp16 safetensors)
//   RUN/train_log.jsonl   one line per step of either trainer
#pragma once
#include "common/progress.h"

#include <cstdint>
#include <filesystem>

namespace psa {

class CaptionImageSet;

/// Copies the architecture (model_index.json, {unet,vae,text_encoder}/config.json,
/// scheduler/scheduler_config.json) from `arch_source` into RUN/arch unless RUN/arch exists
/// (atomically: a temporary folder renamed into place). Throws IoError naming a missing file.
void prepare_run(const std::filesystem::path& run_dir, const std::filesystem::path& arch_source);

struct VocabularySummary {
    std::int64_t vocab_size = 0;
    std::int64_t merges = 0;
    int longest_caption_tokens = 0; ///< with BOS and EOS
    bool learned = false;           ///< false: RUN/tokenizer already existed and was kept
};

/// Learns the BPE from every caption (each word of this closed world becomes one token), writes
/// RUN/tokenizer and sets vocab_size, bos/eos/pad_token_id in RUN/arch/text_encoder/config.json.
/// Keeps an existing RUN/tokenizer (a trained text encoder depends on its ids). Throws ConfigError
/// when the longest caption does not fit max_position_embeddings.
VocabularySummary learn_run_vocabulary(const std::filesystem::path& run_dir, const CaptionImageSet& data);

struct DemoExport {
    std::filesystem::path folder;
    std::int64_t parameters = 0;  ///< text encoder + UNet + VAE
    std::uint64_t bytes = 0;      ///< weight files only
    bool ema = false;             ///< the UNet weights are the EMA copy
    int unet_step = 0;
    bool tuned_decoder = false;   ///< the VAE is RUN/decoder/final (else RUN/vae/final)
};

/// Writes the diffusers folder `out` (default RUN/model when empty) from RUN/arch, RUN/tokenizer,
/// the VAE (RUN/decoder/final when the decoder stage has finished, else RUN/vae/final) and the
/// newest UNet-stage checkpoint (its EMA UNet when it has one), every tensor as fp16. Built in a
/// temporary sibling folder and renamed over `out`. ConfigError names the stage whose output is
/// missing, or RUN/decoder/final when its encoder is no longer RUN/vae/final's (the VAE was
/// trained again after it: the tuned decoder would read latents of another encoder).
DemoExport export_demo_model(const std::filesystem::path& run_dir, std::filesystem::path out, JobControl& job);

} // namespace psa
