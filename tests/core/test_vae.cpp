// SPDX-License-Identifier: GPL-3.0-or-later
// AutoencoderKL against the reference fixtures (tiny-sd/vae + expected/vae.safetensors), the
// full-size SD1.5 manifest, strict loading and config errors. Every config, shape and input comes
// from the fixture files.
#include "common/error.h"
#include "support/test_support.h"
#include "tensor_io/layers.h"
#include "tensor_io/state_dict.h"
#include "vae/autoencoder_kl.h"

#include <QtTest>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace psa;
namespace fs = std::filesystem;

namespace {

// fixtures/README.md, "Summary of tolerances": VAE decode / encode, CPU fp32.
constexpr double kTolerance = 1e-4;

double max_deviation(const at::Tensor& got, const at::Tensor& expected)
{
    if (got.sizes() != expected.sizes())
        throw std::runtime_error("shape " + shape_string(got.sizes()) + " vs expected " +
                                 shape_string(expected.sizes()));
    return (got.to(torch::kDouble) - expected.to(torch::kDouble)).abs().max().item<double>();
}

const at::Tensor& tensor_of(const StateDict& dict, const std::string& name)
{
    const auto it = dict.find(name);
    if (it == dict.end())
        throw std::runtime_error("fixture tensor \"" + name + "\" is missing");
    return it->second;
}

struct Manifest {
    std::vector<std::pair<std::string, std::vector<int64_t>>> entries;
    int64_t declared_parameters = -1; // from a "# parameters: N" comment, when present
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
            const auto pos = line.find("parameters:");
            if (pos != std::string::npos)
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

nlohmann::json read_json(const fs::path& path)
{
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

} // namespace

class TestVae : public QObject {
    Q_OBJECT

    fs::path fixtures_;
    AutoencoderKLConfig config_;
    StateDict weights_;
    StateDict expected_;
    AutoencoderKL model_{nullptr};

    fs::path config_path() const { return fixtures_ / "tiny-sd" / "vae" / "config.json"; }
    fs::path weights_path() const { return fixtures_ / "tiny-sd" / "vae" / "diffusion_pytorch_model.safetensors"; }

    AutoencoderKL empty_model(const AutoencoderKLConfig& config) const
    {
        ParamInitScope empty(ParamInit::Empty);
        return AutoencoderKL(config);
    }

    void check(const char* what, const at::Tensor& got, const std::string& expected_name)
    {
        const double dev = max_deviation(got, tensor_of(expected_, expected_name));
        qInfo("vae %s: max |deviation| %.3g (tolerance %.0e)", what, dev, kTolerance);
        QVERIFY2(dev <= kTolerance, qPrintable(QString("%1 deviates by %2").arg(what).arg(dev)));
    }

private Q_SLOTS:
    void initTestCase()
    {
        fixtures_ = test::fixtures_dir();
        const auto expected_path = fixtures_ / "expected" / "vae.safetensors";
        for (const auto& p : {config_path(), weights_path(), expected_path})
            if (!fs::exists(p))
                QFAIL(qPrintable(QString("fixture missing: %1 (set PSA_FIXTURES)").arg(QString::fromStdString(p.string()))));
        config_ = AutoencoderKLConfig::from_json(config_path());
        weights_ = load_state_dict(weights_path());
        expected_ = load_state_dict(expected_path);
        model_ = empty_model(config_);
        load_vae_weights(model_, weights_, "tiny-sd/vae/diffusion_pytorch_model.safetensors");
        model_->eval();
    }

    void decode_matches_reference()
    {
        torch::InferenceMode guard;
        check("decode.sample", model_->decode(tensor_of(expected_, "decode.latents")), "decode.sample");
    }

    void decode_of_scaled_latents_matches_reference()
    {
        torch::InferenceMode guard;
        const auto latents = tensor_of(expected_, "decode_scaled.latents") / model_->scaling_factor();
        const auto sample = model_->decode(latents);
        check("decode_scaled.sample", sample, "decode_scaled.sample");
        check("decode_scaled.image01", (sample / 2 + 0.5).clamp(0, 1), "decode_scaled.image01");
    }

    void encode_matches_reference_data()
    {
        QTest::addColumn<QString>("name");
        for (const char* n : {"moments", "mean", "logvar", "std", "sample", "scaled_latents"})
            QTest::newRow(n) << QString(n);
    }
    void encode_matches_reference()
    {
        QFETCH(QString, name);
        torch::InferenceMode guard;
        const auto moments = model_->encode_moments(tensor_of(expected_, "encode.image"));
        const auto posterior = DiagonalGaussian::from_moments(moments);
        const auto sample = posterior.sample(tensor_of(expected_, "encode.eps"));
        at::Tensor got;
        if (name == "moments")
            got = moments;
        else if (name == "mean")
            got = posterior.mean;
        else if (name == "logvar")
            got = posterior.logvar;
        else if (name == "std")
            got = posterior.std;
        else if (name == "sample")
            got = sample;
        else
            got = sample * model_->scaling_factor();
        const auto key = "encode." + name.toStdString();
        check(key.c_str(), got, key);
    }

    void outputs_have_documented_shapes()
    {
        torch::InferenceMode guard;
        const auto image = tensor_of(expected_, "encode.image");
        const auto f = config_.downsample_factor();
        const auto B = image.size(0), H = image.size(2), W = image.size(3);
        const auto moments = model_->encode_moments(image);
        QCOMPARE(moments.sizes().vec(), (std::vector<int64_t>{B, 2 * config_.latent_channels, H / f, W / f}));
        const auto posterior = model_->encode(image);
        QCOMPARE(posterior.mean.sizes().vec(), (std::vector<int64_t>{B, config_.latent_channels, H / f, W / f}));
        const auto decoded = model_->decode(posterior.mean);
        QCOMPARE(decoded.sizes().vec(), (std::vector<int64_t>{B, config_.out_channels, H, W}));
        QCOMPARE(decoded.scalar_type(), torch::kFloat32);
        QCOMPARE(model_->scaling_factor(), config_.scaling_factor);
    }

    void logvar_is_clamped()
    {
        const auto C = config_.latent_channels;
        auto moments = torch::zeros({1, 2 * C, 2, 2});
        moments.slice(1, C, C + 1).fill_(100.0);
        moments.slice(1, C + 1, 2 * C).fill_(-100.0);
        const auto d = DiagonalGaussian::from_moments(moments);
        QCOMPARE(d.logvar.max().item<double>(), 20.0);
        QCOMPARE(d.logvar.min().item<double>(), C > 1 ? -30.0 : 20.0);
        QVERIFY(torch::allclose(d.std, torch::exp(0.5 * d.logvar)));
        QVERIFY_THROWS_EXCEPTION(c10::Error, d.sample(torch::zeros({1, C, 3, 3})));
    }

    void same_input_twice_is_bit_identical()
    {
        torch::InferenceMode guard;
        const auto latents = tensor_of(expected_, "decode.latents");
        QVERIFY(torch::equal(model_->decode(latents), model_->decode(latents)));
        const auto image = tensor_of(expected_, "encode.image");
        QVERIFY(torch::equal(model_->encode_moments(image), model_->encode_moments(image)));
    }

    void input_contract_is_checked()
    {
        torch::InferenceMode guard;
        const auto image = tensor_of(expected_, "encode.image");
        const auto f = config_.downsample_factor();
        if (f > 1)
            QVERIFY_THROWS_EXCEPTION(c10::Error, model_->encode_moments(image.slice(2, 0, image.size(2) - 1)));
        QVERIFY_THROWS_EXCEPTION(c10::Error, model_->encode_moments(image[0]));
        const auto latents = tensor_of(expected_, "decode.latents");
        QVERIFY_THROWS_EXCEPTION(c10::Error, model_->decode(latents.slice(1, 0, config_.latent_channels - 1)));
    }

    void bfloat16_attention_stays_close_to_float32()
    {
        // The mid-block attention alone (bf16 has CPU kernels on every supported LibTorch); it
        // attends in float32 and returns the input dtype.
        torch::manual_seed(1);
        VAEAttention attn(16, 2, 1e-6);
        torch::InferenceMode guard;
        const auto x = torch::randn({1, 16, 4, 4}) * 30; // large logits: overflow-prone without upcast
        const auto ref = attn(x);
        attn->to(torch::kBFloat16);
        const auto low = attn(x.to(torch::kBFloat16));
        QCOMPARE(low.scalar_type(), torch::kBFloat16);
        QVERIFY(torch::isfinite(low.to(torch::kFloat)).all().item<bool>());
        const double dev = max_deviation(low.to(torch::kFloat), ref) / ref.abs().max().item<double>();
        qInfo("vae attention bf16 vs fp32: max relative deviation %.3g", dev);
        QVERIFY(dev < 0.05);
    }

    void sd15_manifest_names_and_shapes_match()
    {
        const auto dir = fixtures_ / "manifests";
        const auto config = AutoencoderKLConfig::from_json(dir / "sd15_vae_config.json");
        const auto manifest = read_manifest(dir / "sd15_vae.tsv");
        ParamInitScope meta(ParamInit::Meta);
        AutoencoderKL model(config);
        QVERIFY(model->encoder->conv_in->weight.is_meta());
        std::map<std::string, std::vector<int64_t>> ours;
        for (const auto& [name, shape] : parameter_shapes(*model))
            ours[name] = shape;
        QStringList faults;
        std::set<std::string> listed;
        for (const auto& [name, shape] : manifest.entries) {
            listed.insert(name);
            const auto it = ours.find(name);
            if (it == ours.end())
                faults << QString("missing: %1").arg(QString::fromStdString(name));
            else if (it->second != shape)
                faults << QString("%1: manifest %2, ours %3")
                              .arg(QString::fromStdString(name), QString::fromStdString(shape_string(shape)),
                                   QString::fromStdString(shape_string(it->second)));
        }
        for (const auto& [name, shape] : ours)
            if (!listed.count(name))
                faults << QString("not in the manifest: %1").arg(QString::fromStdString(name));
        QVERIFY2(faults.isEmpty(), qPrintable(faults.mid(0, 10).join("\n")));
        QCOMPARE(ours.size(), manifest.entries.size());
        if (manifest.declared_parameters >= 0)
            QCOMPARE(parameter_count(*model), manifest.declared_parameters);
        qInfo("sd15 vae: %zu tensors, %lld parameters on the meta device", ours.size(),
              static_cast<long long>(parameter_count(*model)));
    }

    void sd15_factory_matches_manifest_config()
    {
        const auto file = AutoencoderKLConfig::from_json(fixtures_ / "manifests" / "sd15_vae_config.json");
        const auto f = AutoencoderKLConfig::sd15();
        QCOMPARE(f.in_channels, file.in_channels);
        QCOMPARE(f.out_channels, file.out_channels);
        QCOMPARE(f.latent_channels, file.latent_channels);
        QCOMPARE(f.block_out_channels, file.block_out_channels);
        QCOMPARE(f.down_block_types, file.down_block_types);
        QCOMPARE(f.up_block_types, file.up_block_types);
        QCOMPARE(f.layers_per_block, file.layers_per_block);
        QCOMPARE(f.norm_num_groups, file.norm_num_groups);
        QCOMPARE(f.scaling_factor, file.scaling_factor);
        QCOMPARE(f.sample_size, file.sample_size);
        QCOMPARE(f.mid_block_add_attention, file.mid_block_add_attention);
        QCOMPARE(f.downsample_factor(), int64_t(8));
    }

    void tiny_factory_builds_and_runs()
    {
        torch::manual_seed(0);
        const auto config = AutoencoderKLConfig::tiny();
        AutoencoderKL model(config);
        torch::InferenceMode guard;
        const auto f = config.downsample_factor();
        const auto image = torch::rand({1, 3, 4 * f, 4 * f}) * 2 - 1;
        const auto posterior = model->encode(image);
        QCOMPARE(posterior.mean.sizes().vec(), (std::vector<int64_t>{1, config.latent_channels, 4, 4}));
        const auto decoded = model->decode(posterior.sample(torch::randn_like(posterior.mean)));
        QCOMPARE(decoded.sizes(), image.sizes());
        QVERIFY(torch::isfinite(decoded).all().item<bool>());
    }

    void mid_block_attention_can_be_left_out()
    {
        auto config = config_;
        config.mid_block_add_attention = false;
        ParamInitScope meta(ParamInit::Meta);
        AutoencoderKL model(config);
        size_t with = 0, without = 0;
        for (const auto& [name, shape] : parameter_shapes(*model_))
            with += name.find(".attentions.") != std::string::npos;
        for (const auto& [name, shape] : parameter_shapes(*model))
            without += name.find(".attentions.") != std::string::npos;
        QVERIFY(with > 0);
        QCOMPARE(without, size_t(0));
    }

    void deprecated_attention_names_load()
    {
        StateDict old_names;
        const std::vector<std::pair<std::string, std::string>> renames{
            {".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."}, {".to_out.0.", ".proj_attn."}};
        int renamed = 0;
        for (const auto& [name, tensor] : weights_) {
            auto n = name;
            if (n.find(".attentions.") != std::string::npos)
                for (const auto& [from, to] : renames)
                    if (const auto pos = n.find(from); pos != std::string::npos) {
                        n.replace(pos, from.size(), to);
                        ++renamed;
                    }
            old_names[n] = tensor;
        }
        QVERIFY(renamed > 0);
        auto model = empty_model(config_);
        load_vae_weights(model, old_names, "old-layout vae");
        torch::InferenceMode guard;
        const auto latents = tensor_of(expected_, "decode.latents");
        QVERIFY(torch::equal(model->decode(latents), model_->decode(latents)));
    }

    void strict_load_reports_key_faults_data()
    {
        QTest::addColumn<QString>("fault");
        QTest::newRow("missing") << "missing";
        QTest::newRow("unexpected") << "unexpected";
        QTest::newRow("mis-shaped") << "mis-shaped";
    }
    void strict_load_reports_key_faults()
    {
        QFETCH(QString, fault);
        auto dict = weights_;
        const std::string missing_key = "decoder.conv_out.bias";
        const std::string bad_key = "encoder.conv_in.weight";
        const std::string extra_key = "encoder.mid_block.attentions.1.to_q.weight";
        QVERIFY(dict.count(missing_key) && dict.count(bad_key) && !dict.count(extra_key));
        const auto good_shape = dict.at(bad_key).sizes().vec();
        std::string header, detail;
        if (fault == "missing") {
            dict.erase(missing_key);
            header = "1 missing, 0 unexpected, 0 mis-shaped";
            detail = "missing: " + missing_key;
        } else if (fault == "unexpected") {
            dict[extra_key] = torch::zeros({2, 2});
            header = "0 missing, 1 unexpected, 0 mis-shaped";
            detail = "unexpected: " + extra_key;
        } else {
            auto shape = good_shape;
            shape[1] += 1; // e.g. a 4-channel (RGBA) input
            dict[bad_key] = torch::zeros(shape);
            header = "0 missing, 0 unexpected, 1 mis-shaped";
            detail = bad_key + ": expected " + shape_string(good_shape) + ", got " + shape_string(shape);
        }
        auto model = empty_model(config_);
        try {
            load_vae_weights(model, dict, "vae/diffusion_pytorch_model.safetensors");
            QFAIL("expected ModelLoadError");
        } catch (const ModelLoadError& e) {
            const std::string msg = e.what();
            QVERIFY2(msg.rfind("vae/diffusion_pytorch_model.safetensors: " + header, 0) == 0, msg.c_str());
            QVERIFY2(msg.find(detail) != std::string::npos, msg.c_str());
        }
    }

    void config_errors_name_key_and_file_data()
    {
        QTest::addColumn<QString>("key");
        QTest::addColumn<QString>("value"); // JSON text; empty = remove the key
        QTest::addColumn<QString>("fragment");
        QTest::newRow("channels with a string") << "block_out_channels" << "[32, \"64\"]" << "array of integers";
        QTest::newRow("channels not an array") << "block_out_channels" << "64" << "array of integers";
        QTest::newRow("layers fractional") << "layers_per_block" << "2.5" << "expected an integer";
        QTest::newRow("scaling string") << "scaling_factor" << "\"0.18215\"" << "expected a number";
        QTest::newRow("attention flag string") << "mid_block_add_attention" << "\"yes\"" << "true or false";
        QTest::newRow("cross-attention block") << "down_block_types" << "[\"CrossAttnDownBlock2D\", \"DownEncoderBlock2D\"]"
                                               << "not supported";
        QTest::newRow("up types missing") << "up_block_types" << "" << "missing required key";
        QTest::newRow("groups not dividing") << "norm_num_groups" << "7" << "norm_num_groups";
        QTest::newRow("act_fn") << "act_fn" << "\"relu\"" << "not supported";
    }
    void config_errors_name_key_and_file()
    {
        QFETCH(QString, key);
        QFETCH(QString, value);
        QFETCH(QString, fragment);
        auto j = read_json(config_path());
        if (value.isEmpty())
            j.erase(key.toStdString());
        else
            j[key.toStdString()] = nlohmann::json::parse(value.toStdString());
        test::TempDir dir;
        const auto path = dir / "config.json";
        test::write_bytes(path, j.dump(2));
        try {
            AutoencoderKLConfig::from_json(path);
            QFAIL("expected ConfigError");
        } catch (const ConfigError& e) {
            const std::string msg = e.what();
            QVERIFY2(msg.rfind(path.string() + ": ", 0) == 0, msg.c_str());
            QVERIFY2(msg.find("\"" + key.toStdString() + "\"") != std::string::npos, msg.c_str());
            QVERIFY2(msg.find(fragment.toStdString()) != std::string::npos, msg.c_str());
        }
    }
};

QTEST_APPLESS_MAIN(TestVae)
#include "test_vae.moc"
