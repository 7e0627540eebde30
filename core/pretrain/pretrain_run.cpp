// SPDX-License-Identifier: GPL-3.0-or-later
#include "pretrain/pretrain_run.h"

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/json_fields.h"
#include "pretrain/caption_image_set.h"
#include "pretrain/pretrain_trainer.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/clip_tokenizer.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <unistd.h>

#include <algorithm>

namespace psa {

namespace fs = std::filesystem;

namespace {

const char* const kArchFiles[] = {"model_index.json", "unet/config.json", "vae/config.json",
                                  "text_encoder/config.json", "scheduler/scheduler_config.json"};
const char* const kTokenizerFiles[] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                       "special_tokens_map.json"};

fs::path temporary_sibling(const fs::path& target)
{
    return target.parent_path() / (".tmp-" + target.filename().string() + "-" + std::to_string(::getpid()));
}

// Renames a finished temporary folder over `target` (the old one, if any, is removed after).
void replace_folder(const fs::path& tmp, const fs::path& target)
{
    std::error_code ec;
    fs::path old;
    if (fs::exists(target, ec)) {
        old = target.parent_path() / (".old-" + target.filename().string() + "-" + std::to_string(::getpid()));
        fs::remove_all(old);
        fs::rename(target, old);
    }
    fs::rename(tmp, target);
    if (!old.empty())
        fs::remove_all(old);
}

void copy_file_into(const fs::path& from, const fs::path& to)
{
    if (!fs::is_regular_file(from))
        throw IoError(path_message(from.string(), "not found"));
    fs::create_directories(to.parent_path());
    write_file_atomic(to, read_file_text(from));
}

// The VAE to export: RUN/decoder/final once the decoder stage finished on the current VAE
// (`tuned` set), else `vae_weights` (RUN/vae/final).
StateDict exported_vae(const fs::path& run_dir, const fs::path& vae_weights, bool& tuned)
{
    const auto tuned_file = run_dir / "decoder" / "final" / "diffusion_pytorch_model.safetensors";
    auto base = load_state_dict(vae_weights);
    tuned = fs::is_regular_file(tuned_file);
    if (!tuned)
        return base;
    auto decoder = load_state_dict(tuned_file);
    for (const auto& [key, t] : base) {
        if (key.rfind("encoder.", 0) != 0 && key.rfind("quant_conv.", 0) != 0)
            continue;
        const auto it = decoder.find(key);
        if (it == decoder.end() || !it->second.equal(t))
            throw ConfigError(path_message(tuned_file.string(), "was tuned on another VAE (its " + key + " is not " +
                                                                    vae_weights.string() +
                                                                    "'s); run --stage decoder again"));
    }
    return decoder;
}

} // namespace

void prepare_run(const fs::path& run_dir, const fs::path& arch_source)
{
    const auto arch = run_dir / "arch";
    if (fs::is_directory(arch))
        return;
    for (const char* f : kArchFiles)
        if (!fs::is_regular_file(arch_source / f))
            throw IoError(path_message((arch_source / f).string(), "not found (an architecture folder holds "
                                                                   "model_index.json and each component's config)"));
    fs::create_directories(run_dir);
    const auto tmp = temporary_sibling(arch);
    fs::remove_all(tmp);
    for (const char* f : kArchFiles)
        copy_file_into(arch_source / f, tmp / f);
    fs::rename(tmp, arch);
}

VocabularySummary learn_run_vocabulary(const fs::path& run_dir, const CaptionImageSet& data)
{
    VocabularySummary out;
    const auto dir = run_dir / "tokenizer";
    const auto text_path = run_dir / "arch" / "text_encoder" / "config.json";
    auto text = read_json_object_file(text_path);
    const int max_length = static_cast<int>(JsonFields{text, text_path.string()}.integer("max_position_embeddings"));
    if (!fs::is_regular_file(dir / "vocab.json")) {
        const auto vocab = learn_bpe(data.captions());
        const auto tmp = temporary_sibling(dir);
        fs::remove_all(tmp);
        write_clip_tokenizer_files(vocab, tmp, max_length);
        replace_folder(tmp, dir);
        out.learned = true;
    }
    const auto tokenizer = CLIPTokenizer::from_dir(dir);
    out.vocab_size = tokenizer.vocab_size();
    out.merges = out.vocab_size - 514;
    for (const auto& item : data.items())
        out.longest_caption_tokens =
            std::max(out.longest_caption_tokens, static_cast<int>(tokenizer.encode(item.caption).size()) + 2);
    if (out.longest_caption_tokens > max_length)
        throw ConfigError(path_message(text_path.string(), "max_position_embeddings " + std::to_string(max_length) +
                                                               " is shorter than the longest caption (" +
                                                               std::to_string(out.longest_caption_tokens) +
                                                               " tokens with start and end); raise it"));
    text["vocab_size"] = tokenizer.vocab_size();
    text["bos_token_id"] = tokenizer.bos_id();
    text["eos_token_id"] = tokenizer.eos_id();
    text["pad_token_id"] = tokenizer.pad_id();
    write_file_atomic(text_path, text.dump(2) + "\n");
    return out;
}

DemoExport export_demo_model(const fs::path& run_dir, fs::path out, JobControl& job)
{
    if (out.empty())
        out = run_dir / "model";
    out = fs::absolute(out); // a bare name (`--export-to model`) has no parent folder to create or rename in
    const auto arch = run_dir / "arch";
    const auto vae_weights = run_dir / "vae" / "final" / "diffusion_pytorch_model.safetensors";
    if (!fs::is_regular_file(run_dir / "tokenizer" / "vocab.json"))
        throw ConfigError(path_message((run_dir / "tokenizer").string(), "no tokenizer: run --stage vocab first"));
    if (!fs::is_regular_file(vae_weights))
        throw ConfigError(path_message(vae_weights.string(), "no trained VAE: run --stage vae to its last step first"));
    const auto checkpoint = PretrainTrainer::latest_checkpoint(run_dir, PretrainStage::Unet);
    if (!checkpoint)
        throw ConfigError(path_message(PretrainTrainer::stage_dir(run_dir, PretrainStage::Unet).string(),
                                       "no checkpoint of the text encoder and UNet: run --stage unet first"));
    DemoExport result;
    result.folder = out;
    fs::create_directories(out.parent_path());
    const auto tmp = temporary_sibling(out);
    fs::remove_all(tmp);
    for (const char* f : kArchFiles)
        copy_file_into(arch / f, tmp / f);
    for (const char* f : kTokenizerFiles)
        copy_file_into(run_dir / "tokenizer" / f, tmp / "tokenizer" / f);

    torch::NoGradGuard no_grad;
    const std::map<std::string, std::string> metadata{{"format", "pt"}};
    const auto write_half = [&](const fs::path& path, const NamedTensors& tensors) {
        NamedTensors half;
        for (const auto& [name, t] : tensors) {
            half.emplace_back(name, t.is_floating_point() ? t.to(torch::kHalf) : t);
            result.parameters += t.numel();
        }
        save_safetensors(path, half, metadata);
        result.bytes += fs::file_size(path);
    };

    job.report(Stage::Save, 0, 3, "text encoder and unet");
    const auto weights = load_state_dict(*checkpoint / "weights.safetensors");
    NamedTensors text, unet;
    for (const auto& [key, t] : weights) {
        if (key.rfind("text_encoder.", 0) == 0) {
            text.emplace_back(key.substr(13), t);
        } else if (key.rfind("unet.", 0) == 0) {
            const auto ema = weights.find("ema." + key);
            result.ema = result.ema || ema != weights.end();
            unet.emplace_back(key.substr(5), ema != weights.end() ? ema->second : t);
        }
    }
    if (text.empty() || unet.empty())
        throw ModelLoadError(path_message((*checkpoint / "weights.safetensors").string(),
                                          "holds no text_encoder.* or unet.* weights"));
    write_half(tmp / "text_encoder" / "model.safetensors", text);
    write_half(tmp / "unet" / "diffusion_pytorch_model.safetensors", unet);
    job.report(Stage::Save, 2, 3, "vae");
    NamedTensors vae;
    for (const auto& [key, t] : exported_vae(run_dir, vae_weights, result.tuned_decoder))
        vae.emplace_back(key, t);
    write_half(tmp / "vae" / "diffusion_pytorch_model.safetensors", vae);
    const auto state = read_json_object_file(*checkpoint / "state.json");
    result.unet_step = static_cast<int>(JsonFields{state, (*checkpoint / "state.json").string()}.integer("step"));
    replace_folder(tmp, out);
    job.report(Stage::Save, 3, 3, "done");
    spdlog::info("pretrain: exported {} ({} parameters, {} bytes of fp16 weights, UNet step {}{}{})", out.string(),
                 result.parameters, result.bytes, result.unet_step, result.ema ? ", EMA" : "",
                 result.tuned_decoder ? ", tuned decoder" : "");
    return result;
}

} // namespace psa
