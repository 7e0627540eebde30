// SPDX-License-Identifier: GPL-3.0-or-later
// The training loop of personalized Diffusion-DPO (Wallace et al. 2023, as PSAlign train.py runs
// it): chosen and rejected latents are noised with one noise sample and one timestep, the policy
// (UNet + adapter) and the reference (the same UNet, hook off, no grad) predict the noise, and
// dpo_loss compares their errors. Departures from the reference are PSA.md's "do better" list:
// fp32 master weights, a learned null user, no second UNet.
#include "training/trainer.h"

#include "adapter/adapter_io.h"
#include "adapter/per_category_tokens.h"
#include "common/error.h"
#include "pipeline/components.h"
#include "pipeline/text2image.h"
#include "profiles/profile_encoder.h"
#include "tensor_io/image_tensor.h"
#include "training/caption_token_start.h"
#include "training/starting_adapter.h"
#include "training/step_pace.h"
#include "training/trainer_impl.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace psa {

namespace fs = std::filesystem;

// ---- construction ----

DpoTrainer::DpoTrainer(std::shared_ptr<ModelComponents> model, TrainConfig config, fs::path run_dir)
    : impl_(std::make_unique<Impl>())
{
    auto& m = impl_;
    if (!model)
        throw InvalidRequest("training: no model loaded");
    config.validate();
    if (config.profile_encoder == "structured" && !config.embeds_dir.empty())
        config.profile_encoder = "precomputed";
    m->model = std::move(model);
    m->config = std::move(config);
    m->run_dir = std::move(run_dir);
    const auto& c = m->config;
    auto& mc = *m->model;
    m->device = mc.device;

    // Precision: fp32 on the CPU; on CUDA autocast (bf16 by default) over fp32 master weights.
    if (m->device.is_cpu()) {
        if (mc.dtype != torch::kFloat)
            throw InvalidRequest("training on the CPU needs the model in fp32 (load it with dtype fp32)");
        if (c.mixed_precision == "bf16" || c.mixed_precision == "fp16")
            spdlog::warn("training: mixed precision {} is for CUDA; the CPU trains in fp32", c.mixed_precision);
    } else {
        const std::string mp = c.mixed_precision == "auto" ? "bf16" : c.mixed_precision;
        if (mp == "no" && mc.dtype != torch::kFloat)
            throw InvalidRequest("training without mixed precision needs the model in fp32");
        m->autocast = mp != "no";
        m->autocast_dtype = mp == "fp16" ? torch::kHalf : torch::kBFloat16;
        if (m->autocast_dtype == torch::kHalf)
            m->loss_scale = 65536.0;
    }
    m->resolution = c.resolution > 0 ? c.resolution : mc.default_image_size();
    if (m->resolution % mc.latent_factor() != 0)
        throw InvalidRequest("training option resolution: " + std::to_string(m->resolution) +
                             " is not a multiple of " + std::to_string(mc.latent_factor()));
    if (mc.scheduler_config.prediction_type != "epsilon" && mc.scheduler_config.prediction_type != "v_prediction")
        throw ConfigError("training: prediction_type \"" + mc.scheduler_config.prediction_type + "\" is not supported");
    m->alphas_cumprod = mc.scheduler_config.alphas_cumprod().to(torch::kFloat);

    PreferenceDatasetOptions dopt;
    dopt.strict = c.strict;
    dopt.embeds_dir = c.embeds_dir;
    m->data = std::make_unique<PreferenceDataset>(PreferenceDataset::load(c.data_dir, dopt));
    const auto& data = *m->data;
    for (const auto& n : data.report().notes)
        spdlog::debug("training data: {}", n);
    if (data.report().skipped_missing) {
        const auto& notes = data.report().notes;
        const auto first = std::find_if(notes.begin(), notes.end(),
                                        [](const std::string& n) { return n.rfind("skipped", 0) == 0; });
        spdlog::warn("training data: {} pairs skipped because an image is missing ({})",
                     data.report().skipped_missing, first == notes.end() ? "" : *first);
    }
    spdlog::debug("training data: {} pairs, {} users", data.size(), data.users().size());
    const auto without_category = [](const PreferencePair& p) { return !p.user_bans_category; };
    const auto& pairs = data.pairs();
    if (const auto first = std::find_if(pairs.begin(), pairs.end(), without_category);
        c.needs_pair_categories() && first != pairs.end()) {
        const std::string what = first->category.empty() ? "no \"category\"" : "\"" + first->category + "\"";
        throw ConfigError(path_message(data.metadata_path().string(),
                                       std::to_string(std::count_if(pairs.begin(), pairs.end(), without_category)) +
                                           " pairs name no category of the set (first: line " +
                                           std::to_string(first->line) + ", " + what +
                                           "); the counterpart term on banned pairs, the anchor on allowed pairs, ban mixing "
                                           "and the caption token start need each pair's category"));
    }
    std::vector<at::Tensor> rows;
    for (const auto& id : data.user_order()) {
        m->user_row[id] = static_cast<int64_t>(rows.size());
        rows.push_back(torch::tensor(data.user(id).embedding, torch::kFloat));
    }
    m->user_table = torch::stack(rows).to(m->device);

    // The base model is frozen: only the adapter's parameters will require grad.
    for (auto* module : {static_cast<torch::nn::Module*>(mc.unet.get()), static_cast<torch::nn::Module*>(mc.vae.get()),
                         static_cast<torch::nn::Module*>(mc.text_encoder.get())})
        for (auto& p : module->parameters())
            p.requires_grad_(false);
    mc.unet->eval();
    mc.vae->eval();
    mc.text_encoder->eval();

    // The per-category layout has one token per category of the data (and the sink token when
    // asked), whatever num_tokens says.
    const bool per_category = c.token_layout == kPerCategoryTokens;
    const auto category_count = static_cast<int64_t>(data.categories().size());
    auto ac = adapter_config_for(mc.unet->cross_attention_layers(), data.user_dim(),
                                 per_category ? category_count + (c.sink_token ? 1 : 0) : c.num_tokens,
                                 c.own_user_query);
    ac.token_layout = c.token_layout;
    ac.learned_null_user = c.learned_null_user;
    ac.ban_gated_tokens = c.ban_gated_tokens;
    ac.profile_encoder = data.profile_encoder();
    ac.profile_encoder_version = data.profile_encoder() == "structured" ? StructuredProfileEncoder::kVersion : "";
    ac.base_model = mc.name;
    for (const auto& cat : data.categories().all())
        ac.categories.push_back(cat.id);
    {
        ParamInitScope empty(ParamInit::Empty);
        m->adapter = SafetyAdapter(ac);
    }
    // Seeded initialisation: proj like torch.nn.Linear (U(+-1/sqrt(fan_in)), as the reference's
    // PSAProjection), LayerNorm 1/0, user key/value maps and the null user zero, so that a new
    // adapter leaves the UNet unchanged and the policy starts equal to the reference (the frozen
    // model with the hook off, dpo_step.cpp).
    m->generator = at::make_generator<at::CPUGeneratorImpl>(c.seed);
    {
        torch::NoGradGuard no_grad;
        for (auto& p : m->adapter->parameters())
            p.zero_();
        auto& proj = *m->adapter->user_proj->proj;
        const double bound = 1.0 / std::sqrt(static_cast<double>(ac.user_dim));
        const auto uniform = [&](const at::Tensor& t) {
            t.copy_(torch::rand(t.sizes(), m->generator, torch::kFloat) * (2 * bound) - bound);
        };
        uniform(proj.weight);
        uniform(proj.bias);
        m->adapter->user_proj->norm->weight.fill_(1.0);
    }
    if (m->adapter->has_own_query()) {
        // The own query maps start at the text query maps: the run starts routing as the
        // reference's adapter does, and training moves them from there.
        m->adapter->start_own_query_at(
            mc.unet->text_attention_weights(UNet2DConditionModelImpl::TextAttentionMap::Query));
    }
    // Fine-tuning an existing adapter: its weights replace the fresh ones (the draws above still
    // happen, so the generator's stream does not depend on the start). A run folder that holds
    // checkpoints can only be continued (resume() restores the adapter, train() refuses a fresh
    // start there), so the file is not read then and may have moved since.
    if (!c.init_adapter.empty() && !latest_checkpoint(m->run_dir)) {
        const auto start =
            load_starting_adapter(*m->adapter, c.init_adapter, mc.unet->cross_attention_layers());
        if (!start.base_model.empty() && start.base_model != mc.name)
            spdlog::warn("training: {} was trained on {}, this run trains on {}", c.init_adapter, start.base_model,
                         mc.name);
        spdlog::info("training: starting from the adapter {}", c.init_adapter);
    }
    // The caption start replaces the drawn tokens and the zero key maps after the draws, for the
    // same reason; a resumed run restores its own.
    if (c.tokens_start_at_captions() && !latest_checkpoint(m->run_dir)) {
        const auto start = start_tokens_at_captions(*m->adapter, mc, data);
        spdlog::info("training: user tokens start at the captions of their categories (contrast x{:.2f}{})",
                     start.contrast_scale,
                     start.categories_without_captions > 0
                         ? ", " + std::to_string(start.categories_without_captions) + " categories without captions"
                         : std::string());
    }
    m->adapter->to(m->device, torch::kFloat);
    m->adapter->train();
    // Frozen user key maps (each layer's typed k) stay where they started: no gradient, no
    // optimizer moments.
    std::set<const c10::TensorImpl*> frozen;
    if (c.freeze_user_keys)
        for (const auto& layer : *m->adapter->psa_adapter)
            for (const auto& p : layer->as<AdapterLayerImpl>()->k->parameters())
                frozen.insert(p.unsafeGetTensorImpl());
    std::vector<at::Tensor> params;
    for (const auto& p : m->adapter->named_parameters(true)) {
        const bool is_frozen = frozen.count(p.value().unsafeGetTensorImpl()) != 0;
        p.value().requires_grad_(!is_frozen);
        if (is_frozen)
            continue;
        m->trainable.emplace_back(p.key(), p.value());
        params.push_back(p.value());
    }
    if (per_category)
        confine_to_per_category_tokens(*m->adapter->user_proj, category_count);
    if (c.ema_decay > 0)
        m->ema = WeightEma(m->trainable, c.ema_decay);
    torch::optim::AdamWOptions opt(c.lr);
    opt.betas(std::make_tuple(c.adam_beta1, c.adam_beta2)).eps(c.adam_eps).weight_decay(c.weight_decay);
    m->optimizer = std::make_unique<torch::optim::AdamW>(params, opt);

    // Two 32-bit words of the 64-bit seed, so that seeds differing only above bit 31 differ.
    std::seed_seq seq{static_cast<uint32_t>(c.seed), static_cast<uint32_t>(c.seed >> 32)};
    m->rng.seed(seq);
}

DpoTrainer::~DpoTrainer()
{
    if (impl_ && impl_->model && impl_->model->unet)
        impl_->model->unet->set_attention_hook(nullptr);
}

int DpoTrainer::step() const { return impl_->step; }
const TrainConfig& DpoTrainer::config() const { return impl_->config; }
const PreferenceDataset& DpoTrainer::dataset() const { return *impl_->data; }
const fs::path& DpoTrainer::run_dir() const { return impl_->run_dir; }
double DpoTrainer::last_step_seconds() const { return impl_->last_step_seconds; }
void DpoTrainer::set_checkpoint_hook(std::function<void(const fs::path&)> hook)
{
    impl_->checkpoint_hook = std::move(hook);
}
fs::path DpoTrainer::save_checkpoint() { return impl_->save_checkpoint(); }
bool DpoTrainer::resume() { return impl_->resume(); }
void DpoTrainer::save_adapter(const fs::path& path) { psa::save_adapter(path, *impl_->adapter); }

// ---- the loop ----

namespace {

[[noreturn]] void throw_diverged(const std::string& what, int step, double value, const fs::path& run_dir,
                                 const std::optional<fs::path>& last)
{
    std::ostringstream msg;
    msg << "training diverged at step " << step + 1 << ": the " << what << " is " << value
        << "; no checkpoint was written after it";
    if (last)
        msg << "\n  the last good checkpoint is " << last->string() << " (resume from it with a lower --lr)";
    else
        msg << "\n  no checkpoint exists yet in " << run_dir.string() << "; start again with a lower --lr";
    throw Error(msg.str());
}

} // namespace

TrainResult DpoTrainer::train(JobControl& job, const TrainStepFn& on_step)
{
    auto& m = *impl_;
    const auto& c = m.config;
    TrainResult result;
    result.first_step = m.step;
    fs::create_directories(m.run_dir);
    const auto ckpt_dir = m.run_dir / "checkpoints";
    if (!m.resumed && m.step == 0) {
        if (const auto existing = latest_checkpoint(m.run_dir))
            throw InvalidRequest(m.run_dir.string() + " already holds a training run (" +
                                 existing->filename().string() +
                                 "); resume it (--resume) or choose another output folder");
        std::error_code ec;
        fs::remove(m.run_dir / "train_log.jsonl", ec);
    }
    remove_unfinished_checkpoint_folders(ckpt_dir);
    c.save(m.run_dir / "config.json");

    const auto start = std::chrono::steady_clock::now();
    std::vector<at::Tensor> params;
    for (const auto& p : m.trainable)
        params.push_back(p.second);
    auto& group_options = static_cast<torch::optim::AdamWOptions&>(m.optimizer->param_groups().front().options());

    const auto finish = [&](Outcome outcome) {
        result.outcome = outcome;
        result.steps_done = m.step;
        if (m.step > 0 && m.last_checkpoint_step != m.step)
            m.save_checkpoint();
        if (const auto last = latest_checkpoint(m.run_dir))
            result.last_checkpoint = *last;
        if (outcome == Outcome::Completed) {
            result.adapter = m.run_dir / "adapter.safetensors";
            WeightEma::SwappedIn averaged(m.ema);
            psa::save_adapter(result.adapter, *m.adapter);
        }
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return result;
    };

    while (m.step < c.steps) {
        if (job.stop_requested())
            return finish(Outcome::Cancelled);
        const auto step_start = std::chrono::steady_clock::now();
        // What a stop in the middle of this step must rewind (only whole steps are saved).
        const auto rng_before = m.rng;
        const auto order_before = m.order;
        const auto order_pos_before = m.order_pos;
        at::Tensor gen_before;
        {
            std::lock_guard<std::mutex> lock(m.generator.mutex());
            gen_before = m.generator.get_state();
        }

        const double lr = learning_rate_at(c, m.step);
        group_options.lr(lr);
        m.optimizer->zero_grad();
        TrainStepStats st;
        bool cancelled = false;
        for (int a = 0; a < c.grad_accum; ++a) {
            if (a > 0 && job.stop_requested()) {
                cancelled = true;
                break;
            }
            std::vector<int64_t> pairs;
            std::vector<bool> flips, drop_caption, drop_user;
            for (int i = 0; i < c.batch; ++i) {
                pairs.push_back(m.next_pair_index());
                const double u_flip = m.uniform01(), u_cap = m.uniform01(), u_user = m.uniform01();
                flips.push_back(c.random_flip && u_flip < 0.5);
                drop_caption.push_back(u_cap < c.caption_dropout);
                drop_user.push_back(u_user < c.user_dropout);
            }
            const auto mb = m.make_micro_batch(pairs, flips, drop_caption, drop_user, m.generator);
            const auto terms = m.forward_loss(mb);
            const double loss = terms.loss.item<double>();
            if (!std::isfinite(loss))
                throw_diverged("loss", m.step, loss, m.run_dir, latest_checkpoint(m.run_dir));
            (terms.loss * (m.loss_scale / c.grad_accum)).backward();
            st.loss += loss / c.grad_accum;
            st.accuracy += terms.accuracy / c.grad_accum;
            st.model_mse += terms.model_mse / c.grad_accum;
            st.ref_mse += terms.ref_mse / c.grad_accum;
            st.dpo_preference += terms.dpo_preference / c.grad_accum;
            st.routing += terms.routing / c.grad_accum;
        }
        if (cancelled) {
            m.rng = rng_before;
            m.order = order_before;
            m.order_pos = order_pos_before;
            std::lock_guard<std::mutex> lock(m.generator.mutex());
            m.generator.set_state(gen_before);
            m.optimizer->zero_grad();
            return finish(Outcome::Cancelled);
        }
        if (m.loss_scale != 1.0) {
            torch::NoGradGuard no_grad;
            for (auto& p : params)
                if (p.grad().defined())
                    p.grad().div_(m.loss_scale);
        }
        if (m.step < c.routing_steps) {
            // The routing stage: the routing term also reaches the value maps through later
            // layers' queries; they stay where they are (zero in a new adapter).
            torch::NoGradGuard no_grad;
            for (const auto& layer : *m.adapter->psa_adapter)
                for (auto& p : layer->as<AdapterLayerImpl>()->v->parameters())
                    if (p.grad().defined())
                        p.grad().zero_();
        }
        const double max_norm = c.max_grad_norm > 0 ? c.max_grad_norm : std::numeric_limits<double>::infinity();
        st.grad_norm = torch::nn::utils::clip_grad_norm_(params, max_norm);
        bool skip_update = false;
        if (!std::isfinite(st.grad_norm)) {
            if (m.autocast_dtype != torch::kHalf || !m.autocast)
                throw_diverged("gradient norm", m.step, st.grad_norm, m.run_dir, latest_checkpoint(m.run_dir));
            // fp16 overflow: skip this update and halve the loss scale (dynamic loss scaling).
            m.loss_scale = std::max(1.0, m.loss_scale / 2);
            m.loss_scale_good_steps = 0;
            skip_update = true;
        }
        if (!skip_update) {
            m.optimizer->step();
            if (m.autocast && m.autocast_dtype == torch::kHalf && ++m.loss_scale_good_steps >= 2000) {
                m.loss_scale *= 2;
                m.loss_scale_good_steps = 0;
            }
        }
        m.step += 1;
        m.ema.update(m.step);
        const auto now = std::chrono::steady_clock::now();
        m.last_step_seconds = std::chrono::duration<double>(now - step_start).count();
        const double elapsed = std::chrono::duration<double>(now - start).count();
        st.step = m.step;
        st.total_steps = c.steps;
        st.lr = lr;
        st.step_seconds = m.last_step_seconds;
        const auto pace = step_pace(elapsed, m.step - result.first_step, c.steps - m.step);
        st.steps_per_second = pace.steps_per_second;
        st.eta_seconds = pace.eta_seconds;
        m.append_log(st);
        if (on_step)
            on_step(st);
        char detail[96];
        std::snprintf(detail, sizeof detail, "loss %.4f acc %.2f", st.loss, st.accuracy);
        job.report(Stage::Train, m.step, c.steps, detail);

        if (c.checkpoint_every > 0 && m.step % c.checkpoint_every == 0 && m.step < c.steps)
            m.save_checkpoint();
        if (c.sample_every > 0 && m.step % c.sample_every == 0)
            m.write_samples(job);
    }
    return finish(Outcome::Completed);
}

void DpoTrainer::Impl::append_log(const TrainStepStats& s)
{
    std::ofstream out(run_dir / "train_log.jsonl", std::ios::app);
    char line[400];
    std::snprintf(line, sizeof line,
                  "{\"step\": %d, \"loss\": %.6g, \"accuracy\": %.6g, \"model_mse\": %.8g, \"ref_mse\": %.8g, "
                  "\"dpo_preference\": %.6g, \"lr\": %.6g, \"grad_norm\": %.6g, \"seconds\": %.4g",
                  s.step, s.loss, s.accuracy, s.model_mse, s.ref_mse, s.dpo_preference, s.lr, s.grad_norm,
                  s.step_seconds);
    out << line;
    if (config.routing_weight > 0) {
        std::snprintf(line, sizeof line, ", \"routing\": %.6g", s.routing);
        out << line;
    }
    out << "}\n";
}

// ---- evaluation and samples ----

DpoEvalStats DpoTrainer::evaluate(int max_pairs, int repeats, std::uint64_t seed)
{
    auto& m = *impl_;
    torch::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    const int64_t n = max_pairs > 0 ? std::min<int64_t>(max_pairs, static_cast<int64_t>(m.data->size()))
                                    : static_cast<int64_t>(m.data->size());
    DpoEvalStats out;
    constexpr int64_t kChunk = 16;
    for (int r = 0; r < std::max(1, repeats); ++r) {
        for (int64_t first = 0; first < n; first += kChunk) {
            std::vector<int64_t> pairs;
            for (int64_t i = first; i < std::min(n, first + kChunk); ++i)
                pairs.push_back(i);
            const std::vector<bool> no(pairs.size(), false);
            const auto mb = m.make_micro_batch(pairs, no, no, no, gen);
            const auto terms = m.forward_loss(mb);
            const auto k = static_cast<int>(pairs.size());
            out.loss += terms.loss.item<double>() * k;
            out.accuracy += terms.accuracy * k;
            out.model_mse += terms.model_mse * k;
            out.ref_mse += terms.ref_mse * k;
            out.samples += k;
        }
    }
    if (out.samples > 0) {
        out.loss /= out.samples;
        out.accuracy /= out.samples;
        out.model_mse /= out.samples;
        out.ref_mse /= out.samples;
    }
    return out;
}

void DpoTrainer::Impl::write_samples(JobControl& job)
{
    const auto folder = run_dir / "samples" / checkpoint_folder_name(step);
    fs::create_directories(folder);
    const auto adapter_file = folder / ".adapter.safetensors";
    {
        WeightEma::SwappedIn averaged(ema); // what the run will export
        psa::save_adapter(adapter_file, *adapter);
    }
    Text2Image t2i(model);
    t2i.load_adapter(adapter_file);
    fs::remove(adapter_file);

    std::vector<GenerationCondition> conditions{GenerationCondition::plain()};
    conditions.front().label = "plain";
    const auto& ids = data->user_order();
    for (size_t i = 0; i < ids.size() && static_cast<int>(i) < config.sample_users; ++i) {
        auto profile = data->user(ids[i]).profile;
        if (!config.embeds_dir.empty())
            profile.embedding_file = (fs::path(config.embeds_dir) / (ids[i] + ".npy")).string();
        conditions.push_back({"user-" + ids[i], profile, 1.0});
    }
    auto prompts = config.sample_prompts;
    if (prompts.empty())
        prompts.push_back(data->pair(0).caption);
    JobControl sample_job(job.stop_token(), {});
    for (size_t p = 0; p < prompts.size(); ++p) {
        for (const auto seed : config.sample_seeds) {
            GenerationRequest r;
            r.prompt = prompts[p];
            r.seed = seed;
            r.steps = config.sample_steps;
            r.width = r.height = resolution;
            r.conditions = conditions;
            const auto res = t2i.generate(r, sample_job);
            if (res.outcome == Outcome::Cancelled)
                return;
            for (const auto& gi : res.images)
                save_image(folder / ("p" + std::to_string(p) + "-seed" + std::to_string(seed) + "-" +
                                     gi.condition_label + ".png"),
                           gi.image, {{"prompt", prompts[p]}});
        }
    }
}

} // namespace psa
