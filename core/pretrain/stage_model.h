// SPDX-License-Identifier: GPL-3.0-or-later
// Private to core/pretrain: what a stage (VAE, or text encoder + UNet) gives the shared training
// loop in pretrain_trainer.cpp: its networks, its loss on a batch of rows, and its finishing step.
#pragma once
#include "common/progress.h"
#include "pretrain/pretrain_config.h"

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace psa {

class CaptionImageSet;
class CLIPTextModel;        // text_encoder/clip_text_model.h
class UNet2DConditionModel; // unet/unet.h

struct StageLoss {
    at::Tensor loss;   // 0-d, requires grad when training
    std::string terms; // "name value ..." for the log line
};

class StageModel {
public:
    virtual ~StageModel() = default;
    /// Checkpointed networks under their names ("vae"; "text_encoder", "unet").
    virtual std::vector<std::pair<std::string, torch::nn::Module*>> modules() = 0;
    /// The module whose weights get an EMA copy when ema_decay > 0 ("" = none).
    virtual std::string ema_module() const { return {}; }
    virtual int64_t rows() const = 0;
    /// The loss on dataset rows. All randomness from `gen`; `uniform01` (null when evaluating)
    /// draws the per-row augmentation decisions (caption dropout).
    virtual StageLoss loss(const std::vector<int64_t>& rows, at::Generator& gen,
                           const std::function<double()>* uniform01) = 0;
    /// Called once when the stage reaches its last step (the VAE writes its final folder).
    virtual void complete(JobControl& job) {}
};

/// RUN/arch must hold the architecture; see pretrain_trainer.h for what each stage reads. The
/// networks and the cached data live on `device`; random draws are made on the CPU generator
/// and moved there (`draw_on`), so a stage draws the same numbers on every device.
std::unique_ptr<StageModel> make_vae_stage(const std::filesystem::path& run_dir, const CaptionImageSet& data,
                                           const PretrainConfig& config, JobControl& job, c10::Device device);
/// Needs RUN/vae/final; see decoder_stage.cpp.
std::unique_ptr<StageModel> make_decoder_stage(const std::filesystem::path& run_dir, const CaptionImageSet& data,
                                               const PretrainConfig& config, JobControl& job, c10::Device device);
std::unique_ptr<StageModel> make_unet_stage(const std::filesystem::path& run_dir, const CaptionImageSet& data,
                                            const PretrainConfig& config, JobControl& job, c10::Device device);

/// The text encoder's and UNet's weights of the exported model `model_dir` (config.init_from)
/// copied into the stage's fresh networks. ConfigError naming the file when the model's tokenizer
/// or its text-encoder or UNet config differs from the run's; ModelLoadError for weights that do
/// not fit.
void load_initial_weights(const std::filesystem::path& model_dir, const std::filesystem::path& run_dir,
                          CLIPTextModel& text_encoder, UNet2DConditionModel& unet);

/// Standard normal noise of `sizes` from the CPU generator `gen`, on `device`.
at::Tensor draw_on(c10::Device device, at::IntArrayRef sizes, at::Generator& gen);
/// Dataset row numbers as an int64 index tensor on `device`.
at::Tensor row_index(const std::vector<int64_t>& rows, c10::Device device);

/// [N, 3, R, R] uint8: every image of the set, RGB, resized (shorter side) and centre-cropped to
/// R as the DPO trainer's preprocessing does. Stage::Load progress per image; IoError naming the
/// metadata line for an unreadable image.
at::Tensor load_image_rows(const CaptionImageSet& data, int resolution, JobControl& job);
/// uint8 rows -> float32 in [-1, 1].
at::Tensor rows_to_unit_range(const at::Tensor& rows_u8);

} // namespace psa
