// SPDX-License-Identifier: GPL-3.0-or-later
#include "pipeline/benchmark.h"

#include "common/error.h"
#include "pipeline/components.h"
#include "pipeline/text2image.h"
#include "profiles/ban_rules.h"
#include "profiles/profile_encoder.h"
#include "profiles/profile_store.h"
#include "adapter/safety_adapter.h"
#include "tensor_io/device.h"
#include "tensor_io/layers.h"
#include "adapter/adapter_io.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace psa {

namespace fs = std::filesystem;

void reset_peak_rss()
{
    std::ofstream("/proc/self/clear_refs") << "5";
}

double peak_rss_mb()
{
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmHWM:", 0) == 0)
            return std::stod(line.substr(6)) / 1024.0; // kB
    return 0;
}

std::string machine_description()
{
    std::string cpu = "unknown CPU";
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) {
            cpu = line.substr(line.find(':') + 2);
            break;
        }
    double mem_gib = 0;
    std::ifstream mi("/proc/meminfo");
    for (std::string line; std::getline(mi, line);)
        if (line.rfind("MemTotal:", 0) == 0)
            mem_gib = std::stod(line.substr(9)) / 1024.0 / 1024.0;
    std::ostringstream s;
    s << cpu << ", " << std::thread::hardware_concurrency() << " cores, " << static_cast<int>(mem_gib + 0.5)
      << " GiB; LibTorch " << torch_version() << ", " << torch::get_num_threads() << " threads";
    if (torch::cuda::is_available())
        s << ", CUDA devices: " << static_cast<int>(torch::cuda::device_count()); // char-sized in 2.x
    return s.str();
}

namespace {

void sync(const c10::Device& d)
{
    if (d.is_cuda())
        torch::cuda::synchronize();
}

template <typename Fn>
BenchRow measure(const BenchOptions& o, const c10::Device& device, JobControl& job, BenchRow row, Fn&& fn)
{
    for (int i = 0; i < o.warmup && !job.stop_requested(); ++i) {
        fn();
        sync(device);
    }
    reset_peak_rss();
    for (int i = 0; i < o.repeats && !job.stop_requested(); ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        sync(device);
        row.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        job.report(Stage::Other, i + 1, o.repeats, row.model + ": " + row.what);
    }
    row.peak_rss_mb = peak_rss_mb();
    if (!row.seconds.empty()) {
        auto s = row.seconds;
        std::sort(s.begin(), s.end());
        row.median = s.size() % 2 ? s[s.size() / 2] : 0.5 * (s[s.size() / 2 - 1] + s[s.size() / 2]);
        row.min = s.front();
        row.max = s.back();
    }
    return row;
}

// Random-weight SD 1.5 components built from the default configs (no download).
// The tokenizer (real CLIP vocabulary files) comes from `tokenizer_dir`, when given, so that
// preview strips can run; the parts benchmarks need none.
std::shared_ptr<ModelComponents> random_sd15(const c10::Device& device, c10::ScalarType dtype,
                                             const fs::path& tokenizer_dir)
{
    auto m = std::make_shared<ModelComponents>();
    if (!tokenizer_dir.empty())
        m->tokenizer = std::make_shared<CLIPTokenizer>(CLIPTokenizer::from_dir(tokenizer_dir));
    m->name = "SD 1.5 (random weights)";
    m->text_config = CLIPTextConfig::sd15();
    m->unet_config = UNet2DConditionConfig::sd15();
    m->vae_config = AutoencoderKLConfig::sd15();
    m->scheduler_config = SchedulerConfig::sd15();
    m->device = device;
    m->dtype = dtype;
    torch::NoGradGuard no_grad;
    ParamInitScope random(ParamInit::Random);
    m->text_encoder = CLIPTextModel(m->text_config);
    m->unet = UNet2DConditionModel(m->unet_config);
    m->vae = AutoencoderKL(m->vae_config);
    finalize_components(*m);
    return m;
}

void bench_parts(const BenchOptions& o, ModelComponents& m, const std::string& name, int size, JobControl& job,
                 std::vector<BenchRow>& rows)
{
    c10::InferenceMode guard;
    const auto opts = torch::TensorOptions().device(m.device).dtype(m.dtype);
    const int64_t lat = size / m.latent_factor();
    const auto sample = torch::randn({2, m.unet_config.in_channels, lat, lat}, opts);
    const auto text = torch::randn({2, m.text_config.max_position_embeddings, m.text_config.hidden_size}, opts);
    const auto t = torch::tensor(500, torch::kLong);
    const auto latents = torch::randn({1, m.vae_config.latent_channels, lat, lat}, opts);
    const auto ids = torch::randint(0, m.text_config.vocab_size, {1, m.text_config.max_position_embeddings},
                                    torch::TensorOptions().dtype(torch::kLong).device(m.device));
    const std::string dev = m.device.str() + " " + dtype_label(m.dtype);
    const std::string px = std::to_string(size) + " px";
    rows.push_back(measure(o, m.device, job, {name, "UNet, batch 2", px, dev},
                           [&] { (void)m.unet->forward(sample, t, text); }));
    rows.push_back(measure(o, m.device, job, {name, "VAE decode", px, dev}, [&] { (void)m.vae->decode(latents); }));
    rows.push_back(measure(o, m.device, job,
                           {name, "text encode", std::to_string(m.text_config.max_position_embeddings) + " tokens", dev},
                           [&] { (void)m.text_encoder->encode(ids, 0); }));
}

void bench_previews(const BenchOptions& o, const std::shared_ptr<ModelComponents>& m, const std::string& name,
                    int size, JobControl& job, std::vector<BenchRow>& rows)
{
    Text2Image t2i(m);
    // A random adapter of our multi-token design when the model has none.
    const auto layers = m->unet->cross_attention_layers();
    const auto& cats = CategorySet::builtin();
    auto config = adapter_config_for(layers, StructuredProfileEncoder::dim(cats), static_cast<int64_t>(cats.size()) + 1);
    for (const auto& c : cats.all())
        config.categories.push_back(c.id);
    SafetyAdapter adapter(config);
    {
        torch::NoGradGuard g;
        for (auto& p : adapter->parameters())
            p.normal_(0, 0.02);
    }
    const auto tmp = fs::temp_directory_path() / "psa-bench-adapter.safetensors";
    save_adapter(tmp, *adapter);
    t2i.load_adapter(tmp);
    fs::remove(tmp);

    GenerationRequest r;
    r.prompt = "a quiet street at dusk";
    r.steps = o.preview_steps;
    r.width = r.height = size;
    const auto presets = load_level_presets(cats);
    for (const auto& p : presets)
        r.conditions.push_back(GenerationCondition::for_level(p, 1.0));
    const std::string dev = m->device.str() + " " + dtype_label(m->dtype);
    const std::string what = "6-condition strip, " + std::to_string(o.preview_steps) + " steps";
    BenchOptions once = o;
    once.warmup = std::min(o.warmup, 1);
    rows.push_back(measure(once, m->device, job, {name, what + ", batched", std::to_string(size) + " px", dev}, [&] {
        JobControl quiet(job.stop_token(), {});
        t2i.generate(r, quiet);
    }));
    rows.push_back(measure(once, m->device, job, {name, what + ", one by one", std::to_string(size) + " px", dev}, [&] {
        JobControl quiet(job.stop_token(), {});
        for (const auto& c : r.conditions) {
            GenerationRequest one = r;
            one.conditions = {c};
            t2i.generate(one, quiet);
        }
    }));
}

} // namespace

std::vector<BenchRow> run_benchmarks(const BenchOptions& o, JobControl& job)
{
    std::vector<BenchRow> rows;
    const auto device = choose_device(o.device);
    const auto dtype = choose_dtype(device, o.dtype);
    if (device.is_cuda()) {
        // Comparable numbers across runs: no TF32 (fixtures README).
        at::globalContext().setAllowTF32CuBLAS(false);
        at::globalContext().setAllowTF32CuDNN(false);
    }
    if (!o.small_model.empty()) {
        JobControl quiet(job.stop_token(), {});
        LoadModelOptions lo;
        lo.device = device.str();
        lo.dtype = dtype_label(dtype);
        auto m = load_model(o.small_model, lo, quiet);
        const std::string name = o.small_model.filename().string();
        bench_parts(o, *m, name, m->default_image_size(), job, rows);
        if (o.previews)
            bench_previews(o, m, name, m->default_image_size(), job, rows);
    }
    if (o.sd15 && !job.stop_requested()) {
        const auto tokenizer_dir = o.small_model.empty() ? fs::path() : o.small_model / "tokenizer";
        auto m = random_sd15(device, dtype, tokenizer_dir);
        for (int size : o.sd15_sizes)
            bench_parts(o, *m, m->name, size, job, rows);
        if (o.previews) {
            if (!m->tokenizer)
                throw InvalidRequest("bench --previews on SD 1.5 needs --model (its tokenizer/ folder is used)");
            bench_previews(o, m, m->name, o.preview_size, job, rows);
        }
    }
    if (!o.single_file.empty() && !job.stop_requested()) {
        reset_peak_rss();
        const auto t0 = std::chrono::steady_clock::now();
        JobControl quiet(job.stop_token(), {});
        LoadModelOptions lo;
        lo.device = device.str();
        lo.dtype = dtype_label(dtype);
        {
            auto m = load_model(o.single_file, lo, quiet);
            BenchRow row{o.single_file.filename().string(), "load single file", "-", device.str() + " " + dtype_label(dtype)};
            row.seconds = {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
            row.median = row.min = row.max = row.seconds[0];
            row.peak_rss_mb = peak_rss_mb();
            rows.push_back(row);
        }
    }
    return rows;
}

std::string benchmarks_markdown(const std::vector<BenchRow>& rows)
{
    std::ostringstream s;
    s << "Machine: " << machine_description() << "\n\n";
    s << "| model | measurement | size | device | median s | min-max s | runs | peak RSS MiB |\n";
    s << "|---|---|---|---|---|---|---|---|\n";
    char buf[256];
    for (const auto& r : rows) {
        std::snprintf(buf, sizeof buf, "| %s | %s | %s | %s | %.3f | %.3f-%.3f | %zu | %.0f |\n", r.model.c_str(),
                      r.what.c_str(), r.size.c_str(), r.device.c_str(), r.median, r.min, r.max, r.seconds.size(),
                      r.peak_rss_mb);
        s << buf;
    }
    return s.str();
}

} // namespace psa
