// SPDX-License-Identifier: GPL-3.0-or-later
// Checkpoints of a DPO run: everything a resumed run needs to continue bit for bit (adapter and
// its average, AdamW moments and steps, the torch CPU generator, our mt19937, the data order),
// written into a temporary folder that is renamed into place only when complete.
#include "adapter/adapter_io.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"
#include "training/checkpoint_folder.h"
#include "training/resume_state.h"
#include "training/resume_tensors.h"
#include "training/trainer_impl.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

namespace psa {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kStateFormat = "psa-train-checkpoint/1";
// The averaged weights (config.ema_decay > 0) in the adapter file format: usable as an adapter.
constexpr const char* kAveragedAdapterFile = "adapter-ema.safetensors";

// Settings that shape the trajectory: a resumed run must have the same ones. The starting
// adapter is not one of them: a resumed run takes its weights from the checkpoint. Neither is the
// decay: a resumed run may add one to end a constant-rate run, as pretraining's stages may.
json trajectory(const TrainConfig& c)
{
    return trajectory_settings(c.to_json(), {"steps", "lr_decay_from", "checkpoint_every", "keep_checkpoints",
                                             "sample_every", "sample_prompts", "sample_seeds", "sample_steps",
                                             "sample_users", "strict", "device", "model", "init_adapter",
                                             "format"});
}

} // namespace

std::optional<fs::path> DpoTrainer::latest_checkpoint(const fs::path& run_dir)
{
    return latest_complete_checkpoint(run_dir / "checkpoints");
}

TrainConfig DpoTrainer::stored_config(const fs::path& folder)
{
    if (fs::is_regular_file(folder / "state.json")) {
        const auto path = folder / "state.json";
        const json j = read_checkpoint_state(path);
        if (!j.contains("config"))
            throw ConfigError(path_message(path.string(), "no \"config\" in this checkpoint state"));
        return TrainConfig::from_json(j["config"].dump(), path.string());
    }
    return TrainConfig::load(folder / "config.json");
}

fs::path DpoTrainer::Impl::save_checkpoint()
{
    try {
        return write_checkpoint();
    } catch (const fs::filesystem_error& e) {
        throw IoError(path_message(e.path1().string(), std::string("cannot write the checkpoint: ") +
                                                           e.code().message()));
    }
}

fs::path DpoTrainer::Impl::write_checkpoint()
{
    const auto dir = run_dir / "checkpoints";
    const auto final_dir = dir / checkpoint_folder_name(step);
    if (fs::is_regular_file(final_dir / "state.json")) {
        last_checkpoint_step = step;
        return final_dir;
    }
    const auto tmp = begin_checkpoint_folder(dir, step);
    const auto written = [&](const fs::path& p) {
        if (checkpoint_hook)
            checkpoint_hook(p);
    };

    psa::save_adapter(tmp / "adapter.safetensors", *adapter);
    written(tmp / "adapter.safetensors");
    if (!ema.empty()) {
        WeightEma::SwappedIn averaged(ema);
        psa::save_adapter(tmp / kAveragedAdapterFile, *adapter);
        written(tmp / kAveragedAdapterFile);
    }

    NamedTensors tensors;
    append_adamw_state(tensors, *optimizer, trainable);
    append_random_state(tensors, generator, order);
    save_safetensors(tmp / "optimizer.safetensors", tensors, {{"format", "psa-train-optimizer/1"}});
    written(tmp / "optimizer.safetensors");

    json j;
    j["format"] = kStateFormat;
    j["step"] = step;
    j["rng_mt19937"] = mt19937_text(rng);
    j["order_pos"] = order_pos;
    j["loss_scale"] = loss_scale;
    j["loss_scale_good_steps"] = loss_scale_good_steps;
    j["config"] = json::parse(config.to_json());
    write_file_atomic(tmp / "state.json", j.dump(1) + "\n");
    written(tmp / "state.json");

    publish_checkpoint_folder(tmp, final_dir);
    last_checkpoint_step = step;
    prune_checkpoints(dir, config.keep_checkpoints);
    spdlog::debug("training: checkpoint {}", final_dir.string());
    return final_dir;
}

bool DpoTrainer::Impl::resume()
{
    const auto ck = DpoTrainer::latest_checkpoint(run_dir);
    if (!ck)
        return false;
    const auto state_path = *ck / "state.json";
    const json j = read_checkpoint_state(state_path);
    if (j.value("format", "") != kStateFormat)
        throw ConfigError(path_message(state_path.string(), "not a PSA training checkpoint (format \"" +
                                                                j.value("format", "") + "\")"));
    const auto stored = DpoTrainer::stored_config(*ck);
    const auto a = trajectory(stored), b = trajectory(config);
    if (a != b)
        throw InvalidRequest(ck->string() + ": this run was started with other settings; a resumed run keeps them" +
                             trajectory_difference(a, b));
    const int ck_step = j.at("step").get<int>();
    if (ck_step > config.steps)
        throw InvalidRequest(ck->string() + ": the checkpoint is at step " + std::to_string(ck_step) +
                             ", beyond the requested " + std::to_string(config.steps) + " steps");

    torch::NoGradGuard no_grad;
    load_into(*adapter, load_state_dict(*ck / "adapter.safetensors"), (*ck / "adapter.safetensors").string());
    if (!ema.empty()) {
        const auto averaged = *ck / kAveragedAdapterFile;
        if (!fs::is_regular_file(averaged))
            throw ModelLoadError(path_message(averaged.string(), "missing: the run averages its weights (ema_decay " +
                                                                     std::to_string(config.ema_decay) + ")"));
        ema.load_from(load_state_dict(averaged), averaged.string());
    }

    const auto opt_path = *ck / "optimizer.safetensors";
    const auto file = SafetensorsFile::open(opt_path);
    load_adamw_state(file, *optimizer, trainable);
    load_random_state(file, generator, order);
    for (const auto i : order)
        if (i < 0 || i >= static_cast<int64_t>(data->size()))
            throw InvalidRequest(ck->string() + ": the data order names pair " + std::to_string(i) + ", but " +
                                 data->metadata_path().string() + " now has " + std::to_string(data->size()) +
                                 " usable pairs; the data changed since the checkpoint");
    order_pos = j.at("order_pos").get<size_t>();
    restore_mt19937(rng, j.at("rng_mt19937").get<std::string>(), state_path.string());
    loss_scale = j.value("loss_scale", loss_scale);
    loss_scale_good_steps = j.value("loss_scale_good_steps", 0);
    step = ck_step;
    last_checkpoint_step = step;
    resumed = true;
    truncate_log(step);
    spdlog::info("training: resumed {} at step {}", ck->string(), step);
    return true;
}

void DpoTrainer::Impl::truncate_log(int last_step) { truncate_step_log(run_dir / "train_log.jsonl", last_step); }

} // namespace psa
