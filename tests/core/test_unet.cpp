// SPDX-License-Identifier: GPL-3.0-or-later
// UNet2DConditionModel against the reference fixtures (tiny-sd/unet + expected/unet.safetensors,
// intermediates included), the full-size SD 1.5 manifest, the attention-hook contract, strict
// loading and config errors. Configs, inputs and shapes come from the fixture files only.
#include "common/error.h"
#include "support/test_support.h"
#include "tensor_io/layers.h"
#include "tensor_io/state_dict.h"
#include "unet/unet.h"

#include <QtTest>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>
#include <set>
#include <sstream>

using namespace psa;
namespace fs = std::filesystem;

namespace {

// fixtures/README.md, "Summary of tolerances": UNet noise prediction, CPU fp32 (absolute).
constexpr double kTolerance = 1e-4;

fs::path fixture(const std::string& relative)
{
    const auto path = test::fixtures_dir() / relative;
    if (!fs::exists(path))
        throw std::runtime_error("fixture missing: " + path.string() +
                                 " (set PSA_FIXTURES to the shared fixtures folder)");
    return path;
}

const at::Tensor& tensor_of(const StateDict& dict, const std::string& name)
{
    const auto it = dict.find(name);
    if (it == dict.end())
        throw std::runtime_error("fixture tensor \"" + name + "\" is missing");
    return it->second;
}

double max_deviation(const at::Tensor& got, const at::Tensor& expected)
{
    if (got.sizes() != expected.sizes())
        throw std::runtime_error("shape " + shape_string(got.sizes()) + " vs expected " +
                                 shape_string(expected.sizes()));
    return (got.to(torch::kDouble) - expected.to(torch::kDouble)).abs().max().item<double>();
}

nlohmann::json read_json(const fs::path& path)
{
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error("cannot open " + path.string());
    return nlohmann::json::parse(in);
}

struct Manifest {
    std::vector<std::pair<std::string, std::vector<int64_t>>> entries;
    int64_t declared_parameters = -1; // "# parameters: N" comment, when present
};

// "name<TAB>comma-separated shape" lines; '#' starts a comment line.
Manifest read_manifest(const fs::path& path)
{
    std::ifstream in(path);
    if (!in)
        throw std::runtime_error("cannot open " + path.string());
    Manifest m;
    for (std::string line; std::getline(in, line);) {
        if (line.empty())
            continue;
        if (line[0] == '#') {
            if (const auto pos = line.find("parameters:"); pos != std::string::npos)
                m.declared_parameters = std::stoll(line.substr(pos + 11));
            continue;
        }
        const auto tab = line.find('\t');
        if (tab == std::string::npos)
            throw std::runtime_error(path.string() + ": no tab in \"" + line + "\"");
        std::vector<int64_t> shape;
        std::stringstream dims(line.substr(tab + 1));
        for (std::string d; std::getline(dims, d, ',');)
            if (!d.empty())
                shape.push_back(std::stoll(d));
        m.entries.emplace_back(line.substr(0, tab), shape);
    }
    return m;
}

// The tiny-sd UNet with its fixture weights (strict load).
UNet2DConditionModel load_tiny_unet()
{
    const auto config = UNet2DConditionConfig::from_json(fixture("tiny-sd/unet/config.json"));
    ParamInitScope scope(ParamInit::Empty);
    UNet2DConditionModel unet(config);
    const auto weights = fixture("tiny-sd/unet/diffusion_pytorch_model.safetensors");
    load_into(*unet, load_state_dict(weights), weights.string());
    return unet;
}

struct UNetCase {
    at::Tensor sample, timestep, encoder_hidden_states, out;
};

UNetCase load_case(const StateDict& expected, const std::string& prefix)
{
    return {tensor_of(expected, prefix + ".sample"), tensor_of(expected, prefix + ".timestep"),
            tensor_of(expected, prefix + ".encoder_hidden_states"), tensor_of(expected, prefix + ".out")};
}

/// A stand-in for the adapter: adds (layer + 1) * 0.05 * mean(extra_context) everywhere, and logs calls.
class ConstantHook : public AttentionHook {
public:
    at::Tensor extra_attention(int layer, const at::Tensor& hidden, const at::Tensor& query, int64_t heads,
                               const at::Tensor& extra_context) override
    {
        calls.push_back({layer, query.size(-1), heads, query.dim(), hidden.size(-1), hidden.size(1) == query.size(1)});
        return torch::full_like(query, 0.05 * (layer + 1)) * extra_context.mean();
    }
    struct Call {
        int layer;
        int64_t width, heads, rank, hidden_width;
        bool hidden_cells_match;
    };
    std::vector<Call> calls;
};

class UndefinedHook : public AttentionHook {
public:
    at::Tensor extra_attention(int, const at::Tensor&, const at::Tensor&, int64_t, const at::Tensor&) override
    {
        return {};
    }
};

UNet2DConditionConfig small_config(int levels)
{
    // Channels 8/16, one layer, 2 groups (STYLE.md 8), for structural tests with random weights.
    UNet2DConditionConfig c = UNet2DConditionConfig::tiny();
    c.block_out_channels = {8, 16, 16};
    c.block_out_channels.resize(levels);
    c.down_block_types.assign(levels, "CrossAttnDownBlock2D");
    c.down_block_types.back() = "DownBlock2D";
    c.up_block_types.assign(levels, "CrossAttnUpBlock2D");
    c.up_block_types.front() = "UpBlock2D";
    c.layers_per_block = {1};
    c.norm_num_groups = 2;
    c.attention_head_dim = {2};
    c.cross_attention_dim = {8};
    return c;
}

// Runs a test body; a missing fixture or any other exception fails the test (never skips).
#define FIXTURE_TRY(...)                                                                           \
    try {                                                                                          \
        __VA_ARGS__                                                                                \
    } catch (const std::exception& e) {                                                           \
        QFAIL(e.what());                                                                           \
    }

} // namespace

class TestUnet : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        if (!fs::is_directory(test::fixtures_dir()))
            QFAIL(qPrintable("fixtures folder not found: " + QString::fromStdString(test::fixtures_dir().string()) +
                             " (set PSA_FIXTURES)"));
    }

    void config_factories_match_fixture_configs()
    {
        FIXTURE_TRY({
            const auto tiny = UNet2DConditionConfig::from_json(fixture("tiny-sd/unet/config.json"));
            QVERIFY(tiny == UNet2DConditionConfig::tiny());
            QCOMPARE(tiny.heads(0), int64_t(8)); // attention_head_dim 8 means 8 heads (SD 1.x quirk)
            const auto sd15 = UNet2DConditionConfig::from_json(fixture("manifests/sd15_unet_config.json"));
            QVERIFY(sd15 == UNet2DConditionConfig::sd15());
        })
    }

    void full_sd15_unet_matches_manifest_on_meta_device()
    {
        FIXTURE_TRY({
            const auto config = UNet2DConditionConfig::from_json(fixture("manifests/sd15_unet_config.json"));
            const auto manifest = read_manifest(fixture("manifests/sd15_unet.tsv"));
            ParamInitScope scope(ParamInit::Meta);
            UNet2DConditionModel unet(config);
            const auto got = parameter_shapes(*unet);
            for (const auto& p : unet->parameters())
                QVERIFY(p.is_meta());

            std::map<std::string, std::vector<int64_t>> want(manifest.entries.begin(), manifest.entries.end());
            std::map<std::string, std::vector<int64_t>> have(got.begin(), got.end());
            QStringList problems;
            for (const auto& [name, shape] : want) {
                const auto it = have.find(name);
                if (it == have.end())
                    problems << QString::fromStdString("missing " + name);
                else if (it->second != shape)
                    problems << QString::fromStdString(name + ": expected " + shape_string(shape) + ", got " +
                                                       shape_string(it->second));
            }
            for (const auto& [name, shape] : have)
                if (!want.count(name))
                    problems << QString::fromStdString("unexpected " + name);
            QVERIFY2(problems.isEmpty(), qPrintable(problems.mid(0, 10).join("\n")));
            QCOMPARE(got.size(), manifest.entries.size());
            for (size_t i = 0; i < got.size(); ++i) // registration order = checkpoint order
                QCOMPARE(QString::fromStdString(got[i].first), QString::fromStdString(manifest.entries[i].first));

            int64_t manifest_count = 0;
            for (const auto& [name, shape] : manifest.entries) {
                int64_t n = 1;
                for (const auto d : shape)
                    n *= d;
                manifest_count += n;
            }
            QCOMPARE(parameter_count(*unet), manifest_count);
            if (manifest.declared_parameters >= 0)
                QCOMPARE(parameter_count(*unet), manifest.declared_parameters);
            qInfo("SD 1.5 UNet on meta: %zu tensors, %lld parameters", got.size(),
                  static_cast<long long>(parameter_count(*unet)));

            // The cross-attention layers, in the manifest's (= attn_processors) order, with their widths.
            std::vector<std::string> attn2_names;
            for (const auto& [name, shape] : manifest.entries) {
                const std::string suffix = ".attn2.to_q.weight";
                if (name.size() > suffix.size() && name.ends_with(suffix))
                    attn2_names.push_back(name.substr(0, name.size() - std::string(".to_q.weight").size()));
            }
            const auto layers = unet->cross_attention_layers();
            QCOMPARE(layers.size(), attn2_names.size());
            QCOMPARE(layers.size(), size_t(16)); // fixtures README / PSA.md: 16 in SD 1.5
            QVERIFY(layers.back().name.rfind("mid_block.", 0) == 0);
            for (size_t i = 0; i < layers.size(); ++i) {
                QCOMPARE(QString::fromStdString(layers[i].name), QString::fromStdString(attn2_names[i]));
                const auto& q = want.at(layers[i].name + ".to_q.weight");
                const auto& k = want.at(layers[i].name + ".to_k.weight");
                QCOMPARE(layers[i].inner_dim, q[0]);
                QCOMPARE(layers[i].cross_attention_dim, k[1]);
                QCOMPARE(layers[i].heads, config.heads(0));
                QCOMPARE(layers[i].inner_dim % layers[i].heads, int64_t(0));
            }
        })
    }

    void tiny_cross_attention_layers_follow_psa_processor_order()
    {
        FIXTURE_TRY({
            auto unet = load_tiny_unet();
            const auto psa = read_json(fixture("expected/psa.json"));
            const auto& order = psa.at("psa_processor_order");
            const auto layers = unet->cross_attention_layers();
            QCOMPARE(layers.size(), order.size());
            for (size_t i = 0; i < layers.size(); ++i) {
                auto name = order[i].at("processor").get<std::string>();
                const std::string suffix = ".processor";
                QVERIFY(name.ends_with(suffix));
                name.resize(name.size() - suffix.size());
                QCOMPARE(QString::fromStdString(layers[i].name), QString::fromStdString(name));
                QCOMPARE(order[i].at("index").get<size_t>(), i);
                QCOMPARE(layers[i].inner_dim, order[i].at("hidden_size").get<int64_t>());
                QCOMPARE(layers[i].cross_attention_dim, order[i].at("user_embedding_dim").get<int64_t>());
            }
        })
    }

    void cfg_batch_matches_reference_with_intermediates()
    {
        FIXTURE_TRY({
            auto unet = load_tiny_unet();
            const auto expected = load_state_dict(fixture("expected/unet.safetensors"));
            const auto c = load_case(expected, "cfg");
            QCOMPARE(c.timestep.dim(), int64_t(0)); // the 0-d timestep is broadcast to the batch
            torch::NoGradGuard no_grad;
            std::map<std::string, at::Tensor> debug;
            const auto out = unet->forward(c.sample, c.timestep, c.encoder_hidden_states, {}, &debug);
            QCOMPARE(out.scalar_type(), torch::kFloat32);
            const double dev = max_deviation(out, c.out);
            qInfo("cfg.out: max |deviation| = %.3g (tolerance %.0e)", dev, kTolerance);
            QVERIFY2(dev < kTolerance, qPrintable(QString("cfg.out deviates by %1").arg(dev)));

            const std::string prefix = "cfg.debug.";
            int compared = 0;
            for (const auto& [key, want] : expected) {
                if (key.rfind(prefix, 0) != 0)
                    continue;
                const auto name = key.substr(prefix.size());
                const auto it = debug.find(name);
                QVERIFY2(it != debug.end(), qPrintable(QString::fromStdString("no intermediate " + name)));
                const double d = max_deviation(it->second, want);
                qInfo("%s: max |deviation| = %.3g", key.c_str(), d);
                QVERIFY2(d < kTolerance, qPrintable(QString::fromStdString(key) + " deviates by " + QString::number(d)));
                ++compared;
            }
            QVERIFY(compared >= 7);
        })
    }

    void per_sample_float_timesteps_match_reference()
    {
        FIXTURE_TRY({
            auto unet = load_tiny_unet();
            const auto expected = load_state_dict(fixture("expected/unet.safetensors"));
            const auto c = load_case(expected, "batch");
            QCOMPARE(c.timestep.scalar_type(), torch::kFloat32);
            QCOMPARE(c.timestep.dim(), int64_t(1));
            torch::NoGradGuard no_grad;
            const auto out = unet->forward(c.sample, c.timestep, c.encoder_hidden_states);
            const double dev = max_deviation(out, c.out);
            qInfo("batch.out: max |deviation| = %.3g (tolerance %.0e)", dev, kTolerance);
            QVERIFY2(dev < kTolerance, qPrintable(QString("batch.out deviates by %1").arg(dev)));
        })
    }

    void timestep_forms_are_equivalent()
    {
        FIXTURE_TRY({
            auto unet = load_tiny_unet();
            const auto expected = load_state_dict(fixture("expected/unet.safetensors"));
            const auto c = load_case(expected, "cfg");
            const int64_t batch = c.sample.size(0);
            torch::NoGradGuard no_grad;
            const auto base = unet->forward(c.sample, c.timestep, c.encoder_hidden_states);
            const auto as_batch = c.timestep.reshape({1}).expand({batch}).contiguous();
            QVERIFY(torch::equal(base, unet->forward(c.sample, as_batch, c.encoder_hidden_states)));
            QVERIFY(torch::equal(base, unet->forward(c.sample, as_batch.to(torch::kFloat), c.encoder_hidden_states)));
            QVERIFY(torch::equal(base, unet->forward(c.sample, c.timestep.reshape({1}), c.encoder_hidden_states)));
            QVERIFY_EXCEPTION_THROWN(unet->forward(c.sample, torch::zeros({batch + 1}), c.encoder_hidden_states),
                                     c10::Error);
        })
    }

    void same_input_twice_is_bit_identical()
    {
        FIXTURE_TRY({
            auto unet = load_tiny_unet();
            const auto expected = load_state_dict(fixture("expected/unet.safetensors"));
            const auto c = load_case(expected, "batch");
            torch::NoGradGuard no_grad;
            const auto a = unet->forward(c.sample, c.timestep, c.encoder_hidden_states);
            const auto b = unet->forward(c.sample, c.timestep, c.encoder_hidden_states);
            QVERIFY(torch::equal(a, b));
        })
    }

    void hook_changes_output_and_removal_restores_it()
    {
        FIXTURE_TRY({
            auto unet = load_tiny_unet();
            const auto expected = load_state_dict(fixture("expected/unet.safetensors"));
            const auto c = load_case(expected, "cfg");
            const auto layers = unet->cross_attention_layers();
            const int64_t cross_dim = layers.front().cross_attention_dim;
            const auto user_tokens = torch::ones({c.sample.size(0), 1, cross_dim}); // [B, T, C]
            torch::NoGradGuard no_grad;
            const auto base = unet->forward(c.sample, c.timestep, c.encoder_hidden_states);

            auto hook = std::make_shared<ConstantHook>();
            unet->set_attention_hook(hook);
            QVERIFY(unet->attention_hook() == hook);
            const auto hooked = unet->forward(c.sample, c.timestep, c.encoder_hidden_states, user_tokens);
            const double change = (hooked - base).abs().max().item<double>();
            qInfo("hook changes the output by up to %.3g", change);
            QVERIFY(change > 1e-3);
            // Called once per cross-attention layer, in forward order (down, mid, up), with the
            // layer's own index, query width, head count and input.
            QCOMPARE(hook->calls.size(), layers.size());
            std::set<int> seen;
            for (const auto& call : hook->calls) {
                QVERIFY(call.layer >= 0 && size_t(call.layer) < layers.size());
                seen.insert(call.layer);
                QCOMPARE(call.rank, int64_t(3));
                QCOMPARE(call.width, layers[call.layer].inner_dim);
                QCOMPARE(call.heads, layers[call.layer].heads);
                // The layer's input comes along for a hook with a query map of its own.
                QCOMPARE(call.hidden_width, layers[call.layer].query_dim);
                QVERIFY(call.hidden_cells_match);
            }
            QCOMPARE(seen.size(), layers.size());
            // Forward order is down, mid, up; the mid block's index is the last one.
            size_t down_layers = 0;
            for (const auto& l : layers)
                down_layers += l.name.rfind("down_blocks.", 0) == 0;
            QCOMPARE(hook->calls[down_layers].layer, int(layers.size()) - 1);
            QVERIFY(layers.back().name.rfind("mid_block.", 0) == 0);

            unet->set_attention_hook(nullptr);
            QVERIFY(unet->attention_hook() == nullptr);
            const auto restored = unet->forward(c.sample, c.timestep, c.encoder_hidden_states, user_tokens);
            QVERIFY(torch::equal(restored, base));
        })
    }

    void hook_without_extra_context_or_result_is_inert()
    {
        FIXTURE_TRY({
            auto unet = load_tiny_unet();
            const auto expected = load_state_dict(fixture("expected/unet.safetensors"));
            const auto c = load_case(expected, "cfg");
            torch::NoGradGuard no_grad;
            const auto base = unet->forward(c.sample, c.timestep, c.encoder_hidden_states);
            auto hook = std::make_shared<ConstantHook>();
            unet->set_attention_hook(hook);
            QVERIFY(torch::equal(unet->forward(c.sample, c.timestep, c.encoder_hidden_states), base));
            QVERIFY(hook->calls.empty());
            unet->set_attention_hook(std::make_shared<UndefinedHook>());
            const auto tokens = torch::ones({c.sample.size(0), 1, c.encoder_hidden_states.size(2)});
            QVERIFY(torch::equal(unet->forward(c.sample, c.timestep, c.encoder_hidden_states, tokens), base));
        })
    }

    void mis_shaped_and_missing_keys_are_reported()
    {
        FIXTURE_TRY({
            const auto config = UNet2DConditionConfig::from_json(fixture("tiny-sd/unet/config.json"));
            const auto weights = fixture("tiny-sd/unet/diffusion_pytorch_model.safetensors");
            auto dict = load_state_dict(weights);
            const auto conv_in = tensor_of(dict, "conv_in.weight");
            // An inpainting-style conv_in: 9 input channels instead of in_channels.
            const std::vector<int64_t> want{config.block_out_channels[0], config.in_channels,
                                            config.conv_in_kernel, config.conv_in_kernel};
            QCOMPARE(conv_in.sizes().vec(), want);
            auto wrong = want;
            wrong[1] = 9;
            dict["conv_in.weight"] = torch::zeros(wrong);
            ParamInitScope scope(ParamInit::Empty);
            UNet2DConditionModel unet(config);
            try {
                load_into(*unet, dict, weights.string());
                QFAIL("expected ModelLoadError");
            } catch (const ModelLoadError& e) {
                const std::string msg = e.what();
                QVERIFY2(msg.find(weights.string() + ": 0 missing, 0 unexpected, 1 mis-shaped") == 0, msg.c_str());
                QVERIFY2(msg.find("conv_in.weight: expected " + shape_string(want) + ", got " + shape_string(wrong)) !=
                             std::string::npos,
                         msg.c_str());
            }
            dict["conv_in.weight"] = conv_in;
            dict.erase("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight");
            try {
                load_into(*unet, dict, weights.string());
                QFAIL("expected ModelLoadError");
            } catch (const ModelLoadError& e) {
                const std::string msg = e.what();
                QVERIFY2(msg.find("1 missing") != std::string::npos, msg.c_str());
                QVERIFY2(msg.find("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight") != std::string::npos,
                         msg.c_str());
            }
        })
    }

    void config_errors_are_reported_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value"); // JSON
        QTest::addColumn<QString>("message");
        QTest::newRow("wrong type: list") << "block_out_channels" << "\"wide\""
                                          << "block_out_channels: expected an integer or a list of integers, got string";
        QTest::newRow("wrong type: bool") << "use_linear_projection" << "1"
                                          << "use_linear_projection: expected true or false, got integer 1";
        QTest::newRow("wrong type: int") << "layers_per_block" << "2.5"
                                         << "layers_per_block: expected an integer or a list of integers";
        QTest::newRow("wrong type: string") << "mid_block_type" << "7" << "mid_block_type: expected a string";
        QTest::newRow("SDXL") << "addition_embed_type" << "\"text_time\"" << "SDXL support comes later";
        QTest::newRow("down block") << "down_block_types" << "[\"AttnDownBlock2D\", \"DownBlock2D\"]"
                                    << "down_block_types: \"AttnDownBlock2D\" is not supported";
        QTest::newRow("up block") << "up_block_types" << "[\"UpBlock2D\", \"AttnUpBlock2D\"]"
                                  << "up_block_types: \"AttnUpBlock2D\" is not supported";
        QTest::newRow("mid block") << "mid_block_type" << "\"UNetMidBlock2DSimpleCrossAttn\""
                                   << "mid_block_type: \"UNetMidBlock2DSimpleCrossAttn\" is not supported";
        QTest::newRow("no mid block") << "mid_block_type" << "null" << "mid_block_type: null";
        QTest::newRow("block count") << "up_block_types" << "[\"UpBlock2D\"]" << "up_block_types: 1 entries for 2";
        QTest::newRow("per-block list") << "cross_attention_dim" << "[32, 32, 32]" << "cross_attention_dim: 3 entries";
        QTest::newRow("groups") << "norm_num_groups" << "7" << "cannot be split into norm_num_groups = 7";
        QTest::newRow("class labels") << "class_embed_type" << "\"timestep\"" << "class_embed_type: \"timestep\" is not";
        QTest::newRow("LCM") << "time_cond_proj_dim" << "256" << "time_cond_proj_dim: integer 256 is not supported";
        QTest::newRow("only cross") << "only_cross_attention" << "true" << "only_cross_attention: true is not supported";
        QTest::newRow("dual cross") << "dual_cross_attention" << "true" << "dual_cross_attention: true is not supported";
        QTest::newRow("act_fn") << "act_fn" << "\"gelu\"" << "act_fn: \"gelu\" is not supported";
        QTest::newRow("time shift") << "resnet_time_scale_shift" << "\"scale_shift\"" << "resnet_time_scale_shift";
        QTest::newRow("nested layers") << "transformer_layers_per_block" << "[[1, 2], [1, 2]]" << "nested lists";
    }
    void config_errors_are_reported()
    {
        QFETCH(QString, key);
        QFETCH(QString, value);
        QFETCH(QString, message);
        FIXTURE_TRY({
            auto json = read_json(fixture("tiny-sd/unet/config.json"));
            json[key.toStdString()] = nlohmann::json::parse(value.toStdString());
            test::TempDir dir;
            const auto path = dir / "config.json";
            test::write_bytes(path, json.dump(2));
            try {
                UNet2DConditionConfig::from_json(path);
                QFAIL("expected ConfigError");
            } catch (const ConfigError& e) {
                const std::string msg = e.what();
                QVERIFY2(msg.rfind(path.string() + ": ", 0) == 0, msg.c_str()); // names the file
                QVERIFY2(msg.find(message.toStdString()) != std::string::npos, msg.c_str());
            }
        })
    }

    void unreadable_config_files_are_config_errors()
    {
        test::TempDir dir;
        QVERIFY_EXCEPTION_THROWN(UNet2DConditionConfig::from_json(dir / "absent.json"), ConfigError);
        test::write_bytes(dir / "broken.json", "{\"in_channels\": ");
        QVERIFY_EXCEPTION_THROWN(UNet2DConditionConfig::from_json(dir / "broken.json"), ConfigError);
        test::write_bytes(dir / "list.json", "[1, 2]");
        QVERIFY_EXCEPTION_THROWN(UNet2DConditionConfig::from_json(dir / "list.json"), ConfigError);
        // A hand-built config is validated by the constructor too.
        auto c = small_config(2);
        c.addition_embed_type = "text_time";
        QVERIFY_EXCEPTION_THROWN(UNet2DConditionModel{c}, ConfigError);
    }

    void linear_projection_builds_linear_layers()
    {
        torch::manual_seed(0);
        auto conv_config = small_config(2);
        auto linear_config = conv_config;
        linear_config.use_linear_projection = true;
        UNet2DConditionModel conv_unet(conv_config);
        UNet2DConditionModel linear_unet(linear_config);
        QCOMPARE(parameter_count(*linear_unet), parameter_count(*conv_unet));
        int projections = 0;
        const auto conv_params = conv_unet->named_parameters();
        torch::NoGradGuard no_grad;
        for (auto& p : linear_unet->named_parameters()) {
            const auto& src = conv_params[p.key()]; // same names either way
            if (p.key().find(".proj_in.weight") != std::string::npos ||
                p.key().find(".proj_out.weight") != std::string::npos) {
                ++projections;
                QCOMPARE(p.value().dim(), int64_t(2)); // Linear [out, in]
                QCOMPARE(src.dim(), int64_t(4));       // 1x1 conv [out, in, 1, 1]
                QVERIFY(src.sizes().slice(0, 2) == p.value().sizes());
            }
            p.value().copy_(src.reshape(p.value().sizes()));
        }
        QCOMPARE(projections, 2 * int(conv_unet->cross_attention_layers().size()));
        // A 1x1 conv and a Linear over the same weights are the same map.
        const auto sample = torch::randn({2, conv_config.in_channels, 8, 8});
        const auto text = torch::randn({2, 5, conv_config.cross_dim(0)});
        const auto t = torch::tensor({10.0, 700.0});
        const auto a = conv_unet->forward(sample, t, text);
        const auto b = linear_unet->forward(sample, t, text);
        const double dev = (a - b).abs().max().item<double>();
        qInfo("linear vs conv projection: max |deviation| = %.3g", dev);
        QVERIFY(dev < 1e-5);
    }

    void odd_latent_sizes_keep_their_shape()
    {
        torch::manual_seed(1);
        for (const int levels : {2, 3}) {
            const auto config = small_config(levels);
            UNet2DConditionModel unet(config);
            torch::NoGradGuard no_grad;
            for (const auto& [h, w] : {std::pair{9, 7}, {10, 6}, {8, 8}}) {
                const auto sample = torch::randn({1, config.in_channels, h, w});
                const auto out = unet->forward(sample, torch::tensor(int64_t(999)),
                                               torch::randn({1, 3, config.cross_dim(0)}));
                QCOMPARE(out.sizes().vec(), (std::vector<int64_t>{1, config.out_channels, h, w}));
                QVERIFY(torch::isfinite(out).all().item<bool>());
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestUnet)
#include "test_unet.moc"
