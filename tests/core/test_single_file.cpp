// SPDX-License-Identifier: GPL-3.0-or-later
// Original-layout single files: tiny-sd exported with export_single_file and loaded back with
// load_model must equal the diffusers folder (bit for bit in fp32, rounded in fp16/bf16), and
// broken or foreign single files must be refused with messages that say why.
#include "common/error.h"
#include "pipeline/checkpoint_export.h"
#include "pipeline/components.h"
#include "pipeline/text2image.h"
#include "support/parity.h"
#include "tensor_io/layers.h"
#include "tensor_io/model_detect.h"
#include "tensor_io/safetensors.h"
#include "tensor_io/state_dict.h"

#include <QtTest>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

using namespace psa;
namespace fs = std::filesystem;

namespace {

fs::path tiny_dir()
{
    return test::require_fixtures() / "tiny-sd";
}

std::shared_ptr<ModelComponents> load(const fs::path& path)
{
    JobControl job;
    LoadModelOptions o;
    o.device = "cpu";
    return load_model(path, o, job);
}

std::string load_error(const fs::path& path)
{
    try {
        load(path);
    } catch (const Error& e) {
        return e.what();
    }
    return {};
}

/// Exports tiny-sd into `dir` (with tokenizer/ linked next to the file).
fs::path export_tiny(const test::TempDir& dir, const std::string& dtype)
{
    if (!fs::exists(dir / "tokenizer"))
        fs::create_directory_symlink(tiny_dir() / "tokenizer", dir / "tokenizer");
    const auto file = dir / ("tiny-" + dtype + ".safetensors");
    JobControl job;
    const auto written = export_single_file(tiny_dir(), file, dtype, job);
    if (written.outcome != Outcome::Completed || written.bytes != fs::file_size(file))
        qFatal("export of tiny-sd (%s) did not complete", dtype.c_str());
    return file;
}

/// Names whose tensors differ between two modules' parameters after `round` (or that one lacks).
std::vector<std::string> differences(const torch::nn::Module& want, const torch::nn::Module& got,
                                     c10::ScalarType round)
{
    std::vector<std::string> out;
    const auto got_params = got.named_parameters(true);
    const auto want_params = want.named_parameters(true);
    if (got_params.size() != want_params.size())
        out.push_back("parameter count " + std::to_string(got_params.size()) + " vs " +
                      std::to_string(want_params.size()));
    for (const auto& p : want_params) {
        const auto* g = got_params.find(p.key());
        if (!g) {
            out.push_back("missing " + p.key());
            continue;
        }
        const auto expected = p.value().to(round).to(torch::kFloat);
        if (g->scalar_type() != torch::kFloat || !torch::equal(*g, expected))
            out.push_back(p.key());
    }
    return out;
}

std::string joined(const std::vector<std::string>& names)
{
    std::string s = std::to_string(names.size()) + " differ:";
    for (size_t i = 0; i < names.size() && i < 10; ++i)
        s += " " + names[i];
    return s;
}

GenerationResult generate(const std::shared_ptr<ModelComponents>& model)
{
    Text2Image t2i(model);
    GenerationRequest r;
    r.prompt = "a red fox in the snow";
    r.negative_prompt = "blurry";
    r.seed = 42;
    r.steps = 4;
    JobControl job;
    return t2i.generate(r, job);
}

/// Rewrites `file` into `out` with `edit` applied to its tensors (names and all).
void rewrite(const fs::path& file, const fs::path& out,
             const std::function<void(NamedTensors&)>& edit)
{
    const auto st = SafetensorsFile::open(file);
    NamedTensors tensors;
    for (const auto& info : st.tensors())
        tensors.emplace_back(info.name, st.tensor(info.name));
    edit(tensors);
    save_safetensors(out, tensors, st.metadata());
}

} // namespace

class TestSingleFile : public QObject {
    Q_OBJECT

    test::TempDir dir_;
    std::shared_ptr<ModelComponents> folder_;

private Q_SLOTS:
    void initTestCase()
    {
        qunsetenv("PSA_TOKENIZER_DIR");
        folder_ = load(tiny_dir());
    }

    void fp32_file_equals_the_folder()
    {
        const auto file = export_tiny(dir_, "fp32");
        const auto st = SafetensorsFile::open(file);
        QCOMPARE(st.metadata().at("dtype"), std::string("fp32"));
        QCOMPARE(st.metadata().at("source"), tiny_dir().string());
        for (const auto& info : st.tensors())
            QCOMPARE(info.dtype, std::string("F32"));
        QVERIFY(st.contains("model.diffusion_model.input_blocks.0.0.weight"));
        QVERIFY(st.contains("first_stage_model.decoder.mid.attn_1.q.weight"));
        QCOMPARE(st.info("first_stage_model.decoder.mid.attn_1.q.weight").shape.size(), size_t(4));
        QVERIFY(st.contains("cond_stage_model.transformer.text_model.final_layer_norm.weight"));

        const auto single = load(file);
        QCOMPARE(single->kind, model_kind_name(ModelKind::SD1));
        QCOMPARE(single->name, std::string("tiny-fp32"));
        QCOMPARE(single->dtype, c10::ScalarType::Float);
        QVERIFY(single->unet_config == folder_->unet_config);
        QCOMPARE(single->vae_config.block_out_channels, folder_->vae_config.block_out_channels);
        QCOMPARE(single->vae_config.norm_num_groups, folder_->vae_config.norm_num_groups);
        QCOMPARE(single->text_config.num_attention_heads, folder_->text_config.num_attention_heads);
        QCOMPARE(single->default_image_size(), folder_->default_image_size());
        for (const auto& [name, want, got] :
             {std::tuple<const char*, torch::nn::Module*, torch::nn::Module*>{
                  "unet", folder_->unet.get(), single->unet.get()},
              {"vae", folder_->vae.get(), single->vae.get()},
              {"text encoder", folder_->text_encoder.get(), single->text_encoder.get()}}) {
            const auto diff = differences(*want, *got, torch::kFloat);
            QVERIFY2(diff.empty(), (std::string(name) + ": " + joined(diff)).c_str());
        }

        const auto a = generate(folder_), b = generate(single);
        QCOMPARE(a.images.size(), size_t(1));
        QCOMPARE(b.images.size(), size_t(1));
        QCOMPARE(b.images[0].image.width, a.images[0].image.width);
        QVERIFY(b.images[0].image.rgb == a.images[0].image.rgb);
    }

    void half_precision_files_load_rounded_data()
    {
        QTest::addColumn<QString>("dtype");
        QTest::addColumn<QString>("file_dtype");
        QTest::newRow("fp16") << "fp16"
                              << "F16";
        QTest::newRow("bf16") << "bf16"
                              << "BF16";
    }
    void half_precision_files_load_rounded()
    {
        QFETCH(QString, dtype);
        QFETCH(QString, file_dtype);
        const auto file = export_tiny(dir_, dtype.toStdString());
        const auto st = SafetensorsFile::open(file);
        QCOMPARE(st.metadata().at("dtype"), dtype.toStdString());
        for (const auto& info : st.tensors())
            QCOMPARE(QString::fromStdString(info.dtype), file_dtype);
        QVERIFY(fs::file_size(file) < fs::file_size(dir_ / "tiny-fp32.safetensors") / 2 + 65536);

        const auto single = load(file);
        QCOMPARE(single->dtype, c10::ScalarType::Float);
        QCOMPARE(single->kind, model_kind_name(ModelKind::SD1));
        const auto round = dtype == "fp16" ? torch::kHalf : torch::kBFloat16;
        for (const auto& [name, want, got] :
             {std::tuple<const char*, torch::nn::Module*, torch::nn::Module*>{
                  "unet", folder_->unet.get(), single->unet.get()},
              {"vae", folder_->vae.get(), single->vae.get()},
              {"text encoder", folder_->text_encoder.get(), single->text_encoder.get()}}) {
            const auto diff = differences(*want, *got, round);
            QVERIFY2(diff.empty(), (std::string(name) + ": " + joined(diff)).c_str());
        }
        QCOMPARE(generate(single).images.size(), size_t(1));
    }

    void file_without_tokenizer_is_refused()
    {
        test::TempDir alone;
        const auto file = alone / "model.safetensors";
        fs::copy_file(export_tiny(dir_, "fp32"), file);
        const auto error = load_error(file);
        QVERIFY2(error.rfind(file.string() + ": ", 0) == 0, error.c_str());
        QVERIFY2(error.find("carries no tokenizer") != std::string::npos, error.c_str());
        // the same file loads once a tokenizer is named
        JobControl job;
        LoadModelOptions o;
        o.device = "cpu";
        o.tokenizer_dir = tiny_dir() / "tokenizer";
        QVERIFY(load_model(file, o, job) != nullptr);
    }

    void unknown_key_is_listed()
    {
        const auto file = dir_ / "extra.safetensors";
        rewrite(export_tiny(dir_, "fp32"), file, [](NamedTensors& t) {
            t.emplace_back("model.diffusion_model.extra_head.weight", torch::zeros({4}));
        });
        const auto error = load_error(file);
        QVERIFY2(error.rfind(file.string() + ": 1 tensors match no Stable Diffusion 1.x name", 0) ==
                     0,
                 error.c_str());
        QVERIFY2(error.find("unexpected: model.diffusion_model.extra_head.weight") !=
                     std::string::npos,
                 error.c_str());
    }

    void missing_key_is_reported_by_the_strict_load()
    {
        const auto file = dir_ / "missing.safetensors";
        rewrite(export_tiny(dir_, "fp32"), file, [](NamedTensors& t) {
            std::erase_if(
                t, [](const auto& e) { return e.first == "model.diffusion_model.out.2.bias"; });
        });
        const auto error = load_error(file);
        QVERIFY2(error.find("(unet): 1 missing") != std::string::npos, error.c_str());
        QVERIFY2(error.find("missing: conv_out.bias") != std::string::npos, error.c_str());
    }

    void other_families_are_refused_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("family");
        QTest::newRow("SDXL")
            << "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight"
            << "SDXL";
        QTest::newRow("SD 2.x")
            << "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"
            << "SD 2.x";
    }
    void other_families_are_refused()
    {
        QFETCH(QString, key);
        QFETCH(QString, family);
        const auto file = dir_ / ("family-" + family.toStdString() + ".safetensors");
        save_safetensors(
            file, {{"model.diffusion_model.input_blocks.0.0.weight", torch::zeros({8, 4, 3, 3})},
                   {key.toStdString(), torch::zeros({24, 8})}});
        const auto error = load_error(file);
        QVERIFY2(error.rfind(file.string() + ": ", 0) == 0, error.c_str());
        QVERIFY2(error.find("this is an " + family.toStdString() + " checkpoint") !=
                     std::string::npos,
                 error.c_str());
    }

    void truncated_file_names_the_file()
    {
        const auto source = export_tiny(dir_, "fp16");
        const auto file = dir_ / "truncated.safetensors";
        fs::copy_file(source, file);
        fs::resize_file(file, fs::file_size(source) / 2);
        QVERIFY_THROWS_EXCEPTION(IoError, load(file));
        const auto error = load_error(file);
        QVERIFY2(error.rfind(file.string() + ": ", 0) == 0, error.c_str());
        QVERIFY2(error.find("data section") != std::string::npos, error.c_str());
    }

    void bad_config_metadata_is_refused()
    {
        const auto source = export_tiny(dir_, "fp16");
        const auto st = SafetensorsFile::open(source);
        auto metadata = st.metadata();
        metadata[kSingleFileConfigKey] = R"({"unet": {"norm_num_groups": "eight"}})";
        NamedTensors tensors;
        for (const auto& info : st.tensors())
            tensors.emplace_back(info.name, st.tensor(info.name));
        const auto file = dir_ / "bad-config.safetensors";
        save_safetensors(file, tensors, metadata);
        const auto error = load_error(file);
        QVERIFY2(error.find("psa.config: unet.norm_num_groups: unexpected value \"eight\"") !=
                     std::string::npos,
                 error.c_str());
    }

    void export_arguments_are_checked()
    {
        JobControl job;
        QVERIFY_THROWS_EXCEPTION(
            InvalidRequest, export_single_file(tiny_dir(), dir_ / "x.safetensors", "fp8", job));
        QVERIFY_THROWS_EXCEPTION(InvalidRequest,
                                 export_random_sd15(dir_ / "y.safetensors", "int8", job));
        QVERIFY(!fs::exists(dir_ / "x.safetensors"));
        QVERIFY_THROWS_EXCEPTION(
            ModelLoadError,
            export_single_file(dir_ / "absent", dir_ / "z.safetensors", "fp32", job));
    }

    void loading_leaves_heap_sources_intact()
    {
        // load_into releases the pages of file-mapped sources; tensors on the heap must survive
        // (MADV_DONTNEED there would zero them)
        ParamInitScope empty(ParamInit::Empty);
        Linear layer(1024, 1024);
        StateDict dict{{"weight", torch::randn({1024, 1024})}, {"bias", torch::randn({1024})}};
        const auto weight = dict.at("weight").clone();
        load_into(*layer, dict, "heap");
        QVERIFY(torch::equal(dict.at("weight"), weight));
        QVERIFY(torch::equal(layer->weight, weight));
    }

    void cancelled_export_writes_nothing()
    {
        std::stop_source stop;
        stop.request_stop();
        JobControl job(stop.get_token(), {});
        const auto file = dir_ / "cancelled.safetensors";
        QCOMPARE(export_random_sd15(file, "fp16", job).outcome, Outcome::Cancelled);
        QVERIFY(!fs::exists(file));
    }
};

QTEST_APPLESS_MAIN(TestSingleFile)
#include "test_single_file.moc"
